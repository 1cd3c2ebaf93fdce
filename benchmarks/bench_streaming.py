"""Streaming (step-by-step) inference benchmark for seqzoo (a script, not a test).

The registered ``lstm`` model (input 1, hidden 64, 1 layer, its output Linear), batch 1, one
torch thread, eval mode. Prints medians per new time step over interleaved repeats (order
alternating each round) of:

- the floor: raw ``torch.lstm_cell`` on the model's own weights + its ``Linear`` head, the
  ``(h, c)`` pair carried as two ``(1, 64)`` tensors, under ``torch.inference_mode``;
- ``model.step(x_t, state)`` under ``torch.no_grad`` (what a streaming caller writes), from the
  state after a history of 10, 1,000 and 10,000 steps: the cost must not grow with history;
- the step as it was run before the fused cells: a length-1 sequence through ``nn.LSTM``, then
  the head (``model.core.rnn(x[:, None], state)``);
- re-running the whole history plus the new point with ``model(x)`` (``output="last"``) at
  each step, at the same three history lengths: what a model without a state must do.

Before timing, it checks that 50 steps equal the whole-sequence forward and the floor within
1e-6. ``--clock cpu`` times this process's CPU time instead of wall time, for a machine that is
busy with other work (a descheduled process then costs nothing).

Run: ``.venv/bin/python benchmarks/bench_streaming.py [--repeats 21] [--clock wall|cpu]``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable

import torch
from _timing import interleaved, spread

import seqzoo

HISTORIES = (10, 1_000, 10_000)
ATOL = 1e-6


def calls_for(fn: Callable[[], object], target_s: float) -> int:
    """How many calls of ``fn`` fill about ``target_s`` seconds (at least 1)."""
    fn()
    start = time.perf_counter()
    fn()
    return max(1, math.ceil(target_s / max(time.perf_counter() - start, 1e-9)))


def check(model: torch.nn.Module, head: torch.nn.Linear, weights: list[torch.Tensor]) -> float:
    """The largest difference of 50 steps from the forward and from the floor (must be tiny)."""
    x = torch.randn(1, 50, 1, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        whole = torch.stack([model(x[:, : t + 1]) for t in range(50)], dim=1)
        state, stepped = None, []
        for t in range(50):
            y, state = model.step(x[:, t], state)
            stepped.append(y)
        h, c, floor = torch.zeros(1, 64), torch.zeros(1, 64), []
        for t in range(50):
            h, c = torch.lstm_cell(x[:, t], (h, c), *weights)
            floor.append(head(h))
    steps = torch.stack(stepped, dim=1)
    worst = max(
        float((steps - whole).abs().max()), float((steps - torch.stack(floor, 1)).abs().max())
    )
    if worst > ATOL:
        raise SystemExit(f"model.step differs from forward / lstm_cell by {worst:.3g} > {ATOL}")
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=21, help="timed rounds (default 21)")
    parser.add_argument("--block-ms", type=float, default=5.0, help="time per block (default 5)")
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall", help="wall time or process CPU time"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    clock = time.perf_counter if args.clock == "wall" else time.process_time

    torch.manual_seed(0)
    model = seqzoo.create_model("lstm", input_size=1).eval()
    lstm, head = model.core.rnn, model.head
    weights = [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0]
    worst = check(model, head, weights)

    history = torch.randn(1, max(HISTORIES) + 1, 1, generator=torch.Generator().manual_seed(2))
    x_t = history[:, -1]
    with torch.no_grad():
        states = {h: model.forward_stateful(history[:, :h])[1] for h in HISTORIES}

    def floor_block(n: int) -> Callable[[], int]:
        def run() -> int:
            h, c = torch.zeros(1, 64), torch.zeros(1, 64)
            with torch.inference_mode():
                for _ in range(n):
                    h, c = torch.lstm_cell(x_t, (h, c), *weights)
                    head(h)
            return n

        return run

    def step_block(n: int, start: object) -> Callable[[], int]:
        def run() -> int:
            state = start
            with torch.no_grad():
                for _ in range(n):
                    _, state = model.step(x_t, state)
            return n

        return run

    def sequence_module_block(n: int) -> Callable[[], int]:
        def run() -> int:
            state = states[HISTORIES[0]]
            with torch.no_grad():
                for _ in range(n):
                    out, state = lstm(x_t[:, None], state)
                    head(out[:, 0])
            return n

        return run

    def forward_block(n: int, length: int) -> Callable[[], int]:
        window = history[:, : length + 1]  # the history and the new point

        def run() -> int:
            with torch.no_grad():
                for _ in range(n):
                    model(window)
            return n

        return run

    target = args.block_ms / 1e3
    n_step = calls_for(step_block(1, states[10]), target)
    fns: dict[str, Callable[[], int]] = {"floor": floor_block(n_step)}
    for h in HISTORIES:
        fns[f"step@{h}"] = step_block(n_step, states[h])
    fns["nn.LSTM len-1"] = sequence_module_block(n_step)
    for h in HISTORIES:
        fns[f"forward@{h}"] = forward_block(calls_for(forward_block(1, h), target), h)
    times = interleaved(fns, args.repeats, warmup=2, clock=clock, per_step=True)
    med = {k: statistics.median(v) for k, v in times.items()}

    command = " ".join(shlex.quote(x) for x in [sys.executable, *sys.argv])
    print(f"command : {command}")
    print(
        f"torch {torch.__version__} | seqzoo {seqzoo.__version__} | python "
        f"{platform.python_version()} | {platform.machine()} {os.cpu_count()} CPUs | threads "
        f"{torch.get_num_threads()} | {args.clock} clock | repeats {args.repeats} (interleaved, "
        "order alternating, 2 warm-up rounds) | medians per new time step"
    )
    print(
        "model   : create_model('lstm', input_size=1): LSTM(1 -> 64, 1 layer) + Linear(64 -> 1),"
        f" batch 1, eval; 50 steps match forward and lstm_cell within {worst:.1e}"
    )
    print()
    rows = [
        ("floor: torch.lstm_cell + Linear (inference_mode)", "floor", None),
        *((f"model.step at history {h:,}", f"step@{h}", "floor") for h in HISTORIES),
        ("before: nn.LSTM on a length-1 sequence + Linear", "nn.LSTM len-1", "floor"),
        *((f"re-run model(x) over history {h:,} + 1", f"forward@{h}", "floor") for h in HISTORIES),
    ]
    print(f"   {'':<52}{'median us':>11}{'min/max vs med':>16}{'vs floor':>10}")
    for label, key, against in rows:
        ratio = f"{med[key] / med[against]:.2f}x" if against else ""
        print(f"   {label:<52}{1e6 * med[key]:>11.2f}{spread(times[key]):>16}{ratio:>10}")
    print()
    step = med["step@10"]
    print(
        f"model.step / floor: {step / med['floor']:.2f}x (target <= 1.5x); history 10,000 vs 10: "
        f"{med['step@10000'] / step:.2f}x (flat: the state carries everything)"
    )
    print(
        f"model.step vs the nn.LSTM length-1 step: {med['nn.LSTM len-1'] / step:.2f}x faster; "
        "vs re-running the history: "
        + ", ".join(f"{med[f'forward@{h}'] / med[f'step@{h}']:,.0f}x at {h:,}" for h in HISTORIES)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
