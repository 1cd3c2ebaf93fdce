"""The ``ddp`` trainer: batch sharding, single-process equivalence with ``supervised``, and real
2-process gloo runs through ``seqzoo train --nproc 2`` (torchrun) against one process."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file

import seqzoo
from seqzoo.core.data import Split
from seqzoo.core.errors import ConfigError
from seqzoo.core.workflow import load_run
from seqzoo.plugins.ddp_launch import (
    first_failure,
    interrupted_message,
    launch_command,
    train_arguments,
)
from seqzoo.plugins.ddp_stop import REPEAT_GRACE, VOTE_SECONDS, StopVote
from seqzoo.plugins.trainers_ddp import DDP, ShardedSplit

REPO = Path(__file__).resolve().parents[1]
#: 195 training windows: batches of 97, 97 and 1 (48/49 per rank, then one rank stands in)
OPTIONS = ["--dataset", "sunspots", "--batch-size", "97", "--seed", "3", "--quiet"]


def _no_distributed_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "checkpoints" / "last" / "model.safetensors"))


def _losses(run_dir: Path) -> list[float]:
    rows = json.loads((run_dir / "history.json").read_text())["rows"]
    return [row["train_loss"] for row in rows]


def _seqzoo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    return subprocess.run(
        [sys.executable, "-m", "seqzoo", *args],
        cwd=REPO,
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.parametrize(("n", "batch", "size"), [(7, 3, 2), (10, 4, 3), (5, 5, 1), (9, 9, 4)])
def test_shards_cover_every_global_batch_once_with_weights_summing_to_world(
    n: int, batch: int, size: int
) -> None:
    split = Split(torch.arange(n, dtype=torch.float32).unsqueeze(1), torch.arange(n), None)
    whole = [t.tolist() for t, _, _ in split.batches(batch, shuffle=True, generator=_gen())]
    parts, weights = [[] for _ in whole], [0.0 for _ in whole]
    for rank in range(size):
        shard = ShardedSplit(split, rank, size)
        for i, (inputs, targets, _) in enumerate(
            shard.batches(batch, shuffle=True, generator=_gen())
        ):
            assert len(inputs) >= 1  # every rank steps every batch (DDP needs its backward)
            if shard.weight:
                parts[i] += inputs.tolist()
                assert torch.equal(inputs[:, 0].long(), targets)
            weights[i] += shard.weight
    assert parts == whole  # contiguous, in rank order, nothing twice, nothing left out
    assert weights == pytest.approx([float(size)] * len(whole))


def test_a_batch_smaller_than_the_world_leaves_a_rank_a_zero_weight_stand_in() -> None:
    split = Split(torch.ones(3, 2), torch.zeros(3), torch.tensor([2, 2, 1]))
    shard = ShardedSplit(split, 0, 2)
    inputs, _, lengths = next(shard.batches(1))
    assert len(inputs) == 1 and shard.weight == 0.0 and lengths is not None and len(lengths) == 1


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(5)


def test_without_a_distributed_environment_ddp_trains_exactly_as_supervised(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_distributed_env(monkeypatch)
    histories = {}
    for name in ("supervised", "ddp"):
        run = seqzoo.train(
            dataset="sunspots", trainer=name, epochs=2, batch_size=64, seed=1, quiet=True,
            plot=False, run_dir=tmp_path / name,
        )  # fmt: skip
        histories[name] = [row.train_loss for row in run.history.rows]
    assert histories["ddp"] == histories["supervised"]
    a, b = _weights(tmp_path / "supervised"), _weights(tmp_path / "ddp")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    state = json.loads((tmp_path / "ddp" / "checkpoints" / "last" / "state.json").read_text())
    trainer = state["trainer"]
    assert trainer["trainer"] == "ddp" and trainer["options"]["timeout"] == 300.0


def test_bad_timeout_and_a_non_ddp_trainer_for_nproc_are_refused() -> None:
    with pytest.raises(ConfigError, match="timeout"):
        DDP(timeout=0)
    with pytest.raises(ConfigError, match="ddp trainer"):
        launch_command(2, [], "supervised")
    command = launch_command(2, ["--epochs", "1"], None)
    assert command[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    assert command[-4:] == ["--epochs", "1", "--trainer", "ddp"]
    argv = ["seqzoo", "train", "--nproc", "2", "--epochs", "1", "--nproc=3", "--quiet"]
    assert train_arguments(argv) == ["--epochs", "1", "--quiet"]


def test_two_gloo_processes_reach_the_weights_of_one_and_resume_anywhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The same global batch and seed: 2 ranks (via --nproc 2) end where 1 process ends; a
    2-rank run resumed on 2 ranks, and the same run resumed in one process, both too."""
    _no_distributed_env(monkeypatch)
    one, two = tmp_path / "one", tmp_path / "two"
    seqzoo.train(
        dataset="sunspots", trainer="ddp", epochs=2, batch_size=97, seed=3, quiet=True,
        plot=False, run_dir=one,
    )  # fmt: skip
    done = _seqzoo("train", "--nproc", "2", *OPTIONS, "--epochs", "1", "--run-dir", str(two))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in two.iterdir() if not p.name.startswith(".")) == [
        "checkpoints", "history.json", "last_window.json", "metrics.csv", "run.json",
    ]  # fmt: skip
    assert json.loads((two / "run.json").read_text())["trainer"]["name"] == "ddp"
    single = tmp_path / "single"
    shutil.copytree(two, single)
    # on 2 ranks again: each loads rank 0's checkpoint
    done = _seqzoo("train", "--nproc", "2", "--resume", str(two), "--epochs", "2", "--quiet")
    assert done.returncode == 0, done.stderr
    seqzoo.train(resume=single, epochs=2, quiet=True, plot=False)  # in one process
    reference = _weights(one)
    for run_dir in (two, single):
        weights = _weights(run_dir)
        assert weights.keys() == reference.keys()
        for key, value in reference.items():
            torch.testing.assert_close(weights[key], value, atol=1e-5, rtol=0, msg=key)
        assert _losses(run_dir) == pytest.approx(_losses(one), abs=1e-6)


