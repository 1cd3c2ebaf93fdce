"""The train / evaluate / predict / generate workflow, through the Python API and the CLI."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from conftest import run_seqzoo
from safetensors.torch import load_file

import seqzoo
from seqzoo.core.errors import ConfigError, UnknownNameError
from seqzoo.core.predict import forecast as predict_forecast
from seqzoo.core.workflow import load_run

SMALL_SINE = {"name": "sine", "length": 400, "window": 16}
SMALL_TEXT = {"name": "text", "max_chars": 6000, "seq_len": 32}

# every built-in model on a dataset that fits it
FITS = {
    "linear": ({"name": "regression", "samples": 300, "features": 4}, {}),
    "rnn": (SMALL_SINE, {"hidden_size": 16}),
    "gru": (SMALL_SINE, {"hidden_size": 16}),
    "lstm": (SMALL_SINE, {"hidden_size": 16}),
    "conv-recurrent": (SMALL_SINE, {"channels": [8], "hidden_size": 16}),
    "embedding-lstm": (SMALL_TEXT, {"embedding_dim": 16, "hidden_size": 32}),
    "hybrid": (
        SMALL_SINE,
        {
            "layers": [
                {"layer": "conv1d", "channels": 8},
                {"layer": "lstm", "hidden_size": 16},
                {"layer": "last"},
                {"layer": "linear", "out_features": 1},
            ]
        },
    ),
}


@pytest.mark.parametrize("name", sorted(FITS))
def test_every_builtin_model_trains_with_its_loss_falling(name: str) -> None:
    dataset, config = FITS[name]
    run = seqzoo.train(
        model={"name": name, **config},
        dataset=dataset,
        optimizer={"name": "adam", "lr": 0.01},
        epochs=4,
        batch_size=32,
        seed=0,
        quiet=True,
    )
    losses = run.history.train_loss
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.9 * losses[0], losses
    assert run.model.registry_name == name


def test_resume_through_the_workflow_is_bitwise_equal(tmp_path: Path) -> None:
    arguments = {
        "model": {"name": "gru", "hidden_size": 8},
        "dataset": SMALL_SINE,
        "optimizer": {"name": "adam", "lr": 0.01},
        "schedule": {"name": "step", "step_size": 1, "gamma": 0.9},
        "batch_size": 32,
        "seed": 3,
        "quiet": True,
    }
    seqzoo.train(**arguments, epochs=4, run_dir=tmp_path / "straight")
    seqzoo.train(**arguments, epochs=2, run_dir=tmp_path / "split")
    resumed = seqzoo.train(resume=tmp_path / "split", epochs=4)
    assert len(resumed.history.rows) == 4
    a = load_file(tmp_path / "straight/checkpoints/last/model.safetensors")
    b = load_file(tmp_path / "split/checkpoints/last/model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_bad_parts_name_what_is_wrong() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'sine'"):
        seqzoo.train(dataset="sinee", epochs=1, quiet=True)
    with pytest.raises(ConfigError, match="needs a 'name' key"):
        seqzoo.train(optimizer={"lr": 0.1}, epochs=1, quiet=True)
    with pytest.raises(ConfigError, match="hiden_size"):
        seqzoo.train(model={"name": "lstm", "hiden_size": 3}, dataset=SMALL_SINE, quiet=True)


RUN_FILE = """
model:
  layers:
    - {layer: conv1d, channels: 8, kernel_size: 3}
    - {layer: lstm, hidden_size: 16}
    - {layer: residual, body: [{layer: gru, hidden_size: 16}]}
    - {layer: parallel, branches: [{layer: last}, {layer: mean}]}
    - {layer: linear, out_features: 1}
