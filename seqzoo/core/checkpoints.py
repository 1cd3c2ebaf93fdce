"""Checkpoints of a run: ``run_dir/checkpoints/<name>/`` saved all or nothing, found again after
a crash, and loaded back strictly.

A checkpoint directory holds ``model.safetensors`` (the weights, required), ``state.json`` and,
when there are tensors, ``state.safetensors`` (the optimizer, schedule and trainer state:
:mod:`seqzoo.core.state`; the trainer state carries the random states of
:mod:`seqzoo.core.rng`). No file is a pickle; checkpoints of older seqzoo versions
(``optimizer.pt``, ...) are read only on request (:mod:`seqzoo.core.training`).

A save fills a hidden ``.<name>.tmp-XXXX/`` (its files and then itself fsync'd with
:mod:`seqzoo.core.files`' helpers) and swaps it in by one rename (Linux ``RENAME_EXCHANGE``;
elsewhere the old checkpoint first steps aside to ``.<name>.prev``), so a kill at any moment
leaves the old or the new checkpoint complete, and a reader finds it (:func:`checkpoint_path`).
The layout differs from :func:`seqzoo.core.files.staged_directory`'s on purpose: readers find
a checkpoint without writing (no recovery step), and one save costs one fsync per file, one for
the filled directory and one for ``checkpoints/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import ConfigError, WeightsError
from .files import fsync_directory, fsync_file
from .state import decode, encode

__all__ = [
    "CHECKPOINT_FILES",
    "STATE_FORMAT",
    "checkpoint_path",
    "load_checkpoint",
    "load_weights",
    "run_checkpoint",
    "save_checkpoint",
]

#: What a checkpoint directory may hold (only ``model.safetensors`` is required).
CHECKPOINT_FILES = ("model.safetensors", "state.json", "state.safetensors")

#: The version of ``state.json``'s layout.
STATE_FORMAT = 1


def _write_synced(path: Path, data: bytes) -> None:
    """Write a new file (in a directory nobody reads yet) and fsync it."""
    with open(path, "xb") as handle:
        handle.write(data)
    fsync_file(path)


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


# -- saving and finding ----------------------------------------------------------------------


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
        fsync_file(tmp / "model.safetensors")
        _write_state(tmp, optimizer, schedule, trainer_state)
        fsync_directory(tmp)
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
    fsync_directory(directory.parent)
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
        from .training import _load_legacy  # the one unpickling reader, kept in one place

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
