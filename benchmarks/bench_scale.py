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
   against one process of 1 thread, on the same global batch of 32 (each rank takes 16 of
   every batch), no validation: throughput ratio and scaling efficiency (ratio / 2), the
   seconds inside ``fit`` on rank 0 (process start and rendezvous excluded); the DDP rounds
   run first in 2 long-lived processes, then the single-process rounds; the epoch losses agree
   to float rounding.

Run: ``.venv/bin/python benchmarks/bench_scale.py [--repeats N] [--epochs N] [--quick]``
(about two minutes on two shared cores; ``--quick``: a few seconds, for a smoke run).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
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
from seqzoo.plugins.training_loops import Supervised

LR, SEED, BATCH = 3e-3, 0, 32


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


def ddp_note(gpus: int | None = None) -> str:
    """What the DDP comparison can say today."""
    trainers = {spec.name for spec in seqzoo.get_registry().list("trainer")}
    if "ddp" not in trainers:
        return "not available: no ddp trainer"
    if gpus is not None and gpus < 2:
        return f"not available: {gpus} GPU(s), 2 needed"
    return "a ddp trainer is registered: not measured by this script yet"


def _ddp_worker(rank: int, world: int, port: int, epochs: int, rounds: int, out: str) -> None:
    """One rank of the DDP rounds (``torch.multiprocessing.spawn``): ``rounds`` fits, timed
    after a barrier; rank 0 writes ``[[seconds, losses], ...]`` to ``out``."""
    import os

    import torch.distributed as dist

    from seqzoo.plugins.trainers_ddp import DDP

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    data = no_validation(readme_data())
    results = []
    for _ in range(rounds):
        model, optimizer = build(data, 64)
        trainer = DDP(epochs=epochs, batch_size=BATCH, seed=SEED, quiet=True, plot=False)
        dist.barrier()  # every rank starts the clock together
        start = time.perf_counter()
        history = trainer.fit(model, data, optimizer)
        results.append([time.perf_counter() - start, history.train_loss])
    dist.destroy_process_group()
    if rank == 0:
        Path(out).write_text(json.dumps(results), encoding="utf-8")


def ddp_rounds(epochs: int, rounds: int, world: int = 2) -> list[list[Any]]:
    """``rounds`` timed DDP fits on ``world`` local gloo processes: ``[[seconds, losses]]``."""
    import torch.multiprocessing as mp

    with socket.socket() as probe:  # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as scratch:
        out = str(Path(scratch) / "ddp.json")
        mp.spawn(_ddp_worker, args=(world, port, epochs, rounds, out), nprocs=world)
        return json.loads(Path(out).read_text(encoding="utf-8"))


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
    args = parser.parse_args(argv)
    repeats, epochs = (1, 2) if args.quick else (args.repeats, args.epochs)
    torch.set_num_threads(1)
    began = time.perf_counter()
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

    section = "d. DDP 2 x 1 thread vs 1 x 1 thread"
    if "not available" in ddp_note():
        rows.append([section, ddp_note(), "-", "-", ""])
    else:
        ddp = ddp_rounds(epochs, repeats + 1)[1:]  # the warm-up round is dropped
        seconds, losses = timed({"one": lambda: trainer_fit(bare, 64, epochs)}, repeats)
        one, two = median(seconds["one"]), median([r[0] for r in ddp])
        gap = max(abs(a - b) for a, b in zip(ddp[-1][1], losses["one"], strict=True))
        rows.append(row(section, "1 process x 1 thread", one, one, f"global batch {BATCH}"))
        rows.append(row(section, "2 processes x 1 thread (gloo)", two, one,
                        f"efficiency {one / two / 2:.0%}, max loss gap {gap:.1e}"))  # fmt: skip
    header = ["section", "variant", "median", "vs first", "note"]
    print(f"bench_scale: {repeats} timed round(s) of {epochs} epoch(s) each, torch "
          f"{torch.__version__}, {torch.get_num_threads()} thread(s) between runs")  # fmt: skip
    print(format_table(rows, header))
    print(f"(total {time.perf_counter() - began:.0f} s; 'vs first': the section's first "
          "variant's median over this one, > 1 is faster)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
