"""Device, dtype, precision and thread choice: ``"auto"`` picks the best device there is
(CUDA, then Apple MPS, then the CPU); an explicit device that this machine lacks, an unknown
precision or a thread count below 1 is a clear :class:`ConfigError` naming what is allowed."""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from .errors import ConfigError

__all__ = [
    "DTYPES",
    "PRECISIONS",
    "autocast",
    "resolve_device",
    "resolve_dtype",
    "resolve_precision",
    "resolve_threads",
    "set_threads",
]

#: Names accepted for the floating-point dtypes a model may be cast to.
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float64": torch.float64,
    "fp64": torch.float64,
    "double": torch.float64,
}

_DEVICE_HELP = "use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: str | int | torch.device | None = "auto") -> torch.device:
    """The :class:`torch.device` to use.

    ``"auto"`` (or ``None``) gives CUDA when a GPU is visible, else MPS on Apple silicon, else
    the CPU. A name (``"cpu"``, ``"cuda:1"``, ``"mps"``), an index (CUDA) or a
    :class:`torch.device` is checked: one this machine cannot use raises :class:`ConfigError`
    saying why, rather than failing later inside the first tensor operation.
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if isinstance(device, bool) or not isinstance(device, (str, int, torch.device)):
        raise ConfigError(
            f"device must be a name, an index or a torch.device, not {type(device).__name__}; "
            + _DEVICE_HELP,
            field="device",
        )
    if isinstance(device, int):
        # torch reads a bare index as "the current accelerator"; seqzoo documents CUDA
        if device < 0:
            raise ConfigError(f"a device index is >= 0, got {device}", field="device")
        device = f"cuda:{device}"
    try:
        resolved = torch.device(device.strip() if isinstance(device, str) else device)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(f"unknown device {device!r}; {_DEVICE_HELP}", field="device") from None

    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {str(resolved)!r} asked for, but CUDA is not available here (no GPU "
                "visible, or torch was built without CUDA); use device='auto' or 'cpu'",
                field="device",
            )
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count:
            raise ConfigError(
                f"device {str(resolved)!r} asked for, but this machine has {count} CUDA "
                f"device(s): cuda:0 to cuda:{count - 1}",
                field="device",
            )
    elif resolved.type == "mps":
        if not _mps_available():
            raise ConfigError(
                "device 'mps' asked for, but Apple MPS is not available here; use device='auto' "
                "or 'cpu'",
                field="device",
            )
    elif resolved.type not in ("cpu", "meta"):
        # other accelerators (xpu, ...) expose torch.<type>.is_available()
        backend = getattr(torch, resolved.type, None)
        available = getattr(backend, "is_available", None)
        if callable(available) and not available():
            raise ConfigError(
                f"device {str(resolved)!r} is not available here; {_DEVICE_HELP}", field="device"
            )
    return resolved


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """A floating-point :class:`torch.dtype` from a name (``"float32"``, ``"float16"``,
    ``"bfloat16"``, ...) or a dtype; ``None`` stays ``None`` (keep the weights' own dtype)."""
    if dtype is None:
        return None
    if isinstance(dtype, torch.dtype):
        resolved = dtype
    elif isinstance(dtype, str):
        key = dtype.strip().lower().removeprefix("torch.")
        if key not in DTYPES:
            raise ConfigError(
                f"unknown dtype {dtype!r}; use one of float32, float16, bfloat16, float64",
                field="dtype",
            )
        resolved = DTYPES[key]
    else:
        raise ConfigError(
            f"dtype must be a name or a torch.dtype, not {type(dtype).__name__}", field="dtype"
        )
    if not resolved.is_floating_point:
        raise ConfigError(
            f"dtype {str(resolved).removeprefix('torch.')} is not a floating-point type; a model "
            "is cast to float32, float16, bfloat16 or float64",
            field="dtype",
        )
    return resolved


#: The training precisions: full float32, bfloat16 autocast, float16 autocast with a gradient
#: scaler (CUDA only: fp16 kernels for the recurrent layers are missing on the CPU).
PRECISIONS = ("32", "bf16", "16-mixed")

_PRECISION_ALIASES = {
    "32": "32",
    "32-true": "32",
    "fp32": "32",
    "float32": "32",
    "bf16": "bf16",
    "bf16-mixed": "bf16",
    "bfloat16": "bf16",
    "16": "16-mixed",
    "16-mixed": "16-mixed",
    "fp16": "16-mixed",
}


def resolve_precision(precision: Any) -> str:
    """One of :data:`PRECISIONS` from a name (``"32"``, ``32``, ``"bf16"``, ``"16-mixed"``, or an
    alias such as ``"bf16-mixed"``, ``"fp16"``); anything else raises :class:`ConfigError`."""
    key = str(precision).strip().lower() if isinstance(precision, (str, int)) else None
    if isinstance(precision, bool) or key not in _PRECISION_ALIASES:
        raise ConfigError(
            f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)} (float32, "
            "bfloat16 autocast, float16 autocast with a gradient scaler on CUDA)",
            field="precision",
        )
    return _PRECISION_ALIASES[key]


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """The autocast context of ``precision`` on ``device`` (a no-op for ``"32"``)."""
    if precision == "32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def resolve_threads(threads: Any) -> int | None:
    """A torch intra-op thread count: an integer >= 1, or None (leave torch's setting)."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(
            f"must be a whole number of threads >= 1 (or None: torch's default), got {threads!r}",
            field="threads",
        )
    return threads


def set_threads(threads: Any) -> int | None:
    """Set torch's intra-op threads (:func:`torch.set_num_threads`) to ``threads`` (checked by
    :func:`resolve_threads`; None changes nothing); return the count now in effect."""
    resolved = resolve_threads(threads)
    if resolved is not None and torch.get_num_threads() != resolved:
        torch.set_num_threads(resolved)
    return torch.get_num_threads()
