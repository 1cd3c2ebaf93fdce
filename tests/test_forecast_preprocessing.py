"""Forecast preprocessing inside the model: differencing, per-window normalisation and the
linear AR skip (``forecast-wrapper`` model and layer, ``ar-highway`` layer)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import seqzoo
from seqzoo.cli import main
from seqzoo.core.errors import ConfigError, NotSteppableError
from seqzoo.core.predict import forecast as predict_forecast
from seqzoo.core.workflow import load_run
from seqzoo.plugins.layers.forecasting import ARHighway, WindowTransform
from seqzoo.plugins.models.wrapped import ForecastWrapper

W, H = 10, 7  # window, horizon


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def zero_wrapper(input_size: int = 2, targets: int = 1, **options: Any) -> ForecastWrapper:
    """A wrapper whose inner network always outputs zeros: only the transform acts."""
    model = seqzoo.create_model(
        "forecast-wrapper",
        input_size=input_size,
        output_size=H * targets,
        targets=targets,
        inner="linear",
        **options,
    )
    with torch.no_grad():
        for p in model.inner.parameters():
            p.zero_()
    return model.eval()


def zero_block(input_size: int = 2, **options: Any) -> Any:
    """The same as a hybrid: the forecast-wrapper layer around a zeroed linear head."""
    body = [{"layer": "last"}, {"layer": "linear", "out_features": H}]
    model = seqzoo.compose([{"layer": "forecast-wrapper", "body": body, **options}], input_size)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    return model.eval()


def recurrence(history: np.ndarray, difference: int, season: int, steps: int) -> np.ndarray:
    """The classical forecast with zero innovations: ``(1 - B)^d (1 - B^s) x_t = 0`` solved
    forward from ``history`` by its polynomial's coefficients (independent of the cumsums)."""
    poly = np.array([1.0])
    for _ in range(difference):
        poly = np.convolve(poly, [1.0, -1.0])
    if season:
        seasonal = np.zeros(season + 1)
        seasonal[0], seasonal[season] = 1.0, -1.0
        poly = np.convolve(poly, seasonal)
    values = list(history)
    for _ in range(steps):
        values.append(-sum(poly[j] * values[-j] for j in range(1, len(poly))))
    return np.array(values[len(history) :])


@pytest.mark.parametrize("build", [zero_wrapper, zero_block], ids=["model", "layer"])
@pytest.mark.parametrize(
    ("difference", "season"), [(1, 0), (2, 0), (0, 4), (1, 4), (0, 3)], ids=str
)
def test_a_zero_network_gives_the_classical_forecast_exactly(
    build: Any, difference: int, season: int
) -> None:
    x = torch.randn(3, W, 2, dtype=torch.float64)
    model = build(difference=difference, seasonal_difference=season).double()
    with torch.no_grad():
        y = model(x).numpy()
    for b in range(3):
        expected = recurrence(x[b, :, -1].numpy(), difference, season, H)
        np.testing.assert_allclose(y[b], expected, rtol=0, atol=1e-12)
    if (difference, season) == (1, 0):  # the naive forecast: the last value, repeated
        assert np.allclose(y, x[:, -1:, -1].numpy())
    if (difference, season) == (0, 4):  # seasonal naive: the last season, repeated
        assert np.allclose(y, x[:, [6, 7, 8, 9, 6, 7, 8], -1].numpy())


def test_a_zero_network_gives_the_window_mean_or_last_value_per_target() -> None:
    x = torch.randn(3, W, 3, dtype=torch.float64)
    with torch.no_grad():
        mean = zero_wrapper(3, targets=2, window_norm=True).double()(x).reshape(3, H, 2)
        last = zero_wrapper(3, targets=2, subtract_last=True).double()(x).reshape(3, H, 2)
    assert torch.allclose(mean, x[:, :, 1:].mean(dim=1, keepdim=True).expand(3, H, 2))
    assert torch.allclose(last, x[:, -1:, 1:].expand(3, H, 2))


