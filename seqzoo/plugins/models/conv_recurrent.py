"""Convolution + recurrent hybrids: CNN-LSTM (``style="serial"``) and LSTM-FCN (``"parallel"``).

- serial: conv blocks (conv + ReLU) turn ``(batch, time, input_size)`` into
  ``(batch, time, channels[-1])``; a recurrent stack reads them; a linear head reads its
  ``hidden_size`` outputs.
- parallel (LSTM-FCN, as in tsai): a recurrent stack reads the raw input beside conv blocks
  (conv + BatchNorm + ReLU) whose features are averaged over time; the head reads the
  concatenation, ``hidden_size + channels[-1]`` features. Per-step outputs (and stepping) use
  the running mean up to t, which is causal; ``output="last"`` is the global average.

Output: ``(batch, output_size)`` for ``output="last"``, ``(batch, time, output_size)`` for
``output="sequence"``. Step: ``(batch, input_size) -> (batch, output_size)``; the state is
``(conv buffers, recurrent state)`` (serial) or ``(conv buffers, recurrent state, feature sum
(batch, channels[-1]), step count (batch, 1))`` (parallel). ``causal=False`` centres the convs:
whole sequences only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqzoo.core.errors import ConfigError, NotSteppableError
from seqzoo.core.modules import SequenceModel, State, autograd_off, inference_mode
from seqzoo.core.validate import boolean, output_mode, positive_int
from seqzoo.plugins.nn import CausalConv1d, RecurrentCore

__all__ = ["ConvRecurrent"]

STYLES = ("serial", "parallel")


def _int_list(value: Any, field: str) -> list[int]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(
            f"must be a non-empty list of positive integers, got {value!r}", field=field
        )
    return [positive_int(v, field) for v in value]


class ConvRecurrent(SequenceModel):
    """Conv blocks and a recurrent stack, in series (CNN-LSTM) or in parallel (LSTM-FCN).

    Input ``(batch, time, input_size)``; output ``(batch, output_size)`` for ``output="last"``,
    ``(batch, time, output_size)`` for ``output="sequence"``.
    """

    def __init__(
        self,
        input_size: int,
        output_size: int = 1,
        channels: Sequence[int] = (32,),
        kernel_sizes: Sequence[int] = (3,),
        cell: str = "lstm",
        hidden_size: int = 64,
        num_layers: int = 1,
        causal: bool = True,
        style: str = "serial",
        output: str = "last",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self._remember_config(locals())
        self.input_size = positive_int(input_size, "input_size")
        self.output_size = positive_int(output_size, "output_size")
        channels = _int_list(channels, "channels")
        kernel_sizes = _int_list(kernel_sizes, "kernel_sizes")
        if len(kernel_sizes) != len(channels):
            raise ConfigError(
                f"needs one kernel size per conv block: {len(kernel_sizes)} kernel sizes for "
                f"{len(channels)} channels",
                field="kernel_sizes",
            )
        boolean(causal, "causal")
        if style not in STYLES:
            raise ConfigError(f"must be one of {list(STYLES)}, got {style!r}", field="style")
        positive_int(hidden_size, "hidden_size")
        positive_int(num_layers, "num_layers")
        self.output = output_mode(output)
        self.style = style
        self.causal = causal
        sizes = [input_size, *channels]
        self.convs = nn.ModuleList(
            CausalConv1d(sizes[i], sizes[i + 1], kernel_size=k, causal=causal)
            for i, k in enumerate(kernel_sizes)
        )
        # only LSTM-FCN normalises its conv blocks
        self.norms = nn.ModuleList(nn.BatchNorm1d(c) for c in channels if style == "parallel")
        rnn_input = channels[-1] if style == "serial" else input_size
        self.core = RecurrentCore(cell, rnn_input, hidden_size, num_layers, dropout=dropout)
        self.dropout = nn.Dropout(dropout)
        # the parallel head also reads the time-pooled conv features
        self.pooled_size = channels[-1] if style == "parallel" else 0
        self.head = nn.Linear(hidden_size + self.pooled_size, output_size)

    # conv blocks: whole sequence, chunk from buffers, one step

    def _conv_blocks(self) -> Iterable[CausalConv1d]:
        return cast("Iterable[CausalConv1d]", self.convs)  # the ModuleList holds only these

    def _norm(self, i: int, y: Tensor) -> Tensor:
        """BatchNorm over channels of ``(batch, time, channels)`` (parallel style only)."""
        return self.norms[i](y.transpose(1, 2)).transpose(1, 2) if self.norms else y

    def _convs(self, x: Tensor) -> Tensor:
        for i, conv in enumerate(self.convs):
            x = F.relu(self._norm(i, conv(x)))
        return x

    def _convs_chunk(self, x: Tensor, buffers: Sequence[Tensor]) -> tuple[Tensor, tuple]:
        new_buffers = []
        for i, (conv, buffer) in enumerate(zip(self._conv_blocks(), buffers, strict=True)):
            y, buffer = conv.forward_stateful(x, buffer)
            x = F.relu(self._norm(i, y))
            new_buffers.append(buffer)
        return x, tuple(new_buffers)

    def _convs_step(self, x: Tensor, buffers: Sequence[Tensor]) -> tuple[Tensor, tuple]:
        new_buffers = []
        for i, (conv, buffer) in enumerate(zip(self._conv_blocks(), buffers, strict=True)):
            x, buffer = conv.step(x, buffer)
            if self.norms:
                # one step has no time axis to take batch statistics over: always use the
                # running statistics (what BatchNorm does in eval mode, a per-channel affine)
                bn = cast(nn.BatchNorm1d, self.norms[i])
                x = F.batch_norm(
                    x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps
                )
            x = F.relu(x)
            new_buffers.append(buffer)
        return x, tuple(new_buffers)

    def _finish(self, features: Tensor) -> Tensor:
        return self.head(self.dropout(features))

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, time, input_size)`` -> ``(batch, output_size)`` or ``(batch, time, out)``."""
        last = self.output == "last"
        if self.style == "serial":
            outputs, _ = self.core(self._convs(x))
            return self._finish(outputs[:, -1] if last else outputs)
        outputs, _ = self.core(x)
        conv = self._convs(x)
        if last:
            return self._finish(torch.cat([outputs[:, -1], conv.mean(dim=1)], dim=-1))
        counts = torch.arange(1, x.shape[1] + 1, device=x.device, dtype=conv.dtype)
        running = conv.cumsum(dim=1) / counts.view(1, -1, 1)
        return self._finish(torch.cat([outputs, running], dim=-1))

    def _require_causal(self) -> None:
        if not self.causal:
            raise NotSteppableError(
                f"{type(self).__name__} with causal=False has centred convolutions that read the "
                "future and cannot run step by step or in chunks; call it on whole sequences, "
                "or set causal=True"
            )

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        kw: dict[str, Any] = {"device": device, "dtype": dtype}
        buffers = tuple(conv.initial_state(batch_size, **kw) for conv in self._conv_blocks())
        rnn_state = self.core.initial_state(batch_size, **kw)
        if self.style == "serial":
            return (buffers, rnn_state)
        reference = self.head.weight
        kw = {"device": device or reference.device, "dtype": dtype or reference.dtype}
        total = torch.zeros(batch_size, self.pooled_size, **kw)
        return (buffers, rnn_state, total, torch.zeros(batch_size, 1, **kw))

    def forward_stateful(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """Run a chunk ``(batch, time, input_size)`` from ``state``; return output and state."""
        self._require_causal()
        if state is None:
            state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        last = self.output == "last"
        conv, buffers = self._convs_chunk(x, state[0])
        if self.style == "serial":
            outputs, rnn_state = self.core(conv, state[1])
            return self._finish(outputs[:, -1] if last else outputs), (buffers, rnn_state)
        outputs, rnn_state = self.core(x, state[1])
        total, count = state[2], state[3]
        sums = total.unsqueeze(1) + conv.cumsum(dim=1)  # (batch, time, channels)
        steps = torch.arange(1, x.shape[1] + 1, device=x.device, dtype=conv.dtype)
        running = sums / (count.unsqueeze(1) + steps.view(1, -1, 1))
        features = torch.cat([outputs, running], dim=-1)
        new_state = (buffers, rnn_state, sums[:, -1], count + x.shape[1])
        return self._finish(features[:, -1] if last else features), new_state

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """One step ``(batch, input_size) -> (batch, output_size)``, O(1) in the time so far."""
        self._require_causal()
        if state is None:
            state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        if autograd_off():  # the recurrent stack runs its fused cells in either case
            with inference_mode(True):
                return self._step(x, state)
        return self._step(x, state)

    def _step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        conv, buffers = self._convs_step(x, state[0])
        if self.style == "serial":
            output, rnn_state = self.core.cells(conv, self.core.prepare_step(conv, state[1]))
            return self._finish(output), (buffers, rnn_state)
        output, rnn_state = self.core.cells(x, self.core.prepare_step(x, state[1]))
        total, count = state[2] + conv, state[3] + 1
        features = torch.cat([output, total / count], dim=-1)
        return self._finish(features), (buffers, rnn_state, total, count)
