"""Choose a zero-shot entry's inference averages on the development series, within a cost budget.

The patch forecaster can average its forecast with the mirrored forecast of the negated context
(``average_negated``, twice the cost) and with forecasts from the latest 1/2, 1/4, ... of the
context (``context_halvings``, each adding half the previous pass). This script scores every
combination on the development set (``benchmarks/data/dev_series.csv.gz``, apart from both the
training corpus and the benchmark), with ``interval_scale`` 1, and picks by a rule fixed in
advance: the lowest relative WQL (ties: relative MASE) among the combinations that cost at
most ``--max-passes`` passes over the whole context. ``--dtype`` sets ``inference_dtype`` for
every combination (the entry ships with it).

Run: ``python benchmarks/choose_averages.py --model zeroshot-lstm-base --max-passes 2
--dtype bfloat16`` (needs the ``bench`` extra for seasonal naive, the reference). Prints the
table and writes ``benchmarks/results/averages-<model>.json``. Fit ``interval_scale`` afterwards
with ``calibrate_intervals.py``, on the chosen averages.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_forecast as bench


def passes(negated: bool, halvings: int) -> float:
    """The cost of one combination, in passes over the whole context."""
    return (2 if negated else 1) * sum(0.5**k for k in range(halvings + 1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a zero-shot entry")
    parser.add_argument("--max-passes", type=float, default=2.0, help="the cost budget")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--out", type=Path, default=bench.ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)

    import torch

    import seqzoo

    torch.set_num_threads(1)
    series = bench.load_series(
        bench.DATA / "dev_series.csv.gz", bench.DATA / "dev_series_meta.json"
    )
    reference = {}
    for name, build in bench.statsforecast_methods(skip_arima=True).items():
        if name == bench.BASELINE:
            reference[name] = bench.run_statsforecast(name, build, series)
    model = seqzoo.from_pretrained(args.model, device="cpu")
    model.interval_scale = 1.0
    model.inference_dtype = args.dtype
    rows = []
    for negated in (False, True):
        for halvings in range(5):
            model.average_negated, model.context_halvings = negated, halvings
            result = bench.run_zero_shot(model, series, None)
            overall = bench.score(series, {**reference, "m": result})["overall"]["m"]
            rows.append(
                {
                    "average_negated": negated,
                    "context_halvings": halvings,
                    "passes": passes(negated, halvings),
                    "relative_mase": overall["relative_mase"],
                    "relative_wql": overall["relative_wql"],
                    "coverage_80": overall["coverage_80"],
                }
            )
    affordable = [r for r in rows if r["passes"] <= args.max_passes + 1e-9]
    chosen = min(affordable, key=lambda r: (r["relative_wql"], r["relative_mase"]))
    print(f"{args.model}, inference_dtype {args.dtype}, budget {args.max_passes:g} passes")
    print("| average_negated | context_halvings | passes | relative MASE | relative WQL | 80% cov |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        mark = " <- chosen" if r is chosen else ""
        print(
            f"| {r['average_negated']} | {r['context_halvings']} | {r['passes']:.3f} | "
            f"{r['relative_mase']:.4f} | {r['relative_wql']:.4f} | "
            f"{100 * r['coverage_80']:.1f}%{mark} |"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    document = {
        "data": "benchmarks/data/dev_series.csv.gz",
        "series": len(series),
        "model": args.model,
        "inference_dtype": args.dtype,
        "max_passes": args.max_passes,
        "chosen": chosen,
        "rows": rows,
    }
    path = args.out / f"averages-{args.model}.json"
    path.write_text(json.dumps(bench._finite(document), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
