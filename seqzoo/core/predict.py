"""Inference in the data's own units: multi-step forecasts and text generation.

Both run on trained models with their :class:`~seqzoo.core.data.Preprocessing`, so inputs and
outputs are raw values (or text), never scaled units or token ids.

A forecasting model's folder (a zoo entry, or a training run's directory) also holds
``last_window.json``: the last ``window`` raw rows of its series, so a forecast past the end
of that series needs neither the dataset nor the libraries that build it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import ConfigError, ShapeError, WeightsError
from .validate import finite_number, refuse_reserved

__all__ = [
    "LAST_WINDOW_NAME",
    "PAD_ID",
    "forecast",
    "generate_text",
    "last_window_record",
    "load_run_model",
    "read_last_window",
    "save_run_window",
    "write_last_window",
]

#: The token id text datasets reserve for padding.
PAD_ID = 0
#: The file of a model folder holding the last ``window`` raw rows of its series.
LAST_WINDOW_NAME = "last_window.json"
_FORMAT = "seqzoo.last-window/1"


def _one(
    history: Any, columns: int, window: int, feature_names: list[str], name: Any
) -> np.ndarray:
    """One series as float64 ``(window, columns)``: its last ``window`` rows, checked."""
    if hasattr(history, "detach"):
        history = history.detach().cpu().numpy()
    try:
        array = np.asarray(history, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} holds values that are not numbers", field="history") from None
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != columns:
        raise ShapeError(
            f"{name} must have shape (time, {columns}) (columns {feature_names}); got {array.shape}"
        )
    if array.shape[0] < window:
        raise ConfigError(
            f"{name} has {array.shape[0]} rows; the model needs at least its window of "
            f"{window}: give a longer history, or drop that series",
            field="history",
        )
    tail = array[-window:]
    if not np.isfinite(tail).all():
        raise ConfigError(
            f"{name} has a missing or infinite value among its last {window} rows; this model "
            "takes observed values only: fill or drop them",
            field="history",
        )
    return tail


def _batch(
    history: Any, columns: int, window: int, feature_names: list[str], names: Any
) -> tuple[np.ndarray, bool]:
    """``(windows (series, window, columns), single)``; ``single`` for one series given as a
    1-D ``(time,)`` or 2-D ``(time, columns)`` array."""
    if hasattr(history, "detach"):
        history = history.detach().cpu().numpy()
    many = isinstance(history, (list, tuple)) and any(
        isinstance(item, (list, tuple, np.ndarray)) or hasattr(item, "detach") for item in history
    )
    if isinstance(history, np.ndarray) and history.ndim == 3:
        many = True
    if not many:
        label = "the history" if names is None else str(names[0])
        return _one(history, columns, window, feature_names, label)[None], True
    if len(history) == 0:
        raise ConfigError("the history holds no series; pass at least one", field="history")
    labels = list(names) if names is not None else [f"series {i}" for i in range(len(history))]
    if len(labels) != len(history):
        raise ConfigError(
            f"{len(labels)} names for {len(history)} series; give one per series", field="names"
        )
    tails = [
        _one(item, columns, window, feature_names, label)
        for item, label in zip(history, labels, strict=True)
    ]
    return np.stack(tails), False


@torch.no_grad()
def forecast(
    model: Any,
    preprocessing: Any,
    history: Any,
    steps: int,
    *,
    batch_size: int = 256,
    names: Sequence[Any] | None = None,
) -> np.ndarray:
    """Forecast ``steps`` values past the end of each series in ``history``.

    ``history``: raw values in the columns the model was trained on (inputs: features then
    targets). One series, ``(time,)`` or ``(time, columns)``, gives ``(steps, targets)``; many
    series, a 3-D array ``(series, time, columns)`` or a list of 1-D/2-D arrays of any lengths,
    give ``(series, steps, targets)``. Only each series' last ``window`` rows are read; a
    shorter series is a :class:`ConfigError` naming it (``names``: one label per series, e.g.
    its id). Series are run ``batch_size`` at a time. A model whose horizon is shorter than
    ``steps`` is rolled forward, feeding its forecasts back in; that needs every input column
    to be a target (a univariate or purely autoregressive series).
    """
    window, horizon = preprocessing.window, preprocessing.horizon or 1
    if window is None:
        raise ConfigError("this model was not trained on windows of a series; it cannot forecast")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ConfigError(f"steps must be a whole number, at least 1; got {steps!r}", field="steps")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise ConfigError(
            f"batch_size must be a whole number; got {batch_size!r}", field="batch_size"
        )
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}", field="batch_size")
    columns = len(preprocessing.feature_names) or _width(history)
    targets = len(preprocessing.target_names) or 1
    if steps > horizon and columns != targets:
        raise ConfigError(
            f"the model forecasts {horizon} step(s) and has input columns that are not targets, "
            f"so it cannot roll forward {steps} steps; ask for at most {horizon}",
            field="steps",
        )
    tails, single = _batch(history, columns, window, list(preprocessing.feature_names), names)
    parameter = next(model.parameters())
    scaled = preprocessing.scale_inputs(tails)  # (series, window, columns), elementwise
    out = np.empty((len(tails), steps, targets))
    for start in range(0, len(tails), int(batch_size)):
        out[start : start + batch_size] = _roll(
            model, preprocessing, scaled[start : start + batch_size], steps, horizon, targets,
            parameter,
        )  # fmt: skip
    return out[0] if single else out


def _width(history: Any) -> int:
    """The column count of a history whose model does not record its column names."""
    if isinstance(history, np.ndarray) and history.ndim == 3:
        return int(history.shape[2])
    many = isinstance(history, (list, tuple)) and history and np.ndim(history[0]) >= 1
    shape = np.shape(history[0] if many else history)
    return int(shape[1]) if len(shape) == 2 else 1


def _roll(
    model: Any,
    preprocessing: Any,
    scaled: np.ndarray,
    steps: int,
    horizon: int,
    targets: int,
    parameter: torch.Tensor,
) -> np.ndarray:
    """Scaled windows ``(batch, window, columns)`` -> raw forecasts ``(batch, steps, targets)``."""
    window = scaled.shape[1]
    produced: list[np.ndarray] = []
    remaining = steps
    while remaining > 0:
        x = torch.as_tensor(scaled[:, -window:], dtype=parameter.dtype, device=parameter.device)
        y = model(x)
        if y.dim() == 3:  # a many-to-many model: its output at the window's last step
            y = y[:, -1]
        y = y.reshape(len(scaled), horizon, targets).float().cpu().numpy().astype(np.float64)
        take = y[:, : min(horizon, remaining)]
        produced.append(take)
        remaining -= take.shape[1]
        if remaining > 0:
            # back to input units: the targets are the (last) input columns
            raw = preprocessing.unscale_targets(take)
            scaled = np.concatenate([scaled, preprocessing.scale_inputs(raw)], axis=1)
    return preprocessing.unscale_targets(np.concatenate(produced, axis=1))


@torch.no_grad()
def generate_text(
    model: Any,
    tokenizer: Any,
    prompt: str,
    length: int = 200,
    *,
    temperature: float = 0.8,
    seed: int | None = None,
) -> str:
    """Continue ``prompt`` by ``length`` tokens, sampling from a language model step by step.

    ``temperature`` 0 picks the most likely token each step; higher values sample more freely.
    """
    temperature = finite_number(temperature, "temperature", minimum=0)
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise ConfigError(f"must be a whole number >= 0, got {length!r}", field="length")
    ids = tokenizer.encode(prompt).ids
    if not ids:
        raise ConfigError("the prompt is empty after tokenization; give some text", field="prompt")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    device = next(model.parameters()).device
    state, logits = None, None
    for token in ids:  # read the prompt, carrying the state
        logits, state = model.step(torch.tensor([token], device=device), state)
    unknown = tokenizer.token_to_id("[UNK]")
    never = [PAD_ID] if unknown is None else [PAD_ID, unknown]
    assert logits is not None  # the prompt has a token (checked above)
    produced: list[int] = []
    for _ in range(length):
        logits = logits.clone()
        logits[..., never] = -torch.inf  # padding and "unknown" are not text: never sample them
        if temperature == 0:
            token = int(logits.argmax(dim=-1))
        else:
            probabilities = torch.softmax(logits.float().cpu() / temperature, dim=-1)
            token = int(torch.multinomial(probabilities, 1, generator=generator))
        produced.append(token)
        logits, state = model.step(torch.tensor([token], device=device), state)
    continuation = tokenizer.decode(produced)
    # character tokenizers fuse tokens; word tokenizers join with spaces, the prompt included
    fused = type(tokenizer.decoder).__name__ == "Fuse"
    return prompt + ("" if fused or not continuation else " ") + continuation


# -- the stored last window -------------------------------------------------------------------


def last_window_record(series: Any, preprocessing: Any) -> dict[str, Any] | None:
    """The content of ``last_window.json`` for a model trained on windows of ``series``
    (raw ``(time, columns)``), or None when there is nothing to store (no series, no window)."""
    window = getattr(preprocessing, "window", None)
    if series is None or window is None:
        return None
    values = np.asarray(series, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or len(values) < window:
        return None
    names = list(getattr(preprocessing, "feature_names", None) or [])
    return {
        "format": _FORMAT,
        "window": int(window),
        "columns": names or [f"column {j}" for j in range(values.shape[1])],
        # the rows' place in the series: forecasts start at row ``length``
        "length": len(values),
        "rows": values[-window:].tolist(),  # JSON floats round-trip float64 exactly
    }


def write_last_window(directory: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Write ``record`` (from :func:`last_window_record`, maybe with more keys) as
    ``directory/last_window.json``, atomically."""
    from .training import atomic_write

    path = Path(directory) / LAST_WINDOW_NAME
    atomic_write(path, json.dumps(record, indent=1) + "\n")
    return path


