"""Forecasting many series: input forms, checks, batching, and the shape of the answer.

:func:`seqzoo.forecast` accepts

- a 1-D array, list or tensor (one series) -> a :class:`Forecast` of ``(horizon,)`` arrays;
- a 2-D array ``(series, time)`` or a list of 1-D arrays of any lengths -> ``(series, horizon)``;
- a pandas Series with a DatetimeIndex -> a long DataFrame;
- a long pandas DataFrame ``unique_id, ds, y`` (the statsforecast / neuralforecast layout)
  -> a long DataFrame ``unique_id, ds, mean, <quantile columns>``, ``ds`` continuing each
  series at its own frequency.

NaN marks a missing value. A regular series with missing timestamps is filled with NaN at them;
irregular timestamps are forecast on the index (observations taken as equally spaced) with a
warning. Everything that cannot be forecast is a :class:`ConfigError` naming the series.

Models answer :class:`QuantileForecaster` (zero-shot entries) or are point forecasters run
through :func:`seqzoo.core.predict.forecast` (per-dataset entries).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .errors import ConfigError

__all__ = [
    "Forecast",
    "QuantileForecaster",
    "SeriesBatch",
    "check_horizon",
    "interpolate_quantiles",
    "parse_series",
    "run_quantile_forecaster",
    "season_of_frequency",
    "timestamps",
    "to_result",
]

# pandas frequency prefixes -> the season length forecasters are told
_SEASONS = {
    "Y": 1, "A": 1, "Q": 4, "M": 12, "W": 52, "D": 7, "B": 5, "h": 24, "H": 24,
    "min": 60, "T": 60, "s": 60, "S": 60,
}  # fmt: skip


@runtime_checkable
class QuantileForecaster(Protocol):
    """What a probabilistic forecaster offers (:class:`~seqzoo.plugins.models.patch_forecaster.
    PatchForecaster` does): ``predict(context (batch, time) with NaN, horizon, season) ->
    (batch, horizon, len(quantiles))`` in the context's units."""

    quantiles: list[float]
    horizon: int
    max_context: int

    def predict(self, context: Any, horizon: int, season: Any = None) -> Any: ...


class SeqzooForecastWarning(UserWarning):
    """Input that was forecast, but not quite as given (irregular timestamps)."""


@dataclass
class SeriesBatch:
    """Series ready to forecast: ``values[i]`` is float64 ``(time,)``, NaN for missing."""

    ids: list[Any]
    values: list[np.ndarray]
    kind: str  # "single", "many", "series", "frame"
    last: list[Any] = field(default_factory=list)  # last timestamp of each series
    steps: list[Any] = field(default_factory=list)  # each series' frequency (offset or step)
    seasons: list[int | None] = field(default_factory=list)
    columns: tuple[str, str, str] = ("unique_id", "ds", "y")
    name: Any = None


@dataclass
class Forecast:
    """Forecasts for array input: ``mean`` ``(series, horizon)`` (or ``(horizon,)`` for one
    series) and ``quantiles`` ``(..., horizon, len(levels))``, None for point forecasters."""

    mean: np.ndarray
    quantiles: np.ndarray | None
    levels: list[float]

    def quantile(self, level: float) -> np.ndarray:
        """The forecast at one of :attr:`levels`."""
        if self.quantiles is None or level not in self.levels:
            raise ConfigError(f"no {level} quantile; the levels are {self.levels}", field="level")
        return self.quantiles[..., self.levels.index(level)]

    @property
    def median(self) -> np.ndarray:
        return self.quantile(0.5)


def check_horizon(horizon: Any, maximum: int | None) -> int:
    """``horizon`` as an int in ``1..maximum``, else a :class:`ConfigError` saying the range."""
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ConfigError(
            f"must be a whole number of steps, at least 1; got {horizon!r}", field="horizon"
        )
    if maximum is not None and horizon > maximum:
        raise ConfigError(
            f"{horizon} steps is beyond what this model can roll out ({maximum} steps); "
            f"ask for at most {maximum}",
            field="horizon",
        )
    return int(horizon)


