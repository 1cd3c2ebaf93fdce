"""Where the time of a small CLI training run goes, outside the training epochs (a script, not a
test).

Runs README's run, ``seqzoo train --model lstm --dataset sunspots --epochs 30 --run-dir DIR``
(default options), as a subprocess, several times, and reports medians of:

- **wall**: the subprocess's wall time, measured by this script;
- **imports**: every module import of that process (``python -X importtime``: the sum of the
  cumulative times of the top-level imports, lazy ones inside functions included), so Python's
  start-up, torch, matplotlib, ... count here and nowhere else;
- **epochs**: the time inside training epochs (training pass, validation pass and schedule
  step), the sum of the run's own per-epoch ``seconds`` in ``history.json``;
- the phases around the epochs, timed by wrapping seqzoo's own functions in the subprocess
  before the trainers are imported: ``save_checkpoint`` (checkpoints: how many and how long),
  ``write_history`` (history), ``plot_loss`` (plot), with the import time of any module first
  loaded inside a phase (safetensors, matplotlib) taken out of it; ``os.fsync`` calls are
  counted. ``checks`` (the trainer's once-per-fit data check) comes from the trainer's own
  ``SEQZOO_PROFILE`` record where the code has one; ``start`` and ``exit`` are the
  interpreter's start-up (before the first line of the run) and shut-down (after the CLI
  returned), from timestamps on the shared monotonic clock; ``other`` is the rest (building
  the data, model and optimizer, the CLI, run.json, ...).

The verdict: epochs / (wall - imports), the share of the wall time outside imports spent inside
training epochs; target >= 50% for the default options. Variants run interleaved (the order
alternating each round): ``default``; ``--save-every epoch`` (``last`` after every epoch, as the
trainer did before ``save_every`` existed); ``--no-plot``; and, with ``--baseline REF``, the
package as it was at git commit REF (extracted with ``git archive`` into a temporary folder and
put first on ``PYTHONPATH``): the before of a before/after comparison in the same run.

Run: ``.venv/bin/python benchmarks/bench_training_overhead.py [--repeats N] [--quick]
[--baseline REF] [--threads N]``. Exit status 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TARGET = 0.50
COMMAND = ["train", "--model", "lstm", "--dataset", "sunspots", "--epochs", "30"]

# Runs the CLI with seqzoo's phase functions wrapped in timers; writes the figures to argv[1].
RUNNER = r"""
import json, os, sys, time
began_main = time.perf_counter()  # CLOCK_MONOTONIC: comparable with the parent's clock
out, args = sys.argv[1], sys.argv[2:]
import seqzoo.core.training as training
figures = {"fsyncs": 0, "checkpoint_calls": 0}
phases = {"checkpoints": [0.0, set()], "history": [0.0, set()], "plot": [0.0, set()]}
def timed(name, phase):
    real = getattr(training, name)
    def wrapper(*a, **k):
        before, began = set(sys.modules), time.perf_counter()
        try:
            return real(*a, **k)
        finally:
            phases[phase][0] += time.perf_counter() - began
            phases[phase][1] |= set(sys.modules) - before
            if phase == "checkpoints":
                figures["checkpoint_calls"] += 1
    setattr(training, name, wrapper)
timed("save_checkpoint", "checkpoints"); timed("write_history", "history"); timed("plot_loss", "plot")
real_fsync = os.fsync
def fsync(fd):
    figures["fsyncs"] += 1
    return real_fsync(fd)
os.fsync = fsync
from seqzoo.cli import main
try:
    main(args)
except SystemExit as exc:
    if exc.code not in (0, None):
        raise
figures["began"], figures["ended"] = began_main, time.perf_counter()
for phase, (seconds, modules) in phases.items():
    figures[phase] = seconds
    figures[phase + "_modules"] = sorted(modules)
with open(out, "w") as handle:
    json.dump(figures, handle)
