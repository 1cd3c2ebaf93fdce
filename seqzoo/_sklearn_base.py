"""The machinery behind :mod:`seqzoo.sklearn`: parameters, input checks, the training loop.

Private: the public names live in :mod:`seqzoo.sklearn`. An estimator builds its network with
:func:`seqzoo.create_model` and its optimizer from the registry, and trains it with a plain
mini-batch loop on in-memory arrays (the registered trainers read datasets, not arrays).
"""

from __future__ import annotations

import contextlib
import copy
import math
import numbers
from collections.abc import Callable, Iterator
from typing import Any, cast

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from torch import Tensor, nn

from seqzoo.core.api import create_model, get_registry
from seqzoo.core.device import resolve_device
from seqzoo.core.errors import ConfigError, SeqzooError, ShapeError
from seqzoo.core.training import NonFiniteLossError, loss_for
from seqzoo.core.validate import positive_int

__all__ = [
    "EstimatorNotFittedError",
    "InputTypeError",
    "SequenceEstimator",
    "as_seqzoo_errors",
    "check_fitted",
    "check_sequences",
    "seed_of",
    "standardize",
]

#: Model arguments an estimator derives from the data; a user setting them is a mistake.
RESERVED_MODEL_ARGS = ("input_size", "output_size")
#: Rows per forward pass at prediction time (bounds memory; results do not depend on it).
PREDICT_CHUNK = 4096
_PREFIX = "model__"


class InputTypeError(ShapeError, TypeError):
    """Input of a kind the estimators cannot read (a sparse matrix, ...): a ``ShapeError`` that
    is also the ``TypeError`` scikit-learn raises for it."""


class EstimatorNotFittedError(SeqzooError, NotFittedError):
    """``predict`` (or kin) called before ``fit``: a ``SeqzooError`` and scikit-learn's
    ``NotFittedError``."""


@contextlib.contextmanager
def as_seqzoo_errors() -> Iterator[None]:
    """Re-raise scikit-learn's input complaints as seqzoo errors of the same builtin type, so
    ``except SeqzooError`` and ``except ValueError`` / ``TypeError`` both catch them."""
    try:
        yield
    except SeqzooError:
        raise
    except ValueError as exc:
        raise ShapeError(str(exc)) from exc
    except TypeError as exc:
        raise InputTypeError(str(exc)) from exc


def check_fitted(estimator: BaseEstimator, attribute: str = "model_") -> None:
    """Raise :class:`EstimatorNotFittedError` unless ``fit`` has run."""
    try:
        check_is_fitted(estimator, attribute)
    except NotFittedError as exc:
        raise EstimatorNotFittedError(
            f"this {type(estimator).__name__} is not fitted yet; call fit(X, y) before using it"
        ) from exc


def seed_of(random_state: Any) -> int:
    """A torch seed from ``random_state``: an int is used as is; ``None`` or a
    ``numpy.random.RandomState`` draws one (so ``None`` gives a different run each fit)."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state) % 2**63
    try:
        return int(check_random_state(random_state).randint(0, 2**31 - 1))
    except ValueError as exc:
        raise ConfigError(str(exc), field="random_state") from None


def standardize(values: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale over ``axes``; a constant column gets scale 1 (it stays constant)."""
    mean = values.mean(axis=axes)
    scale = values.std(axis=axes)
    return mean, np.where(scale > 1e-12 * (1.0 + np.abs(mean)), scale, 1.0)


