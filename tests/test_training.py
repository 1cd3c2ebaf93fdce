"""Trainer machinery (seqzoo.core.training), the supervised / tbptt trainers, the optimizer and
schedule plugins. Data is built by hand here, so these tests never depend on dataset plugins."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.preprocessing import StandardScaler
from torch import Tensor, nn

from seqzoo.core.data import Preprocessing, SequenceData, Split, sliding_windows
from seqzoo.core.errors import ConfigError, WeightsError
from seqzoo.core.training import (
    NonFiniteLossError,
    TrainingInterrupted,
    capture_rng,
    checkpoint_path,
    load_checkpoint,
    loss_for,
    model_forward,
    progress_bar,
    restore_rng,
    save_checkpoint,
    seed_everything,
)
from seqzoo.plugins import schedules
from seqzoo.plugins.models.embedding_lstm import EmbeddingLSTM
from seqzoo.plugins.models.linear import LinearModel
from seqzoo.plugins.models.recurrent import RecurrentModel
from seqzoo.plugins.training_loops import TBPTT, Supervised, per_step_forecast

REPO = Path(__file__).resolve().parents[1]


def sine_data(length: int = 300, window: int = 16, horizon: int = 1) -> SequenceData:
    """A univariate sine forecast, windows split 70/15/15 in time order."""
    t = torch.arange(length, dtype=torch.float32)
    series = torch.sin(2 * math.pi * t / 20).unsqueeze(1)
    windows = sliding_windows(series, window, horizon)
    x, y = windows[:, :window].contiguous(), windows[:, window:, 0].contiguous()
    a, b = int(0.7 * len(x)), int(0.85 * len(x))
    splits = [Split(x[s], y[s]) for s in (slice(0, a), slice(a, b), slice(b, None))]
    return SequenceData("sine", "forecast", *splits, input_size=1, output_size=horizon, season=20)


def lstm(seed: int = 0, **config: object) -> RecurrentModel:
    torch.manual_seed(seed)
    return RecurrentModel(**{"input_size": 1, "output_size": 1, "hidden_size": 8, **config})


def fit(
    model: nn.Module, data: SequenceData, lr: float = 1e-2, resume: Path | None = None, **options
):  # type: ignore[no-untyped-def]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    trainer = Supervised(**{"quiet": True, "batch_size": 16, **options})
    return trainer.fit(model, data, optimizer, resume=resume)


def tensors(obj: object) -> list[Tensor]:
    """Every tensor in a (nested) state dict, in a stable order."""
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, dict):
        return [t for key in sorted(obj, key=str) for t in tensors(obj[key])]
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in tensors(item)]
    return []


# -- training ------------------------------------------------------------------------------


def test_loss_falls_for_an_lstm_on_a_sine() -> None:
    history = fit(lstm(), sine_data(), epochs=6)
    assert len(history) == 6
    assert history.train_loss[-1] < 0.2 * history.train_loss[0]
    assert history.val_loss[-1] < 0.2 * history.val_loss[0]
    assert history.result.best_epoch is not None
    assert {"val_mae"} == set(history.rows[-1].metrics)


def test_resume_is_bitwise_equal_to_training_straight(tmp_path: Path) -> None:
    data = sine_data()

    def run(model: nn.Module, epochs: int, run_dir: Path, resume: Path | None = None):
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        schedule = schedules.step(optimizer, step_size=1, gamma=0.7)
        trainer = Supervised(
            epochs=epochs, batch_size=16, seed=3, quiet=True, run_dir=run_dir, restore_best=False
        )
        return trainer.fit(model, data, optimizer, schedule, resume=resume), optimizer, schedule

    # dropout draws from torch's global RNG, the shuffles from the trainer's generator
    straight, opt_a, sched_a = run(lstm(dropout=0.3), 4, tmp_path / "a")
    run(lstm(dropout=0.3), 2, tmp_path / "b")
    resumed_model = lstm(seed=99, dropout=0.3)  # other initial weights: the checkpoint wins
    resumed, opt_b, sched_b = run(resumed_model, 4, tmp_path / "b", resume=tmp_path / "b")

    model_a = lstm(dropout=0.3)
    load_checkpoint(tmp_path / "a", model_a)
    pairs = list(
        zip(tensors(model_a.state_dict()), tensors(resumed_model.state_dict()), strict=True)
    )
    pairs += zip(tensors(opt_a.state_dict()), tensors(opt_b.state_dict()), strict=True)
    assert len(pairs) > 10 and all(torch.equal(a, b) for a, b in pairs)
    assert straight.train_loss == resumed.train_loss and len(resumed) == 4
    assert sched_a.get_last_lr() == sched_b.get_last_lr()
    best = [lstm(dropout=0.3), lstm(seed=5, dropout=0.3)]
    load_checkpoint(tmp_path / "a" / "checkpoints" / "best", best[0])
    load_checkpoint(tmp_path / "b" / "checkpoints" / "best", best[1])
    assert all(map(torch.equal, tensors(best[0].state_dict()), tensors(best[1].state_dict())))


def test_early_stopping_stops_when_the_monitor_stalls() -> None:
    # lr 0: the weights never move, so the validation loss never improves after epoch 1
    history = fit(lstm(), sine_data(), lr=0.0, epochs=10, patience=2)
    assert len(history) == 3
    assert history.result.stopped_early and history.result.best_epoch == 1
    assert "early stopping" in history.result.stop_reason


def test_an_unknown_monitor_fails_before_training() -> None:
    model = lstm()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ConfigError, match="val_accuracy"):
        fit(model, sine_data(), monitor="val_accuracy")  # a forecast logs val_mae, not accuracy
    assert all(map(torch.equal, before, model.parameters()))


class RecordingSGD(torch.optim.SGD):
    """SGD that records the global gradient norm it is asked to apply."""

    def __init__(self, params, lr: float) -> None:  # type: ignore[no-untyped-def]
        super().__init__(params, lr=lr)
        self.norms: list[float] = []

    def step(self, closure=None):  # type: ignore[no-untyped-def, override]
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        self.norms.append(float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]))))
        return super().step(closure)


@pytest.mark.parametrize("clip", [None, 0.01])
def test_clip_bounds_the_gradient_norm(clip: float | None) -> None:
    model = lstm()
    optimizer = RecordingSGD(model.parameters(), lr=1e-3)
    Supervised(epochs=1, batch_size=16, clip=clip, quiet=True).fit(model, sine_data(), optimizer)
    if clip is None:
        assert max(optimizer.norms) > 0.05  # so the clipped case below is a real bound
    else:
        assert max(optimizer.norms) <= clip * (1 + 1e-4)


def test_nonfinite_loss_restores_and_saves_finite_weights(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(200, 1, 3, generator=generator) * 1e4 + 1e3  # large and unscaled
    y = 3 * x[:, 0].sum(dim=1, keepdim=True)
    data = SequenceData("big", "regression", Split(x, y), Split(x[:20], y[:20]),
                        Split(x[:20], y[:20]), input_size=3, output_size=1)  # fmt: skip
    torch.manual_seed(0)
    model = LinearModel(3, 1)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    trainer = Supervised(epochs=3, batch_size=20, quiet=True, run_dir=tmp_path)
    with pytest.raises(NonFiniteLossError) as info:
        trainer.fit(model, data, optimizer)
    error = info.value
    assert error.epoch == 1 and error.batch is not None and error.batch > 1
    message = str(error)
    assert f"epoch 1, batch {error.batch}" in message
    assert "learning rate" in message and "--clip" in message and "scal" in message
    assert all(torch.equal(v, initial[k]) for k, v in model.state_dict().items())
    for name in ("last", "best"):
        probe = LinearModel(3, 1)
        load_checkpoint(tmp_path / "checkpoints" / name, probe)
        assert all(torch.isfinite(p).all() for p in probe.parameters())
        assert all(torch.equal(v, initial[k]) for k, v in probe.state_dict().items())


def test_run_files_are_written(tmp_path: Path) -> None:
    history = fit(lstm(), sine_data(), epochs=2, run_dir=tmp_path, checkpoint_every=2)
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0] == "epoch,train_loss,val_loss,lr,seconds,val_mae"
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "2"]
    assert float(lines[2].split(",")[1]) == history.train_loss[1]
    saved = json.loads((tmp_path / "history.json").read_text())
    assert [row["epoch"] for row in saved["rows"]] == [1, 2]
    assert saved["result"]["epochs"] == 2 and saved["result"]["run_dir"] == str(tmp_path)
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["best", "epoch-0002", "last"]  # no temporary debris left behind
    assert set(os.listdir(tmp_path / "checkpoints" / "last")) == {
        "model.safetensors", "state.json", "state.safetensors"}  # fmt: skip
    state = load_checkpoint(tmp_path, lstm(seed=1))
    assert state["epoch"] == 2 and state["trainer"] == "supervised"


class InterruptAt(nn.Module):
    """Wraps a model; its ``calls``-th forward raises KeyboardInterrupt (a Ctrl-C)."""

    def __init__(self, inner: nn.Module, calls: int) -> None:
        super().__init__()
        self.inner, self.left = inner, calls

    def forward(self, x: Tensor) -> Tensor:
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt
        return self.inner(x)


def test_ctrl_c_saves_last_and_raises_a_clean_error(tmp_path: Path) -> None:
    data = sine_data()  # 199 training windows: 13 batches of 16, plus 1 validation pass
    model = InterruptAt(lstm(), calls=20)  # during epoch 2
    with pytest.raises(TrainingInterrupted) as info:
        fit(model, data, epochs=3, run_dir=tmp_path)
    assert info.value.epoch == 2 and len(info.value.history) == 1
    assert info.value.checkpoint == tmp_path / "checkpoints" / "last"
    state = load_checkpoint(tmp_path, InterruptAt(lstm(seed=1), calls=-1))
    assert state["interrupted"] and state["epoch"] == 1
    resumed = fit(InterruptAt(lstm(seed=1), -1), data, epochs=3, run_dir=tmp_path, resume=tmp_path)
    assert [row.epoch for row in resumed.rows] == [1, 2, 3]


def test_tbptt_trains_an_lstm_on_a_long_sine() -> None:
    t = torch.arange(8 * 400, dtype=torch.float32)
    series = torch.sin(2 * math.pi * t / 50).reshape(8, 400, 1)
    x, y = series[:, :-1].contiguous(), series[:, -1].contiguous()  # (8, 399, 1), (8, 1)
    data = SequenceData("long", "forecast", Split(x[:6], y[:6]), Split(x[6:], y[6:]),
                        Split(x[6:], y[6:]), input_size=1, output_size=1)  # fmt: skip
    model = lstm(output="sequence", hidden_size=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = TBPTT(chunk=40, epochs=4, batch_size=3, quiet=True).fit(model, data, optimizer)
    assert history.train_loss[-1] < 0.1 * history.train_loss[0]
    assert history.val_loss[-1] < history.val_loss[0]


@pytest.mark.parametrize(("chunk", "steps"), [(1, 10), (4, 3), (32, 1)])
def test_tbptt_takes_one_optimizer_step_per_chunk(chunk: int, steps: int) -> None:
    x = torch.randint(1, 7, (2, 10))
    data = SequenceData("ids", "language-model", Split(x, x.roll(-1, 1)), Split(x, x),
                        Split(x, x), input_size=None, output_size=7, vocab_size=7)  # fmt: skip
    torch.manual_seed(0)
    model = EmbeddingLSTM(7, embedding_dim=4, hidden_size=4)
    optimizer = torch.optim.Adam(model.parameters())
    TBPTT(chunk=chunk, epochs=1, batch_size=2, quiet=True).fit(model, data, optimizer)
    assert {int(s["step"]) for s in optimizer.state.values()} == {steps}


def test_tbptt_language_model_loss_falls() -> None:
    stream = torch.arange(16 * 64) % 5 + 1  # a repeating pattern of five tokens
    x = stream.reshape(16, 64)
    y = (x % 5) + 1  # the next token of the pattern
    data = SequenceData("cycle", "language-model", Split(x[:12], y[:12]), Split(x[12:], y[12:]),
                        Split(x[12:], y[12:]), input_size=None, output_size=6, vocab_size=6)  # fmt: skip
    torch.manual_seed(0)
    model = EmbeddingLSTM(6, embedding_dim=8, hidden_size=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = TBPTT(chunk=16, epochs=3, batch_size=4, quiet=True).fit(model, data, optimizer)
    assert history.val_loss[-1] < 0.3 * math.log(6)
    assert history.rows[-1].metrics["val_bpc"] == pytest.approx(history.val_loss[-1] / math.log(2))


def test_tbptt_rejects_a_many_to_one_model() -> None:
    optimizer = torch.optim.Adam(lstm().parameters())
    with pytest.raises(ConfigError, match="output='sequence'"):
        TBPTT(epochs=1, quiet=True).fit(lstm(), sine_data(), optimizer)


def test_per_step_forecast_shifts_targets_between_scalings() -> None:
    raw = np.arange(1.0, 13.0).reshape(2, 6, 1)  # two windows of 6 steps; next value = +1
    inputs = StandardScaler().fit(raw.reshape(-1, 1))
    targets = StandardScaler().fit(raw.reshape(-1, 1) * 3)  # deliberately another scaling
    x = torch.tensor(inputs.transform(raw.reshape(-1, 1)).reshape(2, 6, 1), dtype=torch.float32)
    y = torch.tensor(targets.transform(raw[:, -1] + 1), dtype=torch.float32)
    prep = Preprocessing(input_scaler=inputs, target_scaler=targets)
    split = Split(x, y)
    data = SequenceData("s", "forecast", split, split, split, 1, 1, preprocessing=prep)
    stepped = per_step_forecast(data, split)
    assert stepped.targets.shape == (2, 6, 1)
    back = prep.unscale_targets(stepped.targets)
    np.testing.assert_allclose(back, raw + 1, rtol=1e-5)


def test_classification_with_lengths_reports_accuracy() -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(1, 9, (64, 12), generator=generator)
    lengths = torch.randint(3, 13, (64,), generator=generator)
    x[torch.arange(12) >= lengths.unsqueeze(1)] = 0  # trailing padding
    y = (x == 3).any(dim=1).long()
    split = Split(x, y, lengths)
    data = SequenceData("c", "classification", split, split, split, None, 2, vocab_size=9)
    torch.manual_seed(0)
    model = EmbeddingLSTM(9, output_size=2, embedding_dim=8, hidden_size=8, output="last")
    history = fit(model, data, epochs=2, monitor="val_accuracy", patience=5)
    assert 0.0 <= history.rows[-1].metrics["val_accuracy"] <= 1.0
    assert history.result.monitor == "val_accuracy"


# -- machinery ------------------------------------------------------------------------------


def test_losses_by_task() -> None:
    logits = torch.randn(2, 3, 5)
    ids = torch.randint(0, 5, (2, 3))
    expected = nn.functional.cross_entropy(logits.reshape(6, 5), ids.reshape(6))
    assert torch.equal(loss_for("language-model")(logits, ids), expected)
    assert float(loss_for("forecast")(torch.ones(4, 2, 1), torch.zeros(4, 2))) == 1.0
    assert torch.equal(loss_for("classification")(logits[:, 0], ids[:, 0]),
                       nn.functional.cross_entropy(logits[:, 0], ids[:, 0]))  # fmt: skip
    with pytest.raises(ConfigError):
        loss_for("translation")


def test_model_forward_passes_lengths_only_where_accepted() -> None:
    class Plain(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return x

    class Padded(nn.Module):
        def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
            return x if lengths is None else x + lengths

    x, lengths = torch.zeros(2), torch.tensor([1.0, 2.0])
    assert torch.equal(model_forward(Plain(), x, lengths), x)
    assert torch.equal(model_forward(Padded(), x, lengths), lengths)


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert progress_bar(3, "epoch 1/1") is None  # pytest's captured stderr is no terminal
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert progress_bar(3, "epoch 1/1", quiet=True) is None
    bar = progress_bar(3, "epoch 1/1")
    assert bar is not None and bar.total == 3
    bar.close()


def test_seed_and_rng_state_round_trip() -> None:
    generator = seed_everything(7)
    state = capture_rng(generator)
    first = (torch.rand(3), np.random.rand(3), __import__("random").random(),
             torch.randperm(9, generator=generator))  # fmt: skip
    seed_everything(123)
    restore_rng(torch.load(_roundtrip(state), weights_only=True), generator)
    second = (torch.rand(3), np.random.rand(3), __import__("random").random(),
              torch.randperm(9, generator=generator))  # fmt: skip
    assert torch.equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    assert first[2] == second[2] and torch.equal(first[3], second[3])


def _roundtrip(obj: object) -> io.BytesIO:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return buffer


def test_checkpoint_round_trip_with_tied_weights(tmp_path: Path) -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(5, 4)
            self.head = nn.Linear(4, 5, bias=False)
            self.head.weight = self.embed.weight  # shared: safetensors' save_model handles it

    torch.manual_seed(0)
    model = Tied()
    path = save_checkpoint(tmp_path, "last", model, trainer_state={"epoch": 3})
    torch.manual_seed(1)
    other = Tied()
    assert load_checkpoint(path, other)["epoch"] == 3
    assert torch.equal(other.embed.weight, model.embed.weight)
    assert other.head.weight is other.embed.weight


def test_load_checkpoint_errors_are_weights_errors(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing", lstm())
    path = save_checkpoint(tmp_path, "last", lstm())
    with pytest.raises(WeightsError, match="cannot load"):
        load_checkpoint(path, lstm(hidden_size=9))  # shapes do not fit
    (path / "model.safetensors").write_bytes(b"\x00" * 40)
    with pytest.raises(WeightsError, match="cannot load"):
        load_checkpoint(path, lstm())
    with pytest.raises(ConfigError):
        save_checkpoint(tmp_path, "../escape", lstm())


def test_a_checkpoint_stranded_mid_replacement_is_found_and_recovered(tmp_path: Path) -> None:
    model = lstm()
    last = save_checkpoint(tmp_path, "last", model, trainer_state={"epoch": 1})
    stranded = last.parent / ".last.prev"
    os.replace(last, stranded)  # as if killed between "old aside" and "new in place"
    (last.parent / ".last.tmp-dead").mkdir()  # and a half-written replacement
    assert checkpoint_path(tmp_path, "last") == stranded
    assert load_checkpoint(tmp_path, lstm(seed=2))["epoch"] == 1
    assert load_checkpoint(last, lstm(seed=2))["epoch"] == 1
    save_checkpoint(tmp_path, "last", model, trainer_state={"epoch": 2})
    assert sorted(p.name for p in last.parent.iterdir()) == ["last"]
    assert load_checkpoint(tmp_path, lstm(seed=2))["epoch"] == 2


KILLER = textwrap.dedent(
    """
    import json, os, random, signal, sys, time
    from pathlib import Path
    import torch
    from torch import nn
    from seqzoo.core.training import load_checkpoint, save_checkpoint

    run_dir, kills, delay, width = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(1)
    make = lambda: nn.Sequential(nn.Linear(width, width), nn.Linear(width, 8))

    def write_forever(step, ready):
        model = make()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        model(torch.zeros(1, width)).sum().backward()
        optimizer.step()  # momentum buffers: an optimizer file worth tearing
        os.write(ready, b"x")
        while True:
            step += 1
            with torch.no_grad():
                for p in model.parameters():
                    p.fill_(step)
            save_checkpoint(run_dir, "last", model, optimizer, trainer_state={"step": step})

    save_checkpoint(run_dir, "last", make(), trainer_state={"step": 0})
    rng, step, results = random.Random(0), 0, []
    for _ in range(kills):
        read, ready = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            try:
                write_forever(step, ready)
            finally:
                os._exit(1)
        os.close(ready)
        os.read(read, 1)
        os.close(read)
        time.sleep(rng.uniform(0, delay))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        debris = sorted(p.name for p in (run_dir / "checkpoints").iterdir() if p.name[0] == ".")
        probe = make()
        optimizer = torch.optim.SGD(probe.parameters(), lr=0.1, momentum=0.9)
        found = load_checkpoint(run_dir / "checkpoints" / "last", probe, optimizer)["step"]
        whole = all(bool((p == found).all()) for p in probe.parameters())
        results.append({"step": found, "whole": whole, "debris": debris, "last": step})
        step = found
    print(json.dumps(results))
    """
)


def run_killer(tmp_path: Path, kills: int, delay: float, width: int) -> list[dict[str, object]]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", KILLER, str(tmp_path), str(kills), str(delay), str(width)],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to start writers fast")
def test_checkpoints_survive_sigkill_at_random_moments(tmp_path: Path) -> None:
    results = run_killer(tmp_path, kills=20, delay=0.05, width=64)
    assert len(results) == 20
    # every kill leaves a whole checkpoint (weights match its own step) no older than before
    assert all(r["whole"] and r["step"] >= r["last"] for r in results), results
    assert any(r["debris"] for r in results), "no kill landed mid-write: the test tested nothing"
    assert results[-1]["step"] > 0


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SEQZOO_SLOW") != "1", reason="slow: set SEQZOO_SLOW=1")
def test_checkpoints_survive_many_sigkills_of_a_large_writer(tmp_path: Path) -> None:
    results = run_killer(tmp_path, kills=200, delay=0.2, width=512)
    assert all(r["whole"] and r["step"] >= r["last"] for r in results), results
    assert sum(bool(r["debris"]) for r in results) > 20
