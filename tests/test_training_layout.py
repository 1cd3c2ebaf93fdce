"""Where the training stack's parts live: one task table read everywhere, the old import paths
still giving the very same objects, patches of the old place reaching the new home, and every
training-stack module under 400 lines."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch

import seqzoo.core.training as training
from seqzoo.core.errors import ConfigError
from seqzoo.core.tasks import HIGHER_IS_BETTER, TASKS, task_row

REPO = Path(__file__).resolve().parent.parent

#: Every module of the training stack (the ``ddp`` trainer and its launcher are sized apart).
STACK = [
    "seqzoo/core/training.py",
    "seqzoo/core/training_errors.py",
    "seqzoo/core/checkpoints.py",
    "seqzoo/core/rng.py",
    "seqzoo/core/steps.py",
    "seqzoo/core/losses.py",
    "seqzoo/core/tasks.py",
    "seqzoo/core/history.py",
    "seqzoo/plugins/trainers/__init__.py",
    "seqzoo/plugins/trainers/checks.py",
    "seqzoo/plugins/trainers/steps.py",
    "seqzoo/plugins/trainers/run.py",
    "seqzoo/plugins/trainers/supervised.py",
    "seqzoo/plugins/trainers/tbptt.py",
    "seqzoo/plugins/trainers/devices.py",
    "seqzoo/plugins/trainers/ddp.py",
    "seqzoo/plugins/trainers/ddp_stop.py",
    "seqzoo/plugins/trainers/ddp_launch.py",
]
#: the trainers' modules before they moved into seqzoo.plugins.trainers -> their new names
OLD_PATHS = {
    "training_checks": "checks",
    "training_steps": "steps",
    "training_run": "run",
    "training_loops": "supervised",
    "training_tbptt": "tbptt",
    "training_devices": "devices",
    "trainers_ddp": "ddp",
    "ddp_stop": "ddp_stop",
    "ddp_launch": "ddp_launch",
}


def test_the_trainers_live_in_one_package_and_old_paths_are_the_same_modules() -> None:
    package = REPO / "seqzoo" / "plugins" / "trainers"
    assert {p.stem for p in package.glob("*.py")} == {"__init__", *OLD_PATHS.values()}
    for old, new in OLD_PATHS.items():
        moved = importlib.import_module(f"seqzoo.plugins.trainers.{new}")
        assert importlib.import_module(f"seqzoo.plugins.{old}") is moved, old
        assert moved.__file__ is not None and Path(moved.__file__).parent == package


@pytest.mark.parametrize("path", STACK)
def test_each_training_stack_module_stays_under_400_lines(path: str) -> None:
    lines = (REPO / path).read_text(encoding="utf-8").count("\n")
    assert lines <= 400, f"{path} has {lines} lines"


def test_every_name_of_the_training_toolkit_is_its_homes_object() -> None:
    homes = ["checkpoints", "files", "history", "losses", "rng", "steps", "training_errors"]
    found: set[str] = set()
    for home in homes:
        module = importlib.import_module(f"seqzoo.core.{home}")
        for name in set(module.__all__) & set(training.__all__):
            assert getattr(training, name) is getattr(module, name), name
            found.add(name)
    # what is defined in seqzoo.core.training itself
    rest = {"atomic_write", "ALLOW_PICKLE_ENV", "LEGACY_FILES", "pickle_allowed"}
    assert set(training.__all__) - found == rest
    from seqzoo.plugins import training_loops, training_run, training_steps, training_tbptt

    assert training_loops.TBPTT is training_tbptt.TBPTT
    assert training_loops.per_step_forecast is training_tbptt.per_step_forecast
    assert training_loops._Step is training_steps.Step
    assert (
        training_run.check_splits
        is importlib.import_module("seqzoo.plugins.trainers.checks").check_splits
    )
    with pytest.raises(AttributeError, match="no attribute 'Missing'"):
        training_loops.Missing  # noqa: B018  # the lazy lookup knows only its two names


def test_patching_the_old_place_reaches_the_new_home(monkeypatch: pytest.MonkeyPatch) -> None:
    from seqzoo.core import checkpoints

    calls: list[str] = []
    real = checkpoints.load_checkpoint

    def recording(path, model, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(str(path))
        return real(path, model, *args, **kwargs)

    monkeypatch.setattr(training, "load_checkpoint", recording)
    assert checkpoints.load_checkpoint is recording
    monkeypatch.undo()
    assert checkpoints.load_checkpoint is real and training.load_checkpoint is real


def test_the_task_table_gives_what_each_place_gave_before() -> None:
    from seqzoo.core import data, protocols
    from seqzoo.plugins.trainers.supervised import VAL_METRICS
    from seqzoo.zoo.build import HEADLINE

    assert data.TASKS == ("forecast", "regression", "classification", "language-model")
    assert VAL_METRICS == {
        "forecast": ("val_mae",),
        "regression": ("val_mae",),
        "classification": ("val_accuracy",),
        "language-model": ("val_perplexity", "val_bpc"),
    }
    assert HEADLINE == {"forecast": "mae", "regression": "mae", "language-model": "bpc"}
    assert set(protocols.TASK_SHAPES) == set(TASKS) and "val_accuracy" in HIGHER_IS_BETTER
    assert protocols.TASK_SHAPES["language-model"]["targets"] == "(N, time) int64, the next ids"
    logits, ids = torch.zeros(2, 3, 5), torch.zeros(2, 3, dtype=torch.long)
    assert task_row("language-model").output_check(logits, ids, 5) is None
    wanted = task_row("classification").output_check(logits, ids[:, 0], 5)
    assert wanted == "(batch, 5) class scores"
    assert training.loss_for("regression") is training.loss_for("forecast")
    with pytest.raises(ConfigError, match="task must be one of .*'forecast'.*got 'ranking'"):
        task_row("ranking")
