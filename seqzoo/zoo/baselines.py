"""Baselines a zoo entry is scored beside, fit in the same build on the same test targets as
the model, and the summary of its seeds.

- :func:`state_space` / :func:`least_squares`: the classical baseline of a recipe
  (statsmodels ARIMA or ETS, ordinary least squares);
- :func:`statsforecast_baselines`: AutoETS, AutoARIMA, AutoTheta and MSTL from statsforecast
  (the optional ``bench`` extra, imported here only, while a build runs) for a forecaster;
- :func:`seed_summary` and :func:`verdict`: mean and standard deviation over seeds, which seed
  is shipped, and whether the mean beats every baseline.

Every forecast baseline follows the model's protocol: one step ahead at each test target, from
the true history up to it; each split is windowed on its own, so the first test target is the
row ``window`` steps into the test part.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from seqzoo.core.errors import ConfigError

__all__ = [
    "STATSFORECAST_MODELS",
    "forecast_frame",
    "least_squares",
    "seed_summary",
    "state_space",
    "statsforecast_baselines",
    "verdict",
]

#: The statsforecast models fit for every forecasting entry (their baseline labels).
STATSFORECAST_MODELS = ("AutoETS", "AutoARIMA", "AutoTheta", "MSTL")
#: statsforecast's ETS holds at most 24 seasonal states, and a seasonal ARIMA with a longer
#: season (weekly data: 52) takes minutes per fit: both are fit without a season above this
MAX_SEASON = 24
#: statsforecast's Naive / SeasonalNaive must reproduce seqzoo's persistence / seasonal naive
#: to this relative tolerance (seqzoo's come from float32 windows): the protocol check
_SAME = 1e-5


def forecast_frame(data: Any) -> tuple[Any, int, int, int]:
    """``(raw series, end of training rows, first test target row, end of test rows)`` of a
    univariate horizon-1 forecast, checked against the test targets the model is scored on."""
    import numpy as np

    p = data.preprocessing
    if data.series is None or data.series.shape[1] != 1 or p.horizon != 1:
        raise ConfigError(
            f"{data.name}: the classical forecast baselines need one column, horizon 1"
        )
    series = np.asarray(data.series[:, 0], dtype=np.float64)
    split = data.metadata["split"]
    train_stop, (test_start, test_stop) = split["train"][1], split["test"]
    first = test_start + p.window  # each split is windowed on its own: the first target
    truth = p.unscale_targets(data.test.targets).reshape(-1)
    if len(truth) != test_stop - first or not np.allclose(truth, series[first:test_stop]):
        raise ConfigError(f"{data.name}: the test targets are not rows {first}..{test_stop - 1}")
    return series, train_stop, first, test_stop


def state_space(data: Any, spec: dict[str, Any]) -> dict[str, float]:
    """Fit ARIMA or ETS on the training rows, then forecast each test target one step ahead:
    the later rows are appended with the fitted parameters kept (no refit), so a forecast
    sees the observations before it and nothing else."""
    from statsmodels.tsa.statespace.exponential_smoothing import ExponentialSmoothing
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    from seqzoo.core.metrics import regression_metrics

    series, train_stop, first, stop = forecast_frame(data)
    if spec["kind"] == "arima":
        p, d, q = (int(v) for v in spec["order"])
        model = SARIMAX(series[:train_stop], order=(p, d, q), trend="c" if d == 0 else "n")
    else:
        # "simple" initial states: estimating all of a weekly season's 52 by maximum
        # likelihood takes minutes and changes little
        model = ExponentialSmoothing(
            series[:train_stop],
            trend=True,
            seasonal=spec["seasonal"],
            initialization_method="simple",
        )
    extended = model.fit(disp=False).append(series[train_stop:stop])
    return regression_metrics(series[first:stop], extended.predict(start=first, end=stop - 1))


def least_squares(data: Any) -> dict[str, float]:
    """Ordinary least squares (with an intercept) on the training rows, scored on the test rows."""
    import numpy as np

    from seqzoo.core.metrics import regression_metrics

    def design(split: Any) -> Any:
        x = split.inputs.reshape(len(split), -1).double().numpy()
        return np.hstack([x, np.ones((len(x), 1))])

    y = data.train.targets.reshape(len(data.train), -1).double().numpy()
    coefficients = np.linalg.lstsq(design(data.train), y, rcond=None)[0]
    unscale = data.preprocessing.unscale_targets
    truth = unscale(data.test.targets.double()).reshape(len(data.test), -1)
    guess = unscale(design(data.test) @ coefficients).reshape(truth.shape)
    return regression_metrics(truth, guess)


# -- statsforecast ------------------------------------------------------------------------------


def _chosen(label: str, model: Any) -> str:
    """What the automatic search picked, as statsforecast names it."""
    fitted: Any = getattr(model, "model_", None)  # statsforecast's own dict of the fit
    try:
        if label == "AutoETS":
            return str(fitted["method"])
        if label == "AutoARIMA":
            from statsforecast.arima import arima_string

            return str(arima_string(fitted)).strip()
        if label == "AutoTheta":
            return f"{fitted['modeltype']}" + (
                " (deseasonalised)" if fitted.get("decompose") else ""
            )
        if label == "MSTL" and not hasattr(model, "trend_forecaster"):
            return f"{fitted['method']} (no season to remove)"
        if label == "MSTL":
            trend = model.trend_forecaster.model_["method"]
            season = model.season_length  # a list: MSTL takes several seasons
            season = ", ".join(map(str, season)) if isinstance(season, list) else season
            return f"MSTL(season {season}) + {trend} trend"
    except (AttributeError, KeyError, TypeError):  # another statsforecast version's layout
        pass
    return label


def _models(m: int) -> tuple[dict[str, Any], list[str]]:
    """The statsforecast models for season length ``m`` (1: none) and notes on how they are
    fit; checking models ``naive`` / ``seasonal naive`` come first."""
    from statsforecast.models import MSTL, AutoARIMA, AutoETS, AutoTheta, Naive, SeasonalNaive

    notes: list[str] = []
    capped = m if m <= MAX_SEASON else 1
    if m > MAX_SEASON:
        notes.append(
            f"AutoETS and AutoARIMA are fit without a season (statsforecast's ETS holds at most "
            f"{MAX_SEASON} seasonal states; a seasonal ARIMA with m = {m} takes minutes per fit); "
            f"AutoTheta and MSTL remove the season (m = {m}) by decomposition"
        )
    models: dict[str, Any] = {
        "naive": Naive(),
        "seasonal naive": SeasonalNaive(season_length=m),
        "AutoETS": AutoETS(season_length=capped),
        "AutoARIMA": AutoARIMA(season_length=capped),
        "AutoTheta": AutoTheta(season_length=m),
    }
    if m > 1:
        models["MSTL"] = MSTL(season_length=m)
    else:
        # MSTL with no season has nothing to decompose: what is left is its trend model
        models["MSTL"] = AutoETS(model="ZZN")
        notes.append(
            "the series has no season: seasonal naive is naive (persistence), and MSTL reduces "
            "to its trend model, AutoETS with model ZZN, on the raw series"
        )
    return models, notes


def statsforecast_baselines(data: Any, naive: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """AutoETS, AutoARIMA, AutoTheta and MSTL scored on the model's test targets.

    Each is fit once on the training and validation rows, then moved one step at a time with
    statsforecast's ``forward`` (the fitted model applied to the true history up to each test
    target, no refit: what ``cross_validation(h=1, step_size=1, refit=False)`` does). Its
    Naive and SeasonalNaive are run the same way and must reproduce ``naive`` (seqzoo's
    ``persistence`` / ``seasonal_naive`` of the same targets), which checks the protocol.

    Returns ``{"computed": True, "baselines": {label: metrics}, "chosen", "season_length",
    "fit_rows", "version", "notes"}``, or ``{"computed": False, "reason"}`` when
    statsforecast is not installed.
    """
    try:
        import statsforecast
    except ImportError:
        return {
            "computed": False,
            "reason": "statsforecast is not installed (pip install 'seqzoo[bench]')",
        }
    import numpy as np

    from seqzoo.core.metrics import regression_metrics

    series, _, first, stop = forecast_frame(data)
    fit_stop = int(data.metadata["split"]["test"][0])  # training + validation rows
    m = int(data.season or 1)
    models, notes = _models(m)
    truth = series[first:stop]
    scores: dict[str, dict[str, float]] = {}
    chosen: dict[str, str] = {}
    for label, model in models.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter; the score tells
            model.fit(y=series[:fit_stop])
            guess = np.array(
                [model.forward(y=series[:t], h=1)["mean"][0] for t in range(first, stop)]
            )
        scores[label] = regression_metrics(truth, guess)
        chosen[label] = _chosen(label, model)
    for label, ours in (("naive", "persistence"), ("seasonal naive", "seasonal_naive")):
        if ours in naive and not math.isclose(
            scores[label]["mae"], naive[ours]["mae"], rel_tol=_SAME
        ):
            raise RuntimeError(
                f"{data.name}: statsforecast's {label} scores mae {scores[label]['mae']} on the "
                f"test targets, seqzoo's {ours} {naive[ours]['mae']}: not the same test points"
            )
    return {
        "computed": True,
        "baselines": {label: scores[label] for label in STATSFORECAST_MODELS},
        "chosen": {label: chosen[label] for label in STATSFORECAST_MODELS},
        "season_length": m,
        "fit_rows": fit_stop,
        "version": str(statsforecast.__version__),
        "notes": notes,
    }


# -- seeds and the verdict ----------------------------------------------------------------------


def seed_summary(headline: str, reports: Mapping[int, Mapping[str, float]]) -> dict[str, Any]:
    """Mean and sample standard deviation of every metric over the seeds' test ``reports``,
    and the seed shipped: the median by ``headline`` (ties: the lower seed; an even count:
    the lower of the two middle ones)."""
    import numpy as np

    seeds = sorted(reports)
    ranked = sorted(seeds, key=lambda s: (reports[s][headline], s))
    names = [k for k in reports[seeds[0]] if isinstance(reports[seeds[0]][k], (int, float))]

    def spread(values: Sequence[float]) -> float:
        return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0

    return {
        "seeds": seeds,
        "shipped": ranked[(len(ranked) - 1) // 2],
        "mean": {k: float(np.mean([reports[s][k] for s in seeds])) for k in names},
        "std": {k: spread([reports[s][k] for s in seeds]) for k in names},
        "per_seed": {str(s): dict(reports[s]) for s in seeds},
    }


def verdict(
    headline: str, mean: float, baselines: Mapping[str, Mapping[str, float]]
) -> dict[str, Any]:
    """Whether ``mean`` (lower is better) beats every baseline's ``headline``; the best
    baseline; and each baseline that does at least as well, with the gap."""
    scored = {k: float(v[headline]) for k, v in baselines.items() if headline in v}
    best = min(scored, key=lambda k: scored[k]) if scored else None
    losses = [
        {
            "baseline": k,
            "value": v,
            "by": mean - v,
            "percent": 100 * (mean - v) / abs(v) if v else math.inf,
        }
        for k, v in sorted(scored.items(), key=lambda item: item[1])
        if v <= mean
    ]
    return {
        "metric": headline,
        "mean": mean,
        "beats_all": not losses,
        "best_baseline": best,
        "best_value": scored.get(best) if best else None,
        "loses_to": losses,
    }
