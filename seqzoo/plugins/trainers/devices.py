"""Where and how the built-in trainers compute: the device a model trains on (and its
optimizer state with it), the precision's fit to that device, and ``torch.compile`` with a
fallback to eager execution (:mod:`seqzoo.plugins.trainers.supervised` uses these)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from seqzoo.core.device import resolve_device
from seqzoo.core.errors import ConfigError, SeqzooError

__all__ = ["FP16_DEVICES", "CompileFallbackWarning", "compiled", "place"]

#: Device types ``precision="16-mixed"`` trains on (fp16 LSTM kernels are CUDA-only).
FP16_DEVICES = ("cuda",)


class CompileFallbackWarning(RuntimeWarning):
    """``compile=True``, but torch.compile failed on this model: it trains uncompiled."""


def place(model: nn.Module, optimizer: Any, device: str, precision: str) -> torch.device:
    """Move ``model`` (and any optimizer state) to ``device`` and return it; check that
    ``precision`` suits it. ``"auto"`` keeps a model already on an accelerator there."""
    reference = next(iter(model.parameters()), None)
    current = reference.device if reference is not None else torch.device("cpu")
    if device == "auto" and current.type not in ("cpu", "meta"):
        target = current
    else:
        target = resolve_device(device)
    if precision == "16-mixed" and target.type not in FP16_DEVICES:
        raise ConfigError(
            "precision '16-mixed' (float16 autocast with a gradient scaler) needs a CUDA "
            f"device, and this run trains on {target.type!r}; use precision 'bf16' there "
            "(or '32')",
            field="precision",
        )
    if precision == "16-mixed" and isinstance(optimizer, torch.optim.LBFGS):
        raise ConfigError(
            "lbfgs re-evaluates the loss itself, which a gradient scaler cannot scale; use "
            "precision 'bf16' or '32' with lbfgs",
            field="precision",
        )
    if current != target:
        model.to(target)  # in place: the optimizer's parameters stay the same objects
        for values in getattr(optimizer, "state", {}).values():
            for key, value in values.items():
                if isinstance(value, Tensor) and value.dim() > 0:  # not Adam's CPU step count
                    values[key] = value.to(target)
    return target


def compiled(function: Callable[..., Any], what: str) -> Callable[..., Any]:
    """``function`` through :func:`torch.compile`; where compiling fails (at once, or at a
    call, where torch compiles), a :class:`CompileFallbackWarning` and ``function`` itself
    from then on. The failed call is run again eagerly from the same RNG state."""
    try:
        optimized = torch.compile(function)
    except Exception as exc:
        _failed(what, exc)
        return function
    active = [optimized]

    def call(*args: Any) -> Any:
        if active[0] is function:
            return function(*args)
        rng = torch.get_rng_state()
        try:
            return optimized(*args)
        except (SeqzooError, KeyboardInterrupt):
            raise
        except Exception as exc:
            _failed(what, exc)
            active[0] = function
            torch.set_rng_state(rng)  # dropout draws as if the failed call never ran
            return function(*args)

    return call


def _failed(what: str, exc: Exception) -> None:
    reason = (str(exc).strip().splitlines() or [""])[0][:200]
    warnings.warn(
        f"torch.compile could not compile {what} ({type(exc).__name__}: {reason}); training "
        "continues uncompiled (drop --compile / compile=True to silence this)",
        CompileFallbackWarning,
        stacklevel=3,
    )
