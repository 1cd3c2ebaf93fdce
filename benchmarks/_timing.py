"""Interleaved timing shared by the benchmark scripts (run from this folder's scripts only)."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from typing import Any


def interleaved(
    fns: dict[str, Callable[[], Any]],
    repeats: int,
    *,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
    per_step: bool = False,
    collect: bool = False,
) -> dict[str, list[float]]:
    """``warmup`` untimed rounds, then ``repeats`` timed rounds, the order reversed every other
    round (A B C, C B A, ...) so drift and position bias cancel; seconds per name and round.

    ``per_step``: each function returns how many steps it ran and the result is seconds per
    step. ``collect``: a garbage collection before each timed call.
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats):
        for name in names if round_ % 2 == 0 else names[::-1]:
            if collect:
                gc.collect()
            start = clock()
            steps = fns[name]()
            elapsed = clock() - start
            times[name].append(elapsed / steps if per_step else elapsed)
    return times


def spread(values: list[float]) -> str:
    """The range around the median, as ``-a%/+b%``."""
    m = statistics.median(values)
    return f"{100 * (min(values) - m) / m:+.0f}%/{100 * (max(values) - m) / m:+.0f}%"
