"""``seqzoo train --nproc N``: the same command on N processes of this machine under
``python -m torch.distributed.run --standalone`` (torchrun, a free rendezvous port), with the
``ddp`` trainer; and what ``seqzoo train`` does differently on the ranks other than 0 (no run
directory of their own: only rank 0 writes). No torch import here: the launcher stays light.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from seqzoo.core.errors import ConfigError

__all__ = ["follower", "follower_resume", "launch", "launch_command"]

_ROOT_RANK = re.compile(r"rank\s*:\s*(\d+)")


def follower() -> bool:
    """True in a rank other than 0 of a distributed run (torchrun's ``RANK`` / ``WORLD_SIZE``)."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1") or 1)
        return size > 1 and int(os.environ.get("RANK", "0") or 0) != 0
    except ValueError:
        return False


@contextlib.contextmanager
def follower_resume(run_dir: str) -> Iterator[str]:
    """A private copy of ``run_dir`` for a rank other than 0 to resume from: rank 0 holds the
    run's lock and alone writes to it; the copy is taken before any rank can train (they
    meet when the process group forms) and removed at the end."""
    from seqzoo.core.rundir import LOCK_NAME

    with tempfile.TemporaryDirectory(prefix="seqzoo-rank-") as scratch:
        copy = Path(scratch) / Path(run_dir).name
        shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns(LOCK_NAME, "*.tmp*"))
        yield str(copy)


def launch_command(nproc: int, argv: list[str], trainer: str | None) -> list[str]:
    """The torchrun command line for ``seqzoo train`` ``argv`` (what follows ``train``, with
    ``--nproc`` removed) on ``nproc`` processes; ``trainer``: the run's trainer, if named."""
    if trainer not in (None, "ddp"):
        raise ConfigError(
            f"trains with the ddp trainer, not {trainer!r}; drop --trainer or give --trainer ddp",
            field="--nproc",
        )
    args = list(argv)
    if trainer is None:
        args += ["--trainer", "ddp"]
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc-per-node", str(nproc), "-m", "seqzoo", "train", *args,
    ]  # fmt: skip


def train_arguments(argv: list[str]) -> list[str]:
    """The arguments after ``train`` in ``argv`` (``sys.argv``), without ``--nproc N``."""
    if "train" not in argv:
        raise ConfigError("--nproc works from the command line: seqzoo train --nproc N ...")
    rest = argv[argv.index("train") + 1 :]
    kept: list[str] = []
    skip = False
    for arg in rest:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return kept


def _relay(stream: IO[str], seen: list[str]) -> None:
    for line in stream:
        seen.append(line)
        sys.stderr.write(line)
        sys.stderr.flush()


def first_failure(folder: str | Path, torchrun_output: str) -> str:
    """Which rank failed first, and how: the earliest rank that failed on its own (the ranks'
    reports in ``folder``; a rank that only lost its peer comes last), else the root cause
    torchrun names in its summary."""
    records = []
    for path in sorted(Path(folder).glob("rank-*.json")):
        with contextlib.suppress(OSError, ValueError):
            records.append(json.loads(path.read_text(encoding="utf-8")))
    if records:
        first = min(records, key=lambda r: (bool(r.get("peer")), float(r.get("time", 0))))
        return f"rank {first.get('rank')} failed: {first.get('error', '')}".rstrip(": ")
    text = torchrun_output
    found = _ROOT_RANK.search(text[text.rfind("Root Cause") :]) if "Root Cause" in text else None
    return f"rank {found.group(1)} failed" if found else "a rank failed"


def launch(nproc: int, trainer: str | None, extra: list[str] | None = None) -> int:
    """Run this ``seqzoo train`` command on ``nproc`` local processes; its exit status (0, or
    torchrun's when a rank failed). A failure names the rank that failed first."""
    command = launch_command(nproc, train_arguments(sys.argv) + (extra or []), trainer)
    with tempfile.TemporaryDirectory(prefix="seqzoo-ddp-") as reports:
        env = {**os.environ, "SEQZOO_DDP_REPORT": reports}
        env.setdefault("OMP_NUM_THREADS", "1")  # torchrun's own default, without its warning
        return _run(command, env, reports)


def _run(command: list[str], env: dict[str, str], reports: str) -> int:
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    relay = threading.Thread(target=_relay, args=(process.stderr, seen), daemon=True)
    relay.start()
    try:
        code = process.wait()
    except KeyboardInterrupt:  # torchrun passes it on to the ranks; wait for them to stop
        code = process.wait()
    relay.join(timeout=5)
    if code:
        print(
            f"error: distributed training failed (exit status {code}): "
            + first_failure(reports, "".join(seen)),
            file=sys.stderr,
            flush=True,
        )
    return code


def trainer_of(part: Any) -> str | None:
    """The trainer name of a ``trainer`` part (a name or ``{"name": ...}``), None if unset."""
    if isinstance(part, str):
        return part
    if isinstance(part, dict) and isinstance(part.get("name"), str):
        return part["name"]
    return None
