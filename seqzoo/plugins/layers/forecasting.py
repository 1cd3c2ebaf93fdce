"""Classical forecasting transforms as layers: differencing, per-window normalisation and a
linear autoregressive skip (the LSTNet "highway").

A forecasting network maps a window ``(batch, window, features)`` (in the dataset scaler's
units, the targets being the last ``targets`` input columns) to ``(batch, horizon * targets)``,
step by step with the targets inside each step. :class:`WindowTransform` wraps such a network:

1. per-window statistics come off the input: the window's mean and standard deviation
   (``window_norm``, RevIN-style) or its last value (``subtract_last``, NLinear-style);
2. the window is differenced: ``difference`` times at lag 1, then once at lag
   ``seasonal_difference``;
3. the network forecasts the transformed series;
4. its output is integrated back and the statistics put back on, so the forecast is in the
   input's units again. With a network that outputs zeros this gives the naive forecast
   (``difference=1``), the seasonal-naive one (``seasonal_difference=s``), the drift line
   (``difference=2``), the last value (``subtract_last``) or the window mean (``window_norm``).

Everything happens in the module's forward, so a saved model keeps its transform in its config
and predictions, forecasts and exports need nothing else. Registered layers:

- ``ar-highway`` (:class:`ARHighway`): ``(batch, time, f) -> (batch, out_features)``, a linear
  map of the last ``order`` steps of the target columns; add it to a network's output with
  ``{"layer": "parallel", "join": "sum", "branches": [[...network...], {"layer": "ar-highway"}]}``.
- ``forecast-wrapper`` (:class:`ForecastBlock`): the transform around a ``body`` of layer specs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqzoo.core.errors import ConfigError, NotSteppableError
from seqzoo.core.modules import Layer, State, check_sequence, check_step
from seqzoo.core.validate import boolean, positive_int

__all__ = ["ARHighway", "ForecastBlock", "WindowTransform", "non_negative_int", "transform_options"]

#: The options of :class:`WindowTransform`, with their defaults (all off).
TRANSFORM_DEFAULTS: dict[str, Any] = {
    "difference": 0,
    "seasonal_difference": 0,
    "window_norm": False,
    "subtract_last": False,
}
#: Added to the window variance before the square root: a flat window stays finite.
EPS = 1e-5

#: What :class:`WindowTransform.encode` hands to :meth:`WindowTransform.decode`: the shift and
#: scale taken off (or None) and, per difference, the tail of the series before it.
Context = tuple[Tensor | None, Tensor | None, list[Tensor]]


def non_negative_int(value: Any, field: str, allowed: str) -> int:
    """A whole number >= 0 (not a bool); the message says which values are allowed."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"must be {allowed}, got {value!r}", field=field)
    return value


def transform_options(
    difference: Any = 0,
    seasonal_difference: Any = 0,
    window_norm: Any = False,
    subtract_last: Any = False,
) -> dict[str, Any]:
    """The checked options of a :class:`WindowTransform` (:class:`ConfigError` naming the fix)."""
    difference = non_negative_int(difference, "difference", "0 (off), 1 (first differences) or 2")
    if difference > 2:
        raise ConfigError(
            f"must be 0 (off), 1 or 2, got {difference}; a trend rarely needs more than two "
            "differences (use seasonal_difference for a season)",
            field="difference",
        )
    seasonal = non_negative_int(
        seasonal_difference, "seasonal_difference", "0 (off) or the season length (2 or more)"
    )
    if seasonal == 1:
        raise ConfigError(
            "a seasonal difference at lag 1 is a first difference: set difference=1 instead, "
            "or give the season length (2 or more)",
            field="seasonal_difference",
        )
    boolean(window_norm, "window_norm")
    boolean(subtract_last, "subtract_last")
    if window_norm and subtract_last:
        raise ConfigError(
            "window_norm and subtract_last both take per-window statistics off the input; "
            "choose one",
            field="subtract_last",
        )
    return {
        "difference": difference,
        "seasonal_difference": seasonal,
        "window_norm": window_norm,
        "subtract_last": subtract_last,
    }