class SequenceEstimator(BaseEstimator):
    """Parameters and training shared by the estimators of :mod:`seqzoo.sklearn`.

    Model options are ``model_params={"hidden_size": 8}``; ``set_params(model__hidden_size=8)``
    and ``GridSearchCV`` grids over ``model__hidden_size`` set one of them.
    """

    _task = "regression"  # the seqzoo task whose loss is trained
    model_params: dict[str, Any] | None  # set by each subclass's __init__

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters; ``deep=True`` adds each model option as
        ``model__<name>``, the key ``set_params`` and ``GridSearchCV`` grids take."""
        params = super().get_params(deep=deep)
        if deep and isinstance(self.model_params, dict):
            params.update({_PREFIX + k: v for k, v in self.model_params.items()})
        return params

    def set_params(self, **params: Any) -> SequenceEstimator:
        """Set parameters; ``model__<name>=value`` sets one model option (in a new
        ``model_params`` dict, so a dict the caller passed in is never changed)."""
        options = {k[len(_PREFIX) :]: params.pop(k) for k in list(params) if k.startswith(_PREFIX)}
        if params:
            try:
                super().set_params(**params)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        if options:
            if "" in options:
                raise ConfigError("a model option needs a name: model__<name>=value")
            current = self.model_params if isinstance(self.model_params, dict) else {}
            self.model_params = {**current, **options}
        return self

    # -- building and training ---------------------------------------------------------------

    def _model_config(self) -> dict[str, Any]:
        params = self.model_params
        if params is None:
            params = {}
        elif not isinstance(params, dict):
            raise ConfigError(
                f"must be a dict of model options or None, got {type(params).__name__}",
                field="model_params",
            )
        config = dict(params)
        for key in RESERVED_MODEL_ARGS:
            if key in config:
                raise ConfigError(
                    f"{key} is set from the data by {type(self).__name__}; leave it out of "
                    "the model options",
                    field=key,
                )
        return config

    def _check_training_params(self) -> None:
        positive_int(self.epochs, "epochs")
        positive_int(self.batch_size, "batch_size")
        for field in ("lr", "clip"):
            value = getattr(self, field)
            ok = value is None or (
                isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value) > 0
            )
            if not ok or (value is not None and not math.isfinite(value)):
                raise ConfigError(f"must be a positive number or None, got {value!r}", field=field)
        if self.optimizer_params is not None and not isinstance(self.optimizer_params, dict):
            raise ConfigError("must be a dict or None", field="optimizer_params")

    def _build(self, input_size: int, output_size: int) -> nn.Module:
        """The network, from the registry; its weights come from the (seeded) torch RNG."""
        if not isinstance(self.model, str):
            raise ConfigError(
                f"must be a registered model name (see seqzoo.list_models()), got "
                f"{type(self.model).__name__}",
                field="model",
            )
        return create_model(
            self.model, input_size=input_size, output_size=output_size, **self._model_config()
        )

    def _optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        options = dict(self.optimizer_params or {})
        if self.lr is not None:
            options["lr"] = float(self.lr)
        try:
            return get_registry().create(
                "optimizer", self.optimizer, params=model.parameters(), **options
            )
        except (ValueError, TypeError) as exc:
            if isinstance(exc, SeqzooError):
                raise
            raise ConfigError(
                f"optimizer {self.optimizer!r} rejected its options: {exc}", field="optimizer"
            ) from None

    def _fit_network(self, inputs: np.ndarray, targets: np.ndarray, output_size: int) -> None:
        """Train ``model_`` on ``inputs (n, time, features)`` float and ``targets`` (float
        ``(n, k)`` for regression, int64 class indices ``(n,)`` for classification); set
        ``model_``, ``loss_curve_`` (mean training loss per epoch) and ``n_iter_``."""
        self._check_training_params()
        device = resolve_device(self.device)
        seed = seed_of(self.random_state)
        loss_fn: Callable[[Tensor, Tensor], Tensor] = loss_for(self._task)
        x = torch.as_tensor(inputs, dtype=torch.float32, device=device)
        t = torch.as_tensor(targets, device=device)
        n = x.shape[0]
        # fork the global RNG: the same seed gives the same weights, dropout masks and batch
        # order, without changing the caller's own random stream
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            model = self._build(x.shape[-1], output_size).to(device)
            optimizer = self._optimizer(model)
            lbfgs = isinstance(optimizer, torch.optim.LBFGS)
            generator = torch.Generator().manual_seed(seed)
            curve: list[float] = []
            model.train()
            for epoch in range(1, self.epochs + 1):
                saved = copy.deepcopy(model.state_dict())
                order = torch.randperm(n, generator=generator).to(device)
                losses: list[Tensor] = []  # per batch, summed over its samples
                for start in range(0, n, self.batch_size):
                    index = order[start : start + self.batch_size]
                    batch_x, batch_t = x[index], t[index]

                    def closure(batch_x: Tensor = batch_x, batch_t: Tensor = batch_t) -> Tensor:
                        optimizer.zero_grad(set_to_none=True)
                        loss = loss_fn(self._forward(model, batch_x, output_size), batch_t)
                        loss.backward()
                        if self.clip is not None:
                            nn.utils.clip_grad_norm_(model.parameters(), float(self.clip))
                        return loss

                    if lbfgs:  # LBFGS returns the closure's first loss
                        loss = cast(Tensor, optimizer.step(closure))  # type: ignore[arg-type]  # torch stubs want a float-returning closure
                    else:
                        loss = closure()
                        optimizer.step()
                    losses.append(loss.detach() * len(index))
                # one host sync per epoch, not per batch
                sums = torch.stack(losses).double().cpu().numpy()
                mean = float(sums.sum()) / n
                if not math.isfinite(mean):
                    model.load_state_dict(saved)
                    model.eval()
                    self.model_ = model  # the last finite weights, as the error says
                    batch = int(np.flatnonzero(~np.isfinite(sums))[0]) + 1
                    raise NonFiniteLossError(epoch, batch, float(sums[batch - 1]))
                curve.append(mean)
        model.eval()
        self.model_ = model
        self.loss_curve_ = curve
        self.n_iter_ = self.epochs

    def _forward(self, model: nn.Module, x: Tensor, output_size: int) -> Tensor:
        """``(batch, time, features)`` -> ``(batch, output_size)``: a model that returns one
        output per step is read at its last step, the one that has seen the whole sequence."""
        out = model(x)
        if isinstance(out, Tensor) and out.dim() == 3:
            out = out[:, -1]
        if not isinstance(out, Tensor) or out.dim() != 2 or out.shape[-1] != output_size:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ShapeError(
                f"model {self.model!r} returned {got} for input {tuple(x.shape)}; "
                f"{type(self).__name__} needs (batch, {output_size}) or "
                f"(batch, time, {output_size}): use a model with a linear head over real-valued "
                "sequences (e.g. 'lstm', 'gru', 'conv-recurrent')"
            )
        return out

    def _predict_network(self, inputs: np.ndarray, output_size: int) -> np.ndarray:
        """Network outputs ``(n, output_size)`` float64 for ``inputs (n, time, features)``."""
        model = self.model_
        device = next(model.parameters()).device
        outputs = []
        with torch.no_grad():
            for start in range(0, len(inputs), PREDICT_CHUNK):
                chunk = torch.as_tensor(
                    inputs[start : start + PREDICT_CHUNK], dtype=torch.float32, device=device
                )
                outputs.append(self._forward(model, chunk, output_size).double().cpu().numpy())
        return np.concatenate(outputs) if outputs else np.zeros((0, output_size))


def check_sequences(
    estimator: SequenceEstimator, X: Any, y: Any = "no_validation", *, reset: bool, **options: Any
) -> Any:
    """``X`` as float ``(n_samples, time, features)`` (a 2-D ``X`` is one feature per step),
    with ``y`` checked beside it when given; ``reset`` records the fitted shape, otherwise
    ``X`` must have it. NaN, infinities, ragged or empty input raise :class:`ShapeError`."""
    from sklearn.utils.validation import validate_data

    name = type(estimator).__name__
    no_y = isinstance(y, str) and y == "no_validation"  # validate_data's own "no y" marker
    shape = getattr(estimator, "input_shape_", None)
    if not reset and shape is not None:
        got = np.shape(X) if hasattr(X, "shape") else None
        if got is not None and len(got) == 3 and tuple(got[1:]) != shape:
            raise ShapeError(
                f"X has sequences of shape (time={got[1]}, features={got[2]}), but {name} was "
                f"fitted on (time={shape[0]}, features={shape[1]}); pad or crop to that length"
            )
    with as_seqzoo_errors():
        checked = validate_data(
            estimator, X, y, reset=reset, allow_nd=True, dtype=np.float64, **options
        )
    X, y = (checked, None) if no_y else checked
    if X.ndim == 2:
        X = X[:, :, None]
    if X.ndim != 3:
        raise ShapeError(
            f"{name} takes X of shape (n_samples, time, features) or (n_samples, time); got "
            f"{X.ndim} dimensions {X.shape}"
        )
    if X.shape[2] == 0:
        raise ShapeError(f"X has sequences of 0 features (shape={X.shape}); at least 1 is needed")
    if reset:
        estimator.input_shape_ = tuple(int(s) for s in X.shape[1:])
    elif X.shape[1:] != estimator.input_shape_:
        t, f = estimator.input_shape_
        raise ShapeError(
            f"X has sequences of shape (time={X.shape[1]}, features={X.shape[2]}), but {name} "
            f"was fitted on (time={t}, features={f}); pad or crop to that length"
        )
    return X if no_y else (X, y)
