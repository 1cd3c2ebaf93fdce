"""``seqzoo train --nproc N``: the same command on N processes of this machine under
``python -m torch.distributed.run --standalone`` (torchrun, a free rendezvous port), with the
``ddp`` trainer; and what ``seqzoo train`` does differently on the ranks other than 0 (no run
directory of their own: only rank 0 writes). No torch import here: the launcher stays light.

Signals: torchrun runs in a session of its own, so a Ctrl-C at the terminal reaches this
launcher alone, which passes one SIGINT on (torchrun passes it to every rank: they stop after
the same batch and rank 0 saves ``last``, see :mod:`seqzoo.plugins.trainers.ddp`), waits for
every process and exits 130 with one line saying where the state is and how to resume. A
second Ctrl-C kills torchrun and the ranks at once (``last`` then keeps its previous save).
SIGTERM and SIGHUP are passed on as they are.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from seqzoo.core.errors import ConfigError

__all__ = [
    "first_failure",
    "follower",
    "follower_resume",
    "interrupted_message",
    "launch",
    "launch_command",
]

#: a failure in torchrun's summary: "rank : 1 (local_rank: 1)" then "exitcode : -9 (pid: ...)"
_FAILED_RANK = re.compile(r"rank\s*:\s*(\d+)[^\n]*\n\s*exitcode\s*:\s*(-?\d+)")


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


#: torchrun's own log lines (``W1201 18:16:48.728000 PID .../torch/distributed/...``)
_TORCHRUN_LOG = re.compile(r"^[DIWEF]\d{4} [\d:.]+ \d+ \S*torch[/\\]distributed[/\\]")


def _relay(stream: IO[str], seen: list[str], quiet: Callable[[], bool]) -> None:
    """Pass torchrun's stderr (its ranks' too) on; once ``quiet()`` (a Ctrl-C was passed on),
    leave out torchrun's log lines and the traceback of its ``SignalException``: the ranks'
    lines and the launcher's own say what happened."""
    held: list[str] = []  # a traceback in progress, until its last line says whose it is
    for line in stream:
        seen.append(line)
        if quiet():
            if held or line.startswith("Traceback (most recent call last)"):
                held.append(line)
                if line[:1].isspace() or line.startswith("Traceback"):
                    continue
                lines, held = held, []
                if "SignalException" in line:
                    continue
                line = "".join(lines)
            elif _TORCHRUN_LOG.match(line):
                continue
        sys.stderr.write(line)
        sys.stderr.flush()
    if held:
        sys.stderr.write("".join(held))
        sys.stderr.flush()


def _records(folder: str | Path) -> list[dict[str, Any]]:
    """The ranks' reports (``rank-R.json``, written by the ``ddp`` trainer) in ``folder``."""
    records = []
    for path in sorted(Path(folder).glob("rank-*.json")):
        with contextlib.suppress(OSError, ValueError):
            records.append(json.loads(path.read_text(encoding="utf-8")))
    return records


def _completed(folder: str | Path) -> bool:
    """Whether rank 0 reported its training completed (a Ctrl-C came too late to stop it)."""
    return any(r.get("rank") == 0 and r.get("completed") for r in _records(folder))


def _only_interrupted(folder: str | Path) -> bool:
    """Whether the ranks that reported all stopped on a Ctrl-C, rank 0 among them."""
    records = _records(folder)
    zero = any(r.get("rank") == 0 for r in records)
    return zero and all(r.get("interrupted") for r in records)


def interrupted_message(folder: str | Path, nproc: int, at_once: bool = False) -> str:
    """The launcher's one line after a Ctrl-C (``at_once``: a second one, which killed the
    ranks): where rank 0 stopped, what it saved, and the command that continues the run."""
    root = next((r for r in _records(folder) if r.get("rank") == 0 and r.get("interrupted")), {})
    if not root:
        when = "at once (a second Ctrl-C)" if at_once else "before rank 0 reached a batch boundary"
        return (
            f"interrupted: the distributed training stopped {when}, so it saved nothing new "
            "(an earlier last checkpoint, if any, stands)"
        )
    where = (
        f"training interrupted on {nproc} processes in epoch {root.get('epoch')} after "
        f"{root.get('batch')} batch(es)"
    )
    if not root.get("checkpoint"):
        return f"interrupted: {where}; rank 0 had no run directory: nothing was saved"
    state = "that exact state is" if root.get("exact", True) else "the last save before it is"
    resume = f"seqzoo train --nproc {nproc} --resume {root.get('run_dir')}"
    return (
        f"interrupted: {where}; {state} saved in {root['checkpoint']}. Continue it with: {resume}"
    )


def _torchrun_failures(text: str) -> list[tuple[int, int]]:
    """``(rank, exit code)`` of each failure torchrun's summary lists, its root cause first."""
    start = text.rfind("Failures:")
    found = [(int(r), int(c)) for r, c in _FAILED_RANK.findall(text[max(start, 0) :])]
    root = text.rfind("Root Cause")
    cause = _FAILED_RANK.search(text[root:]) if root >= 0 else None
    if cause is not None:  # it comes last in the summary; first in this list
        first = (int(cause.group(1)), int(cause.group(2)))
        found = [first, *(f for f in found if f != first)]
    return found