class WindowTransform(nn.Module):
    """Per-window normalisation and differencing of forecast inputs, and the exact inverse on
    forecasts (see the module docstring). No parameters.

    ``input_size`` features in, of which the last ``targets`` are the targets; forecasts are
    ``(batch, output_size)`` with ``output_size = horizon * targets``.
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        targets: int = 1,
        difference: int = 0,
        seasonal_difference: int = 0,
        window_norm: bool = False,
        subtract_last: bool = False,
    ) -> None:
        super().__init__()
        self.input_size = positive_int(input_size, "input_size")
        self.output_size = positive_int(output_size, "output_size")
        self.targets = positive_int(targets, "targets")
        if targets > input_size:
            raise ConfigError(
                f"{targets} target columns but only {input_size} input columns; the targets "
                "are the last input columns, so targets must be at most input_size",
                field="targets",
            )
        if output_size % targets:
            raise ConfigError(
                f"output_size {output_size} is not horizon * targets for targets={targets}; "
                "set targets to the dataset's number of target columns",
                field="targets",
            )
        self.horizon = output_size // targets
        options = transform_options(difference, seasonal_difference, window_norm, subtract_last)
        self.window_norm = options["window_norm"]
        self.subtract_last = options["subtract_last"]
        seasonal = options["seasonal_difference"]
        #: the differencing lags in the order they are applied (they commute)
        self.lags: list[int] = [1] * options["difference"] + ([seasonal] if seasonal else [])
        self.options = options

    @property
    def consumed(self) -> int:
        """Time steps the differences use up: the network sees ``window - consumed`` steps."""
        return sum(self.lags)

    def check_window(self, length: int) -> None:
        """A :class:`ConfigError` unless a window of ``length`` steps survives the differences."""
        if length > self.consumed:
            return
        used = [
            f"{name}={self.options[name]}"
            for name in ("difference", "seasonal_difference")
            if self.options[name]
        ]
        verb = "uses" if len(used) == 1 else "use"
        raise ConfigError(
            f"{' and '.join(used)} {verb} {self.consumed} steps of each window, which has only "
            f"{length}; use a window of at least {self.consumed + 1} steps "
            f"(e.g. -D window={2 * self.consumed}) or smaller lags",
            field="seasonal_difference" if self.options["seasonal_difference"] else "difference",
        )

    def encode(self, x: Tensor) -> tuple[Tensor, Context]:
        """``(batch, window, input_size)`` -> ``(batch, window - consumed, input_size)`` and
        what :meth:`decode` needs."""
        shift = scale = None
        if self.window_norm:
            shift = x.mean(dim=1, keepdim=True)
            scale = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + EPS)
            x = (x - shift) / scale
        elif self.subtract_last:
            shift = x[:, -1:]
            x = x - shift
        tails: list[Tensor] = []
        k = self.targets
        for lag in self.lags:
            tails.append(x[:, -lag:, -k:])  # the last season of the target columns
            x = x[:, lag:] - x[:, :-lag]
        return x, (shift, scale, tails)

    def decode(self, y: Tensor, context: Context) -> Tensor:
        """Forecasts of the transformed series ``(batch, horizon * targets)`` -> forecasts in
        the input's units, the exact inverse of :meth:`encode`."""
        shift, scale, tails = context
        k = self.targets
        f = y.reshape(-1, self.horizon, k)
        for lag, tail in zip(reversed(self.lags), reversed(tails), strict=True):
            f = _integrate(f, tail, lag, self.horizon, k)
        if scale is not None:
            f = f * scale[..., -k:]
        if shift is not None:
            f = f + shift[..., -k:]
        return f.reshape(-1, self.horizon * k)


def _integrate(future: Tensor, tail: Tensor, lag: int, horizon: int, k: int) -> Tensor:
    """Undo a lag-``lag`` difference over a forecast: ``z[t] = d[t] + z[t - lag]``, where the
    first ``lag`` earlier values are ``tail`` ``(batch, lag, k)`` (the series' last season).

    Step ``h`` adds up the differences at ``h, h - lag, ...``: a cumulative sum over seasons,
    with no loop over the horizon (the whole thing traces and exports as a few ops). The sizes
    come as ints, not from ``future.shape``, so a trace keeps them constant."""
    seasons = math.ceil(horizon / lag)
    padded = F.pad(future, (0, 0, 0, seasons * lag - horizon))
    levels = padded.reshape(-1, seasons, lag, k).cumsum(dim=1) + tail.unsqueeze(1)
    return levels.reshape(-1, seasons * lag, k)[:, :horizon]