def _on_rank_1(tmp_path: Path, patch: str) -> dict[str, str]:
    """An environment whose rank 1 runs ``patch`` at interpreter start (a sitecustomize)."""
    hook = tmp_path / "hook"
    hook.mkdir()
    body = "".join(f"    {line}\n" for line in patch.strip().splitlines())
    (hook / "sitecustomize.py").write_text(f"import os\nif os.environ.get('RANK') == '1':\n{body}")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))}


def test_a_failing_rank_ends_the_whole_run_naming_it(tmp_path: Path) -> None:
    # rank 1 fails in its first epoch; rank 0, waiting in a collective, must not hang
    env = _on_rank_1(
        tmp_path,
        """
from seqzoo.core.errors import ConfigError
from seqzoo.plugins import trainers_ddp
def fail(*args, **kwargs):
    raise ConfigError('injected failure on this rank')
trainers_ddp.DDP._train_epoch = fail
""",
    )
    began = time.monotonic()
    done = _seqzoo(
        "train", "--nproc", "2", *OPTIONS, "--epochs", "50", "-T", "timeout=30",
        "--run-dir", str(tmp_path / "run"), env=env,
    )  # fmt: skip
    assert time.monotonic() - began < 120
    assert done.returncode != 0
    assert "injected failure on this rank" in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        "error: distributed training failed (exit status 1): rank 1 failed: injected failure "
        "on this rank"
    ), done.stderr
    # rank 0 lost its peer: a plain error saying so, not an internal error
    assert "error: rank 0 stopped: another rank of the distributed run failed" in done.stderr
    assert "internal error" not in done.stderr


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SEQZOO_SLOW") != "1", reason="slow: set SEQZOO_SLOW=1")
def test_a_non_finite_loss_on_one_rank_stops_every_rank(tmp_path: Path) -> None:
    # rank 1 alone gets NaN targets in batch 2 of epoch 2: both ranks stop with the same error
    env = _on_rank_1(
        tmp_path,
        """
from seqzoo.plugins import trainers_ddp
original, epochs = trainers_ddp.ShardedSplit.batches, []
def batches(self, *args, **kwargs):
    epochs.append(1)
    for i, (x, y, n) in enumerate(original(self, *args, **kwargs)):
        yield x, (y * float('nan') if len(epochs) == 2 and i == 1 else y), n
trainers_ddp.ShardedSplit.batches = batches
""",
    )
    run_dir = tmp_path / "run"
    done = _seqzoo(
        "train", "--nproc", "2", *OPTIONS, "--epochs", "5", "-T", "timeout=30",
        "--run-dir", str(run_dir), env=env,
    )  # fmt: skip
    assert done.returncode != 0
    assert done.stderr.count("error: the loss became nan at epoch 2, batch 2") == 2, done.stderr
    weights = _weights(run_dir)  # rank 0 kept the finite weights of epoch 1
    assert all(bool(torch.isfinite(v).all()) for v in weights.values())