def _numeric(values: Any, where: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{where} holds values that are not numbers (e.g. {_first_bad(values)!r}); "
            "pass numbers, with NaN (or an empty cell) for a missing value"
        ) from None
    if np.isinf(array).any():
        raise ConfigError(f"{where} holds an infinite value; use NaN for a missing one")
    return array


def _first_bad(values: Any) -> Any:
    for value in np.asarray(values, dtype=object).reshape(-1):
        try:
            float(value)
        except (TypeError, ValueError):
            return value
    return None


def _check_series(values: np.ndarray, where: str) -> np.ndarray:
    if values.ndim != 1:
        raise ConfigError(f"{where} must be one-dimensional; got shape {values.shape}")
    if len(values) == 0:
        raise ConfigError(f"{where} is empty; a forecast needs at least one observed value")
    if not np.isfinite(values).any():
        raise ConfigError(f"{where} has no observed value (all NaN); drop it or fill it")
    return values


_HOUR = 3_600 * 10**9
#: fixed steps (in ns) -> the season length: the day for sub-daily data, the week for daily
_TICK_SEASONS = {
    7 * 24 * _HOUR: 52, 24 * _HOUR: 7, _HOUR: 24, _HOUR // 2: 48, _HOUR // 4: 96,
    _HOUR // 6: 144, _HOUR // 12: 288, _HOUR // 60: 60,
}  # fmt: skip


