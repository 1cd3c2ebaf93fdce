"""How training scales with threads, precision and model size on the CPU (a script, not a test).

In one run, on README's training run (``seqzoo train --model lstm --dataset sunspots``: an LSTM
of hidden size 64, windows of 22, batches of 32; in process, no run directory), interleaved
rounds (the order reversed every other round), medians and ratios of:

a. threads: ``threads=1`` vs ``threads=2`` (torch intra-op threads) for the training run, and
   for inference (the trained model over the sunspots windows, as ``seqzoo predict`` /
   ``evaluate`` run it) with 1 thread vs 2;
b. precision: ``bf16`` autocast vs ``32`` for the same run (1 thread);
c. the ``supervised`` trainer against a hand-written PyTorch loop at hidden size 64 and 256:
   the same data, the same shuffled batches, the same steps, no validation (ratio of their
   throughputs; the epoch losses agree to ~1e-6);
d. "DDP 2 x 1 thread vs 1 x 1 thread": the ``ddp`` trainer on 2 gloo processes of 1 thread each
   against the ``supervised`` trainer in one process of 1 thread, on one recipe where compute
   dominates the gradient all-reduce: the LSTM at hidden size 128, the sunspots windows tiled
   to 4,096 samples, global batches of 256 (each rank takes 128), no validation. Both run in
   the same 2 long-lived processes, interleaved round by round (rank 1 waits in a barrier
   during the single-process rounds); the seconds inside ``fit`` on rank 0 (process start and
   rendezvous excluded); also one process at a rank's part of the batch (128), what a rank
   computes per step. Reported: samples/s of each (medians), scaling efficiency
   ``rate2 / (2 * rate1)``, and the CPU each run had, since a busy machine caps it: the cores
   the run used (its processes' user + system CPU seconds over wall seconds), its share of
   the cores it could use (1 for one process, 2 for two), the cores every other process kept
   busy meanwhile (``/proc/stat``), and ``/proc/loadavg`` around the rounds. Samples per CPU
   second, 2 processes over 1, say what the scaling is when the cores are not shared: against
   one process at a rank's batch that ratio is what gloo and DDP cost (a smaller batch alone
   can be cheaper per sample). The epoch losses agree to float rounding.

Run: ``.venv/bin/python benchmarks/bench_scale.py [--repeats N] [--epochs N] [--quick]
[--ddp-only]`` (about two minutes on two shared cores; ``--quick``: a few seconds, for a smoke
run; ``--ddp-only``: section d alone, about a minute).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved

import seqzoo
from seqzoo.core.data import SequenceData, Split
from seqzoo.core.device import autocast, resolve_device
from seqzoo.core.metrics import predict_split
from seqzoo.plugins.trainers.supervised import Supervised

LR, SEED, BATCH = 3e-3, 0, 32
#: Section d's recipe, the same for 1 and 2 processes: hidden size, samples, global batch.
DDP_HIDDEN, DDP_SAMPLES, DDP_BATCH = 128, 4096, 256
#: Section d's runs: name -> (processes, global batch). "half": one process at a rank's part of
#: the batch, what a rank computes per step, so the CPU cost of the communication shows alone.
VARIANTS = {"two": (2, DDP_BATCH), "one": (1, DDP_BATCH), "half": (1, DDP_BATCH // 2)}


def readme_data(dry: bool = False) -> SequenceData:
    """README's dataset (sunspots, its default windows); ``dry``: the first 64 windows."""
    data = seqzoo.get_registry().create("dataset", "sunspots")
    if dry:
        train = data.train
        data = dataclasses.replace(data, train=Split(train.inputs[:64], train.targets[:64]))
    return data


def no_validation(data: SequenceData) -> SequenceData:
    """``data`` with an empty validation split (the trainer then skips validation)."""
    empty = Split(data.train.inputs[:0], data.train.targets[:0])
    return dataclasses.replace(data, validation=empty)


def build(data: SequenceData, hidden: int) -> tuple[torch.nn.Module, torch.optim.Adam]:
    """README's LSTM (hidden size ``hidden``) and Adam, from the same initial weights."""
    torch.manual_seed(SEED)
    model = seqzoo.create_model(
        "lstm", input_size=data.input_size, output_size=data.output_size, hidden_size=hidden
    )
    return model, torch.optim.Adam(model.parameters(), lr=LR)


def trainer_fit(
    data: SequenceData, hidden: int, epochs: int, **options: Any
) -> tuple[float, list[float]]:
    """``(seconds inside fit, epoch losses)`` of the supervised trainer."""
    model, optimizer = build(data, hidden)
    trainer = Supervised(
        epochs=epochs, batch_size=BATCH, seed=SEED, quiet=True, plot=False, **options
    )
    start = time.perf_counter()
    history = trainer.fit(model, data, optimizer)
    if options.get("device", "cpu") != "cpu":
        torch.cuda.synchronize()
    return time.perf_counter() - start, history.train_loss


