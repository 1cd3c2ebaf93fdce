"""Zero-shot forecasting benchmark on held-out real series (a script, not a test).

What it measures: point and probabilistic accuracy of forecasters on the real series in
``benchmarks/data/series.csv.gz`` (built by ``benchmarks/data/make_series.py``; none of them is
statsmodels data, which is what seqzoo's models are trained on). The last horizon of each
series (M4 horizons: yearly 6, quarterly 8, monthly 18, weekly 13, daily 14, hourly 48) is the
test; every method sees only what comes before it. Per series and method:

- MASE: mean |y - mean forecast| / the in-sample mean absolute seasonal-naive error (season m
  from the metadata; m = 1 when the history is not longer than m);
- WQL: the weighted quantile loss over q = 0.1 ... 0.9 (the Chronos definition):
  ``sum_q sum_t 2 * pinball_q(y_t, f_q,t) / (9 * sum_t |y_t|)``;
- coverage of the 80% interval: the share of test points inside [q0.1, q0.9].

MASE and WQL are divided by seasonal naive's on the same series and the ratios aggregated with
the geometric mean over series (the Chronos benchmark aggregation; ratios clipped below at
1e-4). A series where seasonal naive's error is zero is left out of that metric's aggregate for
every method (counted in the notes). Wall time is each method's total over all series.

Methods, all in one run: naive and seasonal naive, AutoETS, AutoTheta and AutoARIMA from
``statsforecast`` (quantiles from their prediction intervals, ``level=[20, 40, 60, 80]``; one
StatsForecast call per frequency and season-length group, ``n_jobs=1``, each method timed on
its own; AutoARIMA fits on at most the last 512 points and weekly data with m = 1, since a
seasonal ARIMA with m = 52 takes minutes per series on 2 cores); "seqzoo LSTM": a small LSTM
trained per series with ``seqzoo.train`` on at most its last 512 points (hidden 32, 30 epochs,
window 2 x horizon capped by the length), forecasting the horizon directly, with quantiles
from its in-sample residuals; and every zero-shot zoo entry through
``seqzoo.forecast(long_df, horizon, model=NAME, quantiles=[0.1, ..., 0.9])``, one call per
frequency group. ``--speed`` instead times ``seqzoo.forecast`` on 10,000 synthetic random-walk +
seasonal series (length 512, horizon 48) per zero-shot entry.

Torch runs on 1 thread (2 for ``--speed``). Writes ``<out>/forecast.json`` (aggregates, per
frequency, per series) and ``<out>/forecast.png``; prints one Markdown table.

Run from the repository root with the project venv (``statsforecast`` and ``pandas`` needed)::

    .venv/bin/python benchmarks/bench_forecast.py --limit 5 --models none   # quick, baselines
    .venv/bin/python benchmarks/bench_forecast.py --models none             # all baselines
    .venv/bin/python benchmarks/bench_forecast.py                           # + zero-shot zoo
    .venv/bin/python benchmarks/bench_forecast.py --speed
    (flags: --limit N, --models a,b, --skip-arima, --skip-lstm, --out DIR, --seed S,
     --batch-size B, --per-frequency)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
QUANTILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
LEVELS = [20, 40, 60, 80]
FREQUENCY_ORDER = ["yearly", "quarterly", "monthly", "weekly", "daily", "hourly"]
HORIZONS = {"yearly": 6, "quarterly": 8, "monthly": 18, "weekly": 13, "daily": 14, "hourly": 48}
RATIO_FLOOR = 1e-4
ZERO = 1e-12
BASELINE = "seasonal naive"
ARIMA_MAX_SEASON = 24
#: AutoARIMA and the LSTM fit on at most this many of the latest points (2 shared cores)
MAX_FIT_HISTORY = 512


# -- data ----------------------------------------------------------------------------------------


@dataclass
class Series:
    """One benchmark series, split into the history a method sees and the test horizon."""

    uid: str
    frequency: str
    season: int
    ds: np.ndarray  # datetime64, the whole series
    y: np.ndarray  # float64, the whole series
    horizon: int

    @property
    def train(self) -> np.ndarray:
        return self.y[: -self.horizon]

    @property
    def test(self) -> np.ndarray:
        return self.y[-self.horizon :]

    @property
    def m(self) -> int:
        """The season used for seasonal naive and the MASE scale (1 if the history is short)."""
        return self.season if len(self.train) > self.season else 1


@dataclass
class Forecast:
    """A method's forecasts: ``mean`` (h,) and ``quantiles`` (9, h) per series id."""

    mean: dict[str, np.ndarray] = field(default_factory=dict)
    quantiles: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    error: str | None = None


