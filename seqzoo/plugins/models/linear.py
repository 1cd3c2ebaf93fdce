"""A linear baseline: a linear map over the last ``window`` time steps (an AR / linear model).

Shapes:

- input ``x``: ``(batch, time, input_size)`` floats;
- ``output="sequence"``: ``(batch, time, output_size)``, step t sees inputs t - window + 1 .. t
  (zeros before the start);
- ``output="last"``: ``(batch, output_size)``, the output at the last step;
- step: ``(batch, input_size) -> (batch, output_size)``; state ``(batch, input_size, window - 1)``
  holds the last ``window - 1`` inputs.

Also home of the small config checks and the chunked causal convolution the other built-in
models share.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from seqzoo.core.errors import ConfigError
from seqzoo.core.modules import SequenceModel, State, check_sequence, check_step
from seqzoo.plugins.nn import CausalConv1d

__all__ = ["OUTPUTS", "LinearModel", "conv_chunk", "output_mode", "positive_int"]

#: "last": many-to-one, ``(batch, output_size)``; "sequence": many-to-many, one output per step.
OUTPUTS = ("last", "sequence")


def positive_int(value: Any, field: str) -> int:
    """Check a size is a positive int (not a bool, which Python counts as an int)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"must be a positive integer, got {value!r}", field=field)
    return value


def output_mode(value: Any) -> str:
    """Check ``output`` is one of :data:`OUTPUTS`."""
    if value not in OUTPUTS:
        raise ConfigError(
            f"must be 'last' (many-to-one) or 'sequence' (many-to-many), got {value!r}",
            field="output",
        )
    return value


def conv_chunk(conv: CausalConv1d, x: Tensor, buffer: Tensor | None) -> tuple[Tensor, Tensor]:
    """Run a causal conv over a chunk ``(batch, time, in)`` from its rolling ``buffer``.

    ``buffer`` is the conv's step state ``(batch, in, receptive)`` (``None``: zeros, the
    start of a sequence). Returns ``((batch, time, out), next buffer)``, so consecutive chunks
    give the same outputs as one whole-sequence call.
    """
    if buffer is None:
        buffer = conv.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
    window = torch.cat([buffer, x.transpose(1, 2)], dim=-1)  # (batch, in, receptive + time)
    y = conv.conv(window)  # a causal conv has no padding: the buffer stands in for it
    # slice from an explicit start: window[..., -0:] would keep everything when receptive is 0
    return y.transpose(1, 2), window[..., window.shape[-1] - conv.receptive :]


class LinearModel(SequenceModel):
    """``y_t = W [x_{t-window+1}; ...; x_t] + b``; ``window=1`` is per-step linear regression.

    Input ``(batch, time, input_size)``; output ``(batch, output_size)`` for ``output="last"``,
    ``(batch, time, output_size)`` for ``output="sequence"``.
    """

    def __init__(
        self, input_size: int, output_size: int = 1, window: int = 1, output: str = "last"
    ) -> None:
        super().__init__()
        self._remember_config(locals())
        self.input_size = positive_int(input_size, "input_size")
        self.output_size = positive_int(output_size, "output_size")
        positive_int(window, "window")
        self.output = output_mode(output)
        self.conv = CausalConv1d(input_size, output_size, kernel_size=window)

    def _finish(self, y: Tensor) -> Tensor:
        return y[:, -1] if self.output == "last" else y

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, time, input_size)`` -> ``(batch, output_size)`` or ``(batch, time, out)``."""
        check_sequence(x, self.input_size, type(self).__name__)
        return self._finish(self.conv(x))

    def forward_stateful(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """Run a chunk; the state is the last ``window - 1`` inputs ``(batch, in, window - 1)``."""
        check_sequence(x, self.input_size, type(self).__name__)
        y, state = conv_chunk(self.conv, x, state)
        return self._finish(y), state

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        return self.conv.initial_state(batch_size, device=device, dtype=dtype)

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """One step ``(batch, input_size) -> (batch, output_size)``."""
        check_step(x, self.input_size, type(self).__name__)
        return self.conv.step(x, state)
