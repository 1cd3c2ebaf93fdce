"""The built-in trainers: :class:`Supervised` (mini-batches) and :class:`TBPTT` (truncated
backpropagation through time over chunks of long sequences).

``trainer.fit(model, data, optimizer, schedule=None, resume=None) -> History``: ``optimizer``
is a torch optimizer over ``model.parameters()`` (it owns the learning rate), ``schedule`` a
scheduler over it (stepped per batch or per epoch: ``schedule_interval``). Each epoch trains,
validates, keeps the best weights by ``monitor`` and, with a ``run_dir``, saves the ``last`` and
``best`` checkpoints and ``history.json`` / ``metrics.csv`` (``loss.png`` at the end).
``epochs`` is the total: a resumed run continues up to it bit for bit as if it had never
stopped (model, optimizer, schedule, counters and random states all restored).

A NaN/inf loss raises ``NonFiniteLossError`` after the last finite weights are put back;
Ctrl-C saves the current state as ``last`` and raises ``TrainingInterrupted``.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

from seqzoo.core.data import SequenceData, Split
from seqzoo.core.errors import ConfigError
from seqzoo.core.metrics import language_model_metrics, predict_split, raw_inputs, target_layout
from seqzoo.core.modules import detach_state
from seqzoo.core.training import (
    EpochRow,
    History,
    NonFiniteLossError,
    TrainingInterrupted,
    TrainingResult,
    capture_rng,
    checkpoint_path,
    forward_fn,
    load_checkpoint,
    loss_for,
    plot_loss,
    progress_bar,
    restore_rng,
    save_checkpoint,
    schedule_interval,
    seed_everything,
    write_history,
)

__all__ = ["TBPTT", "VAL_METRICS", "Supervised", "per_step_forecast"]


#: The validation metrics each task logs per epoch (``monitor`` may name any of them).
VAL_METRICS = {
    "forecast": ("val_mae",),
    "regression": ("val_mae",),
    "classification": ("val_accuracy",),
    "language-model": ("val_perplexity", "val_bpc"),
}


class _Step(NamedTuple):
    """What a training step needs, resolved once per ``fit``."""

    loss: Callable[[Tensor, Tensor], Tensor]
    forward: Callable[[Tensor, Tensor | None], Tensor]
    params: list[nn.Parameter]  # what clipping acts on
    schedule: Callable[[], Any] | None  # a per-batch schedule's step
    generator: torch.Generator  # shuffles the batches


def _integer(value: Any, field: str, minimum: int, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = ("a positive integer" if minimum == 1 else f"an integer >= {minimum}") + (
            " or None" if optional else ""
        )
        raise ConfigError(f"must be {what}, got {value!r}", field=field)
    return value


def _snapshot(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _resume_dirs(resume: str | Path) -> tuple[Path, Path | None]:
    """``(checkpoint to resume from, its run directory or None)``."""
    resume = Path(resume)
    if (resume / "checkpoints").is_dir():
        return resume, resume  # load_checkpoint reads a run directory's last checkpoint
    return resume, resume.parents[1] if resume.parent.name == "checkpoints" else None


class Supervised:
    """Mini-batch supervised training (see the module doc for what ``fit`` does).

    Options: ``epochs`` (total), ``batch_size``, ``clip`` (max gradient norm, None: off),
    ``patience`` (epochs without improvement of ``monitor`` before stopping, None: off),
    ``monitor`` (``train_loss``, ``val_loss`` or one of :data:`VAL_METRICS`; ``val_accuracy``
    is maximized, the rest minimized; ``val_*`` falls back to ``train_loss`` without validation
    data), ``seed``, ``quiet`` (no progress bar or epoch lines), ``run_dir`` (None: no files;
    resuming: the resumed run's), ``checkpoint_every`` (also keep ``epoch-NNNN`` every that many
    epochs), ``restore_best`` (end with the best weights rather than the last).
    """

    name = "supervised"

    def __init__(
        self,
        epochs: int = 10,
        batch_size: int = 32,
        clip: float | None = None,
        patience: int | None = None,
        monitor: str = "val_loss",
        seed: int = 0,
        quiet: bool = False,
        run_dir: str | Path | None = None,
        checkpoint_every: int | None = None,
        restore_best: bool = True,
    ) -> None:
        self.epochs = _integer(epochs, "epochs", 1)
        self.batch_size = _integer(batch_size, "batch_size", 1)
        if clip is not None and (isinstance(clip, bool) or not clip > 0):
            raise ConfigError(f"must be a positive number or None, got {clip!r}", field="clip")
        self.clip = None if clip is None else float(clip)
        self.patience = _integer(patience, "patience", 1, optional=True)
        if not isinstance(monitor, str) or not monitor:
            raise ConfigError(
                f"must be a column name such as 'val_loss', got {monitor!r}", field="monitor"
            )
        self.monitor = monitor
        self.seed = _integer(seed, "seed", 0)
        self.quiet = bool(quiet)
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.checkpoint_every = _integer(checkpoint_every, "checkpoint_every", 1, optional=True)
        self.restore_best = bool(restore_best)

    @property
    def options(self) -> dict[str, Any]:
        """The constructor options as plain values (saved in checkpoints)."""
        return {**vars(self), "run_dir": _text(self.run_dir)}

    def _prepare(self, model: nn.Module, data: SequenceData) -> tuple[Split, Split]:
        """The training and validation splits this trainer feeds the model."""
        return data.train, data.validation

    def _train_epoch(
        self,
        model: nn.Module,
        split: Split,
        optimizer: torch.optim.Optimizer,
        step: _Step,
        bar: Any,
    ) -> list[Tensor]:
        """One pass over shuffled batches; the detached per-batch losses (no host sync here:
        the caller syncs once per epoch)."""
        losses: list[Tensor] = []
        loss_fn, forward, params, step_batch, generator = step  # locals: the loop runs hot
        clip = self.clip
        closure = isinstance(optimizer, torch.optim.LBFGS)  # re-evaluates the loss itself
        batches = split.batches(self.batch_size, shuffle=True, generator=generator)
        for inputs, targets, lengths in batches:
            if closure:

                def evaluate(x: Tensor = inputs, y: Tensor = targets, n: Any = lengths) -> Tensor:
                    optimizer.zero_grad(set_to_none=True)
                    value = loss_fn(forward(x, n), y)
                    value.backward()
                    if clip is not None:
                        nn.utils.clip_grad_norm_(params, clip)
                    return value

                loss = optimizer.step(evaluate)
            else:
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(forward(inputs, lengths), targets)
                loss.backward()
                if clip is not None:
                    nn.utils.clip_grad_norm_(params, clip)
                optimizer.step()
            if step_batch is not None:
                step_batch()
            losses.append(loss.detach())
            if bar is not None:
                bar.update()
        return losses

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
        run = _Run(self, model, optimizer, schedule)
        run.history.result.monitor = monitor
        if resume is not None:
            run.resume(resume)
        interval = schedule_interval(schedule) if schedule is not None else None
        step = _Step(
            loss_for(data.task),
            forward_fn(model),
            [p for p in model.parameters() if p.requires_grad],
            schedule.step if interval == "batch" else None,
            run.generator,
        )
        maximize = monitor == "val_accuracy"
        if isinstance(schedule, ReduceLROnPlateau):
            schedule.mode = "max" if maximize else "min"  # it watches the monitored value
            schedule._init_is_better(schedule.mode, schedule.threshold, schedule.threshold_mode)
            schedule.best = schedule.mode_worse
        result = run.history.result
        began, seconds_before = time.perf_counter(), result.seconds
        n_batches = math.ceil(len(train) / self.batch_size)
        epoch = run.start
        try:
            for epoch in range(run.start + 1, self.epochs + 1):
                tick = time.perf_counter()
                model.train()
                bar = progress_bar(n_batches, f"epoch {epoch}/{self.epochs}", self.quiet)
                try:
                    losses = self._train_epoch(model, train, optimizer, step, bar)
                finally:
                    if bar is not None:
                        bar.close()
                stacked = torch.stack(losses)
                train_loss = float(stacked.mean())  # the epoch's one host sync
                if not math.isfinite(train_loss):
                    first = int(torch.nonzero(~torch.isfinite(stacked))[0, 0])
                    run.diverged(epoch, first + 1, float(stacked[first]))
                val_loss, metrics = self._validate(model, validation, data)
                if val_loss is not None and not math.isfinite(val_loss):
                    run.diverged(epoch, None, val_loss)
                lr = optimizer.param_groups[0]["lr"]
                row = EpochRow(epoch, train_loss, val_loss, lr, 0.0, metrics)
                value = row.get(monitor)
                if isinstance(schedule, ReduceLROnPlateau):
                    schedule.step(value)  # it reacts to the monitored value
                elif interval == "epoch":
                    schedule.step()
                row.seconds = time.perf_counter() - tick
                improved = run.record(row, value, maximize)
                result.seconds = seconds_before + time.perf_counter() - began
                stop = self.patience is not None and run.counters["bad_epochs"] >= self.patience
                if stop:
                    result.stopped_early = True
                    result.stop_reason = (
                        f"early stopping: {monitor} did not improve for {self.patience} epoch(s)"
                    )
                run.save(epoch, improved)
                self._log(row)
                if stop:
                    break
        except KeyboardInterrupt:
            raise run.interrupted(epoch) from None
        if not result.stopped_early:
            result.stop_reason = f"completed {result.epochs} epoch(s)"
        if self.restore_best and run.best is not None:
            model.load_state_dict(run.best)
        if run.run_dir is not None:
            write_history(run.run_dir, run.history)
            plot_loss(run.history, run.run_dir / "loss.png")
        return run.history

    def _validate(
        self, model: nn.Module, split: Split, data: SequenceData
    ) -> tuple[float | None, dict[str, float]]:
        """Validation loss (model units) and metrics (``val_mae`` in raw units, ...)."""
        if len(split) == 0:
            return None, {}
        # no gradients are kept in evaluation, so larger batches fit and run faster
        predictions, loss = predict_split(model, split, data.task, 4 * self.batch_size)
        if data.task == "classification":
            correct = (predictions == split.targets.cpu()).double().mean()
            return loss, {"val_accuracy": float(correct)}
        if data.task == "language-model":
            lm = language_model_metrics(loss)  # val_perplexity, val_bpc
            return loss, {f"val_{k}": v for k, v in lm.items() if k != "loss"}
        unscale = data.preprocessing.unscale_targets
        error = abs(unscale(predictions) - unscale(split.targets)).mean()
        return loss, {"val_mae": float(error)}

    def _log(self, row: EpochRow) -> None:
        if self.quiet:
            return
        parts = [f"epoch {row.epoch}/{self.epochs}", f"train_loss {row.train_loss:.4g}"]
        values = {"val_loss": row.val_loss, **row.metrics}
        parts += [f"{k} {v:.4g}" for k, v in values.items() if v is not None]
        parts += [f"lr {row.lr:.3g}", f"{row.seconds:.1f}s"]
        print("  ".join(parts), file=sys.stderr, flush=True)


class _Run:
    """One ``fit`` call's mutable state: counters, snapshots, history, and what saves them."""

    def __init__(
        self, trainer: Supervised, model: nn.Module, optimizer: torch.optim.Optimizer, schedule: Any
    ) -> None:
        self.trainer, self.model = trainer, model
        self.optimizer, self.schedule = optimizer, schedule
        self.run_dir, self.generator = trainer.run_dir, seed_everything(trainer.seed)
        self.history = History(result=TrainingResult(run_dir=_text(self.run_dir)))
        self.counters: dict[str, Any] = {"best_value": None, "best_epoch": None, "bad_epochs": 0}
        self.start = 0
        self.best: dict[str, Tensor] | None = None
        self.good = _snapshot(model)  # the last weights known to give a finite loss

    def resume(self, resume: str | Path) -> None:
        """Load the model, optimizer, schedule, counters, history and random states."""
        source, source_run = _resume_dirs(resume)
        self.run_dir = self.run_dir or source_run
        best_dir = checkpoint_path(source_run, "best") if source_run else None
        if best_dir is not None:  # the best weights so far, to end with (restore_best)
            best_state = load_checkpoint(best_dir, self.model)
            self.best = _snapshot(self.model)
        state = load_checkpoint(source, self.model, self.optimizer, self.schedule)
        if best_dir is not None and int(best_state.get("epoch", 0)) > int(state.get("epoch", 0)):
            # resuming an older checkpoint: the run's best/ comes from a later, abandoned
            # stretch of training; the resumed timeline's best is not on disk
            self.best = None
        self.good = _snapshot(self.model)
        self.start = int(state.get("epoch", 0))
        if "rng" in state:
            restore_rng(state["rng"], self.generator)
        monitor = self.history.result.monitor
        if "history" in state:
            self.history = History.from_dict(state["history"])
        self.history.result.monitor, self.history.result.run_dir = monitor, _text(self.run_dir)
        self.history.result.stopped_early, self.history.result.stop_reason = False, ""
        self.counters.update({k: state[k] for k in self.counters if k in state})

    def record(self, row: EpochRow, value: float, maximize: bool) -> bool:
        """Book a finished epoch (counters, snapshots, summary); True when ``value`` improved."""
        old = self.counters["best_value"]
        improved = old is None or (value > old if maximize else value < old)
        self.good = _snapshot(self.model)
        if improved:
            self.counters.update(best_value=value, best_epoch=row.epoch, bad_epochs=0)
            self.best = self.good  # snapshots are never changed in place: share it
        else:
            self.counters["bad_epochs"] += 1
        self.history.rows.append(row)
        result = self.history.result
        result.epochs, result.best_epoch = row.epoch, self.counters["best_epoch"]
        result.best_value = self.counters["best_value"]
        return improved

    def state(self, epoch: int, **extra: Any) -> dict[str, Any]:
        """The trainer state a checkpoint holds (plain values; ``weights_only`` loadable)."""
        return {
            "epoch": epoch,
            **self.counters,
            "rng": capture_rng(self.generator),
            "history": self.history.to_dict(),
            "trainer": self.trainer.name,
            "options": self.trainer.options,
            **extra,
        }

    def save(self, epoch: int, improved: bool) -> None:
        """Checkpoint ``last`` (and ``best`` / ``epoch-NNNN``), then the history files."""
        if self.run_dir is None:
            return
        state = self.state(epoch)
        parts = (self.model, self.optimizer, self.schedule)
        save_checkpoint(self.run_dir, "last", *parts, state)
        if improved:
            best = {"epoch": epoch, "monitor": self.history.result.monitor}
            save_checkpoint(self.run_dir, "best", self.model, trainer_state=best)
        every = self.trainer.checkpoint_every
        if every and epoch % every == 0:
            save_checkpoint(self.run_dir, f"epoch-{epoch:04d}", *parts, state)
        write_history(self.run_dir, self.history)

    def diverged(self, epoch: int, batch: int | None, value: float) -> NoReturn:
        """Put the last finite weights back (and on disk if no checkpoint holds them); raise."""
        self.model.load_state_dict(self.good)
        saved = ""
        if self.run_dir is not None:
            # an earlier epoch's last/best already hold finite weights; the first epoch has none
            for name in ("last", "best"):
                if checkpoint_path(self.run_dir, name) is None:
                    save_checkpoint(self.run_dir, name, self.model, trainer_state=self.state(0))
            write_history(self.run_dir, self.history)
            saved = f" (checkpoints in {self.run_dir / 'checkpoints'})"
        raise NonFiniteLossError(epoch, batch, value, saved=saved)

    def interrupted(self, epoch: int) -> TrainingInterrupted:
        """Save the state at the interrupt as ``last``; the error for the caller to raise."""
        self.history.result.stop_reason = f"interrupted during epoch {epoch}"
        path = None
        if self.run_dir is not None:
            done = self.history.rows[-1].epoch if self.history.rows else self.start
            state = self.state(done, interrupted=True)
            path = save_checkpoint(
                self.run_dir, "last", self.model, self.optimizer, self.schedule, state
            )
            write_history(self.run_dir, self.history)
        return TrainingInterrupted(epoch, path, self.history)


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


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
    per step). The state starts fresh for every batch. Other options: as :class:`Supervised`.
    """

    name = "tbptt"

    def __init__(self, chunk: int = 32, **options: Any) -> None:
        super().__init__(**options)
        self.chunk = _integer(chunk, "chunk", 1)

    def fit(
        self,
        model: nn.Module,
        data: SequenceData,
        optimizer: torch.optim.Optimizer,
        schedule: Any = None,
        resume: str | Path | None = None,
    ) -> History:
        if isinstance(optimizer, torch.optim.LBFGS):
            raise ConfigError(
                "lbfgs re-evaluates whole batches and cannot step chunk by chunk; use tbptt "
                "with a first-order optimizer (adam, sgd, ...) or lbfgs with supervised",
                field="optimizer",
            )
        return super().fit(model, data, optimizer, schedule=schedule, resume=resume)

    def _prepare(self, model: nn.Module, data: SequenceData) -> tuple[Split, Split]:
        if getattr(model, "output", "sequence") != "sequence":
            raise ConfigError(
                "tbptt trains one output per step: build the model with output='sequence'",
                field="output",
            )
        if data.task == "language-model":
            return data.train, data.validation
        if data.task == "forecast":
            return per_step_forecast(data, data.train), per_step_forecast(data, data.validation)
        message = f"tbptt trains forecast or language-model data, not {data.task!r}"
        raise ConfigError(message + "; use the supervised trainer")

    def _train_epoch(
        self,
        model: nn.Module,
        split: Split,
        optimizer: torch.optim.Optimizer,
        step: _Step,
        bar: Any,
    ) -> list[Tensor]:
        losses: list[Tensor] = []
        loss_fn, _, params, step_batch, generator = step
        clip, chunk = self.clip, self.chunk
        for inputs, targets, _ in split.batches(self.batch_size, shuffle=True, generator=generator):
            state = None  # every batch starts its sequences from the initial state
            for start in range(0, inputs.shape[1], chunk):
                optimizer.zero_grad(set_to_none=True)
                output, state = model.forward_stateful(inputs[:, start : start + chunk], state)
                loss = loss_fn(output, targets[:, start : start + chunk])
                loss.backward()
                if clip is not None:
                    nn.utils.clip_grad_norm_(params, clip)
                optimizer.step()
                if step_batch is not None:
                    step_batch()
                state = detach_state(state)  # truncate: no gradient flows into earlier chunks
                losses.append(loss.detach())
            if bar is not None:
                bar.update()
        return losses
