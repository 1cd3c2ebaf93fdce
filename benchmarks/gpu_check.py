"""One command that checks seqzoo on a CUDA machine and records a table (a script, not a test).

1. every zoo model loads with ``device="auto"`` onto CUDA, and its outputs on the zoo entry's
   reference inputs match the CPU's within 1e-4;
2. the ``supervised`` trainer against a hand-written PyTorch loop on CUDA (README's LSTM at
   hidden sizes 64 and 256, the same batches and steps), in fp32 and in bf16 autocast;
3. a CUDA run's checkpoint resumes on the CPU (``device="cpu"``);
4. DDP on 2 GPUs: a note (there is no ``ddp`` trainer yet).

The table is printed and written to ``--out`` (default ``gpu_check.txt``). ``--dry-run`` does
everything on the CPU with tiny sizes and says so (a smoke run of the script itself).

Run: ``python benchmarks/gpu_check.py [--out FILE] [--repeats N] [--dry-run]``; exit status 1
when a check fails, 2 when there is no CUDA device (without --dry-run).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import (
    ddp_note,
    format_table,
    hand_fit,
    median,
    no_validation,
    readme_data,
    timed,
    trainer_fit,
)

from seqzoo.core.training import load_checkpoint
from seqzoo.plugins.trainers.supervised import Supervised
from seqzoo.zoo import catalogue, from_pretrained
from seqzoo.zoo.build import REFERENCE_NAME

TOLERANCE = 1e-4


def _outputs(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


def check_zoo(device: str) -> tuple[list[list[str]], bool]:
    """Rows for every zoo entry: where ``device="auto"`` put it, and the largest difference
    from the CPU's output on its reference inputs."""
    from safetensors.torch import load_file

    rows, ok = [], True
    for name in sorted(catalogue.read_catalogue()["entries"]):
        path = catalogue.MODELS_DIR / name / REFERENCE_NAME
        if not path.is_file():
            rows.append(["1. zoo", name, "-", "-", "no reference inputs"])
            continue
        reference = load_file(str(path))
        cpu = from_pretrained(name, device="cpu")
        auto = from_pretrained(name, device="auto")
        landed = next(auto.parameters()).device
        with torch.no_grad():
            expected = _outputs(cpu(reference["input"]))
            got = _outputs(auto(reference["input"].to(landed))).cpu()
        gap = float((got.double() - expected.double()).abs().max())
        passed = landed.type == device and gap <= TOLERANCE
        ok &= passed
        verdict = "ok" if passed else f"FAIL (wanted {device}, <= {TOLERANCE:g})"
        rows.append(["1. zoo", name, str(landed), f"{gap:.1e}", verdict])
    return rows, ok


def check_throughput(device: str, repeats: int, epochs: int, dry: bool) -> list[list[str]]:
    """Trainer vs hand-written loop on ``device`` in fp32 and bf16 (samples per second)."""
    data = no_validation(readme_data(dry=dry))
    n = len(data.train) * epochs
    rows = []
    for hidden in (16,) if dry else (64, 256):
        for precision in ("32", "bf16"):
            seconds, losses = timed(
                {
                    "hand": lambda h=hidden, p=precision: hand_fit(data, h, epochs, device, p),
                    "trainer": lambda h=hidden, p=precision: trainer_fit(
                        data, h, epochs, device=device, precision=p
                    ),
                },
                repeats,
            )
            hand, trainer = median(seconds["hand"]), median(seconds["trainer"])
            gap = max(abs(a - b) for a, b in zip(losses["hand"], losses["trainer"], strict=True))
            rows.append(["2. trainer / hand loop", f"h={hidden} {precision}",
                         f"{n / trainer:,.0f} vs {n / hand:,.0f} samples/s",
                         f"{hand / trainer:.2f}x", f"loss gap {gap:.1e}"])  # fmt: skip
    return rows


def check_resume_on_cpu(device: str) -> tuple[list[str], bool]:
    """Train one epoch on ``device`` into a run directory, then resume it on the CPU."""
    data = readme_data(dry=True)
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder) / "run"
        _, _ = _fit(data, device, run_dir, epochs=1)
        model, history = _fit(data, "cpu", run_dir, epochs=2, resume=run_dir)
        state = load_checkpoint(run_dir, model)
        ok = state["epoch"] == 2 and next(model.parameters()).device.type == "cpu"
    note = f"epochs {[row.epoch for row in history.rows]}"
    return ["3. resume", f"{device} -> cpu", "-", "-", ("ok " if ok else "FAIL ") + note], ok


def _fit(data: Any, device: str, run_dir: Path, epochs: int, resume: Any = None) -> Any:
    torch.manual_seed(0)
    import seqzoo

    model = seqzoo.create_model("lstm", input_size=1, output_size=1, hidden_size=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    trainer = Supervised(epochs=epochs, batch_size=32, quiet=True, plot=False, run_dir=run_dir,
                         device=device, save_every="epoch")  # fmt: skip
    history = trainer.fit(model, data, optimizer, resume=resume)
    return model, history


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu_check.txt", help="Where to write the table.")
    parser.add_argument("--repeats", type=int, default=5, help="Timed rounds per variant.")
    parser.add_argument("--epochs", type=int, default=10, help="Epochs per timed run.")
    parser.add_argument("--dry-run", action="store_true", help="Everything on the CPU, tiny sizes.")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    dry = args.dry_run
    if not dry and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; run it on a GPU machine, or with --dry-run")
        return 2
    device = "cpu" if dry else "cuda"
    repeats, epochs = (1, 1) if dry else (args.repeats, args.epochs)
    began = time.perf_counter()
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    where = (
        "dry run: everything on the CPU with tiny sizes (no GPU figures)"
        if dry
        else f"{gpus} x {torch.cuda.get_device_name(0)}"
    )
    rows, ok = check_zoo(device)
    rows += check_throughput(device, repeats, epochs, dry)
    resume_row, resumed = check_resume_on_cpu(device)
    rows.append(resume_row)
    ok &= resumed
    rows.append(["4. DDP 2 GPUs", "2 x 1 vs 1 x 1", "-", "-", ddp_note(gpus)])
    header = ["check", "case", "result", "ratio / gap", "verdict / note"]
    text = "\n".join(
        [
            f"gpu_check: {where}",
            f"torch {torch.__version__}, python {platform.python_version()}, "
            f"{repeats} round(s) of {epochs} epoch(s); ratio: trainer over hand-loop throughput",
            format_table(rows, header),
            f"{'all checks passed' if ok else 'SOME CHECKS FAILED'} "
            f"({time.perf_counter() - began:.0f} s)",
        ]
    )
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