"""

IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)")


def import_times(stderr: str) -> tuple[float, dict[str, float]]:
    """(total seconds of top-level imports, self seconds per module) from ``-X importtime``."""
    total, own = 0.0, {}
    for line in stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match is None:
            continue
        self_us, cumulative_us, indent, name = match.groups()
        own[name] = int(self_us) / 1e6
        if len(indent) == 0:
            total += int(cumulative_us) / 1e6
    return total, own


def run_once(variant: str, flags: list[str], pythonpath: str, work: Path, i: int) -> dict:
    """One CLI run; the figures of the module doc, in seconds."""
    run_dir = work / f"{variant}-{i}"
    figures_file, profile_file = work / f"{variant}-{i}.json", work / f"{variant}-{i}.profile"
    env = {**os.environ, "PYTHONPATH": pythonpath, "SEQZOO_PROFILE": str(profile_file)}
    argv = [sys.executable, "-X", "importtime", "-c", RUNNER, str(figures_file)]
    argv += [*COMMAND, "--run-dir", str(run_dir), *flags]
    began = time.perf_counter()
    # cwd: not the repository, so PYTHONPATH decides which seqzoo is imported
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=work, check=False)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"{variant}: the run failed:\n{done.stderr[-3000:]}")
    imports, own = import_times(done.stderr)
    figures = json.loads(figures_file.read_text())
    rows = json.loads((run_dir / "history.json").read_text())["rows"]
    result: dict[str, Any] = {
        "wall": wall,
        "imports": imports,
        "epochs": sum(row["seconds"] for row in rows),
        "checkpoints_n": figures["checkpoint_calls"],
        "start": figures["began"] - began,  # interpreter start-up, before the first import
        "exit": began + wall - figures["ended"],  # interpreter shut-down
        "fsyncs": figures["fsyncs"],
    }
    for phase in ("checkpoints", "history", "plot"):  # without the imports made inside them
        inner = sum(own.get(name, 0.0) for name in figures[phase + "_modules"])
        result[phase] = max(figures[phase] - inner, 0.0)
    result["plot_imports"] = sum(own.get(n, 0.0) for n in figures["plot_modules"])
    profile = json.loads(profile_file.read_text()) if profile_file.is_file() else {}
    result["checks"] = profile.get("checks_seconds")
    outside = wall - imports
    known = result["epochs"] + result["checkpoints"] + result["history"] + result["plot"]
    result["other"] = outside - known - (result["checks"] or 0.0) - result["start"] - result["exit"]
    result["share"] = result["epochs"] / outside
    return result


def baseline_tree(ref: str, work: Path) -> Path:
    """The ``seqzoo`` package as it was at commit ``ref`` (bundled zoo weights left out)."""
    target = work / f"baseline-{ref}"
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "seqzoo", ":(exclude)seqzoo/zoo/models"],
        capture_output=True, check=True,
    )  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    parser.add_argument("--baseline", metavar="REF", help="also run the package at this commit")
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS (default 1)")
    options = parser.parse_args()
    repeats = 3 if options.quick else options.repeats
    os.environ["OMP_NUM_THREADS"] = str(options.threads)
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as folder:
        work = Path(folder)
        variants: dict[str, tuple[list[str], str]] = {}
        if options.baseline:
            variants[f"before ({options.baseline})"] = (
                [],
                str(baseline_tree(options.baseline, work)),
            )
        variants["default"] = ([], str(REPO))
        variants["--save-every epoch"] = (["--save-every", "epoch"], str(REPO))
        variants["--no-plot"] = (["--no-plot"], str(REPO))
        names = list(variants)
        results: dict[str, list[dict]] = {name: [] for name in names}
        run_once("default", [], str(REPO), work, -1)  # warm-up: file caches, .pyc files
        for round_ in range(repeats):
            order = names if round_ % 2 == 0 else names[::-1]
            for name in order:
                flags, path = variants[name]
                key = re.sub(r"\W+", "_", name)
                results[name].append(run_once(key, flags, path, work, round_))
    print(f"seqzoo {' '.join(COMMAND)} --run-dir DIR   ({repeats} interleaved rounds, medians; "
          f"OMP_NUM_THREADS={options.threads}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs)")  # fmt: skip
    columns = [
        ("wall", "wall s"), ("imports", "imports s"), ("epochs", "epochs s"),
        ("checkpoints", "ckpt s"), ("checkpoints_n", "ckpts"), ("fsyncs", "fsyncs"),
        ("history", "history s"), ("plot", "plot s"), ("plot_imports", "plot imp s"),
        ("checks", "checks s"), ("start", "start s"), ("exit", "exit s"), ("other", "other s"),
        ("share", "in epochs"),
    ]  # fmt: skip
    width = max(len(n) for n in names) + 2
    print("variant".ljust(width) + "".join(label.rjust(11) for _, label in columns))
    summary: dict[str, dict[str, float | None]] = {}
    for name in names:
        summary[name] = {key: median([r[key] for r in results[name]]) for key, _ in columns}
        cells = []
        for key, _ in columns:
            value = summary[name][key]
            if value is None:
                cells.append("-".rjust(11))
            elif key == "share":
                cells.append(f"{value:.0%}".rjust(11))
            elif key in ("checkpoints_n", "fsyncs"):
                cells.append(f"{value:.0f}".rjust(11))
            else:
                cells.append(f"{value:.3f}".rjust(11))
        print(name.ljust(width) + "".join(cells))
    print(
        "in epochs = epochs / (wall - imports); phase times exclude the imports made inside "
        "them (plot imp s: matplotlib's); start / exit: interpreter start-up before the first "
        "import and shut-down after the CLI returned (outside imports, so in the denominator); "
        "other: the rest (building data, model and optimizer, the CLI, run.json, ...)"
    )
    default = summary["default"]
    if options.baseline:
        before = summary[names[0]]
        outside = [(s["wall"] or 0) - (s["imports"] or 0) for s in (before, default)]
        print(
            f"wall outside imports: before {outside[0]:.3f} s, after {outside[1]:.3f} s "
            f"({outside[0] / outside[1]:.2f}x); checkpoint time {before['checkpoints']:.3f} s "
            f"-> {default['checkpoints']:.3f} s, fsyncs {before['fsyncs']:.0f} -> "
            f"{default['fsyncs']:.0f}, plot {before['plot']:.3f} s -> {default['plot']:.3f} s "
            f"(--no-plot: {summary['--no-plot']['plot']:.3f} s and no matplotlib import)"
        )
    share = default["share"] or 0.0
    verdict = "met" if share >= TARGET else "MISSED"
    print(f"default: {share:.0%} of the wall time outside imports is inside training epochs "
          f"(target >= {TARGET:.0%}): {verdict}")  # fmt: skip
    return 0 if share >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
