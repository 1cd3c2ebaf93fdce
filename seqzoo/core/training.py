"""Trainer machinery any trainer plugin can reuse: history, losses, checkpoints, seeding, logs.

A run directory holds::

    run_dir/
      checkpoints/last/     model.safetensors, state.json, state.safetensors
      checkpoints/best/     model.safetensors, state.json (best weights by the monitor)
      checkpoints/epoch-0003/  (as last; with checkpoint_every)
      history.json          {"rows": [...], "result": {...}}
      metrics.csv           one row per epoch
      loss.png              train vs validation loss (written at the end)

Each file is written to a temporary file, fsync'd and ``os.replace``'d; a checkpoint directory is
filled under a hidden name (its files fsync'd, then the directory) and swapped into place by one
rename, so a crash at any moment leaves the old or the new checkpoint complete
(:func:`save_checkpoint`). No checkpoint file is a pickle: the weights are safetensors, and the
optimizer, schedule and trainer state are ``state.json`` with their tensors in
``state.safetensors`` (:mod:`seqzoo.core.state`). Checkpoints of older seqzoo versions
(``optimizer.pt``, ``schedule.pt``, ``trainer.pt``) are read only with ``SEQZOO_ALLOW_PICKLE=1``.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import random
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import ConfigError, Interrupted, SeqzooError, WeightsError
from .history import (  # re-exported: trainers import them from here
    EpochRow,
    History,
    TrainingResult,
    plot_loss,
    progress_bar,
    write_history,
)
from .state import decode, encode

__all__ = [
    "CHECKPOINT_FILES",
    "LEGACY_FILES",
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
    "load_weights",
    "loss_for",
    "model_forward",
    "plot_loss",
    "progress_bar",
    "restore_rng",
    "run_checkpoint",
    "save_checkpoint",
    "schedule_interval",
    "seed_everything",
    "write_history",
]

#: What a checkpoint directory may hold (only ``model.safetensors`` is required).
CHECKPOINT_FILES = ("model.safetensors", "state.json", "state.safetensors")

#: The pickle files of checkpoints saved by older seqzoo versions (read only on request).
LEGACY_FILES = ("optimizer.pt", "schedule.pt", "trainer.pt")

#: The version of ``state.json``'s layout.
STATE_FORMAT = 1

#: Set to 1 to read :data:`LEGACY_FILES` (torch's restricted unpickler, still a pickle).
ALLOW_PICKLE_ENV = "SEQZOO_ALLOW_PICKLE"


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
    is the interrupted epoch and ``batch`` the batches of it already trained; ``exact`` says
    whether the checkpoint holds that very position (a resume then continues as if training
    had never stopped) or only the last save before it (``last`` could not be brought to a
    batch boundary: the interrupt fell inside an optimizer step). ``history`` holds the
    completed epochs."""

    def __init__(
        self,
        epoch: int,
        checkpoint: Path | None,
        history: History,
        *,
        batch: int = 0,
        exact: bool = True,
        run_dir: Path | None = None,
    ) -> None:
        self.epoch, self.checkpoint, self.history = epoch, checkpoint, history
        self.batch, self.exact = batch, exact
        self.run_dir = (
            run_dir if run_dir is not None or checkpoint is None else checkpoint.parents[1]
        )
        where = f"training interrupted in epoch {epoch} after {batch} batch(es)"
        again = (
            f"Continue it with\n  seqzoo train --resume {self.run_dir}\n"
            f"(Python: seqzoo.train(resume={str(self.run_dir)!r}))"
        )
        if self.run_dir is None:
            message = f"{where} (no run directory: nothing was saved)"
        elif exact:
            message = f"{where}; that exact state is saved in {checkpoint}. {again}"
        elif checkpoint is not None:
            message = (
                f"{where}, inside an optimizer step, which is no whole state to save; "
                f"{checkpoint} keeps the last save before it. {again}"
            )
        else:
            message = (
                f"{where}, inside an optimizer step, before anything was saved; start the "
                f"run again with --overwrite (overwrite=True in Python)"
            )
        super().__init__(message)


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
    """Every random state a run consumes, as plain tensors and lists (what a checkpoint's
    ``state.json`` + ``state.safetensors`` hold)."""
    # the legacy (default) form: ("MT19937", keys, pos, has_gauss, cached_gaussian)
    legacy = cast("tuple[str, np.ndarray, int, int, float]", np.random.get_state())
    _, keys, pos, has_gauss, cached = legacy
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
        _write_state(tmp, optimizer, schedule, trainer_state)
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


def _write_state(
    directory: Path, optimizer: Any, schedule: Any, trainer_state: dict[str, Any] | None
) -> None:
    """``state.json`` (and ``state.safetensors`` when there are tensors) of a checkpoint."""
    from safetensors.torch import save

    state: dict[str, Any] = {"format": STATE_FORMAT, "trainer": dict(trainer_state or {})}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    if schedule is not None:
        state["schedule"] = schedule.state_dict()
    document, tensors = encode(state)
    if tensors:
        _write_synced(directory / "state.safetensors", save(tensors))
    text = json.dumps(document, allow_nan=False, separators=(",", ":"))
    _write_synced(directory / "state.json", text.encode("utf-8"))


