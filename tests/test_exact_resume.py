"""Ctrl-C at any batch, then ``resume``: the run ends bit for bit as one that never stopped
(weights, optimizer and schedule state, every epoch's losses), for the supervised and the
truncated-BPTT trainer; the interrupt message gives the command that continues the run."""

from __future__ import annotations

import math
import os
import random
import re
import signal
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import torch
from test_training import REPO, lstm, sine_data, tensors
from torch import Tensor, nn

from seqzoo.core.data import SequenceData, Split
from seqzoo.core.training import TrainingInterrupted, load_checkpoint
from seqzoo.plugins import schedules
from seqzoo.plugins.training_loops import TBPTT, Supervised

EPOCHS = 3
BATCHES = 6  # of the supervised run's data: 93 training windows in batches of 16


class Interrupting(nn.Module):
    """Wraps a model; its ``at``-th training forward (or ``forward_stateful`` chunk, 1-based)
    raises KeyboardInterrupt (``how="raise"``, as an exception inside the batch) or sends this
    process a SIGINT (``how="signal"``, a real Ctrl-C); ``at_eval``: the ``at``-th validation
    forward instead."""

    def __init__(self, inner: nn.Module, at: int = 0, how: str = "raise", at_eval: bool = False):
        super().__init__()
        self.inner, self.at, self.how, self.at_eval, self.calls = inner, at, how, at_eval, 0

    @property
    def output(self) -> str:
        return self.inner.output

    def _tick(self) -> None:
        if self.training == self.at_eval:
            return
        self.calls += 1
        if self.calls == self.at:
            if self.how == "raise":
                raise KeyboardInterrupt
            signal.raise_signal(signal.SIGINT)

    def forward(self, x: Tensor) -> Tensor:
        self._tick()
        return self.inner(x)

    def forward_stateful(self, x: Tensor, state: Any = None) -> Any:
        self._tick()
        return self.inner.forward_stateful(x, state)


def long_sine() -> SequenceData:
    """Six long sine sequences (a horizon-1 forecast) for tbptt: 3 batches of 2, 6 chunks each."""
    t = torch.arange(8 * 121, dtype=torch.float32)
    series = torch.sin(2 * math.pi * t / 30).reshape(8, 121, 1)
    x, y = series[:, :-1].contiguous(), series[:, -1].contiguous()
    return SequenceData("long", "forecast", Split(x[:6], y[:6]), Split(x[6:], y[6:]),
                        Split(x[6:], y[6:]), input_size=1, output_size=1)  # fmt: skip


def supervised_run(model: nn.Module, run_dir: Path, resume: Path | None = None) -> tuple:
    """Adam + a per-batch onecycle schedule, dropout drawing from torch's global RNG."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    schedule = schedules.onecycle(optimizer, total_steps=BATCHES * EPOCHS)
    trainer = Supervised(
        epochs=EPOCHS, batch_size=16, seed=3, quiet=True, run_dir=run_dir,
        restore_best=False, plot=False, save_every="epoch",
    )  # fmt: skip
    history = trainer.fit(model, sine_data(150), optimizer, schedule, resume=resume)
    return history, optimizer, schedule


def tbptt_run(model: nn.Module, run_dir: Path, resume: Path | None = None) -> tuple:
    """SGD with momentum + a plateau schedule (per epoch, watching the monitor)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    schedule = schedules.plateau(optimizer, patience=0, factor=0.5)
    trainer = TBPTT(
        chunk=20, epochs=EPOCHS, batch_size=2, seed=4, quiet=True, run_dir=run_dir,
        restore_best=False, plot=False, save_every="epoch",
    )  # fmt: skip
    history = trainer.fit(model, long_sine(), optimizer, schedule, resume=resume)
    return history, optimizer, schedule


def supervised_model(seed: int = 0, **interrupt: Any) -> nn.Module:
    """Wrapped (never interrupting by default), so every run's weights have the same names."""
    return Interrupting(lstm(seed, dropout=0.3, num_layers=2), **interrupt)


def tbptt_model(seed: int = 0, **interrupt: Any) -> nn.Module:
    return Interrupting(lstm(seed, output="sequence", hidden_size=8), **interrupt)


KINDS = {"supervised": (supervised_run, supervised_model), "tbptt": (tbptt_run, tbptt_model)}


@cache
def straight(kind: str, root: str) -> tuple:
    """The uninterrupted run: ``(weights, optimizer tensors, train losses, val losses, lr)``."""
    run, make = KINDS[kind]
    model = make()
    history, optimizer, _ = run(model, Path(root) / f"straight-{kind}")
    return (
        tensors(model.state_dict()),
        tensors(optimizer.state_dict()),
        history.train_loss,
        history.val_loss,
        optimizer.param_groups[0]["lr"],
    )


def interrupted_then_resumed(
    kind: str, tmp_path: Path, **interrupt: Any
) -> tuple[TrainingInterrupted, tuple]:
    run, make = KINDS[kind]
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingInterrupted) as info:
        run(make(**interrupt), run_dir)
    if info.value.exact:
        state = load_checkpoint(run_dir, make(seed=5))
        assert state["interrupted"] and state["epoch"] == info.value.epoch - 1
    model = make(seed=99)  # other initial weights: the checkpoint wins
    history, optimizer, _ = run(model, run_dir, resume=run_dir)
    assert [row.epoch for row in history.rows] == list(range(1, EPOCHS + 1))
    resumed = (
        tensors(model.state_dict()),
        tensors(optimizer.state_dict()),
        history.train_loss,
        history.val_loss,
        optimizer.param_groups[0]["lr"],
    )
    return info.value, resumed