def load_series(csv: Path, meta_path: Path, limit: int | None = None) -> list[Series]:
    """The benchmark set in file order (``limit``: the first N of each frequency)."""
    import pandas as pd

    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    records = {r["unique_id"]: r for r in meta["series"]}
    frame = pd.read_csv(csv)
    out: list[Series] = []
    taken: dict[str, int] = {}
    for uid, rows in frame.groupby("unique_id", sort=False):
        record = records[str(uid)]
        frequency = record["frequency"]
        if limit is not None and taken.get(frequency, 0) >= limit:
            continue
        taken[frequency] = taken.get(frequency, 0) + 1
        out.append(
            Series(
                uid=str(uid),
                frequency=frequency,
                season=int(record["season_length"]),
                ds=pd.to_datetime(rows["ds"]).to_numpy(),
                y=rows["y"].to_numpy(dtype=np.float64),
                horizon=int(record.get("horizon", HORIZONS[frequency])),
            )
        )
    return out


def groups(series: Sequence[Series], key: Callable[[Series], Any]) -> dict[Any, list[Series]]:
    out: dict[Any, list[Series]] = {}
    for s in series:
        out.setdefault(key(s), []).append(s)
    return out


def long_frame(series: Sequence[Series], *, history: bool = True) -> Any:
    """``unique_id, ds, y`` of each series' history (or all of it)."""
    import pandas as pd

    parts = []
    for s in series:
        n = len(s.train) if history else len(s.y)
        parts.append(pd.DataFrame({"unique_id": s.uid, "ds": s.ds[:n], "y": s.y[:n]}))
    return pd.concat(parts, ignore_index=True)


# -- metrics -------------------------------------------------------------------------------------


def mase(s: Series, mean: np.ndarray) -> float:
    train, m = s.train, s.m
    scale = float(np.mean(np.abs(train[m:] - train[:-m])))
    if not scale > ZERO:
        return math.nan
    return float(np.mean(np.abs(s.test - mean)) / scale)


def wql(s: Series, quantiles: np.ndarray) -> float:
    """Chronos' weighted quantile loss: mean over q of 2 * sum_t pinball_q / sum_t |y_t|."""
    denominator = float(np.sum(np.abs(s.test)))
    if not denominator > ZERO:
        return math.nan
    q = np.asarray(QUANTILES)[:, None]
    error = s.test[None, :] - quantiles
    pinball = np.maximum(q * error, (q - 1) * error)
    return float(2 * pinball.sum() / (len(QUANTILES) * denominator))


def coverage(s: Series, quantiles: np.ndarray) -> float:
    low, high = quantiles[0], quantiles[-1]
    return float(np.mean((s.test >= low) & (s.test <= high)))


def geometric_mean(ratios: Sequence[float]) -> float:
    values = np.asarray([r for r in ratios if np.isfinite(r)], dtype=float)
    if not len(values):
        return math.nan
    return float(np.exp(np.mean(np.log(np.clip(values, RATIO_FLOOR, None)))))


# -- statsforecast baselines ------------------------------------------------------------------


def statsforecast_methods(skip_arima: bool) -> dict[str, Callable[[int], Any]]:
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, Naive, SeasonalNaive

    methods: dict[str, Callable[[int], Any]] = {
        "naive": lambda m: Naive(),
        BASELINE: lambda m: SeasonalNaive(season_length=m),
        "AutoETS": lambda m: AutoETS(season_length=m),
        "AutoTheta": lambda m: AutoTheta(season_length=m),
    }
    if not skip_arima:
        # a seasonal ARIMA with m = 52 (weekly) takes minutes per series: weekly is fit with m = 1
        methods["AutoARIMA"] = lambda m: AutoARIMA(season_length=m if m <= ARIMA_MAX_SEASON else 1)
    return methods


