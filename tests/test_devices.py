"""Devices, precision, compilation and threads of the built-in trainers (all on the CPU): the
options and flags, bf16 autocast that learns and resumes bit for bit, the gradient scaler's
state in checkpoints, torch.compile and its fallback, bad values as clear errors (exit 2), and
``benchmarks/gpu_check.py --dry-run``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from test_exact_resume import Interrupting, long_sine
from test_training import REPO, lstm, sine_data, tensors
from torch import Tensor, nn

import seqzoo
from seqzoo.cli import main as cli_main
from seqzoo.core.device import resolve_precision, set_threads
from seqzoo.core.errors import ConfigError
from seqzoo.core.training import TrainingInterrupted, load_checkpoint
from seqzoo.plugins import training_devices
from seqzoo.plugins.models.linear import LinearModel
from seqzoo.plugins.training_loops import TBPTT, CompileFallbackWarning, Supervised

EPOCHS = 3


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tests that change torch's threads leave one behind, as the suite runs."""
    yield
    torch.set_num_threads(1)


def _run(
    model: nn.Module,
    run_dir: Path | None,
    resume: Path | None = None,
    data: Any = None,
    **options: Any,
) -> tuple[Any, torch.optim.Optimizer, Supervised]:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    trainer = Supervised(
        **{"epochs": EPOCHS, "batch_size": 16, "seed": 3, "quiet": True, "run_dir": run_dir,
           "restore_best": False, "plot": False, "save_every": "epoch", **options}
    )  # fmt: skip
    history = trainer.fit(model, data or sine_data(150), optimizer, resume=resume)
    return history, optimizer, trainer


def _dropout_lstm(seed: int = 0, **interrupt: Any) -> nn.Module:
    return Interrupting(lstm(seed, dropout=0.3, num_layers=2), **interrupt)


def _linear(seed: int = 0, **interrupt: Any) -> nn.Module:
    torch.manual_seed(seed)
    return Interrupting(LinearModel(input_size=1, window=16), **interrupt)


def _interrupted_vs_straight(tmp_path: Path, make: Any, at: int, **options: Any) -> tuple:
    """``(straight, resumed)``: each ``(weights, optimizer tensors, train losses, val losses,
    trainer)`` of an uninterrupted run and of one stopped at forward ``at`` and resumed."""
    straight = make()
    history, optimizer, trainer = _run(straight, tmp_path / "straight", **options)
    a = (tensors(straight.state_dict()), tensors(optimizer.state_dict()), history.train_loss,
         history.val_loss, trainer)  # fmt: skip
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingInterrupted) as info:
        _run(make(at=at), run_dir, **options)
    assert info.value.exact
    resumed = make(seed=99)  # other initial weights: the checkpoint wins
    history, optimizer, trainer = _run(resumed, run_dir, resume=run_dir, **options)
    b = (tensors(resumed.state_dict()), tensors(optimizer.state_dict()), history.train_loss,
         history.val_loss, trainer)  # fmt: skip
    return a, b


def _assert_same(a: tuple, b: tuple) -> None:
    pairs = list(zip(a[0], b[0], strict=True)) + list(zip(a[1], b[1], strict=True))
    assert len(pairs) > 3 and all(torch.equal(x, y) for x, y in pairs)
    assert a[2:4] == b[2:4]


# -- devices ------------------------------------------------------------------------------


def test_cpu_and_auto_train_on_the_cpu_and_record_the_options(tmp_path: Path) -> None:
    for device in ("cpu", "auto"):
        model = lstm(0)
        history = _run(model, tmp_path / device, device=device, epochs=2)[0]
        assert next(model.parameters()).device.type == "cpu"  # no GPU here: auto is the CPU
        assert history.train_loss[-1] < history.train_loss[0]
        state = load_checkpoint(tmp_path / device, lstm(1))
        assert state["options"]["device"] == device and state["options"]["precision"] == "32"
        assert "scaler" not in state  # only 16-mixed has one
    assert Supervised(device=" CPU ").device == "cpu"