def assert_same(a: tuple, b: tuple) -> None:
    weights = list(zip(a[0], b[0], strict=True)) + list(zip(a[1], b[1], strict=True))
    assert len(weights) > 10 and all(torch.equal(x, y) for x, y in weights)
    assert a[2:] == b[2:]  # losses of every epoch, and the schedule's last lr


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("straight"))


def test_supervised_ctrl_c_at_a_random_batch_resumes_bit_for_bit(tmp_path: Path, root: str) -> None:
    at = random.Random(0).randint(2, BATCHES * EPOCHS)  # any training batch but the very first
    error, resumed = interrupted_then_resumed("supervised", tmp_path, at=at, how="raise")
    # raised inside batch ``at``, before its step: the position is the start of that batch
    assert error.exact and (error.epoch - 1) * BATCHES + error.batch == at - 1
    assert_same(straight("supervised", root), resumed)


def test_a_real_ctrl_c_stops_at_the_end_of_the_batch_and_resumes_bit_for_bit(
    tmp_path: Path, root: str
) -> None:
    at = random.Random(7).randint(1, BATCHES * EPOCHS)
    error, resumed = interrupted_then_resumed("supervised", tmp_path, at=at, how="signal")
    assert error.exact and (error.epoch - 1) * BATCHES + error.batch == at  # batch ``at`` finished
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back after fit
    assert_same(straight("supervised", root), resumed)


def test_ctrl_c_during_validation_resumes_bit_for_bit(tmp_path: Path, root: str) -> None:
    error, resumed = interrupted_then_resumed("supervised", tmp_path, at=2, at_eval=True)
    assert error.exact and error.epoch == 2 and error.batch == BATCHES  # trained, not yet validated
    assert_same(straight("supervised", root), resumed)


def test_tbptt_ctrl_c_mid_batch_resumes_bit_for_bit(tmp_path: Path, root: str) -> None:
    at = random.Random(3).randint(1, 6 * 3 * EPOCHS)  # any chunk of any batch
    error, resumed = interrupted_then_resumed("tbptt", tmp_path, at=at, how="signal")
    assert error.exact and (error.epoch - 1) * 3 + error.batch == math.ceil(at / 6)
    assert_same(straight("tbptt", root), resumed)


def test_an_interrupt_inside_a_step_keeps_the_last_save(tmp_path: Path, root: str) -> None:
    # raised in chunk 3 of batch 1 of epoch 2: two steps of that batch were taken, no whole
    # state exists to save, so last keeps epoch 1 (save_every="epoch") and the resume replays
    error, resumed = interrupted_then_resumed("tbptt", tmp_path, at=6 * 3 + 3, how="raise")
    assert not error.exact and error.epoch == 2 and error.batch == 0
    assert "inside an optimizer step" in str(error) and str(error.checkpoint) in str(error)
    assert_same(straight("tbptt", root), resumed)


def test_the_message_gives_the_resume_command_on_a_line_of_its_own(tmp_path: Path) -> None:
    with pytest.raises(TrainingInterrupted) as info:
        supervised_run(supervised_model(at=5), tmp_path / "run")
    lines = str(info.value).splitlines()
    assert f"  seqzoo train --resume {tmp_path / 'run'}" in lines
    assert lines[0].startswith("training interrupted in epoch 1 after 4 batch(es)")
    assert info.value.checkpoint == tmp_path / "run" / "checkpoints" / "last"
    assert not [p for p in (tmp_path / "run").rglob("*.pt")]


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SEQZOO_SLOW") != "1", reason="slow: set SEQZOO_SLOW=1")
def test_sigint_to_seqzoo_train_then_resume(tmp_path: Path) -> None:
    """The CLI: a real SIGINT mid-training exits 130 with the resume command on its own line
    (no traceback); that command finishes the run."""
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQZOO_")}
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "seqzoo", "train", "--model", "rnn", "-M", "hidden_size=4",
               "--dataset", "nile", "--epochs", "100000", "--no-plot", "--run-dir", str(run_dir)]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("epoch 2/"):  # training for real: interrupt it
                process.send_signal(signal.SIGINT)
                break
        rest = process.stderr.read()
        assert process.wait(timeout=60) == 130, rest
    finally:
        process.kill()
        process.wait()
    assert "Traceback" not in rest
    assert f"  seqzoo train --resume {run_dir}" in rest.splitlines()
    epoch = int(re.search(r"interrupted in epoch (\d+)", rest).group(1))  # type: ignore[union-attr]
    done = subprocess.run(
        [sys.executable, "-m", "seqzoo", "train", "--resume", str(run_dir), "--epochs",
         str(epoch + 1), "--quiet"], capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert load_checkpoint(run_dir, _nile_rnn(run_dir))["epoch"] == epoch + 1


def _nile_rnn(run_dir: Path) -> nn.Module:
    from seqzoo.core.workflow import load_run

    return load_run(run_dir).model