def run_statsforecast(name: str, build: Callable[[int], Any], series: Sequence[Series]) -> Forecast:
    """One StatsForecast call per (frequency, season) group; integer time steps (``freq=1``)
    so weekly series anchored on different weekdays share a call."""
    import pandas as pd
    from statsforecast import StatsForecast

    result = Forecast()
    if name == "AutoARIMA":
        result.notes.append(f"fit on at most the last {MAX_FIT_HISTORY} points")
        if any(s.m > ARIMA_MAX_SEASON for s in series):
            result.notes.append(
                f"season lengths above {ARIMA_MAX_SEASON} (weekly 52) fit with m = 1"
            )
    for (frequency, m), members in groups(series, lambda s: (s.frequency, s.m)).items():
        horizon = members[0].horizon
        cap = MAX_FIT_HISTORY if name == "AutoARIMA" else None
        frame = pd.concat(
            [
                pd.DataFrame({"unique_id": s.uid, "ds": np.arange(len(y)), "y": y})
                for s in members
                for y in [s.train[-cap:] if cap else s.train]
            ],
            ignore_index=True,
        )
        start = time.perf_counter()
        try:
            forecasts = _sf_forecast(StatsForecast, build(m), frame, horizon)
        except Exception as exc:  # one failing series must not cost the whole group
            result.notes.append(f"{frequency}/m={m}: group call failed ({exc}); per series")
            forecasts = _per_series(StatsForecast, build, m, frame, horizon, result)
        seconds = time.perf_counter() - start
        result.seconds += seconds
        print(
            f"  {name} {frequency} m={m}: {len(members)} series, {seconds:.1f} s", file=sys.stderr
        )
        model = next(c for c in forecasts.columns if c not in ("unique_id", "ds") and "-" not in c)
        for uid, rows in forecasts.groupby("unique_id", sort=False):
            mean = rows[model].to_numpy(float)
            columns = (
                [f"{model}-lo-{level}" for level in reversed(LEVELS)]
                + [model]
                + [f"{model}-hi-{level}" for level in LEVELS]
            )
            result.mean[str(uid)] = mean
            result.quantiles[str(uid)] = np.sort(rows[columns].to_numpy(float).T, axis=0)
    return result


def _sf_forecast(sf_class: Any, model: Any, frame: Any, horizon: int) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sf = sf_class(models=[model], freq=1, n_jobs=1)
        out = sf.forecast(df=frame, h=horizon, level=LEVELS)
    return out.reset_index() if "unique_id" not in out.columns else out


def _per_series(
    sf_class: Any, build: Callable[[int], Any], m: int, frame: Any, horizon: int, result: Forecast
) -> Any:
    """Fit series by series; one that fails gets seasonal naive (counted in the notes)."""
    import pandas as pd
    from statsforecast.models import SeasonalNaive

    parts = []
    name = repr(build(m))  # statsforecast names a model's columns by its alias
    for uid, rows in frame.groupby("unique_id", sort=False):
        try:
            out = _sf_forecast(sf_class, build(m), rows, horizon)
        except Exception as exc:
            result.notes.append(f"{uid}: failed ({exc}); seasonal naive used")
            out = _sf_forecast(sf_class, SeasonalNaive(season_length=m), rows, horizon)
            out.columns = [c.replace("SeasonalNaive", name) for c in out.columns]
        parts.append(out)
    return pd.concat(parts, ignore_index=True)


# -- seqzoo LSTM per series -------------------------------------------------------------------


def _bench_plugin() -> Any:
    """A plugin registering ``bench-series``: one in-memory series as a forecasting dataset."""
    import types

    import seqzoo

    @seqzoo.hookimpl
    def register_datasets(register: Any) -> None:
        register(
            "bench-series",
            _series_dataset,
            description="One in-memory series (benchmarks/bench_forecast.py)",
            task="forecast",
            source="memory",
        )

    return types.SimpleNamespace(
        __name__="bench_forecast", SEQZOO_HOOK_API=1, register_datasets=register_datasets
    )


def _series_dataset(values: Any, window: int, horizon: int) -> Any:
    from seqzoo.core.data import forecast_data

    return forecast_data(
        "bench-series",
        np.asarray(values, dtype=np.float64),
        window=window,
        horizon=horizon,
        validation=0.0,
        test=0.0,
    )


def lstm_window(n: int, horizon: int) -> int:
    """2 x horizon, capped so the history gives at least 8 training windows where it can."""
    return max(1, min(2 * horizon, n - horizon - 7))


