"""The synthetic training corpus of the zero-shot forecasters, generated on the fly.

Every batch mixes series drawn from these generators (each ``(rng, n, length) -> values
(n, length), season hints (n,)``):

- ``kernel``: Gaussian-process series from random kernel compositions (KernelSynth, from the
  Chronos paper): RBF, periodic, linear, rational-quadratic, white-noise and constant kernels
  joined by sums and products; sampled once into a pool (Cholesky is the costly part) and
  cropped, flipped and rescaled on use;
- ``ets``: simulated exponential smoothing (additive or multiplicative error, damped trends,
  seasons);
- ``arima``: simulated (seasonal) ARIMA processes with random stationary coefficients;
- ``seasonal``: trends (linear, piecewise, exponential, logistic) plus one or two seasonalities
  built from harmonics or a random repeating profile, additive or multiplicative;
- ``intermittent``: sparse demand (Bernoulli occurrence times gamma or Poisson sizes);
- ``walk``: random walks with drift;
- ``real``: windows of the real series bundled with statsmodels (the only real data allowed).

Then: kinds of noise (Gaussian, Student-t, heteroscedastic, AR(1)), level shifts and spikes,
TSMixup-style convex mixtures of up to three series, a random affine change of units, missing
values and short contexts (left-padded with NaN). Season hints are the known main period
(0: none given), dropped at random so the model also works without one.

Only numpy is needed (scipy's ``lfilter`` for ARIMA when available); nothing here runs at
prediction time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "PERIODS",
    "CorpusConfig",
    "SyntheticCorpus",
    "kernel_series",
    "real_training_series",
    "series_hash",
]

#: Season lengths the generators draw from (steps per cycle), with their weights.
PERIODS = np.array([4, 7, 12, 24, 52, 5, 6, 13, 30, 48, 96, 168, 2, 3, 10, 26, 365])
_PERIOD_WEIGHTS = np.array([3, 3, 4, 3, 2, 1, 1, 1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5])

Generator = Callable[[np.random.Generator, int, int], tuple[np.ndarray, np.ndarray]]


def series_hash(values: np.ndarray) -> str:
    """The sha256 of a series' float64 values rounded to 1e-8 (how corpora are compared)."""
    rounded = np.round(np.asarray(values, dtype=np.float64), 8) + 0.0  # -0.0 -> 0.0
    return hashlib.sha256(rounded.tobytes()).hexdigest()


