"""The data contract and the built-in datasets: shapes, zero-copy windows, leak-free splits and
scaling, preprocessing round trips, tokenization, and errors that name the file and column."""

from __future__ import annotations

import inspect
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import seqzoo
from seqzoo.core.data import (
    Preprocessing,
    SequenceData,
    Split,
    chronological_split,
    forecast_data,
    random_split,
    sliding_windows,
)
from seqzoo.core.errors import ConfigError, ShapeError
from seqzoo.core.registry import Registry
from seqzoo.core.scaling import StandardScaler
from seqzoo.plugins.datasets.files import csv_series
from seqzoo.plugins.datasets.real import co2, diabetes, elec_equip, nile, sunspots
from seqzoo.plugins.datasets.synthetic import (
    BLANK,
    DELIMITER,
    adding,
    copy_memory,
    regression,
    sine,
)
from seqzoo.plugins.datasets.text import (
    build_tokenizer,
    decode,
    default_corpus,
    encode,
    text,
    text_classification,
)

DATASETS = {
    "sine", "adding", "copy", "regression", "diabetes", "sunspots", "co2", "nile",
    "elec-equip", "text", "text-classification", "csv",
}  # fmt: skip
PARTS = ("train", "validation", "test")
ZOO_MODELS = Path(seqzoo.__file__).parent / "zoo" / "models"


