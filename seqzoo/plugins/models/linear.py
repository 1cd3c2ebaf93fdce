"""A linear baseline: a linear map over the last ``window`` time steps (an AR / linear model).

Shapes:

- input ``x``: ``(batch, time, input_size)`` floats;
- ``output="sequence"``: ``(batch, time, output_size)``, step t sees inputs t - window + 1 .. t
  (zeros before the start);
- ``output="last"``: ``(batch, output_size)``, the output at the last step;
- step: ``(batch, input_size) -> (batch, output_size)``; state ``(batch, input_size, window - 1)``
  holds the last ``window - 1`` inputs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from seqzoo.core.modules import SequenceModel, State
from seqzoo.core.validate import output_mode, positive_int
from seqzoo.plugins.nn import CausalConv1d

__all__ = ["LinearModel"]


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
        return self._finish(self.conv(x))

    def forward_stateful(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """Run a chunk; the state is the last ``window - 1`` inputs ``(batch, in, window - 1)``."""
        y, state = self.conv.forward_stateful(x, state)
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
        return self.conv.step(x, state)
