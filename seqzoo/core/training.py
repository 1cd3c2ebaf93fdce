"""Trainer machinery any trainer plugin can reuse: history, losses, checkpoints, seeding, logs.

A run directory holds::

    run_dir/
      checkpoints/last/     model.safetensors, optimizer.pt, schedule.pt, trainer.pt
      checkpoints/best/     model.safetensors, trainer.pt (best weights by the monitor)
      checkpoints/epoch-0003/  (as last; with checkpoint_every)
      history.json          {"rows": [...], "result": {...}}
      metrics.csv           one row per epoch
      loss.png              train vs validation loss (written at the end)

Each file is written to a temporary file, fsync'd and ``os.replace``'d; a checkpoint directory is
filled under a hidden name (its files fsync'd, then the directory) and swapped into place by one
rename, so a crash at any moment leaves the old or the new checkpoint complete
(:func:`save_checkpoint`). ``*.pt`` files hold plain tensors, dicts, lists and numbers:
``torch.load(weights_only=True)`` reads them.
"""

from __future__ import annotations

import contextlib
import csv
import inspect
import io
import json
import math
import os
import random
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import ConfigError, Interrupted, SeqzooError, WeightsError

__all__ = [
    "CHECKPOINT_FILES",
    "EpochRow",
    "History",
    "NonFiniteLossError",
    "TrainingInterrupted",
    "TrainingResult",
    "atomic_write",
    "capture_rng",
    "checkpoint_path",
    "forward_fn",
    "fsync_count",
    "load_checkpoint",
    "loss_for",
    "model_forward",
    "plot_loss",
    "progress_bar",
    "restore_rng",
    "save_checkpoint",
    "schedule_interval",
    "seed_everything",
    "write_history",
]

#: What a checkpoint directory may hold (only ``model.safetensors`` is required).
CHECKPOINT_FILES = ("model.safetensors", "optimizer.pt", "schedule.pt", "trainer.pt")


class NonFiniteLossError(SeqzooError, FloatingPointError):
    """The loss became NaN or infinite; ``epoch`` and ``batch`` (1-based; ``batch`` is None
    for the validation loss) locate it. The model holds the weights it had at the end of the
    last finite epoch again (the initial weights when the first epoch diverged): losses are
    checked once per epoch, so the hot loop never waits on the device."""

    def __init__(self, epoch: int, batch: int | None, loss: float, *, saved: str = "") -> None:
        self.epoch, self.batch, self.loss = epoch, batch, loss
        where = (
            f"epoch {epoch}, batch {batch}" if batch is not None else f"epoch {epoch} (validation)"
        )
        restored = f"the end of epoch {epoch - 1}" if epoch > 1 else "the start of training"
        super().__init__(
            f"the loss became {loss} at {where}; the model's weights were restored to those of "
            f"{restored}{saved}. Try a lower learning rate (e.g. 10x lower), scaling the inputs "
            "(standardize features and targets), or gradient clipping (clip=1.0; --clip 1.0 on "
            "the command line)"
        )


class TrainingInterrupted(Interrupted):
    """Ctrl-C during ``fit``: raised from the KeyboardInterrupt after the current state was
    saved as the ``last`` checkpoint (``checkpoint``; None without a run directory). ``epoch``
    is the interrupted epoch (its progress so far is in the checkpoint; a resume re-runs it
    from there); ``history`` holds the completed epochs."""

    def __init__(self, epoch: int, checkpoint: Path | None, history: History) -> None:
        self.epoch, self.checkpoint, self.history = epoch, checkpoint, history
        where = (
            f"; its state is saved in {checkpoint}, resume with resume={checkpoint.parents[1]}"
            if checkpoint is not None
            else " (no run directory: nothing was saved)"
        )
        super().__init__(f"training interrupted during epoch {epoch}{where}")


# -- history -------------------------------------------------------------------------------


@dataclass
class EpochRow:
    """One epoch: losses in model units (mean per batch for training, per element for
    validation), ``lr`` of the first parameter group at the epoch's last step, wall ``seconds``,
    and validation ``metrics`` (``val_accuracy``, ``val_mae`` in raw units, ...)."""

    epoch: int
    train_loss: float
    val_loss: float | None
    lr: float
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)

    def get(self, name: str) -> float | None:
        """A column by name: ``train_loss``, ``val_loss``, ``lr``, ``seconds`` or a metric."""
        return self.metrics.get(name) if name in self.metrics else getattr(self, name, None)


