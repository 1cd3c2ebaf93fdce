"""Hybrid architectures composed from registered layers.

A spec is a list of layer specs ``{"layer": name, **arguments}``; each layer's ``input_size``
is the previous layer's ``output_size``, so no size is stated twice::

    spec = [
        {"layer": "conv1d", "channels": 16},
        {"layer": "lstm", "hidden_size": 32},
        {"layer": "residual", "body": [{"layer": "lstm", "hidden_size": 32}]},
        {"layer": "parallel", "branches": [{"layer": "last"}, {"layer": "mean"}]},
        {"layer": "linear", "out_features": 1},
    ]
    model = compose(spec, input_size=3)   # (batch, time, 3) -> (batch, 1)

The same spec loads from YAML, TOML or JSON (:func:`load_spec`), bounded in size, nesting and
YAML aliases (:mod:`seqzoo.core.structured`); ``model.config`` rebuilds it
(``Hybrid(**model.config)``). Errors name the position in the spec, e.g. ``spec[2].parallel[1]``.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

from .errors import ConfigError, NotSteppableError, SeqzooError, UnknownNameError
from .modules import Layer, SequenceModel, State, autograd_off, inference_mode
from .specs import check_arguments
from .structured import MAX_DEPTH, MAX_NODES, read_structured_file
from .validate import check_nesting, refuse_reserved

__all__ = ["Chain", "Hybrid", "compose", "load_spec"]

SpecLike = Sequence[Mapping[str, Any]] | Mapping[str, Any]


class Chain(Layer):
    """Layers run one after another; steps thread each layer's state (a list, one per layer)."""

    def __init__(self, layers: Sequence[Layer], input_size: int | None) -> None:
        super().__init__()
        self.steps = nn.ModuleList(layers)
        self.input_size = input_size  # type: ignore[assignment]  # None: a chain built before its input size is known
        self.output_size = layers[-1].output_size if layers else input_size  # type: ignore[assignment]  # None only for an empty chain
        self.causal = all(layer.causal for layer in layers)
        self.reduces_time = any(layer.reduces_time for layer in layers)
        self.needs_sequence = bool(layers) and layers[0].needs_sequence
        self.takes_ids = bool(layers) and layers[0].takes_ids

    def _layers(self) -> Iterable[Layer]:
        return cast("Iterable[Layer]", self.steps)  # the ModuleList holds Layers only

    def forward(self, x: Tensor) -> Tensor:
        for layer in self._layers():
            x = layer(x)
        return x

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> list[State]:
        return [
            layer.initial_state(batch_size, device=device, dtype=dtype) for layer in self._layers()
        ]

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, list[State]]:
        states = state if state is not None else [None] * len(self.steps)
        new_states = []
        for layer, layer_state in zip(self._layers(), states, strict=True):
            x, layer_state = layer.step(x, layer_state)
            new_states.append(layer_state)
        return x, new_states


