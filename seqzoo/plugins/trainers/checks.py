"""What a built-in trainer checks before it trains: its options (:class:`TrainerOptions`,
each refused with a :class:`~seqzoo.core.errors.ConfigError` naming the field) and, once per
``fit``, the data it is about to feed (:func:`check_splits`; the batch loops then trust it).
A trainer of its own can take the same options by subclassing :class:`TrainerOptions`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, overload

import torch
from torch import Tensor

from seqzoo.core.data import Split
from seqzoo.core.device import resolve_device, resolve_precision, resolve_threads
from seqzoo.core.errors import ConfigError

__all__ = ["TrainerOptions", "check_splits", "text"]


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


class TrainerOptions:
    """The options of the built-in trainers, checked and kept as attributes.

    Options: ``epochs`` (total), ``batch_size``, ``clip`` (max gradient norm, None: off),
    ``patience`` (epochs without improvement of ``monitor`` before stopping, None: off),
    ``monitor`` (``train_loss``, ``val_loss`` or one of the task's ``validation_metrics`` in
    :data:`seqzoo.core.tasks.TASKS`; ``val_accuracy`` is maximized, the rest minimized;
    ``val_*`` falls back to ``train_loss`` without validation data), ``seed``, ``quiet`` (no
    progress bar or epoch lines), ``run_dir`` (None: no files; resuming: the resumed run's),
    ``save_every`` (seconds between saves of ``last``, ``best`` and the history files, checked
    after each epoch; ``"epoch"``: after every epoch; the final epoch is always saved, and
    Ctrl-C saves too, so only a hard kill loses work: at most that long, or one epoch when
    epochs take longer), ``checkpoint_every`` (also keep ``epoch-NNNN`` every that many epochs),
    ``restore_best`` (end with the best weights rather than the last), ``plot`` (draw
    ``loss.png`` at the end; False: matplotlib is never imported), ``device`` (``auto``,
    ``cpu``, ``cuda``, ``cuda:N``, ``mps``), ``precision`` (``32``, ``bf16``, ``16-mixed``),
    ``compile`` (torch.compile the training forward), ``threads`` (torch intra-op threads,
    default 1; None: torch's own setting).
    """

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


def check_splits(dataset: str, splits: dict[str, Split]) -> None:
    """Check the splits a trainer is about to feed, once per fit (the batch loop then trusts
    them): tensors with one target (and length) per sample, float inputs and targets finite.
    A :class:`ConfigError` names the split and the first bad sample."""
    for name, split in splits.items():
        inputs, targets, lengths = split.inputs, split.targets, split.lengths
        if not isinstance(inputs, Tensor) or not isinstance(targets, Tensor):
            raise ConfigError(
                f"dataset {dataset!r}: the {name} split must hold tensors, got inputs of type "
                f"{type(inputs).__name__} and targets of type {type(targets).__name__}"
            )
        counts = {len(inputs), len(targets)} | (set() if lengths is None else {len(lengths)})
        if len(counts) > 1:
            extra = "" if lengths is None else f" and {len(lengths)} lengths"
            raise ConfigError(
                f"dataset {dataset!r}: the {name} split has {len(inputs)} inputs but "
                f"{len(targets)} targets{extra}; give every sample one target"
            )
        for what, values in (("inputs", inputs), ("targets", targets)):
            if values.numel() == 0 or not values.is_floating_point():
                continue
            finite = torch.isfinite(values.reshape(len(values), -1)).all(dim=1)
            if not bool(finite.all()):
                bad = (~finite).nonzero()[:, 0]
                raise ConfigError(
                    f"dataset {dataset!r}: the {name} {what} hold NaN or infinite values in "
                    f"{len(bad)} sample(s), the first at index {int(bad[0])}; the loss would "
                    "not be finite. Fill or drop the missing values before training"
                )


def text(path: Path | None) -> str | None:
    """A path as plain text for JSON (None stays None)."""
    return None if path is None else str(path)
