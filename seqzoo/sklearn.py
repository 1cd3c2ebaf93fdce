"""scikit-learn estimators over any registered seqzoo model, fitted on arrays.

::

    from seqzoo.sklearn import Forecaster, SequenceClassifier, SequenceRegressor

    reg = SequenceRegressor("lstm", {"hidden_size": 16}, epochs=30).fit(X, y)
    reg.predict(X_new)                 # X (n_samples, time, features) -> (n_samples,)
    clf = SequenceClassifier("gru").fit(X, labels)
    clf.predict_proba(X_new)           # (n_samples, n_classes), columns in clf.classes_ order
    fc = Forecaster(window=24, horizon=12).fit(series)   # (time,) or (n_series, time)
    fc.predict(36)                     # continue the fitted series; past 12 steps: rolled out
    fc.predict(histories, 12)          # forecast other series from their histories

``X`` is ``(n_samples, time, features)``, or ``(n_samples, time)`` for one feature per step;
predictions come from the model's output at the last step, after it has read the whole sequence.
Inputs (per feature) and regression targets are standardized internally (``scale=True``) and
predictions are returned in the data's own units. Each fit is seeded by ``random_state``: the same
seed gives the same weights, batches and predictions, without touching the global torch RNG.

Model options go in ``model_params={"hidden_size": 16}``; ``set_params(model__hidden_size=16)``
sets one of them, and is the key a ``GridSearchCV`` grid uses. Bad input raises a
:class:`~seqzoo.core.errors.ShapeError` (a ``ValueError``) and bad settings a
:class:`~seqzoo.core.errors.ConfigError`, at ``fit``; using an unfitted estimator raises
:class:`EstimatorNotFittedError`, a scikit-learn ``NotFittedError``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array

from seqzoo._sklearn_base import (
    EstimatorNotFittedError,
    InputTypeError,
    SequenceEstimator,
    as_seqzoo_errors,
    check_fitted,
    check_sequences,
    standardize,
)
from seqzoo.core.errors import ConfigError, ShapeError
from seqzoo.core.validate import boolean, positive_int

__all__ = [
    "EstimatorNotFittedError",
    "Forecaster",
    "InputTypeError",
    "SequenceClassifier",
    "SequenceRegressor",
]

_COMMON_DOC = """
    model: a registered model name (``seqzoo.list_models()``) over real-valued sequences.
    model_params: options of the model (``hidden_size``, ``num_layers``, ...); ``input_size``
        and ``output_size`` come from the data. ``set_params(model__<name>=value)`` (and a
        ``GridSearchCV`` grid over ``model__<name>``) sets one option.
    epochs, batch_size: passes over the training data; samples per optimizer step.
    lr: learning rate (``None``: the optimizer's registered default).
    optimizer, optimizer_params: a registered optimizer (``seqzoo.list_optimizers()``) and its
        other options (e.g. ``{"weight_decay": 1e-4}``).
    clip: maximum gradient norm per step, or ``None`` for no clipping.
    random_state: an int seed (the same seed, the same fit), ``None`` or a ``RandomState``.
    device: ``"cpu"``, ``"cuda"``, ``"auto"``, ...
"""


class _Supervised(SequenceEstimator):
    """Shared ``fit`` bookkeeping of the regressor and the classifier."""

    # one signature for both: scikit-learn reads the parameters from it
    def __init__(
        self,
        model: str = "lstm",
        model_params: dict[str, Any] | None = None,
        *,
        epochs: int = 50,
        batch_size: int = 32,
        lr: float | None = 0.01,
        optimizer: str = "adam",
        optimizer_params: dict[str, Any] | None = None,
        clip: float | None = None,
        scale: bool = True,
        random_state: Any = 0,
        device: str = "cpu",
    ) -> None:
        self.model = model
        self.model_params = model_params
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.optimizer_params = optimizer_params
        self.clip = clip
        self.scale = scale
        self.random_state = random_state
        self.device = device

    def _scaled_inputs(self, X: np.ndarray, *, reset: bool) -> np.ndarray:
        if reset:
            boolean(self.scale, "scale")
            if self.scale:
                self.x_mean_, self.x_scale_ = standardize(X, (0, 1))
            else:
                self.x_mean_, self.x_scale_ = np.zeros(X.shape[2]), np.ones(X.shape[2])
        return (X - self.x_mean_) / self.x_scale_

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


class SequenceRegressor(RegressorMixin, _Supervised):
    """Regression from whole sequences: ``X (n_samples, time[, features])`` -> ``y (n_samples,)``
    or ``(n_samples, n_targets)``, trained with mean squared error.

    {parameters}
    scale: standardize inputs and targets internally (predictions come back in y's units).

    Fitted: ``model_`` (the ``nn.Module``), ``n_features_in_`` (``X.shape[1]``, the time steps,
    as scikit-learn counts columns), ``input_shape_`` ``(time, features)``, ``n_outputs_``,
    ``loss_curve_`` (mean scaled training loss per epoch), ``n_iter_``.
    """

    _task = "regression"

    def fit(self, X: Any, y: Any) -> SequenceRegressor:
        """Fit on sequences ``X`` and float targets ``y``; return ``self``."""
        X, y = check_sequences(self, X, y, reset=True, multi_output=True, y_numeric=True)
        targets = y.reshape(len(y), -1).astype(np.float64)
        self._y_2d = y.ndim == 2
        self.n_outputs_ = targets.shape[1]
        if self.scale:
            self.y_mean_, self.y_scale_ = standardize(targets, (0,))
        else:
            self.y_mean_, self.y_scale_ = np.zeros(self.n_outputs_), np.ones(self.n_outputs_)
        scaled = (targets - self.y_mean_) / self.y_scale_
        self._fit_network(self._scaled_inputs(X, reset=True), scaled, self.n_outputs_)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions ``(n_samples,)``, or ``(n_samples, n_targets)`` for a 2-D ``y``."""
        check_fitted(self)
        X = check_sequences(self, X, reset=False)
        out = self._predict_network(self._scaled_inputs(X, reset=False), self.n_outputs_)
        out = out * self.y_scale_ + self.y_mean_
        return out if self._y_2d else out[:, 0]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        # scikit-learn's generic data are tables, read here as sequences over their columns
        tags.regressor_tags.poor_score = True
        return tags


class SequenceClassifier(ClassifierMixin, _Supervised):
    """Classification of whole sequences: ``X (n_samples, time[, features])`` -> one label per
    sequence (any hashable labels), trained with cross entropy.

    {parameters}
    scale: standardize the inputs of each feature internally.

    Fitted: ``classes_`` (sorted labels), ``model_``, ``n_features_in_``, ``input_shape_``,
    ``loss_curve_``, ``n_iter_``.
    """

    _task = "classification"

    def fit(self, X: Any, y: Any) -> SequenceClassifier:
        """Fit on sequences ``X`` and labels ``y (n_samples,)``; return ``self``."""
        X, y = check_sequences(self, X, y, reset=True)
        with as_seqzoo_errors():
            check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        targets = codes.reshape(-1).astype(np.int64)
        self._fit_network(self._scaled_inputs(X, reset=True), targets, len(self.classes_))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n_samples, n_classes)``, columns in ``classes_`` order."""
        check_fitted(self)
        X = check_sequences(self, X, reset=False)
        logits = self._predict_network(self._scaled_inputs(X, reset=False), len(self.classes_))
        logits -= logits.max(axis=1, keepdims=True)  # a stable softmax
        proba = np.exp(logits)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each sequence, ``(n_samples,)``."""
        proba = self.predict_proba(X)  # first: it raises when unfitted
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True  # tables read as sequences, as for the regressor
        return tags


_SCALINGS = ("window", "global", "none")


class Forecaster(SequenceEstimator):
    """Point forecasts of univariate series: trained on every ``window`` -> ``horizon`` slice of
    the fitted series, it forecasts any horizon (longer ones by feeding forecasts back).

    ``fit(X)``: ``X`` is one series ``(time,)``, several ``(n_series, time)``, or a list of
    series of different lengths, each at least ``window + horizon`` long, without NaN.
    ``predict(h)`` continues the fitted series; ``predict(histories, h)`` forecasts other
    series, each at least ``window`` long. A 1-D input gives ``(h,)``, several ``(n, h)``.

    window, horizon: steps the model reads, and steps it forecasts at once.
    scaling: ``"window"`` standardizes each window by its own mean and deviation (series of any
        level and scale share one model), ``"global"`` by those of all training values,
        ``"none"`` not at all.

    {parameters}

    Fitted: ``model_``, ``last_window_`` ``(n_series, window)``, ``n_series_``,
    ``n_features_in_`` (1: one value per time step), ``loss_curve_``, ``n_iter_``.
    """

    _task = "forecast"

    def __init__(
        self,
        model: str = "lstm",
        model_params: dict[str, Any] | None = None,
        *,
        window: int = 24,
        horizon: int = 12,
        scaling: str = "window",
        epochs: int = 50,
        batch_size: int = 32,
        lr: float | None = 0.01,
        optimizer: str = "adam",
        optimizer_params: dict[str, Any] | None = None,
        clip: float | None = None,
        random_state: Any = 0,
        device: str = "cpu",
    ) -> None:
        self.model = model
        self.model_params = model_params
        self.window = window
        self.horizon = horizon
        self.scaling = scaling
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.optimizer_params = optimizer_params
        self.clip = clip
        self.random_state = random_state
        self.device = device

    def fit(self, X: Any, y: Any = None) -> Forecaster:
        """Fit on the series ``X``; ``y`` is ignored (accepted for pipelines). Return ``self``."""
        window = positive_int(self.window, "window")
        horizon = positive_int(self.horizon, "horizon")
        if self.scaling not in _SCALINGS:
            raise ConfigError(
                f"must be one of {', '.join(_SCALINGS)}, got {self.scaling!r}", field="scaling"
            )
        series, one_d = self._series(X)
        need = window + horizon
        for i, s in enumerate(series):
            if len(s) < need:
                raise ShapeError(
                    f"series {i} has {len(s)} values; training needs at least window + horizon "
                    f"= {need}: give longer series, or lower window or horizon"
                )
        slices = np.concatenate([np.lib.stride_tricks.sliding_window_view(s, need) for s in series])
        if self.scaling == "global":
            values = np.concatenate(series)
            self.level_, self.spread_ = standardize(values, (0,))
        inputs, targets = slices[:, :window], slices[:, window:]
        mean, scale = self._window_stats(inputs)
        self.n_features_in_ = 1
        self.n_series_ = len(series)
        self._fit_1d = one_d
        self.last_window_ = np.stack([s[-window:] for s in series])
        self._fit_network(((inputs - mean) / scale)[:, :, None], (targets - mean) / scale, horizon)
        return self

    def predict(self, X: Any = None, horizon: int | None = None) -> np.ndarray:
        """Forecasts of the next ``horizon`` steps (default: the fitted ``horizon``).

        ``predict(h)`` or ``predict(horizon=h)`` continues the fitted series: ``(h,)`` after
        fitting one series, ``(n_series, h)`` after several. ``predict(histories, h)``
        forecasts from ``histories`` (``(time,)`` -> ``(h,)``; ``(n, time)`` or a list -> ``(n, h)``).
        """
        check_fitted(self)
        if isinstance(X, numbers.Integral) and not isinstance(X, bool) and horizon is None:
            X, horizon = None, X
        steps = positive_int(self.horizon if horizon is None else horizon, "horizon")
        if X is None:
            context, one_d = self.last_window_, self._fit_1d
        else:
            series, one_d = self._series(X)
            for i, s in enumerate(series):
                if len(s) < self.window:
                    raise ShapeError(
                        f"history {i} has {len(s)} values; {type(self).__name__} reads the last "
                        f"window = {self.window}: give longer histories"
                    )
            context = np.stack([s[-self.window :] for s in series])
        blocks = []
        for _ in range(-(-steps // self.horizon)):  # whole native horizons, fed back
            mean, scale = self._window_stats(context)
            scaled = ((context - mean) / scale)[:, :, None]
            block = self._predict_network(scaled, self.horizon) * scale + mean
            blocks.append(block)
            context = np.concatenate([context, block], axis=1)[:, -self.window :]
        out = np.concatenate(blocks, axis=1)[:, :steps]
        return out[0] if one_d else out

    def _window_stats(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and scale ``(n, 1)`` of each window, under ``scaling``."""
        n = len(windows)
        if self.scaling == "window":
            mean, scale = standardize(windows, (1,))
            return mean[:, None], scale[:, None]
        if self.scaling == "global":
            return np.full((n, 1), self.level_), np.full((n, 1), self.spread_)
        return np.zeros((n, 1)), np.ones((n, 1))

    def _series(self, X: Any) -> tuple[list[np.ndarray], bool]:
        """``X`` as a list of float series, and whether it was a single 1-D series."""
        with as_seqzoo_errors():
            if isinstance(X, (list, tuple)) and X and all(np.ndim(s) == 1 for s in X):
                # a list of series, possibly of different lengths
                series = [check_array(s, ensure_2d=False, dtype=np.float64) for s in X]
                return [s.ravel() for s in series], False
            array = check_array(X, ensure_2d=False, allow_nd=True, dtype=np.float64)
        if array.ndim > 2:
            raise ShapeError(
                f"{type(self).__name__} takes one series (time,), several (n_series, time) or a "
                f"list of series; got an array of shape {array.shape}"
            )
        if array.ndim == 1:
            return [array], True
        return list(array), False

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags


for _estimator in (SequenceRegressor, SequenceClassifier, Forecaster):
    # one description of the shared parameters, in every estimator's help
    _estimator.__doc__ = (_estimator.__doc__ or "").replace("{parameters}", _COMMON_DOC.strip())