def read_last_window(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """``directory/last_window.json`` with ``rows`` as float64 ``(window, columns)``, or None
    when the folder has none (a folder saved before the file existed). A link out of the
    folder or a special file in its place is a :class:`WeightsError`, raised unopened."""
    from .files import member_file

    where = f"model folder {str(directory)!r}"
    path = member_file(directory, LAST_WINDOW_NAME, where, "the seqzoo model format")
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        rows = np.asarray(record["rows"], dtype=np.float64)
        window, columns = int(record["window"]), list(record["columns"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise WeightsError(
            f"{path} cannot be read ({type(exc).__name__}: {exc}); restore it from the model's "
            "source, or delete it to rebuild the history from the dataset"
        ) from None
    if record.get("format") != _FORMAT or rows.shape != (window, len(columns)):
        raise WeightsError(
            f"{path} is not a seqzoo last window (format {record.get('format')!r}, rows of shape "
            f"{rows.shape}); delete it to rebuild the history from the dataset"
        )
    return {**record, "rows": rows}


def save_run_window(directory: str | os.PathLike[str], model: Any, data: Any) -> None:
    """Store a training run's last window beside ``run.json``, with what rebuilds its model
    without the dataset (registry name, config, preprocessing, task); nothing for a model that
    is not trained on windows of a series."""
    preprocessing = getattr(data, "preprocessing", None)
    record = last_window_record(getattr(data, "series", None), preprocessing)
    name = getattr(model, "registry_name", None)
    config = getattr(model, "config", None)
    if record is None or preprocessing is None or not isinstance(name, str):
        return
    if not isinstance(config, dict):
        return
    try:
        plain = json.loads(json.dumps(config))
    except (TypeError, ValueError):
        return  # a config that is not plain JSON: the run loads through its dataset instead
    record["model"] = {"name": name, "config": plain}
    record["preprocessing"] = preprocessing.to_dict()
    record["task"] = getattr(data, "task", None)
    write_last_window(directory, record)


def load_run_model(
    directory: str | os.PathLike[str], checkpoint: str = "best", registry: Any = None
) -> Any:
    """A run directory's model from its ``last_window.json`` and checkpoint, without building
    its dataset; None when the run did not store one (then use
    :func:`seqzoo.core.workflow.load_run`). The model carries ``preprocessing``,
    ``pretrained_config`` and ``last_window`` (raw rows ``(window, columns)``)."""
    from .data import Preprocessing
    from .training import load_weights
    from .workflow import read_run_spec

    directory = Path(directory)
    record = read_last_window(directory)
    if record is None or not isinstance(record.get("model"), dict):
        return None
    spec = read_run_spec(directory)
    if registry is None:
        from .api import get_registry

        registry = get_registry()
    config = record["model"].get("config")
    if not isinstance(config, dict):
        raise WeightsError(f"{directory / LAST_WINDOW_NAME}: its model config is not a mapping")
    refuse_reserved(config, "model", path=str(directory / LAST_WINDOW_NAME))
    model = registry.create("model", record["model"]["name"], **config)
    load_weights(directory, model, checkpoint)  # best, or .best.prev, or last
    model.eval()
    model.preprocessing = Preprocessing.from_dict(record["preprocessing"])
    model.pretrained_config = {"task": record.get("task"), "dataset": spec.get("dataset")}
    model.last_window = record["rows"]
    return model
