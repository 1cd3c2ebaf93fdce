"""The batch loop of the built-in trainers: what one training step needs (:class:`Step`,
resolved once per ``fit``) and one epoch's pass over shuffled batches (:func:`train_batches`),
the loop that runs hot. :class:`~seqzoo.plugins.trainers.supervised.Supervised` runs it;
:class:`~seqzoo.plugins.trainers.tbptt.TBPTT` has a loop of its own over chunks."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from seqzoo.core.data import Split
from seqzoo.plugins.trainers.run import Progress

__all__ = ["Step", "train_batches"]


class Step(NamedTuple):
    """What a training step needs, resolved once per ``fit``."""

    loss: Callable[[Tensor, Tensor], Tensor]
    forward: Callable[[Tensor, Tensor | None], Tensor]
    params: list[nn.Parameter]  # what clipping acts on
    schedule: Callable[[], Any] | None  # a per-batch schedule's step
    generator: torch.Generator  # shuffles the batches
    cast: Callable[[], AbstractContextManager[Any]]  # autocast (or nothing) of forward + loss
    scaler: torch.amp.GradScaler | None  # precision="16-mixed"


def train_batches(
    split: Split,
    optimizer: torch.optim.Optimizer,
    step: Step,
    bar: Any,
    progress: Progress,
    *,
    batch_size: int,
    clip: float | None,
) -> list[Tensor]:
    """One pass over ``split`` in shuffled batches of ``batch_size`` (the rest of it after a
    resume: ``progress.batch`` are done); the detached per-batch losses (no host sync here:
    the caller syncs once per epoch). ``clip``: the max gradient norm (None: off).
    ``progress`` is kept current, so an interrupt can save the exact position."""
    losses = progress.losses
    loss_fn, forward, params, step_batch, generator, cast, scaler = step  # the loop runs hot
    closure = isinstance(optimizer, torch.optim.LBFGS)  # re-evaluates the loss itself
    batches = split.batches(batch_size, shuffle=True, generator=generator)
    if progress.batch:  # the order is drawn again in full; the batches done are skipped
        batches = itertools.islice(batches, progress.batch, None)
    get_rng_state = torch.get_rng_state
    for inputs, targets, lengths in batches:
        progress.rng = get_rng_state()  # what an interrupt inside this batch goes back to
        loss: Tensor
        if closure:

            def evaluate(x: Tensor = inputs, y: Tensor = targets, n: Any = lengths) -> Tensor:
                optimizer.zero_grad(set_to_none=True)
                with cast():
                    value = loss_fn(forward(x, n), y)
                value.backward()
                if clip is not None:
                    nn.utils.clip_grad_norm_(params, clip)
                return value

            progress.stepping = True
            # LBFGS.step(closure) returns the closure's loss tensor; torch's stubs type a
            # closure as () -> float
            loss = optimizer.step(evaluate)  # type: ignore[arg-type,assignment]  # see above
        elif scaler is not None:
            optimizer.zero_grad(set_to_none=True)
            with cast():
                loss = loss_fn(forward(inputs, lengths), targets)
            scaler.scale(loss).backward()
            if clip is not None:
                scaler.unscale_(optimizer)  # clip the true gradients
                nn.utils.clip_grad_norm_(params, clip)
            progress.stepping = True
            scaler.step(optimizer)  # skipped when the scaled gradients overflowed
            scaler.update()
        else:
            optimizer.zero_grad(set_to_none=True)
            with cast():
                loss = loss_fn(forward(inputs, lengths), targets)
            loss.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(params, clip)
            progress.stepping = True
            optimizer.step()
        if step_batch is not None:
            step_batch()
        losses.append(loss.detach())
        progress.batch += 1
        progress.rng = None
        progress.stepping = False  # a whole position again
        if bar is not None:
            bar.update()
        if progress.stop:  # a Ctrl-C came during the batch: stop at its end
            raise KeyboardInterrupt
    return losses
