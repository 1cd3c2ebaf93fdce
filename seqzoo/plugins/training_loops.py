"""The built-in trainers: :class:`Supervised` (mini-batches) and :class:`TBPTT` (truncated
backpropagation through time over chunks of long sequences).

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

import itertools
import math
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Literal, NamedTuple, overload

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

from seqzoo.core.data import SequenceData, Split
from seqzoo.core.device import (
    autocast,
    resolve_device,
    resolve_precision,
    resolve_threads,
    set_threads,
)
from seqzoo.core.errors import ConfigError
from seqzoo.core.metrics import language_model_metrics, predict_split, raw_inputs, target_layout
from seqzoo.core.modules import detach_state, map_state
from seqzoo.core.rundir import lock_run
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
from seqzoo.plugins.training_devices import CompileFallbackWarning, compiled, place
from seqzoo.plugins.training_run import (
    DeferredInterrupt,
    Progress,
    Run,
    check_splits,
    resume_dirs,
    text,
)

__all__ = ["TBPTT", "VAL_METRICS", "CompileFallbackWarning", "Supervised", "per_step_forecast"]

#: The validation metrics each task logs per epoch (``monitor`` may name any of them).
VAL_METRICS = {
    "forecast": ("val_mae",),
    "regression": ("val_mae",),
    "classification": ("val_accuracy",),
    "language-model": ("val_perplexity", "val_bpc"),
}


class _Checked(NamedTuple):
    """What :meth:`Supervised.check` prepared for ``fit``."""

    train: Split
    validation: Split
    monitor: str
    scoring: _Scoring
    seconds: float  # spent checking the splits


class _Step(NamedTuple):
    """What a training step needs, resolved once per ``fit``."""

    loss: Callable[[Tensor, Tensor], Tensor]
    forward: Callable[[Tensor, Tensor | None], Tensor]
    params: list[nn.Parameter]  # what clipping acts on
    schedule: Callable[[], Any] | None  # a per-batch schedule's step
    generator: torch.Generator  # shuffles the batches
    cast: Callable[[], AbstractContextManager[Any]]  # autocast (or nothing) of forward + loss
    scaler: torch.amp.GradScaler | None  # precision="16-mixed"


@overload
def _integer(value: Any, field: str, minimum: int, optional: Literal[False] = False) -> int: ...
@overload
def _integer(value: Any, field: str, minimum: int, optional: Literal[True]) -> int | None: ...
def _integer(value: Any, field: str, minimum: int, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = ("a positive integer" if minimum == 1 else f"an integer >= {minimum}") + (
            " or None" if optional else ""
        )
        raise ConfigError(f"must be {what}, got {value!r}", field=field)
    return value


def _save_every(value: Any) -> float | str:
    """``"epoch"``, or seconds (a number >= 0; 0 is every epoch too)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("epoch", "epochs"):
            return "epoch"
        try:
            value = float(text.removesuffix("s"))
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigError(
            f"must be 'epoch' or a number of seconds >= 0, got {value!r}", field="save_every"
        )
    return "epoch" if value == 0 else float(value)


class Supervised:
    """Mini-batch supervised training (see the module doc for what ``fit`` does).

    Options: ``epochs`` (total), ``batch_size``, ``clip`` (max gradient norm, None: off),
    ``patience`` (epochs without improvement of ``monitor`` before stopping, None: off),
    ``monitor`` (``train_loss``, ``val_loss`` or one of :data:`VAL_METRICS`; ``val_accuracy``
    is maximized, the rest minimized; ``val_*`` falls back to ``train_loss`` without validation
    data), ``seed``, ``quiet`` (no progress bar or epoch lines), ``run_dir`` (None: no files;
    resuming: the resumed run's), ``save_every`` (seconds between saves of ``last``, ``best`` and
    the history files, checked after each epoch; ``"epoch"``: after every epoch; the final epoch
    is always saved, and Ctrl-C saves too, so only a hard kill loses work: at most that long, or
    one epoch when epochs take longer), ``checkpoint_every`` (also keep ``epoch-NNNN`` every that
    many epochs), ``restore_best`` (end with the best weights rather than the last), ``plot``
    (draw ``loss.png`` at the end; False: matplotlib is never imported), ``device``
    (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``), ``precision`` (``32``, ``bf16``,
    ``16-mixed``), ``compile`` (torch.compile the training forward), ``threads`` (torch
    intra-op threads, default 1; None: torch's own setting).
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
        save_every: float | str = 30.0,
        plot: bool = True,
        device: str = "auto",
        precision: str = "32",
        compile: bool = False,
        threads: int | None = 1,
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
        self.save_every = _save_every(save_every)
        self.plot = bool(plot)
        self.device = device.strip().lower() if isinstance(device, str) else device
        resolve_device(self.device)  # now: a device this machine lacks fails before training
        self.device = str(self.device)  # plain text in checkpoints (an index is CUDA's)
        self.precision = resolve_precision(precision)
        if not isinstance(compile, bool):
            raise ConfigError(f"must be true or false, got {compile!r}", field="compile")
        self.compile = compile
        self.threads = resolve_threads(threads)

    @property
    def options(self) -> dict[str, Any]:
        """The constructor options as plain values (saved in checkpoints)."""
        options = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        return {**options, "run_dir": text(self.run_dir)}

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
        progress: Progress,
    ) -> list[Tensor]:
        """One pass over shuffled batches (the rest of it after a resume: ``progress.batch``
        are done); the detached per-batch losses (no host sync here: the caller syncs once per
        epoch). ``progress`` is kept current, so an interrupt can save the exact position."""
        losses = progress.losses
        loss_fn, forward, params, step_batch, generator, cast, scaler = step  # the loop runs hot
        clip = self.clip
        closure = isinstance(optimizer, torch.optim.LBFGS)  # re-evaluates the loss itself
        batches = split.batches(self.batch_size, shuffle=True, generator=generator)
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
        step = _Step(
            loss_for(data.task),
            forward,
            [p for p in model.parameters() if p.requires_grad],
            schedule.step if interval == "batch" else None,
            run.generator,
            lambda: autocast(device, self.precision),
            run.scaler,
        )
        maximize = monitor == "val_accuracy"
        if isinstance(schedule, ReduceLROnPlateau):
            schedule.mode = "max" if maximize else "min"  # it watches the monitored value
            schedule._init_is_better(schedule.mode, schedule.threshold, schedule.threshold_mode)
            if run.start == 0 and run.progress.generator is None:
                schedule.best = schedule.mode_worse  # a resumed one keeps its saved best
        result, progress = run.history.result, run.progress
        began, seconds_before = time.perf_counter(), result.seconds
        n_batches = math.ceil(len(train) / self.batch_size)
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
        if data.task == "classification":
            correct = (predictions == scoring.targets).double().mean()
            return loss, {"val_accuracy": float(correct)}
        if data.task == "language-model":
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
        if len(split) == 0 or data.task == "language-model":
            return
        if data.task == "classification":
            self.targets = split.targets.cpu()
        else:
            self.targets = self.unscale(split.targets)


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

        batches = split.batches(self.batch_size, shuffle=True, generator=generator)
        if progress.batch:
            batches = itertools.islice(batches, progress.batch, None)
        get_rng_state = torch.get_rng_state
        for inputs, targets, _ in batches:
            progress.rng = get_rng_state()
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
            progress.batch += 1
            progress.rng = None
            progress.stepping = False
            if bar is not None:
                bar.update()
            if progress.stop:
                raise KeyboardInterrupt
        return losses
