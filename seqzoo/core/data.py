"""Sequence data: splits, windows, batches and the preprocessing that travels with a model.

A dataset factory returns a :class:`SequenceData`: train / validation / test :class:`Split`\\ s
of ready tensors, the task, sizes and units, and its :class:`Preprocessing` (scalers fit on the
training split only, or a tokenizer), so predictions come back in raw units.

Shapes by task (``N`` samples):

- ``forecast``: inputs ``(N, window, features)`` float; targets ``(N, horizon * targets)``.
- ``regression``: inputs ``(N, 1, features)`` float (one row is a length-1 sequence);
  targets ``(N, targets)``.
- ``classification``: inputs ``(N, time)`` int64 ids (``lengths`` ``(N,)``) or
  ``(N, time, features)`` float; targets ``(N,)`` int64 class indices.
- ``language-model``: inputs ``(N, time)`` int64 ids; targets ``(N, time)`` the next ids.

Time series become windows through zero-copy views (:func:`sliding_windows`), and batches
are cut by indexing whole tensors (:meth:`Split.batches`), never by per-sample Python calls.
Forecast inputs overlap in memory, so treat split tensors as read-only.

Builders for dataset factories: :func:`forecast_data` (a raw series -> leak-free scaled
windows), :func:`tabular_data` (rows -> length-1 sequences), :func:`random_split`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .errors import ConfigError, ShapeError
from .scaling import StandardScaler
from .tasks import TASKS as TASK_ROWS

__all__ = [
    "TASKS",
    "Preprocessing",
    "SequenceData",
    "Split",
    "StandardScaler",
    "chronological_split",
    "forecast_data",
    "random_split",
    "require_int",
    "sliding_windows",
    "tabular_data",
]

#: The task names (their rows: :data:`seqzoo.core.tasks.TASKS`).
TASKS = tuple(TASK_ROWS)


@dataclass
class Split:
    """One split: ``inputs[i]`` is sample i, ``targets[i]`` its target (shapes: module doc)."""

    inputs: Tensor
    targets: Tensor
    lengths: Tensor | None = None  # true lengths of padded id sequences

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> Iterator[tuple[Tensor, Tensor, Tensor | None]]:
        """Yield ``(inputs, targets, lengths)`` batches cut by indexing whole tensors."""
        require_int(batch_size, "batch_size")
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else None
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            if order is None:
                index: slice | Tensor = slice(start, min(start + batch_size, n))
            else:
                index = order[start : start + batch_size]
            lengths = self.lengths[index] if self.lengths is not None else None
            yield self.inputs[index], self.targets[index], lengths

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> Split:
        """This split on ``device`` (one copy of each tensor, not per batch); floating inputs
        and targets are cast to ``dtype`` when given (a model's parameter dtype)."""

        def move(t: Tensor) -> Tensor:
            if dtype is not None and t.is_floating_point():
                return t.to(device=device, dtype=dtype)
            return t.to(device)

        return Split(
            move(self.inputs),
            move(self.targets),
            self.lengths.to(device) if self.lengths is not None else None,
        )


@dataclass
class Preprocessing:
    """What turns raw data into model inputs and model outputs back into raw units.

    Scalers are :class:`~seqzoo.core.scaling.StandardScaler`\\ s fit on the training split
    only (any object with fitted ``mean_`` and ``scale_``, such as scikit-learn's, is taken
    as one); ``to_dict`` / ``from_dict`` give plain JSON (for ``config.json``), so no pickle
    is needed.
    """

    input_scaler: StandardScaler | None = None  # over the input features
    target_scaler: StandardScaler | None = None  # over the target column(s)
    tokenizer: Any = None  # tokenizers.Tokenizer for text
    window: int | None = None
    horizon: int | None = None
    feature_names: list[str] = field(default_factory=list)
    target_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.input_scaler = StandardScaler.of(self.input_scaler)
        self.target_scaler = StandardScaler.of(self.target_scaler)

    def scale_inputs(self, x: np.ndarray) -> np.ndarray:
        """Raw ``(..., features)`` -> model units."""
        if self.input_scaler is None:
            return x
        shape = np.shape(x)
        return self.input_scaler.transform(np.reshape(x, (-1, shape[-1]))).reshape(shape)

    def unscale_targets(self, y: np.ndarray | Tensor) -> np.ndarray:
        """Model outputs ``(..., targets)`` -> raw units (``targets`` may be folded into the
        last axis, as ``(N, horizon * targets)``)."""
        y = y.detach().cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)
        if self.target_scaler is None:
            return y
        count = self.target_scaler.n_features_in_
        shape = y.shape
        return self.target_scaler.inverse_transform(y.reshape(-1, count)).reshape(shape)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (scaler means and scales; the tokenizer is saved separately)."""

        def scaler(s: StandardScaler | None) -> dict[str, list[float]] | None:
            return None if s is None else StandardScaler.of(s).to_dict()  # type: ignore[union-attr]  # of() is None only for None

        return {
            "input_scaler": scaler(self.input_scaler),
            "target_scaler": scaler(self.target_scaler),
            "window": self.window,
            "horizon": self.horizon,
            "feature_names": list(self.feature_names),
            "target_names": list(self.target_names),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], tokenizer: Any = None) -> Preprocessing:
        """What :meth:`to_dict` wrote (plus the tokenizer, read from its own file)."""

        def scaler(d: Mapping[str, Any] | None) -> StandardScaler | None:
            return None if d is None else StandardScaler.from_dict(d)

        return cls(
            input_scaler=scaler(data.get("input_scaler")),
            target_scaler=scaler(data.get("target_scaler")),
            tokenizer=tokenizer,
            window=data.get("window"),
            horizon=data.get("horizon"),
            feature_names=list(data.get("feature_names") or []),
            target_names=list(data.get("target_names") or []),
        )


@dataclass
class SequenceData:
    """A dataset ready for training: three splits plus what describes them.

    ``input_size`` is the feature count (``None`` for token ids, see ``vocab_size``);
    ``output_size`` what a model must emit per sample (or per step for language models);
    ``season`` the period for a seasonal-naive baseline (``None`` when not seasonal);
    ``series`` the whole raw series ``(time, columns)`` for forecasting past its end.
    """

    name: str
    task: str
    train: Split
    validation: Split
    test: Split
    input_size: int | None
    output_size: int
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    vocab_size: int | None = None
    units: str | None = None
    season: int | None = None
    series: np.ndarray | None = None
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {TASKS}, got {self.task!r}", field="task")

    @property
    def input_kind(self) -> str:
        return "ids" if self.vocab_size is not None and self.input_size is None else "real"

    def model_config(self) -> dict[str, Any]:
        """Config a built-in model needs to fit this data (sizes and output mode)."""
        if self.input_kind == "ids":
            config: dict[str, Any] = {"vocab_size": self.vocab_size}
            if TASK_ROWS[self.task].scoring == "classes":  # else the vocabulary is the output
                config.update(output_size=self.output_size, output="last")
            return config
        output = TASK_ROWS[self.task].output
        return {"input_size": self.input_size, "output_size": self.output_size, "output": output}


def sliding_windows(series: Tensor, window: int, horizon: int = 1, step: int = 1) -> Tensor:
    """Zero-copy windows of ``window + horizon`` steps over a ``(time, columns)`` series.

    Returns a view ``(count, window + horizon, columns)``; slice ``[:, :window]`` for inputs
    and ``[:, window:]`` for targets. Raises :class:`ConfigError` when the series is shorter
    than one window.
    """
    require_int(window, "window")
    require_int(horizon, "horizon", minimum=0)
    require_int(step, "step")
    if series.dim() != 2:
        raise ShapeError(
            f"sliding_windows takes a (time, columns) series, got shape {tuple(series.shape)}; "
            "use series.unsqueeze(-1) for one column"
        )
    span = window + horizon
    if series.shape[0] < span:
        raise ConfigError(
            f"the series has {series.shape[0]} time steps, fewer than one window of "
            f"{window} + horizon {horizon} = {span}; use a smaller window or more data",
            field="window",
        )
    return series.unfold(0, span, step).transpose(1, 2)


def chronological_split(
    length: int, validation: float = 0.15, test: float = 0.15
) -> tuple[slice, slice, slice]:
    """Train / validation / test index ranges in time order (no shuffling across time)."""
    if not (0 <= validation < 1 and 0 <= test < 1 and validation + test < 1):
        raise ConfigError(
            f"validation ({validation}) and test ({test}) fractions must be in [0, 1) and sum "
            "below 1"
        )
    n_test = round(length * test)
    n_validation = round(length * validation)
    n_train = length - n_test - n_validation
    return (
        slice(0, n_train),
        slice(n_train, n_train + n_validation),
        slice(n_train + n_validation, length),
    )


def require_int(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` if it is an int (not a bool) of at least ``minimum``, else :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"must be an integer >= {minimum}, got {value!r}", field=name)
    return int(value)


def random_split(
    length: int, validation: float = 0.15, test: float = 0.15, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    """Seeded shuffled train / validation / test index tensors (int64), sized as
    :func:`chronological_split` sizes them; for samples with no order in time."""
    train, validation_range, test_range = chronological_split(length, validation, test)
    order = torch.randperm(length, generator=torch.Generator().manual_seed(int(seed)))
    return order[train], order[validation_range], order[test_range]


def _first_non_finite(values: np.ndarray, columns: Sequence[str], source: str) -> None:
    """ConfigError naming the column and (0-based) row of the first NaN or infinity."""
    bad = ~np.isfinite(values)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        raise ConfigError(
            f"{source}: column {columns[column]!r} holds {values[row, column]} at row {row} "
            "(0-based); fill or interpolate missing values first",
            field=columns[column],
        )


def forecast_data(
    name: str,
    series: np.ndarray,
    *,
    window: int,
    horizon: int = 1,
    targets: int = 1,
    columns: Sequence[str] | None = None,
    validation: float = 0.15,
    test: float = 0.15,
    season: int | None = None,
    units: str | None = None,
    description: str = "",
    metadata: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> SequenceData:
    """A forecasting dataset from a raw ``(time, columns)`` series whose last ``targets``
    columns are the targets (every column is an input).

    The time axis is split chronologically first, a :class:`StandardScaler` is fit on the
    training range only, and each range is windowed on its own with :func:`sliding_windows`, so
    no window crosses a split boundary. Inputs ``(N, window, columns)`` float32 are views of one
    scaled copy of the series; targets ``(N, horizon * targets)`` hold, step by step, the next
    ``horizon`` rows of the target columns (the layout ``unscale_targets`` expects). A split
    whose fraction is 0 is empty; one shorter than ``window + horizon`` steps is a
    :class:`ConfigError`. ``metadata["split"]`` gives each split's ``[start, stop)`` rows of
    ``series``.
    """
    window = require_int(window, "window")
    horizon = require_int(horizon, "horizon")
    source = source or name
    raw = np.asarray(series, dtype=np.float64)
    if raw.ndim == 1:
        raw = raw[:, None]
    if raw.ndim != 2:
        raise ShapeError(f"{source}: a series is (time, columns), got shape {raw.shape}")
    count = raw.shape[1]
    names = list(columns) if columns is not None else [f"x{i}" for i in range(count)]
    if len(names) != count:
        raise ConfigError(f"{source}: {len(names)} column names for {count} columns")
    targets = require_int(targets, "targets")
    if targets > count:
        raise ConfigError(f"{source}: {targets} target columns but only {count} columns")
    _first_non_finite(raw, names, source)

    parts = chronological_split(len(raw), validation, test)
    ranges = dict(zip(("train", "validation", "test"), parts, strict=True))
    span = window + horizon
    for part, rows in ranges.items():
        size = rows.stop - rows.start
        if (size > 0 or part == "train") and size < span:
            raise ConfigError(
                f"{source}: the {part} part has {size} of {len(raw)} time steps, fewer than one "
                f"window {window} + horizon {horizon} = {span}; use a smaller window or "
                f"horizon, a larger {part} fraction, or a longer series",
                field="window",
            )

    input_scaler = StandardScaler().fit(raw[ranges["train"]])
    target_scaler = input_scaler.columns(slice(count - targets, count))
    # one scaled float32 copy; every split's inputs are zero-copy windows into it
    scaled = torch.from_numpy(input_scaler.transform(raw).astype(np.float32))

    def split(rows: slice) -> Split:
        if rows.stop == rows.start:
            return Split(
                scaled.new_empty((0, window, count)), scaled.new_empty((0, horizon * targets))
            )
        windows = sliding_windows(scaled[rows], window, horizon)
        future = windows[:, window:, count - targets :]
        return Split(windows[:, :window], future.reshape(len(windows), horizon * targets))

    return SequenceData(
        name=name,
        task="forecast",
        train=split(ranges["train"]),
        validation=split(ranges["validation"]),
        test=split(ranges["test"]),
        input_size=count,
        output_size=horizon * targets,
        preprocessing=Preprocessing(
            input_scaler=input_scaler,
            target_scaler=target_scaler,
            window=window,
            horizon=horizon,
            feature_names=names,
            target_names=names[count - targets :],
        ),
        units=units,
        season=season,
        series=raw,
        description=description,
        metadata={
            **(metadata or {}),
            "split": {part: [rows.start, rows.stop] for part, rows in ranges.items()},
        },
    )


def tabular_data(
    name: str,
    features: np.ndarray,
    targets: np.ndarray,
    *,
    scale: bool = True,
    seed: int = 0,
    validation: float = 0.15,
    test: float = 0.15,
    feature_names: Sequence[str] | None = None,
    target_names: Sequence[str] | None = None,
    units: str | None = None,
    description: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> SequenceData:
    """A regression dataset from rows: ``features`` ``(N, F)`` and ``targets`` ``(N,)`` or
    ``(N, T)``, split at random (seeded); each row becomes a length-1 sequence.

    Inputs ``(N, 1, F)`` and targets ``(N, T)`` float32; with ``scale`` both are standardized
    by scalers fit on the training rows only (``scale=False`` leaves raw units, no scalers).
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    y = y[:, None] if y.ndim == 1 else y
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise ShapeError(f"{name}: features (N, F) and targets (N, T), got {x.shape} and {y.shape}")
    fnames = (
        list(feature_names) if feature_names is not None else [f"x{i}" for i in range(x.shape[1])]
    )
    tnames = (
        list(target_names) if target_names is not None else [f"y{i}" for i in range(y.shape[1])]
    )
    _first_non_finite(x, fnames, name)
    _first_non_finite(y, tnames, name)
    train, validation_index, test_index = random_split(len(x), validation, test, seed)
    if len(train) == 0:
        raise ConfigError(f"{name}: no training rows out of {len(x)}; use more samples")
    input_scaler = target_scaler = None
    if scale:
        input_scaler = StandardScaler().fit(x[train.numpy()])
        target_scaler = StandardScaler().fit(y[train.numpy()])
        x, y = input_scaler.transform(x), target_scaler.transform(y)
    inputs = torch.from_numpy(x.astype(np.float32)).unsqueeze(1)
    outputs = torch.from_numpy(y.astype(np.float32))
    return SequenceData(
        name=name,
        task="regression",
        train=Split(inputs[train], outputs[train]),
        validation=Split(inputs[validation_index], outputs[validation_index]),
        test=Split(inputs[test_index], outputs[test_index]),
        input_size=x.shape[1],
        output_size=y.shape[1],
        preprocessing=Preprocessing(
            input_scaler=input_scaler,
            target_scaler=target_scaler,
            feature_names=fnames,
            target_names=tnames,
        ),
        units=units,
        description=description,
        metadata=dict(metadata or {}),
    )
