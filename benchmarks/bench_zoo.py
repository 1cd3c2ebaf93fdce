"""Pretrained-model loading benchmark for seqzoo (a script, not a test).

Prints, in one run, medians over interleaved repeats (order alternating each round) of:

- ``seqzoo.from_pretrained(<source>)``: config.json, sha256 checks, build through the registry,
  safetensors weights, preprocessing (scalers), eval mode;
- the plain-PyTorch way, like for like: ``seqzoo.create_model(<same name and config>)`` +
  ``load_state_dict(torch.load(<weights>.pt, weights_only=True))`` + ``eval()``, the weights
  saved once as a ``.pt`` state_dict in a temporary directory;
- the raw weight read alone: ``safetensors.torch.load_file`` vs ``torch.load(weights_only=True)``
  (``load_file`` memory-maps the file, pages are read when first touched; so the table also
  shows ``torch.load(..., mmap=True)``, the like-for-like lazy read);
- the parts, to show where the time goes: building the model alone (``create_model``, which
  also random-initializes the weights that loading then overwrites) and the sha256 of
  ``model.safetensors`` that ``from_pretrained`` checks against ``config.json`` on every load.

The source is the bundled zoo model ``seqzoo/zoo/models/lstm-sunspots`` when it exists (by its
zoo name when registered, else by its directory), otherwise a fresh LSTM saved with
``save_pretrained`` into a temporary directory (with the ``sunspots`` preprocessing, as the
zoo model would carry); the run says which.

Run: ``.venv/bin/python benchmarks/bench_zoo.py [--repeats 20] [--hidden 64] [--layers 1]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from _timing import interleaved, spread
from safetensors.torch import load_file

import seqzoo
from seqzoo.zoo.hub import file_sha256

BUNDLED = Path(seqzoo.__file__).parent / "zoo" / "models" / "lstm-sunspots"


def prepare(args: argparse.Namespace, tmp: Path) -> tuple[str, str, dict[str, Any], str]:
    """``(source for from_pretrained, registry name, config, what it is)``; also writes
    ``tmp/weights.pt`` (the same weights as a torch state_dict)."""
    if BUNDLED.is_dir():
        source = "lstm-sunspots" if "lstm-sunspots" in seqzoo.list_zoo() else str(BUNDLED)
        model = seqzoo.from_pretrained(source, device="cpu")
        what = f"bundled zoo model {source!r} ({BUNDLED})"
    else:
        torch.manual_seed(0)
        model = seqzoo.create_model(
            "lstm", input_size=1, hidden_size=args.hidden, num_layers=args.layers
        )
        try:
            preprocessing = seqzoo.get_registry().create("dataset", "sunspots").preprocessing
            extra = "with sunspots preprocessing"
        except Exception as exc:  # statsmodels missing: weights and config only
            preprocessing, extra = None, f"no preprocessing ({type(exc).__name__})"
        directory = seqzoo.save_pretrained(
            model, tmp / "lstm-sunspots", preprocessing=preprocessing, task="forecast"
        )
        source = str(directory)
        model = seqzoo.from_pretrained(source, device="cpu")
        what = (
            f"no bundled zoo model ({BUNDLED} absent): a fresh LSTM (hidden {args.hidden}, "
            f"{args.layers} layer(s)) saved with save_pretrained into a temp dir, {extra}"
        )
    torch.save(model.state_dict(), tmp / "weights.pt")
    config = model.pretrained_config
    return source, config["model"], dict(config["config"]), what


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed rounds (default 20)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--hidden", type=int, default=64, help="fresh LSTM's hidden size")
    parser.add_argument("--layers", type=int, default=1, help="fresh LSTM's layer count")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="seqzoo-bench-zoo-") as name:
        tmp = Path(name)
        source, registry_name, config, what = prepare(args, tmp)
        directory = Path(source) if Path(source).is_dir() else BUNDLED
        safetensors_path = directory / "model.safetensors"
        pt_path = tmp / "weights.pt"

        def seqzoo_load() -> torch.nn.Module:
            return seqzoo.from_pretrained(source)

        def torch_load() -> torch.nn.Module:
            model = seqzoo.create_model(registry_name, **config)
            model.load_state_dict(torch.load(pt_path, weights_only=True))
            return model.eval()

        fns = {
            "from_pretrained": seqzoo_load,
            "build+torch.load": torch_load,
            "load_file": lambda: load_file(str(safetensors_path)),
            "torch.load": lambda: torch.load(pt_path, weights_only=True),
            "torch.load mmap": lambda: torch.load(pt_path, weights_only=True, mmap=True),
            "build": lambda: seqzoo.create_model(registry_name, **config),
            "sha256": lambda: file_sha256(safetensors_path),
        }
        # like for like: both give the same weights
        a, b = seqzoo_load().state_dict(), torch_load().state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        params = sum(t.numel() for t in a.values())
        sizes = (safetensors_path.stat().st_size, pt_path.stat().st_size)
        times = interleaved(fns, args.repeats, warmup=2)

    med = {k: statistics.median(v) for k, v in times.items()}
    shown = "<dir>" if Path(source).is_absolute() else repr(source)
    command = " ".join(shlex.quote(x) for x in [sys.executable, *sys.argv])
    print(f"command : {command}")
    print(
        f"torch {torch.__version__} | seqzoo {seqzoo.__version__} | python "
        f"{platform.python_version()} | {os.cpu_count()} CPUs | threads "
        f"{torch.get_num_threads()} | repeats {args.repeats} (interleaved, order alternating, "
        "2 warm-up rounds; files in the page cache) | medians"
    )
    print(f"model   : {what}")
    print(
        f"          {registry_name!r} {config}; {params:,} parameters; model.safetensors "
        f"{sizes[0] / 1e3:,.1f} kB, weights.pt {sizes[1] / 1e3:,.1f} kB"
    )
    print()
    rows = (
        (f"full load  seqzoo.from_pretrained({shown})", "from_pretrained", "build+torch.load"),
        ("           create_model + torch.load + load_state_dict", "build+torch.load", None),
        ("raw read   safetensors.torch.load_file", "load_file", "torch.load"),
        ("           torch.load(weights_only=True)", "torch.load", None),
        ("           torch.load(weights_only=True, mmap=True)", "torch.load mmap", None),
        ("parts      create_model alone (random init, no weights)", "build", None),
        ("           sha256 of model.safetensors (checksum check)", "sha256", None),
    )
    print(f"   {'':<55}{'median ms':>11}{'min/max vs med':>16}{'ratio':>9}")
    for label, key, against in rows:
        ratio = f"{med[key] / med[against]:.2f}x" if against else ""
        print(f"   {label:<55}{1e3 * med[key]:>11.3f}{spread(times[key]):>16}{ratio:>9}")
    overhead = med["from_pretrained"] - med["build+torch.load"]
    print()
    print(
        f"from_pretrained / (create_model + torch.load): {med['from_pretrained'] / med['build+torch.load']:.2f}x "
        f"({1e3 * overhead:+.2f} ms per load); load_file / torch.load: "
        f"{med['load_file'] / med['torch.load']:.2f}x (vs mmap=True "
        f"{med['load_file'] / med['torch.load mmap']:.2f}x); ratios of medians, lower is faster"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
