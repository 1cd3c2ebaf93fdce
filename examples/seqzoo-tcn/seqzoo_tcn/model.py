"""The TCN model and its block. Batch-first: ``(batch, time, features)``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqzoo.core.errors import ConfigError
from seqzoo.core.modules import Layer, SequenceModel, check_sequence, check_step


class TCNBlock(Layer):
    """``relu(causal_conv(x)) + skip(x)``: ``(batch, time, input_size) -> (batch, time, channels)``.

    Steps with a rolling buffer of the last ``(kernel_size - 1) * dilation`` inputs.
    """

    def __init__(self, input_size: int, channels: int, kernel_size: int = 3, dilation: int = 1):
        super().__init__()
        if channels < 1 or kernel_size < 1 or dilation < 1:
            raise ConfigError("channels, kernel_size and dilation must be positive")
        self.input_size, self.output_size = input_size, channels
        self.dilation, self.context = dilation, (kernel_size - 1) * dilation
        self.conv = nn.Conv1d(input_size, channels, kernel_size, dilation=dilation)
        self.skip = nn.Linear(input_size, channels) if input_size != channels else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        check_sequence(x, self.input_size, "tcn-block")
        padded = F.pad(x.transpose(1, 2), (self.context, 0))  # zeros before the start
        return torch.relu(self.conv(padded).transpose(1, 2)) + self.skip(x)

    def initial_state(self, batch_size, *, device=None, dtype=None):
        w = self.conv.weight
        return torch.zeros(
            batch_size,
            self.input_size,
            self.context,
            device=device or w.device,
            dtype=dtype or w.dtype,
        )

    def step(self, x: Tensor, state=None):
        if state is None:
            state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        window = torch.cat([state, x.unsqueeze(-1)], dim=-1)
        taps = window[..., :: self.dilation]
        y = torch.einsum("bik,oik->bo", taps, self.conv.weight) + self.conv.bias
        return torch.relu(y) + self.skip(x), window[..., 1:]


class TCN(SequenceModel):
    """``levels`` TCN blocks with dilations 1, 2, 4, ... and a linear head.

    Output ``(batch, output_size)`` for ``output="last"``, ``(batch, time, output_size)`` for
    ``output="sequence"``.
    """

    def __init__(
        self,
        input_size: int,
        output_size: int = 1,
        channels: int = 32,
        levels: int = 3,
        kernel_size: int = 3,
        output: str = "last",
    ):
        super().__init__()
        self._remember_config(locals())
        if output not in ("last", "sequence"):
            raise ConfigError(f"must be 'last' or 'sequence', got {output!r}", field="output")
        self.input_size, self.output = input_size, output
        sizes = [input_size] + [channels] * levels
        self.blocks = nn.ModuleList(
            TCNBlock(sizes[i], channels, kernel_size, 2**i) for i in range(levels)
        )
        self.head = nn.Linear(channels, output_size)

    def forward(self, x: Tensor) -> Tensor:
        check_sequence(x, self.input_size, "tcn")
        for block in self.blocks:
            x = block(x)
        y = self.head(x)
        return y[:, -1] if self.output == "last" else y

    def initial_state(self, batch_size, *, device=None, dtype=None):
        """One rolling input buffer per block (a list, so ``step`` returns the same form)."""
        return [
            block.initial_state(batch_size, device=device, dtype=dtype) for block in self.blocks
        ]

    # forward_stateful (chunk by chunk, for truncated BPTT and streaming) is the base class's
    # default: step over the chunk's time steps

    def step(self, x: Tensor, state=None):
        check_step(x, self.input_size, "tcn")
        states = state or [None] * len(self.blocks)
        new_states = []
        for block, block_state in zip(self.blocks, states, strict=True):
            x, block_state = block.step(x, block_state)
            new_states.append(block_state)
        return self.head(x), new_states
