"""Start-up and loading benchmark for seqzoo (a script, not a test).

Prints, in one run, medians over interleaved repeats (the order reversed every other round, so
drift and position bias cancel) and each as a ratio to a baseline measured in the same run:

1. Wall time of fresh processes, against ``python -c "import torch"`` (the floor of anything
   that runs a model):

   - ``seqzoo --help`` and ``seqzoo list`` (no torch at all);
   - ``seqzoo predict lstm-sunspots --steps 10`` (load a zoo model, forecast 10 steps);
   - ``python -c "import seqzoo; seqzoo.from_pretrained('lstm-sunspots')"``.

2. In one process, loading a ~50 MB model (a 2-layer LSTM, hidden 1024, written with
   ``save_pretrained`` into a temporary directory) against the floor of a safetensors load,
   ``safetensors.torch.load_file`` + ``create_model`` on the meta device +
   ``load_state_dict(assign=True)``. The breakdown shows the sha256 of ``model.safetensors``
   that ``from_pretrained`` checks (on the first load; later loads reuse the digest remembered
   for the unchanged file, ``seqzoo/zoo/digests.py``, as they reuse the folder's listing and
   ``config.json``, ``seqzoo/zoo/folder.py``, so the model is left to settle for a few seconds
   after saving, as a downloaded or bundled one has), ``from_pretrained`` with that check
   skipped (for the breakdown only), and the previous way (build normally, random-initialising
   every weight, then copy the file's weights in).

Run: ``.venv/bin/python benchmarks/bench_startup.py [--repeats 7] [--load-repeats 31]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from _timing import interleaved

import seqzoo
from seqzoo.zoo import pretrained
from seqzoo.zoo.hub import file_sha256

TARGET = 1.3  # the acceptance ratio of `seqzoo predict` and of from_pretrained


def report(times: dict[str, list[float]], baseline: str, unit: str, scale: float) -> None:
    """One line per name: median, min/max around it, and the ratio to ``baseline``."""
    base = statistics.median(times[baseline])
    width = max(len(name) for name in times)
    for name, values in times.items():
        median = statistics.median(values)
        low, high = (100 * (v - median) / median for v in (min(values), max(values)))
        print(
            f"  {name:<{width}}  {median * scale:9.1f} {unit}  ({low:+.0f}%/{high:+.0f}%)"
            f"  {median / base:6.2f}x"
        )


def seqzoo_command() -> list[str]:
    """The console script beside this interpreter, else ``python -m seqzoo``."""
    script = Path(sys.executable).with_name("seqzoo")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "seqzoo"]


def process(argv: list[str], environment: dict[str, str]) -> Callable[[], None]:
    def run() -> None:
        result = subprocess.run(argv, capture_output=True, text=True, env=environment)
        if result.returncode != 0:
            raise SystemExit(f"{shlex.join(argv)} failed:\n{result.stderr[-2000:]}")

    return run


def startup(repeats: int) -> dict[str, float]:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1"}
    environment.setdefault("OMP_NUM_THREADS", "1")
    cli = seqzoo_command()
    python = sys.executable
    # a 60-month series for `seqzoo forecast` (the zero-shot default model)
    series = Path(tempfile.mkdtemp()) / "series.csv"
    series.write_text(
        "ds,y\n"
        + "".join(f"{2020 + i // 12}-{i % 12 + 1:02d}-01,{100 + i + 10 * (i % 12 > 5)}\n"
                  for i in range(60))
    )  # fmt: skip
    commands = {
        'python -c "import torch"': [python, "-c", "import torch"],
        "seqzoo --help": [*cli, "--help"],
        "seqzoo list": [*cli, "list"],
        "seqzoo predict lstm-sunspots --steps 10": [
            *cli, "predict", "lstm-sunspots", "--steps", "10",
        ],
        "seqzoo forecast series.csv --horizon 12": [
            *cli, "forecast", str(series), "--horizon", "12",
        ],
        "import seqzoo; from_pretrained('lstm-sunspots')": [
            python, "-c", "import seqzoo; seqzoo.from_pretrained('lstm-sunspots')",
        ],
    }  # fmt: skip
    print(f"fresh processes ({repeats} interleaved repeats, OMP_NUM_THREADS="
          f"{environment['OMP_NUM_THREADS']}; {shlex.join(cli)}):")  # fmt: skip
    times = interleaved(
        {k: process(v, environment) for k, v in commands.items()}, repeats, collect=True
    )
    report(times, 'python -c "import torch"', "ms", 1e3)
    base = statistics.median(times['python -c "import torch"'])
    return {name: statistics.median(values) / base for name, values in times.items()}


def big_model(directory: Path, hidden: int, layers: int) -> tuple[str, dict[str, Any], Path]:
    """Save an LSTM of about ``4 * layers * hidden * 2 * hidden`` floats into ``directory``."""
    config = {"input_size": 1, "hidden_size": hidden, "num_layers": layers, "output_size": 1}
    torch.manual_seed(0)
    model = seqzoo.create_model("lstm", **config)
    seqzoo.save_pretrained(model, directory)
    # digests are remembered only for files whose last change is a few seconds old
    from seqzoo.zoo import digests

    time.sleep(digests._SETTLED_SECONDS + 0.5)
    return "lstm", config, directory / "model.safetensors"


def _dropping(fn: Callable[[], Any]) -> Callable[[], None]:
    """``fn`` with its result dropped inside the call (each timing pays its own teardown)."""

    def run() -> None:
        fn()

    return run


def loading(repeats: int, hidden: int, layers: int) -> dict[str, float]:
    from safetensors.torch import load_file, load_model

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "big-lstm"
        name, config, weights = big_model(directory, hidden, layers)
        size = weights.stat().st_size

        def floor() -> Any:
            # the floor as stated: read the tensors, build the model with no storage; the
            # tensors are not even attached (so the floor is not a usable model)
            state = load_file(str(weights), device="cpu")
            with torch.device("meta"):
                model = seqzoo.create_model(name, **config)
            return model, state

        def attached() -> Any:
            model, state = floor()
            model.load_state_dict(state, assign=True)
            return model.eval()

        def full() -> Any:
            return seqzoo.from_pretrained(directory, device="cpu")

        def unchecked() -> Any:
            verify, pretrained._verify = pretrained._verify, lambda *args: None
            try:
                return seqzoo.from_pretrained(directory, device="cpu")
            finally:
                pretrained._verify = verify

        def previous() -> Any:
            model = seqzoo.create_model(name, **config)  # random-initialises every weight
            load_model(model, str(weights), device="cpu")
            return model.eval()

        # the loaded weights must be the file's, whichever way
        reference = attached().state_dict()
        for way in (full, unchecked, previous):
            got = way().state_dict()
            assert all(torch.equal(got[k], v) for k, v in reference.items()), way.__name__

        fns = {
            "load_file + meta create_model (floor)": floor,
            "  floor + load_state_dict(assign=True)": attached,
            "from_pretrained": full,
            "  sha256 of model.safetensors": lambda: file_sha256(weights),
            "  from_pretrained without the sha256": unchecked,
            "  previous: create_model + load_model": previous,
        }
        print(
            f"\nloading a {size / 1e6:.1f} MB model (lstm, hidden {hidden}, {layers} layers; "
            f"{repeats} interleaved repeats, {torch.get_num_threads()} torch thread(s)):"
        )
        # each call frees its own result: held until the next call, a model would be freed inside
        # that call's timing, charging one way for another's teardown
        times = interleaved(
            {k: _dropping(f) for k, f in fns.items()}, repeats, warmup=2, collect=True
        )
        report(times, "load_file + meta create_model (floor)", "ms", 1e3)
    base = statistics.median(times["load_file + meta create_model (floor)"])
    return {name: statistics.median(values) / base for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="rounds of the process timings")
    parser.add_argument("--load-repeats", type=int, default=31, help="rounds of the load timings")
    parser.add_argument("--hidden", type=int, default=1024, help="LSTM hidden size (~50 MB)")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--skip-processes", action="store_true", help="only the load timings")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, seqzoo "
        f"{seqzoo.__version__}, {os.cpu_count()} CPU(s), {platform.machine()}\n"
    )
    ratios = {} if args.skip_processes else startup(args.repeats)
    ratios |= loading(args.load_repeats, args.hidden, args.layers)
    print("\ntargets (median ratio to the baseline of the same run):")
    for name in ("seqzoo predict lstm-sunspots --steps 10", "from_pretrained"):
        if name in ratios:
            verdict = "met" if ratios[name] <= TARGET else "NOT met"
            print(f"  {name}: {ratios[name]:.2f}x (target <= {TARGET}x: {verdict})")


if __name__ == "__main__":
    main()