def _period(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """``n`` season lengths that fit at least two cycles into ``length`` steps."""
    weights = np.where(length >= PERIODS * 2, _PERIOD_WEIGHTS, 0.0)
    return rng.choice(PERIODS, size=n, p=weights / weights.sum())


# -- KernelSynth ------------------------------------------------------------------------------


def _kernel_bank(rng: np.random.Generator, t: np.ndarray, length: int) -> np.ndarray:
    """One random kernel from the bank, as a ``(length, length)`` Gram matrix on ``t``."""
    d = t[:, None] - t[None, :]
    kind = rng.choice(
        ["rbf", "periodic", "linear", "rq", "white", "const"],
        p=[0.25, 0.35, 0.12, 0.13, 0.08, 0.07],
    )
    if kind == "rbf":
        scale = rng.choice([0.01, 0.03, 0.1, 0.3, 1.0])
        return np.exp(-0.5 * (d / scale) ** 2)
    if kind == "periodic":
        period = _period(rng, 1, length)[0] / length
        width = rng.choice([0.5, 1.0, 2.0])
        return np.exp(-2.0 * np.sin(np.pi * np.abs(d) / period) ** 2 / width**2)
    if kind == "linear":
        offset = rng.uniform(-1, 1)
        return (t[:, None] - offset) * (t[None, :] - offset) + rng.uniform(0, 1)
    if kind == "rq":
        scale, alpha = rng.choice([0.03, 0.1, 0.3, 1.0]), rng.choice([0.1, 1.0, 10.0])
        return (1 + d**2 / (2 * alpha * scale**2)) ** -alpha
    if kind == "white":
        return np.eye(length) * rng.uniform(0.01, 0.3)
    return np.full((length, length), rng.uniform(0.1, 1.0))


def kernel_series(rng: np.random.Generator, length: int, max_kernels: int = 4) -> np.ndarray:
    """One KernelSynth series: a GP sample under a random composition of bank kernels."""
    t = np.linspace(0.0, 1.0, length)
    gram = _kernel_bank(rng, t, length)
    for _ in range(rng.integers(0, max_kernels)):
        other = _kernel_bank(rng, t, length)
        gram = gram + other if rng.random() < 0.5 else gram * other
    gram = gram + 1e-5 * np.eye(length)
    try:
        lower = np.linalg.cholesky(gram)
    except np.linalg.LinAlgError:
        lower = np.linalg.cholesky(gram + 1e-3 * np.eye(length))
    return lower @ rng.standard_normal(length)


# -- simulated processes ----------------------------------------------------------------------


def _season_profile(rng: np.random.Generator, period: int) -> np.ndarray:
    """A zero-mean repeating pattern of ``period`` steps: harmonics or free-form."""
    if rng.random() < 0.6:
        phase = np.arange(period) / period
        profile = np.zeros(period)
        for k in range(1, int(rng.integers(1, min(4, max(2, period // 2)) + 1)) + 1):
            profile += rng.normal() / k * np.sin(2 * np.pi * k * phase + rng.uniform(0, 2 * np.pi))
    else:
        profile = rng.normal(size=period)
    profile -= profile.mean()
    return profile / (np.abs(profile).max() + 1e-9)


def _ets(rng: np.random.Generator, n: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    periods = _period(rng, n, length)
    seasonal = rng.random(n) < 0.6
    alpha, beta, gamma = rng.uniform(0.05, 0.9, n), rng.uniform(0.0, 0.2, n), rng.uniform(0, 0.3, n)
    has_trend = rng.random(n) < 0.5
    phi = np.where(rng.random(n) < 0.5, rng.uniform(0.8, 0.98, n), 1.0)
    multiplicative = rng.random(n) < 0.4
    sigma = rng.uniform(0.01, 0.15, n)
    level = rng.uniform(5, 100, n)
    trend = np.where(has_trend, rng.normal(0, 0.01, n) * level, 0.0)
    cycle = max(int(periods.max()), 1)
    season = np.zeros((n, cycle))
    for i in range(n):
        p = int(periods[i])
        season[i, :p] = _season_profile(rng, p) * rng.uniform(0.05, 0.5) * seasonal[i]
    out = np.empty((n, length))
    rows = np.arange(n)
    for step in range(length):
        slot = step % periods
        s = season[rows, slot]
        mean = level + phi * trend
        fitted = mean * (1 + s)  # the season scales with the level
        error = rng.normal(0, 1, n) * sigma
        y = np.where(multiplicative, fitted * (1 + error), fitted + error * level)
        relative = np.where(multiplicative, error, error * level / np.maximum(np.abs(fitted), 1e-9))
        relative = relative.clip(-0.5, 0.5)  # a near-zero fit must not blow the level up
        out[:, step] = y
        new_level = np.maximum(mean * (1 + alpha * relative), 1e-3)
        trend = np.where(has_trend, phi * trend + beta * alpha * relative * mean, 0.0)
        season[rows, slot] = s + gamma * relative * seasonal
        level = new_level
    return out, np.where(seasonal, periods, 1)


def _lfilter(b: np.ndarray, a: np.ndarray, x: np.ndarray) -> np.ndarray:
    try:
        from scipy.signal import lfilter
    except ImportError:  # pragma: no cover - scipy comes with scikit-learn
        y = np.zeros_like(x)
        for t in range(len(x)):
            acc = sum(b[k] * x[t - k] for k in range(len(b)) if t - k >= 0)
            acc -= sum(a[k] * y[t - k] for k in range(1, len(a)) if t - k >= 0)
            y[t] = acc / a[0]
        return y
    return lfilter(b, a, x)


def _stationary_ar(rng: np.random.Generator, order: int) -> np.ndarray:
    """AR coefficients of a stationary process, from random partial autocorrelations."""
    phi = np.zeros(0)
    for k in range(order):
        r = rng.uniform(-0.9, 0.9)
        phi = np.concatenate([phi - r * phi[::-1], [r]]) if k else np.array([r])
    return phi


def _arima(rng: np.random.Generator, n: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    periods = _period(rng, n, length)
    out = np.empty((n, length))
    hints = np.ones(n, dtype=np.int64)
    burn = 50
    for i in range(n):
        ar = _stationary_ar(rng, int(rng.integers(0, 4)))
        ma = rng.uniform(-0.8, 0.8, int(rng.integers(0, 3)))
        a = np.concatenate([[1.0], -ar])
        b = np.concatenate([[1.0], ma])
        if rng.random() < 0.4:  # seasonal AR / MA at lag m
            m = int(periods[i])
            sa = np.zeros(m + 1)
            sa[0], sa[m] = 1.0, -rng.uniform(0.3, 0.95)
            a = np.convolve(a, sa)
            hints[i] = m
        x = _lfilter(b, a, rng.standard_normal(length + burn))[burn:]
        d = rng.choice([0, 1, 1, 2], p=[0.45, 0.25, 0.2, 0.1])
        for _ in range(d):
            x = np.cumsum(x) / 3.0
        out[i] = x + rng.normal(0, 0.05) * np.arange(length) * (rng.random() < 0.3)
    return out, hints


def _trend(rng: np.random.Generator, length: int) -> np.ndarray:
    t = np.linspace(0, 1, length)
    kind = rng.integers(0, 5)
    if kind == 0:
        return rng.normal() * t
    if kind == 1:  # piecewise linear, a few changepoints
        slopes = rng.normal(size=4)
        knots = np.sort(rng.uniform(0, 1, 3))
        pieces = np.searchsorted(knots, t)
        return np.cumsum(slopes[pieces]) / length
    if kind == 2:
        return np.expm1(rng.uniform(-2, 2) * t)
    if kind == 3:
        return 1 / (1 + np.exp(-rng.uniform(5, 20) * (t - rng.uniform(0.2, 0.8))))
    return np.zeros(length)


def _seasonal(rng: np.random.Generator, n: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    out = np.empty((n, length))
    periods = _period(rng, n, length)
    steps = np.arange(length)
    for i in range(n):
        main = int(periods[i])
        y = _trend(rng, length) * rng.uniform(0, 3)
        y = y + np.tile(_season_profile(rng, main), length // main + 1)[:length]
        if rng.random() < 0.35:  # a second seasonality, e.g. daily and weekly cycles
            pairs = {24: 168, 7: 365, 12: 60, 4: 40, 48: 336}
            other = pairs.get(main, 0)
            if not other or length < 2 * other:
                other = int(_period(rng, 1, length)[0])
            cycle = np.tile(_season_profile(rng, other), length // other + 1)[:length]
            y = y + rng.uniform(0.1, 1.0) * cycle
        if rng.random() < 0.2:  # a drifting phase or amplitude
            y = y * (1 + rng.uniform(-0.5, 0.5) * steps / length)
        y = y + _noise(rng, length) * rng.uniform(0.02, 0.5)
        if rng.random() < 0.3:  # multiplicative: seasonal swings grow with the level
            y = np.exp(y * rng.uniform(0.1, 0.5))
        out[i] = y
    return out, periods


def _intermittent(rng: np.random.Generator, n: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    rate = rng.uniform(0.05, 0.6, (n, 1))
    occurs = rng.random((n, length)) < rate
    sizes: np.ndarray
    if rng.random() < 0.5:
        sizes = rng.gamma(rng.uniform(0.5, 3), rng.uniform(1, 20), (n, length))
    else:
        sizes = 1 + rng.poisson(rng.uniform(0.5, 10), (n, length))
    return np.round(occurs * sizes, int(rng.integers(0, 2)) * 2), np.ones(n, dtype=np.int64)


def _walk(rng: np.random.Generator, n: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    drift = rng.normal(0, 0.2, (n, 1)) * (rng.random((n, 1)) < 0.6)
    steps = rng.standard_normal((n, length)) + drift
    return np.cumsum(steps, axis=1), np.ones(n, dtype=np.int64)


def _noise(rng: np.random.Generator, length: int) -> np.ndarray:
    kind = rng.integers(0, 4)
    if kind == 0:
        return rng.standard_normal(length)
    if kind == 1:
        return rng.standard_t(rng.uniform(2.5, 6), length) / 1.5
    if kind == 2:  # heteroscedastic: the noise swells and shrinks
        return rng.standard_normal(length) * np.exp(np.cumsum(rng.normal(0, 0.05, length)))
    return (
        _lfilter(
            np.array([1.0]), np.array([1.0, -rng.uniform(0.3, 0.9)]), rng.standard_normal(length)
        )
        / 2
    )


# -- real series ------------------------------------------------------------------------------


def real_training_series() -> list[tuple[str, np.ndarray, int]]:
    """``(name, values, season)`` of every univariate series bundled with statsmodels.

    The only real data the zero-shot forecasters are trained on; an empty list without
    statsmodels.
    """
    try:
        from statsmodels import datasets
    except ImportError:  # pragma: no cover - statsmodels is a dependency
        return []
    found: list[tuple[str, np.ndarray, int]] = []

    def add(name: str, values: object, season: int) -> None:
        array = np.asarray(values, dtype=np.float64)
        array = array[np.isfinite(array)]
        if len(array) >= 20 and np.ptp(array) > 0:
            found.append((name, array, season))

    co2 = datasets.co2.load_pandas().data["co2"].interpolate().to_numpy()
    add("co2", co2, 52)
    add("sunspots", datasets.sunspots.load_pandas().data["SUNACTIVITY"], 11)
    add("nile", datasets.nile.load_pandas().data["volume"], 1)
    elnino = datasets.elnino.load_pandas().data.drop(columns="YEAR").to_numpy().reshape(-1)
    add("elnino", elnino, 12)
    macro = datasets.macrodata.load_pandas().data
    for column in macro.columns.drop(["year", "quarter"]):
        add(f"macrodata.{column}", macro[column], 4)
    for module, season in (("danish_data", 4), ("interest_inflation", 4), ("longley", 1)):
        frame = getattr(datasets, module).load_pandas().data
        for column in frame.select_dtypes("number").columns:
            if column.lower() not in ("year", "quarter", "period"):
                add(f"{module}.{column}", frame[column], season)
    fertility = datasets.fertility.load_pandas().data
    years = [c for c in fertility.columns if str(c).isdigit()]
    for _, row in fertility.iterrows():
        add(f"fertility.{row['Country Code']}", row[years].to_numpy(dtype=float), 1)
    grunfeld = datasets.grunfeld.load_pandas().data
    for firm, rows in grunfeld.groupby("firm"):
        for column in ("invest", "value", "capital"):
            add(f"grunfeld.{firm}.{column}", rows.sort_values("year")[column], 1)
    return found


# -- the corpus -------------------------------------------------------------------------------


@dataclass
class CorpusConfig:
    """What a batch is made of. Weights are relative; lengths in steps."""

    weights: dict[str, float] = field(
        default_factory=lambda: {
            "kernel": 0.25,
            "ets": 0.2,
            "arima": 0.15,
            "seasonal": 0.2,
            "intermittent": 0.05,
            "walk": 0.05,
            "real": 0.1,
        }
    )
    kernel_pool: int = 4096
    kernel_length: int = 576
    mixup: float = 0.3
    missing: float = 0.1
    short_context: float = 0.3
    hint_dropout: float = 0.3
    outliers: float = 0.1
    level_shifts: float = 0.1

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class SyntheticCorpus:
    """An endless, seeded stream of ``(values (n, length), season hints (n,))`` batches.

    ``batch(n, context, horizon)`` gives ``context + horizon`` steps per series: the first
    ``context`` may hold NaN (missing, or left padding of a shorter context), the last
    ``horizon`` are always observed targets.
    """

    def __init__(self, seed: int = 0, config: CorpusConfig | None = None) -> None:
        self.config = config or CorpusConfig()
        self.rng = np.random.default_rng(seed)
        self._pool: np.ndarray | None = None
        self._pool_seasons: np.ndarray | None = None
        self._real = real_training_series() if self.config.weights.get("real") else []
        self.generators: dict[str, Generator] = {
            "kernel": self._kernel,
            "ets": _ets,
            "arima": _arima,
            "seasonal": _seasonal,
            "intermittent": _intermittent,
            "walk": _walk,
            "real": self._real_windows,
        }
        if not self._real:
            self.config.weights.pop("real", None)

    def kernel_pool(self) -> np.ndarray:
        """The KernelSynth pool ``(kernel_pool, kernel_length)``, sampled on first use."""
        if self._pool is None:
            pool_rng = np.random.default_rng(self.rng.integers(2**63))
            length = self.config.kernel_length
            self._pool = np.stack(
                [kernel_series(pool_rng, length) for _ in range(self.config.kernel_pool)]
            ).astype(np.float32)
        return self._pool

    def _kernel(
        self, rng: np.random.Generator, n: int, length: int
    ) -> tuple[np.ndarray, np.ndarray]:
        pool = self.kernel_pool()
        rows = rng.integers(0, len(pool), n)
        out = np.empty((n, length))
        for i, row in enumerate(rows):
            series = pool[row]
            if length <= len(series):
                start = int(rng.integers(0, len(series) - length + 1))
                piece = series[start : start + length]
            else:  # stretch by linear interpolation
                piece = np.interp(
                    np.linspace(0, len(series) - 1, length), np.arange(len(series)), series
                )
            out[i] = piece[::-1] if rng.random() < 0.5 else piece
        return out, np.zeros(n, dtype=np.int64)

    def _real_windows(
        self, rng: np.random.Generator, n: int, length: int
    ) -> tuple[np.ndarray, np.ndarray]:
        out = np.full((n, length), np.nan)
        hints = np.zeros(n, dtype=np.int64)
        for i in range(n):
            _, values, season = self._real[int(rng.integers(0, len(self._real)))]
            take = min(length, len(values))
            start = int(rng.integers(0, len(values) - take + 1))
            out[i, length - take :] = values[start : start + take]
            hints[i] = season
        return out, hints

    def _one_kind(self, n: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        names = list(self.config.weights)
        weights = np.array([self.config.weights[k] for k in names])
        kinds = self.rng.choice(len(names), size=n, p=weights / weights.sum())
        values = np.empty((n, length))
        hints = np.zeros(n, dtype=np.int64)
        for k in np.unique(kinds):
            rows = np.flatnonzero(kinds == k)
            v, h = self.generators[names[k]](self.rng, len(rows), length)
            values[rows], hints[rows] = v, h
        return values, hints

    def batch(self, n: int, context: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` series of ``context + horizon`` steps (float32) and their season hints."""
        rng, cfg = self.rng, self.config
        length = context + horizon
        values, hints = self._one_kind(n, length)
        values = _standardize(values)
        mix = np.flatnonzero(rng.random(n) < cfg.mixup)
        if len(mix):  # TSMixup: convex mixtures of up to three series
            extra, _ = self._one_kind(2 * len(mix), length)
            extra = _standardize(extra).reshape(len(mix), 2, length)
            weights = rng.dirichlet(np.ones(3) * 0.7, len(mix))
            weights[:, 2] *= rng.random(len(mix)) < 0.5
            weights /= weights.sum(axis=1, keepdims=True)
            values[mix] = (
                weights[:, :1] * values[mix]
                + weights[:, 1:2] * extra[:, 0]
                + weights[:, 2:] * extra[:, 1]
            )
        for i in np.flatnonzero(rng.random(n) < cfg.level_shifts):
            at = int(rng.integers(1, length))
            values[i, at:] += rng.normal(0, 2)
        for i in np.flatnonzero(rng.random(n) < cfg.outliers):
            spots = rng.integers(0, length, int(rng.integers(1, 4)))
            values[i, spots] += rng.choice([-1, 1], len(spots)) * rng.uniform(3, 10, len(spots))
        # a change of units: any scale, any offset
        scale = 10.0 ** rng.uniform(-2, 4, (n, 1))
        offset = np.where(rng.random((n, 1)) < 0.5, rng.normal(0, 5, (n, 1)), 0.0)
        values = (values + offset) * scale
        positive = rng.random(n) < 0.3  # counts, prices, sales: non-negative data
        values[positive] -= np.nanmin(values[positive], axis=1, keepdims=True)
        for i in np.flatnonzero(rng.random(n) < cfg.short_context):
            keep = int(rng.integers(1, context + 1)) if context > 1 else 1
            keep = max(keep, int(rng.integers(1, 17)))
            values[i, : context - min(keep, context)] = np.nan
        for i in np.flatnonzero(rng.random(n) < cfg.missing):
            holes = rng.random(context) < rng.uniform(0.02, 0.2)
            values[i, :context][holes] = np.nan
        # the targets are always observed, and some of the context (a real window may be
        # shorter than asked): such rows become random walks in the same range of units
        bad = ~np.isfinite(values[:, context:]).all(axis=1)
        bad |= ~np.isfinite(values[:, :context]).any(axis=1)
        if bad.any():
            walks, _ = _walk(rng, int(bad.sum()), length)
            values[bad] = walks * scale[bad]
            hints[bad] = 1
        hints = np.where(rng.random(n) < cfg.hint_dropout, 0, hints)
        return values.astype(np.float32), hints


def _standardize(values: np.ndarray) -> np.ndarray:
    mean = np.nanmean(values, axis=1, keepdims=True)
    std = np.nanstd(values, axis=1, keepdims=True)
    return (values - mean) / np.where(std > 0, std, 1.0)
