"""What every check shares: the report, named sub-checks, registry look-ups, tiny configs and
tensor comparisons."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "SEED",
    "Checker",
    "Report",
    "Skip",
    "assert_close",
    "check_state_form",
    "get_spec",
    "registered_names",
    "resolve_registry",
    "shrink",
]

#: The torch seed the checks build under (fixed: a config may hold a ``seed`` of its own).
SEED = 0
#: Sizes a check shrinks a record's defaults to (never grows them), so each check is fast.
TINY: dict[str, int] = {
    "hidden_size": 8,
    "d_model": 8,
    "embedding_dim": 8,
    "channels": 8,
    "num_layers": 1,
    "levels": 2,
    "horizon": 4,
    "patch_size": 8,
    "max_context": 32,
    "out_features": 4,
}
#: Values for required arguments (no default anywhere) that a check fills in.
REQUIRED: dict[str, Any] = {
    "input_size": 3,
    "vocab_size": 12,
    "num_embeddings": 12,
    "output_size": 2,
    **TINY,
}


class Skip(Exception):
    """Raised inside a sub-check to record it as skipped, with the reason as its message."""


@dataclass
class Report:
    """What one check did: the sub-checks that passed and those skipped (name -> reason)."""

    kind: str
    name: str
    plugin: str
    config: dict[str, Any] = field(default_factory=dict)
    passed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        skipped = "; ".join(f"{k} ({v})" for k, v in self.skipped.items())
        return (
            f"{self.kind} {self.name!r} ({self.plugin}): passed {', '.join(self.passed) or '-'}"
            + (f"; skipped {skipped}" if skipped else "")
        )


class Checker:
    """Runs named sub-checks for one record; a failure becomes an AssertionError that names
    the kind, the name, the plugin and the sub-check."""

    def __init__(
        self,
        spec: Any,
        config: Mapping[str, Any],
        skip_checks: Any = (),
        skippable: tuple[str, ...] = (),
    ) -> None:
        from seqzoo.core.errors import ConfigError

        unknown = sorted(set(skip_checks or ()) - set(skippable))
        if unknown:
            raise ConfigError(
                f"skip_checks names {unknown}, which the {spec.kind} check does not have; it "
                f"can skip {', '.join(repr(s) for s in skippable)}",
                field="skip_checks",
            )
        self.spec = spec
        plugin = spec.plugin.name
        label = spec.plugin.label
        where = plugin if label == plugin else f"plugin {plugin}, {label}"
        self.prefix = f"{spec.kind} {spec.name!r} ({where})"
        self.report = Report(spec.kind, spec.name, where, dict(config))
        self.skip = set(skip_checks or ())

    def fail(self, what: str, message: str) -> AssertionError:
        return AssertionError(f"{self.prefix}: {what}: {message}")

    @contextmanager
    def check(self, what: str) -> Iterator[None]:
        """``with checker.check("save/load"): ...``; ``Skip`` records a skip, any other
        exception fails the check. Guard it with :meth:`wants` to let callers skip it."""
        try:
            yield
        except Skip as reason:
            self.report.skipped[what] = str(reason)
            return
        except AssertionError as exc:
            raise self.fail(what, str(exc)) from exc
        except Exception as exc:
            raise self.fail(what, f"raised {type(exc).__name__}: {exc}") from exc
        self.report.passed.append(what)

    def wants(self, what: str) -> bool:
        """Whether the caller asked to run ``what`` (records a skip when not)."""
        if what in self.skip:
            self.report.skipped[what] = "skipped by the caller"
            return False
        return True


def resolve_registry(registry: Any) -> Any:
    """The given registry, or seqzoo's default one."""
    if registry is not None:
        return registry
    from seqzoo.core.api import get_registry

    return get_registry()


def get_spec(registry: Any, kind: str, name: str) -> Any:
    """The record of ``kind`` ``name``; an unknown one is an AssertionError listing the names."""
    from seqzoo.core.errors import UnknownNameError

    try:
        return registry.get(kind, name)
    except UnknownNameError as exc:
        raise AssertionError(f"{kind} {name!r} is not registered: {exc}") from None


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def plugin_matches(spec: Any, plugin: str | None) -> bool:
    """Whether ``plugin`` names the record's plugin: its name (``seqzoo.plugins.models``,
    ``seqzoo-tcn:tcn``), its distribution (``seqzoo``, ``seqzoo-tcn``) or its entry point."""
    if plugin is None:
        return True
    info = spec.plugin
    names = {info.name, info.distribution or "", info.entry_point or ""}
    return _normalize(plugin) in {_normalize(n) for n in names if n}


