"""What a training step calls: the model's forward (with ``lengths`` only for models that take
them), and when a learning-rate schedule steps (per batch or per epoch)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

__all__ = ["forward_fn", "model_forward", "schedule_interval"]


def _accepts_lengths(model: nn.Module) -> bool:
    try:
        return "lengths" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def forward_fn(model: nn.Module) -> Callable[[Tensor, Tensor | None], Tensor]:
    """``f(inputs, lengths) -> outputs``, resolved once so hot loops skip the signature check:
    ``lengths`` reaches only models whose ``forward`` takes it (e.g. EmbeddingLSTM)."""
    if _accepts_lengths(model):
        return lambda x, lengths: model(x) if lengths is None else model(x, lengths=lengths)
    return lambda x, lengths: model(x)


def model_forward(model: nn.Module, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
    """``model(inputs)``, or ``model(inputs, lengths=lengths)`` when its forward accepts it."""
    return forward_fn(model)(inputs, lengths)


def schedule_interval(schedule: Any) -> str:
    """``"batch"`` or ``"epoch"``: when a schedule steps. Read from its ``interval`` attribute
    (seqzoo's schedule factories set it); OneCycleLR / CyclicLR default to batch, others epoch."""
    interval = getattr(schedule, "interval", None)
    if interval in ("batch", "epoch"):
        return interval
    name = type(schedule).__name__
    return "batch" if name in ("OneCycleLR", "CyclicLR") else "epoch"