def test_seqzoo_train_records_device_precision_threads_in_run_json(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    run = seqzoo.train(
        model="linear", dataset="sine", epochs=1, quiet=True, run_dir=tmp_path / "run",
        device="cpu", precision="bf16", threads=2, compile=False,
    )  # fmt: skip
    trainer = json.loads((tmp_path / "run" / "run.json").read_text())["trainer"]
    assert (trainer["device"], trainer["precision"], trainer["threads"]) == ("cpu", "bf16", 2)
    assert torch.get_num_threads() == 2  # set for the run, from before the model was built
    assert run.history.rows


# -- threads ------------------------------------------------------------------------------


class _ThreadsSeen(nn.Module):
    """A linear model that records torch's thread count at each training forward."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.inner, self.seen = LinearModel(input_size=1, window=16), set()

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            self.seen.add(torch.get_num_threads())
        return self.inner(x)


def test_threads_are_set_inside_the_run_and_default_to_one() -> None:
    for threads, expected in ((2, 2), (None, 3), (1, 1)):
        torch.set_num_threads(3)
        model = _ThreadsSeen()
        kwargs = {} if threads == 1 else {"threads": threads}  # 1 is the default
        _run(model, None, epochs=1, **kwargs)
        assert model.seen == {expected}, threads


# -- precision ----------------------------------------------------------------------------


def test_bf16_autocast_trains_and_resumes_bit_for_bit(tmp_path: Path) -> None:
    a, b = _interrupted_vs_straight(tmp_path, _dropout_lstm, at=9, precision="bf16")
    _assert_same(a, b)
    assert a[2][-1] < a[2][0]  # it learns
    fp32 = _run(_dropout_lstm(), None)[0].train_loss
    assert fp32 != a[2]  # autocast did change the arithmetic


def test_bf16_autocast_works_for_tbptt() -> None:
    torch.manual_seed(0)
    model = lstm(0, output="sequence", hidden_size=8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    trainer = TBPTT(chunk=20, epochs=2, batch_size=2, quiet=True, plot=False, precision="bf16")
    history = trainer.fit(model, long_sine(), optimizer)
    assert history.train_loss[-1] < history.train_loss[0]


def test_16_mixed_needs_cuda_and_names_bf16() -> None:
    with pytest.raises(ConfigError, match="needs a CUDA device.*use precision 'bf16'"):
        _run(lstm(0), None, precision="16-mixed")


def test_the_gradient_scaler_state_is_checkpointed_and_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # fp16 autocast of a linear model runs on the CPU: the scaler path, minus a GPU
    monkeypatch.setattr(training_devices, "FP16_DEVICES", ("cuda", "cpu"))
    a, b = _interrupted_vs_straight(tmp_path, _linear, at=8, precision="16-mixed")
    _assert_same(a, b)
    scaler_a, scaler_b = a[4]._scaler_state, b[4]._scaler_state
    # one overflow halved the scale at the start; the count since then spans the interrupt
    assert scaler_a == scaler_b and scaler_a["scale"] < 2.0**16
    assert scaler_a["_growth_tracker"] > 6 * EPOCHS - 7  # more steps than after the resume
    state = load_checkpoint(tmp_path / "run", _linear())
    assert state["scaler"] == scaler_b


@pytest.mark.parametrize("value", ["32", 32, "bf16-mixed", "16", "fp32"])
def test_precision_aliases(value: Any) -> None:
    assert resolve_precision(value) in ("32", "bf16", "16-mixed")


# -- compile ------------------------------------------------------------------------------


def test_compile_falls_back_when_torch_compile_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    eager = _run(_dropout_lstm(), None)[0].train_loss

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no compiler for this platform\nsecond line")

    monkeypatch.setattr(torch, "compile", refuse)
    with pytest.warns(CompileFallbackWarning, match="no compiler for this platform.*uncompiled"):
        history = _run(_dropout_lstm(), None, compile=True)[0]
    assert history.train_loss == eager  # trained on, uncompiled


def test_compile_falls_back_when_the_first_call_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    eager = _run(_dropout_lstm(), None)[0].train_loss
    calls = []

    def lazy(function: Any, **kwargs: Any) -> Any:
        def broken(*args: Any) -> Any:
            calls.append(1)
            torch.rand(5)  # draws from the RNG, then fails, as a tracing compiler may
            raise RuntimeError("backend compiler failed")

        return broken

    monkeypatch.setattr(torch, "compile", lazy)
    with pytest.warns(CompileFallbackWarning, match="backend compiler failed"):
        history = _run(_dropout_lstm(), None, compile=True)[0]
    assert calls == [1] and history.train_loss == eager  # the same random numbers


def test_seqzoo_train_prints_the_fallback_as_one_warning_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", refuse)
    cli_main(["train", "--model", "linear", "--epochs", "1", "--quiet", "--compile",
              "--run-dir", str(tmp_path / "run")])  # fmt: skip
    err = capsys.readouterr().err
    assert "warning: torch.compile could not compile LinearModel (RuntimeError: no compiler" in err
    assert "training continues uncompiled" in err and "Warning:" not in err
    assert (tmp_path / "run" / "checkpoints" / "last").is_dir()  # it trained on


def _compiled_run(model: nn.Module) -> list[float]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileFallbackWarning)  # it really compiled
        return _run(model, None, epochs=2, compile=True)[0].train_loss


def test_compile_trains_the_linear_model() -> None:
    torch._dynamo.reset()
    losses = _compiled_run(_linear())
    assert losses[-1] < losses[0]


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SEQZOO_SLOW") != "1", reason="slow: set SEQZOO_SLOW=1")
def test_compile_trains_the_lstm() -> None:  # 10-25 s of compiling on two busy cores
    torch._dynamo.reset()
    losses = _compiled_run(lstm(0))
    assert losses[-1] < losses[0]


# -- bad values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "tpu"], "unknown device 'tpu'; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"),
        (["--device", "cuda"], "CUDA is not available here"),
        (["--device", "cuda:3"], "CUDA is not available here"),
        (["--precision", "8"], "'8' is not one of '32', 'bf16', '16-mixed'"),
        (["--threads", "0"], "0 is not in the range x>=1"),
        (["-T", "precision=8"], "unknown precision 8; use one of 32, bf16, 16-mixed"),
        (["-T", "threads=0"], "threads: must be a whole number of threads >= 1"),
        (["-T", "compile=maybe"], "compile: must be true or false"),
        (["--precision", "16-mixed"], "needs a CUDA device"),
    ],
)
def test_bad_values_exit_2_naming_the_allowed_ones(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["train", "--model", "linear", "--epochs", "1", "--quiet", "--run-dir",
            str(tmp_path / "run"), *args]  # fmt: skip
    with pytest.raises(SystemExit) as info:
        cli_main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run" / "run.json").exists()  # refused before anything was written


@pytest.mark.parametrize("command", ["predict", "evaluate", "generate", "forecast"])
def test_inference_commands_take_threads(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    cli_main([command, "--help"])
    assert "--threads" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        cli_main([command, "x", "--threads", "0"])
    assert info.value.code == 2 and "'--threads': 0 is not in the range" in capsys.readouterr().err


def test_set_threads_refuses_zero_and_bools() -> None:
    for bad in (0, -1, True, 1.5, "2"):
        with pytest.raises(ConfigError, match="threads"):
            set_threads(bad)
    assert set_threads(None) == torch.get_num_threads()


# -- the GPU check script -----------------------------------------------------------------


def test_gpu_check_dry_run_writes_its_table(tmp_path: Path) -> None:
    out = tmp_path / "gpu_check.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQZOO_")}
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", SEQZOO_CACHE_DIR=str(tmp_path / "c"))
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--dry-run", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = out.read_text()
    assert "dry run" in table and "on the CPU" in table
    assert "trainer / hand loop" in table  # the ddp trainer is registered; the GPUs decide
    assert "GPU(s), 2 needed" in table or "a ddp trainer is registered" in table
    assert table.strip() in done.stdout
