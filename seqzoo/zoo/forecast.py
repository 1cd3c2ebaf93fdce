"""``seqzoo.forecast``: the front door for every forecasting model, zero-shot or per-dataset.

>>> import seqzoo
>>> fc = seqzoo.forecast([112, 118, 132, 129, 121, 135, 148, 148], horizon=4)
>>> fc.mean.shape, fc.quantiles.shape
((4,), (4, 9))

The default model is the small zero-shot forecaster; any zoo name, Hub repo id, saved model
folder or an already loaded model may be given instead. Loaded models are kept (per name and
device), so repeated calls do not load again.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from seqzoo.core.errors import ConfigError
from seqzoo.core.forecasting import (
    QuantileForecaster,
    check_horizon,
    interpolate_quantiles,
    parse_series,
    run_quantile_forecaster,
    to_result,
)
from seqzoo.core.validate import finite_number

__all__ = ["DEFAULT_MODEL", "forecast", "load_forecaster"]

#: The model ``seqzoo.forecast`` and ``seqzoo forecast`` use when none is named.
DEFAULT_MODEL = "zeroshot-lstm-small"
#: Longest roll-out, in multiples of a zero-shot model's native horizon.
MAX_ROLLOUTS = 8


@lru_cache(maxsize=8)
def _load(name: str, device: str) -> Any:
    from .pretrained import from_pretrained

    return from_pretrained(name, device=device)


def load_forecaster(model: Any = DEFAULT_MODEL, device: str = "auto") -> Any:
    """A loaded model: ``model`` itself if it is one, else :func:`from_pretrained` of it."""
    if isinstance(model, str):
        return _load(model, str(device))
    if hasattr(model, "parameters"):
        return model
    raise ConfigError(
        f"model must be a zoo name, a Hub repo id, a model folder or a loaded model; got "
        f"{type(model).__name__}",
        field="model",
    )


def _point_forecasts(loaded: Any, values: Sequence[np.ndarray], horizon: int) -> np.ndarray:
    """Per-dataset models: their own multi-step forecast, all series batched."""
    from seqzoo.core.predict import forecast as point_forecast

    preprocessing = getattr(loaded, "preprocessing", None)
    if preprocessing is None or getattr(preprocessing, "window", None) is None:
        raise ConfigError(
            "this model is not a forecaster (it was not trained on windows of a series); "
            "use a forecasting zoo model, e.g. seqzoo.list_zoo()",
            field="model",
        )
    # point models have no notion of missing values
    observed = [series[np.isfinite(series)][:, None] for series in values]
    return point_forecast(loaded, preprocessing, observed, horizon)[:, :, 0]


def forecast(
    data: Any,
    horizon: int,
    model: Any = DEFAULT_MODEL,
    *,
    quantiles: Sequence[float] | None = None,
    context_length: int | None = None,
    device: str = "auto",
    batch_size: int = 256,
    season: int | None = None,
    id_col: str = "unique_id",
    time_col: str = "ds",
    target_col: str = "y",
    progress: bool = False,
) -> Any:
    """Forecast ``horizon`` steps past the end of every series in ``data``.

    ``data``: a 1-D array/list/tensor, a 2-D array ``(series, time)``, a list of series of any
    lengths, a pandas Series with a DatetimeIndex, or a long DataFrame (``id_col``,
    ``time_col``, ``target_col``). NaN marks a missing value.

    Returns a :class:`~seqzoo.core.forecasting.Forecast` (``mean`` ``(horizon,)`` or
    ``(series, horizon)``, ``quantiles`` ``(..., horizon, Q)``) for array input, a long
    DataFrame (``unique_id``, ``ds``, ``mean``, one column per quantile) for pandas input.
    ``quantiles``: the levels wanted (default: the model's own, 0.1 .. 0.9); ``season``: a
    season-length hint for array input (pandas input gets it from its frequency);
    ``context_length``: use at most this many of the latest points.
    """
    # every number is checked before a model loads or a series is read
    if context_length is not None:
        check_horizon(context_length, None)  # the same rule: a whole number, at least 1
    batch_size = _whole(batch_size, "batch_size", 1)
    if season is not None:
        season = _whole(season, "season", 0)  # 0: no hint, as None
    if quantiles is not None:
        quantiles = [finite_number(q, "quantiles", above=0, maximum=1) for q in quantiles]
    loaded = load_forecaster(model, device)
    batch = parse_series(data, id_col=id_col, time_col=time_col, target_col=target_col)
    if isinstance(loaded, QuantileForecaster):
        horizon = check_horizon(horizon, loaded.horizon * MAX_ROLLOUTS)
        seasons = [s if season is None else season for s in batch.seasons]
        bar = _progress_bar(len(batch.values)) if progress else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            raw = run_quantile_forecaster(
                loaded,
                batch.values,
                horizon,
                seasons=seasons,
                batch_size=batch_size,
                context_length=context_length,
                progress=bar.update if bar is not None else None,
            )
        if bar is not None:
            bar.close()
        levels = list(loaded.quantiles)
        mean = raw.mean(axis=-1)  # the average of evenly spaced quantiles estimates the mean
        wanted = levels if quantiles is None else [float(q) for q in quantiles]
        values = raw if wanted == levels else interpolate_quantiles(raw, levels, wanted)
        return to_result(batch, mean, values, wanted)
    horizon = check_horizon(horizon, None)
    if quantiles:
        raise ConfigError(
            "this model gives point forecasts only; leave out quantiles, or use a zero-shot "
            f"forecaster such as {DEFAULT_MODEL!r}",
            field="quantiles",
        )
    return to_result(batch, _point_forecasts(loaded, batch.values, horizon), None, [])


def _whole(value: Any, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"must be a whole number >= {minimum}, got {value!r}", field=field)
    return int(value)


def _progress_bar(total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="series", desc="forecast", leave=False)
