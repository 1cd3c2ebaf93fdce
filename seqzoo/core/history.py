"""A run's history (one :class:`EpochRow` per epoch and the :class:`TrainingResult`
summary), its files (``history.json``, ``metrics.csv``, ``loss.png``, each written all or
nothing by :func:`seqzoo.core.files.replace_file`) and the batch progress bar. Re-exported by
:mod:`seqzoo.core.training`."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .files import replace_file

__all__ = [
    "EpochRow",
    "History",
    "TrainingResult",
    "plot_loss",
    "progress_bar",
    "write_history",
]


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


# -- logs, plots, progress -------------------------------------------------------------------


def _cell(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def write_history(run_dir: str | os.PathLike[str], history: History) -> None:
    """Write ``history.json`` and ``metrics.csv`` (one row per epoch), each atomically."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(history.to_dict(), indent=2, allow_nan=True)
    replace_file(run_dir / "history.json", text + "\n", sync_dir=False)  # one for both files
    metrics = sorted({name for row in history.rows for name in row.metrics})
    header = ["epoch", "train_loss", "val_loss", "lr", "seconds", *metrics]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in history.rows:
        writer.writerow([row.epoch, *(_cell(row.get(name)) for name in header[1:])])
    replace_file(run_dir / "metrics.csv", out.getvalue())


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
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return replace_file(path, lambda p: figure.savefig(p, format="png"))


def progress_bar(total: int, desc: str, quiet: bool = False, initial: int = 0) -> Any:
    """A tqdm bar over ``total`` batches (``initial`` done already: a resumed epoch), or None
    when ``quiet`` or stderr is not a terminal (callers test for None, so a disabled bar costs
    nothing per batch). ``leave=False``: a closed bar clears its line, so what is printed next
    (an epoch line, an interrupt's message) starts on a line of its own."""
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm.auto import tqdm

    return tqdm(
        total=total, desc=desc, initial=initial, leave=False, unit="batch", dynamic_ncols=True
    )
