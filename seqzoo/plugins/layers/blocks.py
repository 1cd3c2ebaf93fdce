"""Nesting blocks: layers built from other layer specs.

Each takes ``build(specs, input_size, key="")`` from :func:`seqzoo.compose`, which builds a
child chain (located in error messages as ``spec[i].<block><key>``) and returns a Layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import torch
from torch import Tensor

from seqzoo.core.errors import ConfigError, NotSteppableError
from seqzoo.core.modules import Layer, State

__all__ = ["Bidirectional", "Parallel", "Residual"]

Build = Callable[..., Layer]


class Residual(Layer):
    """``x + body(x)``; the body must keep the size and the time axis. Shape unchanged."""

    def __init__(self, input_size: int, body: Any, build: Build) -> None:
        super().__init__()
        self.body = build(body, input_size)
        if self.body.output_size != input_size:
            raise ConfigError(
                f"a residual body must keep the size: it takes {input_size} features but "
                f"gives {self.body.output_size}",
                field="body",
            )
        if self.body.reduces_time:
            raise ConfigError("a residual body must keep the time axis (no pooling)", field="body")
        self.input_size = self.output_size = input_size
        self.needs_sequence = self.body.needs_sequence
        self.causal = self.body.causal

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)

    def initial_state(self, batch_size: int, **kwargs: Any) -> State:
        return self.body.initial_state(batch_size, **kwargs)

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        y, state = self.body.step(x, state)
        return x + y, state


class Parallel(Layer):
    """Branches on the same input, joined by ``concat`` (sizes add) or ``sum`` (sizes equal).

    Each branch is one layer spec or a list of them; all branches must agree on whether they
    pool the time axis.
    """

    def __init__(
        self, input_size: int, branches: Sequence[Any], build: Build, join: str = "concat"
    ) -> None:
        super().__init__()
        if join not in ("concat", "sum"):
            raise ConfigError(f"join must be 'concat' or 'sum', got {join!r}", field="join")
        if not isinstance(branches, Sequence) or isinstance(branches, str) or not branches:
            raise ConfigError("give a non-empty list of branches", field="branches")
        built = [build(branch, input_size, f"[{i}]") for i, branch in enumerate(branches)]
        self.branches = torch.nn.ModuleList(built)
        pooled = {b.reduces_time for b in built}
        if len(pooled) > 1:
            raise ConfigError(
                "some branches pool the time axis and some keep it; make them agree",
                field="branches",
            )
        sizes = [b.output_size for b in built]
        if join == "sum" and len(set(sizes)) > 1:
            raise ConfigError(
                f"join='sum' needs branches of one size, got sizes {sizes}; use join='concat'",
                field="join",
            )
        self.join = join
        self.input_size = input_size
        self.output_size = sum(sizes) if join == "concat" else sizes[0]
        self.reduces_time = pooled.pop()
        self.needs_sequence = any(b.needs_sequence for b in built)
        self.causal = all(b.causal for b in built)

    def _branches(self) -> Iterable[Layer]:
        return cast("Iterable[Layer]", self.branches)  # the ModuleList holds Layers only

    def _join(self, outputs: list[Tensor]) -> Tensor:
        if self.join == "concat":
            return torch.cat(outputs, dim=-1)
        return torch.stack(outputs).sum(dim=0)

    def forward(self, x: Tensor) -> Tensor:
        return self._join([branch(x) for branch in self.branches])

    def initial_state(self, batch_size: int, **kwargs: Any) -> State:
        return [branch.initial_state(batch_size, **kwargs) for branch in self._branches()]

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        states = state if state is not None else [None] * len(self.branches)
        outputs, new_states = [], []
        for branch, branch_state in zip(self._branches(), states, strict=True):
            y, branch_state = branch.step(x, branch_state)
            outputs.append(y)
            new_states.append(branch_state)
        return self._join(outputs), new_states


class Bidirectional(Layer):
    """Runs its body forwards and a copy (own weights) backwards in time; concatenates.

    ``(batch, time, f) -> (batch, time, 2 * body size)`` (or ``(batch, 2 * body size)`` when the
    body pools). It reads the future, so it cannot run step by step.
    """

    causal = False

    def __init__(self, input_size: int, body: Any, build: Build) -> None:
        super().__init__()
        self.forward_body = build(body, input_size)
        self.backward_body = build(body, input_size)
        self.input_size = input_size
        self.output_size = 2 * self.forward_body.output_size
        self.reduces_time = self.forward_body.reduces_time

    def forward(self, x: Tensor) -> Tensor:
        ahead = self.forward_body(x)
        behind = self.backward_body(torch.flip(x, dims=[1]))
        if not self.reduces_time:
            behind = torch.flip(behind, dims=[1])  # back to the input's time order
        return torch.cat([ahead, behind], dim=-1)

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        raise NotSteppableError(
            "a bidirectional block reads the future and cannot run step by step"
        )