def _status(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


def first_failure(folder: str | Path, torchrun_output: str) -> str:
    """Which rank failed first, and how: the earliest rank that failed on its own (the ranks'
    reports in ``folder``), else a rank torchrun saw end that left no report (killed: a rank
    that only lost its peer comes after it, and so does one torchrun stopped itself with
    SIGTERM), else the root cause torchrun names in its summary."""
    records = [r for r in _records(folder) if not (r.get("interrupted") or r.get("completed"))]
    own = [r for r in records if not r.get("peer")]
    if own:
        first = min(own, key=lambda r: float(r.get("time", 0)))
        return f"rank {first.get('rank')} failed: {first.get('error', '')}".rstrip(": ")
    reported = {r.get("rank") for r in _records(folder)}
    failures = _torchrun_failures(torchrun_output)
    silent = [(rank, code) for rank, code in failures if rank not in reported]
    if silent:  # the root cause first; a SIGTERM is likely torchrun's own, stopping the rest
        rank, code = min(silent, key=lambda f: f[1] == -signal.SIGTERM)
        return f"rank {rank} failed: {_status(code)}, without an error of its own"
    if records:
        first = min(records, key=lambda r: float(r.get("time", 0)))
        return f"rank {first.get('rank')} failed: {first.get('error', '')}".rstrip(": ")
    if failures:
        return f"rank {failures[0][0]} failed: {_status(failures[0][1])}"
    return "a rank failed"


def launch(nproc: int, trainer: str | None, extra: list[str] | None = None) -> int:
    """Run this ``seqzoo train`` command on ``nproc`` local processes; its exit status (0;
    torchrun's when a rank failed; 130 after a Ctrl-C, 128 + N after signal N). A failure
    names the rank that failed first; an interrupt, where rank 0 saved and how to resume."""
    command = launch_command(nproc, train_arguments(sys.argv) + (extra or []), trainer)
    with tempfile.TemporaryDirectory(prefix="seqzoo-ddp-") as reports:
        env = {**os.environ, "SEQZOO_DDP_REPORT": reports}
        env.setdefault("OMP_NUM_THREADS", "1")  # torchrun's own default, without its warning
        return _run(command, env, reports, nproc)


def _children(pid: int) -> list[int]:
    """The process ids whose parent is ``pid`` (Linux ``/proc``; none found elsewhere)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # "pid (name) state ppid ...": the name may hold spaces and parentheses
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


class _Forward:
    """While torchrun runs: pass SIGINT (once; a second one kills torchrun and its ranks),
    SIGTERM and SIGHUP on to it. ``got``: the signals received, in order."""

    SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.got: list[int] = []
        self.previous: dict[int, Any] = {}

    def attach(self, process: subprocess.Popen[str]) -> None:
        """Forward to ``process`` from now on (and what came while it started)."""
        self.process = process
        for signum in dict.fromkeys(self.got):  # each once
            self._pass_on(signum, first=True)

    def interrupted(self) -> bool:
        """Whether a Ctrl-C came."""
        return signal.SIGINT in self.got

    def _handle(self, signum: int, frame: Any) -> None:
        self.got.append(signum)
        if self.process is not None:
            self._pass_on(signum, first=self.got.count(signum) == 1)

    def _pass_on(self, signum: int, first: bool) -> None:
        assert self.process is not None
        if signum != signal.SIGINT:
            self._send(self.process.pid, signum)
        elif first:
            print(
                "stopping: every rank stops after the batch in progress and rank 0 saves last "
                "(Ctrl-C again to stop at once)",
                file=sys.stderr,
                flush=True,
            )
            self._send(self.process.pid, signum)
        else:  # a second Ctrl-C: now (the ranks run in sessions of their own)
            for pid in [*_children(self.process.pid), self.process.pid]:
                self._send(pid, signal.SIGKILL)

    @staticmethod
    def _send(pid: int, signum: int) -> None:
        with contextlib.suppress(OSError):
            os.kill(pid, signum)

    def __enter__(self) -> _Forward:
        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                number = getattr(signal, name, None)
                if number is not None:
                    self.previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)
        self.previous.clear()


def _run(command: list[str], env: dict[str, str], reports: str, nproc: int) -> int:
    # a session of its own: the terminal's Ctrl-C comes to this launcher alone, which passes
    # exactly one on (two close together would each stop torchrun's shutdown of its ranks)
    with _Forward() as forward:  # before the start: no signal falls between the two
        process = subprocess.Popen(
            command, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        seen: list[str] = []
        quiet = forward.interrupted  # read by the relay thread
        relay = threading.Thread(target=_relay, args=(process.stderr, seen, quiet), daemon=True)
        relay.start()
        forward.attach(process)
        code = process.wait()
        relay.join(timeout=5)
    if code and forward.interrupted() and _completed(reports):
        print("interrupted: the Ctrl-C came after the last batch: the training completed",
              file=sys.stderr, flush=True)  # fmt: skip
        return 0
    # a SIGINT here, or one a rank alone got (all the ranks stopped together, none failed)
    if code and (forward.interrupted() or _only_interrupted(reports)):
        at_once = forward.got.count(signal.SIGINT) > 1
        print(interrupted_message(reports, nproc, at_once), file=sys.stderr, flush=True)
        return 130  # the CLI's status for Ctrl-C
    if forward.got and code:  # SIGTERM / SIGHUP: stopped from outside, as asked
        return 128 + forward.got[0]
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