def _read_state(directory: Path) -> dict[str, Any]:
    """The decoded ``state.json`` of a checkpoint (``{}`` when it has none)."""
    from safetensors.torch import load_file

    path = directory / "state.json"
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        tensors_path = directory / "state.safetensors"
        tensors = load_file(str(tensors_path)) if tensors_path.is_file() else {}
        state = decode(document, tensors, str(path))
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(
            f"cannot read the state of {directory} ({type(exc).__name__}: {exc}); the "
            "checkpoint is corrupt or not a seqzoo checkpoint"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise WeightsError(
            f"{path} is not a seqzoo checkpoint state of format {STATE_FORMAT} (got "
            f"{state.get('format') if isinstance(state, dict) else state!r}); it was written "
            "by another seqzoo version"
        )
    return state


def pickle_allowed() -> bool:
    """Whether ``SEQZOO_ALLOW_PICKLE=1`` opts in to reading older pickle checkpoint files."""
    return os.environ.get(ALLOW_PICKLE_ENV, "").strip().lower() in ("1", "true", "yes")


def _load_legacy(directory: Path, names: list[str]) -> dict[str, Any]:
    """Read an older checkpoint's pickle files (``optimizer.pt``, ...) by ``names``; only with
    the opt-in: a pickle can run arbitrary code while it loads."""
    present = [n for n in names if (directory / f"{n}.pt").is_file()]
    if not present:
        return {}
    files = ", ".join(f"{n}.pt" for n in present)
    if not pickle_allowed():
        raise WeightsError(
            f"{directory} is a checkpoint of an older seqzoo version: its state is in pickle "
            f"files ({files}), which seqzoo does not read by default because unpickling a file "
            f"can run arbitrary code. If you trust it, set {ALLOW_PICKLE_ENV}=1 to read it "
            "once (with torch's restricted weights_only loader); the next save rewrites it as "
            "state.json + state.safetensors"
        )
    state: dict[str, Any] = {}
    for name in present:
        path = directory / f"{name}.pt"
        try:  # guarded: only here, only on request, and only torch's restricted unpickler
            state[name] = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise WeightsError(
                f"cannot read {path} ({type(exc).__name__}: {exc}); the file is "
                "corrupt or not a seqzoo checkpoint"
            ) from exc
    return state


def run_checkpoint(run_dir: str | os.PathLike[str], name: str = "best") -> Path:
    """The checkpoint a reader of a finished run loads: ``checkpoints/<name>``, or the whole
    copy a crash left standing aside as ``.<name>.prev`` (as the trainer recovers it); ``best``
    falls back to ``last`` (a run that never validated). The one lookup ``evaluate``,
    ``predict`` and ``load_run`` share. Raises :class:`WeightsError` naming the run when there
    is none (a run that failed before its first save)."""
    from .files import member_file, member_path

    where = f"run directory {str(run_dir)!r}"
    member_path(run_dir, name, where, "the checkpoint name", kind="run directory")  # no '..'
    names = [name, "last"] if name == "best" else [name]
    for candidate in names:
        found = checkpoint_path(run_dir, candidate)
        if found is not None:  # inside the run, its weights a plain file (no link out, FIFO)
            if not found.resolve().is_relative_to((Path(run_dir) / "checkpoints").resolve()):
                raise WeightsError(f"{where}: checkpoint {found.name} is a link out of the run")
            member_file(found, "model.safetensors", where, "seqzoo", kind="checkpoint")
            return found
    raise WeightsError(
        f"run directory {str(run_dir)!r} has no {' or '.join(names)} checkpoint: its training "
        "stopped before the first save (see its error), so there are no weights to load; "
        "train it again"
    )


def load_weights(run_dir: str | os.PathLike[str], model: nn.Module, name: str = "best") -> Path:
    """Load the weights of :func:`run_checkpoint` into ``model`` (strict; nothing else is read,
    so an older checkpoint's pickle files are never touched); return the checkpoint path."""
    found = run_checkpoint(run_dir, name)
    load_checkpoint(found, model, trainer_state=False)
    return found


def load_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    schedule: Any = None,
    *,
    trainer_state: bool = True,
) -> dict[str, Any]:
    """Load a checkpoint directory (or a run directory: its ``last``) into ``model`` (strict)
    and, when given and saved, ``optimizer`` and ``schedule``; return the trainer state
    (``trainer_state=False``: only the weights are read, and ``{"checkpoint": path}`` returned).

    Raises :class:`WeightsError` when the weights are missing, corrupt or do not fit, and for
    an older checkpoint's pickle state without ``SEQZOO_ALLOW_PICKLE=1``.
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
    wanted = ["trainer"] * trainer_state
    wanted += ["optimizer"] * (optimizer is not None) + ["schedule"] * (schedule is not None)
    from .files import member_file

    legacy = [f"{n}.pt" for n in wanted]
    for member in ("model.safetensors", "state.json", "state.safetensors", *legacy):
        # each a plain file of the checkpoint: a link out or a FIFO is refused, unopened
        member_file(found, member, f"checkpoint {str(found)!r}", "seqzoo", kind="checkpoint")
    # everything is read (and so checked) before anything is loaded into the objects given
    state = _read_state(found) if wanted else {}
    if wanted and not (found / "state.json").is_file():
        state = _load_legacy(found, wanted)
    weights = found / "model.safetensors"
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        load_model(model, weights, strict=True, device=str(device))
    except Exception as exc:
        raise WeightsError(
            f"cannot load {weights} into {type(model).__name__} ({type(exc).__name__}: {exc})"
        ) from exc
    for name, target in (("optimizer", optimizer), ("schedule", schedule)):
        if target is not None and name in state:
            try:
                target.load_state_dict(state[name])
            except (ValueError, KeyError, TypeError, RuntimeError) as exc:
                raise WeightsError(
                    f"cannot load the {name} state of {found} into {type(target).__name__} "
                    f"({type(exc).__name__}: {exc}); resume with the {name} the run was "
                    "started with"
                ) from exc
    trainer = state.get("trainer", {}) if trainer_state else {}
    return dict(trainer, checkpoint=str(found))