def run_lstm(series: Sequence[Series], seed: int, epochs: int = 30, hidden: int = 32) -> Forecast:
    """Train a small LSTM per series with ``seqzoo.train``; forecast the horizon directly (one
    output per step); quantiles = mean + the quantiles of its in-sample residuals per step."""
    import seqzoo
    from seqzoo.core.metrics import predict_split
    from seqzoo.core.predict import forecast

    registry = seqzoo.Registry(plugins=[_bench_plugin()])
    result = Forecast(
        notes=[
            f"hidden {hidden}, {epochs} epochs, trained on at most the last {MAX_FIT_HISTORY} points",
            "quantiles from in-sample residuals (intervals run narrow)",
        ]
    )
    for s in series:
        start = time.perf_counter()
        train = s.train[-MAX_FIT_HISTORY:]
        window = lstm_window(len(train), s.horizon)
        run = seqzoo.train(
            model={"name": "lstm", "hidden_size": hidden},
            dataset={
                "name": "bench-series",
                "values": train,
                "window": window,
                "horizon": s.horizon,
            },
            optimizer={"name": "adam", "lr": 1e-2},
            epochs=epochs,
            batch_size=32,
            clip=1.0,
            seed=seed,
            quiet=True,
            registry=registry,
        )
        mean = forecast(run.model, run.model.preprocessing, train[:, None], s.horizon)[:, 0]
        fitted, _ = predict_split(run.model, run.data.train, "forecast")
        scale = float(run.data.preprocessing.target_scaler.scale_[0])
        residuals = (run.data.train.targets.numpy() - fitted.numpy()) * scale  # (N, h) raw units
        offsets = np.quantile(residuals, QUANTILES, axis=0)  # (9, h), increasing in q
        result.mean[s.uid] = mean
        result.quantiles[s.uid] = mean[None, :] + offsets - offsets[4:5]  # median on the mean
        result.seconds += time.perf_counter() - start
    return result


# -- zero-shot zoo entries --------------------------------------------------------------------


def zero_shot_entries() -> list[str]:
    """Zoo entries whose metadata task is ``zero-shot-forecast`` ([] when there are none)."""
    try:
        import seqzoo

        registry = seqzoo.get_registry()
        return [
            name
            for name in seqzoo.list_zoo()
            if registry.get("zoo", name).metadata.get("task") == "zero-shot-forecast"
        ]
    except Exception as exc:
        print(f"note: no zero-shot entries ({type(exc).__name__}: {exc})", file=sys.stderr)
        return []


def _column(frame: Any, q: float) -> Any:
    for key in (f"{q:g}", str(q), q):
        if key in frame.columns:
            return frame[key]
    raise KeyError(f"no quantile column {q:g} in {list(frame.columns)}")


def run_zero_shot(name: str, series: Sequence[Series], batch_size: int | None) -> Forecast:
    """``seqzoo.forecast`` on each frequency group's histories (a long DataFrame)."""
    import seqzoo

    result = Forecast()
    options = {"batch_size": batch_size} if batch_size else {}
    for members in groups(series, lambda s: s.frequency).values():
        horizon = members[0].horizon
        frame = long_frame(members)
        start = time.perf_counter()
        out = seqzoo.forecast(frame, horizon, model=name, quantiles=QUANTILES, **options)
        result.seconds += time.perf_counter() - start
        by_id = {str(uid): rows for uid, rows in out.groupby("unique_id", sort=False)}
        for s in members:
            rows = by_id[s.uid].sort_values("ds") if "ds" in by_id[s.uid] else by_id[s.uid]
            if len(rows) != horizon:
                raise ValueError(f"{name}: {len(rows)} forecast rows for {s.uid}, not {horizon}")
            # the point forecast scored by MASE is the median, as in the Chronos benchmark
            # (statsforecast's intervals are symmetric, so its mean is its median too)
            result.mean[s.uid] = _column(rows, 0.5).to_numpy(float)
            result.quantiles[s.uid] = np.stack(
                [_column(rows, q).to_numpy(float) for q in QUANTILES]
            )
    return result


# -- the run ---------------------------------------------------------------------------------------