@pytest.mark.parametrize(
    "options",
    [
        {"difference": 1},
        {"difference": 2, "seasonal_difference": 3},
        {"seasonal_difference": 4, "window_norm": True},
        {"difference": 1, "subtract_last": True},
        {"window_norm": True},
    ],
    ids=lambda o: "+".join(o),
)
def test_decode_inverts_encode_exactly(options: dict[str, Any]) -> None:
    """Decoding the transformed true future gives the true future back, for two targets."""
    k, horizon = 2, 9  # a horizon longer than the season: reconstructed values feed back
    series = torch.randn(4, W + horizon, 3, dtype=torch.float64).cumsum(dim=1)
    transform = WindowTransform(3, horizon * k, targets=k, **options)
    window = series[:, :W]
    _, context = transform.encode(window)
    shift, scale, _ = context
    z = series
    if shift is not None:  # the window's own statistics, applied to the whole series
        z = z - shift
    if scale is not None:
        z = z / scale
    for lag in transform.lags:
        z = z[:, lag:] - z[:, :-lag]
    future = z[:, -horizon:, -k:].reshape(4, -1)
    decoded = transform.decode(future, context).reshape(4, horizon, k)
    torch.testing.assert_close(decoded, series[:, W:, -k:], rtol=0, atol=1e-10)


# --- training through seqzoo.train ---------------------------------------------------------