class ARHighway(Layer):
    """A linear autoregression over the last ``order`` steps of the last ``targets`` input
    columns (LSTNet's highway): ``(batch, time, input_size) -> (batch, out_features)``.

    Before the start of a sequence shorter than ``order`` the inputs count as zeros, so stepping
    gives, at each step, the whole-sequence forward of the sequence so far. State: the last
    ``order - 1`` target values ``(batch, order - 1, targets)``.
    """

    reduces_time = True

    def __init__(
        self,
        input_size: int,
        out_features: int = 1,
        order: int = 2,
        targets: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.input_size = positive_int(input_size, "input_size")
        self.output_size = positive_int(out_features, "out_features")
        self.order = positive_int(order, "order")
        self.targets = positive_int(targets, "targets")
        if targets > input_size:
            raise ConfigError(
                f"reads the last {targets} columns of an input with only {input_size}; set "
                f"targets to at most {input_size}",
                field="targets",
            )
        # weights over (order steps, oldest first) x (target columns), flattened time-major
        self.linear = nn.Linear(order * targets, out_features, bias=boolean(bias, "bias"))

    def forward(self, x: Tensor) -> Tensor:
        check_sequence(x, self.input_size, "ar-highway")
        tail = x[:, -self.order :, self.input_size - self.targets :]
        missing = self.order - int(x.shape[1])  # an int: a trace keeps the window's length
        if missing > 0:  # a sequence shorter than the order: zeros before its start
            tail = F.pad(tail, (0, 0, missing, 0))
        return self.linear(tail.reshape(tail.shape[0], -1))

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        weight = self.linear.weight
        return torch.zeros(
            batch_size,
            self.order - 1,
            self.targets,
            device=device or weight.device,
            dtype=dtype or weight.dtype,
        )

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, Tensor]:
        """One step ``(batch, input_size) -> (batch, out_features)``."""
        check_step(x, self.input_size, "ar-highway")
        if state is None:
            state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        window = torch.cat([state, x[:, None, self.input_size - self.targets :]], dim=1)
        return self.linear(window.reshape(x.shape[0], -1)), window[:, 1:]


Build = Callable[..., Layer]


class ForecastBlock(Layer):
    """:class:`WindowTransform` around a ``body`` of layer specs, for hybrids:
    ``(batch, window, input_size) -> (batch, body's output size)``.

    The body must pool the time axis and end in ``horizon * targets`` features (e.g. ``last``
    then ``linear``); ``ar_order`` adds an :class:`ARHighway` over the transformed window to
    its output. It needs whole windows, so it cannot run step by step.
    """

    causal = False
    reduces_time = True

    def __init__(
        self,
        input_size: int,
        body: Any,
        build: Build,
        targets: int = 1,
        difference: int = 0,
        seasonal_difference: int = 0,
        window_norm: bool = False,
        subtract_last: bool = False,
        ar_order: int = 0,
    ) -> None:
        super().__init__()
        self.input_size = positive_int(input_size, "input_size")
        self.body = build(body, input_size)
        if not self.body.reduces_time:
            raise ConfigError(
                "the body must forecast from the whole window: end it with a pooling layer "
                "(last, mean) and {layer: linear, out_features: horizon * targets}",
                field="body",
            )
        self.output_size = self.body.output_size
        self.transform = WindowTransform(
            input_size,
            self.output_size,
            targets,
            difference,
            seasonal_difference,
            window_norm,
            subtract_last,
        )
        order = non_negative_int(
            ar_order, "ar_order", "0 (off) or the number of past steps to regress on"
        )
        self.highway = (
            ARHighway(input_size, self.output_size, order=order, targets=targets) if order else None
        )

    def forward(self, x: Tensor) -> Tensor:
        check_sequence(x, self.input_size, "forecast-wrapper")
        self.transform.check_window(x.shape[1])
        z, context = self.transform.encode(x)
        y = self.body(z)
        if self.highway is not None:
            y = y + self.highway(z)
        return self.transform.decode(y, context)

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        raise NotSteppableError(
            "a forecast-wrapper block forecasts from whole windows (it differences and "
            "normalises each one) and cannot run step by step; call the model on windows"
        )
