"""How often the built-in trainers save (``save_every``), what a checkpoint save costs in fsyncs,
resuming from whatever ``last`` holds after a hard kill, the once-per-fit data check, the
``SEQZOO_PROFILE`` record and training without matplotlib."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from test_training import REPO, fit, lstm, sine_data, tensors
from torch import Tensor

from seqzoo.core.errors import ConfigError
from seqzoo.core.training import load_checkpoint, save_checkpoint
from seqzoo.plugins.models.recurrent import RecurrentModel
from seqzoo.plugins.training_loops import Supervised


class Ticking(RecurrentModel):
    """An LSTM whose validation pass (once per epoch) moves a fake clock ``seconds`` on, and
    which dies with :class:`Killed` on the validation pass of epoch ``kill_at``."""

    def __init__(self, now: list[float], seconds: float = 10.0, kill_at: int | None = None):
        torch.manual_seed(0)
        super().__init__(input_size=1, output_size=1, hidden_size=8)
        self.now, self.seconds, self.kill_at, self.epochs = now, seconds, kill_at, 0

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            self.epochs += 1
            self.now[0] += self.seconds
            if self.epochs == self.kill_at:
                raise Killed
        return super().forward(x)


class Killed(BaseException):
    """A hard kill: no handler in fit sees it (unlike KeyboardInterrupt)."""


def saves_recorded(monkeypatch: pytest.MonkeyPatch, now: list[float]) -> list[tuple[str, int]]:
    """Fake the trainer's clock with ``now`` and record every checkpoint it writes as
    ``(name, epoch in its trainer state)``; the checkpoints are still written."""
    from seqzoo.plugins import training_run

    saves: list[tuple[str, int]] = []
    real = training_run.save_checkpoint

    def recording(run_dir, name, model, optimizer=None, schedule=None, trainer_state=None):  # type: ignore[no-untyped-def]
        saves.append((name, int((trainer_state or {}).get("epoch", -1))))
        return real(run_dir, name, model, optimizer, schedule, trainer_state)

    monkeypatch.setattr(training_run, "clock", lambda: now[0])
    monkeypatch.setattr(training_run, "save_checkpoint", recording)
    return saves


def test_save_every_seconds_saves_last_once_that_long_has_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [0.0]
    saves = saves_recorded(monkeypatch, now)
    history = fit(Ticking(now), sine_data(), epochs=7, run_dir=tmp_path, save_every=25)
    # 10 s per epoch: 30 s have passed after epoch 3, 30 more after epoch 6; 7 is the final one
    assert [epoch for name, epoch in saves if name == "last"] == [3, 6, 7]
    best_saves = [i for i, (name, _) in enumerate(saves) if name == "best"]
    assert best_saves and all(saves[i - 1][0] == "last" for i in best_saves)  # last goes first
    best_state = load_checkpoint(tmp_path / "checkpoints" / "best", lstm())
    assert best_state["epoch"] == history.result.best_epoch
    assert load_checkpoint(tmp_path, lstm())["epoch"] == 7
    saved = json.loads((tmp_path / "history.json").read_text())
    assert len(saved["rows"]) == 7 and saved["result"]["stop_reason"] == "completed 7 epoch(s)"


def test_save_every_epoch_saves_last_after_every_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [0.0]
    saves = saves_recorded(monkeypatch, now)
    fit(Ticking(now, seconds=0.0), sine_data(), epochs=4, run_dir=tmp_path, save_every="epoch")
    assert [epoch for name, epoch in saves if name == "last"] == [1, 2, 3, 4]


@pytest.mark.parametrize("value", [-1, "soon", True, float("nan")])
def test_save_every_rejects_what_is_not_seconds_or_epoch(value: object) -> None:
    with pytest.raises(ConfigError, match="save_every.*'epoch' or a number of seconds"):
        Supervised(save_every=value)


def test_save_every_takes_seconds_as_numbers_or_text() -> None:
    assert [Supervised(save_every=v).save_every for v in (15, "2.5", "10s", "epoch", 0)] == [
        15.0, 2.5, 10.0, "epoch", "epoch"]  # fmt: skip


def test_a_hard_kill_between_saves_resumes_bit_for_bit_from_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [0.0]
    saves = saves_recorded(monkeypatch, now)
    data = sine_data()
    straight = fit(Ticking(now), data, epochs=7, run_dir=tmp_path / "a", save_every=25)
    with pytest.raises(Killed):  # dies in epoch 5: last holds epoch 3, epochs 4 and 5 are lost
        fit(Ticking(now, kill_at=5), data, epochs=7, run_dir=tmp_path / "b", save_every=25)
    assert load_checkpoint(tmp_path / "b", lstm())["epoch"] == 3
    del saves[:]
    resumed = fit(Ticking(now), data, epochs=7, run_dir=tmp_path / "b", resume=tmp_path / "b")
    assert [row.epoch for row in resumed.rows] == list(range(1, 8))
    assert resumed.train_loss == straight.train_loss and resumed.val_loss == straight.val_loss
    for name in ("last", "best"):
        a, b = lstm(seed=1), lstm(seed=2)
        load_checkpoint(tmp_path / "a" / "checkpoints" / name, a)
        load_checkpoint(tmp_path / "b" / "checkpoints" / name, b)
        assert all(map(torch.equal, tensors(a.state_dict()), tensors(b.state_dict()))), name


def test_resume_ignores_a_best_that_a_kill_left_older_than_last(tmp_path: Path) -> None:
    data = sine_data()
    history = fit(lstm(), data, epochs=3, run_dir=tmp_path, save_every="epoch")
    assert history.result.best_epoch == 3  # the loss falls every epoch here
    # as if killed after last (epoch 3, the best) was saved but before best was
    save_checkpoint(tmp_path, "best", lstm(seed=7), trainer_state={"epoch": 1})
    model = lstm(seed=8)
    fit(model, data, epochs=3, run_dir=tmp_path, resume=tmp_path)  # nothing left to train
    last = lstm(seed=9)
    load_checkpoint(tmp_path, last)
    assert all(map(torch.equal, tensors(model.state_dict()), tensors(last.state_dict())))
    stale = lstm(seed=7)
    assert not torch.equal(model.state_dict()["head.weight"], stale.state_dict()["head.weight"])
    best = lstm(seed=10)
    assert load_checkpoint(tmp_path / "checkpoints" / "best", best)["epoch"] == 3  # rewritten
    assert all(map(torch.equal, tensors(best.state_dict()), tensors(last.state_dict())))


@pytest.mark.parametrize("exchange", [True, False])
def test_a_checkpoint_save_fsyncs_each_file_and_each_directory_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    from seqzoo.core import training

    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(training.os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    if not exchange:  # the portable path: the old checkpoint steps aside, the new one moves in
        monkeypatch.setattr(training, "_RENAMEAT2", [None])
    model = lstm()
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.zeros(2, 4, 1)).sum().backward()
    optimizer.step()
    for epoch in (1, 2):
        del calls[:]
        save_checkpoint(tmp_path, "last", model, optimizer, trainer_state={"epoch": epoch})
        # model.safetensors, state.safetensors, state.json, the filled directory, checkpoints/
        assert len(calls) == 5
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["last"]
    assert sorted(os.listdir(tmp_path / "checkpoints" / "last")) == [
        "model.safetensors", "state.json", "state.safetensors"]  # fmt: skip
    assert load_checkpoint(tmp_path, lstm(seed=3))["epoch"] == 2


def test_bad_values_in_the_data_fail_before_training_naming_split_and_sample() -> None:
    data = sine_data()
    data.train.targets[5] = float("nan")
    with pytest.raises(ConfigError, match=r"training targets hold NaN .* 1 sample\(s\), the first at index 5"):  # fmt: skip
        fit(lstm(), data, epochs=1)
    data = sine_data()
    data.validation.inputs[2, 3, 0] = float("inf")
    data.validation.inputs[7, 0, 0] = float("nan")
    with pytest.raises(ConfigError, match=r"validation inputs .* 2 sample\(s\), the first at index 2"):  # fmt: skip
        fit(lstm(), data, epochs=1)
    data = sine_data()
    n = len(data.train.inputs)
    data.train.targets = data.train.targets[:-1]
    with pytest.raises(ConfigError, match=f"training split has {n} inputs but {n - 1} targets"):
        fit(lstm(), data, epochs=1)


def test_the_data_is_checked_once_per_fit_not_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    from seqzoo.plugins import training_loops

    calls: list[list[str]] = []
    real = training_loops.check_splits
    monkeypatch.setattr(
        training_loops, "check_splits", lambda name, splits: (calls.append(list(splits)), real(name, splits))[1]
    )  # fmt: skip
    history = fit(lstm(), sine_data(), epochs=3)  # 13 batches an epoch
    assert len(history) == 3 and calls == [["training", "validation"]]


def test_seqzoo_profile_records_where_a_fit_spent_its_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "profile.json"
    monkeypatch.setenv("SEQZOO_PROFILE", str(target))
    history = fit(lstm(), sine_data(), epochs=3, run_dir=tmp_path / "run", plot=False)
    figures = json.loads(target.read_text())
    assert figures["epochs"] == 3 and figures["checkpoints"] == 2  # last and best, at the end
    assert figures["epochs_seconds"] == pytest.approx(sum(row.seconds for row in history.rows))
    assert 0 < figures["epochs_seconds"] < figures["fit_seconds"]
    assert figures["plot_seconds"] == 0 and figures["fsyncs"] == 5 + 4 + 3
    assert not (tmp_path / "run" / "loss.png").exists()


def test_without_a_plot_matplotlib_is_never_imported(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, torch
        from pathlib import Path
        from seqzoo.core.data import SequenceData, Split
        from seqzoo.plugins.models.linear import LinearModel
        from seqzoo.plugins.training_loops import Supervised
        torch.manual_seed(0)
        x, y = torch.randn(64, 4, 2), torch.randn(64, 1)
        data = SequenceData("toy", "regression", Split(x, y), Split(x[:8], y[:8]),
                            Split(x[:0], y[:0]), input_size=2, output_size=1)
        for plot in (False, True):
            run_dir = Path({str(tmp_path)!r}) / str(plot)
            model = LinearModel(2, 1, window=4)
            trainer = Supervised(epochs=2, quiet=True, run_dir=run_dir, plot=plot)
            trainer.fit(model, data, torch.optim.SGD(model.parameters(), lr=0.01))
            print("matplotlib" in sys.modules, (run_dir / "loss.png").is_file())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "True", "True"]
