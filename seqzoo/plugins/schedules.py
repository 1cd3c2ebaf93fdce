"""Learning-rate schedule factories: ``factory(optimizer, **options) -> scheduler``.

Each sets ``scheduler.interval`` to when a trainer must call ``scheduler.step()``:

- ``"epoch"`` (once per epoch, after validation): ``step``, ``cosine``, ``plateau`` (which
  steps with the monitored value, ``scheduler.step(val_loss)``);
- ``"batch"`` (after every optimizer step): ``onecycle``, ``warmup``.

Counts (``step_size``, ``t_max``, ``total_steps``, ``warmup_steps``) are in units of the
schedule's interval: epochs for epoch schedules, optimizer steps for batch schedules.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from torch.optim import Optimizer, lr_scheduler

from seqzoo.core.errors import ConfigError
from seqzoo.core.validate import positive_int

__all__ = ["cosine", "onecycle", "plateau", "step", "warmup"]


def _tag(scheduler: Any, interval: str) -> Any:
    scheduler.interval = interval  # read by seqzoo.core.training.schedule_interval
    return scheduler


def step(optimizer: Optimizer, step_size: int = 10, gamma: float = 0.1) -> lr_scheduler.StepLR:
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs (per epoch)."""
    return _tag(
        lr_scheduler.StepLR(optimizer, positive_int(step_size, "step_size"), gamma), "epoch"
    )


def cosine(
    optimizer: Optimizer, t_max: int = 50, eta_min: float = 0.0
) -> lr_scheduler.CosineAnnealingLR:
    """Cosine decay from the optimizer's lr to ``eta_min`` over ``t_max`` epochs (per epoch)."""
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, positive_int(t_max, "t_max"), eta_min)
    return _tag(scheduler, "epoch")


def plateau(
    optimizer: Optimizer,
    factor: float = 0.1,
    patience: int = 5,
    mode: str = "min",
    threshold: float = 1e-4,
    min_lr: float = 0.0,
) -> lr_scheduler.ReduceLROnPlateau:
    """Multiply the lr by ``factor`` after ``patience`` epochs without improvement of the
    monitored value (per epoch; the trainer passes the value to ``step``)."""
    if mode not in ("min", "max"):
        raise ConfigError(f"must be 'min' or 'max', got {mode!r}", field="mode")
    scheduler = lr_scheduler.ReduceLROnPlateau(
        optimizer,
        mode=cast(Literal["min", "max"], mode),  # checked above
        factor=factor,
        patience=patience,
        threshold=threshold,
        min_lr=min_lr,
    )
    return _tag(scheduler, "epoch")


def onecycle(
    optimizer: Optimizer,
    total_steps: int = 1000,
    max_lr: float | None = None,
    pct_start: float = 0.3,
    anneal: str = "cos",
) -> lr_scheduler.OneCycleLR:
    """The 1cycle policy over ``total_steps`` optimizer steps (per batch; give epochs *
    batches per epoch). ``max_lr`` None: the optimizer's lr is the peak."""
    if max_lr is None:
        max_lr = optimizer.param_groups[0]["lr"]
    scheduler = lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=max_lr,
        total_steps=positive_int(total_steps, "total_steps"),
        pct_start=pct_start,
        anneal_strategy=cast(Literal["cos", "linear"], anneal),  # torch checks it
    )
    return _tag(scheduler, "batch")


def warmup(
    optimizer: Optimizer,
    warmup_steps: int = 100,
    start_factor: float = 0.01,
    then: str = "constant",
    total_steps: int | None = None,
) -> lr_scheduler.LRScheduler:
    """Linear warmup from ``start_factor * lr`` to ``lr`` over ``warmup_steps`` optimizer steps
    (per batch), then hand over: ``"constant"`` keeps ``lr``; ``"cosine"`` decays it to 0 by
    ``total_steps`` (which must exceed ``warmup_steps``)."""
    steps = positive_int(warmup_steps, "warmup_steps")
    if not 0 < start_factor <= 1:
        raise ConfigError(f"must be in (0, 1], got {start_factor!r}", field="start_factor")
    ramp = lr_scheduler.LinearLR(optimizer, start_factor, 1.0, total_iters=steps)
    if then == "constant":
        return _tag(ramp, "batch")
    if then != "cosine":
        raise ConfigError(f"must be 'constant' or 'cosine', got {then!r}", field="then")
    if total_steps is None or positive_int(total_steps, "total_steps") <= steps:
        raise ConfigError(
            f"then='cosine' needs total_steps above warmup_steps ({steps}), got {total_steps!r}",
            field="total_steps",
        )
    decay = lr_scheduler.CosineAnnealingLR(optimizer, total_steps - steps)
    return _tag(lr_scheduler.SequentialLR(optimizer, [ramp, decay], milestones=[steps]), "batch")