@dataclass
class TrainingResult:
    """The run summary: how many epochs ran, the best one by ``monitor``, why it stopped."""

    epochs: int = 0
    best_epoch: int | None = None
    monitor: str = "val_loss"
    best_value: float | None = None
    stopped_early: bool = False
    stop_reason: str = ""
    seconds: float = 0.0
    run_dir: str | None = None


@dataclass
class History:
    """Per-epoch rows plus the run summary; what ``fit`` returns and ``history.json`` holds."""

    rows: list[EpochRow] = field(default_factory=list)
    result: TrainingResult = field(default_factory=TrainingResult)

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> list[float | None]:
        return [row.get(name) for row in self.rows]

    @property
    def train_loss(self) -> list[float]:
        return [row.train_loss for row in self.rows]

    @property
    def val_loss(self) -> list[float | None]:
        return [row.val_loss for row in self.rows]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [asdict(row) for row in self.rows], "result": asdict(self.result)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        return cls(
            [EpochRow(**row) for row in data.get("rows", [])],
            TrainingResult(**data.get("result", {})),
        )


# -- losses and forward ----------------------------------------------------------------------


def _mse(output: Tensor, target: Tensor) -> Tensor:
    # a model may emit (N, horizon, k) or (N, 1) for targets (N, horizon * k) or (N,): same numbers
    return F.mse_loss(output.reshape(target.shape), target)


def _cross_entropy(output: Tensor, target: Tensor) -> Tensor:
    return F.cross_entropy(output, target)


def _token_cross_entropy(output: Tensor, target: Tensor) -> Tensor:
    # logits (N, T, vocab) against next ids (N, T); ids of -100 (padding) are ignored
    return F.cross_entropy(output.reshape(-1, output.shape[-1]), target.reshape(-1))


_LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "forecast": _mse,
    "regression": _mse,
    "classification": _cross_entropy,
    "language-model": _token_cross_entropy,
}


def loss_for(task: str) -> Callable[[Tensor, Tensor], Tensor]:
    """The training loss of a task, ``loss(output, target) -> scalar`` (mean over elements):
    MSE for forecast/regression, cross entropy over classes, or over ``(N*T, vocab)`` tokens."""
    try:
        return _LOSSES[task]
    except KeyError:
        raise ConfigError(f"no loss for task {task!r}; tasks: {sorted(_LOSSES)}") from None


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


