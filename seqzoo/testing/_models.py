"""``check_model``: the contract every registered model follows (see :mod:`seqzoo.testing`)."""

from __future__ import annotations

import copy
import importlib.util
import inspect
import json
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

from ._common import (
    SEED,
    Checker,
    Report,
    Skip,
    assert_close,
    check_state_form,
    get_spec,
    resolve_registry,
    seeded,
    shrink,
)

__all__ = ["check_model", "create", "model_inputs"]

BATCH = 3
TIME = 16
SPLIT = 7  # the first chunk's length in the chunked (forward_stateful) run
#: The sub-checks ``skip_checks`` may name.
MODEL_CHECKS = (
    "config round trip",
    "determinism",
    "float64",
    "step",
    "state form",
    "chunks",
    "not steppable",
    "wrong input",
    "save/load",
    "training",
    "onnx",
)

#: Configs for built-ins whose required arguments have no generic tiny value (by factory).
SAMPLES: dict[str, dict[str, Any]] = {
    "seqzoo.core.compose:Hybrid": {
        "layers": [
            {"layer": "conv1d", "channels": 4},
            {"layer": "gru", "hidden_size": 8},
            {"layer": "linear", "out_features": 2},
        ],
        "input_size": 3,
    },
    "seqzoo.plugins.models.wrapped:ForecastWrapper": {
        "inner": {"name": "gru", "hidden_size": 8},
        "difference": 1,
        "ar_order": 2,
    },
}


def create(registry: Any, spec: Any, config: Mapping[str, Any]) -> Any:
    """``registry.create`` for a record, handing the registry to factories that take one
    (a hybrid finds its layers there), as loading a saved model does."""
    arguments = dict(config)
    try:
        takes_registry = "registry" in inspect.signature(spec.load()).parameters
    except (TypeError, ValueError):
        takes_registry = False
    if takes_registry and "registry" not in arguments:
        arguments["registry"] = registry
    return registry.create(spec.kind, spec.name, **arguments)


class _Inputs:
    """How to feed a model: real-valued ``(batch, time, features)`` or ids ``(batch, time)``."""

    def __init__(self, model: nn.Module, config: Mapping[str, Any]) -> None:
        self.kind = getattr(model, "input_kind", "real")
        if self.kind not in ("real", "ids"):
            raise AssertionError(f"input_kind must be 'real' or 'ids', not {self.kind!r}")
        if self.kind == "ids":
            embeddings = [m.num_embeddings for m in model.modules() if isinstance(m, nn.Embedding)]
            vocab = getattr(model, "vocab_size", None) or config.get("vocab_size")
            self.size = int(vocab or (embeddings[0] if embeddings else 0))
            if self.size < 2:
                raise AssertionError("an ids model needs a vocab_size (or an nn.Embedding)")
        else:
            size = getattr(model, "input_size", None) or config.get("input_size")
            if not isinstance(size, int) or size < 1:
                raise AssertionError(
                    "a real-valued model must state its feature count as input_size "
                    f"(attribute or config); got {size!r}"
                )
            self.size = size

    def sequence(self, batch: int = BATCH, time: int = TIME, seed: int = 0) -> Tensor:
        if self.kind == "ids":
            # ids from 1: 0 is the usual padding id, which some models treat as padding
            return torch.randint(1, self.size, (batch, time), generator=seeded(seed))
        return torch.randn(batch, time, self.size, generator=seeded(seed))

    def wrong(self, x: Tensor) -> list[tuple[str, Tensor]]:
        """Whole-sequence inputs every model must refuse with a ShapeError."""
        if self.kind == "ids":
            return [("ids of rank 3", x.unsqueeze(-1)), ("float ids", x.float())]
        batch, time, features = x.shape
        return [
            ("a rank-4 tensor", x.unsqueeze(-1)),
            (f"{features + 1} features", torch.randn(batch, time, features + 1)),
        ]

    def wrong_step(self, x: Tensor) -> list[tuple[str, Tensor]]:
        """One-step inputs a steppable model must refuse with a ShapeError."""
        if self.kind == "ids":
            return [("a (batch, time) block of ids", x)]
        return [
            ("a whole sequence", x),
            (f"{x.shape[-1] + 1} features", torch.randn(x.shape[0], x.shape[-1] + 1)),
        ]


def model_inputs(
    model: nn.Module, config: Mapping[str, Any] | None = None, seed: int = 0
) -> Tensor:
    """A seeded input batch ``(3, 16[, features])`` of the kind ``model`` takes."""
    return _Inputs(model, config or getattr(model, "config", {}) or {}).sequence(seed=seed)


