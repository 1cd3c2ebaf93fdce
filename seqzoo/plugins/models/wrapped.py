"""A forecasting model around any registered one: differencing, per-window normalisation and
a linear autoregressive skip, undone on the output so forecasts stay in the data's units.

::

    seqzoo.train(
        model={"name": "forecast-wrapper", "inner": {"name": "gru", "hidden_size": 32},
               "difference": 1},
        dataset="co2",
    )

Shapes: input ``(batch, window, input_size)`` (the last ``targets`` columns being the
targets), output ``(batch, output_size)`` with ``output_size = horizon * targets``. The inner
model sees the transformed window, ``(batch, window - consumed, input_size)`` (see
:class:`~seqzoo.plugins.layers.forecasting.WindowTransform`), and must give
``(batch, output_size)``. The config holds the inner model's full config, so
``save_pretrained`` / ``from_pretrained`` rebuild the same model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from seqzoo.core.errors import ConfigError, NotSteppableError
from seqzoo.core.modules import SequenceModel, State, check_sequence
from seqzoo.core.validate import positive_int
from seqzoo.plugins.layers.forecasting import ARHighway, WindowTransform, non_negative_int

__all__ = ["ForecastWrapper"]

_SIZES = ("input_size", "output_size", "output")


class ForecastWrapper(SequenceModel):
    """``inner`` (a registered model name, ``{"name": ..., **config}``, or a hybrid spec
    ``{"layers": [...]}``) run on differenced / normalised windows; see the module docstring.

    ``targets``: how many of the last input columns are targets (the dataset's target count).
    ``difference`` (0, 1, 2) and ``seasonal_difference`` (0 or the season length): the
    differences taken; ``window_norm``: subtract each window's mean and divide by its standard
    deviation (RevIN); ``subtract_last``: subtract each window's last value; ``ar_order``: add
    a linear autoregression over that many of the transformed window's last steps (LSTNet).
    ``registry``: where ``inner`` is looked up (None: the installed plugins'), as for hybrids.
    """

    causal = False  # forecasts come from whole windows

    def __init__(
        self,
        input_size: int,
        inner: Any,
        output_size: int = 1,
        targets: int = 1,
        difference: int = 0,
        seasonal_difference: int = 0,
        window_norm: bool = False,
        subtract_last: bool = False,
        ar_order: int = 0,
        *,
        registry: Any = None,
    ) -> None:
        super().__init__()
        self.input_size = positive_int(input_size, "input_size")
        self.output_size = positive_int(output_size, "output_size")
        self.transform = WindowTransform(
            input_size,
            output_size,
            targets,
            difference,
            seasonal_difference,
            window_norm,
            subtract_last,
        )
        order = non_negative_int(
            ar_order, "ar_order", "0 (off) or the number of past steps to regress on"
        )
        name, self.inner = _build_inner(inner, input_size, output_size, registry)
        self.highway = (
            ARHighway(input_size, output_size, order=order, targets=targets) if order else None
        )
        self._config = {
            "input_size": input_size,
            "inner": {"name": name, **self.inner.config},  # in full: rebuilds the same net
            "output_size": output_size,
            "targets": targets,
            **self.transform.options,
            "ar_order": order,
        }

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, window, input_size)`` -> ``(batch, output_size)`` in the input's units."""
        check_sequence(x, self.input_size, "forecast-wrapper")
        self.transform.check_window(x.shape[1])
        z, context = self.transform.encode(x)
        y = self.inner(z)
        if self.highway is not None:
            y = y + self.highway(z)
        return self.transform.decode(y, context)

    def _refuse(self) -> NotSteppableError:
        return NotSteppableError(
            "forecast-wrapper forecasts from whole windows (it differences and normalises each "
            "one), so it cannot run step by step or carry state across chunks; call the model "
            "on windows (seqzoo.forecast / seqzoo predict do), or export model.inner alone"
        )

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        raise self._refuse()

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        raise self._refuse()

    def forward_stateful(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        raise self._refuse()


def _build_inner(
    inner: Any, input_size: int, output_size: int, registry: Any
) -> tuple[str, SequenceModel]:
    """The inner model, sized to the wrapper's input and output: ``(its name, model)``, found
    in ``registry`` (None: the installed plugins')."""
    from seqzoo.core.api import get_registry
    from seqzoo.core.workflow import resolve_part

    wrapped = inner.get("name") if isinstance(inner, Mapping) else inner
    if wrapped == "forecast-wrapper":
        raise ConfigError("inner is the network to wrap; it cannot be a forecast-wrapper itself")
    try:
        name, config = resolve_part(inner, "model")
    except ConfigError as exc:
        raise ConfigError(
            f"{exc.reason}; e.g. inner=gru or inner={{name: gru, hidden_size: 32}}", field="inner"
        ) from None
    registry = registry if registry is not None else get_registry()
    wanted: dict[str, Any] = {"input_size": input_size}
    if name != "hybrid":
        try:
            record = registry.get("model", name)
        except Exception as exc:
            raise ConfigError(str(exc), field="inner") from None
        if record.metadata.get("input_kind") == "ids":
            raise ConfigError(
                f"model {name!r} reads token ids; a forecast-wrapper needs one that reads "
                "real-valued windows (gru, lstm, linear, conv-recurrent, a hybrid ...)",
                field="inner",
            )
        accepted = record.argument_names()
        wanted.update(output_size=output_size, output="last")
        wanted = {k: v for k, v in wanted.items() if k in accepted}
    for key in _SIZES:
        if key in config and key in wanted and config[key] != wanted[key]:
            raise ConfigError(
                f"the inner model's {key} is set by the wrapper ({wanted[key]!r}); drop "
                f"{key}={config[key]!r} from inner",
                field="inner",
            )
    try:
        model = registry.create("model", name, **{**config, **wanted})
    except ConfigError as exc:
        raise ConfigError(f"{exc}", field="inner") from None
    if not isinstance(getattr(model, "config", None), Mapping):
        raise ConfigError(
            f"model {name!r} has no .config of its constructor arguments, so a wrapper around "
            "it could not be saved and rebuilt; wrap a seqzoo SequenceModel",
            field="inner",
        )
    size = getattr(model, "output_size", output_size)
    pooled = getattr(model, "reduces_time", True)
    if size != output_size or not pooled:
        raise ConfigError(
            f"the inner model must give (batch, {output_size}) forecasts; it gives "
            f"{'(batch, time, ' if not pooled else '(batch, '}{size}); end a hybrid with a "
            f"pooling layer (last, mean) and {{layer: linear, out_features: {output_size}}}",
            field="inner",
        )
    return name, model
