"""An ensemble: several registered models of one input kind, their predictions combined.

::

    seqzoo.create_model("ensemble", vocab_size=97, members=[
        {"name": "embedding-lstm", "hidden_size": 320}, {"name": "embedding-lstm", "hidden_size": 320},
    ])
    Ensemble.of([run.model for run in runs])   # trained models (e.g. one per seed), as they are

``combine="probabilities"`` (token ids: language models and classifiers) returns the log of the
members' mean probability, ``log(mean_k softmax(z_k))``, which is again a valid logit: its
softmax is that mean, so cross-entropy, bits per character and sampling see the mixture.
``combine="mean"`` (real-valued forecasts and regressions) averages the outputs. Shapes are the
members': ``(batch, time)`` ids or ``(batch, time, features)`` floats in, the members' output
shape out. The state of :meth:`Ensemble.forward_stateful` and :meth:`Ensemble.step` is the
tuple of the members' states, so an ensemble of language models carries its state across
chunks and streams token by token like one model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn

from seqzoo.core.errors import ConfigError, ShapeError
from seqzoo.core.modules import SequenceModel, State

__all__ = ["Ensemble"]

COMBINE = ("auto", "probabilities", "mean")


class Ensemble(SequenceModel):
    """``members``: model configs ``{"name": ..., **config}`` (registered names, each built
    with the sizes it takes from the ensemble's); ``combine``: ``"probabilities"``,
    ``"mean"`` or ``"auto"`` (probabilities for token-id members, else the mean)."""

    def __init__(
        self,
        members: Sequence[Any],
        input_size: int | None = None,
        vocab_size: int | None = None,
        output_size: int | None = None,
        output: str | None = None,
        combine: str = "auto",
        *,
        registry: Any = None,
    ) -> None:
        super().__init__()
        if isinstance(members, (str, Mapping)) or not isinstance(members, Sequence):
            raise ConfigError(
                "members is a list of model configs, e.g. [{name: gru, hidden_size: 32}, "
                "{name: lstm}]",
                field="members",
            )
        if len(members) < 2:
            raise ConfigError(
                f"an ensemble combines two models or more, got {len(members)}", field="members"
            )
        sizes = {"input_size": input_size, "vocab_size": vocab_size, "output_size": output_size,
                 "output": output}  # fmt: skip
        built = [_build_member(spec, sizes, registry, i) for i, spec in enumerate(members)]
        self._adopt([model for _, model in built], [name for name, _ in built], combine)

    @classmethod
    def of(cls, models: Sequence[SequenceModel], combine: str = "auto") -> Ensemble:
        """The ensemble of already-built (trained) ``models``, used as they are (not copied);
        each must know its registered name (``registry_name``, set by ``create_model``)."""
        names = []
        for i, model in enumerate(models):
            name = getattr(model, "registry_name", None)
            if not isinstance(model, SequenceModel) or name is None:
                raise ConfigError(
                    f"member {i} is not a registered seqzoo model (no registry_name); build it "
                    "with seqzoo.create_model or train it with seqzoo.train",
                    field="members",
                )
            names.append(name)
        if len(models) < 2:
            raise ConfigError(
                f"an ensemble combines two models or more, got {len(models)}", field="members"
            )
        ensemble = cls.__new__(cls)
        SequenceModel.__init__(ensemble)
        ensemble._adopt(list(models), names, combine)
        return ensemble

    def _adopt(self, models: list[SequenceModel], names: list[str], combine: str) -> None:
        kinds = {model.input_kind for model in models}
        if len(kinds) > 1:
            raise ConfigError(
                f"the members read different inputs ({', '.join(sorted(kinds))}); an ensemble's "
                "members all read token ids or all read real-valued sequences",
                field="members",
            )
        if combine not in COMBINE:
            raise ConfigError(
                f"combine must be one of {', '.join(map(repr, COMBINE))}, not {combine!r}",
                field="combine",
            )
        self.input_kind = kinds.pop()
        if combine == "auto":
            combine = "probabilities" if self.input_kind == "ids" else "mean"
        self.combine = combine
        self.members = nn.ModuleList(models)
        first = models[0]
        for key in ("input_size", "vocab_size", "output_size", "output", "input_ranks"):
            values = {repr(getattr(m, key, None)) for m in models}
            if len(values) > 1:
                raise ConfigError(
                    f"the members disagree on {key} ({', '.join(sorted(values))}); an "
                    "ensemble's members take the same inputs and give the same outputs",
                    field="members",
                )
            if getattr(first, key, None) is not None:
                setattr(self, key, getattr(first, key))
        self.causal = all(getattr(m, "causal", False) for m in models)
        self.accepts_nan = all(m.accepts_nan for m in models)
        self.reference_tolerance = (
            max(m.reference_tolerance[0] for m in models),
            max(m.reference_tolerance[1] for m in models),
        )
        self._config = {
            "members": [{"name": n, **m.config} for n, m in zip(names, models, strict=True)],
            "combine": combine,
        }

    # -- combining ------------------------------------------------------------------------

    def _combine(self, outputs: list[Tensor]) -> Tensor:
        stacked = torch.stack(outputs)
        if self.combine == "mean":
            return stacked.mean(dim=0)
        # log of the mean probability, computed in log space (no underflow)
        log_probs = torch.log_softmax(stacked.float(), dim=-1)
        mixed = torch.logsumexp(log_probs, dim=0) - math.log(len(outputs))
        return mixed.to(stacked.dtype)

    @property
    def models(self) -> list[SequenceModel]:
        """The members, typed (``self.members`` is their ``nn.ModuleList``)."""
        return cast(list[SequenceModel], list(self.members))

    def forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """The members' combined output for ``x`` (their own input and output shapes)."""
        return self._combine([member(x, *args, **kwargs) for member in self.members])

    def forward_stateful(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """A chunk from ``state`` (a tuple of the members' states, or None)."""
        states = self._split_state(state)
        pairs = [m.forward_stateful(x, s) for m, s in zip(self.models, states, strict=True)]
        return self._combine([y for y, _ in pairs]), tuple(s for _, s in pairs)

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """One step from ``state`` (a tuple of the members' states, or None)."""
        states = self._split_state(state)
        pairs = [m.step(x, s) for m, s in zip(self.models, states, strict=True)]
        return self._combine([y for y, _ in pairs]), tuple(s for _, s in pairs)

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        return tuple(m.initial_state(batch_size, device=device, dtype=dtype) for m in self.models)

    def check_state(self, state: State, x: Tensor) -> None:
        for member, part in zip(self.models, self._split_state(state), strict=True):
            if part is not None:
                member.check_state(part, x)

    def _split_state(self, state: State) -> tuple[State, ...]:
        if state is None:
            return (None,) * len(self.members)
        if not isinstance(state, tuple) or len(state) != len(self.members):
            raise ShapeError(
                f"an ensemble of {len(self.members)} models carries a tuple of "
                f"{len(self.members)} member states; got {type(state).__name__}"
                + (f" of {len(state)}" if isinstance(state, (tuple, list)) else "")
                + " (pass the state the ensemble returned, or None to start afresh)"
            )
        return state


def _build_member(
    spec: Any, sizes: dict[str, Any], registry: Any, index: int
) -> tuple[str, SequenceModel]:
    """``(name, model)`` for one member config, given the ensemble's sizes it accepts."""
    from seqzoo.core.api import get_registry
    from seqzoo.core.workflow import resolve_part

    try:
        name, config = resolve_part(spec, "model")
    except ConfigError as exc:
        raise ConfigError(f"member {index}: {exc.reason}", field="members") from None
    if name == "ensemble":
        raise ConfigError(
            f"member {index} is an ensemble; list its members instead", field="members"
        )
    registry = registry if registry is not None else get_registry()
    try:
        accepted = registry.get("model", name).argument_names()
    except Exception as exc:
        raise ConfigError(f"member {index}: {exc}", field="members") from None
    wanted = {k: v for k, v in sizes.items() if v is not None and k in accepted}
    try:
        model = registry.create("model", name, **{**wanted, **config})
    except ConfigError as exc:
        raise ConfigError(f"member {index} ({name}): {exc}", field="members") from None
    if not isinstance(model, SequenceModel):
        raise ConfigError(
            f"member {index} ({name}) is not a seqzoo SequenceModel, so the ensemble could not "
            "be saved and rebuilt",
            field="members",
        )
    return name, model