def score(series: Sequence[Series], results: dict[str, Forecast]) -> dict[str, Any]:
    """Per-series metrics, ratios to seasonal naive, and aggregates (overall and per frequency)."""
    per_series: dict[str, dict[str, dict[str, float]]] = {}
    for name, result in results.items():
        if result.error:
            continue
        rows: dict[str, dict[str, float]] = {}
        for s in series:
            if s.uid not in result.mean:
                continue
            mean, quantiles = result.mean[s.uid], result.quantiles[s.uid]
            row = {
                "mase": mase(s, mean),
                "wql": wql(s, quantiles),
                "coverage": coverage(s, quantiles),
            }
            if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(quantiles))):
                row = {"mase": math.inf, "wql": math.inf, "coverage": 0.0}
            rows[s.uid] = row
        per_series[name] = rows
    for rows in per_series.values():
        for uid, row in rows.items():
            reference = per_series[BASELINE][uid]
            for metric in ("mase", "wql"):
                denominator = reference[metric]
                ok = np.isfinite(denominator) and denominator > ZERO and np.isfinite(row[metric])
                row[f"relative_{metric}"] = row[metric] / denominator if ok else math.nan

    def aggregate(names: Sequence[str], subset: Sequence[Series]) -> dict[str, dict[str, Any]]:
        ids = [s.uid for s in subset]
        out = {}
        for name in names:
            rows = per_series[name]
            present = [rows[u] for u in ids if u in rows]
            out[name] = {
                "relative_mase": geometric_mean([r["relative_mase"] for r in present]),
                "relative_wql": geometric_mean([r["relative_wql"] for r in present]),
                "coverage_80": float(np.mean([r["coverage"] for r in present]))
                if present
                else math.nan,
                "series": len(present),
            }
        return out

    names = list(per_series)
    dropped = {
        metric: sum(
            1
            for s in series
            if not (
                per_series[BASELINE][s.uid][metric] > ZERO
                and np.isfinite(per_series[BASELINE][s.uid][metric])
            )
        )
        for metric in ("mase", "wql")
    }
    return {
        "overall": aggregate(names, series),
        "by_frequency": {
            f: aggregate(names, members)
            for f, members in sorted(
                groups(series, lambda s: s.frequency).items(),
                key=lambda kv: FREQUENCY_ORDER.index(kv[0]),
            )
        },
        "per_series": per_series,
        "left_out_of_relative": dropped,
    }


def markdown_table(scores: dict[str, Any], results: dict[str, Forecast]) -> str:
    lines = [
        "| method | relative MASE | relative WQL | 80% coverage | wall s |",
        "|---|---|---|---|---|",
    ]
    for name, result in results.items():
        if result.error:
            lines.append(f"| {name} | error | error | | {result.seconds:.1f} |")
            continue
        row = scores["overall"][name]
        lines.append(
            f"| {name} | {row['relative_mase']:.3f} | {row['relative_wql']:.3f} | "
            f"{row['coverage_80']:.1%} | {result.seconds:.1f} |"
        )
    return "\n".join(lines)