def _processes_naming(text: str) -> list[int]:
    """The live processes whose command line holds ``text`` (Linux ``/proc``)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().decode(errors="replace"):
                stat = (cmdline.parent / "stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] != "Z":  # a zombie has ended already
                    found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def _wait_for(path: Path, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, f"the run ended before {path} appeared"
        assert time.monotonic() < deadline, f"no {path} after {seconds} s"
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_ctrl_c_stops_every_rank_after_the_same_batch_and_the_resume_ends_as_one_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A Ctrl-C at the terminal (SIGINT to the launcher's process group) during a 2-rank run:
    every process exits within a bounded time, the launcher with 130 and one line saying where
    the state is; ``last`` loads into a fresh model; resuming it ends where one process that
    never stopped ends."""
    _no_distributed_env(monkeypatch)
    run_dir = tmp_path / "run"
    environment = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    options = ["--dataset", "sunspots", "--batch-size", "32", "--seed", "3", "--quiet"]
    command = [sys.executable, "-m", "seqzoo", "train", "--nproc", "2", *options, "--epochs",
               "100000", "--save-every", "epoch", "--no-plot", "--run-dir", str(run_dir)]  # fmt: skip
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as sink:
        # a session of its own, as a shell gives a foreground job: killpg is the terminal's Ctrl-C
        process = subprocess.Popen(
            command, cwd=REPO, env=environment, stderr=sink, start_new_session=True
        )
    try:
        _wait_for(run_dir / "checkpoints" / "last", process, 120)  # training for real
        time.sleep(0.1)  # into an epoch
        os.killpg(process.pid, signal.SIGINT)
        began = time.monotonic()
        code = process.wait(timeout=60)
        stopped = time.monotonic() - began
        left = _processes_naming(str(run_dir))
    finally:
        for pid in _processes_naming(str(run_dir)):  # only what this test started
            os.kill(pid, signal.SIGKILL)
        process.kill()
        process.wait()
    text = errors.read_text()
    assert code == 130, text
    assert stopped < 60 and not left, (stopped, left)
    assert "Traceback" not in text and "internal error" not in text, text
    last = text.strip().splitlines()[-1]
    found = re.fullmatch(
        r"interrupted: training interrupted on 2 processes in epoch (\d+) after (\d+) batch\(es\);"
        r" that exact state is saved in (\S+)\. Continue it with: seqzoo train --nproc 2 "
        r"--resume (\S+)",
        last,
    )
    assert found is not None, text
    epoch = int(found.group(1))
    assert Path(found.group(3)) == run_dir / "checkpoints" / "last"
    assert Path(found.group(4)) == run_dir
    assert "rank 1 stopped with every rank (Ctrl-C)" in text
    state = json.loads((run_dir / "checkpoints" / "last" / "state.json").read_text())
    assert json.dumps(state).count('"interrupted": true') == 1, state.keys()
    fresh = load_run(run_dir, "last").model  # what seqzoo predict loads
    saved = _weights(run_dir)
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in saved.items())

    # resumed in this process (on 2 ranks: the test above): to the end of the interrupted epoch
    seqzoo.train(resume=run_dir, epochs=epoch, quiet=True, plot=False)
    one = tmp_path / "one"
    seqzoo.train(
        dataset="sunspots", trainer="ddp", epochs=epoch, batch_size=32, seed=3, quiet=True,
        plot=False, run_dir=one,
    )  # fmt: skip
    reference, weights = _weights(one), _weights(run_dir)
    for key, value in reference.items():
        torch.testing.assert_close(weights[key], value, atol=1e-5, rtol=0, msg=key)
    assert _losses(run_dir) == pytest.approx(_losses(one), abs=1e-6)


def test_a_rank_killed_outright_ends_the_run_naming_it(tmp_path: Path) -> None:
    # rank 1 dies by SIGKILL in its first epoch (no error, no report of its own); rank 0
    # loses its peer: the launcher names rank 1, not rank 0, and nothing is left running
    env = _on_rank_1(
        tmp_path,
        """
import signal
from seqzoo.plugins import trainers_ddp
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
trainers_ddp.DDP._train_epoch = die
""",
    )
    run_dir = tmp_path / "run"
    began = time.monotonic()
    done = _seqzoo(
        "train", "--nproc", "2", *OPTIONS, "--epochs", "50", "--run-dir", str(run_dir), env=env
    )  # fmt: skip
    assert time.monotonic() - began < 60
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        "error: distributed training failed (exit status 1): rank 1 failed: killed by SIGKILL, "
        "without an error of its own"
    ), done.stderr
    assert not _processes_naming(str(run_dir))


