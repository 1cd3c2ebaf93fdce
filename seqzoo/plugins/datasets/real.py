"""Real data bundled with scikit-learn and statsmodels (offline): ``diabetes``, ``sunspots``,
``co2``, ``nile`` and ``elec-equip``.

The time series are split chronologically, scaled on their training range and windowed per
split (:func:`seqzoo.core.data.forecast_data`); ``metadata["time"]`` holds each step's time
(years as ints, dates as ISO strings) for plotting.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqzoo.core.data import SequenceData, forecast_data, tabular_data

__all__ = ["co2", "diabetes", "elec_equip", "nile", "sunspots"]


def diabetes(
    scale: bool = True, seed: int = 0, validation: float = 0.15, test: float = 0.15
) -> SequenceData:
    """scikit-learn's diabetes data: 10 baseline measurements of 442 patients -> disease
    progression one year later.

    Inputs ``(N, 1, 10)``, targets ``(N, 1)``. With ``scale`` both are standardized on the
    training rows; ``scale=False`` leaves the raw measurements (age in years, BMI, blood
    serum values in the hundreds) and raw targets (25 to 346), which makes plain SGD diverge:
    the point of the option.
    """
    from sklearn.datasets import load_diabetes

    # scaled=False: the raw measurements, not sklearn's pre-centred ones (which would leak
    # statistics of all rows into the training data)
    bunch = load_diabetes(scaled=False)
    return tabular_data(
        "diabetes",
        bunch.data,
        bunch.target,
        scale=bool(scale),
        seed=seed,
        validation=validation,
        test=test,
        feature_names=list(bunch.feature_names),
        target_names=["progression"],
        units="disease progression",
        description="Diabetes progression after one year from 10 baseline measurements",
        metadata={"seed": seed, "scaled": bool(scale), "source": "sklearn.datasets.load_diabetes"},
    )


def _series(
    name: str,
    values: np.ndarray,
    time: list[Any],
    column: str,
    *,
    window: int,
    horizon: int,
    validation: float,
    test: float,
    season: int | None,
    units: str,
    description: str,
) -> SequenceData:
    return forecast_data(
        name,
        values,
        window=window,
        horizon=horizon,
        columns=[column],
        validation=validation,
        test=test,
        season=season,
        units=units,
        description=description,
        metadata={"time": time, "source": f"statsmodels.datasets.{name.replace('-', '_')}"},
    )


def _dates(index: Any) -> list[str]:
    return [str(day) for day in np.asarray(index, dtype="datetime64[D]")]


def sunspots(
    window: int = 22, horizon: int = 1, validation: float = 0.15, test: float = 0.15
) -> SequenceData:
    """Yearly mean sunspot number, 1700-2008 (309 steps); season 11, the solar cycle.

    Inputs ``(N, window, 1)``, targets ``(N, horizon)``; the default window spans two cycles.
    """
    from statsmodels.datasets import sunspots as source

    frame = source.load_pandas().data
    return _series(
        "sunspots",
        frame["SUNACTIVITY"].to_numpy(),
        [int(year) for year in frame["YEAR"]],
        "sunactivity",
        window=window,
        horizon=horizon,
        validation=validation,
        test=test,
        season=11,
        units="sunspot number",
        description="Yearly sunspot numbers 1700-2008",
    )


def co2(
    window: int = 104, horizon: int = 1, validation: float = 0.15, test: float = 0.15
) -> SequenceData:
    """Weekly atmospheric CO2 at Mauna Loa, March 1958 - December 2001 (2284 steps); the 59
    missing weeks are interpolated linearly in time. Season 52 (yearly cycle).

    Inputs ``(N, window, 1)``, targets ``(N, horizon)``; the default window spans two years.
    """
    from statsmodels.datasets import co2 as source

    frame = source.load_pandas().data
    # time-weighted linear interpolation; bfill/ffill only matter if an end were missing
    filled = frame["co2"].interpolate(method="time").bfill().ffill()
    return _series(
        "co2",
        filled.to_numpy(),
        _dates(frame.index),
        "co2",
        window=window,
        horizon=horizon,
        validation=validation,
        test=test,
        season=52,
        units="ppm",
        description="Weekly Mauna Loa CO2 1958-2001, gaps interpolated",
    )


def nile(
    window: int = 10, horizon: int = 1, validation: float = 0.15, test: float = 0.15
) -> SequenceData:
    """Annual flow of the Nile at Aswan, 1871-1970 (100 steps); not seasonal.

    Inputs ``(N, window, 1)``, targets ``(N, horizon)``. The series is short: validation and
    test hold 15 years each, so ``window + horizon`` must stay at most 15.
    """
    from statsmodels.datasets import nile as source

    frame = source.load_pandas().data
    return _series(
        "nile",
        frame["volume"].to_numpy(),
        [int(year) for year in frame["year"]],
        "volume",
        window=window,
        horizon=horizon,
        validation=validation,
        test=test,
        season=None,
        units="10^8 m^3",
        description="Annual Nile flow at Aswan 1871-1970",
    )


def elec_equip(
    window: int = 24, horizon: int = 1, validation: float = 0.15, test: float = 0.15
) -> SequenceData:
    """Monthly euro-area turnover index of electrical equipment manufacturing (Eurostat),
    January 1995 onward (257 steps); season 12.

    Inputs ``(N, window, 1)``, targets ``(N, horizon)``; the default window spans two years.
    """
    from statsmodels.datasets import elec_equip as source

    frame = source.load_pandas().data
    return _series(
        "elec-equip",
        frame.iloc[:, 0].to_numpy(),
        _dates(frame.index),
        "turnover",
        window=window,
        horizon=horizon,
        validation=validation,
        test=test,
        season=12,
        units="turnover index",
        description="Monthly euro-area electrical equipment turnover index",
    )
