"""Building blocks shared by the built-in models and layers, each runnable step by step.

- :class:`RecurrentCore`: ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` with a uniform state protocol;
  it steps with the fused cell kernels (``torch.lstm_cell`` and kin) on the same parameters.
- :class:`CausalConv1d`: a batch-first Conv1d that is causal by default and steps with a
  rolling buffer of the last ``(kernel_size - 1) * dilation`` inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqzoo.core.errors import ConfigError, NotSteppableError, ShapeError
from seqzoo.core.modules import State, autograd_off, check_step, inference_mode
from seqzoo.core.validate import positive_int, probability

__all__ = ["CELLS", "CELL_OPS", "CausalConv1d", "RecurrentCore"]

CELLS: dict[str, Callable[..., nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}

#: The fused one-step kernel of each cell (``nonlinearity`` picks the Elman one). Each takes
#: ``(x (batch, in), h (batch, hidden) or (h, c), w_ih, w_hh, b_ih, b_hh)``: the weights of one
#: layer of ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM``, in that order.
CELL_OPS: dict[str, Callable[..., Any]] = {
    "lstm": torch.lstm_cell,
    "gru": torch.gru_cell,
    "tanh": torch.rnn_tanh_cell,
    "relu": torch.rnn_relu_cell,
}


class RecurrentCore(nn.Module):
    """A stack of recurrent layers. Input ``(batch, time, input_size)``.

    Output ``(batch, time, hidden_size * directions)``. State: ``h`` of shape
    ``(num_layers * directions, batch, hidden_size)``, or ``(h, c)`` for an LSTM.

    :meth:`forward` runs ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM``; :meth:`step` runs the fused cell
    kernels (:data:`CELL_OPS`) layer by layer on the same parameters, which costs a fraction of
    a length-1 sequence through the whole-sequence module.
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
        self.input_size = input_size
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
        # a key, not the kernel itself, so the module still pickles (torch.save(model))
        self._op = nonlinearity if cell == "rnn" else cell
        self._lstm = cell == "lstm"

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
        reference = cast(Tensor, self.rnn.weight_hh_l0)  # a Parameter torch names per layer
        shape = (self.num_layers * self.directions, batch_size, self.hidden_size)
        h = torch.zeros(shape, device=device or reference.device, dtype=dtype or reference.dtype)
        return (h, torch.zeros_like(h)) if self.cell == "lstm" else h

    def check_state(self, state: State, batch_size: int) -> None:
        """Raise :class:`ShapeError` unless ``state`` is this stack's state for ``batch_size``."""
        shape = (self.num_layers * self.directions, batch_size, self.hidden_size)
        if self._lstm:
            ok = (
                isinstance(state, (tuple, list))
                and len(state) == 2
                and all(isinstance(s, Tensor) and s.shape == shape for s in state)
            )
            expected = f"(h, c), each of shape {shape}"
        else:
            ok = isinstance(state, Tensor) and state.shape == shape
            expected = f"h of shape {shape}"
        if not ok:
            if isinstance(state, (tuple, list)):
                got = f"a {type(state).__name__} of {[_describe(s) for s in state]}"
            else:
                got = _describe(state)
            raise ShapeError(
                f"{self.cell} state must be {expected}, i.e. (num_layers * directions, batch, "
                f"hidden_size); got {got}; start from initial_state({batch_size}) or None"
            )

    def forward(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """Run a sequence from ``state``; return ``(outputs, final_state)``."""
        if state is not None and isinstance(x, Tensor) and x.dim() == 3:
            self.check_state(state, x.shape[0])  # batch-first
        return self.rnn(x, state)

    def prepare_step(self, x: Tensor, state: State) -> State:
        """Check one step ``x (batch, input_size)`` floats and its ``state`` (:class:`ShapeError`
        naming the problem); return the state to use (``None``: zeros). Raises
        :class:`NotSteppableError` for a bidirectional stack."""
        if self.directions == 2:
            raise NotSteppableError(
                "a bidirectional recurrent layer reads the future and cannot run step by step; "
                "use the whole-sequence forward, or set bidirectional=False"
            )
        if not (
            type(x) is Tensor
            and x.dim() == 2
            and x.shape[1] == self.input_size
            and x.is_floating_point()
        ):
            check_step(x, self.input_size, self.cell)  # raises, unless a tensor subclass
        if state is None:
            return self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        # the common case inline (this runs on every streaming step); check_state says why not
        shape = (self.num_layers, x.shape[0], self.hidden_size)
        if self._lstm:
            if type(state) is tuple and len(state) == 2:
                h, c = state
                if (
                    type(h) is Tensor
                    and type(c) is Tensor
                    and h.shape == shape
                    and c.shape == shape
                ):
                    return state
        elif type(state) is Tensor and state.shape == shape:
            return state
        self.check_state(state, x.shape[0])  # other sequence types, tensor subclasses
        return state

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """One step ``(batch, input_size) -> (batch, hidden_size)``: O(1) in the sequence length.

        Runs under ``torch.inference_mode`` when autograd is off (see :func:`autograd_off`).
        """
        state = self.prepare_step(x, state)
        if autograd_off():
            with inference_mode(True):
                return self.cells(x, state)
        return self.cells(x, state)

    def cells(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """The fused cell of each layer in turn, unchecked (see :meth:`prepare_step`):
        ``x (batch, input_size)`` -> ``(top layer's h (batch, hidden_size), next state)``."""
        op = CELL_OPS[self._op]
        weights = self.rnn._flat_weights  # kept current by nn.RNNBase (.to(), reassignment)
        if self._lstm:
            h, c = state
        else:
            h, c = state, None
        if torch.is_grad_enabled() and h.is_inference():
            # a state from a no-grad step: autograd cannot save inference tensors
            h = h.clone()
            c = None if c is None else c.clone()
        layers = self.num_layers
        if layers == 1:  # the common case, spelled out: indexing is the cheapest select/unsqueeze
            if c is None:
                h = op(x, h[0], *weights)
                return h, h[None]
            h, c = op(x, (h[0], c[0]), *weights)
            return h, (h[None], c[None])
        per_layer = len(weights) // layers  # w_ih, w_hh[, b_ih, b_hh]
        drop = self.rnn.dropout if self.training else 0.0
        hs: list[Tensor] = []
        cs: list[Tensor] = []
        for k in range(layers):
            w = weights[k * per_layer : (k + 1) * per_layer]
            if c is not None:
                h_k, c_k = op(x, (h[k], c[k]), *w)
                cs.append(c_k)
            else:
                h_k = op(x, h[k], *w)
            hs.append(h_k)
            # nn.RNNBase's dropout: on each layer's output but the last, in training only
            x = F.dropout(h_k, drop, True) if drop and k < layers - 1 else h_k
        h = torch.stack(hs)
        return hs[-1], h if c is None else (h, torch.stack(cs))

    def summary(self, state: State) -> Tensor:
        """The last layer's final hidden state, both directions concatenated: ``(batch, H*D)``."""
        h = state[0] if isinstance(state, tuple) else state
        last = h[-self.directions :]  # (directions, batch, hidden)
        return torch.cat(list(last), dim=-1)


def _describe(x: object) -> str:
    if isinstance(x, Tensor):
        return f"shape {tuple(x.shape)}"
    return f"a {type(x).__name__}"


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
