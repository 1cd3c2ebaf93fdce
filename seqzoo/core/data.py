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
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .errors import ConfigError

__all__ = [
    "TASKS",
    "Preprocessing",
    "SequenceData",
    "Split",
    "chronological_split",
    "sliding_windows",
]

TASKS = ("forecast", "regression", "classification", "language-model")


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

    def to(self, device: torch.device | str) -> Split:
        """This split on ``device`` (one copy of each tensor, not per batch)."""
        return Split(
            self.inputs.to(device),
            self.targets.to(device),
            self.lengths.to(device) if self.lengths is not None else None,
        )


@dataclass
class Preprocessing:
    """What turns raw data into model inputs and model outputs back into raw units.

    Scalers are scikit-learn ``StandardScaler``\\ s fit on the training split only;
    ``to_dict`` / ``from_dict`` give plain JSON (for ``config.json``), so no pickle is needed.
    """

    input_scaler: Any = None  # sklearn StandardScaler over the input features
    target_scaler: Any = None  # sklearn StandardScaler over the target column(s)
    tokenizer: Any = None  # tokenizers.Tokenizer for text
    window: int | None = None
    horizon: int | None = None
    feature_names: list[str] = field(default_factory=list)
    target_names: list[str] = field(default_factory=list)

    def scale_inputs(self, x: np.ndarray) -> np.ndarray:
        """Raw ``(..., features)`` -> model units."""
        if self.input_scaler is None:
            return x
        shape = x.shape
        return self.input_scaler.transform(x.reshape(-1, shape[-1])).reshape(shape)

    def unscale_targets(self, y: np.ndarray | Tensor) -> np.ndarray:
        """Model outputs ``(..., targets)`` -> raw units."""
        y = y.detach().cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)
        if self.target_scaler is None:
            return y
        count = len(self.target_scaler.scale_)
        shape = y.shape
        return self.target_scaler.inverse_transform(y.reshape(-1, count)).reshape(shape)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (scaler means and scales; the tokenizer is saved separately)."""

        def scaler(s: Any) -> dict[str, list[float]] | None:
            if s is None:
                return None
            return {"mean": s.mean_.tolist(), "scale": s.scale_.tolist()}

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
        from sklearn.preprocessing import StandardScaler

        def scaler(d: dict[str, list[float]] | None) -> Any:
            if d is None:
                return None
            s = StandardScaler()
            s.mean_ = np.asarray(d["mean"], dtype=np.float64)
            s.scale_ = np.asarray(d["scale"], dtype=np.float64)
            s.var_ = s.scale_**2
            s.n_features_in_ = len(s.mean_)
            return s

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
            if self.task == "classification":
                config.update(output_size=self.output_size, output="last")
            return config
        output = "sequence" if self.task == "language-model" else "last"
        return {"input_size": self.input_size, "output_size": self.output_size, "output": output}


def sliding_windows(series: Tensor, window: int, horizon: int = 1, step: int = 1) -> Tensor:
    """Zero-copy windows of ``window + horizon`` steps over a ``(time, columns)`` series.

    Returns a view ``(count, window + horizon, columns)``; slice ``[:, :window]`` for inputs
    and ``[:, window:]`` for targets. Raises :class:`ConfigError` when the series is shorter
    than one window.
    """
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
