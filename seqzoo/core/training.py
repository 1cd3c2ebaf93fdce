"""The trainer toolkit any trainer plugin can reuse, under one import: history, losses,
checkpoints, seeding, logs. Each part lives in the module named for it, and every name is
importable from here too (``from seqzoo.core.training import save_checkpoint``):

- :mod:`seqzoo.core.training_errors`: :class:`NonFiniteLossError`, :class:`TrainingInterrupted`
- :mod:`seqzoo.core.tasks` / :mod:`seqzoo.core.losses`: the task table, :func:`loss_for`
- :mod:`seqzoo.core.steps`: :func:`forward_fn`, :func:`model_forward`, :func:`schedule_interval`
- :mod:`seqzoo.core.rng`: :func:`seed_everything`, :func:`capture_rng`, :func:`restore_rng`
- :mod:`seqzoo.core.checkpoints`: :func:`save_checkpoint`, :func:`load_checkpoint`,
  :func:`checkpoint_path`, :func:`run_checkpoint`, :func:`load_weights`
- :mod:`seqzoo.core.history`: :class:`History`, :func:`write_history`, :func:`plot_loss`,
  :func:`progress_bar`
- :mod:`seqzoo.core.files`: the atomic writes behind all of them (:func:`atomic_write` here)

What stays in this module: :func:`atomic_write` (a file written all or nothing, its folder made
first) and the reader of older seqzoo checkpoints' pickle files, the package's one unpickling
call, kept in this one audited place.

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

import os
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from . import checkpoints, history, losses, rng, steps, training_errors
from . import files as _files
from .checkpoints import (
    CHECKPOINT_FILES,
    STATE_FORMAT,
    checkpoint_path,
    load_checkpoint,
    load_weights,
    run_checkpoint,
    save_checkpoint,
)
from .errors import WeightsError
from .files import fsync_count, replace_file
from .history import EpochRow, History, TrainingResult, plot_loss, progress_bar, write_history
from .losses import loss_for
from .rng import capture_rng, restore_rng, seed_everything
from .steps import forward_fn, model_forward, schedule_interval
from .training_errors import NonFiniteLossError, TrainingInterrupted

__all__ = [
    "ALLOW_PICKLE_ENV",
    "CHECKPOINT_FILES",
    "LEGACY_FILES",
    "STATE_FORMAT",
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
    "pickle_allowed",
    "plot_loss",
    "progress_bar",
    "restore_rng",
    "run_checkpoint",
    "save_checkpoint",
    "schedule_interval",
    "seed_everything",
    "write_history",
]

# private names that older code and tests reach here (see _Toolkit at the end)
_RENAMEAT2 = checkpoints._RENAMEAT2
_read_state = checkpoints._read_state

#: The pickle files of checkpoints saved by older seqzoo versions (read only on request).
LEGACY_FILES = ("optimizer.pt", "schedule.pt", "trainer.pt")

#: Set to 1 to read :data:`LEGACY_FILES` (torch's restricted unpickler, still a pickle).
ALLOW_PICKLE_ENV = "SEQZOO_ALLOW_PICKLE"


def atomic_write(
    path: str | os.PathLike[str],
    write: Callable[[Path], object] | bytes | str,
    *,
    sync_dir: bool = True,
) -> Path:
    """Write ``path`` all or nothing (:func:`seqzoo.core.files.replace_file`), making its
    folder first: ``write(tmp)`` (or the bytes / text given) fills a temporary file in the
    same folder, which is fsync'd and then ``os.replace``'d. ``sync_dir=False`` leaves the
    folder's fsync to the caller (one for several files). An OSError is raised as it is."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return replace_file(path, write, sync_dir=sync_dir)


# -- checkpoints of older seqzoo versions ----------------------------------------------------


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


def pickle_allowed() -> bool:
    """Whether ``SEQZOO_ALLOW_PICKLE=1`` opts in to reading older pickle checkpoint files."""
    return os.environ.get(ALLOW_PICKLE_ENV, "").strip().lower() in ("1", "true", "yes")


# -- the old import place stays the place to patch ---------------------------------------------

#: Where each name re-exported here is defined (the private ones that tests and older code set).
_HOMES: dict[str, types.ModuleType] = {
    name: module
    for module in (checkpoints, _files, history, losses, rng, steps, training_errors)
    for name in module.__all__
    if name in __all__
}
_HOMES.update(_RENAMEAT2=checkpoints, _read_state=checkpoints)


class _Toolkit(types.ModuleType):
    """This module, whose names moved to modules of their own: setting one of them here
    (``monkeypatch.setattr(training, "save_checkpoint", ...)``) sets it in its home too, so
    code that patches the old place reaches the functions that use it, as before the move."""

    def __setattr__(self, name: str, value: Any) -> None:
        home = _HOMES.get(name)
        if home is not None:
            setattr(home, name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Toolkit
