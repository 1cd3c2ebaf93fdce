"""The scikit-learn estimators of seqzoo.sklearn: sklearn's own estimator checks, pipelines and
grid search, learning on toy tasks, determinism, and errors on bad input."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from seqzoo.core.errors import ConfigError, SeqzooError, ShapeError, UnknownNameError
from seqzoo.core.training import NonFiniteLossError
from seqzoo.sklearn import Forecaster, SequenceClassifier, SequenceRegressor

TINY: dict[str, Any] = {"epochs": 2, "batch_size": 16, "model_params": {"hidden_size": 4}}

# A Forecaster's X holds series, one per row, so its columns are time steps rather than
# features, and a 1-D X is one series: these generic checks assume otherwise.
FORECASTER_XFAILS = {
    "check_n_features_in": "X's columns are time steps; n_features_in_ is 1 (one value a step)",
    "check_n_features_in_after_fitting": "histories of any length >= window are valid input",
    "check_fit1d": "a 1-D X is one series, a valid input",
    "check_fit2d_predict1d": "a 1-D X is one history, a valid input",
    "check_fit2d_1feature": "a 1-column X is series of one value, too short to take a window",
}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _expected_failures(estimator: Any) -> dict[str, str]:
    return FORECASTER_XFAILS if isinstance(estimator, Forecaster) else {}


@parametrize_with_checks(
    [
        SequenceRegressor(**TINY),
        SequenceClassifier(**TINY),
        Forecaster(window=1, horizon=1, **TINY),
    ],
    expected_failed_checks=_expected_failures,
    xfail_strict=True,
)
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)


# -- toy tasks ------------------------------------------------------------------------------


def _sum_task(n: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """Sequences ``(n, 8, 1)`` and their sums: learnable only by reading every step."""
    X = np.random.default_rng(0).normal(size=(n, 8, 1))
    return X, X.sum(axis=(1, 2))


def _sign_task(n: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """Sequences ``(n, 8, 2)`` labelled by the sign of their mean."""
    X = np.random.default_rng(1).normal(size=(n, 8, 2))
    return X, np.where(X.mean(axis=(1, 2)) > 0, "pos", "neg")


def _seasonal_series(n: int = 8, length: int = 96) -> np.ndarray:
    """``(n, length)`` noisy sines of period 12, each with its own amplitude, phase and level."""
    rng = np.random.default_rng(2)
    t = np.arange(length)
    amplitude, phase = rng.uniform(1, 5, (n, 1)), rng.uniform(0, 2 * np.pi, (n, 1))
    level = rng.uniform(-50, 50, (n, 1))
    return (
        amplitude * np.sin(2 * np.pi * t / 12 + phase) + level + 0.1 * rng.normal(size=(n, length))
    )


def test_regressor_learns_the_sum_of_a_sequence() -> None:
    X, y = _sum_task()
    reg = SequenceRegressor(model_params={"hidden_size": 8}, epochs=15).fit(X[:160], y[:160])
    baseline = DummyRegressor().fit(X[:160, :, 0], y[:160]).score(X[160:, :, 0], y[160:])
    score = reg.score(X[160:], y[160:])
    assert score > 0.9 and score > baseline + 0.8, (score, baseline)
    assert reg.predict(X[160:]).shape == (80,)
    assert reg.n_features_in_ == 8 and reg.input_shape_ == (8, 1) and reg.n_iter_ == 15
    assert reg.loss_curve_[-1] < reg.loss_curve_[0]


def test_regressor_predicts_several_targets_in_their_units() -> None:
    X, y = _sum_task(160)
    targets = np.stack([y, 1000.0 + 100.0 * X[:, -1, 0]], axis=1)  # different scales
    reg = SequenceRegressor(model_params={"hidden_size": 8}, epochs=15).fit(X, targets)
    predicted = reg.predict(X)
    assert predicted.shape == (160, 2) and reg.n_outputs_ == 2
    errors = np.abs(predicted - targets).mean(axis=0)
    assert (errors < 0.3 * targets.std(axis=0)).all(), errors


def test_classifier_learns_the_sign_of_the_mean() -> None:
    X, labels = _sign_task()
    clf = SequenceClassifier(model_params={"hidden_size": 8}, epochs=15).fit(X[:160], labels[:160])
    baseline = DummyClassifier().fit(X[:160, :, 0], labels[:160]).score(X[160:, :, 0], labels[160:])
    accuracy = clf.score(X[160:], labels[160:])
    assert accuracy > 0.85 and accuracy > baseline + 0.3, (accuracy, baseline)
    assert list(clf.classes_) == ["neg", "pos"]
    proba = clf.predict_proba(X[160:])
    assert proba.shape == (80, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert (clf.classes_[proba.argmax(axis=1)] == clf.predict(X[160:])).all()


def test_forecaster_beats_the_naive_forecast_on_many_series() -> None:
    series = _seasonal_series()
    train, test = series[:, :84], series[:, 84:]
    fc = Forecaster(window=24, horizon=6, epochs=5, model_params={"hidden_size": 16}).fit(train)
    naive = np.abs(np.repeat(train[:, -1:], 12, axis=1) - test).mean()
    forecast = fc.predict(12)  # two native horizons: the second one fed back
    assert forecast.shape == (8, 12)
    error = np.abs(forecast - test).mean()
    assert error < 0.25 * naive, (error, naive)
    # histories given explicitly: the same windows give the same forecasts
    assert np.allclose(fc.predict(train, 12), forecast)
    assert np.allclose(fc.predict(12)[:, :6], fc.predict())


def test_forecaster_shapes_for_one_series_and_ragged_histories() -> None:
    series = _seasonal_series(2, 60)
    fc = Forecaster(window=12, horizon=3, epochs=2, model_params={"hidden_size": 4}).fit(series[0])
    assert fc.predict(5).shape == (5,) and fc.n_series_ == 1 and fc.last_window_.shape == (1, 12)
    assert fc.predict(series[1], horizon=4).shape == (4,)
    ragged = fc.predict([series[0], series[1][:30]], 4)
    assert ragged.shape == (2, 4)
    assert np.allclose(ragged[1], fc.predict(series[1][:30], 4))
    fc.fit([series[0], series[1][:40]])  # series of different lengths
    assert fc.predict(2).shape == (2, 2)
    for scaling in ("global", "none"):
        forecast = fc.set_params(scaling=scaling).fit(series).predict(4)
        assert forecast.shape == (2, 4) and np.isfinite(forecast).all()


@pytest.mark.parametrize(
    ("model", "options"),
    [
        ("gru", {"hidden_size": 4, "output": "sequence"}),  # (batch, time, out): last step read
        ("linear", {"window": 8}),
        ("conv-recurrent", {"channels": [4], "hidden_size": 4}),
    ],
)
def test_any_registered_sequence_model_fits(model: str, options: dict[str, Any]) -> None:
    X, y = _sum_task(64)
    reg = SequenceRegressor(model, options, epochs=3, batch_size=16).fit(X, y)
    assert reg.model_.registry_name == model
    assert reg.predict(X).shape == (64,) and np.isfinite(reg.predict(X)).all()
    # the output read is the one after the whole sequence: changing the first step changes it
    changed = X.copy()
    changed[:, 0, 0] += 3.0
    assert not np.allclose(reg.predict(changed), reg.predict(X))


# -- sklearn integration -------------------------------------------------------------------


def _to_sequences(X: np.ndarray) -> np.ndarray:
    """Flat rows ``(n, 8 * 2)`` -> sequences ``(n, 8, 2)``."""
    return np.asarray(X).reshape(len(X), 8, 2)


def test_pipeline_with_a_function_transformer() -> None:
    X, labels = _sign_task(120)
    flat = X.reshape(len(X), -1)
    pipe = make_pipeline(FunctionTransformer(_to_sequences), SequenceClassifier(**TINY))
    pipe.set_params(sequenceclassifier__model__hidden_size=6)
    pipe.fit(flat, labels)
    alone = SequenceClassifier(**{**TINY, "model_params": {"hidden_size": 6}}).fit(X, labels)
    assert np.array_equal(pipe.predict_proba(flat), alone.predict_proba(X))
    assert pipe[-1].model_.core.hidden_size == 6


def test_grid_search_over_hidden_size_picks_the_better_one() -> None:
    X, y = _sum_task(160)
    grid = GridSearchCV(
        SequenceRegressor(epochs=10, batch_size=16), {"model__hidden_size": [1, 8]}, cv=2
    ).fit(X, y)
    scores = grid.cv_results_["mean_test_score"]
    assert len(scores) == 2
    assert grid.best_params_ == {"model__hidden_size": 8}, scores
    assert grid.best_estimator_.model_params == {"hidden_size": 8}
    assert grid.best_estimator_.model_.core.hidden_size == 8


def test_params_round_trip_and_never_change_the_callers_dict() -> None:
    options = {"hidden_size": 4}
    reg = SequenceRegressor(model="gru", model_params=options)
    assert reg.get_params(deep=False)["model_params"] is options
    assert reg.get_params()["model__hidden_size"] == 4
    reg.set_params(model__num_layers=2, epochs=3)
    assert options == {"hidden_size": 4}
    assert reg.model_params == {"hidden_size": 4, "num_layers": 2} and reg.epochs == 3
    copy = clone(reg)
    assert copy.get_params() == reg.get_params() and copy.model_params is not reg.model_params
    with pytest.raises(ConfigError, match="Invalid parameter 'epoch'"):
        reg.set_params(epoch=3)


# -- determinism ----------------------------------------------------------------------------


def test_same_seed_same_fit_and_the_global_rng_is_untouched() -> None:
    X, y = _sum_task(64)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = SequenceRegressor(**TINY, random_state=7).fit(X, y)
    assert torch.equal(torch.get_rng_state(), before)
    second = SequenceRegressor(**TINY, random_state=7).fit(X, y)
    other = SequenceRegressor(**TINY, random_state=8).fit(X, y)
    assert np.array_equal(first.predict(X), second.predict(X))
    assert first.loss_curve_ == second.loss_curve_
    assert not np.allclose(first.predict(X), other.predict(X))
    series = _seasonal_series(2, 40)
    fc = [Forecaster(window=8, horizon=2, **TINY).fit(series) for _ in range(2)]
    assert np.array_equal(fc[0].predict(4), fc[1].predict(4))


# -- errors ---------------------------------------------------------------------------------


def test_predict_before_fit_is_not_fitted_error() -> None:
    X, _ = _sum_task(4)
    for estimator in (SequenceRegressor(), SequenceClassifier(), Forecaster()):
        with pytest.raises(NotFittedError, match="not fitted yet; call fit") as info:
            estimator.predict(X[:, :, 0] if isinstance(estimator, Forecaster) else X)
        assert isinstance(info.value, SeqzooError)


def test_bad_input_is_a_clear_shape_error() -> None:
    X, y = _sum_task(32)
    reg = SequenceRegressor(**TINY)
    with pytest.raises(ShapeError, match=r"\(n_samples, time, features\).*4 dimensions"):
        reg.fit(X[:, :, :, None], y)
    with pytest.raises(ShapeError, match="Expected 2D array, got 1D"):
        reg.fit(y, y)
    nan = X.copy()
    nan[3, 2, 0] = np.nan
    with pytest.raises(ShapeError, match="contains NaN"):
        reg.fit(nan, y)
    with pytest.raises(ShapeError, match="inconsistent numbers of samples"):
        reg.fit(X, y[:-1])
    reg.fit(X, y)
    with pytest.raises(ShapeError, match=r"fitted on \(time=8, features=1\)"):
        reg.predict(np.zeros((2, 9, 1)))
    with pytest.raises(ShapeError, match="contains NaN"):
        reg.predict(nan)
    with pytest.raises(ShapeError, match="contains infinity"):
        Forecaster(**TINY).fit(np.array([1.0, np.inf, 2.0] * 20))


def test_bad_settings_are_config_errors() -> None:
    X, y = _sum_task(16)
    with pytest.raises(ConfigError, match="input_size is set from the data"):
        SequenceRegressor(model_params={"input_size": 3}).fit(X, y)
    with pytest.raises(ConfigError, match="epochs: must be a positive integer"):
        SequenceRegressor(epochs=0).fit(X, y)
    with pytest.raises(UnknownNameError, match="did you mean 'lstm'"):
        SequenceRegressor(model="lstmm").fit(X, y)
    with pytest.raises(UnknownNameError, match="unknown optimizer 'adamm'"):
        SequenceRegressor(optimizer="adamm").fit(X, y)
    with pytest.raises(ConfigError, match="no argument 'hiden_size'; did you mean 'hidden_size'"):
        SequenceRegressor(model_params={"hiden_size": 3}).fit(X, y)
    with pytest.raises(ConfigError, match="scaling: must be one of window, global, none"):
        Forecaster(scaling="log").fit(np.arange(50.0))
    with pytest.raises(ShapeError, match="series 1 has 20 values; training needs at least"):
        Forecaster(window=24, horizon=12).fit([np.arange(50.0), np.arange(20.0)])
    fc = Forecaster(window=8, horizon=2, **TINY).fit(np.sin(np.arange(40.0)))
    with pytest.raises(ShapeError, match="history 0 has 5 values"):
        fc.predict(np.arange(5.0), 2)


def test_a_diverging_fit_says_where_and_keeps_the_last_finite_weights() -> None:
    X, y = _sum_task(32)
    reg = SequenceRegressor("linear", {"window": 8}, optimizer="sgd", lr=1e6, batch_size=8)
    with pytest.raises(NonFiniteLossError, match=r"at epoch \d+, batch \d+.*lower learning rate"):
        reg.fit(X, y)
    assert np.isfinite(reg.predict(X)).all()


def test_importing_seqzoo_does_not_import_the_estimators() -> None:
    code = "import sys, seqzoo; print('seqzoo.sklearn' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
