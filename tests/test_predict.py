"""Point forecasts of per-dataset models: many series batched, and the stored last window."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO

import seqzoo
from seqzoo.core.errors import ConfigError, ShapeError
from seqzoo.core.predict import LAST_WINDOW_NAME, forecast, read_last_window
from seqzoo.zoo.catalogue import bundled_directory
from seqzoo.zoo.layout import parse_config

WINDOW = 22  # lstm-sunspots


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _walks(count: int, seed: int = 0, low: int = WINDOW, high: int = 120) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(low, high, size=count)
    return [50 + np.cumsum(rng.normal(0, 6, size=int(n))) for n in lengths]


def _sunspots(dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    return seqzoo.from_pretrained("lstm-sunspots", device="cpu").to(dtype)


def test_batched_ragged_forecasts_equal_one_series_at_a_time() -> None:
    # float64 weights: the same arithmetic batched or not, to well below 1e-6 (float32 BLAS
    # kernels round differently by batch size, at float32 precision)
    model = _sunspots(torch.float64)
    prep = model.preprocessing
    histories = _walks(23)
    looped = np.stack([forecast(model, prep, h, 10) for h in histories])
    for batch_size in (1, 5, 256):  # several batches, a partial last one, a single batch
        batched = forecast(model, prep, histories, 10, batch_size=batch_size)
        assert batched.shape == (23, 10, 1)
        np.testing.assert_allclose(batched, looped, rtol=0, atol=1e-6)
    # float32 (as loaded): equal to float32 rounding, in raw units (sunspot numbers ~ 10..200)
    model32 = _sunspots()
    single = np.stack([forecast(model32, prep, h, 10) for h in histories])
    np.testing.assert_allclose(forecast(model32, prep, histories, 10), single, rtol=1e-4)


def test_every_input_form_gives_the_same_forecasts() -> None:
    model = _sunspots(torch.float64)
    prep = model.preprocessing
    histories = [h[-40:] for h in _walks(4, seed=1, low=40)]
    matrix = np.stack(histories)  # (series, time)
    expected = forecast(model, prep, histories, 3)
    np.testing.assert_array_equal(forecast(model, prep, matrix[:, :, None], 3), expected)
    np.testing.assert_array_equal(
        forecast(model, prep, torch.tensor(matrix[:, :, None]), 3), expected
    )
    # one series, 1-D or (time, columns), keeps its (steps, targets) answer
    np.testing.assert_array_equal(forecast(model, prep, histories[2], 3), expected[2])
    np.testing.assert_array_equal(forecast(model, prep, histories[2][:, None], 3), expected[2])
    # seqzoo.predict: 2-D is (series, time), as in seqzoo.forecast; a long DataFrame too
    np.testing.assert_array_equal(seqzoo.predict(model, matrix, 3), expected)
    np.testing.assert_array_equal(seqzoo.predict(model, histories[1], 3), expected[1])
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(["a", "b", "c", "d"], 40),
            "ds": np.tile(pd.date_range("2000-01-01", periods=40, freq="MS"), 4),
            "y": matrix.reshape(-1),
        }
    )
    result = seqzoo.predict(model, frame, 3)
    assert list(result.columns) == ["unique_id", "ds", "mean"]
    assert result["ds"].iloc[0] == pd.Timestamp("2003-05-01")  # each series continues
    np.testing.assert_allclose(result["mean"].to_numpy(), expected[:, :, 0].reshape(-1))


def test_short_or_bad_histories_are_clear_errors_naming_the_series() -> None:
    model = _sunspots()
    prep = model.preprocessing
    histories = _walks(3)
    histories[1] = histories[1][:5]
    with pytest.raises(ConfigError, match="series 1 has 5 rows.*window of 22"):
        forecast(model, prep, histories, 2)
    with pytest.raises(ConfigError, match=r"series 'b' has 5 rows"):
        forecast(model, prep, histories, 2, names=["series 'a'", "series 'b'", "series 'c'"])
    frame = pd.DataFrame({"unique_id": ["x"] * 30 + ["y"] * 8, "ds": [*range(30), *range(8)]})
    frame["y"] = np.arange(38.0)
    with pytest.raises(ConfigError, match=r"series 'y' has 8 rows"):
        seqzoo.predict(model, frame, 2)
    with pytest.raises(ShapeError, match=r"shape \(time, 1\)"):
        forecast(model, prep, np.ones((2, 30, 3)), 2)
    gap = _walks(1)[0]
    gap[-3] = np.nan
    with pytest.raises(ConfigError, match="missing or infinite value"):
        forecast(model, prep, [gap], 2)
    with pytest.raises(ConfigError, match="batch_size"):
        forecast(model, prep, histories[:1], 2, batch_size=0)


def test_zoo_forecast_front_door_batches_point_models_too() -> None:
    model = seqzoo.from_pretrained("lstm-sunspots", device="cpu")
    histories = _walks(6, seed=2)
    histories[0][3] = np.nan  # dropped by the front door: point models take observed values
    result = seqzoo.forecast(histories, 4, model=model)
    expected = [forecast(model, model.preprocessing, h[np.isfinite(h)], 4)[:, 0] for h in histories]
    np.testing.assert_allclose(result.mean, np.stack(expected), rtol=1e-4)


def test_zoo_forecasters_store_their_last_window_in_their_file_list() -> None:
    catalogue = json.loads((REPO / "seqzoo" / "zoo" / "catalogue.json").read_text())["entries"]
    for name in ("lstm-sunspots", "rnn-nile", "gru-co2", "conv-lstm-elec-equip"):
        folder = bundled_directory(name)
        config = parse_config(json.loads((folder / "config.json").read_text()), name)
        assert LAST_WINDOW_NAME in config["files"] and LAST_WINDOW_NAME in catalogue[name]["files"]
        record = read_last_window(folder)
        assert record is not None
        assert record["rows"].shape == (config["preprocessing"]["window"], 1)
        assert f"`{LAST_WINDOW_NAME}`" in (folder / "README.md").read_text()
    for name in ("linear-diabetes", "charlstm-pydoc"):  # nothing to continue
        assert not (bundled_directory(name) / LAST_WINDOW_NAME).exists()


def test_the_stored_window_continues_the_series_as_the_rebuilt_dataset_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqzoo.core import workflow

    model = seqzoo.from_pretrained("lstm-sunspots", device="cpu")
    _, data = workflow.build_parts({"dataset": model.pretrained_config["dataset"]}, model_too=False)
    expected = forecast(model, model.preprocessing, data.series, 8)
    record = read_last_window(bundled_directory("lstm-sunspots"))
    np.testing.assert_array_equal(record["rows"], np.asarray(data.series)[-WINDOW:])
    assert record["length"] == len(data.series)
    # an old folder (no last_window.json) rebuilds its dataset and gives the same numbers
    old = tmp_path / "old"
    shutil.copytree(bundled_directory("lstm-sunspots"), old)
    (old / LAST_WINDOW_NAME).unlink()
    config = json.loads((old / "config.json").read_text())
    del config["seqzoo"]["files"][LAST_WINDOW_NAME]
    (old / "config.json").write_text(json.dumps(config))
    np.testing.assert_array_equal(seqzoo.predict(old, steps=8, device="cpu"), expected)

    def no_dataset(*args: object, **kwargs: object) -> None:
        raise AssertionError("built a dataset")

    monkeypatch.setattr(workflow, "build_parts", no_dataset)
    np.testing.assert_array_equal(seqzoo.predict("lstm-sunspots", steps=8, device="cpu"), expected)
    with pytest.raises(AssertionError, match="built a dataset"):
        seqzoo.predict(old, steps=8, device="cpu")


def test_predict_of_a_zoo_name_imports_no_dataset_library() -> None:
    code = (
        "import sys\n"
        "from seqzoo.cli import main\n"
        "try:\n"
        "    main(['predict', 'lstm-sunspots', '--steps', '2'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'statsmodels', 'pandas'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "step,sunactivity" and len(lines) == 4
    assert lines[-1] == "[]"


def test_a_run_directory_forecasts_from_its_stored_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqzoo.core import workflow

    run_dir = tmp_path / "run"
    seqzoo.train(
        model={"name": "gru", "hidden_size": 8},
        dataset={"name": "sine", "length": 300, "window": 12},
        epochs=2,
        seed=0,
        quiet=True,
        run_dir=run_dir,
    )
    record = read_last_window(run_dir)
    assert record is not None and record["rows"].shape == (12, 1)
    assert record["model"]["name"] == "gru"
    run = workflow.load_run(run_dir)
    expected = forecast(run.model, run.data.preprocessing, run.data.series, 5)
    histories = _walks(3, low=12, high=40)
    many = forecast(run.model, run.data.preprocessing, histories, 5)

    def no_dataset(*args: object, **kwargs: object) -> None:
        raise AssertionError("built a dataset")

    monkeypatch.setattr(workflow, "build_parts", no_dataset)
    np.testing.assert_array_equal(seqzoo.predict(run_dir, steps=5), expected)
    np.testing.assert_array_equal(seqzoo.predict(run_dir, histories, 5), many)
