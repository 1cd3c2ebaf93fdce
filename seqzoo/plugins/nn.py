"""Building blocks shared by the built-in models and layers, each runnable step by step.

- :class:`RecurrentCore`: ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` with a uniform state protocol.
- :class:`CausalConv1d`: a batch-first Conv1d that is causal by default and steps with a
  rolling buffer of the last ``(kernel_size - 1) * dilation`` inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqzoo.core.errors import ConfigError, NotSteppableError
from seqzoo.core.modules import State
from seqzoo.core.validate import positive_int, probability

__all__ = ["CELLS", "CausalConv1d", "RecurrentCore"]

CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class RecurrentCore(nn.Module):
    """A stack of recurrent layers. Input ``(batch, time, input_size)``.

    Output ``(batch, time, hidden_size * directions)``. State: ``h`` of shape
    ``(num_layers * directions, batch, hidden_size)``, or ``(h, c)`` for an LSTM.
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        nonlinearity: str = "tanh",
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ConfigError(f"unknown cell {cell!r}; choose one of {sorted(CELLS)}", field="cell")
        positive_int(hidden_size, "hidden_size")
        positive_int(num_layers, "num_layers")
        probability(dropout, "dropout")
        kwargs: dict[str, object] = {}
        if cell == "rnn":
            kwargs["nonlinearity"] = nonlinearity
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.directions = 2 if bidirectional else 1
        self.rnn = CELLS[cell](
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            # torch warns when dropout is set on a single layer, where it has no effect
            dropout=dropout if num_layers > 1 else 0.0,
            **kwargs,
        )

    @property
    def output_size(self) -> int:
        return self.hidden_size * self.directions

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        reference = self.rnn.weight_hh_l0
        shape = (self.num_layers * self.directions, batch_size, self.hidden_size)
        h = torch.zeros(shape, device=device or reference.device, dtype=dtype or reference.dtype)
        return (h, torch.zeros_like(h)) if self.cell == "lstm" else h

    def forward(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """Run a sequence from ``state``; return ``(outputs, final_state)``."""
        return self.rnn(x, state)

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """One step ``(batch, input_size) -> (batch, hidden_size)``: O(1) in the sequence length."""
        if self.directions == 2:
            raise NotSteppableError(
                "a bidirectional recurrent layer reads the future and cannot run step by step; "
                "use the whole-sequence forward, or set bidirectional=False"
            )
        output, state = self.rnn(x.unsqueeze(1), state)
        return output.squeeze(1), state

    def summary(self, state: State) -> Tensor:
        """The last layer's final hidden state, both directions concatenated: ``(batch, H*D)``."""
        h = state[0] if isinstance(state, tuple) else state
        last = h[-self.directions :]  # (directions, batch, hidden)
        return torch.cat(list(last), dim=-1)


class CausalConv1d(nn.Module):
    """Conv1d over time, batch-first: ``(batch, time, in_channels) -> (batch, time, out_channels)``.

    Causal (default): output at t sees inputs t - (kernel_size - 1) * dilation .. t, zeros before
    the start. Not causal: centred ("same") padding; such a layer cannot step.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        dilation: int = 1,
        causal: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("kernel_size", kernel_size),
            ("dilation", dilation),
        ):
            positive_int(value, name)
        self.causal = causal
        self.receptive = (kernel_size - 1) * dilation  # past inputs the output depends on
        self.conv = nn.Conv1d(
            in_channels,
            out_channels,
            kernel_size,
            dilation=dilation,
            padding=0 if causal else "same",
            bias=bias,
        )

    def forward(self, x: Tensor) -> Tensor:
        x = x.transpose(1, 2)  # (batch, channels, time) for Conv1d
        if self.causal:
            x = F.pad(x, (self.receptive, 0))
        return self.conv(x).transpose(1, 2)

    def forward_stateful(self, x: Tensor, buffer: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run a chunk ``(batch, time, in)`` from the rolling ``buffer`` (``None``: zeros, the
        start of a sequence); return ``((batch, time, out), next buffer)``, so consecutive
        chunks give the same outputs as one whole-sequence call."""
        if not self.causal:
            raise NotSteppableError("a non-causal convolution cannot carry state across chunks")
        if buffer is None:
            buffer = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        window = torch.cat([buffer, x.transpose(1, 2)], dim=-1)  # (batch, in, receptive + time)
        y = self.conv(window)  # no padding: the buffer stands in for it
        # slice from an explicit start: window[..., -0:] would keep everything when receptive is 0
        return y.transpose(1, 2), window[..., window.shape[-1] - self.receptive :]

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        """A buffer of the last ``receptive`` inputs: ``(batch, in_channels, receptive)``."""
        weight = self.conv.weight
        return torch.zeros(
            batch_size,
            self.conv.in_channels,
            self.receptive,
            device=device or weight.device,
            dtype=dtype or weight.dtype,
        )

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, Tensor]:
        """One step ``(batch, in_channels) -> (batch, out_channels)`` from the rolling buffer."""
        if not self.causal:
            raise NotSteppableError(
                "a non-causal convolution reads the future and cannot run step by step; "
                "set causal=True"
            )
        if state is None:
            state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        window = torch.cat([state, x.unsqueeze(-1)], dim=-1)  # (batch, in, receptive + 1)
        taps = window[..., :: self.conv.dilation[0]]  # (batch, in, kernel_size)
        y = torch.einsum("bik,oik->bo", taps, self.conv.weight)
        if self.conv.bias is not None:
            y = y + self.conv.bias
        return y, window[..., 1:]
