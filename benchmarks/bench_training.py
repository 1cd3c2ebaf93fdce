"""Training-loop and batching benchmarks for seqzoo (a script, not a test).

Prints, in one run:

a. ``supervised`` trainer throughput (samples/s) against a hand-written PyTorch loop on the
   same model (LSTM, hidden 64), the same data (``sine``, window 50), the same batch size,
   epochs, optimizer (Adam, lr 1e-3) and seed. Both run WITHOUT validation (the trainer is
   given an empty validation split) and the trainer writes no files (``run_dir=None``,
   ``quiet=True``). Model and optimizer building is not timed. The epoch losses of both must be
   identical (same computation). Target: trainer / hand >= 0.97x.
b. One shuffled epoch of batches: seqzoo's ``sliding_windows`` views + ``Split.batches``
   (whole-tensor indexing) against ``DataLoader(TensorDataset(inputs, targets),
   batch_size, shuffle=True)`` over the same windows, materialized (default num_workers=0 and
   collate). Target: seqzoo / DataLoader >= 5x (batches/s).
c. Window creation: a per-sample Python loop (slice + ``torch.stack``) against
   ``sliding_windows`` (an ``unfold`` view), and against ``sliding_windows(...).contiguous()``
   (a materialized copy, like for like with the loop). Informational, no target.

Repetitions are interleaved, the order alternating each round (A B, B A, ...); each line
gives medians, the spread, the fastest round and the ratios (of medians: the verdict; of
paired rounds; of the fastest rounds). Exit status 1 when a target is missed.

Run: ``.venv/bin/python benchmarks/bench_training.py [--quick] [--repeats N] [--epochs N]
[--threads N]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import seqzoo
from seqzoo.core.data import SequenceData, Split, sliding_windows
from seqzoo.plugins.trainers.supervised import Supervised

TRAINER_TARGET = 0.97
BATCHING_TARGET = 5.0


# -- helpers ---------------------------------------------------------------------------------


Clock = tuple[float, float]  # (wall seconds, this process's CPU seconds)


def clock() -> Clock:
    return time.perf_counter(), time.process_time()


def since(start: Clock) -> Clock:
    wall, cpu = clock()
    return wall - start[0], cpu - start[1]


def interleaved(
    fns: dict[str, Callable[[], Clock | None]], repeats: int, warmup: int = 1
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Run each function ``warmup`` times untimed, then ``repeats`` interleaved rounds whose
    order alternates (A B, B A, A B, ...: drift and any first/second position bias cancel).

    Returns (wall seconds, CPU seconds) per name. A function may time itself (returning its
    own ``(wall, cpu)``, e.g. to leave model building out); else the whole call is timed.
    CPU time (``time.process_time``) against wall time gives the CPU share: how much of the
    core this process had (other tenants of a shared machine take the rest).
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    walls: dict[str, list[float]] = {name: [] for name in fns}
    cpus: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for round_ in range(repeats):
        for name in names if round_ % 2 == 0 else names[::-1]:
            start = clock()
            measured = fns[name]()
            wall, cpu = measured if measured is not None else since(start)
            walls[name].append(wall)
            cpus[name].append(cpu)
    return walls, cpus


def median(values: list[float]) -> float:
    return statistics.median(values)


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over rounds of numerator[i] / denominator[i] (drift-robust: same round)."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def spread(values: list[float]) -> str:
    """Min..max as a percentage around the median (how noisy the repeats were)."""
    m = median(values)
    return f"{100 * (min(values) - m) / m:+.0f}%/{100 * (max(values) - m) / m:+.0f}%"


# -- a. trainer vs hand-written loop ---------------------------------------------------------


def no_validation(data: SequenceData) -> SequenceData:
    """``data`` with an empty validation split (the trainer then skips validation)."""
    train = data.train
    empty = Split(train.inputs[:0], train.targets[:0])
    return dataclasses.replace(data, validation=empty)


def build(data: SequenceData, hidden: int, lr: float) -> tuple[torch.nn.Module, torch.optim.Adam]:
    torch.manual_seed(0)  # identical initial weights for both loops
    model = seqzoo.create_model(
        "lstm", input_size=data.input_size, output_size=data.output_size, hidden_size=hidden
    )
    return model, torch.optim.Adam(model.parameters(), lr=lr)


def hand_fit(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    epochs: int,
    batch_size: int,
    seed: int,
) -> list[float]:
    """The plain PyTorch loop: shuffled index batches, MSE, Adam; one host sync per epoch
    (the per-epoch mean loss, as the trainer reports). Returns the epoch losses."""
    generator = torch.Generator().manual_seed(seed)
    n = inputs.shape[0]
    history = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        losses = []
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            x, y = inputs[index], targets[index]
            optimizer.zero_grad(set_to_none=True)
            loss = F.mse_loss(model(x).reshape(y.shape), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
        history.append(float(torch.stack(losses).mean()))
    return history


def bench_trainer(args: argparse.Namespace) -> dict[str, Any]:
    sine = seqzoo.get_registry().get("dataset", "sine")
    data = no_validation(sine.create(length=args.length, window=args.window))
    n = len(data.train)
    samples = n * args.epochs
    lr, seed = 1e-3, 0
    trainer = Supervised(
        epochs=args.epochs, batch_size=args.batch_size, seed=seed, quiet=True, run_dir=None
    )
    losses: dict[str, list[float]] = {}

    def run_trainer() -> Clock:
        model, optimizer = build(data, args.hidden, lr)  # not timed (same for both)
        start = clock()
        history = trainer.fit(model, data, optimizer)
        elapsed = since(start)
        losses["trainer"] = history.train_loss
        return elapsed

    def run_hand() -> Clock:
        model, optimizer = build(data, args.hidden, lr)
        inputs, targets = data.train.inputs, data.train.targets
        start = clock()
        history = hand_fit(model, optimizer, inputs, targets, args.epochs, args.batch_size, seed)
        elapsed = since(start)
        losses["hand"] = history
        return elapsed

    walls, cpus = interleaved({"trainer": run_trainer, "hand": run_hand}, args.repeats)
    gap = max(abs(a - b) for a, b in zip(losses["trainer"], losses["hand"], strict=True))
    return {"n": n, "work": samples, "wall": walls, "cpu": cpus, "loss_gap": gap}


# -- b. batching: Split.batches vs DataLoader ------------------------------------------------


def bench_batching(args: argparse.Namespace) -> dict[str, Any]:
    window, horizon, bs = args.window, 1, args.batch_size
    series = torch.randn(args.series, 1, generator=torch.Generator().manual_seed(0))
    windows = sliding_windows(series, window, horizon)  # a view, nothing copied
    split = Split(windows[:, :window], windows[:, window:, 0].reshape(len(windows), horizon))
    # the DataLoader gets the same windows, materialized (what a per-sample Dataset needs)
    inputs, targets = split.inputs.contiguous(), split.targets.contiguous()
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=bs, shuffle=True)
    generator = torch.Generator().manual_seed(0)
    n_batches = math.ceil(len(split) / bs)
    counted = {"seqzoo": 0, "dataloader": 0}

    def seqzoo_epoch() -> None:
        count = 0
        for x, _y, _ in split.batches(bs, shuffle=True, generator=generator):
            count += x.shape[0]
        counted["seqzoo"] = count

    def loader_epoch() -> None:
        count = 0
        for x, _y in loader:
            count += x.shape[0]
        counted["dataloader"] = count

    walls, cpus = interleaved({"seqzoo": seqzoo_epoch, "dataloader": loader_epoch}, args.repeats)
    assert counted["seqzoo"] == counted["dataloader"] == len(split), counted
    return {"n": len(split), "work": n_batches, "wall": walls, "cpu": cpus}


def bench_windows(args: argparse.Namespace) -> dict[str, Any]:
    """c. window creation: per-sample Python loop vs unfold view vs unfold + copy."""
    window, horizon = args.window, 1
    series = torch.randn(args.series, 1, generator=torch.Generator().manual_seed(0))
    span = window + horizon
    count = args.series - span + 1

    def loop_windows() -> None:
        x = torch.stack([series[i : i + window] for i in range(count)])
        y = torch.stack([series[i + window : i + span, 0] for i in range(count)])
        assert x.shape == (count, window, 1) and y.shape == (count, horizon)

    def unfold_view() -> None:
        w = sliding_windows(series, window, horizon)
        _ = (w[:, :window], w[:, window:, 0].reshape(count, horizon))

    def unfold_copy() -> None:
        w = sliding_windows(series, window, horizon)
        _ = (w[:, :window].contiguous(), w[:, window:, 0].reshape(count, horizon).contiguous())

    repeats = min(args.repeats, 3) if args.quick else args.repeats
    walls, cpus = interleaved(
        {"loop": loop_windows, "view": unfold_view, "copy": unfold_copy}, repeats
    )
    return {"n": count, "wall": walls, "cpu": cpus}


# -- report ----------------------------------------------------------------------------------


def rate_rows(
    result: dict[str, Any], labels: dict[str, str], unit: str, target: float
) -> tuple[list[str], float]:
    """Table lines for a two-way rate comparison; returns them and the median ratio.

    Besides medians: the best (fastest) round of each, since contention only ever slows a
    round down (on a shared machine round times are bimodal: alone vs sharing a core), and the
    CPU share (process CPU seconds / wall seconds; well below 1 means this run was contended).
    """
    (a, b), work = list(labels), result["work"]
    wall = {k: [work / t for t in v] for k, v in result["wall"].items()}
    head = f"median {unit}/s"
    lines = [f"   {'':<42}{head:>18}{'min/max vs med':>16}{'best ' + unit + '/s':>18}"]
    for key, label in labels.items():
        lines.append(
            f"   {label:<42}{median(wall[key]):>18,.0f}{spread(wall[key]):>16}"
            f"{max(wall[key]):>18,.0f}"
        )
    ratio = median(wall[a]) / median(wall[b])
    best = max(wall[a]) / max(wall[b])
    share = sum(sum(v) for v in result["cpu"].values()) / sum(
        sum(v) for v in result["wall"].values()
    )
    f = ".3f" if target < 2 else ".1f"
    lines.append(
        f"   ratio {a}/{b} {ratio:{f}}x (paired rounds {paired_ratio(wall[a], wall[b]):{f}}x, "
        f"best rounds {best:{f}}x; CPU share {share:.2f}); target >= {target:g}x: "
        f"{'PASS' if ratio >= target else 'FAIL'}"
    )
    return lines, ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed rounds (default 11; quick 15)"
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="epochs per fit (default 5; quick 1)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--quick", action="store_true", help="small sizes, runs in < 60 s")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=64, help="LSTM hidden size")
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument(
        "--length", type=int, default=None, help="sine length (default 2000; quick 1000)"
    )
    parser.add_argument(
        "--series",
        type=int,
        default=None,
        help="series length for b/c (default 100000; quick 20000)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.repeats = args.repeats or (15 if quick else 11)
    args.epochs = args.epochs or (1 if quick else 5)
    args.length = args.length or (1000 if quick else 2000)
    args.series = args.series or (20_000 if quick else 100_000)
    torch.set_num_threads(args.threads)

    began = time.perf_counter()
    a = bench_trainer(args)
    b = bench_batching(args)
    c = bench_windows(args)
    total = time.perf_counter() - began

    command = " ".join(shlex.quote(x) for x in [sys.executable, *sys.argv])
    print(f"command : {command}")
    print(
        f"torch {torch.__version__} | seqzoo {seqzoo.__version__} | python "
        f"{platform.python_version()} | {os.cpu_count()} CPUs | threads "
        f"{torch.get_num_threads()} | repeats {args.repeats} (interleaved, order alternating, "
        "1 warm-up round) | medians"
    )
    print()
    print(
        f"a. training: LSTM hidden {args.hidden}, sine length {args.length} window "
        f"{args.window} ({a['n']:,} train windows), batch {args.batch_size}, {args.epochs} "
        "epochs, Adam lr 1e-3, no validation (both), run_dir=None"
    )
    lines, ratio_a = rate_rows(
        a,
        {"trainer": "supervised trainer (Supervised.fit)", "hand": "hand-written PyTorch loop"},
        "samples",
        TRAINER_TARGET,
    )
    print("\n".join(lines))
    print(f"   same computation: epoch losses equal to max |diff| {a['loss_gap']:.1e}")
    print()
    print(
        f"b. batching: one shuffled epoch, {b['n']:,} windows of {args.window} "
        f"(series {args.series:,}), batch {args.batch_size} ({b['work']:,} batches)"
    )
    lines, ratio_b = rate_rows(
        b,
        {
            "seqzoo": "sliding_windows view + Split.batches",
            "dataloader": "DataLoader(TensorDataset), materialized",
        },
        "batches",
        BATCHING_TARGET,
    )
    print("\n".join(lines))
    print()
    print(f"c. window creation, {c['n']:,} windows (inputs + targets), no target")
    print(f"   {'':<42}{'median ms':>18}{'loop / this':>16}")
    loop = median(c["wall"]["loop"])
    rows = (
        ("per-sample Python loop + torch.stack", "loop"),
        ("sliding_windows (unfold view)", "view"),
        ("sliding_windows + .contiguous() copy", "copy"),
    )
    for label, key in rows:
        t = median(c["wall"][key])
        print(f"   {label:<42}{1e3 * t:>18.3f}{loop / t:>15,.0f}x")
    print()
    failed = ratio_a < TRAINER_TARGET or ratio_b < BATCHING_TARGET
    print(f"overall: {'FAIL' if failed else 'PASS'} (wall {total:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
