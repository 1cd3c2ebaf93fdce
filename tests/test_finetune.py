"""Fine-tuning from a zoo model: ``seqzoo train --init NAME`` and ``seqzoo.train(init=NAME)``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_seqzoo

import seqzoo
from seqzoo.core.errors import ConfigError, UnknownNameError
from seqzoo.core.workflow import load_run
from seqzoo.zoo.catalogue import read_catalogue
from seqzoo.zoo.finetune import finetune_forecaster, forecaster_windows
from seqzoo.zoo.zeroshot import pinball_loss

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
TINY = {"d_model": 16, "hidden_size": 16, "patch_size": 8, "max_context": 64, "horizon": 16}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def spots_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 sunspot-like values whose mean (~90) is far from the zoo model's (~43)."""
    rng = np.random.default_rng(0)
    t = np.arange(200)
    y = 90 + 60 * np.sin(2 * np.pi * t / 11) + rng.normal(0, 8, len(t))
    path = tmp_path_factory.mktemp("data") / "spots.csv"
    path.write_text("year,y\n" + "".join(f"{1800 + i},{v:.3f}\n" for i, v in enumerate(y)))
    return path


def _seasonal(length: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    return 10 + 3 * np.sin(2 * np.pi * t / 12) + 0.02 * t + rng.normal(0, 0.3, length)


def _tiny_forecaster() -> torch.nn.Module:
    torch.manual_seed(0)
    return seqzoo.create_model("patch-forecaster", **TINY)


def test_init_from_a_bundled_entry_fine_tunes_in_the_zoo_models_units(
    spots_csv: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    result = run_seqzoo(
        "train", "--init", "lstm-sunspots", "--dataset", "csv", "-D", f"path={spots_csv}",
        "-D", "target=y", "--epochs", "2", "--seed", "0", "--quiet", "--run-dir", str(run_dir),
        env=ONE_THREAD,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    zoo = seqzoo.from_pretrained("lstm-sunspots", device="cpu")
    tuned = seqzoo.from_pretrained(run_dir, device="cpu")

    # the architecture carried over, the weights moved
    assert tuned.registry_name == "lstm" and tuned.config == zoo.config
    moved = [k for k, v in tuned.state_dict().items() if not torch.equal(v, zoo.state_dict()[k])]
    assert moved, "fine-tuning left every weight as it was"

    # the zoo model's scalers, not refit on the CSV (whose mean is ~90, not ~43)
    mean = zoo.preprocessing.input_scaler.mean_
    assert mean[0] < 60
    for model in (tuned, load_run(run_dir).model):
        assert model.preprocessing.input_scaler.mean_.tolist() == mean.tolist()
        assert model.preprocessing.target_scaler.scale_.tolist() == (
            zoo.preprocessing.target_scaler.scale_.tolist()
        )
        assert model.preprocessing.window == zoo.preprocessing.window  # 22, as the zoo's
    run = load_run(run_dir)
    raw = np.loadtxt(spots_csv, delimiter=",", skiprows=1)[:, 1]
    expected = (raw[:22] - mean[0]) / zoo.preprocessing.input_scaler.scale_[0]
    assert run.data.train.inputs[0, :, 0].double().numpy() == pytest.approx(expected, abs=1e-5)
    assert run.spec["dataset"]["window"] == 22

    # config and card say where it came from
    sha = read_catalogue()["entries"]["lstm-sunspots"]["files"]["model.safetensors"]
    recorded = json.loads((run_dir / "config.json").read_text())["seqzoo"]["fine_tuned_from"]
    assert recorded["name"] == "lstm-sunspots" and recorded["sha256"] == sha
    assert recorded["repo_id"] == "seqzoo/lstm-sunspots"
    assert tuned.pretrained_config["fine_tuned_from"] == recorded
    assert "Fine-tuned from lstm-sunspots" in (run_dir / "README.md").read_text()
    assert json.loads((run_dir / "run.json").read_text())["init"]["sha256"] == sha

    # a fine-tuned model saved again keeps the record
    assert run.model.pretrained_config["fine_tuned_from"]["name"] == "lstm-sunspots"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--model", "gru"), ["'lstm-sunspots' is a 'lstm' model", "--model"]),
        (("-M", "hidden_size=64"), ["hidden_size=64", "shape", "-M hidden_size"]),
        (("-D", "horizon=3"), ["horizon must be 1", "-D horizon"]),
    ],
)
def test_init_with_a_conflicting_model_is_one_clear_line_and_exit_2(
    spots_csv: Path, tmp_path: Path, args: tuple[str, ...], words: list[str]
) -> None:
    run_dir = tmp_path / "run"
    result = run_seqzoo(
        "train", "--init", "lstm-sunspots", *args, "--dataset", "csv", "-D", f"path={spots_csv}",
        "-D", "target=y", "--epochs", "1", "--quiet", "--run-dir", str(run_dir), env=ONE_THREAD,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in words:
        assert word in result.stderr
    assert not run_dir.exists()


def test_init_naming_the_same_architecture_and_a_shape_free_option_is_fine() -> None:
    run = seqzoo.train(
        init="rnn-nile", model={"name": "rnn", "dropout": 0.0}, dataset="nile", epochs=1,
        quiet=True,
    )  # fmt: skip
    assert run.model.registry_name == "rnn" and run.spec["init"]["name"] == "rnn-nile"
    with pytest.raises(ConfigError, match="num_layers"):
        seqzoo.train(init="rnn-nile", model={"num_layers": 2}, dataset="nile", quiet=True)


def test_an_unknown_init_suggests_close_names() -> None:
    result = run_seqzoo("train", "--init", "lstm-sunspot", "--quiet", env=ONE_THREAD)
    assert result.returncode == 2
    assert "did you mean 'lstm-sunspots'" in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(UnknownNameError, match="'gru-co2'"):
        seqzoo.train(init="gru-c02", dataset="nile", quiet=True)


def test_fine_tuning_a_tiny_forecaster_lowers_its_validation_pinball_loss() -> None:
    model = _tiny_forecaster()
    series = [_seasonal(300, 1), _seasonal(220, 2)]
    history = finetune_forecaster(
        model, series, steps=120, batch_size=16, lr=3e-3, seed=0, validation=16, eval_every=20
    )
    before, best = history.rows[0].val_loss, history.result.best_value
    assert best < 0.7 * before, (before, best)
    assert history.result.best_epoch > 0

    # the model holds the best weights: recompute its validation loss independently
    origins = [(i, len(s) - 16) for i, s in enumerate(series)]
    past, future = forecaster_windows(series, origins, 64, 16)
    with torch.no_grad():
        predicted, loc, scale = model.forward_scaled(past)
    target = ((future - loc) / scale).clamp(-100, 100)
    value = float(pinball_loss(predicted, target, torch.tensor(model.quantiles)))
    assert value == pytest.approx(best, rel=1e-5)
    assert not model.training


def test_the_held_out_points_never_reach_training_and_runs_are_seeded() -> None:
    series = _seasonal(200, 3)
    changed = series.copy()
    changed[-16:] += 50.0  # only the held-out validation tail differs
    runs = []
    for values in (series, series, changed):
        model = _tiny_forecaster()
        runs.append(finetune_forecaster(model, [values], steps=40, batch_size=8, seed=4))
    train_losses = [[row.train_loss for row in h.rows[1:]] for h in runs]
    assert train_losses[0] == train_losses[1] == train_losses[2]
    assert runs[0].rows[-1].val_loss == runs[1].rows[-1].val_loss
    assert runs[2].rows[-1].val_loss != runs[0].rows[-1].val_loss
    with pytest.raises(ConfigError, match="too few"):
        finetune_forecaster(_tiny_forecaster(), [series[:30]], steps=1)


def test_a_fine_tuned_forecaster_run_loads_back_with_the_same_config(tmp_path: Path) -> None:
    source = _tiny_forecaster()
    seqzoo.save_pretrained(source, tmp_path / "tiny")
    values = _seasonal(300, 5)
    csv = tmp_path / "series.csv"
    csv.write_text("ds,y\n" + "".join(f"{i},{v:.5f}\n" for i, v in enumerate(values)))
    run_dir = tmp_path / "run"
    result = run_seqzoo(
        "train", "--init", str(tmp_path / "tiny"), "--dataset", "csv", "-D", f"path={csv}",
        "-D", "target=y", "-T", "steps=40", "--lr", "3e-3", "--quiet", "--run-dir", str(run_dir),
        env=ONE_THREAD,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    loaded = seqzoo.from_pretrained(run_dir, device="cpu")
    assert loaded.registry_name == "patch-forecaster"
    assert loaded.config == source.config
    assert loaded.pretrained_config["fine_tuned_from"]["path"] == str((tmp_path / "tiny").resolve())
    assert "Fine-tuned from" in (run_dir / "README.md").read_text()
    spec = json.loads((run_dir / "run.json").read_text())
    assert spec["trainer"]["name"] == "finetune-forecaster" and spec["trainer"]["steps"] == 40
    moved = any(not torch.equal(v, source.state_dict()[k]) for k, v in loaded.state_dict().items())
    history = json.loads((run_dir / "history.json").read_text())
    assert moved == (history["result"]["best_epoch"] > 0)
    # the test part (the last 15%) was never seen; forecasts run on the loaded model
    assert spec["trainer"]["validation"] == 45
    context = torch.tensor(values[:-45], dtype=torch.float32)[None]
    again = load_run(run_dir).model
    assert torch.equal(loaded.predict(context, 20), again.predict(context, 20))
    # a forecaster run is extended with --init RUN_DIR, not resumed
    resumed = run_seqzoo("train", "--resume", str(run_dir), env=ONE_THREAD)
    assert resumed.returncode == 2 and f"--init {run_dir}" in resumed.stderr
