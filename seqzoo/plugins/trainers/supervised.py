"""The built-in trainers: :class:`Supervised` (mini-batches) and :class:`TBPTT` (truncated
backpropagation through time over chunks of long sequences,
:mod:`seqzoo.plugins.trainers.tbptt`), and where their parts live: the options and the data
check in :mod:`seqzoo.plugins.trainers.checks`, the batch loop in
:mod:`seqzoo.plugins.trainers.steps`, one fit's state and saves in
:mod:`seqzoo.plugins.trainers.run`, devices in :mod:`seqzoo.plugins.trainers.devices`. This
module holds :class:`Supervised`'s ``check`` / ``fit`` and the epoch loop.

``trainer.fit(model, data, optimizer, schedule=None, resume=None) -> History``: ``optimizer``
is a torch optimizer over ``model.parameters()`` (it owns the learning rate), ``schedule`` a
scheduler over it (stepped per batch or per epoch: ``schedule_interval``). Each epoch trains,
validates and keeps the best weights by ``monitor``. With a ``run_dir``, the ``last`` checkpoint
(with ``best`` and ``history.json`` / ``metrics.csv`` beside it) is saved after an epoch once
``save_every`` seconds have passed since the previous save (or after every epoch:
``save_every="epoch"``), and always after the final epoch; ``loss.png`` is drawn once, at the
end. ``epochs`` is the total: a resumed run continues from whatever ``last`` holds up to it bit
for bit as if it had never stopped (model, optimizer, schedule, counters and random states all
restored).

The data is checked once per ``fit`` (shapes agree, float inputs and targets finite), never per
batch. With the environment variable ``SEQZOO_PROFILE=FILE``, ``fit`` also writes where its time
went (epochs, checkpoints, history files, plot, checks; fsyncs) to ``FILE`` as JSON.

Devices, precision, compilation, threads: ``device`` (``"auto"``: the model's own accelerator,
else CUDA, then MPS, then the CPU) is where the model, its optimizer state and the batches
live; checkpoints hold CPU-loadable safetensors, so a CUDA run resumes on the CPU
(``device="cpu"``, or ``"auto"`` on a machine without a GPU). ``precision`` ``"bf16"`` or
``"16-mixed"`` runs each training forward and loss under :func:`torch.autocast` (validation
stays float32); ``"16-mixed"`` also scales the loss with a :class:`torch.amp.GradScaler`, whose
state the checkpoints keep, and needs CUDA (the CPU lacks fp16 recurrent kernels: use bf16
there). ``compile=True`` runs the training forward through :func:`torch.compile`; a model that
cannot compile gives a :class:`CompileFallbackWarning` and trains uncompiled. ``threads``
(default 1) sets torch's intra-op threads when ``fit`` starts (None: leave them).

A NaN/inf loss raises ``NonFiniteLossError`` after the last finite weights are put back;
Ctrl-C stops at the end of the batch in progress, saves that exact position (epoch, batch, the
epoch's losses so far, every random state) as ``last`` and raises ``TrainingInterrupted``: a
resume from it ends bit for bit as a run that never stopped. ``fit`` holds the run directory's
lock (:func:`seqzoo.core.rundir.lock_run`) throughout; ``check`` refuses what ``fit`` would,
before anything is written.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

from seqzoo.core.data import SequenceData, Split
from seqzoo.core.device import autocast, set_threads
from seqzoo.core.errors import ConfigError
from seqzoo.core.metrics import language_model_metrics, predict_split
from seqzoo.core.rundir import lock_run
from seqzoo.core.tasks import HIGHER_IS_BETTER, TASKS
from seqzoo.core.training import (
    EpochRow,
    History,
    checkpoint_path,
    forward_fn,
    load_checkpoint,
    loss_for,
    plot_loss,
    progress_bar,
    schedule_interval,
)
from seqzoo.plugins.trainers.checks import TrainerOptions, check_splits
from seqzoo.plugins.trainers.devices import CompileFallbackWarning, compiled, place
from seqzoo.plugins.trainers.run import DeferredInterrupt, Progress, Run, resume_dirs
from seqzoo.plugins.trainers.steps import Step, train_batches

if TYPE_CHECKING:
    from seqzoo.plugins.trainers.tbptt import TBPTT, per_step_forecast

__all__ = ["TBPTT", "VAL_METRICS", "CompileFallbackWarning", "Supervised", "per_step_forecast"]

#: The validation metrics each task logs per epoch (``monitor`` may name any of them).
VAL_METRICS = {name: task.validation_metrics for name, task in TASKS.items()}

_Step = Step  # the name the ddp trainer imports from here


class _Checked(NamedTuple):
    """What :meth:`Supervised.check` prepared for ``fit``."""

    train: Split
    validation: Split
    monitor: str
    scoring: _Scoring
    seconds: float  # spent checking the splits


class Supervised(TrainerOptions):
    """Mini-batch supervised training (see the module doc for what ``fit`` does); its options
    are those of :class:`~seqzoo.plugins.trainers.checks.TrainerOptions`."""

    name = "supervised"

    def _prepare(self, model: nn.Module, data: SequenceData) -> tuple[Split, Split]:
        """The training and validation splits this trainer feeds the model."""
        return data.train, data.validation

    def _batches_per_epoch(self, train: Split) -> int:
        """How many batches one epoch over ``train`` has (the progress bar's length)."""
        return math.ceil(len(train) / self.batch_size)

    def _train_epoch(
        self,
        model: nn.Module,
        split: Split,
        optimizer: torch.optim.Optimizer,
        step: Step,
        bar: Any,
        progress: Progress,
    ) -> list[Tensor]:
        """One pass over shuffled batches (:func:`~seqzoo.plugins.trainers.steps.train_batches`);
        the detached per-batch losses. Trainers that batch otherwise override this."""
        return train_batches(
            split, optimizer, step, bar, progress, batch_size=self.batch_size, clip=self.clip
        )

    def check(
        self,
        model: nn.Module,
        data: SequenceData,
        optimizer: torch.optim.Optimizer,
        schedule: Any = None,
        resume: str | Path | None = None,
    ) -> None:
        """Everything ``fit`` would refuse, checked without training or writing a file: the
        data's fit to this trainer and task, ``monitor``, the splits' values, and with
        ``resume`` that the checkpoint is there and loads (into ``model``, ``optimizer`` and
        ``schedule``, which ``fit`` loads again). ``seqzoo.train`` calls it before it writes
        ``run.json``; ``fit`` reuses what it prepared."""
        self._checked = None
        self._checked = (model, data, self._check(model, data, optimizer))
        if resume is not None:
            source, _ = resume_dirs(resume)
            if (source / "run.json").is_file() and checkpoint_path(source, "last") is None:
                raise ConfigError(
                    f"{str(resume)!r} has no checkpoint to resume from: its training stopped "
                    "before the first save; start it again with --overwrite (overwrite=True "
                    "in Python)"
                )
            load_checkpoint(source, model, optimizer, schedule)

    def _check(self, model: nn.Module, data: SequenceData, optimizer: Any) -> _Checked:
        """The splits on the model's device and dtype, checked; the monitor in effect."""
        cached = getattr(self, "_checked", None)
        self._checked = None
        if cached is not None and cached[0] is model and cached[1] is data:
            return cached[2]  # check() prepared this very fit
        place(model, optimizer, self.device, self.precision)
        reference = next(iter(model.parameters()), None)
        device = reference.device if reference is not None else torch.device("cpu")
        dtype = reference.dtype if reference is not None else None
        train, validation = (s.to(device, dtype) for s in self._prepare(model, data))
        if len(train) == 0:
            raise ConfigError(f"dataset {data.name!r} has no training samples")
        monitor, columns = self.monitor, ("train_loss", "val_loss", *VAL_METRICS[data.task])
        if monitor not in columns:
            raise ConfigError(f"{monitor!r} is not one of {columns}", field="monitor")
        if len(validation) == 0 and monitor.startswith("val_"):
            monitor = "train_loss"  # nothing to validate on: judge by the training loss
        began = time.perf_counter()
        check_splits(data.name, {"training": train, "validation": validation})
        scoring = _Scoring(data, validation)
        return _Checked(train, validation, monitor, scoring, time.perf_counter() - began)

    def _forward(self, model: nn.Module) -> Callable[..., Any]:
        """What a training step calls: ``f(inputs, lengths) -> outputs``."""
        return forward_fn(model)

    def fit(
        self,
        model: nn.Module,
        data: SequenceData,
        optimizer: torch.optim.Optimizer,
        schedule: Any = None,
        resume: str | Path | None = None,
    ) -> History:
        """Train ``model`` on ``data``; return the :class:`History` (also written to
        ``run_dir``). ``resume``: a run directory (its ``last`` checkpoint) or a checkpoint
        directory to continue from."""
        entered = time.perf_counter()
        set_threads(self.threads)
        train, validation, monitor, scoring, checks = self._check(model, data, optimizer)
        run_dir = self.run_dir
        if run_dir is None and resume is not None:
            run_dir = resume_dirs(resume)[1]
        # one training per run directory at a time, held from reading the checkpoint on
        with lock_run(run_dir) if run_dir is not None else nullcontext():
            run = Run(self, model, optimizer, schedule)
            if self.precision == "16-mixed":  # before resume: its state is in the checkpoint
                run.scaler = torch.amp.GradScaler(train.inputs.device.type)
            run.timings["checks"] += checks  # once per fit: the batch loop trusts the splits
            run.history.result.monitor = monitor
            if resume is not None:
                run.resume(resume)
            with DeferredInterrupt(run.progress):
                history = self._fit(run, model, data, train, validation, scoring, monitor)
        # the loss scale reached (precision="16-mixed"), for a look after fit
        self._scaler_state = None if run.scaler is None else run.scaler.state_dict()
        run.profile(time.perf_counter() - entered)
        return history

    def _fit(
        self,
        run: Run,
        model: nn.Module,
        data: SequenceData,
        train: Split,
        validation: Split,
        scoring: _Scoring,
        monitor: str,
    ) -> History:
        optimizer, schedule = run.optimizer, run.schedule
        interval = schedule_interval(schedule) if schedule is not None else None
        forward = self._forward(model)
        if self.compile:
            forward = compiled(forward, type(model).__name__)
        device = train.inputs.device
        step = Step(
            loss_for(data.task),
            forward,
            [p for p in model.parameters() if p.requires_grad],
            schedule.step if interval == "batch" else None,
            run.generator,
            lambda: autocast(device, self.precision),
            run.scaler,
        )
        maximize = monitor in HIGHER_IS_BETTER
        if isinstance(schedule, ReduceLROnPlateau):
            schedule.mode = "max" if maximize else "min"  # it watches the monitored value
            schedule._init_is_better(schedule.mode, schedule.threshold, schedule.threshold_mode)
            if run.start == 0 and run.progress.generator is None:
                schedule.best = schedule.mode_worse  # a resumed one keeps its saved best
        result, progress = run.history.result, run.progress
        began, seconds_before = time.perf_counter(), result.seconds
        n_batches = self._batches_per_epoch(train)
        tick = time.perf_counter()
        try:
            for epoch in range(run.start + 1, self.epochs + 1):
                done = run.begin_epoch(epoch)
                tick = time.perf_counter() - progress.seconds  # time before a resume counts
                model.train()
                bar = progress_bar(n_batches, f"epoch {epoch}/{self.epochs}", self.quiet, done)
                try:
                    losses = self._train_epoch(model, train, optimizer, step, bar, progress)
                finally:
                    if bar is not None:
                        bar.close()
                stacked = torch.stack(losses)
                train_loss = float(stacked.mean())  # the epoch's one host sync
                if not math.isfinite(train_loss):
                    first = int(torch.nonzero(~torch.isfinite(stacked))[0, 0])
                    run.diverged(epoch, first + 1, float(stacked[first]))
                val_loss, metrics = self._validate(model, validation, data, scoring)
                if val_loss is not None and not math.isfinite(val_loss):
                    run.diverged(epoch, None, val_loss)
                lr = optimizer.param_groups[0]["lr"]
                row = EpochRow(epoch, train_loss, val_loss, lr, 0.0, metrics)
                value = row.get(monitor)
                assert value is not None, monitor  # _check chose a monitor every row holds
                progress.stepping = True  # until the epoch is booked: no whole position
                if isinstance(schedule, ReduceLROnPlateau):
                    schedule.step(value)  # it reacts to the monitored value
                elif interval == "epoch":
                    schedule.step()
                row.seconds = time.perf_counter() - tick
                run.timings["epochs"] += row.seconds
                improved = run.record(row, value, maximize)
                result.seconds = seconds_before + time.perf_counter() - began
                stop = self.patience is not None and run.counters["bad_epochs"] >= self.patience
                if stop:
                    result.stopped_early = True
                    result.stop_reason = (
                        f"early stopping: {monitor} did not improve for {self.patience} epoch(s)"
                    )
                # the final epoch is saved below, once the summary is complete
                run.save(epoch, improved, due=not stop and epoch < self.epochs)
                self._log(row)
                if stop:
                    break
                if progress.stop:  # a Ctrl-C during validation or saving: stop here
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise run.interrupted(time.perf_counter() - tick) from None
        if not result.stopped_early:
            result.stop_reason = f"completed {result.epochs} epoch(s)"
        run.finish()
        if self.restore_best and run.best is not None:
            model.load_state_dict(run.best)
        if run.run_dir is not None and self.plot:
            with run.timed("plot"):
                plot_loss(run.history, run.run_dir / "loss.png")
        return run.history

    def _validate(
        self,
        model: nn.Module,
        split: Split,
        data: SequenceData,
        scoring: _Scoring | None = None,
    ) -> tuple[float | None, dict[str, float]]:
        """Validation loss (model units) and metrics (``val_mae`` in raw units, ...);
        ``scoring`` holds what stays the same every epoch (built once per ``fit``)."""
        if len(split) == 0:
            return None, {}
        scoring = scoring if scoring is not None else _Scoring(data, split)
        # no gradients are kept in evaluation, so larger batches fit and run faster
        predictions, loss = predict_split(model, split, data.task, 4 * self.batch_size)
        kind = TASKS[data.task].scoring  # each kind gives its task's validation_metrics
        if kind == "classes":
            correct = (predictions == scoring.targets).double().mean()
            return loss, {"val_accuracy": float(correct)}
        if kind == "tokens":
            lm = language_model_metrics(loss)  # val_perplexity, val_bpc
            return loss, {f"val_{k}": v for k, v in lm.items() if k != "loss"}
        error = abs(scoring.unscale(predictions) - scoring.targets).mean()
        return loss, {"val_mae": float(error)}

    def _log(self, row: EpochRow) -> None:
        if self.quiet:
            return
        parts = [f"epoch {row.epoch}/{self.epochs}", f"train_loss {row.train_loss:.4g}"]
        values = {"val_loss": row.val_loss, **row.metrics}
        parts += [f"{k} {v:.4g}" for k, v in values.items() if v is not None]
        parts += [f"lr {row.lr:.3g}", f"{row.seconds:.1f}s"]
        print("  ".join(parts), file=sys.stderr, flush=True)


class _Scoring:
    """The validation targets as each epoch's metrics compare against them, prepared once per
    ``fit``: class labels on the CPU, or forecast/regression targets in raw units."""

    def __init__(self, data: SequenceData, split: Split) -> None:
        self.unscale = data.preprocessing.unscale_targets
        self.targets: Any = None
        kind = TASKS[data.task].scoring
        if len(split) == 0 or kind == "tokens":
            return
        if kind == "classes":
            self.targets = split.targets.cpu()
        else:
            self.targets = self.unscale(split.targets)


def __getattr__(name: str) -> Any:
    """:class:`TBPTT` and :func:`per_step_forecast`, from :mod:`seqzoo.plugins.trainers.tbptt`
    (imported on first use: it builds on :class:`Supervised`, defined here)."""
    if name in ("TBPTT", "per_step_forecast"):
        from seqzoo.plugins import training_tbptt

        return getattr(training_tbptt, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