def write(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path


def ramp_csv(tmp_path: Path, rows: int = 100) -> Path:
    """A series whose value is its row number (0 .. rows-1), plus a feature 1000 + 2 * value."""
    lines = ["step,value,other"] + [f"{i},{i},{1000 + 2 * i}" for i in range(rows)]
    return write(tmp_path / "ramp.csv", "\n".join(lines) + "\n")


# -- the plugin module and its registrations ---------------------------------------------------


def test_plugin_module_imports_no_heavy_library() -> None:
    heavy = ("torch", "numpy", "sklearn", "statsmodels", "pandas", "tokenizers")
    code = (
        "import sys, seqzoo.plugins.datasets as p; "
        f"print([m for m in {heavy!r} if m in sys.modules], p.SEQZOO_HOOK_API)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] 1"


def test_every_dataset_is_registered_with_task_source_and_units() -> None:
    registry = Registry()
    assert set(registry.names("dataset")) >= DATASETS
    for name in DATASETS:
        spec = registry.get("dataset", name)
        assert spec.plugin.distribution == "seqzoo"
        assert spec.description and "\n" not in spec.description
        assert spec.metadata["task"] in (
            "forecast",
            "regression",
            "classification",
            "language-model",
        )
        assert spec.metadata["source"] and spec.metadata["units"]
        assert spec.factory_path.startswith("seqzoo.plugins.datasets.")


def test_registered_defaults_match_the_factory_signature() -> None:
    """Every keyword default is registered, with the same plain-JSON value."""
    for spec in Registry().list("dataset"):
        if spec.plugin.distribution != "seqzoo":
            continue
        parameters = inspect.signature(spec.load()).parameters
        with_defaults = {
            key: json.loads(json.dumps(p.default))
            for key, p in parameters.items()
            if p.default is not inspect.Parameter.empty
        }
        assert dict(spec.defaults) == with_defaults, spec.name


def test_registry_builds_a_dataset_over_its_defaults() -> None:
    data = Registry().create("dataset", "sine", length=300, window=8)
    assert isinstance(data, SequenceData)
    assert data.train.inputs.shape[1:] == (8, 1)
    assert data.metadata["noise"] == 0.1  # the registered default applied


def test_registry_passes_a_path_to_file_datasets(tmp_path: Path) -> None:
    data = Registry().create(
        "dataset", "csv", path=str(ramp_csv(tmp_path)), target="value", window=4
    )
    assert data.metadata["path"].endswith("ramp.csv")


# -- the contract: windows, splits, batches, preprocessing ---------------------------------------


def test_sliding_windows_are_views_of_the_series() -> None:
    series = torch.arange(20.0).reshape(10, 2)
    windows = sliding_windows(series, window=3, horizon=2)
    assert windows.shape == (6, 5, 2)
    assert windows._base is not None
    assert windows.untyped_storage().data_ptr() == series.untyped_storage().data_ptr()
    assert torch.equal(windows[4], series[4:9])
    series[5, 1] = -1.0  # a write to the series shows through every window over that row
    assert windows[3, 2, 1] == -1.0
    with pytest.raises(ConfigError, match="fewer than one window"):
        sliding_windows(series, window=8, horizon=3)
    with pytest.raises(ShapeError, match="unsqueeze"):
        sliding_windows(torch.arange(10.0), window=3)
    with pytest.raises(ConfigError, match="window"):
        sliding_windows(series, window=0)


def test_chronological_and_random_splits_partition_the_indices() -> None:
    train, validation, test = chronological_split(100, 0.15, 0.15)
    assert (train, validation, test) == (slice(0, 70), slice(70, 85), slice(85, 100))
    parts = random_split(100, 0.15, 0.15, seed=3)
    assert [len(p) for p in parts] == [70, 15, 15]
    assert sorted(torch.cat(parts).tolist()) == list(range(100))
    assert all(torch.equal(a, b) for a, b in zip(parts, random_split(100, seed=3), strict=True))
    with pytest.raises(ConfigError, match="sum below 1"):
        chronological_split(10, 0.6, 0.5)


@pytest.mark.parametrize(("batch_size", "drop_last"), [(7, False), (10, False), (7, True)])
def test_shuffled_batches_cover_every_sample_once(batch_size: int, drop_last: bool) -> None:
    split = Split(torch.arange(50).reshape(50, 1), torch.arange(50), torch.full((50,), 3))
    generator = torch.Generator().manual_seed(0)
    seen = []
    for inputs, targets, lengths in split.batches(
        batch_size, shuffle=True, generator=generator, drop_last=drop_last
    ):
        assert torch.equal(inputs[:, 0], targets)  # rows stay paired
        assert lengths is not None and len(lengths) == len(targets)
        seen += targets.tolist()
    expected = 50 - 50 % batch_size if drop_last else 50
    assert len(seen) == len(set(seen)) == expected
    assert seen != sorted(seen)  # actually shuffled
    with pytest.raises(ConfigError, match="batch_size"):
        next(split.batches(0))


def test_preprocessing_round_trips_through_json() -> None:
    data = forecast_data(
        "toy", np.random.default_rng(0).normal(5, 3, size=(200, 3)), window=4, targets=2,
        columns=["a", "b", "c"],
    )  # fmt: skip
    original = data.preprocessing
    restored = Preprocessing.from_dict(json.loads(json.dumps(original.to_dict())))
    x = np.random.default_rng(1).normal(size=(6, 4, 3))
    y = np.random.default_rng(2).normal(size=(6, 2))
    assert np.array_equal(original.scale_inputs(x), restored.scale_inputs(x))
    assert np.array_equal(original.unscale_targets(y), restored.unscale_targets(y))
    assert restored.to_dict() == original.to_dict()
    assert (restored.window, restored.target_names) == (4, ["b", "c"])


# -- scaling -----------------------------------------------------------------------------------

SCALER_ROWS = {
    "normal": np.random.default_rng(0).normal(5.0, 3.0, size=(50, 3)),
    "large offset, tiny spread": np.random.default_rng(1).normal(1e6, 1e-3, size=(1000, 2)),
    "constant columns": np.c_[
        np.full(40, 7.3), np.random.default_rng(2).normal(size=40), np.zeros(40), np.full(40, 1e10)
    ],
    "many rows": np.random.default_rng(3).normal(17.0, 1e3, size=(100_000, 4)),
    "float32": np.random.default_rng(4).normal(size=(20, 2)).astype(np.float32),
    "integers": np.arange(30).reshape(10, 3),
}


@pytest.mark.parametrize("case", list(SCALER_ROWS))
def test_the_scaler_fits_and_scales_exactly_as_scikit_learn(case: str) -> None:
    from sklearn.preprocessing import StandardScaler as Reference

    rows = SCALER_ROWS[case]
    ours, reference = StandardScaler().fit(rows), Reference().fit(rows)
    for attribute in ("mean_", "var_", "scale_"):
        assert np.array_equal(getattr(ours, attribute), getattr(reference, attribute)), attribute
    assert ours.n_samples_seen_ == reference.n_samples_seen_ == len(rows)
    assert ours.n_features_in_ == reference.n_features_in_
    values = np.random.default_rng(5).normal(0.0, 10.0, size=(7, rows.shape[1]))
    for dtype in (np.float64, np.float32):
        x = values.astype(dtype)
        for method in ("transform", "inverse_transform"):
            got, expected = getattr(ours, method)(x), getattr(reference, method)(x)
            assert got.dtype == expected.dtype == dtype
            assert np.array_equal(got, expected), (method, dtype)
    assert np.array_equal(ours.transform(rows), reference.transform(rows))


def test_a_constant_column_is_centred_with_scale_one() -> None:
    rows = np.c_[np.full(10, 4.0), np.arange(10.0)]
    scaler = StandardScaler().fit(rows)
    assert scaler.scale_[0] == 1.0 and scaler.var_[0] == 0.0
    assert scaler.scale_[1] == pytest.approx(np.arange(10.0).std())  # population std (ddof 0)
    assert np.array_equal(scaler.transform(rows)[:, 0], np.zeros(10))


def test_the_scaler_json_is_the_saved_configs_form() -> None:
    saved = json.loads((ZOO_MODELS / "lstm-sunspots" / "config.json").read_text())
    entry = saved["seqzoo"]["preprocessing"]["input_scaler"]
    scaler = StandardScaler.from_dict(entry)
    assert scaler.to_dict() == entry  # same keys, floats round-trip exactly
    raw = np.array([[0.0], [entry["mean"][0]], [100.0]])
    assert np.array_equal(scaler.transform(raw), (raw - entry["mean"]) / entry["scale"])
    assert np.array_equal(scaler.inverse_transform(scaler.transform(raw)), raw)
    assert np.array_equal(scaler.var_, np.asarray(entry["scale"]) ** 2)


def test_preprocessing_takes_a_scikit_learn_scaler_and_saves_the_same_json() -> None:
    from sklearn.preprocessing import StandardScaler as Reference

    rows = SCALER_ROWS["normal"]
    taken = Preprocessing(input_scaler=Reference().fit(rows))
    assert isinstance(taken.input_scaler, StandardScaler)
    assert (
        taken.to_dict()["input_scaler"]
        == Preprocessing(input_scaler=StandardScaler().fit(rows)).to_dict()["input_scaler"]
    )
    with pytest.raises(ConfigError, match="fit it first"):
        Preprocessing(input_scaler=Reference())


def test_bad_scaler_input_is_a_clear_error() -> None:
    scaler = StandardScaler().fit(np.ones((4, 2)))
    with pytest.raises(ShapeError, match="fit on 2 column"):
        scaler.transform(np.ones((3, 3)))
    with pytest.raises(ConfigError, match="not fit yet"):
        StandardScaler().transform(np.ones((3, 2)))
    with pytest.raises(ConfigError, match="finite"):
        StandardScaler().fit(np.array([[1.0], [np.nan]]))
    with pytest.raises(ConfigError, match="finite and positive"):
        StandardScaler.from_dict({"mean": [0.0], "scale": [0.0]})
    with pytest.raises(ConfigError, match="one mean and one scale per column"):
        StandardScaler.from_dict({"mean": [0.0, 1.0], "scale": [1.0]})
    with pytest.raises(ConfigError, match="'mean'"):
        StandardScaler.from_dict({"mean": [0.0]})


def test_every_saved_preprocessing_loads_and_saves_unchanged() -> None:
    configs = sorted(ZOO_MODELS.glob("*/config.json"))
    scaled = 0
    for path in configs:
        saved = json.loads(path.read_text())["seqzoo"]["preprocessing"]
        if saved is None:
            continue
        restored = Preprocessing.from_dict(saved).to_dict()
        assert restored == {**restored, **saved}, path.parent.name
        scaled += saved.get("input_scaler") is not None
    assert scaled >= 4  # the forecasting and regression entries carry scalers


# -- time series -------------------------------------------------------------------------------


def test_csv_windows_never_cross_a_split_boundary(tmp_path: Path) -> None:
    data = csv_series(str(ramp_csv(tmp_path)), "value", window=5, horizon=2)
    scaler = data.preprocessing.input_scaler
    seen = {}
    for part in PARTS:
        split = getattr(data, part)
        raw_inputs = scaler.inverse_transform(split.inputs.reshape(-1, 1).numpy())
        raw_targets = data.preprocessing.unscale_targets(split.targets)
        values = np.concatenate([raw_inputs.ravel(), raw_targets.ravel()])
        seen[part] = (values.min(), values.max())
    assert seen["train"][1] < seen["validation"][0]
    assert seen["validation"][1] < seen["test"][0]
    # 70 / 15 / 15 steps give 70 - 7 + 1, 15 - 7 + 1 and 15 - 7 + 1 windows
    assert [len(getattr(data, p)) for p in PARTS] == [64, 9, 9]
    assert data.metadata["split"] == {"train": [0, 70], "validation": [70, 85], "test": [85, 100]}


def test_csv_targets_are_the_next_values_in_raw_units(tmp_path: Path) -> None:
    data = csv_series(str(ramp_csv(tmp_path)), "value", features=["other"], window=4, horizon=3)
    assert data.train.inputs.shape == (70 - 7 + 1, 4, 2)
    assert data.train.targets.shape == (64, 3)
    assert data.preprocessing.feature_names == ["other", "value"]
    raw = data.preprocessing.unscale_targets(data.train.targets)
    assert np.allclose(raw[0], [4, 5, 6], atol=1e-4)
    assert np.allclose(raw[:, 0], np.arange(4, 68), atol=1e-4)
    first = data.preprocessing.input_scaler.inverse_transform(data.validation.inputs[0].numpy())
    assert np.allclose(first, [[1140, 70], [1142, 71], [1144, 72], [1146, 73]], atol=1e-3)


def test_scalers_are_fit_on_the_training_range_only(tmp_path: Path) -> None:
    data = csv_series(str(ramp_csv(tmp_path)), ["value", "other"], window=5)
    train_raw = data.series[:70]
    assert np.allclose(data.preprocessing.input_scaler.mean_, train_raw.mean(axis=0))
    assert np.allclose(data.preprocessing.input_scaler.mean_, [34.5, 1069.0])
    scaled_train = data.preprocessing.scale_inputs(train_raw)
    assert np.allclose(scaled_train.mean(axis=0), 0, atol=1e-9)
    assert np.allclose(scaled_train.std(axis=0), 1)
    # validation values lie beyond the training range: their scaled mean is far from 0
    assert data.validation.inputs.mean() > 1.5
    # two targets interleave per step: (N, horizon * 2) = value, other at t+1
    raw = data.preprocessing.unscale_targets(data.train.targets)
    assert np.allclose(raw[0], [5, 1010], atol=1e-3)


def test_csv_sorts_by_its_time_column(tmp_path: Path) -> None:
    days = [f"2024-01-{d:02d}" for d in range(1, 29)]
    order = np.random.default_rng(0).permutation(28)
    lines = ["day,sales"] + [f"{days[i]},{i}" for i in order]
    data = csv_series(str(write(tmp_path / "s.csv", "\n".join(lines))), "sales", "day", window=3)
    assert np.array_equal(data.series[:, 0], np.arange(28))
    assert data.metadata["time"][:2] == ["2024-01-01T00:00:00", "2024-01-02T00:00:00"]


@pytest.mark.parametrize(
    ("factory", "kwargs", "season", "units", "length"),
    [
        (sine, {"length": 300, "window": 10, "horizon": 3}, 100, "unitless", 300),
        (sunspots, {}, 11, "sunspot number", 309),
        (co2, {"window": 52}, 52, "ppm", 2284),
        (nile, {"window": 8, "horizon": 2}, None, "10^8 m^3", 100),
        (elec_equip, {}, 12, "turnover index", 257),
    ],
)
def test_forecast_datasets_have_the_documented_layout(
    factory, kwargs: dict, season: int | None, units: str, length: int
) -> None:
    data = factory(**kwargs)
    window, horizon = data.preprocessing.window, data.preprocessing.horizon
    assert (data.task, data.season, data.units, data.input_size) == ("forecast", season, units, 1)
    assert data.output_size == horizon
    assert data.series.shape == (length, 1) and np.isfinite(data.series).all()
    for part in PARTS:
        split = getattr(data, part)
        assert len(split) > 0
        assert split.inputs.shape == (len(split), window, 1)
        assert split.targets.shape == (len(split), horizon)
        assert split.inputs.dtype == split.targets.dtype == torch.float32
    # all three splits are windows into one scaled copy of the series: no per-window copies
    storage = data.train.inputs.untyped_storage()
    assert storage.nbytes() == length * 4
    assert data.test.inputs.untyped_storage().data_ptr() == storage.data_ptr()
    # univariate: the input and target scalers hold the same statistics
    scalers = data.preprocessing.input_scaler, data.preprocessing.target_scaler
    assert np.array_equal(scalers[0].mean_, scalers[1].mean_)
    assert np.array_equal(scalers[0].scale_, scalers[1].scale_)
    train_rows = slice(*data.metadata["split"]["train"])
    assert np.allclose(scalers[0].mean_, data.series[train_rows].mean(axis=0))
    if factory is not sine:
        assert len(data.metadata["time"]) == length


def test_sine_is_seeded() -> None:
    a, b, c = (
        sine(length=200, window=5),
        sine(length=200, window=5),
        sine(length=200, window=5, seed=1),
    )
    assert np.array_equal(a.series, b.series)
    assert not np.array_equal(a.series, c.series)
    assert sine(length=200, periods=[10.0, 12.5], window=5).season is None


# -- rows and synthetic tasks -------------------------------------------------------------------


def test_adding_problem_targets_are_the_marked_sums() -> None:
    data = adding(length=20, samples=200, seed=1)
    assert data.task == "regression" and data.input_size == 2
    inputs, targets = data.train.inputs, data.train.targets
    assert inputs.shape == (140, 20, 2) and targets.shape == (140, 1)
    marks = inputs[..., 1]
    assert torch.equal(marks[:, :10].sum(1), torch.ones(140))  # one mark per half
    assert torch.equal(marks[:, 10:].sum(1), torch.ones(140))
    assert torch.allclose((inputs[..., 0] * marks).sum(1, keepdim=True), targets)
    assert torch.equal(adding(length=20, samples=200, seed=1).test.targets, data.test.targets)


def test_copy_task_asks_for_the_symbols_after_the_delimiter() -> None:
    data = copy_memory(length=4, delay=6, alphabet=5, samples=100, seed=0)
    inputs, targets = data.train.inputs, data.train.targets
    assert inputs.shape == targets.shape == (70, 14)
    assert inputs.dtype == targets.dtype == torch.int64
    assert (data.task, data.vocab_size, data.input_size) == ("language-model", 8, None)
    assert torch.equal(targets[:, 10:], inputs[:, :4])
    assert (targets[:, :10] == BLANK).all() and (inputs[:, 9] == DELIMITER).all()
    assert int(inputs.max()) < data.vocab_size and int(inputs[:, :4].min()) >= 3
    assert math.isclose(data.metadata["baseline_loss"], 4 * math.log(5) / 14)
    model = seqzoo.create_model("embedding-lstm", hidden_size=8, **data.model_config())
    logits = model(inputs[:3])
    assert logits.shape == (3, 14, data.vocab_size)
    loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets[:3])
    assert torch.isfinite(loss)


def test_regression_rows_are_scaled_on_train() -> None:
    data = regression(samples=200, features=3, noise=1.0, seed=2)
    assert data.train.inputs.shape == (140, 1, 3) and data.train.targets.shape == (140, 1)
    assert torch.allclose(data.train.targets.mean(), torch.tensor(0.0), atol=1e-5)
    assert torch.allclose(data.train.inputs.mean(dim=(0, 1)), torch.zeros(3), atol=1e-5)
    again = regression(samples=200, features=3, noise=1.0, seed=2)
    assert torch.equal(again.validation.inputs, data.validation.inputs)


def test_diabetes_scaled_and_raw() -> None:
    scaled, raw = diabetes(), diabetes(scale=False)
    assert scaled.units == "disease progression"
    assert scaled.train.inputs.shape == (310, 1, 10) and scaled.test.targets.shape == (66, 1)
    assert float(scaled.train.inputs.abs().max()) < 10
    assert raw.preprocessing.input_scaler is raw.preprocessing.target_scaler is None
    assert float(raw.train.inputs.max()) > 100  # raw blood serum measurements
    back = scaled.preprocessing.unscale_targets(scaled.train.targets)
    assert np.allclose(back, raw.train.targets.numpy(), atol=1e-3)  # raw units again
    assert float(raw.train.targets.min()) >= 25 and float(raw.train.targets.max()) <= 346


# -- text ---------------------------------------------------------------------------------------


def test_char_tokenizer_round_trips_text_exactly(tmp_path: Path) -> None:
    sample = "Tabs\tand\r\nnewlines, ünïcödé 😀, [UNK] and [PAD] stay text.\n"
    tokenizer = build_tokenizer([sample], "char")
    ids = encode(tokenizer, sample)
    assert len(ids) == len(sample) and 0 not in ids and 1 not in ids
    assert decode(tokenizer, ids) == sample
    assert decode(tokenizer, torch.tensor([0, *ids, 0])) == sample  # padding dropped
    from tokenizers import Tokenizer

    reloaded = Tokenizer.from_str(tokenizer.to_str())
    assert decode(reloaded, encode(reloaded, sample)) == sample
    assert encode(tokenizer, "Z") == [1]  # unseen character -> [UNK]


def test_text_language_model_on_the_default_corpus() -> None:
    data = text(max_chars=20_000, seq_len=32)
    assert (data.task, data.input_size, data.input_kind) == ("language-model", None, "ids")
    assert data.output_size == data.vocab_size == data.preprocessing.tokenizer.get_vocab_size()
    inputs, targets = data.train.inputs, data.train.targets
    assert inputs.shape == targets.shape and inputs.shape[1] == 32
    assert inputs.dtype == torch.int64
    assert torch.equal(inputs[:, 1:], targets[:, :-1])  # targets are the next ids
    assert torch.equal(targets[:-1, -1], inputs[1:, 0])  # chunks continue one another
    tokenizer = data.preprocessing.tokenizer
    assert decode(tokenizer, inputs[0]) == default_corpus()[:32]
    assert len(data.validation) > 0 and len(data.test) > 0


def test_word_level_text_from_a_file(tmp_path: Path) -> None:
    words = " ".join(f"w{i % 7}" for i in range(400)) + " rare."
    data = text(str(write(tmp_path / "c.txt", words)), level="word", seq_len=10, vocab_size=6)
    tokenizer = data.preprocessing.tokenizer
    assert data.vocab_size == 6
    assert encode(tokenizer, "w0 zebra") == [tokenizer.token_to_id("w0"), 1]
    assert decode(tokenizer, data.train.inputs[0]).count(" ") == 9
    assert data.train.inputs.shape[1] == 10


def test_text_classification_pads_and_labels(tmp_path: Path) -> None:
    rows = ["text,label", '"good, really good",pos', "bad,neg", "so bad it is terrible,neg"]
    rows += [f"sample number {i} is fine,pos" for i in range(17)]
    path = write(tmp_path / "reviews.csv", "\n".join(rows))
    data = text_classification(str(path), seq_len=5, seed=0)
    assert data.task == "classification" and data.output_size == 2
    assert data.metadata["labels"] == ["neg", "pos"]
    assert data.model_config() == {
        "vocab_size": data.vocab_size,
        "output_size": 2,
        "output": "last",
    }
    every = torch.cat([data.train.lengths, data.validation.lengths, data.test.lengths])
    assert sorted(every.tolist()).count(1) == 1 and int(every.max()) == 5  # "bad"; truncated
    for part in PARTS:
        split = getattr(data, part)
        assert split.inputs.shape == (len(split), 5) and split.targets.shape == (len(split),)
        assert split.targets.dtype == torch.int64
        positions = torch.arange(5).expand(len(split), 5)
        assert (split.inputs[positions >= split.lengths[:, None]] == 0).all()
        assert (split.inputs[positions < split.lengths[:, None]] != 0).all()
    assert data.preprocessing.tokenizer.padding is None  # the returned tokenizer encodes plainly


# -- bad data: ConfigError naming the file, the column and the row ------------------------------


@pytest.mark.parametrize(
    ("content", "kwargs", "expected"),
    [
        ("step,value\n1,2\n", {"target": "price"}, r"no column 'price'.*'step', 'value'"),
        ("step,value\n1,2\n2,x\n3,4\n", {}, r"'value' has the non-numeric value 'x' in row 2"),
        ("step,value\n1,2\n2,\n3,4\n", {}, r"'value' has a missing value in row 2 \(line 3\)"),
        ("step,value\n1,2\n2,NaN\n", {}, r"'value' has a missing value \('NaN'\) in row 2"),
        ("step,value\n1,2\n2,3\n", {}, r"fewer than one window"),
        ("step,value\n", {}, r"no data rows"),
        ("", {}, r"is empty"),
        ("step,value\n1,2,3\n", {}, r"line 2 has 3 fields"),
        ("t,value\n1,1\n1,2\n", {"time_column": "t"}, r"'t' has the time '1' twice"),
        ("t,value\n2020-01-01,1\nsoon,2\n", {"time_column": "t"}, r"'soon' in row 2"),
    ],
)
def test_bad_csv_series_name_the_file_and_column(
    tmp_path: Path, content: str, kwargs: dict, expected: str
) -> None:
    path = write(tmp_path / "bad_series.csv", content)
    with pytest.raises(ConfigError, match=expected) as caught:
        csv_series(str(path), **{"target": "value", "window": 3, **kwargs})
    assert "bad_series.csv" in str(caught.value)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere.csv")
    for call in (
        lambda: csv_series(missing, "value"),
        lambda: text(missing),
        lambda: text_classification(missing),
    ):
        with pytest.raises(ConfigError, match=r"nowhere\.csv: no such file"):
            call()
    with pytest.raises(ConfigError, match=r"blank\.txt: the file is empty"):
        text(str(write(tmp_path / "blank.txt", " \n\n")))
    with pytest.raises(ConfigError, match=r"short\.txt.*too few"):
        text(str(write(tmp_path / "short.txt", "tiny")), seq_len=64)


@pytest.mark.parametrize(
    ("rows", "kwargs", "expected"),
    [
        (["text,label", "a,x"], {"label_column": "y"}, r"no column 'y'.*'text', 'label'"),
        (["text,label", "a,x", "b,x"], {}, r"one label 'x'"),
        (["text,label", "a,x", '"",y'], {}, r"'text' has no text in row 2"),
        (["text,label", "a,x", "b,"], {}, r"'label' is empty in row 2"),
    ],
)
def test_bad_text_classification_files(
    tmp_path: Path, rows: list[str], kwargs: dict, expected: str
) -> None:
    path = write(tmp_path / "labels.csv", "\n".join(rows) + "\n")
    with pytest.raises(ConfigError, match=expected) as caught:
        text_classification(str(path), validation=0.0, test=0.0, **kwargs)
    assert "labels.csv" in str(caught.value)


def test_bad_arguments_name_the_field() -> None:
    with pytest.raises(ConfigError, match="level"):
        text(level="byte")
    with pytest.raises(ConfigError, match="window"):
        sine(length=100, window=0)
    with pytest.raises(ConfigError, match="validation part has 5"):
        nile(window=10, horizon=1, validation=0.05)
    with pytest.raises(ConfigError, match="sum below 1"):
        adding(samples=10, validation=0.5, test=0.5)
