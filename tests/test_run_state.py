"""Run directories hold one run's state, whole and pickle-free: a new run never lands beside an
old one (refused, or ``overwrite`` clears it), two trainings never share one (an OS lock), a
failed start or resume writes nothing, readers find what a crash set aside, and no checkpoint
file is a pickle (an older one is read only on request)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO
from safetensors.torch import load_file

import seqzoo
from seqzoo.core import training
from seqzoo.core.errors import ConfigError, WeightsError
from seqzoo.core.state import decode, encode
from seqzoo.core.training import load_checkpoint, save_checkpoint
from seqzoo.core.workflow import load_run

SMALL = {"model": {"name": "lstm", "hidden_size": 4},
         "dataset": {"name": "sine", "length": 200, "window": 8}, "quiet": True}  # fmt: skip


def train(run_dir: Path | None = None, **options: object) -> seqzoo.core.workflow.Run:
    return seqzoo.train(**{**SMALL, "epochs": 1, "run_dir": run_dir, **options})  # type: ignore[arg-type]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(path / "model.safetensors")


def test_a_run_dir_holding_a_run_is_refused_unless_resume_or_overwrite(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    train(run_dir, checkpoint_every=1)
    (run_dir / "notes.txt").write_text("mine")
    before = (run_dir / "run.json").read_bytes()
    with pytest.raises(ConfigError) as info:
        train(run_dir, epochs=2)
    message = str(info.value)
    assert str(run_dir) in message and "--resume" in message and "--overwrite" in message
    assert (run_dir / "run.json").read_bytes() == before  # nothing was touched
    with pytest.raises(ConfigError, match="one of them"):
        seqzoo.train(resume=run_dir, overwrite=True)
    run = train(run_dir, epochs=2, overwrite=True)  # the old run's files go first
    assert len(run.history) == 2
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best", "last"]
    assert (run_dir / "notes.txt").read_text() == "mine"  # not a run file: kept
    assert json.loads((run_dir / "run.json").read_text())["trainer"]["epochs"] == 2


def test_the_cli_refuses_then_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from seqzoo.cli import main

    run_dir = tmp_path / "run"
    train(run_dir)
    args = ["train", "--model", "lstm", "-M", "hidden_size=4", "--dataset", "sine",
            "-D", "length=200", "-D", "window=8", "--epochs", "1", "--quiet", "--run-dir", str(run_dir)]  # fmt: skip
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert "already holds a run" in capsys.readouterr().err
    main([*args, "--overwrite"])
    assert "run: " in capsys.readouterr().out


LOCKER = """
import sys
from seqzoo.core.rundir import lock_run
with lock_run(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_second_training_into_a_locked_run_dir_names_the_holder(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(run_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(ConfigError, match=f"in use by another training \\(pid {holder.pid}\\)"):
            train(run_dir)
        assert not (run_dir / "run.json").exists()
        from test_training import lstm, sine_data

        from seqzoo.plugins.training_loops import Supervised

        model = lstm()  # the trainer takes the lock too
        with pytest.raises(ConfigError, match=f"pid {holder.pid}"):
            Supervised(epochs=1, quiet=True, run_dir=run_dir).fit(
                model, sine_data(), torch.optim.Adam(model.parameters())
            )
    finally:
        holder.kill()  # a hard kill: the OS drops the lock with the process
        holder.wait()
    assert len(train(run_dir).history) == 1


def test_a_failed_resume_leaves_the_run_untouched(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    train(run_dir)
    before = (run_dir / "run.json").read_bytes()
    last = weights(run_dir / "checkpoints" / "last")
    with pytest.raises(ConfigError, match="monitor"):
        seqzoo.train(resume=run_dir, epochs=2, monitor="val_accuracy")  # a forecast's?
    with pytest.raises(ConfigError, match="save_every"):
        seqzoo.train(resume=run_dir, epochs=2, save_every="soon")
    assert (run_dir / "run.json").read_bytes() == before
    assert all(map(torch.equal, last.values(), weights(run_dir / "checkpoints" / "last").values()))
    os.replace(run_dir / "checkpoints", tmp_path / "aside")  # as if it failed before a save
    with pytest.raises(ConfigError, match="no checkpoint to resume from"):
        seqzoo.train(resume=run_dir, epochs=2)
    assert (run_dir / "run.json").read_bytes() == before


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"monitor": "val_accuracy"}, "monitor"),
        (
            {
                "trainer": "tbptt",
                "dataset": "regression",
                "model": {"name": "lstm", "hidden_size": 4, "output": "sequence"},
            },
            "tbptt trains forecast or language-model data, not 'regression'",
        ),
        ({"optimizer": {"name": "adam", "lr": -1}}, "optimizer"),
    ],
)
def test_config_errors_write_nothing(tmp_path: Path, options: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        train(tmp_path / "run", **options)
    assert not (tmp_path / "run").exists()


def test_readers_find_the_best_a_crash_set_aside(tmp_path: Path) -> None:
    from seqzoo.core.predict import load_run_model

    run_dir = tmp_path / "run"
    run = train(run_dir)
    checkpoints = run_dir / "checkpoints"
    best = weights(checkpoints / "best")
    torch.manual_seed(5)
    save_checkpoint(run_dir, "last", type(run.model)(**run.model.config))  # last != best now
    os.replace(checkpoints / "best", checkpoints / ".best.prev")  # killed mid-replacement
    for model in (load_run(run_dir).model, load_run_model(run_dir)):
        assert all(torch.equal(v, best[k]) for k, v in model.state_dict().items())
    for name in ("last", ".best.prev"):
        os.replace(checkpoints / name, tmp_path / name)  # a run that never saved
    with pytest.raises(WeightsError, match=f"{run_dir}.*no best or last checkpoint"):
        load_run(run_dir)


def test_checkpoints_hold_no_pickle_and_seqzoo_reads_none(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    train(run_dir, epochs=2, checkpoint_every=1, schedule={"name": "step", "step_size": 1})
    assert {p.name for p in (run_dir / "checkpoints" / "last").iterdir()} == {
        "model.safetensors", "state.json", "state.safetensors"}  # fmt: skip
    assert not list(run_dir.rglob("*.pt"))
    state = json.loads((run_dir / "checkpoints" / "last" / "state.json").read_text())
    assert set(state) == {"format", "trainer", "optimizer", "schedule"}
    assert len(seqzoo.train(resume=run_dir, epochs=3).history) == 3
    # the one torch.load in the package reads an older checkpoint, and only on request
    sources = {p: p.read_text() for p in (REPO / "seqzoo").rglob("*.py")}
    hits = {p.relative_to(REPO).as_posix() for p, t in sources.items() if "torch.load(" in t}
    assert hits == {"seqzoo/core/training.py"}
    text = sources[REPO / "seqzoo" / "core" / "training.py"]
    assert text.count("torch.load(") == 1 and "import pickle" not in text
    legacy = text[text.index("def _load_legacy") :]
    legacy = legacy[: legacy.index("\ndef ")]
    assert "torch.load(" in legacy and "if not pickle_allowed():" in legacy


def as_old_checkpoint(directory: Path) -> None:
    """Rewrite a checkpoint as older seqzoo versions saved it: its state in torch pickles."""
    state = training._read_state(directory)
    for name in ("optimizer", "schedule", "trainer"):
        if name in state:
            torch.save(state[name], directory / f"{name}.pt")
    for name in ("state.json", "state.safetensors"):
        (directory / name).unlink(missing_ok=True)


def test_an_old_pickle_checkpoint_needs_the_opt_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEQZOO_ALLOW_PICKLE", raising=False)
    run_dir = tmp_path / "run"
    train(run_dir)
    for name in ("last", "best"):
        as_old_checkpoint(run_dir / "checkpoints" / name)
    before = (run_dir / "run.json").read_bytes()
    load_run(run_dir)  # the weights alone: no pickle is read, none is needed
    with pytest.raises(WeightsError) as info:
        seqzoo.train(resume=run_dir, epochs=2)
    message = str(info.value)
    assert "trainer.pt" in message and "arbitrary code" in message
    assert "SEQZOO_ALLOW_PICKLE=1" in message
    assert (run_dir / "run.json").read_bytes() == before
    monkeypatch.setenv("SEQZOO_ALLOW_PICKLE", "1")
    assert len(seqzoo.train(resume=run_dir, epochs=2).history) == 2
    assert not list((run_dir / "checkpoints" / "last").glob("*.pt"))  # saved pickle-free
    assert load_checkpoint(run_dir, load_run(run_dir).model)["epoch"] == 2


def test_state_round_trips_through_json_and_safetensors() -> None:
    shared = torch.arange(6.0)
    state = {
        "groups": [{"betas": (0.9, 0.999), "params": [0, 1], "lr": 1e-3, "foreach": None}],
        "state": {0: {"step": torch.tensor(3.0), "exp_avg": shared, "view": shared[2:4]}},
        "values": [math.inf, -math.inf, math.nan, np.float64(0.5), np.int64(7), True],
        "numpy": np.arange(4, dtype=np.uint32),
        "bytes": b"\x00\xff",
        "__tensor__": "a key that looks like a tag",
    }
    document, tensors = encode(state)
    text = json.dumps(document, allow_nan=False)  # strict JSON: no NaN literals

    def refuse(constant: str) -> None:
        raise AssertionError(constant)

    again = decode(json.loads(text, parse_constant=refuse), tensors)
    assert again["groups"][0]["betas"] == (0.9, 0.999) and list(again["state"]) == [0]
    assert torch.equal(again["state"][0]["view"], torch.tensor([2.0, 3.0]))
    assert torch.equal(again["state"][0]["exp_avg"], shared)
    values = again["values"]
    assert values[:2] == [math.inf, -math.inf] and math.isnan(values[2])
    assert values[3:] == [0.5, 7, True] and type(values[4]) is int
    assert again["numpy"].dtype == np.uint32 and again["numpy"].tolist() == [0, 1, 2, 3]
    assert again["bytes"] == b"\x00\xff" and again["__tensor__"] == state["__tensor__"]
    with pytest.raises(ConfigError, match="state.odd"):
        encode({"odd": object()})