def season_of_frequency(step: Any) -> int | None:
    """The season length of a pandas frequency (``"MS"`` -> 12, ``"h"`` -> 24), else None."""
    if type(step).__name__ in ("Tick", "Day", "Hour", "Minute", "Second", "Milli", "Micro", "Nano"):
        nanos, day = int(step.nanos), 24 * _HOUR
        if nanos < day and day % nanos == 0 and day // nanos <= 288:
            return day // nanos  # sub-daily: one day is a season
        return _TICK_SEASONS.get(nanos)  # a fixed step
    code = getattr(step, "rule_code", None)  # "MS", "QS-JAN", "W-SUN", ...
    if not isinstance(code, str):
        return None
    name = code.lstrip("0123456789-")
    for prefix in sorted(_SEASONS, key=len, reverse=True):
        if name.startswith(prefix):
            n = getattr(step, "n", 1) or 1
            season = _SEASONS[prefix]
            return max(1, season // n) if season % n == 0 else None
    return None


def _plain(item: Any) -> Any:
    """A torch tensor as a numpy array (anything else unchanged)."""
    return item.detach().cpu().numpy() if hasattr(item, "detach") else item


def _is_pandas(data: Any, kind: str) -> bool:
    module = type(data).__module__
    return module.startswith("pandas") and type(data).__name__ == kind


def parse_series(
    data: Any,
    *,
    id_col: str = "unique_id",
    time_col: str = "ds",
    target_col: str = "y",
) -> SeriesBatch:
    """Turn any accepted input form into a :class:`SeriesBatch` (checks every series)."""
    if _is_pandas(data, "DataFrame"):
        return _from_frame(data, id_col, time_col, target_col)
    if _is_pandas(data, "Series"):
        return _from_pandas_series(data)
    if hasattr(data, "detach") and hasattr(data, "cpu"):  # a torch tensor
        data = data.detach().cpu().numpy()
    if (
        isinstance(data, (list, tuple))
        and data
        and all(
            isinstance(item, (list, tuple, np.ndarray)) or hasattr(item, "detach") for item in data
        )
    ):
        values = [
            _check_series(_numeric(_plain(item), f"series {i}").reshape(-1), f"series {i}")
            for i, item in enumerate(data)
        ]
        return SeriesBatch(list(range(len(values))), values, "many", seasons=[None] * len(values))
    array = _numeric(data, "the input")
    if array.ndim == 1:
        return SeriesBatch([0], [_check_series(array, "the series")], "single", seasons=[None])
    if array.ndim == 2:
        if array.shape[0] == 0:
            raise ConfigError("the input holds no series (shape (0, time)); pass at least one")
        values = [_check_series(row, f"series {i}") for i, row in enumerate(array)]
        return SeriesBatch(list(range(len(values))), values, "many", seasons=[None] * len(values))
    raise ConfigError(
        f"the input must be one series (1-D), several of equal length (2-D: series x time), "
        f"a list of series, a pandas Series or a long DataFrame; got {array.ndim} dimensions"
    )


def _infer_freq(index: Any) -> str | None:
    """``pd.infer_freq`` as a string (pandas 3 may return an offset, and warns about it)."""
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = pd.infer_freq(index)
    return getattr(found, "freqstr", found)


def _regular(index: Any, where: str) -> tuple[Any, Any, bool]:
    """``(full index, step, regular)``: a regular index with gaps is completed."""
    import pandas as pd

    if index.has_duplicates:
        dup = index[index.duplicated()][0]
        raise ConfigError(f"{where} has the timestamp {dup} more than once; keep one row per time")
    if len(index) < 3:
        if len(index) == 2:
            step = index[1] - index[0]
            return index, step, True
        return index, None, True
    if isinstance(index, pd.DatetimeIndex):
        diffs = np.diff(index.asi8)  # in the index's own unit (ns, or us in pandas 3)
        if diffs[0] > 0 and (diffs == diffs[0]).all():  # a fixed step: hours, days, weeks
            step = pd.Timedelta(index[1] - index[0])
            return index, pd.tseries.frequencies.to_offset(step), True
        freq = _infer_freq(index)
        if freq is not None:
            offset = pd.tseries.frequencies.to_offset(freq)
            return index, offset, True
        # the most common frequency of three consecutive stamps, if it covers every stamp
        guesses: dict[str, int] = {}
        for i in range(len(index) - 2):
            guess = _infer_freq(index[i : i + 3])
            if guess:
                guesses[guess] = guesses.get(guess, 0) + 1
        for guess in sorted(guesses, key=guesses.__getitem__, reverse=True)[:3]:
            full = pd.date_range(index[0], index[-1], freq=guess)
            if index.isin(full).all() and len(full) <= 4 * len(index):
                return full, pd.tseries.frequencies.to_offset(guess), True
        return index, pd.Timedelta((index[1:] - index[:-1]).median()), False
    # numeric time: integer steps
    stamps = np.asarray(index, dtype=np.float64)
    diffs = np.diff(stamps)
    step = float(np.min(diffs))
    if step > 0 and np.allclose(diffs / step, np.round(diffs / step)):
        full = np.arange(stamps[0], stamps[-1] + step / 2, step)
        if len(full) <= 4 * len(stamps):
            kind = index.dtype if np.issubdtype(np.asarray(index).dtype, np.integer) else None
            return pd.Index(full.astype(kind) if kind is not None else full), step, True
    return index, float(np.median(diffs)), False


def _one_timed_series(
    values: Any, index: Any, where: str, ordered: bool = False
) -> tuple[np.ndarray, Any, Any, int | None]:
    import pandas as pd

    array = _numeric(values, where)
    if not ordered:
        order = np.argsort(np.asarray(index), kind="stable")
        index, array = index[order], array[order]
    full, step, regular = _regular(index, where)
    if not regular:
        warnings.warn(
            f"{where} has irregular timestamps; it is forecast on its index (observations "
            "taken as equally spaced) and the forecast times continue at the median spacing",
            SeqzooForecastWarning,
            stacklevel=4,
        )
    elif len(full) != len(index):
        array = pd.Series(array, index=index).reindex(full).to_numpy(dtype=np.float64)
    _check_series(array, where)
    last = full[-1] if len(full) else None
    return array, last, step, season_of_frequency(step) if regular else None


def _from_pandas_series(series: Any) -> SeriesBatch:
    import pandas as pd

    where = f"series {series.name!r}" if series.name is not None else "the series"
    if len(series) == 0:
        raise ConfigError(f"{where} is empty; a forecast needs at least one observed value")
    index = series.index
    if not isinstance(index, pd.DatetimeIndex):
        try:
            index = pd.DatetimeIndex(pd.to_datetime(index))
        except (TypeError, ValueError):
            raise ConfigError(
                f"{where} needs a DatetimeIndex (or timestamps as its index); got "
                f"{type(series.index).__name__}"
            ) from None
    values, last, step, season = _one_timed_series(series.to_numpy(), index, where)
    name = series.name if series.name is not None else "series"
    return SeriesBatch([name], [values], "series", [last], [step], [season], name=series.name)


def timestamps(stamps: Any, time_col: str) -> Any:
    """Text stamps as datetimes; series may differ in format ("2020-01-01" beside
    "2020-01-01 13:00"), so the common format is tried first, then ISO 8601, then each alone."""
    import pandas as pd

    first: Exception | None = None
    for fmt in (None, "ISO8601", "mixed"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # format guessing chatter
                return pd.to_datetime(stamps, format=fmt)
        except (TypeError, ValueError) as exc:
            first = first or exc
    message = str(first).split(". You might")[0].split("; ")[0]
    raise ConfigError(f"column {time_col!r} holds values that are not timestamps ({message})")


def _from_frame(frame: Any, id_col: str, time_col: str, target_col: str) -> SeriesBatch:
    import pandas as pd

    missing = [c for c in (id_col, time_col, target_col) if c not in frame.columns]
    if missing:
        raise ConfigError(
            f"the DataFrame has no column {', '.join(map(repr, missing))}; its columns are "
            f"{', '.join(map(str, frame.columns))} (name them with id_col / time_col / "
            "target_col, or --id-col / --time-col / --target-col)"
        )
    if len(frame) == 0:
        raise ConfigError("the DataFrame has no rows; there is nothing to forecast")
    stamps = frame[time_col]
    if not pd.api.types.is_numeric_dtype(stamps):
        stamps = timestamps(stamps, time_col)
    codes, uniques = pd.factorize(frame[id_col], sort=False)
    timed = pd.api.types.is_datetime64_any_dtype(stamps)
    keys = stamps.to_numpy()
    order = np.lexsort((keys.astype("int64") if timed else keys, codes))
    codes, keys = codes[order], keys[order]
    raw = frame[target_col].to_numpy()[order]
    try:
        y = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        y = None
    starts = np.r_[0, np.flatnonzero(np.diff(codes)) + 1]
    stops = np.r_[starts[1:], len(codes)]
    batch = SeriesBatch([], [], "frame", columns=(id_col, time_col, target_col))
    for start, stop in zip(starts, stops, strict=True):
        uid = uniques[codes[start]]
        where = f"series {uid!r}"
        index = pd.DatetimeIndex(keys[start:stop]) if timed else pd.Index(keys[start:stop])
        values = raw[start:stop] if y is None else y[start:stop]
        values, last, step, season = _one_timed_series(values, index, where, ordered=True)
        batch.ids.append(uid)
        batch.values.append(values)
        batch.last.append(last)
        batch.steps.append(step)
        batch.seasons.append(season)
    return batch


def interpolate_quantiles(
    quantiles: np.ndarray, levels: Sequence[float], wanted: Sequence[float]
) -> np.ndarray:
    """Quantiles at ``wanted`` levels, linear between the model's ``levels`` (last axis)."""
    low, high = min(levels), max(levels)
    outside = [q for q in wanted if not low - 1e-9 <= q <= high + 1e-9]
    if outside:
        raise ConfigError(
            f"quantile level(s) {outside} lie outside the model's range {low}..{high}",
            field="quantiles",
        )
    columns = []
    for q in wanted:
        j = int(np.searchsorted(levels, q - 1e-9))
        if j < len(levels) and abs(levels[j] - q) < 1e-9:
            columns.append(quantiles[..., j])
            continue
        a, b = levels[j - 1], levels[j]
        w = (q - a) / (b - a)
        columns.append((1 - w) * quantiles[..., j - 1] + w * quantiles[..., j])
    return np.stack(columns, axis=-1)


def run_quantile_forecaster(
    model: QuantileForecaster,
    values: Sequence[np.ndarray],
    horizon: int,
    *,
    seasons: Sequence[int | None] | None = None,
    batch_size: int = 256,
    context_length: int | None = None,
    progress: Callable[[int], Any] | None = None,
) -> np.ndarray:
    """Quantiles ``(series, horizon, Q)`` for ragged ``values``.

    Series are grouped by their length in patches (so padding never differs from a one-series
    call: batched results equal one-at-a-time results) and cut into ``batch_size`` batches.
    ``progress`` is called with the number of series in each finished batch.
    """
    import torch

    from seqzoo.core.modules import SequenceModel  # noqa: F401  (torch is loaded here anyway)

    parameter = next(model.parameters())  # type: ignore[attr-defined]  # the protocol omits nn.Module's API
    patch = int(getattr(model, "patch_size", 1))
    limit = min(model.max_context, context_length or model.max_context)
    bucket = getattr(model, "season_bucket", None)
    cut = [np.asarray(v, dtype=np.float64)[-limit:] for v in values]
    out = np.empty((len(cut), horizon, len(model.quantiles)))
    groups: dict[int, list[int]] = {}
    for i, v in enumerate(cut):
        groups.setdefault(math.ceil(len(v) / patch), []).append(i)
    for patches, members in sorted(groups.items()):
        width = patches * patch
        for start in range(0, len(members), batch_size):
            rows = members[start : start + batch_size]
            block = np.full((len(rows), width), np.nan)
            for r, i in enumerate(rows):
                block[r, width - len(cut[i]) :] = cut[i]
            context = torch.as_tensor(block, dtype=parameter.dtype, device=parameter.device)
            season = None
            if seasons is not None and bucket is not None:
                hints = [bucket(seasons[i]) for i in rows]
                if any(hints):
                    season = torch.tensor(hints, device=parameter.device)
            with torch.inference_mode():
                result = model.predict(context, horizon, season)
            out[rows] = result.float().cpu().numpy()
            if progress is not None:
                progress(len(rows))
    return out


def _future(last: Any, step: Any, horizon: int) -> np.ndarray:
    import pandas as pd

    if step is None:
        raise ConfigError(
            "a series with one timestamp has no frequency to continue; give it two or more"
        )
    ahead = np.arange(1, horizon + 1)
    if isinstance(last, pd.Timestamp):
        if isinstance(step, (pd.Timedelta, pd.tseries.offsets.Tick)):  # a fixed step
            return np.asarray(last + pd.Timedelta(step) * ahead)
        return pd.date_range(last, periods=horizon + 1, freq=step)[1:].to_numpy()
    return last + step * ahead


def _label(level: float) -> str:
    return f"{level:g}"


def to_result(
    batch: SeriesBatch, mean: np.ndarray, quantiles: np.ndarray | None, levels: list[float]
) -> Any:
    """The answer in the input's form: a :class:`Forecast`, or a long DataFrame."""
    if batch.kind in ("single", "many"):
        if batch.kind == "single":
            return Forecast(mean[0], None if quantiles is None else quantiles[0], levels)
        return Forecast(mean, quantiles, levels)
    import pandas as pd

    id_col, time_col, _ = batch.columns
    count, horizon = mean.shape
    times = [
        _future(last, step, horizon) for last, step in zip(batch.last, batch.steps, strict=True)
    ]
    columns: dict[str, Any] = {
        id_col: np.repeat(np.asarray(batch.ids, dtype=object), horizon),
        time_col: np.concatenate(times),
        "mean": mean.reshape(-1),
    }
    if quantiles is not None:
        flat = quantiles.reshape(count * horizon, len(levels))
        for j, level in enumerate(levels):
            columns[_label(level)] = flat[:, j]
    result = pd.DataFrame(columns)
    if batch.kind == "series":
        result = result.rename(columns={id_col: "unique_id", time_col: "ds"})
    return result
