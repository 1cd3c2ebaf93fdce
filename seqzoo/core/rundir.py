"""Run directories as a whole: which of their files are seqzoo's, whether one already holds a
run, clearing one for ``overwrite``, and the lock that keeps two trainings out of one.

The lock is an OS file lock (``fcntl.flock``) on ``run_dir/.lock``, held for the whole run and
released by the OS however the process ends (a kill included), so a stale lock never blocks a
later run. The holder writes its pid into the file, so a refused run can name it. Locks are
per process and re-entrant: ``seqzoo.train`` and the trainer it calls both take it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from .errors import ConfigError

__all__ = ["LOCK_NAME", "RUN_FILES", "clear_run", "held_run", "lock_run", "run_files"]

LOCK_NAME = ".lock"

#: What a run writes into its directory: ``run.json``, the checkpoints, the history files and
#: plot, the last window ``predict`` reads, and (fine-tuning) the model folder's files.
RUN_FILES = (
    "run.json",
    "checkpoints",
    "history.json",
    "metrics.csv",
    "loss.png",
    "last_window.json",
    "model.safetensors",
    "config.json",
    "README.md",
    "tokenizer.json",
)

_MODEL_FILES = ("model.safetensors", "config.json", "README.md", "tokenizer.json")

#: What makes a directory hold a run (the rest of RUN_FILES only come with these).
_MARKERS = ("run.json", "checkpoints", "history.json")


def run_files(directory: str | os.PathLike[str]) -> list[str]:
    """The names in ``directory`` that mark a run (``run.json``, ``checkpoints``, ...); empty
    when there is none (a missing or empty directory, or one of other files only)."""
    directory = Path(directory)
    return [name for name in _MARKERS if (directory / name).exists()]


def held_run(directory: str | os.PathLike[str], *, overwrite: bool = False) -> None:
    """Refuse to start a new run in ``directory`` when it holds one already (unless
    ``overwrite``): its old checkpoints would sit beside the new run.json."""
    found = run_files(directory)
    if found and not overwrite:
        raise ConfigError(
            f"run directory {str(directory)!r} already holds a run ({', '.join(found)}); "
            f"continue it with `seqzoo train --resume {directory}` (resume= in Python), or "
            "replace it with --overwrite (overwrite=True in Python), or choose another --run-dir"
        )
    if Path(directory).exists() and not Path(directory).is_dir():
        raise ConfigError(f"run directory {str(directory)!r} exists and is not a directory")


def clear_run(directory: str | os.PathLike[str]) -> list[str]:
    """Remove a previous run's files from ``directory`` (only :data:`RUN_FILES`; anything else
    stays, and a fine-tuned model's files only beside its ``config.json``); the names removed."""
    directory = Path(directory)
    removed = []
    model_folder = (directory / "config.json").is_file()
    for name in RUN_FILES:
        if name in _MODEL_FILES and not model_folder:
            continue
        path = directory / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        removed.append(name)
    return removed


_HELD: dict[str, list[int]] = {}  # real path -> [descriptor, depth]


@contextlib.contextmanager
def lock_run(directory: str | os.PathLike[str]) -> Iterator[None]:
    """Hold ``directory``'s run lock for the block (creating the directory); a
    :class:`ConfigError` names the other process when it is held elsewhere."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(directory)
    if key in _HELD:  # this process holds it already (train -> fit)
        _HELD[key][1] += 1
        try:
            yield
        finally:
            _HELD[key][1] -= 1
        return
    try:
        import fcntl
    except ImportError:  # no flock (Windows): unguarded, as before
        yield
        return
    path = directory / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            raise ConfigError(
                f"run directory {str(directory)!r} is in use by another training (pid "
                f"{holder}); wait for it to finish, stop it, or choose another --run-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        _HELD[key] = [fd, 1]
        try:
            yield
        finally:
            del _HELD[key]
            os.ftruncate(fd, 0)  # no pid left behind for a process that has gone
    finally:
        os.close(fd)  # closing the descriptor releases the lock