def frequency_table(scores: dict[str, Any], names: Sequence[str]) -> str:
    by = scores["by_frequency"]
    header = (
        "| method | "
        + " | ".join(f"{f} ({next(iter(by[f].values()))['series']})" for f in by)
        + " |"
    )
    lines = [header, "|---|" + "---|" * len(by)]
    for name in names:
        if name not in scores["overall"]:
            continue
        cells = [
            f"{by[f][name]['relative_mase']:.3f} / {by[f][name]['relative_wql']:.3f}" for f in by
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(
    path: Path, scores: dict[str, Any], results: dict[str, Forecast], series: Sequence[Series]
) -> None:
    """Bars of relative MASE and WQL per method, and one example forecast per frequency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    names = [n for n in results if not results[n].error]
    figure = plt.figure(figsize=(13, 9), constrained_layout=True)
    grid = figure.add_gridspec(3, 3)
    bars = figure.add_subplot(grid[0, :])
    x = np.arange(len(names))
    width = 0.38
    for offset, metric, label in (
        (-width / 2, "relative_mase", "relative MASE"),
        (width / 2, "relative_wql", "relative WQL"),
    ):
        values = [scores["overall"][n][metric] for n in names]
        drawn = bars.bar(x + offset, values, width, label=label)
        bars.bar_label(drawn, fmt="%.3f", fontsize=7)
    bars.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    bars.set_xticks(x, names, fontsize=8)
    bars.set_ylabel("geometric mean of ratio to seasonal naive")
    bars.set_title(f"{len(series)} held-out real series (lower is better)")
    bars.legend(fontsize=8)
    band_source = next((n for n in reversed(names) if n not in ("naive", BASELINE)), BASELINE)
    examples = [m[len(m) // 2] for m in groups(series, lambda s: s.frequency).values()][:6]
    for i, s in enumerate(examples):
        axis = figure.add_subplot(grid[1 + i // 3, i % 3])
        shown = min(len(s.train), 4 * s.horizon)
        axis.plot(
            s.ds[-s.horizon - shown : -s.horizon], s.train[-shown:], color="black", linewidth=0.9
        )
        axis.plot(s.ds[-s.horizon :], s.test, color="black", linewidth=0.9, linestyle=":")
        future = s.ds[-s.horizon :]
        quantiles = results[band_source].quantiles.get(s.uid)
        if quantiles is not None:
            axis.fill_between(
                future, quantiles[0], quantiles[-1], alpha=0.2, label=f"{band_source} 80%"
            )
        for name in names:
            if s.uid in results[name].mean:
                axis.plot(future, results[name].mean[s.uid], linewidth=0.8, label=name)
        locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
        axis.xaxis.set_major_locator(locator)
        axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        axis.set_title(f"{s.frequency}: {s.uid}", fontsize=8)
        axis.tick_params(labelsize=6)
        if i == 0:
            axis.legend(fontsize=6)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def benchmark(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(1)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    wall = time.perf_counter()
    series = load_series(args.data, args.meta, args.limit)
    counts = {f: len(m) for f, m in groups(series, lambda s: s.frequency).items()}
    print(f"{len(series)} series: {counts}", file=sys.stderr)

    results: dict[str, Forecast] = {}
    for name, build in statsforecast_methods(args.skip_arima).items():
        print(f"running {name} ...", file=sys.stderr)
        results[name] = run_statsforecast(name, build, series)
    if not args.skip_lstm:
        print("running seqzoo LSTM (per series) ...", file=sys.stderr)
        results["seqzoo LSTM"] = run_lstm(series, args.seed)
    for name in args.models:
        print(f"running zero-shot {name} ...", file=sys.stderr)
        try:
            results[name] = run_zero_shot(name, series, args.batch_size)
        except Exception as exc:  # a broken entry is reported, the others still run
            results[name] = Forecast(error=f"{type(exc).__name__}: {exc}")
            print(f"error: {name}: {results[name].error}", file=sys.stderr)

    scores = score(series, results)
    table = markdown_table(scores, results)
    total = time.perf_counter() - wall
    print(table)
    notes = [
        f"{len(series)} series ({', '.join(f'{f} {n}' for f, n in counts.items())}); ratios to "
        f"seasonal naive, geometric mean over series; total wall {total:.0f} s",
        *[f"{name}: {note}" for name, r in results.items() for note in r.notes[:5]],
        *[f"{name}: {r.error}" for name, r in results.items() if r.error],
    ]
    left = scores["left_out_of_relative"]
    if any(left.values()):
        notes.append(
            f"left out of the ratios (seasonal naive error 0): MASE {left['mase']}, WQL {left['wql']}"
        )
    for note in notes:
        print(f"- {note}")
    if args.per_frequency:
        print()
        print("relative MASE / relative WQL by frequency:")
        print(frequency_table(scores, list(results)))

    args.out.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "seqzoo held-out forecasting benchmark",
        "data": str(args.data.relative_to(ROOT))
        if args.data.is_relative_to(ROOT)
        else str(args.data),
        "settings": {
            "limit": args.limit,
            "seed": args.seed,
            "skip_arima": args.skip_arima,
            "skip_lstm": args.skip_lstm,
            "models": args.models,
            "quantiles": QUANTILES,
            "horizons": HORIZONS,
            "ratio_floor": RATIO_FLOOR,
            "torch_threads": 1,
        },
        "environment": _environment(),
        "wall_seconds": total,
        "methods": {
            name: {
                **scores["overall"].get(name, {}),
                "wall_seconds": r.seconds,
                "notes": r.notes,
                "error": r.error,
            }
            for name, r in results.items()
        },
        "by_frequency": scores["by_frequency"],
        "left_out_of_relative": left,
        "table": table,
        "per_series": scores["per_series"],
    }
    (args.out / "forecast.json").write_text(
        json.dumps(_finite(document), indent=1) + "\n", encoding="utf-8"
    )
    plot(args.out / "forecast.png", scores, results, series)
    print(f"wrote {args.out / 'forecast.json'} and {args.out / 'forecast.png'}", file=sys.stderr)
    return 0


def _finite(value: Any) -> Any:
    """JSON without NaN/inf (they become null)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _environment() -> dict[str, Any]:
    from importlib import metadata

    found = {}
    for package in ("seqzoo", "torch", "numpy", "pandas", "statsforecast"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        **found,
    }


# -- speed -------------------------------------------------------------------------------------


def synthetic(count: int, length: int, seed: int) -> np.ndarray:
    """Random walk + a 24-step seasonal pattern + noise, ``(count, length)``."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(size=(count, length)), axis=1)
    phase = rng.uniform(0, 2 * np.pi, size=(count, 1))
    amplitude = rng.uniform(0.5, 5.0, size=(count, 1))
    season = amplitude * np.sin(2 * np.pi * np.arange(length)[None, :] / 24 + phase)
    level = rng.uniform(10, 1000, size=(count, 1))
    return level + walk + season + rng.normal(scale=0.3, size=(count, length))


def speed(args: argparse.Namespace) -> int:
    import pandas as pd
    import torch

    import seqzoo

    torch.set_num_threads(2)
    count, length, horizon = args.speed_series, 512, 48
    values = synthetic(count, length, args.seed)
    ds = pd.date_range("2020-01-01", periods=length, freq="h")
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat([f"s{i:05d}" for i in range(count)], length),
            "ds": np.tile(ds.to_numpy(), count),
            "y": values.ravel(),
        }
    )
    if not args.models:
        print(
            "no zero-shot entries to time (seqzoo.list_zoo() lists none with task zero-shot-forecast)"
        )
        return 0
    print(
        "| model | series | length | horizon | torch threads | total s | series/s "
        "| CPU share | load before |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    options = {"batch_size": args.batch_size} if args.batch_size else {}
    for name in args.models:
        try:
            seqzoo.forecast(
                frame.iloc[: 8 * length], horizon, model=name, quantiles=QUANTILES, **options
            )  # warm-up
            load = os.getloadavg()[0]
            start, cpu = time.perf_counter(), time.process_time()
            out = seqzoo.forecast(frame, horizon, model=name, quantiles=QUANTILES, **options)
            seconds = time.perf_counter() - start
            # the share of the 2 cores this process got: below 100% the machine was busy
            share = (time.process_time() - cpu) / (2 * seconds)
        except Exception as exc:
            print(f"| {name} | error: {type(exc).__name__}: {exc} | | | | | |")
            continue
        if len(out) != count * horizon:
            print(
                f"warning: {name} returned {len(out)} rows, not {count * horizon}", file=sys.stderr
            )
        print(
            f"| {name} | {count:,} | {length} | {horizon} | 2 | {seconds:.2f} | "
            f"{count / seconds:,.0f} | {100 * share:.0f}% | {load:.1f} |"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--limit", type=int, default=None, help="the first N series of each frequency"
    )
    parser.add_argument(
        "--models",
        default=None,
        help="zero-shot zoo entries, comma-separated ('none': no zero-shot entry); default: every "
        "zoo entry whose task is zero-shot-forecast",
    )
    parser.add_argument(
        "--skip-arima", action="store_true", help="leave out AutoARIMA (the slowest)"
    )
    parser.add_argument(
        "--skip-lstm", action="store_true", help="leave out the per-series seqzoo LSTM"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results", help="output folder"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=None, help="passed to seqzoo.forecast")
    parser.add_argument(
        "--per-frequency", action="store_true", help="also print a per-frequency table"
    )
    parser.add_argument(
        "--speed", action="store_true", help="time seqzoo.forecast on synthetic series"
    )
    parser.add_argument("--speed-series", type=int, default=10_000, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, default=DATA / "series.csv.gz", help=argparse.SUPPRESS)
    parser.add_argument(
        "--meta", type=Path, default=DATA / "series_meta.json", help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.models is None:
        args.models = zero_shot_entries()
    else:
        args.models = [
            m.strip() for m in args.models.split(",") if m.strip() and m.strip().lower() != "none"
        ]
    return speed(args) if args.speed else benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
