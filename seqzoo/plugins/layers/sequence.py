"""Layers that need the time axis: recurrent stacks, 1-d convolutions and time pooling.

All take ``(batch, time, input_size)``. Recurrent and convolution layers keep the time axis;
pooling layers (``reduces_time = True``) drop it: ``(batch, time, f) -> (batch, f)``.
Stepping a pooling layer gives the pooled value of the sequence so far, so its last step equals
the whole-sequence forward.
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqzoo.core.errors import ConfigError, NotSteppableError, ShapeError
from seqzoo.core.modules import Layer, State, check_sequence, check_step
from seqzoo.plugins.nn import CELLS, CausalConv1d, RecurrentCore

from .basic import boolean, positive_int, probability

__all__ = ["Conv1d", "LastPool", "MaxPool", "MeanPool", "Recurrent"]


class Recurrent(Layer):
    """A stack of RNN, GRU or LSTM layers (``cell``), registered as ``rnn``, ``gru``, ``lstm``.

    ``(batch, time, input_size) -> (batch, time, hidden_size * directions)``. Causal unless
    bidirectional. State: ``h`` ``(num_layers * directions, batch, hidden_size)``, or ``(h, c)``
    for an LSTM.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        cell: str = "lstm",
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        positive_int(input_size, "input_size")
        positive_int(hidden_size, "hidden_size")
        positive_int(num_layers, "num_layers")
        if cell not in CELLS:
            raise ConfigError(f"unknown cell {cell!r}; choose one of {sorted(CELLS)}", field="cell")
        self.core = RecurrentCore(
            cell,
            input_size,
            hidden_size,
            num_layers=num_layers,
            bidirectional=boolean(bidirectional, "bidirectional"),
            dropout=probability(dropout, "dropout"),
        )
        self.cell = cell
        self.input_size = input_size
        self.output_size = self.core.output_size
        self.causal = not bidirectional

    def forward(self, x: Tensor) -> Tensor:
        output, _ = self.core(check_sequence(x, self.input_size, self.cell))
        return output

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        return self.core.initial_state(batch_size, device=device, dtype=dtype)

    def check_state(self, state: State, batch_size: int) -> None:
        """:class:`ShapeError` unless ``state`` is this stack's state for ``batch_size``."""
        self.core.check_state(state, batch_size)

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """One step ``(batch, input_size) -> (batch, hidden_size)``; ``None`` starts from zeros."""
        if not self.causal:
            raise NotSteppableError(
                f"{self.cell} layer is bidirectional: its output depends on future steps, so it "
                "cannot run step by step; use the whole-sequence forward or set bidirectional=False"
            )
        return self.core.step(x, state)  # checks x as check_step does, and the state


class Conv1d(Layer):
    """Convolution over time: ``(batch, time, input_size) -> (batch, time, channels)``.

    Causal (default): the output at t sees the last ``(kernel_size - 1) * dilation + 1`` inputs,
    zeros before the start, and steps with a rolling buffer of past inputs (the state,
    ``(batch, input_size, (kernel_size - 1) * dilation)``). Not causal: centred padding, no step.
    """

    def __init__(
        self,
        input_size: int,
        channels: int,
        kernel_size: int = 3,
        dilation: int = 1,
        causal: bool = True,
    ) -> None:
        super().__init__()
        # checked here, not only in CausalConv1d, so errors name this layer's arguments
        positive_int(input_size, "input_size")
        positive_int(channels, "channels")
        positive_int(kernel_size, "kernel_size")
        positive_int(dilation, "dilation")
        self.conv = CausalConv1d(
            input_size, channels, kernel_size, dilation, causal=boolean(causal, "causal")
        )
        self.input_size = input_size
        self.output_size = channels
        self.causal = causal

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(check_sequence(x, self.input_size, "conv1d"))

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        return self.conv.initial_state(batch_size, device=device, dtype=dtype)

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """One step ``(batch, input_size) -> (batch, channels)``; ``None`` starts from zeros."""
        if not self.causal:
            raise NotSteppableError(
                "conv1d layer has causal=False: its centred kernel reads future steps, so it "
                "cannot run step by step; set causal=True"
            )
        return self.conv.step(check_step(x, self.input_size, "conv1d"), state)


class _TimePool(Layer):
    """Base of time pooling: ``(batch, time, input_size) -> (batch, input_size)``."""

    reduces_time = True
    _who = "pool"

    def __init__(self, input_size: int) -> None:
        super().__init__()
        self.input_size = self.output_size = positive_int(input_size, "input_size")

    def _check(self, x: object) -> Tensor:
        x = check_sequence(x, self.input_size, self._who)
        if x.shape[1] == 0:  # pooling an empty sequence has no value to return
            raise ShapeError(
                f"{self._who} expects at least one time step; got shape {tuple(x.shape)}"
            )
        return x


class LastPool(_TimePool):
    """The last time step: ``(batch, time, f) -> (batch, f)``. Stateless when stepping."""

    _who = "last"

    def forward(self, x: Tensor) -> Tensor:
        return self._check(x)[:, -1]

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """The last step seen so far is this one: ``(batch, f) -> (batch, f)``."""
        return check_step(x, self.input_size, self._who), state


class MeanPool(_TimePool):
    """The mean over time: ``(batch, time, f) -> (batch, f)``.

    Step state: ``(running_sum (batch, f), count (batch, 1))``.
    """

    _who = "mean"

    def forward(self, x: Tensor) -> Tensor:
        return self._check(x).mean(dim=1)

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        total = torch.zeros(batch_size, self.input_size, device=device, dtype=dtype)
        # the count is a tensor so that map_state (detach, .to(device)) handles the whole state
        return total, torch.zeros(batch_size, 1, device=device, dtype=dtype)

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """The mean of the steps so far: ``(batch, f) -> (batch, f)``."""
        x = check_step(x, self.input_size, self._who)
        if state is None:
            state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        total, count = state
        total, count = total + x, count + 1
        return total / count, (total, count)


class MaxPool(_TimePool):
    """The maximum over time, per feature: ``(batch, time, f) -> (batch, f)``.

    Step state: the running maximum ``(batch, f)``, starting at ``-inf``.
    """

    _who = "max"

    def forward(self, x: Tensor) -> Tensor:
        return self._check(x).amax(dim=1)

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        return torch.full((batch_size, self.input_size), -torch.inf, device=device, dtype=dtype)

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """The maximum of the steps so far: ``(batch, f) -> (batch, f)``."""
        x = check_step(x, self.input_size, self._who)
        running = x if state is None else torch.maximum(state, x)
        return running, running