dataset: {name: sine, length: 400, window: 16}
optimizer: {name: adamw, lr: 0.01}
schedule: {name: cosine, t_max: 3}
trainer: {name: supervised, epochs: 3, batch_size: 32, seed: 0}
"""


def test_a_run_file_with_a_composed_hybrid_trains_from_the_cli(tmp_path: Path) -> None:
    (tmp_path / "run.yaml").write_text(RUN_FILE)
    result = run_seqzoo(
        "train", "--config", str(tmp_path / "run.yaml"), "--run-dir", str(tmp_path / "run")
    )
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "run"
    spec = json.loads((run_dir / "run.json").read_text())
    assert spec["model"]["name"] == "hybrid"
    for name in ("metrics.csv", "history.json", "loss.png", "checkpoints/best/model.safetensors"):
        assert (run_dir / name).is_file(), name
    history = json.loads((run_dir / "history.json").read_text())
    assert len(history["rows"]) == 3
    evaluated = run_seqzoo("evaluate", str(run_dir), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["model"]["mae"] > 0 and "persistence" in report["baselines"]


def test_the_diverging_linear_run_stops_with_the_guard(tmp_path: Path) -> None:
    run_dir = tmp_path / "diverge"
    result = run_seqzoo(
        "train", "--model", "linear", "--dataset", "diabetes", "-D", "scale=false",
        "--optimizer", "sgd", "--lr", "0.5", "--epochs", "5", "--run-dir", str(run_dir),
        "--quiet",
    )  # fmt: skip
    assert result.returncode == 2
    message = result.stderr.strip()
    assert "Traceback" not in message
    assert "epoch 1" in message and "batch" in message
    assert "learning rate" in message and "scaling the inputs" in message
    weights = load_file(run_dir / "checkpoints/last/model.safetensors")
    assert all(torch.isfinite(t).all() for t in weights.values())


@pytest.fixture(scope="module")
def sunspots_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "lstm-sunspots"
    seqzoo.train(
        model={"name": "lstm", "hidden_size": 16},
        dataset="sunspots",
        optimizer={"name": "adam", "lr": 0.01},
        epochs=3,
        seed=0,
        quiet=True,
        run_dir=run_dir,
    )
    return run_dir


def test_predict_writes_n_future_values_in_raw_units_and_a_png(sunspots_run: Path) -> None:
    out = sunspots_run.parent / "forecast.csv"
    png = sunspots_run.parent / "forecast.png"
    result = run_seqzoo(
        "predict", str(sunspots_run), "--steps", "7", "--output", str(out), "--plot", str(png)
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out.open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 8))
    values = [float(r["sunactivity"]) for r in rows]
    assert all(-50 < v < 400 for v in values)  # sunspot numbers, not standardized units
    assert max(values) - min(values) > 1.0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the same forecast through the API, in raw units
    run = load_run(sunspots_run)
    forecast = predict_forecast(run.model, run.data.preprocessing, run.data.series, steps=7)
    assert forecast[:, 0].tolist() == pytest.approx(values, abs=1e-3)


def test_predict_past_a_given_csv(sunspots_run: Path, tmp_path: Path) -> None:
    history = tmp_path / "recent.csv"
    history.write_text("sunactivity\n" + "\n".join(str(10 + i % 11 * 9) for i in range(40)))
    result = run_seqzoo("predict", str(sunspots_run), "--steps", "3", "--input", str(history))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "step,sunactivity"
    assert len(result.stdout.splitlines()) == 4
    missing = tmp_path / "wrong.csv"
    missing.write_text("other\n1\n2\n")
    bad = run_seqzoo("predict", str(sunspots_run), "--input", str(missing))
    assert bad.returncode == 2 and "sunactivity" in bad.stderr


def test_generate_prints_text(tmp_path: Path) -> None:
    run_dir = tmp_path / "lm"
    seqzoo.train(
        model={"name": "embedding-lstm", "embedding_dim": 16, "hidden_size": 32},
        dataset=SMALL_TEXT,
        epochs=1,
        quiet=True,
        run_dir=run_dir,
    )
    result = run_seqzoo(
        "generate", str(run_dir), "--prompt", "def ", "--length", "40", "--seed", "1"
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout.rstrip("\n")
    assert text.startswith("def ") and len(text) >= 4 + 30


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ("train", "--dataset", "csv", "-D", "path=/no/such.csv", "-D", "target=x"),
            "/no/such.csv",
        ),
        (("train", "--model", "lstm", "-M", "hiden_size=3", "--dataset", "nile"), "hiden_size"),
        (("train", "--dataset", "sunspot"), "did you mean 'sunspots'"),
        (("train", "--config", "/no/run.yaml"), "/no/run.yaml"),
        (("train", "-M", "novalue"), "KEY=VALUE"),
        (("evaluate", "/no/run/dir"), "not a run directory"),
        (("predict", "/no/run/dir"), "does not exist"),
    ],
)
def test_bad_input_in_the_cli_is_one_clear_line_and_exit_2(
    args: tuple[str, ...], words: str
) -> None:
    result = run_seqzoo(*args, "--quiet") if args[0] == "train" else run_seqzoo(*args)
    assert result.returncode == 2, result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_a_csv_dataset_with_bad_values_names_file_and_column(tmp_path: Path) -> None:
    data = tmp_path / "series.csv"
    data.write_text("t,load\n" + "\n".join(f"{i},{i * 2}" for i in range(60)) + "\n60,oops\n")
    result = run_seqzoo(
        "train", "--dataset", "csv", "-D", f"path={data}", "-D", "target=load", "-D", "window=4",
        "--epochs", "1", "--quiet", "--run-dir", str(tmp_path / "r"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "series.csv" in result.stderr and "load" in result.stderr
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_flag_values_parse_as_numbers_and_bad_parts_write_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = run_seqzoo(
        "train", "--model", "rnn", "-M", "hidden_size=4", "--dataset", "nile", "--epochs", "1",
        "--schedule", "cosine", "-S", "t_max=5", "-S", "eta_min=1e-5", "-T", "clip=1e-3",
        "--run-dir", str(run_dir), "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    spec = json.loads((run_dir / "run.json").read_text())
    assert spec["schedule"]["eta_min"] == 1e-5 and spec["trainer"]["clip"] == 1e-3
    resumed = run_seqzoo("train", "--resume", str(run_dir), "--epochs", "2", "--lr", "0.5")
    assert resumed.returncode == 2 and "--lr" in resumed.stderr
    for args, words in (
        (("-M", "output=sequence"), "output has shape"),
        (("--lr", "-1"), "rejected its options"),
        (("-T", "patience=0"), "patience"),
    ):
        bad_dir = tmp_path / "bad"
        bad = run_seqzoo(
            "train", "--model", "rnn", "--dataset", "nile", "--epochs", "1", *args,
            "--run-dir", str(bad_dir), "--quiet",
        )  # fmt: skip
        assert bad.returncode == 2 and words in bad.stderr, bad.stderr
        assert not bad_dir.exists()


def test_a_trained_model_saves_with_its_preprocessing(tmp_path: Path) -> None:
    run = seqzoo.train(
        model={"name": "gru", "hidden_size": 4}, dataset="nile", epochs=1, quiet=True
    )
    seqzoo.save_pretrained(run.model, tmp_path / "saved")
    loaded = seqzoo.from_pretrained(tmp_path / "saved", device="cpu")
    assert loaded.pretrained_config["task"] == "forecast"
    assert loaded.pretrained_config["dataset"]["name"] == "nile"
    history = run.data.series
    expected = predict_forecast(run.model.eval(), run.data.preprocessing, history, steps=3)
    again = predict_forecast(loaded, loaded.preprocessing, history, steps=3)
    assert again.ravel().tolist() == pytest.approx(expected.ravel().tolist())
    config = loaded.config
    config["hidden_size"] = 99  # a copy: the model's own record does not change
    assert loaded.config["hidden_size"] == 4


def test_train_flags_for_saving_and_plotting(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = run_seqzoo(
        "train", "--model", "rnn", "-M", "hidden_size=4", "--dataset", "nile", "--epochs", "2",
        "--no-plot", "--save-every", "epoch", "--run-dir", str(run_dir),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "epoch 2/2" in result.stderr  # --no-plot keeps the epoch lines
    spec = json.loads((run_dir / "run.json").read_text())
    assert spec["trainer"]["save_every"] == "epoch" and spec["trainer"]["plot"] is False
    assert not (run_dir / "loss.png").exists()
    resumed = run_seqzoo("train", "--resume", str(run_dir), "--epochs", "3", "--save-every", "5")
    assert resumed.returncode == 0, resumed.stderr
    assert not (run_dir / "loss.png").exists()  # plot=False carries over from run.json
    state = json.loads((run_dir / "checkpoints/last/state.json").read_text())["trainer"]
    assert state["epoch"] == 3 and state["options"]["save_every"] == 5.0
    assert len(json.loads((run_dir / "history.json").read_text())["rows"]) == 3
    bad = run_seqzoo("train", "--resume", str(run_dir), "--epochs", "4", "--save-every", "soon")
    assert bad.returncode == 2 and "save_every" in bad.stderr and "'epoch'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_quiet_cli_run_draws_no_plot(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = run_seqzoo(
        "train", "--model", "rnn", "-M", "hidden_size=4", "--dataset", "nile", "--epochs", "1",
        "--quiet", "--run-dir", str(run_dir),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "epoch 1/1" not in result.stderr
    assert (run_dir / "checkpoints/last/model.safetensors").is_file()
    assert (run_dir / "history.json").is_file() and not (run_dir / "loss.png").exists()