# -- seeding and random state --------------------------------------------------------------


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's ``random``, NumPy and torch; return a generator for shuffling batches."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def capture_rng(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Every random state a run consumes, as plain tensors/lists (``weights_only`` loadable)."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), cached],
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
    }
    if generator is not None:
        state["generator"] = generator.get_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Undo :func:`capture_rng`: the run continues with the very same random numbers."""
    torch.set_rng_state(state["torch"])
    keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# -- atomic files ----------------------------------------------------------------------------

_FSYNCS = [0]  # fsyncs issued by this module (a profiling figure: see fsync_count)


def fsync_count() -> int:
    """How many fsyncs (files and directories) this module has issued in this process."""
    return _FSYNCS[0]


def _fsync_fd(fd: int) -> None:
    _FSYNCS[0] += 1
    os.fsync(fd)


def _fsync_file(path: Path) -> None:
    """Flush ``path``'s bytes to the disk (before any name points at them)."""
    fd = os.open(path, os.O_RDWR)
    try:
        _fsync_fd(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    """Make renames in ``path`` durable (skipped where directories cannot be opened: Windows)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            _fsync_fd(fd)
        finally:
            os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(
    path: str | os.PathLike[str],
    write: Callable[[Path], None] | bytes | str,
    *,
    sync_dir: bool = True,
) -> Path:
    """Write ``path`` all or nothing: ``write(tmp)`` (or the bytes / text given) fills a
    temporary file in the same directory, which is fsync'd and then ``os.replace``'d.
    ``sync_dir=False`` leaves the directory's fsync to the caller (one for several files)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    os.close(fd)
    tmp = Path(name)
    try:
        if callable(write):
            write(tmp)
        else:
            tmp.write_bytes(write.encode("utf-8") if isinstance(write, str) else write)
        _fsync_file(tmp)  # the bytes reach the disk before the name points at them
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; files follow the umask
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        _fsync_dir(path.parent)
    return path


def _torch_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _write_synced(path: Path, data: bytes) -> None:
    """Write a new file and fsync it through the same descriptor."""
    with open(path, "xb") as handle:
        handle.write(data)
        handle.flush()
        _fsync_fd(handle.fileno())


_RENAMEAT2: list[Any] = []  # [function or None], resolved on first use


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing directory entries in one atomic rename (Linux ``renameat2`` with
    ``RENAME_EXCHANGE``); False where the platform or file system lacks it."""
    if not _RENAMEAT2:
        function = None
        if sys.platform.startswith("linux"):
            import ctypes

            with contextlib.suppress(OSError, AttributeError):
                libc = ctypes.CDLL(None, use_errno=True)
                function = libc.renameat2
                function.argtypes = [
                    ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint
                ]  # fmt: skip
                function.restype = ctypes.c_int
        _RENAMEAT2.append(function)
    function = _RENAMEAT2[0]
    if function is None:
        return False
    import ctypes
    import errno

    at_fdcwd, rename_exchange = -100, 2
    if function(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        _RENAMEAT2[0] = None  # not here (old kernel, or a file system without it)
        return False
    raise OSError(code, os.strerror(code), str(a))


# -- checkpoints -----------------------------------------------------------------------------


def _previous(directory: Path) -> Path:
    """Where a checkpoint stands aside while its replacement is renamed in."""
    return directory.parent / f".{directory.name}.prev"


def _recover(directory: Path) -> None:
    """Finish a replacement a crash cut short: put a stranded ``.prev`` back, drop debris."""
    previous = _previous(directory)
    if previous.exists():
        if directory.exists():
            shutil.rmtree(previous)  # the new one is complete; the old one was being removed
        else:
            os.replace(previous, directory)  # killed between the two renames: undo the first
    for stale in directory.parent.glob(f".{directory.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)  # never renamed in, so never complete


def checkpoint_path(run_dir: str | os.PathLike[str], name: str = "last") -> Path | None:
    """The complete checkpoint ``run_dir/checkpoints/<name>`` (or a ``.prev`` that a crash left
    standing aside mid-replacement); None when there is none. Reads only, changes nothing."""
    directory = Path(run_dir) / "checkpoints" / name
    for candidate in (directory, _previous(directory)):
        if (candidate / "model.safetensors").is_file():
            return candidate
    return None


def save_checkpoint(
    run_dir: str | os.PathLike[str],
    name: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    schedule: Any = None,
    trainer_state: dict[str, Any] | None = None,
) -> Path:
    """Save ``run_dir/checkpoints/<name>/`` atomically; return its path.

    The files are written into ``.<name>.tmp-XXXX/`` and each fsync'd, then that directory;
    one rename swaps it with the existing ``<name>`` (Linux ``RENAME_EXCHANGE``; elsewhere the
    old one first steps aside to ``.<name>.prev``), the checkpoints directory is fsync'd and the
    old files are deleted. A kill at any moment leaves the old or the new checkpoint complete
    (:func:`load_checkpoint` finds it). One writer per run dir.
    """
    from safetensors.torch import save_model

    if not name or "/" in name or name.startswith("."):
        raise ConfigError(f"checkpoint name {name!r} must be a plain, non-hidden directory name")
    directory = Path(run_dir) / "checkpoints" / name
    directory.parent.mkdir(parents=True, exist_ok=True)
    _recover(directory)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{name}.tmp-"))
    try:
        # the directory is hidden until renamed, so its files need no temporary names of their
        # own: written and fsync'd in place, then the directory entries once
        save_model(model, str(tmp / "model.safetensors"))
        _fsync_file(tmp / "model.safetensors")
        if optimizer is not None:
            _write_synced(tmp / "optimizer.pt", _torch_bytes(optimizer.state_dict()))
        if schedule is not None:
            _write_synced(tmp / "schedule.pt", _torch_bytes(schedule.state_dict()))
        _write_synced(tmp / "trainer.pt", _torch_bytes(dict(trainer_state or {})))
        _fsync_dir(tmp)
        if not directory.exists():
            os.replace(tmp, directory)
            old = None
        elif _exchange(tmp, directory):
            old = tmp  # now holds the previous checkpoint
        else:
            os.replace(directory, _previous(directory))
            os.replace(tmp, directory)
            old = _previous(directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _recover(directory)  # the old checkpoint back in place if it had stepped aside
        raise
    _fsync_dir(directory.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return directory


def _load_pt(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(
            f"cannot read {path} ({type(exc).__name__}: {exc}); the file is "
            "corrupt or not a seqzoo checkpoint"
        ) from exc


def load_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    schedule: Any = None,
) -> dict[str, Any]:
    """Load a checkpoint directory (or a run directory: its ``last``) into ``model`` (strict)
    and, when given and saved, ``optimizer`` and ``schedule``; return the trainer state.

    Raises :class:`WeightsError` when the weights are missing, corrupt or do not fit.
    """
    from safetensors.torch import load_model

    path = Path(path)
    found = checkpoint_path(path, "last") if (path / "checkpoints").is_dir() else None
    # a ``.prev`` is whole: a kill mid-replacement left the old checkpoint standing aside
    candidates = (c for c in (path, _previous(path)) if (c / "model.safetensors").is_file())
    found = found or next(candidates, None)
    if found is None:
        raise WeightsError(
            f"no checkpoint at {path}: expected a directory with "
            "model.safetensors (or a run directory with checkpoints/last)"
        )
    weights = found / "model.safetensors"
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        load_model(model, weights, strict=True, device=str(device))
    except Exception as exc:
        raise WeightsError(
            f"cannot load {weights} into {type(model).__name__} ({type(exc).__name__}: {exc})"
        ) from exc
    if optimizer is not None and (found / "optimizer.pt").is_file():
        optimizer.load_state_dict(_load_pt(found / "optimizer.pt"))
    if schedule is not None and (found / "schedule.pt").is_file():
        schedule.load_state_dict(_load_pt(found / "schedule.pt"))
    state = _load_pt(found / "trainer.pt") if (found / "trainer.pt").is_file() else {}
    return dict(state, checkpoint=str(found))


# -- logs, plots, progress -------------------------------------------------------------------


def _cell(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def write_history(run_dir: str | os.PathLike[str], history: History) -> None:
    """Write ``history.json`` and ``metrics.csv`` (one row per epoch), each atomically."""
    run_dir = Path(run_dir)
    text = json.dumps(history.to_dict(), indent=2, allow_nan=True)
    atomic_write(run_dir / "history.json", text + "\n", sync_dir=False)  # one for both files
    metrics = sorted({name for row in history.rows for name in row.metrics})
    header = ["epoch", "train_loss", "val_loss", "lr", "seconds", *metrics]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in history.rows:
        writer.writerow([row.epoch, *(_cell(row.get(name)) for name in header[1:])])
    atomic_write(run_dir / "metrics.csv", out.getvalue())


def plot_loss(history: History, path: str | os.PathLike[str]) -> Path | None:
    """Draw train vs validation loss per epoch to a PNG (Agg canvas: no display, no global
    backend change); None when there are no epochs."""
    if not history.rows:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    epochs = [row.epoch for row in history.rows]
    axes.plot(epochs, history.train_loss, marker="o", label="train")
    validation = [(e, v) for e, v in zip(epochs, history.val_loss, strict=True) if v is not None]
    if validation:
        axes.plot(*zip(*validation, strict=True), marker="o", label="validation")
    if history.result.best_epoch is not None:
        axes.axvline(history.result.best_epoch, color="grey", linestyle=":", label="best")
    finite = [v for v in history.train_loss if math.isfinite(v) and v > 0]
    if finite and max(finite) / min(finite) > 100:
        axes.set_yscale("log")  # losses often fall by orders of magnitude
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss")
    axes.legend(loc="upper right")  # losses fall: that corner is free (and no "best" search)
    # fixed margins: tight_layout would render the figure an extra time to measure it
    figure.subplots_adjust(left=0.13, right=0.97, bottom=0.12, top=0.96)
    return atomic_write(path, lambda p: figure.savefig(p, format="png"))


def progress_bar(total: int, desc: str, quiet: bool = False) -> Any:
    """A tqdm bar over ``total`` batches, or None when ``quiet`` or stderr is not a terminal
    (callers test for None, so a disabled bar costs nothing per batch)."""
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, unit="batch", dynamic_ncols=True)
