"""The training losses, by the name a task's row gives (:data:`seqzoo.core.tasks.TASKS`):
``loss(output, target) -> scalar``, a mean over the target's elements."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

from .errors import ConfigError
from .tasks import TASKS

__all__ = ["LOSSES", "loss_for"]


def _mse(output: Tensor, target: Tensor) -> Tensor:
    # a model may emit (N, horizon, k) or (N, 1) for targets (N, horizon * k) or (N,): same numbers
    return F.mse_loss(output.reshape(target.shape), target)


def _cross_entropy(output: Tensor, target: Tensor) -> Tensor:
    return F.cross_entropy(output, target)


def _token_cross_entropy(output: Tensor, target: Tensor) -> Tensor:
    # logits (N, T, vocab) against next ids (N, T); ids of -100 (padding) are ignored
    return F.cross_entropy(output.reshape(-1, output.shape[-1]), target.reshape(-1))


#: Every training loss, by name.
LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "mse": _mse,
    "cross_entropy": _cross_entropy,
    "token_cross_entropy": _token_cross_entropy,
}


def loss_for(task: str) -> Callable[[Tensor, Tensor], Tensor]:
    """The training loss of a task, ``loss(output, target) -> scalar`` (mean over elements):
    MSE for forecast/regression, cross entropy over classes, or over ``(N*T, vocab)`` tokens."""
    row = TASKS.get(task)
    if row is None:
        raise ConfigError(f"no loss for task {task!r}; tasks: {sorted(TASKS)}")
    return LOSSES[row.loss]