def _expected_shape(model: nn.Module, config: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The output shape of a ``(BATCH, TIME)`` input, when the model states it: ``output``
    ("last"/"sequence") with ``output_size``, a hybrid's ``reduces_time``, or a quantile
    forecaster's ``horizon`` and ``quantiles``."""
    size = getattr(model, "output_size", None) or config.get("output_size")
    mode = getattr(model, "output", None) or config.get("output")
    if isinstance(size, int) and mode in ("last", "sequence"):
        return (BATCH, size) if mode == "last" else (BATCH, TIME, size)
    if isinstance(size, int) and isinstance(getattr(model, "reduces_time", None), bool):
        return (BATCH, size) if model.reduces_time else (BATCH, TIME, size)
    horizon, quantiles = getattr(model, "horizon", None), getattr(model, "quantiles", None)
    if isinstance(horizon, int) and isinstance(quantiles, (list, tuple)):
        return (BATCH, horizon, len(quantiles))
    return None


def _run_steps(model: Any, x: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    state = model.initial_state(x.shape[0], dtype=dtype)
    outputs = []
    for t in range(x.shape[1]):
        y, state = model.step(x[:, t], state)
        outputs.append(y)
    return torch.stack(outputs, dim=1)


def _match_whole(stepped: Tensor, whole: Tensor) -> Tensor:
    """The stepped outputs ``(batch, time, ...)`` as the whole forward gives them: all of them
    for per-step outputs, the last one for a model that outputs once per sequence."""
    if whole.dim() == stepped.dim():
        return stepped
    return stepped[:, -1]


def _refuses(call: Any, what: str) -> None:
    from seqzoo.core.errors import ShapeError

    try:
        call()
    except ShapeError:
        return
    except Exception as exc:
        raise AssertionError(
            f"{what} raised a bare {type(exc).__name__} ({exc}), not a seqzoo ShapeError; check "
            "inputs first (seqzoo.core.modules.check_sequence / check_step / check_ids)"
        ) from exc
    raise AssertionError(f"{what} was accepted; it must raise a seqzoo ShapeError")


def _forward(model: nn.Module, x: Tensor) -> Tensor:
    with torch.no_grad():
        return model(x)


def _same_weights(a: nn.Module, b: nn.Module, what: str) -> None:
    mine, theirs = a.state_dict(), b.state_dict()
    if sorted(mine) != sorted(theirs):
        missing = sorted(set(mine) ^ set(theirs))
        raise AssertionError(f"{what}: the state_dict keys differ: {missing}")
    for key, value in mine.items():
        assert_close(theirs[key], value, f"{what}: {key}", atol=0.0, rtol=0.0)


def _task_loss(kind: str, output: Tensor, target: Tensor) -> Tensor:
    if kind == "ids":  # token models emit scores over classes on the last axis
        return nn.functional.cross_entropy(output.reshape(-1, output.shape[-1]), target.reshape(-1))
    return nn.functional.mse_loss(output, target)


def check_model(
    name: str,
    /,
    *,
    registry: Any = None,
    skip_checks: Iterable[str] = (),
    **config: Any,
) -> Report:
    """Check the registered model ``name`` built from a tiny config (the record's defaults with
    sizes shrunk, ``config`` on top); raise AssertionError naming what failed.

    Sub-checks: ``build``, ``output`` and those ``skip_checks`` may name, :data:`MODEL_CHECKS`
    (``config round trip``, ``determinism``, ``float64``, ``step``, ``state form``, ``chunks``,
    ``not steppable``, ``wrong input``, ``save/load``, ``training``, ``onnx``). Returns a
    :class:`Report` of what passed and what was skipped, and why.
    """
    registry = resolve_registry(registry)
    spec = get_spec(registry, "model", name)
    config = shrink(spec, config, SAMPLES.get(spec.factory_path))
    checker = Checker(spec, config, skip_checks, MODEL_CHECKS)

    with checker.check("build"):
        torch.manual_seed(SEED)
        model = create(registry, spec, config).eval()
        if not isinstance(model, nn.Module):
            raise AssertionError(f"the factory built a {type(model).__name__}, not an nn.Module")
        if not isinstance(getattr(model, "config", None), Mapping):
            raise AssertionError(
                "the model has no .config mapping of its constructor arguments (subclass "
                "seqzoo.core.modules.SequenceModel and call self._remember_config(locals()))"
            )
        inputs = _Inputs(model, config)
        x = inputs.sequence(seed=SEED)

    with checker.check("output"):
        out = _forward(model, x)
        if not isinstance(out, Tensor) or not out.is_floating_point():
            raise AssertionError(f"forward must return a float tensor, got {out!r:.80}")
        expected = _expected_shape(model, config)
        if expected is not None and tuple(out.shape) != expected:
            raise AssertionError(
                f"an input of shape {tuple(x.shape)} gave shape {tuple(out.shape)}; "
                f"expected {expected} (from output/output_size)"
            )
        if out.shape[0] != BATCH:
            raise AssertionError(f"the output's first axis is {out.shape[0]}, not the batch")
        weight = next((p for p in model.parameters() if p.is_floating_point()), None)
        if weight is not None and out.dtype != weight.dtype:
            raise AssertionError(f"output dtype {out.dtype} is not the weights' {weight.dtype}")
        if not bool(torch.isfinite(out).all()):
            raise AssertionError("the output holds NaN or infinity")

    if checker.wants("config round trip"):
        with checker.check("config round trip"):
            saved = cast("Mapping[str, Any]", model.config)  # checked a Mapping at build
            json.dumps(saved)  # save_pretrained writes it to config.json
            rebuilt = create(registry, spec, saved).eval()
            if rebuilt.config != saved:
                raise AssertionError(
                    f"create(name, **model.config) has config {rebuilt.config}, not {saved}"
                )
            shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
            again = {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()}
            if shapes != again:
                raise AssertionError(f"the rebuilt model's weights {again} differ from {shapes}")
            rebuilt.load_state_dict(model.state_dict())
            assert_close(_forward(rebuilt, x), out, "the rebuilt model's output")

    if checker.wants("determinism"):
        with checker.check("determinism"):
            torch.manual_seed(SEED + 1)
            first = create(registry, spec, config).eval()
            torch.manual_seed(SEED + 1)
            second = create(registry, spec, config).eval()
            _same_weights(second, first, "two models built under the same torch seed")
            assert_close(_forward(second, x), _forward(first, x), "their outputs", atol=0, rtol=0)

    if checker.wants("float64"):
        with checker.check("float64"):
            wide = copy.deepcopy(model).to(torch.float64)
            wide_x = x.double() if x.is_floating_point() else x
            wide_out = _forward(wide, wide_x)
            if wide_out.dtype != torch.float64:
                raise AssertionError(f"after .to(torch.float64) the output is {wide_out.dtype}")
            assert_close(wide_out.float(), out, "the float64 output", atol=1e-4, rtol=1e-3)
            back = wide.to(torch.float32)
            assert_close(_forward(back, x), out, "the output after .to(float64) and back")

    _check_steps(checker, model, inputs, x, out)

    if checker.wants("wrong input"):
        with checker.check("wrong input"):
            for what, bad in inputs.wrong(x):
                _refuses(lambda bad=bad: _forward(model, bad), f"forward on {what}")
            if getattr(model, "causal", True):
                for what, bad in inputs.wrong_step(x):
                    _refuses(lambda bad=bad: model.step(bad, None), f"step on {what}")  # type: ignore[operator]  # torch stubs: a Module attribute is Tensor | Module

    if checker.wants("save/load"):
        with checker.check("save/load"):
            _check_save_load(registry, name, model, x, out)

    if checker.wants("training"):
        with checker.check("training"):
            _check_training(model, inputs, x, SEED)

    if checker.wants("onnx"):
        with checker.check("onnx"):
            _check_onnx(model, bool(getattr(model, "causal", True)))
    return checker.report


def _check_steps(checker: Checker, model: Any, inputs: _Inputs, x: Tensor, out: Tensor) -> None:
    from seqzoo.core.errors import NotSteppableError

    if not getattr(model, "causal", True):
        checker.report.skipped["step"] = "not causal"
        checker.report.skipped["state form"] = "not causal"
        checker.report.skipped["chunks"] = "not causal"
        if checker.wants("not steppable"):
            with checker.check("not steppable"):
                for what, call in (
                    ("step", lambda: model.step(x[:, 0], None)),
                    ("forward_stateful", lambda: model.forward_stateful(x, None)),
                ):
                    try:
                        with torch.no_grad():
                            call()
                    except NotSteppableError:
                        continue
                    except Exception as exc:
                        raise AssertionError(
                            f"causal is False, so {what} must raise seqzoo's NotSteppableError; "
                            f"it raised {type(exc).__name__}: {exc}"
                        ) from exc
                    raise AssertionError(f"causal is False, but {what} ran without an error")
        return
    checker.report.skipped["not steppable"] = "the model is causal"
    if checker.wants("step"):
        with checker.check("step"):
            try:
                with torch.no_grad():
                    stepped = _run_steps(model, x)
            except NotSteppableError as exc:
                raise AssertionError(
                    f"the model is causal but step raised NotSteppableError ({exc}); set "
                    "causal = False on a model that cannot run step by step"
                ) from exc
            assert_close(_match_whole(stepped, out), out, "step by step vs the whole sequence")
            with torch.no_grad():
                wide = copy.deepcopy(model).to(torch.float64)
                wide_x = x.double() if x.is_floating_point() else x
                wide_steps = _run_steps(wide, wide_x, dtype=torch.float64)
            if wide_steps.dtype != torch.float64:
                raise AssertionError(f"float64 steps gave {wide_steps.dtype} outputs")
    if checker.wants("state form"):
        with checker.check("state form"):
            check_state_form(model, x[:, 0], BATCH)
    if checker.wants("chunks"):
        with checker.check("chunks"):
            try:
                with torch.no_grad():
                    first, state = model.forward_stateful(x[:, :SPLIT], None)
            except NotSteppableError:
                raise Skip("forward_stateful is not implemented (NotSteppableError)") from None
            with torch.no_grad():
                second, _ = model.forward_stateful(x[:, SPLIT:], state)
            # per-step outputs join along time; a once-per-sequence output is the last chunk's
            per_step = out.dim() == 3 and out.shape[1] == TIME
            chunked = torch.cat([first, second], dim=1) if per_step else second
            assert_close(chunked, out, "two chunks through forward_stateful vs the whole")


def _check_save_load(registry: Any, name: str, model: nn.Module, x: Tensor, out: Tensor) -> None:
    from seqzoo.zoo.pretrained import from_pretrained, save_pretrained

    with tempfile.TemporaryDirectory(prefix="seqzoo-check-") as tmp:
        directory = save_pretrained(model, Path(tmp) / "saved", registry=registry)
        for file in ("config.json", "model.safetensors"):
            if not (directory / file).is_file():
                raise AssertionError(f"save_pretrained wrote no {file}")
        loaded = from_pretrained(directory, device="cpu", registry=registry)
    if getattr(loaded, "registry_name", None) != name or type(loaded) is not type(model):
        raise AssertionError(
            f"from_pretrained built a {type(loaded).__name__} named "
            f"{getattr(loaded, 'registry_name', None)!r}"
        )
    if loaded.config != model.config:
        raise AssertionError(f"the loaded config {loaded.config} differs from {model.config}")
    _same_weights(loaded, model, "the loaded model")
    buffers = dict(model.named_buffers())
    for key, value in loaded.named_buffers():
        if key in buffers:
            assert_close(value, buffers[key], f"the loaded buffer {key}", atol=0, rtol=0)
    assert_close(_forward(loaded, x), out, "the loaded model's output", atol=1e-6, rtol=1e-6)


def _check_training(model: nn.Module, inputs: _Inputs, x: Tensor, seed: int) -> None:
    student = copy.deepcopy(model).train()
    with torch.no_grad():
        shape = student(x).shape
    generator = seeded(seed + 7)
    if inputs.kind == "ids":
        target = torch.randint(0, shape[-1], shape[:-1], generator=generator)
    else:
        target = torch.randn(shape, generator=generator)
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        optimizer.zero_grad()
        loss = _task_loss(inputs.kind, student(x), target)
        if not bool(torch.isfinite(loss)):
            raise AssertionError(f"the training loss is {loss.item()}")
        loss.backward()
        if not any(
            p.grad is not None and bool(p.grad.abs().sum() > 0) for p in student.parameters()
        ):
            raise AssertionError("no parameter got a gradient from the loss")
        optimizer.step()
        losses.append(loss.item())
    with torch.no_grad():
        final = float(_task_loss(inputs.kind, student(x), target))
    if not final < losses[0]:
        raise AssertionError(
            f"8 Adam steps (lr 0.01) on one batch did not lower the loss: {losses[0]:.4g} -> "
            f"{final:.4g}"
        )


def _check_onnx(model: Any, causal: bool) -> None:
    if not causal:
        raise Skip("not causal: only steppable models export their step")
    missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        raise Skip(f"{' and '.join(missing)} not installed (pip install 'seqzoo[onnx]')")
    from seqzoo.zoo.onnx import export_onnx, verify_onnx

    with tempfile.TemporaryDirectory(prefix="seqzoo-check-") as tmp:
        path = Path(tmp) / "step.onnx"
        export_onnx(model, path)
        verify_onnx(model, path, steps=4, atol=1e-4)
