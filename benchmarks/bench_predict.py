"""Point forecasts of a per-dataset model: many series batched vs one at a time, and the
start-up cost of ``seqzoo predict NAME``.

    python benchmarks/bench_predict.py                 # 1,000 series, 5 interleaved repeats
    python benchmarks/bench_predict.py --series 200 --repeats 3 --cli-repeats 3

1. ``seqzoo.predict(model, histories, steps)`` (batched) against a loop of
   ``seqzoo.predict(model, history, steps)`` over the same random-walk histories, on one torch
   thread; the two answers are checked equal (to float32 rounding) and the median times and
   their ratio are printed.
2. ``seqzoo predict NAME --steps N`` as a subprocess against ``python -c "import torch"``
   (interleaved; medians and ratio), and the heavy modules that command imports
   (``python -X importtime``).

Results go to ``benchmarks/results/predict.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
#: Modules worth knowing about on a start-up path: each costs tens to hundreds of ms.
HEAVY = (
    "statsmodels", "sklearn", "scipy", "pandas", "matplotlib", "huggingface_hub", "tokenizers",
    "yaml", "tqdm", "requests", "pyarrow",
)  # fmt: skip


def histories(count: int, length: int, seed: int) -> list[np.ndarray]:
    """``count`` random walks of ``length`` points, at the scale of sunspot numbers."""
    rng = np.random.default_rng(seed)
    return [50 + np.cumsum(rng.normal(0, 8, size=length)) for _ in range(count)]


def bench_batched(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    import seqzoo

    torch.set_num_threads(1)
    model = seqzoo.from_pretrained(args.model, device="cpu")
    series = histories(args.series, args.length, args.seed)
    seqzoo.predict(model, series[:8], args.steps)  # warm-up: first calls allocate

    def looped() -> np.ndarray:
        return np.stack([seqzoo.predict(model, h, args.steps) for h in series])

    def batched() -> np.ndarray:
        return seqzoo.predict(model, series, args.steps, batch_size=args.batch_size)

    times: dict[str, list[float]] = {"looped": [], "batched": []}
    answers: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):  # interleaved: a slow spell of the machine hits both
        for name, run in (("looped", looped), ("batched", batched)):
            began = time.perf_counter()
            answers[name] = run()
            times[name].append(time.perf_counter() - began)
    difference = float(np.abs(answers["batched"] - answers["looped"]).max())
    scale = float(np.abs(answers["looped"]).max())
    # float32 BLAS kernels round differently by batch size; in float64 both agree to ~1e-12
    equal = bool(np.allclose(answers["batched"], answers["looped"], rtol=1e-4, atol=1e-4))
    median = {name: statistics.median(values) for name, values in times.items()}
    result = {
        "model": args.model,
        "series": args.series,
        "length": args.length,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "seconds": times,
        "median_s": median,
        "series_per_s": {name: args.series / value for name, value in median.items()},
        "ratio": median["looped"] / median["batched"],
        "max_abs_difference": difference,
        "max_abs_value": scale,
        "equal": equal,
    }
    print(
        f"{args.series} series x {args.length} points, {args.steps} steps, {args.model}, 1 thread, "
        f"median of {args.repeats}:"
    )
    for name in ("looped", "batched"):
        print(f"  {name:8s} {median[name]:8.3f} s  {result['series_per_s'][name]:10,.0f} series/s")
    print(f"  batched / looped speed-up: {result['ratio']:.1f}x (target >= 20x)")
    print(
        f"  outputs equal: {equal} (max |difference| {difference:.2e} on values up to {scale:.4g})"
    )
    if not equal:
        raise SystemExit("the batched forecasts differ from the looped ones")
    return result


def _run(command: list[str]) -> float:
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=HERE.parent)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip()}")
    return elapsed


def heavy_imports(command: list[str]) -> dict[str, float]:
    """Top-level packages from :data:`HEAVY` that ``command`` imports -> cumulative ms."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *command], capture_output=True, text=True
    )
    found: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line.split("|", 2))
        if not cumulative.isdigit():
            continue
        top = name.split(".")[0]
        if top in HEAVY and top == name:  # the package itself: its cumulative time
            found[top] = found.get(top, 0.0) + int(cumulative) / 1000
    return dict(sorted(found.items(), key=lambda item: -item[1]))


def bench_cli(args: argparse.Namespace) -> dict[str, Any]:
    env_note = os.environ.get("OMP_NUM_THREADS")
    predict = [sys.executable, "-m", "seqzoo", "predict", args.model, "--steps", str(args.steps)]
    baseline = [sys.executable, "-c", "import torch"]
    _run(predict)  # warm the file cache and bytecode
    times: dict[str, list[float]] = {"predict": [], "import_torch": []}
    for _ in range(args.cli_repeats):
        times["import_torch"].append(_run(baseline))
        times["predict"].append(_run(predict))
    median = {name: statistics.median(values) for name, values in times.items()}
    ratio = median["predict"] / median["import_torch"]
    # beyond what `import torch` imports itself (torch.hub imports tqdm, for one)
    own = heavy_imports(baseline[1:])
    heavy = {name: ms for name, ms in heavy_imports(predict[1:]).items() if name not in own}
    print(f"`seqzoo predict {args.model} --steps {args.steps}`, median of {args.cli_repeats}:")
    print(f"  python -c 'import torch' {median['import_torch']:6.2f} s")
    print(f"  seqzoo predict           {median['predict']:6.2f} s")
    print(f"  ratio: {ratio:.2f}x (target <= 1.3x)")
    listed = ", ".join(f"{name} {ms:.0f} ms" for name, ms in heavy.items()) or "none"
    print(f"  heavy modules imported beyond torch's own (cumulative import time): {listed}")
    return {
        "median_s": median,
        "seconds": times,
        "ratio": ratio,
        "heavy_imports_ms": heavy,
        "imported_by_torch_itself": sorted(own),
        "omp_num_threads": env_note,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="lstm-sunspots")
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cli-repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-cli", action="store_true", help="Only the batched comparison.")
    parser.add_argument("--output", default=str(HERE / "results" / "predict.json"))
    args = parser.parse_args()
    results: dict[str, Any] = {"batched": bench_batched(args)}
    if not args.skip_cli:
        results["cli"] = bench_cli(args)
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