def write_csv(path: Path, values: np.ndarray) -> Path:
    path.write_text("y\n" + "\n".join(f"{v:.6f}" for v in values) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trend_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A linear trend plus noise: the test targets lie above everything seen in training."""
    t = np.arange(300)
    noise = np.random.default_rng(0).standard_normal(300)
    return write_csv(tmp_path_factory.mktemp("trend") / "trend.csv", 0.05 * t + 0.3 * noise)


def train_on(csv: Path, model: Any, window: int = 12, lr: float = 0.01, **options: Any) -> Any:
    options = {"epochs": 5, "batch_size": 32, "seed": 0, **options}
    return seqzoo.train(
        model=model,
        dataset={"name": "csv", "path": str(csv), "target": "y", "window": window},
        optimizer={"name": "adam", "lr": lr},
        quiet=True,
        plot=False,
        **options,
    )


def raw_test_mse(run: Any) -> float:
    """The test split's mean squared error in raw units."""
    with torch.no_grad():
        output = run.model.eval()(run.data.test.inputs)
    unscale = run.data.preprocessing.unscale_targets
    return float(np.mean((unscale(output) - unscale(run.data.test.targets)) ** 2))


@pytest.fixture(scope="module")
def differenced_run(trend_csv: Path) -> Any:
    wrapped = {"name": "forecast-wrapper", "inner": {"name": "gru", "hidden_size": 8}}
    return train_on(trend_csv, {**wrapped, "difference": 1})


def test_differencing_lets_a_gru_follow_a_trend_out_of_the_training_range(
    trend_csv: Path, differenced_run: Any
) -> None:
    plain = train_on(trend_csv, {"name": "gru", "hidden_size": 8})
    top = plain.data.series[slice(*plain.data.metadata["split"]["train"])].max()
    assert plain.data.preprocessing.unscale_targets(plain.data.test.targets).min() > top
    assert differenced_run.model.registry_name == "forecast-wrapper"
    plain_mse, differenced_mse = raw_test_mse(plain), raw_test_mse(differenced_run)
    # the plain GRU saturates below the training maximum; noise variance is 0.09
    assert differenced_mse < 0.1 * plain_mse, (differenced_mse, plain_mse)
    assert differenced_mse < 0.5


def test_a_saved_wrapper_loads_with_identical_outputs_and_forecasts(
    differenced_run: Any, tmp_path: Path
) -> None:
    model = differenced_run.model.eval()
    seqzoo.save_pretrained(model, tmp_path / "saved")
    loaded = seqzoo.from_pretrained(tmp_path / "saved", device="cpu")
    assert type(loaded) is ForecastWrapper and loaded.config == model.config
    assert loaded.config["inner"]["hidden_size"] == 8 and loaded.config["difference"] == 1
    x = differenced_run.data.test.inputs
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    history = differenced_run.data.series
    expected = predict_forecast(model, differenced_run.data.preprocessing, history, steps=5)
    again = predict_forecast(loaded, loaded.preprocessing, history, steps=5)
    assert np.array_equal(expected, again)
    # in raw units, past the end of the trend (the last value is about 15)
    assert expected.shape == (5, 1) and expected.min() > 13.5
    result = seqzoo.forecast(history[:, 0], 5, model=str(tmp_path / "saved"), device="cpu")
    assert np.allclose(result.mean, expected[:, 0])


def seqzoo_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``seqzoo ARGS`` in this process (no interpreter start-up): ``(exit code, stderr)``."""
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    return code, capsys.readouterr().err


def test_the_cli_turns_differencing_on_with_model_args(
    trend_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    data = ["--dataset", "csv", "-D", f"path={trend_csv}", "-D", "target=y", "-D", "window=12"]
    code, err = seqzoo_cli(
        capsys, "train", "--model", "forecast-wrapper", "-M", "inner={name: gru, hidden_size: 4}",
        "-M", "difference=1", *data, "--epochs", "1", "--quiet", "--run-dir", str(run_dir),
    )  # fmt: skip
    assert code == 0, err
    model = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))["model"]
    assert model == {"name": "forecast-wrapper", "inner": {"name": "gru", "hidden_size": 4},
                     "difference": 1}  # fmt: skip
    # the run rebuilds from run.json and forecasts past the series' end in raw units
    run = load_run(run_dir)
    assert type(run.model) is ForecastWrapper and run.model.config["difference"] == 1
    ahead = predict_forecast(run.model, run.data.preprocessing, run.data.series, steps=3)
    assert ahead.shape == (3, 1) and ahead.min() > 13.5
    code, err = seqzoo_cli(
        capsys, "train", "--model", "forecast-wrapper", "-M", "inner=gru",
        "-M", "seasonal_difference=-12", *data, "--run-dir", str(tmp_path / "bad"),
    )  # fmt: skip
    assert code == 2 and err.startswith("error: seasonal_difference: must be 0 (off)"), err
    assert not (tmp_path / "bad").exists()


def with_highway(cell: str, highway: dict[str, Any]) -> dict[str, Any]:
    """A recurrent network's forecast plus an AR highway: a summing parallel block."""
    size = highway["out_features"]
    network = [
        {"layer": cell, "hidden_size": 4},
        {"layer": "last"},
        {"layer": "linear", "out_features": size},
    ]
    return {"layer": "parallel", "join": "sum", "branches": [network, highway]}


def test_a_hybrid_with_the_block_and_the_highway_round_trips(tmp_path: Path) -> None:
    summed = with_highway("lstm", {"layer": "ar-highway", "out_features": 2})
    block = {"layer": "forecast-wrapper", "seasonal_difference": 4, "window_norm": True}
    spec = [{**block, "ar_order": 3, "body": [summed]}]
    model = seqzoo.compose(spec, input_size=1).eval()
    seqzoo.save_pretrained(model, tmp_path / "hybrid")
    loaded = seqzoo.from_pretrained(tmp_path / "hybrid", device="cpu")
    assert loaded.config == model.config
    x = torch.randn(3, W, 1)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_ar_highway_in_a_hybrid_learns_an_ar2_process(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = np.zeros(1200)
    for t in range(2, len(x)):
        x[t] = 1.3 * x[t - 1] - 0.6 * x[t - 2] + 0.1 * rng.standard_normal()
    csv = write_csv(tmp_path / "ar2.csv", x[200:])
    spec = [{"layer": "ar-highway", "order": 2}]
    run = train_on(csv, spec, window=8, lr=0.05, schedule="cosine", epochs=30, batch_size=64)
    layer = run.model.body.steps[0]
    assert isinstance(layer, ARHighway)
    weights = layer.linear.weight.detach().numpy().ravel()  # oldest step first
    # the least-squares AR(2) fit on the same (scaled) training windows
    inputs, targets = run.data.train.inputs.numpy(), run.data.train.targets.numpy()[:, 0]
    design = np.column_stack([inputs[:, -2, 0], inputs[:, -1, 0], np.ones(len(inputs))])
    fitted = np.linalg.lstsq(design, targets, rcond=None)[0]
    assert np.abs(weights - fitted[:2]).max() < 0.02, (weights, fitted)
    assert np.abs(weights - [-0.6, 1.3]).max() < 0.03, weights


def test_ar_highway_summed_with_a_network_steps_like_its_forward() -> None:
    highway = {"layer": "ar-highway", "order": 3, "out_features": 3, "targets": 2}
    model = seqzoo.compose([with_highway("gru", highway)], input_size=2).eval()
    x = torch.randn(2, 6, 2)
    state = model.initial_state(2)
    with torch.no_grad():
        for t in range(6):
            y, state = model.step(x[:, t], state)
            torch.testing.assert_close(y, model(x[:, : t + 1]))  # shorter than order too


# --- export, streaming, config errors -----------------------------------------------------


def test_a_wrapped_model_exports_to_onnx_matching_eager(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = seqzoo.create_model(
        "forecast-wrapper", input_size=2, output_size=4, targets=2,
        inner={"name": "gru", "hidden_size": 6}, difference=1, seasonal_difference=3,
        window_norm=True, ar_order=2,
    ).eval()  # fmt: skip
    path = tmp_path / "wrapped.onnx"
    x = torch.randn(2, W, 2)
    with warnings.catch_warnings():  # the tracer's notes on shapes it keeps constant
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (x,), str(path), input_names=["x"], output_names=["y"],
            dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, dynamo=False,
        )  # fmt: skip
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    other = torch.randn(5, W, 2)  # a batch the export never saw
    (y,) = session.run(None, {"x": other.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(y, model(other).numpy(), rtol=1e-4, atol=1e-5)


def test_the_step_export_of_a_hybrid_with_an_ar_highway_verifies(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from seqzoo.zoo.onnx import export_onnx, verify_onnx

    highway = {"layer": "ar-highway", "order": 3, "out_features": 2}
    model = seqzoo.compose([with_highway("lstm", highway)], input_size=2)
    export_onnx(model, tmp_path / "hybrid.onnx")
    assert verify_onnx(model, tmp_path / "hybrid.onnx", steps=8) <= 1e-5


def test_streaming_a_wrapper_is_refused_clearly() -> None:
    model = zero_wrapper(difference=1)
    for call in (
        lambda: model.step(torch.zeros(1, 2)),
        lambda: model.initial_state(1),
        lambda: model.forward_stateful(torch.zeros(1, W, 2)),
    ):
        with pytest.raises(NotSteppableError, match="whole windows.*call the model on windows"):
            call()
    with pytest.raises(NotSteppableError, match=r"spec\[0\] \('forecast-wrapper'\)"):
        zero_block(difference=1).step(torch.zeros(1, 2))


def make(**config: Any) -> Any:
    return seqzoo.create_model(
        "forecast-wrapper", **{"input_size": 1, "output_size": 3, "inner": "gru", **config}
    )


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"difference": -1}, r"difference: must be 0 \(off\), 1 \(first differences\) or 2"),
        ({"difference": 3}, "difference: must be 0 .*use seasonal_difference for a season"),
        ({"seasonal_difference": -12}, r"seasonal_difference: must be 0 \(off\) or the season"),
        ({"seasonal_difference": 1}, "set difference=1 instead"),
        ({"difference": True}, "difference: must be 0"),
        ({"window_norm": True, "subtract_last": True}, "choose one"),
        ({"seasonal": 12}, "no argument 'seasonal'; its arguments are: .*seasonal_difference"),
        ({"seasonal_diference": 12}, "did you mean 'seasonal_difference'"),
        ({"input_size": 2, "targets": 2}, "output_size 3 is not horizon \\* targets for targets=2"),
        ({"targets": 2}, "2 target columns but only 1 input columns"),
        ({"ar_order": -2}, r"ar_order: must be 0 \(off\) or the number of past steps"),
        ({"inner": "gur"}, "inner: unknown model 'gur'; did you mean 'gru'"),
        ({"inner": {"name": "gru", "hiden_size": 4}}, "inner: .*did you mean 'hidden_size'"),
        ({"inner": {"name": "gru", "output": "sequence"}}, "inner.*drop output='sequence'"),
        ({"inner": [{"layer": "gru", "hidden_size": 4}]}, "inner: .*end a hybrid with a pooling"),
        ({"inner": {"hidden_size": 4}}, "inner: .*needs a 'name' key.*e.g. inner=gru"),
    ],
    ids=lambda v: v if isinstance(v, str) else "-".join(map(str, v)),
)
def test_bad_options_are_config_errors_naming_the_fix(config: dict, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        make(**config)


def test_lags_longer_than_the_window_fail_before_training(trend_csv: Path) -> None:
    with pytest.raises(ConfigError, match=r"use 13 steps of each window, which has only 12.*"
                       r"window of at least 14"):  # fmt: skip
        make(difference=1, seasonal_difference=12)(torch.zeros(1, 12, 1))
    with pytest.raises(
        ConfigError, match="seasonal_difference=12 uses 12 steps of each window, which has only 12"
    ):
        train_on(trend_csv, {"name": "forecast-wrapper", "inner": "gru", "seasonal_difference": 12})
    with pytest.raises(ConfigError, match="order: must be a positive integer"):
        seqzoo.compose([{"layer": "ar-highway", "order": 0}], input_size=1)
    assert math.isfinite(make(seasonal_difference=11)(torch.zeros(1, 12, 1)).sum().item())
