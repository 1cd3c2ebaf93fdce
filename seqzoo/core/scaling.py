"""Per-column standardization, in numpy: ``z = (x - mean) / scale``.

:class:`StandardScaler` holds a mean and a scale per column, with the attribute names, fit
statistics and arithmetic of scikit-learn's ``StandardScaler`` (``mean_``, ``scale_``, ``var_``,
``n_features_in_``, ``n_samples_seen_``; population variance; near-constant columns get scale
1), so values it produces are bit-for-bit those scikit-learn gives, without importing
scikit-learn (and scipy) to load a model. Its JSON form is ``{"mean": [...], "scale": [...]}``,
the form ``config.json`` and ``run.json`` hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import ConfigError, ShapeError

__all__ = ["StandardScaler"]

_EPS = float(np.finfo(np.float64).eps)


def _floating(x: Any) -> np.ndarray:
    """A fresh, writable copy of ``x``: floating dtypes kept, anything else as float64 (the
    dtype rule scikit-learn's transforms follow)."""
    array = np.asarray(x)
    dtype = array.dtype if np.issubdtype(array.dtype, np.floating) else np.float64
    return np.array(array, dtype=dtype, copy=True)


class StandardScaler:
    """Column statistics ``mean_`` and ``scale_`` (float64, ``(features,)``).

    Build one with :meth:`fit` on training rows ``(N, features)`` or :meth:`from_dict` from
    saved JSON. :meth:`transform` and :meth:`inverse_transform` take ``(..., features)``
    arrays and keep a floating input's dtype (others become float64).
    """

    def __init__(
        self,
        mean: Any = None,
        scale: Any = None,
        *,
        var: Any = None,
        n_samples_seen: int | None = None,
    ) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.var_: np.ndarray | None = None
        self.n_samples_seen_: int | None = n_samples_seen
        if mean is None and scale is None:
            return
        mean = np.array(mean, dtype=np.float64, copy=True).reshape(-1)
        scale = np.array(scale, dtype=np.float64, copy=True).reshape(-1)
        if mean.shape != scale.shape:
            raise ConfigError(
                f"a scaler needs one mean and one scale per column, got {mean.size} means and "
                f"{scale.size} scales"
            )
        if not (np.isfinite(mean).all() and np.isfinite(scale).all()) or (scale <= 0).any():
            raise ConfigError(
                "a scaler's means must be finite and its scales finite and positive, got "
                f"mean {mean.tolist()} and scale {scale.tolist()}"
            )
        self.mean_, self.scale_ = mean, scale
        # a saved scaler keeps only mean and scale: its variance is scale squared
        self.var_ = scale**2 if var is None else np.array(var, dtype=np.float64).reshape(-1)

    @property
    def n_features_in_(self) -> int:
        """The column count it was fit on."""
        return len(self._fitted()[0])

    def _fitted(self) -> tuple[np.ndarray, np.ndarray]:
        if self.mean_ is None or self.scale_ is None:
            raise ConfigError("this scaler is not fit yet; call fit(rows) or from_dict(...)")
        return self.mean_, self.scale_

    def fit(self, rows: Any) -> StandardScaler:
        """Fit on ``rows`` ``(N, features)`` (finite values): the column means and population
        standard deviations, computed as scikit-learn computes them (a corrected two-pass
        variance in float64); a column whose variance is within rounding error of zero gets
        scale 1, so it is centred but not blown up. Returns ``self``."""
        x = np.asarray(rows)
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise ShapeError(f"a scaler is fit on (rows, columns) data, got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
        if not np.isfinite(x).all():
            raise ConfigError("a scaler is fit on finite values; fill or drop NaN and inf first")
        count = np.full(x.shape[1], float(x.shape[0]))
        # sums accumulate in float64 whatever the input dtype
        total = np.sum(x.astype(np.float64, copy=False), axis=0)
        mean = total / count
        centred = x - mean
        correction = np.sum(centred, axis=0)
        centred **= 2
        variance = (np.sum(centred, axis=0) - correction**2 / count) / count
        # near-constant columns: the 2-pass error bound of Chan, Golub and LeVeque
        constant = variance <= count * _EPS * variance + (count * mean * _EPS) ** 2
        scale = np.sqrt(variance)
        scale[constant] = 1.0
        self.mean_, self.var_, self.scale_ = mean, variance, scale
        self.n_samples_seen_ = int(x.shape[0])
        return self

    def fit_transform(self, rows: Any) -> np.ndarray:
        """:meth:`fit` on ``rows``, then :meth:`transform` them."""
        return self.fit(rows).transform(rows)

    def _columns_of(self, x: np.ndarray, what: str) -> None:
        mean, _ = self._fitted()
        if x.ndim == 0 or x.shape[-1] != len(mean):
            raise ShapeError(
                f"{what}: the scaler was fit on {len(mean)} column(s), got an array of shape "
                f"{x.shape} (columns last)"
            )

    def transform(self, x: Any) -> np.ndarray:
        """Raw ``(..., features)`` -> ``(x - mean) / scale`` (a new array)."""
        mean, scale = self._fitted()
        out = _floating(x)
        self._columns_of(out, "transform")
        # in place and in the input's dtype, step by step, exactly as scikit-learn rounds
        out -= mean.astype(out.dtype, copy=False)
        out /= scale.astype(out.dtype, copy=False)
        return out

    def inverse_transform(self, x: Any) -> np.ndarray:
        """Scaled ``(..., features)`` -> ``x * scale + mean`` (a new array)."""
        mean, scale = self._fitted()
        out = _floating(x)
        self._columns_of(out, "inverse_transform")
        out *= scale.astype(out.dtype, copy=False)
        out += mean.astype(out.dtype, copy=False)
        return out

    def columns(self, index: slice | list[int]) -> StandardScaler:
        """A scaler holding exactly this one's statistics of the columns ``index``."""
        mean, scale = self._fitted()
        part = StandardScaler()
        part.mean_ = mean[index].copy()
        part.scale_ = part_scale = scale[index].copy()
        part.var_ = self.var_[index].copy() if self.var_ is not None else part_scale**2
        part.n_samples_seen_ = self.n_samples_seen_
        return part

    def to_dict(self) -> dict[str, list[float]]:
        """``{"mean": [...], "scale": [...]}``: plain JSON floats (they round-trip exactly)."""
        mean, scale = self._fitted()
        return {"mean": mean.tolist(), "scale": scale.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StandardScaler:
        """The scaler :meth:`to_dict` wrote (``var_`` becomes ``scale_ ** 2``)."""
        if not isinstance(data, Mapping) or "mean" not in data or "scale" not in data:
            raise ConfigError(
                f"a saved scaler is {{'mean': [...], 'scale': [...]}}, got {data!r}"[:300]
            )
        return cls(data["mean"], data["scale"])

    @classmethod
    def of(cls, scaler: Any) -> StandardScaler | None:
        """``scaler`` as a :class:`StandardScaler`: itself, or the statistics of any object
        with ``mean_`` and ``scale_`` (such as a fitted scikit-learn ``StandardScaler``)."""
        if scaler is None or isinstance(scaler, cls):
            return scaler
        mean, scale = getattr(scaler, "mean_", None), getattr(scaler, "scale_", None)
        if mean is None or scale is None:
            raise ConfigError(
                f"a scaler needs fitted mean_ and scale_ arrays; a {type(scaler).__name__} has "
                "none (fit it first)"
            )
        part = cls(mean, scale, var=getattr(scaler, "var_", None))
        seen = getattr(scaler, "n_samples_seen_", None)
        part.n_samples_seen_ = int(seen) if seen is not None and np.ndim(seen) == 0 else None
        return part

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StandardScaler):
            return NotImplemented
        return (
            self.mean_ is not None
            and other.mean_ is not None
            and np.array_equal(self.mean_, other.mean_)
            and np.array_equal(self.scale_, other.scale_)  # type: ignore[arg-type]  # scale_ is set whenever mean_ is
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        if self.mean_ is None or self.scale_ is None:
            return "StandardScaler(not fit)"
        return f"StandardScaler(mean={self.mean_.tolist()}, scale={self.scale_.tolist()})"