def registered_names(kind: str, plugin: str | None = None, *, registry: Any = None) -> list[str]:
    """Every registered name of ``kind`` (optionally only ``plugin``'s), sorted."""
    registry = resolve_registry(registry)
    return sorted(spec.name for spec in registry.list(kind) if plugin_matches(spec, plugin))


def _parameters(factory: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    try:
        return dict(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        return {}


def _smaller(value: Any, tiny: int) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return min(value, tiny)
    if isinstance(value, (list, tuple)) and value and all(type(v) is int for v in value):
        return [min(v, tiny) for v in value]
    return value


def shrink(spec: Any, config: Mapping[str, Any], sample: Mapping[str, Any] | None = None) -> dict:
    """A tiny config for ``spec``: the record's defaults with sizes shrunk (:data:`TINY`),
    required arguments filled (:data:`REQUIRED`), then ``sample``, the record's
    ``metadata["example_config"]`` (a plugin's own small config for its checks) and the
    caller's ``config`` on top. Only arguments the factory takes are set."""
    parameters = _parameters(spec.load())
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    result: dict[str, Any] = {}
    for key, default in {**spec.defaults}.items():
        if key in TINY:
            result[key] = _smaller(default, TINY[key])
    for key, parameter in parameters.items():
        if key in TINY and key not in spec.defaults and parameter.default is not parameter.empty:
            shrunk = _smaller(parameter.default, TINY[key])
            if shrunk != parameter.default:
                result[key] = shrunk
        elif (
            parameter.default is parameter.empty
            and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
            and key not in spec.defaults
            and key in REQUIRED
        ):
            result[key] = REQUIRED[key]
    result = {k: v for k, v in result.items() if k in parameters or accepts_any}
    example = spec.metadata.get("example_config") or {}
    if not isinstance(example, Mapping):
        raise AssertionError(f"metadata['example_config'] must be a mapping, not {example!r}")
    return {**result, **(sample or {}), **example, **config}


def assert_close(got: Any, want: Any, what: str, *, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Nested tensors ``got`` and ``want`` agree in structure, shape, dtype and values."""
    if isinstance(want, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            raise AssertionError(f"{what}: expected {len(want)} parts, got {_describe(got)}")
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_close(g, w, f"{what}[{i}]", atol=atol, rtol=rtol)
        return
    if want is None:
        if got is not None:
            raise AssertionError(f"{what}: expected None, got {_describe(got)}")
        return
    if not isinstance(got, Tensor):
        raise AssertionError(f"{what}: expected a tensor, got {_describe(got)}")
    if got.shape != want.shape:
        raise AssertionError(
            f"{what}: shape {tuple(got.shape)} differs from the expected {tuple(want.shape)}"
        )
    if got.dtype != want.dtype:
        raise AssertionError(f"{what}: dtype {got.dtype} differs from the expected {want.dtype}")
    if got.numel() == 0:
        return
    a, b = got.detach().double().cpu(), want.detach().double().cpu()
    same = (a == b) | (a.isnan() & b.isnan())
    difference = torch.where(same, 0.0, (a - b).abs()).nan_to_num(float("inf"))
    limit = atol + rtol * b.abs().nan_to_num(0.0)
    if bool((difference > limit).any()):
        worst = float(difference.max())
        raise AssertionError(
            f"{what}: values differ by up to {worst:.3g} (allowed {atol:g} + {rtol:g} * |expected|)"
        )


def state_form(state: Any) -> Any:
    """A state's structure, shapes and dtypes (what must not change from step to step)."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return f"tensor{tuple(state.shape)} {str(state.dtype).removeprefix('torch.')}"
    if isinstance(state, (tuple, list)):
        return (type(state).__name__, [state_form(s) for s in state])
    return type(state).__name__


def check_state_form(module: Any, step_input: Tensor, batch: int) -> None:
    """``initial_state(batch)`` has the form the state has after one step."""
    with torch.no_grad():
        before = module.initial_state(batch)
        _, after = module.step(step_input, before)
    if state_form(after) != state_form(before):
        raise AssertionError(
            f"initial_state({batch}) gives {state_form(before)} but a step returns "
            f"{state_form(after)}; initial_state must give the state in full (zeros where it "
            "starts empty): streaming and ONNX export feed it in as it is"
        )


def _describe(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"a {type(value).__name__}"


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
