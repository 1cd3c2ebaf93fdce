"""The state of one ``fit`` of the built-in trainers (:mod:`seqzoo.plugins.trainers.supervised`):
counters, weight snapshots and history, when ``last`` / ``best`` / ``epoch-NNNN`` and the history
files are saved (``save_every``), resuming from ``last``, and the ``SEQZOO_PROFILE`` timing
record. (The once-per-fit data check, :func:`check_splits`, is in
:mod:`seqzoo.plugins.trainers.checks`; its old name here still works.)

Ctrl-C is exact: :class:`Progress` tracks where the epoch in progress stands (batches done,
their losses, the shuffling generator's state at the epoch's start, torch's RNG at the current
batch's start), and :meth:`Run.interrupted` saves that position with ``last``, so a resume
re-draws the epoch's order, skips the batches done and continues bit for bit. A Ctrl-C takes
effect at the end of the batch in progress (:class:`DeferredInterrupt`); a KeyboardInterrupt
raised inside a batch before its optimizer step stands for that batch's start. Only one that
falls inside an optimizer step (a second Ctrl-C, mid-step) cannot be saved exactly: then
``last`` keeps the previous save.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import torch
from torch import Tensor, nn

from seqzoo.core.modules import map_state
from seqzoo.core.training import (
    EpochRow,
    History,
    NonFiniteLossError,
    TrainingInterrupted,
    TrainingResult,
    capture_rng,
    checkpoint_path,
    fsync_count,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
    seed_everything,
    write_history,
)
from seqzoo.plugins.trainers.checks import check_splits, text

if TYPE_CHECKING:
    from seqzoo.plugins.trainers.supervised import Supervised

__all__ = ["DeferredInterrupt", "Progress", "Run", "check_splits", "clock", "resume_dirs", "text"]


def clock() -> float:
    """Seconds on a monotonic clock: what ``save_every`` is measured by."""
    return time.monotonic()


def _snapshot(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def resume_dirs(resume: str | Path) -> tuple[Path, Path | None]:
    """``(checkpoint to resume from, its run directory or None)``."""
    resume = Path(resume)
    if (resume / "checkpoints").is_dir():
        return resume, resume  # load_checkpoint reads a run directory's last checkpoint
    return resume, resume.parents[1] if resume.parent.name == "checkpoints" else None


class Progress:
    """Where the epoch in progress stands; the batch loops keep it current (a few attribute
    writes and one ~1 us RNG snapshot per batch)."""

    __slots__ = (
        "batch",
        "carried",
        "epoch",
        "generator",
        "losses",
        "rng",
        "seconds",
        "stepping",
        "stop",
    )

    def __init__(self) -> None:
        self.stop = False  # a deferred Ctrl-C waits for the end of the batch
        self.reset(1)

    def reset(self, epoch: int) -> None:
        """Stand at the start of ``epoch`` (not yet begun: no generator state)."""
        self.epoch = epoch  # the epoch in progress (the completed ones + 1)
        self.batch = 0  # its batches done
        self.losses: list[Tensor] = []  # their losses (per chunk for tbptt)
        self.generator: Tensor | None = None  # the shuffler's state at the epoch's start
        self.rng: Tensor | None = None  # torch's RNG at the current batch's start
        self.seconds = 0.0  # training seconds of this epoch before a resume
        self.stepping = False  # inside an optimizer / schedule step: no whole position
        self.carried: Any = None  # a state carried across batches (tbptt carry="epoch")

    def to_state(self, good: dict[str, Tensor], seconds: float) -> dict[str, Any]:
        """What a checkpoint saves of a started epoch (``good``: the weights it began with)."""
        losses = torch.stack(self.losses).cpu() if self.losses else torch.zeros(0)
        return {
            "epoch": self.epoch,
            "batch": self.batch,
            "losses": losses,
            "generator": self.generator,
            "seconds": seconds,
            "good": good,
            **({"carried": self.carried} if self.carried is not None else {}),
        }

    def load(self, state: dict[str, Any], device: torch.device) -> None:
        """Stand where :meth:`to_state` was taken."""
        self.reset(int(state["epoch"]))
        self.batch, self.seconds = int(state["batch"]), float(state["seconds"])
        self.losses = list(state["losses"].to(device).unbind())
        self.generator = state["generator"]
        if state.get("carried") is not None:
            self.carried = map_state(state["carried"], lambda t: t.to(device))


class DeferredInterrupt:
    """``with DeferredInterrupt(progress):`` a first Ctrl-C (SIGINT) only sets
    ``progress.stop``, which the batch loops turn into a KeyboardInterrupt at the end of the
    batch, where the state is whole; a second one interrupts at once. Only in the main thread
    and over Python's default handler (any other handler is left alone)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.previous: Callable[[int, FrameType | None], Any] | int | None = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.progress.stop:
            raise KeyboardInterrupt
        self.progress.stop = True

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            current = signal.getsignal(signal.SIGINT)
            if current is signal.default_int_handler:
                self.previous = current
                signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None


