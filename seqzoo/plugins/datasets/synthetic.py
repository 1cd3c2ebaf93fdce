"""Synthetic datasets, generated from a seed: ``sine``, ``adding``, ``copy`` and ``regression``.

Each is small, fast to make and has a known answer, so a model's ability (memory, long-range
credit assignment, plain fitting) can be checked without downloading anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from seqzoo.core.data import (
    SequenceData,
    Split,
    forecast_data,
    random_split,
    require_int,
    tabular_data,
)
from seqzoo.core.errors import ConfigError

__all__ = ["BLANK", "DELIMITER", "adding", "copy_memory", "regression", "sine"]

# copy task ids: 0 stays the padding id every text dataset reserves
BLANK = 1
DELIMITER = 2


def _non_negative(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"must be a number >= 0, got {value!r}", field=name)
    return float(value)


def sine(
    length: int = 2000,
    periods: Sequence[float] = (25.0, 50.0, 100.0),
    noise: float = 0.1,
    window: int = 50,
    horizon: int = 1,
    seed: int = 0,
    validation: float = 0.15,
    test: float = 0.15,
) -> SequenceData:
    """A noisy sum of sines: ``sum_k sin(2 pi t / periods[k] + phase_k) / (k + 1)`` plus
    Gaussian noise of std ``noise``, ``length`` steps, random phases from ``seed``.

    Inputs ``(N, window, 1)``, targets ``(N, horizon)`` (scaled; see ``forecast_data``).
    ``season`` is the least common multiple of the periods when they are whole numbers (the
    series then repeats exactly, up to noise), else ``None``.
    """
    length = require_int(length, "length")
    if not periods or any(
        isinstance(p, bool) or not isinstance(p, (int, float)) or p <= 0 for p in periods
    ):
        raise ConfigError(
            f"must be a non-empty list of positive numbers, got {periods!r}", field="periods"
        )
    noise = _non_negative(noise, "noise")
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=np.float64)[:, None]
    period = np.asarray(periods, dtype=np.float64)
    phase = rng.uniform(0, 2 * np.pi, size=len(period))
    amplitude = 1.0 / np.arange(1, len(period) + 1)
    # (time, k) broadcast: one vectorized evaluation, no Python loop over time
    values = (amplitude * np.sin(2 * np.pi * t / period + phase)).sum(axis=1)
    values += noise * rng.standard_normal(length)
    season = None
    if all(float(p).is_integer() for p in periods):
        common = math.lcm(*(int(p) for p in periods))
        season = common if common < length else None
    return forecast_data(
        "sine",
        values,
        window=window,
        horizon=horizon,
        columns=["sine"],
        validation=validation,
        test=test,
        season=season,
        units="unitless",
        description=f"Sum of sines with periods {list(periods)} plus noise {noise}",
        metadata={"periods": [float(p) for p in periods], "noise": noise, "seed": seed},
    )


def _random_splits(
    inputs: torch.Tensor, targets: torch.Tensor, validation: float, test: float, seed: int
) -> tuple[Split, Split, Split]:
    train, validation_index, test_index = random_split(len(inputs), validation, test, seed)
    if len(train) == 0:
        raise ConfigError(
            f"no training samples out of {len(inputs)}; use more samples", field="samples"
        )
    first, second, third = (
        Split(inputs[index], targets[index]) for index in (train, validation_index, test_index)
    )
    return first, second, third


def adding(
    length: int = 50,
    samples: int = 6000,
    seed: int = 0,
    validation: float = 0.15,
    test: float = 0.15,
) -> SequenceData:
    """The adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015): sum the two marked
    values of a sequence of ``length`` random numbers.

    Inputs ``(samples, length, 2)`` float32: channel 0 uniform in [0, 1], channel 1 the marker,
    1 at one step of the first half and one of the second half, else 0. Targets
    ``(samples, 1)`` the sum of the two marked values, in [0, 2]; predicting 1 always gives
    MSE about 0.167, the baseline to beat. Task ``regression``, unscaled.
    """
    length = require_int(length, "length", minimum=2)
    samples = require_int(samples, "samples")
    generator = torch.Generator().manual_seed(int(seed))
    values = torch.rand(samples, length, generator=generator)
    half = length // 2
    first = torch.randint(0, half, (samples, 1), generator=generator)
    second = torch.randint(half, length, (samples, 1), generator=generator)
    marks = torch.zeros(samples, length)
    marks.scatter_(1, first, 1.0).scatter_(1, second, 1.0)
    inputs = torch.stack([values, marks], dim=-1)
    targets = (values * marks).sum(dim=1, keepdim=True)
    train, val, tst = _random_splits(inputs, targets, validation, test, seed)
    return SequenceData(
        name="adding",
        task="regression",
        train=train,
        validation=val,
        test=tst,
        input_size=2,
        output_size=1,
        units="sum of two values in [0, 1]",
        description=f"Adding problem over {length} steps",
        metadata={"length": length, "seed": seed, "baseline_mse": 1 / 6},
    )


def copy_memory(
    length: int = 10,
    delay: int = 50,
    alphabet: int = 8,
    samples: int = 6000,
    seed: int = 0,
    validation: float = 0.15,
    test: float = 0.15,
) -> SequenceData:
    """The copy-memory task (Arjovsky et al. 2016): remember ``length`` symbols over ``delay``
    blank steps, then write them out after a delimiter.

    Ids: 0 padding (unused), 1 blank, 2 delimiter, ``3 .. 3 + alphabet - 1`` the symbols, so
    ``vocab_size = alphabet + 3``. Each sequence has ``T = 2 * length + delay`` steps:

    - inputs ``(samples, T)`` int64: the symbols, ``delay - 1`` blanks, the delimiter,
      ``length`` blanks;
    - targets ``(samples, T)`` int64: blank for the first ``length + delay`` steps, then the
      symbols in order.

    Targets are aligned with inputs (the answer at each step, not the next input id), so an
    ``embedding-lstm`` with ``output="sequence"`` trains on it with per-step cross entropy
    under task ``language-model``. Always answering blank, then guessing, gives a cross
    entropy of ``length * log(alphabet) / T`` (``metadata["baseline_loss"]``).
    """
    length = require_int(length, "length")
    delay = require_int(delay, "delay")
    alphabet = require_int(alphabet, "alphabet", minimum=2)
    samples = require_int(samples, "samples")
    generator = torch.Generator().manual_seed(int(seed))
    total = 2 * length + delay
    symbols = torch.randint(3, 3 + alphabet, (samples, length), generator=generator)
    inputs = torch.full((samples, total), BLANK, dtype=torch.int64)
    inputs[:, :length] = symbols
    inputs[:, length + delay - 1] = DELIMITER
    targets = torch.full((samples, total), BLANK, dtype=torch.int64)
    targets[:, length + delay :] = symbols
    train, val, tst = _random_splits(inputs, targets, validation, test, seed)
    return SequenceData(
        name="copy",
        task="language-model",
        train=train,
        validation=val,
        test=tst,
        input_size=None,
        output_size=alphabet + 3,
        vocab_size=alphabet + 3,
        units="token ids",
        description=f"Copy {length} of {alphabet} symbols across {delay} blank steps",
        metadata={
            "length": length,
            "delay": delay,
            "alphabet": alphabet,
            "seed": seed,
            "blank": BLANK,
            "delimiter": DELIMITER,
            "baseline_loss": length * math.log(alphabet) / total,
        },
    )


def regression(
    samples: int = 1000,
    features: int = 8,
    noise: float = 10.0,
    seed: int = 0,
    validation: float = 0.15,
    test: float = 0.15,
) -> SequenceData:
    """scikit-learn's ``make_regression``: a noisy linear target of ``features`` Gaussian
    features. Inputs ``(N, 1, features)``, targets ``(N, 1)``, both standardized on the
    training rows (random seeded split)."""
    from sklearn.datasets import make_regression

    samples = require_int(samples, "samples")
    features = require_int(features, "features")
    noise = _non_negative(noise, "noise")
    x, y = make_regression(n_samples=samples, n_features=features, noise=noise, random_state=seed)
    return tabular_data(
        "regression",
        x,
        y,
        seed=seed,
        validation=validation,
        test=test,
        target_names=["y"],
        units="unitless",
        description=f"make_regression: {features} features, noise {noise}",
        metadata={"seed": seed, "noise": noise},
    )