def hand_fit(
    data: SequenceData,
    hidden: int,
    epochs: int,
    device: str = "cpu",
    precision: str = "32",
) -> tuple[float, list[float]]:
    """The plain PyTorch loop on ``device``: the trainer's shuffled batches (the same seeded
    generator), MSE, Adam, autocast as ``precision`` says; one host sync per epoch."""
    target = resolve_device(device)
    model, optimizer = build(data, hidden)
    model.to(target)
    inputs, targets = data.train.inputs.to(target), data.train.targets.to(target)
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(SEED)
    n, history = inputs.shape[0], []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator).to(target)
        losses = []
        for first in range(0, n, BATCH):
            index = order[first : first + BATCH]
            x, y = inputs[index], targets[index]
            optimizer.zero_grad(set_to_none=True)
            with autocast(target, precision):
                loss = F.mse_loss(model(x).reshape(y.shape), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
        history.append(float(torch.stack(losses).mean()))
    return time.perf_counter() - start, history


def timed(
    fns: dict[str, Callable[[], tuple[float, list[float]]]], repeats: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Interleaved rounds of ``fns`` (each returns its own seconds): ``(seconds, losses)``."""
    seconds: dict[str, list[float]] = {name: [] for name in fns}
    losses: dict[str, list[float]] = {}

    def wrap(name: str) -> Callable[[], None]:
        def run() -> None:
            elapsed, history = fns[name]()
            seconds[name].append(elapsed)
            losses[name] = history

        return run

    interleaved({name: wrap(name) for name in fns}, repeats, warmup=1)
    return {k: v[1:] for k, v in seconds.items()}, losses  # the warm-up round is dropped


def median(values: list[float]) -> float:
    return statistics.median(values)


def row(section: str, what: str, seconds: float, baseline: float, note: str = "") -> list[str]:
    """A table row: the median, and the baseline's median over it (> 1: faster)."""
    return [section, what, f"{seconds * 1000:.1f} ms", f"{baseline / seconds:.2f}x", note]


def format_table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    head = "  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()
    return "\n".join([head, "-" * len(head), *lines])


def ddp_lines(epochs: int, repeats: int, quick: bool) -> list[str]:
    """Section d, or why it cannot run (``quick``: a fraction of the samples)."""
    if "not available" in ddp_note():
        return [f"d. DDP 2 x 1 thread vs 1 x 1 thread: {ddp_note()}"]
    return ddp_section(epochs, repeats, DDP_SAMPLES // 8 if quick else DDP_SAMPLES)


def ddp_note(gpus: int | None = None) -> str:
    """What the DDP comparison can say today."""
    trainers = {spec.name for spec in seqzoo.get_registry().list("trainer")}
    if "ddp" not in trainers:
        return "not available: no ddp trainer"
    if gpus is not None and gpus < 2:
        return f"not available: {gpus} GPU(s), 2 needed"
    return "a ddp trainer is registered: not measured by this script yet"


def ddp_data(samples: int = DDP_SAMPLES) -> SequenceData:
    """Section d's data: the sunspots training windows tiled to ``samples``, no validation."""
    data = no_validation(readme_data())
    train = data.train
    tiles = -(-samples // len(train))
    inputs = torch.cat([train.inputs] * tiles)[:samples]
    targets = torch.cat([train.targets] * tiles)[:samples]
    return dataclasses.replace(data, train=Split(inputs, targets))


def machine_cpu() -> tuple[float, float]:
    """``(busy, total)`` jiffies of every CPU so far (``/proc/stat``; zeros elsewhere)."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = [float(v) for v in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    total = sum(fields[:8])  # guest time is counted in user already
    return total - idle, total


def load_average() -> str:
    try:
        with open("/proc/loadavg", encoding="ascii") as handle:
            return " ".join(handle.read().split()[:3])
    except OSError:
        return "n/a"


def own_cpu() -> float:
    """This process's user + system CPU seconds (all its threads: gloo's too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _ddp_worker(
    rank: int, world: int, port: int, epochs: int, rounds: int, samples: int, out: str
) -> None:
    """One rank of section d (``torch.multiprocessing.spawn``): ``rounds`` rounds of a 2-rank
    DDP fit and rank-0-alone supervised fits (:data:`VARIANTS`), the order reversed every other
    round, each after a barrier; rank 0 writes ``{variant: [record, ...]}`` (seconds, CPU,
    losses) to ``out``."""
    import torch.distributed as dist

    from seqzoo.plugins.trainers.ddp import DDP

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    data = ddp_data(samples)
    options = {"epochs": epochs, "seed": SEED, "quiet": True, "plot": False}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    for round_ in range(rounds):
        for variant in list(VARIANTS) if round_ % 2 == 0 else list(VARIANTS)[::-1]:
            model, optimizer = build(data, DDP_HIDDEN)
            procs, batch = VARIANTS[variant]
            alone = procs == 1
            dist.barrier()  # every rank starts the clock together
            load, machine, cpu = load_average(), machine_cpu(), own_cpu()
            start = time.perf_counter()
            history = None
            if not alone:
                history = DDP(batch_size=batch, **options).fit(model, data, optimizer)
            elif rank == 0:
                history = Supervised(batch_size=batch, **options).fit(model, data, optimizer)
            if alone:
                dist.barrier()  # rank 1 waits here while rank 0 trains alone
            seconds = time.perf_counter() - start
            busy, total = (b - a for a, b in zip(machine, machine_cpu(), strict=True))
            cpus = [None] * world
            dist.all_gather_object(cpus, own_cpu() - cpu)  # after the clock stopped
            if rank == 0:
                assert history is not None
                results[variant].append({
                    "seconds": seconds,
                    "cpu": cpus,  # per rank (rank 1's in "one": what its wait cost)
                    "machine_cores": busy / total * (os.cpu_count() or 1) if total else None,
                    "load": [load, load_average()],
                    "losses": history.train_loss,
                })  # fmt: skip
    dist.destroy_process_group()
    if rank == 0:
        Path(out).write_text(json.dumps(results), encoding="utf-8")


def ddp_rounds(
    epochs: int, rounds: int, samples: int = DDP_SAMPLES, world: int = 2
) -> dict[str, list[dict[str, Any]]]:
    """``rounds`` interleaved rounds of section d on ``world`` local gloo processes."""
    import torch.multiprocessing as mp

    with socket.socket() as probe:  # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as scratch:
        out = str(Path(scratch) / "ddp.json")
        mp.spawn(_ddp_worker, args=(world, port, epochs, rounds, samples, out), nprocs=world)
        return json.loads(Path(out).read_text(encoding="utf-8"))


def ddp_section(epochs: int, repeats: int, samples: int = DDP_SAMPLES) -> list[str]:
    """Section d's report lines: samples/s of 1 and 2 processes, efficiency, CPU shares."""
    rounds = ddp_rounds(epochs, repeats + 1, samples)
    figures = {}
    for variant, (procs, _) in VARIANTS.items():
        runs = rounds[variant][1:]  # the warm-up round is dropped
        used = [sum(r["cpu"][:procs]) for r in runs]  # the run's own processes
        cores = [u / r["seconds"] for u, r in zip(used, runs, strict=True)]
        others = [
            r["machine_cores"] - sum(r["cpu"]) / r["seconds"]
            for r in runs
            if r["machine_cores"] is not None
        ]
        figures[variant] = {
            "rate": median([epochs * samples / r["seconds"] for r in runs]),
            "per_cpu": median([epochs * samples / u for u in used]),
            "cores": median(cores),
            "share": median(cores) / procs,
            "others": median(others) if others else None,
            "load": f"{runs[0]['load'][0]} -> {runs[-1]['load'][1]}",
            "losses": runs[-1]["losses"],
            "waiting": median([r["cpu"][1] / r["seconds"] for r in runs]) if procs == 1 else None,
        }
    one, two, half = figures["one"], figures["two"], figures["half"]
    gap = max(abs(a - b) for a, b in zip(one["losses"], two["losses"], strict=True))
    efficiency = two["rate"] / (2 * one["rate"])
    per_cpu, per_cpu_half = two["per_cpu"] / one["per_cpu"], two["per_cpu"] / half["per_cpu"]
    lines = [
        f"d. DDP 2 x 1 thread vs 1 x 1 thread: lstm hidden {DDP_HIDDEN}, {samples} samples, "
        f"global batch {DDP_BATCH}, {epochs} epoch(s), {repeats} round(s), {os.cpu_count()} "
        "CPU(s)"
    ]
    labels = {
        "one": f"1 process, batch {DDP_BATCH} (supervised)",
        "two": f"2 processes, batch {DDP_BATCH} (ddp, gloo)",
        "half": f"1 process, batch {DDP_BATCH // 2} (a rank's part)",
    }
    width = max(map(len, labels.values()))
    for variant, label in labels.items():
        f, procs = figures[variant], VARIANTS[variant][0]
        others = "n/a" if f["others"] is None else f"{f['others']:.2f}"
        lines.append(
            f"   {label.ljust(width)}: {f['rate']:6.0f} samples/s, "
            f"{f['per_cpu']:6.0f} per CPU second; used {f['cores']:.2f} cores = "
            f"{f['share']:.0%} of its {procs}; other processes kept {others} cores busy; "
            f"loadavg {f['load']}"
        )
    lines += [
        f"   scaling efficiency rate2 / (2 * rate1) = {efficiency:.0%} (CPU share 1 process "
        f"{one['share']:.0%}, 2 processes {two['share']:.0%})",
        f"   per CPU second, 2 processes over 1: {per_cpu:.0%} at the same global batch, "
        f"{per_cpu_half:.0%} against one process at a rank's batch (what gloo and DDP cost)",
        f"   max loss gap 2 vs 1 process {gap:.1e}; rank 1 used {one['waiting']:.2f} cores "
        "waiting in the 1-process rounds",
    ]
    return lines


def predict_rounds(data: SequenceData, threads: int) -> Callable[[], tuple[float, list[float]]]:
    model, _ = build(data, 64)
    model.eval()

    def run() -> tuple[float, list[float]]:
        torch.set_num_threads(threads)
        start = time.perf_counter()
        for _ in range(20):  # 20 passes over the windows, as predict/evaluate batch them
            predict_split(model, data.train, data.task, 256)
        elapsed = time.perf_counter() - start
        torch.set_num_threads(1)
        return elapsed, []

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="Timed rounds per variant.")
    parser.add_argument("--epochs", type=int, default=10, help="Epochs per timed training run.")
    parser.add_argument("--quick", action="store_true", help="1 round, 2 epochs: a smoke run.")
    parser.add_argument("--ddp-only", action="store_true", help="Section d (DDP) alone.")
    args = parser.parse_args(argv)
    repeats, epochs = (1, 2) if args.quick else (args.repeats, args.epochs)
    torch.set_num_threads(1)
    began = time.perf_counter()
    if args.ddp_only:
        for line in ddp_lines(epochs, repeats, args.quick):
            print(line)
        print(f"(total {time.perf_counter() - began:.0f} s)")
        return 0
    data = readme_data()
    bare = no_validation(data)
    rows: list[list[str]] = []

    seconds, _ = timed(
        {t: (lambda t=t: trainer_fit(data, 64, epochs, threads=t)) for t in (1, 2)}, repeats
    )
    one = median(seconds[1])
    rows.append(row("a. threads (train)", "threads=1", one, one, "README lstm, sunspots"))
    rows.append(row("a. threads (train)", "threads=2", median(seconds[2]), one))
    seconds, _ = timed({t: predict_rounds(data, t) for t in (1, 2)}, repeats)
    one = median(seconds[1])
    rows.append(row("a. threads (predict)", "threads=1", one, one, "20 passes, batch 256"))
    rows.append(row("a. threads (predict)", "threads=2", median(seconds[2]), one))
    torch.set_num_threads(1)

    seconds, losses = timed(
        {p: (lambda p=p: trainer_fit(data, 64, epochs, precision=p)) for p in ("32", "bf16")},
        repeats,
    )
    fp32 = median(seconds["32"])
    rows.append(row("b. precision", "32", fp32, fp32, f"loss {losses['32'][-1]:.6f}"))
    rows.append(
        row("b. precision", "bf16", median(seconds["bf16"]), fp32, f"loss {losses['bf16'][-1]:.6f}")
    )

    for hidden in (64, 256):
        seconds, losses = timed(
            {
                "hand": lambda h=hidden: hand_fit(bare, h, epochs),
                "trainer": lambda h=hidden: trainer_fit(bare, h, epochs),
            },
            repeats,
        )
        gap = max(abs(a - b) for a, b in zip(losses["hand"], losses["trainer"], strict=True))
        hand = median(seconds["hand"])
        section = f"c. trainer / hand loop (h={hidden})"
        rows.append(row(section, "hand-written loop", hand, hand))
        rows.append(row(section, "supervised trainer", median(seconds["trainer"]), hand,
                        f"max loss gap {gap:.1e}"))  # fmt: skip

    header = ["section", "variant", "median", "vs first", "note"]
    print(f"bench_scale: {repeats} timed round(s) of {epochs} epoch(s) each, torch "
          f"{torch.__version__}, {torch.get_num_threads()} thread(s) between runs")  # fmt: skip
    print(format_table(rows, header))
    for line in ddp_lines(epochs, repeats, args.quick):
        print(line)
    print(f"(total {time.perf_counter() - began:.0f} s; 'vs first': the section's first "
          "variant's median over this one, > 1 is faster)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