class _Builder:
    """Builds layer specs against a registry, recording where each built layer came from."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self.built: list[tuple[str, str, Layer]] = []  # (path, layer name, layer)

    def chain(
        self, specs: Any, input_size: int | None, path: str, pooled: str | None, top: bool = False
    ) -> Layer:
        """Build a list of specs into a :class:`Chain`; a single spec into its layer.

        Only the top-level chain's first layer may take token ids.
        """
        if isinstance(specs, Mapping):
            return self.layer(specs, input_size, path, pooled, first=False)
        if isinstance(specs, Sequence) and not isinstance(specs, str) and specs:
            paths = [f"{path}[{i}]" for i in range(len(specs))]
        else:
            raise ConfigError(
                f"expected a non-empty list of layer specs ({{layer: name, ...}}), got {specs!r}",
                path=path,
            )
        layers: list[Layer] = []
        size = input_size
        for where, item in zip(paths, specs, strict=True):
            layer = self.layer(item, size, where, pooled, first=top and not layers)
            if layer.reduces_time:
                pooled = where
            layers.append(layer)
            size = layer.output_size
        return Chain(layers, input_size)

    def layer(
        self, item: Any, input_size: int | None, where: str, pooled: str | None, first: bool
    ) -> Layer:
        if not isinstance(item, Mapping) or "layer" not in item:
            raise ConfigError(
                f"a layer spec is a mapping with a 'layer' key, got {item!r}", path=where
            )
        name = item["layer"]
        if not isinstance(name, str) or not name:
            raise ConfigError(
                f"'layer' must name a registered layer, got {name!r}", path=where, field="layer"
            )
        try:
            record = self.registry.get("layer", name)
        except UnknownNameError as exc:
            raise ConfigError(str(exc), path=where, field="layer") from None
        arguments = {**record.defaults, **{k: v for k, v in item.items() if k != "layer"}}
        if "input_size" in item:
            raise ConfigError(
                "sizes flow from the previous layer; remove input_size (give the first "
                "layer's size as compose(..., input_size=N))",
                path=where,
                field="input_size",
            )
        refuse_reserved(item, "layer", path=where)  # build: the child builder compose passes
        factory = record.load()
        if input_size is None and not getattr(factory, "takes_ids", False):
            raise ConfigError(
                f"layer {name!r} needs an input size: pass compose(spec, input_size=N)",
                path=where,
            )
        check_arguments(
            factory, arguments, what=f"layer {name!r}", path=where, supplied=("input_size", "build")
        )
        try:
            takes_build = "build" in inspect.signature(factory).parameters
        except (TypeError, ValueError):
            takes_build = False
        if takes_build:

            def build(children: Any, size: int | None, key: str = "") -> Layer:
                return self.chain(children, size, f"{where}.{name}{key}", pooled)

            arguments["build"] = build
        try:
            layer = factory(input_size=input_size, **arguments)
        except ConfigError as exc:
            if exc.path:  # raised by a nested build: already located
                raise
            raise ConfigError(exc.reason, path=where, field=exc.field) from None
        except SeqzooError:
            raise
        except Exception as exc:  # a factory's own failure, located for the user
            raise ConfigError(
                f"layer {name!r} could not be built: {type(exc).__name__}: {exc}", path=where
            ) from exc
        if not isinstance(layer, Layer):
            raise ConfigError(
                f"layer {name!r} built a {type(layer).__name__}, not a seqzoo Layer", path=where
            )
        if layer.takes_ids and not first:
            raise ConfigError(
                f"layer {name!r} takes token ids, so it must come first", path=where, field="layer"
            )
        if layer.needs_sequence and pooled is not None:
            raise ConfigError(
                f"layer {name!r} needs a (batch, time, features) sequence, but the time axis "
                f"was pooled away at {pooled}; move it before the pooling",
                path=where,
                field="layer",
            )
        self.built.append((where, name, layer))
        return layer


class Hybrid(SequenceModel):
    """A model composed from layer specs (see the module docstring).

    Input ``(batch, time, input_size)`` floats, or ``(batch, time)`` ids when the first layer
    is an embedding. Output ``(batch, output_size)`` when a layer pools the time axis, else
    ``(batch, time, output_size)``. Runs step by step when every layer is causal.
    """

    name_in_messages = "hybrid"

    def __init__(
        self, layers: list[dict[str, Any]], input_size: int | None = None, *, registry: Any = None
    ) -> None:
        super().__init__()
        if isinstance(registry, (str, bytes, int, float, Mapping, list, tuple)) or (
            registry is not None and not callable(getattr(registry, "get", None))
        ):
            # plain data from a config file (config.json, a run file) where seqzoo passes its
            # own registry object
            raise ConfigError(
                f"'registry' is set by seqzoo itself and cannot come from a config; remove it "
                f"(got {registry!r:.60})",
                field="registry",
            )
        # bounded before copying: a deep or alias-expanded spec would overflow the stack
        check_nesting(layers, where="the spec", max_depth=MAX_DEPTH, max_nodes=MAX_NODES)
        self._config = {"layers": _plain(layers, "spec"), "input_size": input_size}
        if registry is None:
            from .api import get_registry

            registry = get_registry()
        builder = _Builder(registry)
        layers_spec = self._config["layers"]
        if not isinstance(layers_spec, list):
            raise ConfigError("layers must be a list of layer specs", path="spec")
        # a list of specs always builds a Chain
        self.body = cast(Chain, builder.chain(layers_spec, input_size, "spec", None, top=True))
        self._built = builder.built
        self.input_size = input_size
        self.output_size: int = self.body.output_size
        self.reduces_time = self.body.reduces_time
        self.input_kind = "ids" if self.body.takes_ids else "real"
        self.causal = self.body.causal

    def forward(self, x: Tensor) -> Tensor:
        # ``model(x)`` checks x first (SequenceModel.check_input); the embedding checks ids
        return self.body(x)

    def check_state(self, state: State, x: Tensor) -> None:
        """Each top-level layer that checks its own state (a recurrent stack) does so first,
        naming its layout; then the whole state is compared with ``initial_state``."""
        layers = list(self.body.steps)
        if isinstance(state, (tuple, list)) and len(state) == len(layers):
            for layer, layer_state in zip(layers, state, strict=True):
                own = getattr(layer, "check_state", None)
                if callable(own) and layer_state is not None:
                    own(layer_state, x.shape[0])
        super().check_state(state, x)

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        self._require_causal()
        return self.body.initial_state(batch_size, device=device, dtype=dtype)

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """One step ``(batch, input_size)`` (or ``(batch,)`` ids) -> ``(batch, output_size)``."""
        self._require_causal()
        if autograd_off():  # one inference-mode region for every layer of the step
            with inference_mode(True):
                return self.body.step(x, state)
        return self.body.step(x, state)

    def forward_stateful(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """Run a chunk step by step from ``state``; output as :meth:`forward` gives it."""
        self._require_causal()
        if autograd_off():
            with inference_mode(True):
                return self._steps(x, state)
        return self._steps(x, state)

    def _steps(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        outputs = []
        for t in range(x.shape[1]):
            y, state = self.body.step(x[:, t], state)
            outputs.append(y)
        return (outputs[-1] if self.reduces_time else torch.stack(outputs, dim=1)), state

    def _require_causal(self) -> None:
        if self.causal:
            return
        blocking = [(p, n) for p, n, layer in self._built if not layer.causal]
        # name the innermost culprits: a block is non-causal because of its children
        innermost = [
            (p, n) for p, n in blocking if not any(q != p and q.startswith(p) for q, _ in blocking)
        ]
        where = ", ".join(dict.fromkeys(f"{p} ({n!r})" for p, n in innermost))
        raise NotSteppableError(
            f"this hybrid cannot run step by step: {where} is not causal (it reads future "
            "time steps); use the whole-sequence forward, or replace that layer with a causal one"
        )


def compose(
    spec: SpecLike | str | os.PathLike[str],
    input_size: int | None = None,
    *,
    registry: Any = None,
) -> Hybrid:
    """Build a :class:`Hybrid` from a spec: a list of layer specs, a mapping with ``layers``
    (and optionally ``input_size``), or the path of a YAML, TOML or JSON file holding one."""
    if isinstance(spec, (str, os.PathLike)):
        spec = load_spec(spec)
    layers: Any = spec  # a list of layer specs, or a mapping holding one
    if isinstance(spec, Mapping):
        if "layers" not in spec:
            raise ConfigError("a spec mapping needs a 'layers' list", field="layers")
        given = spec.get("input_size")
        if input_size is not None and given is not None and given != input_size:
            raise ConfigError(
                f"the spec says input_size={given} but input_size={input_size} was passed",
                field="input_size",
            )
        input_size = input_size if input_size is not None else given
        layers = spec["layers"]
    return Hybrid(list(layers), input_size, registry=registry)


def load_spec(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a hybrid spec from ``.yaml``/``.yml``, ``.toml`` or ``.json``.

    Returns ``{"layers": [...], "input_size": N | None}``; a YAML or JSON file may hold the bare
    list of layer specs.
    """
    file = Path(path)
    data = read_structured_file(file, what="spec file")
    if isinstance(data, list):
        data = {"layers": data}
    if not isinstance(data, Mapping) or "layers" not in data:
        raise ConfigError(
            f"spec file {str(file)!r} must hold a list of layer specs or a mapping with "
            "'layers' (and optionally 'input_size')"
        )
    return {"layers": data["layers"], "input_size": data.get("input_size")}


def _plain(value: Any, path: str) -> Any:
    """A deep copy of a spec as plain JSON values (so the config round-trips through JSON)."""
    try:
        return json.loads(json.dumps(copy.deepcopy(value)))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"a spec holds plain JSON values only: {exc}", path=path) from None