#: torchrun's summary after rank 0 was killed and torchrun stopped rank 1 (abridged)
SUMMARY = """torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
seqzoo FAILED
Failures:
[1]:
  time      : 2026-12-01_18:28:07
  rank      : 1 (local_rank: 1)
  exitcode  : -15 (pid: 22392)  (SIGTERM)
Root Cause (first observed failure):
[0]:
  time      : 2026-12-01_18:28:07
  rank      : 0 (local_rank: 0)
  exitcode  : -9 (pid: 22391)  (SIGKILL)
"""


def test_the_failure_named_is_a_rank_that_failed_on_its_own(tmp_path: Path) -> None:
    def report(rank: int, **record: object) -> None:
        record = {"rank": rank, "time": 1.0, "peer": False, "error": "x", **record}
        (tmp_path / f"rank-{rank}.json").write_text(json.dumps(record))

    assert first_failure(tmp_path, "") == "a rank failed"
    assert first_failure(tmp_path, SUMMARY) == (
        "rank 0 failed: killed by SIGKILL, without an error of its own"
    )
    report(1, peer=True, error="lost its peer")  # rank 1 saw rank 0 go: rank 0 is still named
    assert first_failure(tmp_path, SUMMARY).startswith("rank 0 failed: killed by SIGKILL")
    report(0, time=2.0, error="bad input")  # a rank's own error beats everything else
    assert first_failure(tmp_path, SUMMARY) == "rank 0 failed: bad input"


def test_the_launcher_says_where_an_interrupted_run_stands(tmp_path: Path) -> None:
    assert "before rank 0 reached a batch boundary" in interrupted_message(tmp_path, 2)
    assert "at once (a second Ctrl-C), so it saved nothing new" in interrupted_message(
        tmp_path, 2, at_once=True
    )
    record = {"rank": 0, "interrupted": True, "epoch": 3, "batch": 2, "exact": True,
              "checkpoint": "/r/checkpoints/last", "run_dir": "/r"}  # fmt: skip
    (tmp_path / "rank-0.json").write_text(json.dumps(record))
    assert interrupted_message(tmp_path, 2) == (
        "interrupted: training interrupted on 2 processes in epoch 3 after 2 batch(es); that "
        "exact state is saved in /r/checkpoints/last. Continue it with: seqzoo train --nproc 2 "
        "--resume /r"
    )
    assert first_failure(tmp_path, "") == "a rank failed"  # an interrupt is no failure


def test_a_sigint_delivered_twice_counts_once_and_a_later_one_stops_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    # Python's own handler, which the votes replace (a background job may have SIGINT ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with StopVote(group=None) as votes:
            assert signal.getsignal(signal.SIGINT) == votes._handle
            votes._handle(signal.SIGINT, None)  # the terminal's
            clock[0] += REPEAT_GRACE / 2
            votes._handle(signal.SIGINT, None)  # torchrun's, passed on: the same Ctrl-C
            assert votes.requested == 100.0 and not votes.agreed
            clock[0] += REPEAT_GRACE
            with pytest.raises(KeyboardInterrupt):
                votes._handle(signal.SIGINT, None)  # a second Ctrl-C: at once
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("batch_seconds", [1.0, 0.02])
def test_the_ranks_vote_a_stop_at_the_same_batch_one_vote_after_the_sigint(
    tmp_path: Path, batch_seconds: float
) -> None:
    # a process group of one rank: the votes' schedule and outcome without a second process
    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        votes = StopVote(dist.new_group(backend="gloo"))
        assert list(votes.between(iter(range(5)))) == [0, 1, 2, 3, 4] and not votes.agreed
        assert votes.batch_seconds > 0  # measured: the next epoch's vote spacing
        votes.batch_seconds = batch_seconds  # as if the last epoch's batches took this long
        every = max(1, int(VOTE_SECONDS / batch_seconds))  # 1 or 5 batches between votes
        seen = []
        with pytest.raises(KeyboardInterrupt):
            for batch in votes.between(iter(range(100))):
                seen.append(batch)
                if batch == 2:
                    votes._handle(signal.SIGINT, None)  # a Ctrl-C during batch 2
        # the first vote started after it (before the next batch whose index is a multiple of
        # ``every``) stops the ranks when it is read, ``every`` batches later
        voted = (2 // every + 1) * every
        assert votes.agreed and seen == list(range(voted + every))
    finally:
        dist.destroy_process_group()
