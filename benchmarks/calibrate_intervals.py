"""Fit each zero-shot entry's ``interval_scale`` on the development series, never the benchmark's.

Forecasts the development set (``benchmarks/data/dev_series.csv.gz``, built by
``data/make_dev_series.py`` and kept apart from the training corpus and from the benchmark)
with the entry's averages on and ``interval_scale`` 1, then stretches every quantile's distance
from the median by ``s`` for ``s`` = 1.00, 1.01, ... and picks the smallest ``s`` whose 80%
interval (0.1 to 0.9) covers at least 80% of the development test points: the interval is
calibrated to its nominal coverage. The chosen ``s`` goes into the entry's recipe
(``seqzoo/zoo/zeroshot.py``); the median, and so MASE, does not change.

Run: ``python benchmarks/calibrate_intervals.py [--models a,b]`` (needs the ``bench`` extra for
seasonal naive, the WQL reference). Prints one table per entry and writes
``benchmarks/results/calibration.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_forecast as bench  # noqa: E402

DATA = bench.DATA
MEDIAN = bench.QUANTILES.index(0.5)


def stretched(result: bench.Forecast, scale: float) -> bench.Forecast:
    """The forecasts with each quantile's distance from the median times ``scale``."""
    out = bench.Forecast(mean=dict(result.mean), seconds=result.seconds)
    for uid, quantiles in result.quantiles.items():
        median = quantiles[MEDIAN]
        out.quantiles[uid] = median + scale * (quantiles - median)
    return out


def calibrate(
    name: str,
    series: Sequence[bench.Series],
    reference: dict[str, bench.Forecast],
    target: float,
    grid: Sequence[float],
) -> dict[str, object]:
    import seqzoo

    model = seqzoo.from_pretrained(name, device="cpu")
    shipped = float(getattr(model, "interval_scale", 1.0))
    model.interval_scale = 1.0  # calibrate the uncalibrated forecaster
    raw = bench.run_zero_shot(model, series, None)
    rows = []
    for scale in grid:
        overall = bench.score(series, {**reference, name: stretched(raw, scale)})["overall"][name]
        rows.append(
            {
                "scale": round(float(scale), 4),
                "coverage_80": overall["coverage_80"],
                "relative_mase": overall["relative_mase"],
                "relative_wql": overall["relative_wql"],
            }
        )
    chosen = next((r for r in rows if r["coverage_80"] >= target), rows[-1])
    print(f"\n{name} (shipped interval_scale {shipped:g})")
    print("| interval_scale | 80% coverage | relative MASE | relative WQL |")
    print("|---|---|---|---|")
    for row in rows:
        mark = " <- chosen" if row is chosen else ""
        if row is chosen or row["scale"] in (1.0, 1.05, 1.1, 1.2) or row is rows[-1]:
            print(
                f"| {row['scale']:.2f}{mark} | {100 * row['coverage_80']:.1f}% | "
                f"{row['relative_mase']:.4f} | {row['relative_wql']:.4f} |"
            )
    return {"shipped": shipped, "chosen": chosen["scale"], "rows": rows}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=None, help="zero-shot entries, comma-separated")
    parser.add_argument("--target", type=float, default=0.80, help="the coverage to reach")
    parser.add_argument("--out", type=Path, default=bench.ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    series = bench.load_series(DATA / "dev_series.csv.gz", DATA / "dev_series_meta.json")
    reference = {}
    for name, build in bench.statsforecast_methods(skip_arima=True).items():
        if name == bench.BASELINE:
            reference[name] = bench.run_statsforecast(name, build, series)
    models = args.models.split(",") if args.models else bench.zero_shot_entries()
    grid = [round(1 + 0.01 * k, 2) for k in range(51)]  # 1.00 ... 1.50
    results = {name: calibrate(name, series, reference, args.target, grid) for name in models}
    args.out.mkdir(parents=True, exist_ok=True)
    document = {
        "data": "benchmarks/data/dev_series.csv.gz",
        "series": len(series),
        "target_coverage": args.target,
        "entries": results,
    }
    path = args.out / "calibration.json"
    path.write_text(json.dumps(bench._finite(document), indent=1) + "\n", encoding="utf-8")
    print(f"\nwrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
