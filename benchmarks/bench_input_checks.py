"""What the model input checks cost (a script, not a test).

The registered ``lstm`` model (input 1, hidden 64, 1 layer, ``output="last"``), eval mode, one
torch thread, a batch of 32 windows of 50 steps. Each round times ``--calls`` forward calls
with the checks on (``model(x)``: type, rank, features, dtype, a non-empty time axis, and one
fused ``sum`` for NaN / infinity) and with them off (``with seqzoo.core.modules.input_checks(
False)``), interleaved, the order alternating each round. It prints the median seconds per
call of each, their ratio (of the medians) and the median of the per-round ratios
("paired"), for a forward under ``torch.no_grad`` (inference) and a forward with autograd on
(what a training step runs), and the same for one streaming ``step`` with its state (batch 1:
the checks' fixed cost against the cheapest call); last, ``check_input`` timed alone as a
share of the unchecked forward (the same cost, measured with far less noise). **Target:
forward ratio < 1.02 at batch 32** (the exit status is 1 when it is missed).

Run: ``.venv/bin/python benchmarks/bench_input_checks.py [--repeats 31] [--calls 200]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch
from _timing import interleaved, spread

import seqzoo
from seqzoo.core.modules import input_checks


def timed(fn: Callable[[], object], calls: int, checks: bool) -> Callable[[], int]:
    """A round of ``calls`` calls of ``fn`` with the checks on or off; returns ``calls``."""

    def run() -> int:
        with input_checks(checks):
            for _ in range(calls):
                fn()
        return calls

    return run


def compare(
    name: str, fn: Callable[[], object], calls: int, repeats: int, clock: Callable[[], float]
) -> float:
    times = interleaved(
        {"on": timed(fn, calls, True), "off": timed(fn, calls, False)},
        repeats,
        warmup=2,
        per_step=True,
        clock=clock,
    )
    on, off = statistics.median(times["on"]), statistics.median(times["off"])
    ratio = on / off
    # each round times both back to back: the median of the per-round ratios shrugs off load
    # that changes between rounds
    paired = statistics.median(a / b for a, b in zip(times["on"], times["off"], strict=True))
    print(
        f"{name:<34} {on * 1e6:10.1f} us {off * 1e6:10.1f} us   {ratio:6.4f}   {paired:6.4f}   "
        f"(on {spread(times['on'])}, off {spread(times['off'])})"
    )
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="cpu",
        help="cpu: this thread's CPU time, steadier on a machine busy with other work",
    )
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.thread_time
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = seqzoo.create_model("lstm", input_size=1, hidden_size=64).eval()
    x = torch.randn(args.batch_size, args.window, 1)
    x_t = torch.randn(1, 1)

    def inference() -> object:
        with torch.no_grad():
            return model(x)

    def training() -> object:
        return model(x)

    with torch.no_grad():
        state = model.step(x_t)[1]
    carried = [state]

    def step() -> object:  # a streaming loop: each step's state goes back into the next
        with torch.no_grad():
            y, carried[0] = model.step(x_t, carried[0])
        return y

    def fresh_state() -> object:  # a state the model did not just return: checked in full
        with torch.no_grad():
            return model.step(x_t, tuple(s.clone() for s in state))

    def check_alone() -> object:
        return model.check_input(x)

    print(f"seqzoo {seqzoo.__version__}, torch {torch.__version__}, 1 thread, {args.clock} clock")
    print(f"{'call':<34} {'checks on':>13} {'checks off':>13}   ratio   paired")
    n, r = args.calls, args.repeats
    forward = compare(f"forward, no_grad, batch {args.batch_size}", inference, n, r, clock)
    compare(f"forward, autograd, batch {args.batch_size}", training, n, r, clock)
    compare("step, its own last state, batch 1", step, n * 20, r, clock)
    compare("step, a copied state, batch 1", fresh_state, n * 20, r, clock)
    # the check alone against the unchecked forward: the same cost, with far less noise
    alone = interleaved(
        {"check": timed(check_alone, n * 10, True), "forward": timed(inference, n, False)},
        r,
        warmup=2,
        per_step=True,
        clock=clock,
    )
    check_s, forward_s = (statistics.median(alone[k]) for k in ("check", "forward"))
    print(
        f"check_input alone: {check_s * 1e6:.1f} us = {100 * check_s / forward_s:.2f}% of the "
        f"unchecked no_grad forward ({forward_s * 1e6:.0f} us)"
    )
    print(f"forward at batch {args.batch_size}: checks cost {100 * (forward - 1):+.2f}%")
    return 0 if forward < 1.02 else 1


if __name__ == "__main__":
    sys.exit(main())