class Run:
    """One ``fit`` call's mutable state: counters, snapshots, history, and what saves them."""

    def __init__(
        self, trainer: Supervised, model: nn.Module, optimizer: torch.optim.Optimizer, schedule: Any
    ) -> None:
        self.trainer, self.model = trainer, model
        self.optimizer, self.schedule = optimizer, schedule
        self.run_dir, self.generator = trainer.run_dir, seed_everything(trainer.seed)
        self.history = History(result=TrainingResult(run_dir=text(self.run_dir)))
        self.counters: dict[str, Any] = {"best_value": None, "best_epoch": None, "bad_epochs": 0}
        self.start = 0
        self.progress = Progress()
        self.best: dict[str, Tensor] | None = None
        self.good = _snapshot(model)  # the last weights known to give a finite loss
        self.saved_at = clock()  # when ``last`` was last saved (or fit began)
        self.saved_epoch: int | None = None  # the epoch ``last`` on disk holds
        self.best_unsaved = False  # ``best`` improved since it was last saved
        self.timings = dict.fromkeys(("epochs", "checks", "checkpoints", "history", "plot"), 0.0)
        self.scaler: torch.amp.GradScaler | None = None  # precision="16-mixed"; saved in state
        self.checkpoints, self.fsyncs = 0, fsync_count()

    def timed(self, what: str) -> _Timer:
        """``with run.timed("plot"): ...`` adds the block's wall seconds to ``timings``."""
        return _Timer(self.timings, what)

    def resume(self, resume: str | Path) -> None:
        """Load the model, optimizer, schedule, counters, history and random states."""
        source, source_run = resume_dirs(resume)
        self.run_dir = self.run_dir or source_run
        best_dir = checkpoint_path(source_run, "best") if source_run else None
        if best_dir is not None:  # the best weights so far, to end with (restore_best)
            best_state = load_checkpoint(best_dir, self.model)
            self.best = _snapshot(self.model)
        state = load_checkpoint(source, self.model, self.optimizer, self.schedule)
        self.good = _snapshot(self.model)
        self.start = int(state.get("epoch", 0))
        self.progress.reset(self.start + 1)
        position = state.get("position")
        if position is not None:  # interrupted inside epoch start + 1: continue it there
            device = next((p.device for p in self.model.parameters()), torch.device("cpu"))
            self.progress.load(position, device)
            self.good = {k: v.to(device) for k, v in position["good"].items()}
        if best_dir is not None and best_state.get("epoch") != state.get("best_epoch"):
            # best/ is not the best of the timeline ``last`` holds: it comes from a later,
            # abandoned stretch (resuming an older checkpoint), or a kill fell between saving
            # last and best. When ``last`` is itself the best epoch its weights are the best.
            self.best = self.good if state.get("best_epoch") == self.start else None
            self.best_unsaved = self.best is not None  # rewrite best/ to match
        self.saved_epoch = self.start
        if "rng" in state:
            restore_rng(state["rng"], self.generator)
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])  # the loss scale it had reached
        monitor = self.history.result.monitor
        if "history" in state:
            self.history = History.from_dict(state["history"])
        self.history.result.monitor, self.history.result.run_dir = monitor, text(self.run_dir)
        self.history.result.stopped_early, self.history.result.stop_reason = False, ""
        self.counters.update({k: state[k] for k in self.counters if k in state})

    def begin_epoch(self, epoch: int) -> int:
        """Start ``epoch`` (or continue it where a resume left it): the batches already done."""
        progress = self.progress
        if progress.epoch == epoch and progress.generator is not None:
            self.generator.set_state(progress.generator)  # the epoch's order again
            return progress.batch
        progress.reset(epoch)
        progress.generator = self.generator.get_state()
        return 0

    def record(self, row: EpochRow, value: float, maximize: bool) -> bool:
        """Book a finished epoch (counters, snapshots, summary); True when ``value`` improved."""
        old = self.counters["best_value"]
        improved = old is None or (value > old if maximize else value < old)
        self.good = _snapshot(self.model)
        if improved:
            self.counters.update(best_value=value, best_epoch=row.epoch, bad_epochs=0)
            self.best = self.good  # snapshots are never changed in place: share it
            self.best_unsaved = True
        else:
            self.counters["bad_epochs"] += 1
        self.history.rows.append(row)
        result = self.history.result
        result.epochs, result.best_epoch = row.epoch, self.counters["best_epoch"]
        result.best_value = self.counters["best_value"]
        self.progress.reset(row.epoch + 1)  # booked (a whole state again): the next not begun
        return improved

    def state(self, epoch: int, **extra: Any) -> dict[str, Any]:
        """The trainer state a checkpoint holds (tensors and plain values: ``state.json`` and
        ``state.safetensors``); ``extra`` adds keys or replaces them (``rng``)."""
        scaler = {} if self.scaler is None else {"scaler": self.scaler.state_dict()}
        return {
            "epoch": epoch,
            **self.counters,
            "rng": capture_rng(self.generator),
            "history": self.history.to_dict(),
            "trainer": self.trainer.name,
            "options": self.trainer.options,
            **scaler,
            **extra,
        }

    def save(self, epoch: int, improved: bool, due: bool = True) -> None:
        """After an epoch: ``epoch-NNNN`` when ``checkpoint_every`` says so, and ``last`` (with
        ``best`` and the history files) when ``due`` and ``save_every`` has passed."""
        if self.run_dir is None:
            return
        every = self.trainer.checkpoint_every
        if every and epoch % every == 0:
            with self.timed("checkpoints"):
                parts = (self.model, self.optimizer, self.schedule)
                save_checkpoint(self.run_dir, f"epoch-{epoch:04d}", *parts, self.state(epoch))
                self.checkpoints += 1
        seconds = self.trainer.save_every
        if due and (isinstance(seconds, str) or clock() - self.saved_at >= seconds):  # "epoch"
            self.save_last(epoch)

    def save_last(self, epoch: int, holds_good: bool = True, **extra: Any) -> Path:
        """Save ``last`` at ``epoch`` (the model as it is now), then ``best`` if it changed
        since its last save, then the history files. ``last`` goes first: should a kill fall
        in between, resume sees that best/ is older than ``last``'s best epoch."""
        assert self.run_dir is not None
        with self.timed("checkpoints"):
            state = self.state(epoch, **extra)
            parts = (self.model, self.optimizer, self.schedule)
            path = save_checkpoint(self.run_dir, "last", *parts, state)
            self.checkpoints += 1
            self.save_best(holds_good)
        with self.timed("history"):
            write_history(self.run_dir, self.history)
        self.saved_at, self.saved_epoch = clock(), epoch
        return path

    def save_best(self, holds_good: bool = True) -> None:
        """Write the best weights so far as ``best`` if they changed since its last write.
        ``holds_good``: the model holds ``good`` (an epoch's end), not mid-epoch weights."""
        if self.run_dir is None or not self.best_unsaved or self.best is None:
            return
        swap = not (holds_good and self.best is self.good)
        kept = _snapshot(self.model) if swap else None
        if swap:  # the best snapshot into the model to save it, then the weights back
            self.model.load_state_dict(self.best)
        try:
            best = {"epoch": self.counters["best_epoch"], "monitor": self.history.result.monitor}
            save_checkpoint(self.run_dir, "best", self.model, trainer_state=best)
            self.checkpoints += 1
        finally:
            if kept is not None:
                self.model.load_state_dict(kept)
        self.best_unsaved = False

    def finish(self) -> None:
        """After the last epoch: save ``last`` unless it already holds that epoch (then only
        ``best`` if it changed, and the history files: the summary did)."""
        if self.run_dir is None:
            return
        epoch = self.history.rows[-1].epoch if self.history.rows else self.start
        if epoch != self.saved_epoch:
            self.save_last(epoch)
            return
        with self.timed("checkpoints"):
            self.save_best()
        with self.timed("history"):
            write_history(self.run_dir, self.history)

    def profile(self, seconds: float) -> None:
        """With ``SEQZOO_PROFILE=FILE``: write where this fit's time went to ``FILE`` (JSON)."""
        target = os.environ.get("SEQZOO_PROFILE")
        if not target:
            return
        figures = {
            "fit_seconds": seconds,
            **{f"{k}_seconds": v for k, v in self.timings.items()},
            "epochs": len(self.history.rows) - (self.start if self.history.rows else 0),
            "checkpoints": self.checkpoints,
            "fsyncs": fsync_count() - self.fsyncs,
        }
        Path(target).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")

    def diverged(self, epoch: int, batch: int | None, value: float) -> NoReturn:
        """Put the last finite weights back (and on disk if no checkpoint holds them); raise."""
        self.model.load_state_dict(self.good)
        saved = ""
        if self.run_dir is not None:
            self.save_best()  # the best finite weights reached, even between saves of last
            # an earlier save of last/best holds finite weights; a first one gets the good
            # weights with a fresh trainer state (an exact state of that epoch is gone)
            fresh = {"epoch": 0, "trainer": self.trainer.name, "options": self.trainer.options}
            for name in ("last", "best"):
                if checkpoint_path(self.run_dir, name) is None:
                    save_checkpoint(self.run_dir, name, self.model, trainer_state=fresh)
            write_history(self.run_dir, self.history)
            saved = f" (checkpoints in {self.run_dir / 'checkpoints'})"
        raise NonFiniteLossError(epoch, batch, value, saved=saved)

    def interrupted(self, seconds: float = 0.0) -> TrainingInterrupted:
        """Save the exact state at the interrupt as ``last`` (``seconds``: the interrupted
        epoch's training time so far); the error for the caller to raise."""
        progress = self.progress
        epoch, batch, exact = progress.epoch, progress.batch, not progress.stepping
        self.history.result.stop_reason = f"interrupted during epoch {epoch}"
        if self.run_dir is None:
            return TrainingInterrupted(epoch, None, self.history, batch=batch, exact=exact)
        if not exact:  # mid-step: no whole state to save; last keeps the previous save
            found = checkpoint_path(self.run_dir, "last")
            return TrainingInterrupted(
                epoch, found, self.history, batch=batch, exact=False, run_dir=self.run_dir
            )
        done = self.history.rows[-1].epoch if self.history.rows else self.start
        rng = capture_rng(self.generator)
        if progress.rng is not None:  # the batch had begun (its forward may have drawn numbers)
            rng["torch"] = progress.rng
        extra: dict[str, Any] = {"interrupted": True, "rng": rng}
        if progress.generator is not None:  # the epoch had begun: where it stands
            extra["position"] = progress.to_state(self.good, seconds)
        path = self.save_last(done, holds_good="position" not in extra, **extra)
        return TrainingInterrupted(epoch, path, self.history, batch=batch, run_dir=self.run_dir)


class _Timer:
    """Adds a block's wall seconds to ``timings[what]``."""

    def __init__(self, timings: dict[str, float], what: str) -> None:
        self.timings, self.what = timings, what

    def __enter__(self) -> None:
        self.began = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.what] += time.perf_counter() - self.began
