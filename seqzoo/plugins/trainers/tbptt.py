"""The ``tbptt`` trainer: truncated backpropagation through time over chunks of long sequences
(:class:`TBPTT`, a :class:`~seqzoo.plugins.trainers.supervised.Supervised` with a batch loop of its
own), and the per-step forecast targets it trains on (:func:`per_step_forecast`)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from seqzoo.core.data import SequenceData, Split
from seqzoo.core.errors import ConfigError
from seqzoo.core.metrics import raw_inputs, target_layout
from seqzoo.core.modules import detach_state, map_state
from seqzoo.plugins.trainers.checks import _integer
from seqzoo.plugins.trainers.run import Progress
from seqzoo.plugins.trainers.steps import Step
from seqzoo.plugins.trainers.supervised import Supervised, _Checked

__all__ = ["TBPTT", "per_step_forecast"]


def per_step_forecast(data: SequenceData, split: Split) -> Split:
    """A horizon-1 forecast split as per-step targets for sequence training: step ``t`` of a
    window predicts the target columns at ``t + 1`` (the next input row, converted from input
    to target scaling; the last step's target is the split's own). Targets ``(N, window, k)``."""
    n = len(split)
    if n == 0:
        return split  # nothing to validate on
    width = split.targets.reshape(n, -1).shape[1]
    count, columns = target_layout(data, width)
    if width != count:
        raise ConfigError(
            f"tbptt trains forecasts of horizon 1, but the targets hold {width // count} steps "
            f"of {count} column(s); rebuild the dataset with horizon=1",
            field="horizon",
        )
    if columns is None or split.inputs.dim() != 3:
        raise ConfigError(
            "tbptt needs the forecast targets among the input columns (a "
            "univariate series, or target_names within feature_names)"
        )
    shifted = torch.from_numpy(raw_inputs(data, split.inputs[:, 1:], columns))  # raw units
    scaler = data.preprocessing.target_scaler
    if scaler is not None:  # -> the targets' scaling
        shifted = (shifted - torch.from_numpy(scaler.mean_)) / torch.from_numpy(scaler.scale_)
    last = split.targets.reshape(n, 1, count)
    return Split(split.inputs, torch.cat([shifted.to(last.dtype), last], dim=1), split.lengths)


class TBPTT(Supervised):
    """Truncated BPTT: each batch's time axis is cut into ``chunk``-step pieces; the model runs
    ``forward_stateful(piece, state)``, the loss of that piece is back-propagated and the
    optimizer steps, and the state carries on detached (``chunk=1``: one element at a time).

    Data: a language-model split (ids ``(N, T)``, next ids ``(N, T)``), or a forecast of
    horizon 1 whose targets are among the inputs (per-step targets built by
    :func:`per_step_forecast`). The model must be causal with ``output="sequence"`` (one output
    per step). Other options: as :class:`Supervised`.

    ``carry`` says how far the state goes. ``"batch"`` (the default): every batch of shuffled
    windows starts from the initial state. ``"epoch"`` (language models whose windows are
    consecutive pieces of one token stream, as the ``text`` dataset cuts them): the training
    stream is laid out as ``batch_size`` contiguous lanes, read ``chunk`` tokens at a time in
    order, and the state carries from chunk to chunk through the whole epoch, so the model
    learns from, and for, contexts as long as the text (what a stateful evaluation gives it).
    A batch is then one chunk of every lane, and an interrupt saves the carried state with the
    position, so a resume continues exactly.
    """

    name = "tbptt"
    CARRY = ("batch", "epoch")

    def __init__(self, chunk: int = 32, carry: str = "batch", **options: Any) -> None:
        super().__init__(**options)
        self.chunk = _integer(chunk, "chunk", 1)
        if carry not in self.CARRY:
            raise ConfigError(
                f"carry must be one of {', '.join(map(repr, self.CARRY))}, not {carry!r}",
                field="carry",
            )
        self.carry = carry

    def _check(self, model: nn.Module, data: SequenceData, optimizer: Any) -> _Checked:
        if isinstance(optimizer, torch.optim.LBFGS):
            raise ConfigError(
                "lbfgs re-evaluates whole batches and cannot step chunk by chunk; use tbptt "
                "with a first-order optimizer (adam, sgd, ...) or lbfgs with supervised",
                field="optimizer",
            )
        return super()._check(model, data, optimizer)

    def _forward(self, model: nn.Module) -> Callable[..., Any]:
        # (piece, state) -> (output, state)
        return model.forward_stateful  # type: ignore[return-value]  # nn.Module.__getattr__ is typed Tensor | Module

    def _prepare(self, model: nn.Module, data: SequenceData) -> tuple[Split, Split]:
        if getattr(model, "output", "sequence") != "sequence":
            raise ConfigError(
                "tbptt trains one output per step: build the model with output='sequence'",
                field="output",
            )
        if data.task == "language-model":
            if self.carry == "epoch":
                return stream_lanes(data.train, self.batch_size), data.validation
            return data.train, data.validation
        if self.carry == "epoch":
            raise ConfigError(
                "carry='epoch' reads one token stream in order, so it trains language models "
                f"only, not {data.task!r} data; use carry='batch'",
                field="carry",
            )
        if data.task == "forecast":
            return per_step_forecast(data, data.train), per_step_forecast(data, data.validation)
        message = f"tbptt trains forecast or language-model data, not {data.task!r}"
        raise ConfigError(message + "; use the supervised trainer")

    def _batches_per_epoch(self, train: Split) -> int:
        if self.carry == "epoch":  # a batch is one chunk of every lane
            return math.ceil(train.inputs.shape[1] / self.chunk)
        return super()._batches_per_epoch(train)

    def _train_epoch(
        self,
        model: nn.Module,
        split: Split,
        optimizer: torch.optim.Optimizer,
        step: Step,
        bar: Any,
        progress: Progress,
    ) -> list[Tensor]:
        losses = progress.losses
        loss_fn, forward, params, step_batch, generator, cast, scaler = step
        clip, chunk = self.clip, self.chunk
        # a state must match the inputs (or, for token ids, the weights) in dtype
        floats = split.inputs.is_floating_point()
        first = next(iter(params), None)
        dtype = split.inputs.dtype if floats else (first.dtype if first is not None else None)
        cast_state = None
        if self.precision != "32" and dtype is not None:

            def cast_state(t: Tensor) -> Tensor:
                return t.to(dtype) if t.is_floating_point() else t

        carry = self.carry == "epoch"
        if carry:  # the lanes in order, one chunk of each per batch
            batches: Any = _lane_chunks(split, chunk)
        else:
            batches = split.batches(self.batch_size, shuffle=True, generator=generator)
        if progress.batch:
            batches = itertools.islice(batches, progress.batch, None)
        get_rng_state = torch.get_rng_state
        state = progress.carried if carry else None  # a resume goes on from the saved state
        for inputs, targets, _ in batches:
            progress.rng = get_rng_state()
            if not carry:
                state = None  # every batch starts its sequences from the initial state
            for start in range(0, inputs.shape[1], chunk):
                optimizer.zero_grad(set_to_none=True)
                with cast():
                    output, state = forward(inputs[:, start : start + chunk], state)
                    loss = loss_fn(output, targets[:, start : start + chunk])
                if scaler is None:
                    loss.backward()
                else:
                    scaler.scale(loss).backward()
                    if clip is not None:
                        scaler.unscale_(optimizer)
                if clip is not None:
                    nn.utils.clip_grad_norm_(params, clip)
                # from the first step on, the batch is whole only at its end
                progress.stepping = True
                if scaler is None:
                    optimizer.step()
                else:
                    scaler.step(optimizer)
                    scaler.update()
                if step_batch is not None:
                    step_batch()
                state = detach_state(state)  # truncate: no gradient flows into earlier chunks
                if cast_state is not None:  # autocast made it half precision: the model's again
                    state = map_state(state, cast_state)
                losses.append(loss.detach())
            if carry:
                progress.carried = state  # detached: what a save mid-epoch keeps
            progress.batch += 1
            progress.rng = None
            progress.stepping = False
            if bar is not None:
                bar.update()
            if progress.stop:
                raise KeyboardInterrupt
        return losses


def stream_lanes(split: Split, lanes: int) -> Split:
    """A language-model split whose windows are consecutive pieces of one stream, re-cut into
    ``lanes`` contiguous rows (the stream's tail that does not fill a row is dropped: fewer
    than ``lanes`` tokens). Inputs and targets ``(lanes, len(stream) // lanes)``."""
    n = len(split)
    if n and split.inputs.dim() == 2 and split.lengths is None:
        joined = n == 1 or bool((split.targets[:-1, -1] == split.inputs[1:, 0]).all())
    else:
        joined = False
    if not joined:
        raise ConfigError(
            "carry='epoch' needs the training windows to be consecutive pieces of one token "
            "stream (each window's last target is the next window's first input, as the text "
            "dataset cuts them); use carry='batch'",
            field="carry",
        )
    inputs, targets = split.inputs.reshape(-1), split.targets.reshape(-1)
    width = len(inputs) // lanes
    if width == 0:
        raise ConfigError(
            f"the training text holds {len(inputs)} tokens, fewer than batch_size={lanes} "
            "lanes; use a smaller batch_size",
            field="batch_size",
        )
    keep = width * lanes
    return Split(inputs[:keep].reshape(lanes, width), targets[:keep].reshape(lanes, width), None)


def _lane_chunks(split: Split, chunk: int) -> Any:
    """``(inputs, targets, None)``: the lanes' columns ``chunk`` at a time, in order."""
    pieces = zip(split.inputs.split(chunk, dim=1), split.targets.split(chunk, dim=1), strict=True)
    return ((inputs, targets, None) for inputs, targets in pieces)
