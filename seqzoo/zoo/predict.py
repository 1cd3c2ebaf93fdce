"""``seqzoo.predict``: point forecasts of a per-dataset model, past its own series or yours.

>>> import seqzoo
>>> seqzoo.predict("lstm-sunspots", steps=10).shape  # past the end of its own series
(10, 1)
>>> seqzoo.predict("lstm-sunspots", histories, steps=10).shape  # many series, batched
(1000, 10, 1)

A model folder (zoo entry, saved model or run directory) stores the last ``window`` rows of its
series (``last_window.json``), so a forecast past its end builds no dataset; a folder saved
before that file existed rebuilds its dataset instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from seqzoo.core.errors import ConfigError

__all__ = ["load_predictor", "own_history", "predict"]


def load_predictor(
    target: str | os.PathLike[str], device: str = "auto", registry: Any = None
) -> tuple[Any, Any]:
    """A run directory, model folder, zoo name or Hub repo id -> ``(model, rebuild)``.

    The model carries ``preprocessing``, ``pretrained_config`` and ``last_window``: the raw
    rows ``(window, columns)`` its folder stores, or None. ``rebuild()`` builds the dataset the
    model was trained on (or returns None): the fallback for folders without ``last_window``.
    """
    from seqzoo.core.predict import load_run_model, read_last_window
    from seqzoo.core.workflow import RUN_FILE

    path = Path(target).expanduser()
    if os.path.lexists(path / RUN_FILE):  # a link or FIFO there is refused by load_run, unread
        model = load_run_model(path, registry=registry)
        if model is not None:
            return model, lambda: None
        from seqzoo.core.workflow import load_run

        run = load_run(path, registry=registry)
        run.model.last_window = None
        return run.model, lambda: run.data
    from seqzoo.core.workflow import build_parts

    from .pretrained import load_directory
    from .sources import locate

    if registry is None:
        from seqzoo.core.api import get_registry

        registry = get_registry()
    directory, expected, where = locate(
        str(target), None, registry=registry, local_files_only=False, cache_dir=None
    )
    model = load_directory(
        directory, device=device, registry=registry, expected_files=expected, where=where
    )
    stored = read_last_window(directory)
    model.last_window = None if stored is None else stored["rows"]
    dataset = (getattr(model, "pretrained_config", None) or {}).get("dataset")

    def rebuild() -> Any:
        if not dataset:
            return None
        return build_parts({"dataset": dataset, "model": None}, registry, model_too=False)[1]

    return model, rebuild


def own_history(model: Any, rebuild: Any, where: str, hint: str = "pass a history") -> np.ndarray:
    """The raw rows ``(time, columns)`` to forecast past: the stored last window, else the
    rebuilt dataset's whole series; a :class:`ConfigError` when the model has neither."""
    stored = getattr(model, "last_window", None)
    if stored is not None:
        return np.asarray(stored, dtype=np.float64)
    data = rebuild() if rebuild is not None else None
    series = getattr(data, "series", None)
    if series is None:
        raise ConfigError(f"{where} has no series of its own to continue; {hint}")
    return np.asarray(series, dtype=np.float64)


def predict(
    model: Any,
    history: Any = None,
    steps: int = 10,
    *,
    batch_size: int = 256,
    device: str = "auto",
    id_col: str = "unique_id",
    time_col: str = "ds",
    target_col: str = "y",
) -> Any:
    """Forecast ``steps`` values with a per-dataset (point) forecaster, in raw units.

    ``model``: a zoo name, Hub repo id, model folder, run directory or loaded model.
    ``history`` None continues the model's own series: ``(steps, targets)``. Otherwise, for a
    one-column model, any form :func:`seqzoo.forecast` takes: a 1-D series -> ``(steps, 1)``;
    a 2-D array ``(series, time)`` or a list of series of any lengths -> ``(series, steps,
    1)``; a long DataFrame (``id_col``, ``time_col``, ``target_col``) or a pandas Series ->
    a long DataFrame (``unique_id``, ``ds``, ``mean``); missing values (NaN) are dropped, as
    :func:`seqzoo.forecast` does. For a model of several columns: one ``(time, columns)``
    array -> ``(steps, targets)``; a 3-D array ``(series, time, columns)`` or a list of
    ``(time, columns)`` arrays -> ``(series, steps, targets)``. Each series needs at least the
    model's ``window`` rows; ``batch_size`` series run at once.
    """
    from seqzoo.core.forecasting import parse_series, to_result
    from seqzoo.core.predict import forecast

    rebuild = None
    if isinstance(model, (str, os.PathLike)):
        where = repr(str(model))
        loaded, rebuild = load_predictor(model, device)
    elif hasattr(model, "parameters"):
        where, loaded = "the model", model
    else:
        raise ConfigError(
            f"model must be a zoo name, a model folder, a run directory or a loaded model; got "
            f"{type(model).__name__}",
            field="model",
        )
    preprocessing = getattr(loaded, "preprocessing", None)
    if preprocessing is None or getattr(preprocessing, "window", None) is None:
        raise ConfigError(
            f"{where} is not a point forecaster (it was not trained on windows of a series); "
            "for any series use seqzoo.forecast, for a forecasting zoo model see seqzoo.list_zoo()",
            field="model",
        )
    if history is None:
        own = own_history(loaded, rebuild, where)
        return forecast(loaded, preprocessing, own, steps, batch_size=batch_size)
    if len(preprocessing.feature_names) > 1:
        return forecast(loaded, preprocessing, history, steps, batch_size=batch_size)
    batch = parse_series(history, id_col=id_col, time_col=time_col, target_col=target_col)
    observed = [values[np.isfinite(values)] for values in batch.values]
    labels = [f"series {i!r}" if batch.kind == "frame" else f"series {i}" for i in batch.ids]
    out = forecast(
        loaded,
        preprocessing,
        [values[:, None] for values in observed],
        steps,
        batch_size=batch_size,
        names=labels if batch.kind != "single" else ["the series"],
    )
    if batch.kind == "single":
        return out[0]
    if batch.kind == "many":
        return out
    return to_result(batch, out[:, :, 0], None, [])
