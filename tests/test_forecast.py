"""``seqzoo.forecast`` and ``seqzoo forecast``: every input form, every bad input, batching.

The model is a tiny zero-shot forecaster built end to end by the real recipe
(``build_zero_shot_entry`` with a few steps), saved, and loaded back from its folder.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY_ZERO_SHOT, build_tiny_forecaster, run_seqzoo

import seqzoo
from seqzoo.core.errors import ConfigError
from seqzoo.core.forecasting import Forecast, SeqzooForecastWarning
from seqzoo.zoo.pretrained import from_pretrained
from seqzoo.zoo.zeroshot import build_zero_shot_entry

LEVELS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


@pytest.fixture(scope="module")
def tiny_entry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    return build_tiny_forecaster(tmp_path_factory.mktemp("zoo"))


@pytest.fixture(scope="module")
def model(tiny_entry: tuple[Path, dict]) -> torch.nn.Module:
    return from_pretrained(tiny_entry[0], device="cpu")


def _series(n: int = 60, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    return 50 + 0.3 * t + 5 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, n)


# -- the recipe, end to end ----------------------------------------------------------------


def test_tiny_recipe_builds_a_loadable_entry_with_its_record(tiny_entry: tuple[Path, dict]) -> None:
    directory, entry = tiny_entry
    assert entry["task"] == "zero-shot-forecast"
    assert entry["training"]["steps"] == TINY_ZERO_SHOT["steps"]
    assert entry["training"]["versions"]["torch"] == torch.__version__
    assert set(entry["files"]) >= {"config.json", "model.safetensors", "README.md"}
    card = (directory / "README.md").read_text(encoding="utf-8")
    assert "seqzoo zoo build zeroshot-lstm-small" in card and "statsmodels" in card
    loaded = from_pretrained(directory, device="cpu")
    from safetensors.torch import load_file

    reference = load_file(str(directory / "reference.safetensors"))
    with torch.no_grad():
        torch.testing.assert_close(loaded(reference["input"]), reference["output"])


def test_pretraining_resumes_from_its_checkpoint_exactly(tmp_path: Path) -> None:
    from seqzoo.zoo.zeroshot import ZERO_SHOT_RECIPES, pretrain

    recipe = {**ZERO_SHOT_RECIPES["zeroshot-lstm-small"], **TINY_ZERO_SHOT}
    whole, _ = pretrain(recipe, tmp_path / "a", steps=6, checkpoint_every=3, log=None)
    pretrain(recipe, tmp_path / "b", steps=6, until=4, checkpoint_every=3, log=None)
    resumed, record = pretrain(
        recipe, tmp_path / "b", steps=6, resume=True, checkpoint_every=3, log=None
    )
    assert record["steps"] == 6
    for (name, a), (_, b) in zip(
        whole.state_dict().items(), resumed.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_a_warm_restart_extends_a_finished_run_exactly(tmp_path: Path) -> None:
    from seqzoo.zoo.zeroshot import ZERO_SHOT_RECIPES, learning_rate, pretrain

    base = {**ZERO_SHOT_RECIPES["zeroshot-lstm-small"], **TINY_ZERO_SHOT, "warmup": 2}
    base.pop("restarts", None)
    longer = {**base, "restarts": [{"at": 4, "lr": 5e-4, "warmup": 1}]}
    # the first cycle is the shorter run's whole schedule; the second starts afresh
    assert [learning_rate(s, longer, 7) for s in range(4)] == [
        learning_rate(s, base, 4) for s in range(4)
    ]
    assert learning_rate(4, longer, 7) == 5e-4 and learning_rate(6, longer, 7) < 5e-4
    whole, _ = pretrain(longer, tmp_path / "a", steps=7, log=None)
    pretrain(base, tmp_path / "b", steps=4, log=None)  # a finished 4-step run ...
    extended, record = pretrain(longer, tmp_path / "b", steps=7, resume=True, log=None)
    assert "warm restarts" in record["optimizer"]["schedule"]
    for (name, a), (_, b) in zip(
        whole.state_dict().items(), extended.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


# -- input forms ---------------------------------------------------------------------------


def test_one_series_as_list_array_and_tensor(model: torch.nn.Module) -> None:
    y = _series()
    results = [seqzoo.forecast(form, 5, model=model) for form in (list(y), y, torch.tensor(y))]
    for result in results:
        assert isinstance(result, Forecast)
        assert result.mean.shape == (5,) and result.quantiles.shape == (5, 9)
        assert result.levels == LEVELS
        assert np.all(np.diff(result.quantiles, axis=-1) >= 0)  # quantiles never cross
        np.testing.assert_allclose(result.mean, result.quantiles.mean(axis=-1))
    np.testing.assert_allclose(results[0].quantiles, results[1].quantiles)
    np.testing.assert_allclose(results[1].quantiles, results[2].quantiles, rtol=1e-6)


def test_batched_equals_one_series_at_a_time(model: torch.nn.Module) -> None:
    ragged = [_series(60, 0), _series(9, 1), _series(200, 2), _series(1, 3), _series(33, 4)]
    batched = seqzoo.forecast(ragged, 20, model=model, batch_size=2)
    assert batched.quantiles.shape == (5, 20, 9)  # 20 > the native 16: rolled out
    for i, series in enumerate(ragged):
        alone = seqzoo.forecast(series, 20, model=model)
        # the same padding, so the same numbers up to float32 summation order
        np.testing.assert_allclose(batched.quantiles[i], alone.quantiles, rtol=1e-6, atol=1e-5)
    square = np.stack([_series(40, s) for s in range(3)])
    result = seqzoo.forecast(square, 4, model=model)
    assert result.mean.shape == (3, 4)


def test_scale_free_and_flat_series(model: torch.nn.Module) -> None:
    y = _series()
    small = seqzoo.forecast(y, 6, model=model).quantiles
    big = seqzoo.forecast(y * 1e6 + 3e7, 6, model=model).quantiles
    np.testing.assert_allclose((big - 3e7) / 1e6, small, rtol=1e-3, atol=1e-3)
    for value in (0.0, 42.0):
        flat = seqzoo.forecast(np.full(30, value), 6, model=model)
        np.testing.assert_allclose(flat.quantiles, value)
    one = seqzoo.forecast([7.5], 3, model=model)
    np.testing.assert_allclose(one.mean, 7.5)


def test_missing_values_and_long_contexts(model: torch.nn.Module) -> None:
    y = _series(300)
    holes = y.copy()
    holes[[5, 100, 250]] = np.nan
    result = seqzoo.forecast(holes, 6, model=model)
    assert np.isfinite(result.quantiles).all()
    # only the last max_context (64) points are read
    np.testing.assert_allclose(
        seqzoo.forecast(y, 6, model=model).quantiles,
        seqzoo.forecast(y[-64:], 6, model=model).quantiles,
    )
    shorter = seqzoo.forecast(y, 6, model=model, context_length=20).quantiles
    np.testing.assert_allclose(shorter, seqzoo.forecast(y[-20:], 6, model=model).quantiles)


def test_requested_quantiles_are_interpolated(model: torch.nn.Module) -> None:
    y = _series()
    full = seqzoo.forecast(y, 4, model=model)
    some = seqzoo.forecast(y, 4, model=model, quantiles=[0.25, 0.5, 0.9])
    assert some.levels == [0.25, 0.5, 0.9]
    np.testing.assert_allclose(some.quantile(0.5), full.median)
    np.testing.assert_allclose(some.quantile(0.25), (full.quantile(0.2) + full.quantile(0.3)) / 2)
    with pytest.raises(ConfigError, match=r"outside the model's range 0\.1\.\.0\.9"):
        seqzoo.forecast(y, 4, model=model, quantiles=[0.01])


def test_pandas_series_continues_its_dates(model: torch.nn.Module) -> None:
    index = pd.date_range("2001-01-01", periods=60, freq="MS")
    result = seqzoo.forecast(pd.Series(_series(), index=index, name="sales"), 3, model=model)
    assert list(result.columns) == ["unique_id", "ds", "mean", *map(str, LEVELS)]
    assert list(result["ds"]) == list(pd.date_range("2006-01-01", periods=3, freq="MS"))
    assert set(result["unique_id"]) == {"sales"}


@pytest.mark.parametrize(
    ("freq", "expected"),
    [
        ("h", "2000-01-03 12:00"),
        ("D", "2000-03-01"),
        ("W-SUN", "2001-02-25"),
        ("QS", "2015-01-01"),
        ("YS", "2060-01-01"),
    ],
)
def test_long_frame_each_series_at_its_own_frequency(
    model: torch.nn.Module, freq: str, expected: str
) -> None:
    frame = pd.DataFrame(
        {
            "unique_id": ["s"] * 60 + ["t"] * 20,
            "ds": [
                *pd.date_range("2000-01-01", periods=60, freq=freq),
                *pd.date_range("1990-01-01", periods=20, freq="MS"),
            ],
            "y": np.r_[_series(60), _series(20, 1)],
        }
    )
    result = seqzoo.forecast(frame, 2, model=model)
    s = result[result.unique_id == "s"]["ds"]
    assert s.iloc[0] == pd.Timestamp(expected)
    t = result[result.unique_id == "t"]["ds"]
    assert list(t) == [pd.Timestamp("1991-09-01"), pd.Timestamp("1991-10-01")]


def test_custom_column_names_and_gaps(model: torch.nn.Module) -> None:
    days = pd.date_range("2020-01-01", periods=40, freq="D")
    kept = days.delete([10, 11, 30])  # a regular series with missing days
    frame = pd.DataFrame({"shop": "a", "day": kept, "sold": _series(40)[: len(kept)]})
    result = seqzoo.forecast(
        frame, 3, model=model, id_col="shop", time_col="day", target_col="sold"
    )
    assert list(result.columns[:3]) == ["shop", "day", "mean"]
    assert result["day"].iloc[0] == pd.Timestamp("2020-02-10")


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "not numbers|empty|no series"),
        (np.array([]), "empty"),
        ([np.nan, np.nan], "all NaN"),
        (["1", "two", "3"], "not numbers .*'two'"),
        (np.zeros((2, 3, 4)), "3 dimensions"),
        ([1.0, np.inf, 2.0], "infinite"),
        ([[1.0, 2.0], []], "series 1 is empty"),
    ],
)
def test_bad_arrays_are_clear_errors(model: torch.nn.Module, data: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        seqzoo.forecast(data, 3, model=model)


@pytest.mark.parametrize("horizon", [0, -1, 2.5, True, 10_000])
def test_bad_horizons(model: torch.nn.Module, horizon: object) -> None:
    with pytest.raises(ConfigError, match="horizon"):
        seqzoo.forecast(_series(), horizon, model=model)


def test_bad_frames(model: torch.nn.Module) -> None:
    good = pd.DataFrame(
        {"unique_id": "a", "ds": pd.date_range("2020", periods=10, freq="D"), "y": 1.0}
    )
    with pytest.raises(ConfigError, match="no column 'y'.*its columns are unique_id, ds, value"):
        seqzoo.forecast(good.rename(columns={"y": "value"}), 3, model=model)
    duplicated = pd.concat([good, good.iloc[[3]]])
    with pytest.raises(
        ConfigError, match="series 'a' has the timestamp 2020-01-04 .* more than once"
    ):
        seqzoo.forecast(duplicated, 3, model=model)
    with pytest.raises(ConfigError, match="no rows"):
        seqzoo.forecast(good.iloc[:0], 3, model=model)
    text = good.assign(y=["1", "2", "x", *["4"] * 7])
    with pytest.raises(ConfigError, match="series 'a' holds values that are not numbers"):
        seqzoo.forecast(text, 3, model=model)
    with pytest.raises(ConfigError, match="not timestamps"):
        seqzoo.forecast(good.assign(ds="soon"), 3, model=model)


def test_irregular_timestamps_warn_and_forecast_on_the_index(model: torch.nn.Module) -> None:
    stamps = pd.to_datetime(
        ["2020-01-01", "2020-01-02", "2020-01-05", "2020-01-13", "2020-01-14", "2020-02-20"]
    )
    frame = pd.DataFrame({"unique_id": "a", "ds": stamps, "y": [1.0, 2, 3, 2, 1, 2]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = seqzoo.forecast(frame, 2, model=model)
    assert any(
        issubclass(w.category, SeqzooForecastWarning) and "irregular" in str(w.message)
        for w in caught
    )
    assert len(result) == 2 and np.isfinite(result["mean"]).all()


def test_point_forecasters_answer_the_same_call() -> None:
    result = seqzoo.forecast(np.linspace(10, 100, 40), 3, model="lstm-sunspots", device="cpu")
    assert result.mean.shape == (3,) and result.quantiles is None
    with pytest.raises(ConfigError, match="point forecasts only"):
        seqzoo.forecast(np.linspace(10, 100, 40), 3, model="lstm-sunspots", quantiles=[0.5])
    with pytest.raises(ConfigError, match="not a forecaster"):
        seqzoo.forecast(np.ones((5,)), 3, model="linear-diabetes", device="cpu")


# -- the command ---------------------------------------------------------------------------


def _long_csv(path: Path) -> Path:
    frame = pd.DataFrame(
        {
            "unique_id": ["a"] * 50 + ["b"] * 30,
            "ds": [
                *pd.date_range("2010-01-01", periods=50, freq="MS"),
                *pd.date_range("2020-01-06", periods=30, freq="W-MON"),
            ],
            "y": np.r_[_series(50), _series(30, 1)],
        }
    )
    frame.to_csv(path, index=False)
    return path


def test_cli_long_csv_with_output_and_plot(tiny_entry: tuple[Path, dict], tmp_path: Path) -> None:
    source = _long_csv(tmp_path / "long.csv")
    out, png = tmp_path / "out" / "fc.csv", tmp_path / "fc.png"
    done = run_seqzoo(
        "forecast",
        str(source),
        "--horizon",
        "4",
        "--model",
        str(tiny_entry[0]),
        "--output",
        str(out),
        "--plot",
        str(png),
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out)
    assert len(table) == 8 and set(table.unique_id) == {"a", "b"}
    assert table[table.unique_id == "b"].ds.iloc[0] == "2020-08-03"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_wide_csv_prints(tiny_entry: tuple[Path, dict], tmp_path: Path) -> None:
    wide = pd.DataFrame(
        {
            "date": pd.date_range("2020-01-01", periods=30, freq="D"),
            "x1": _series(30),
            "x2": _series(30, 5),
        }
    )
    wide.to_csv(tmp_path / "wide.csv", index=False)
    done = run_seqzoo(
        "forecast",
        str(tmp_path / "wide.csv"),
        "--horizon",
        "2",
        "--model",
        str(tiny_entry[0]),
        "--quantiles",
        "0.1,0.5,0.9",
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "unique_id,date,mean,0.1,0.5,0.9"
    assert [line.split(",")[:2] for line in lines[1:3]] == [
        ["x1", "2020-01-31"],
        ["x1", "2020-02-01"],
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--horizon", "0"], "at least 1"),
        (["--target-col", "sales"], "no column 'sales'"),
        (["--quantiles", "a,b"], "--quantiles takes numbers"),
    ],
)
def test_cli_errors_are_one_line_and_write_nothing(
    tiny_entry: tuple[Path, dict], tmp_path: Path, args: list[str], message: str
) -> None:
    source = _long_csv(tmp_path / "long.csv")
    out = tmp_path / "never.csv"
    argv = ["forecast", str(source), "--model", str(tiny_entry[0]), "--output", str(out)]
    if "--horizon" not in args:
        argv += ["--horizon", "3"]
    done = run_seqzoo(*argv, *args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not out.exists() and not list(tmp_path.glob(".never.csv*"))


def test_cli_missing_file(tiny_entry: tuple[Path, dict], tmp_path: Path) -> None:
    done = run_seqzoo(
        "forecast", str(tmp_path / "nope.csv"), "--horizon", "3", "--model", str(tiny_entry[0])
    )
    assert done.returncode == 2 and "no such file" in done.stderr


def test_benchmark_numbers_reach_the_card_and_catalogue(tmp_path: Path) -> None:
    import shutil

    from seqzoo.zoo.build import _record
    from seqzoo.zoo.catalogue import read_catalogue
    from seqzoo.zoo.hub import file_sha256
    from seqzoo.zoo.zeroshot import record_benchmark

    entry = build_zero_shot_entry(
        "zeroshot-lstm-small", tmp_path, 0, work=tmp_path / "w", overrides=TINY_ZERO_SHOT, log=None
    )
    _record(tmp_path / "catalogue.json", {"zeroshot-lstm-small": entry})
    methods = {
        "seasonal naive": {
            "relative_mase": 1.0,
            "relative_wql": 1.0,
            "coverage_80": 0.6,
            "wall_seconds": 0.1,
            "series": 3,
        },
        "AutoETS": {
            "relative_mase": 0.9,
            "relative_wql": 0.8,
            "coverage_80": 0.7,
            "wall_seconds": 2.0,
            "series": 3,
        },
        "zeroshot-lstm-small": {
            "relative_mase": 0.85,
            "relative_wql": 0.82,
            "coverage_80": 0.79,
            "wall_seconds": 0.05,
            "series": 3,
        },
    }
    names = record_benchmark({"methods": methods, "by_frequency": {}}, tmp_path)
    assert names == ["zeroshot-lstm-small"]
    recorded = read_catalogue(tmp_path / "catalogue.json")["entries"]["zeroshot-lstm-small"]
    assert recorded["metrics"]["model"]["relative_mase"] == 0.85
    assert next(iter(recorded["metrics"]["baselines"])) == "AutoETS"
    directory = tmp_path / "models" / "zeroshot-lstm-small"
    card = (directory / "README.md").read_text(encoding="utf-8")
    assert "relative MASE 0.850 vs AutoETS 0.900: 5.6% better" in card
    assert "relative WQL 0.820 vs AutoETS 0.800: 2.5% worse" in card
    assert recorded["files"]["README.md"] == file_sha256(directory / "README.md")
    shutil.rmtree(tmp_path / "w")
