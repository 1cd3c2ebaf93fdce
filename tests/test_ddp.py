"""The ``ddp`` trainer: batch sharding, single-process equivalence with ``supervised``, and real
2-process gloo runs through ``seqzoo train --nproc 2`` (torchrun) against one process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import seqzoo
from seqzoo.core.data import Split
from seqzoo.core.errors import ConfigError
from seqzoo.plugins.ddp_launch import launch_command, train_arguments
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
