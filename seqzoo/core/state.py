"""Pickle-free training state: nested state (optimizer and schedule ``state_dict``\\ s, RNG
states, counters, history) as one JSON document plus one safetensors file for its tensors.

:func:`encode` walks the state: every tensor is moved into a flat ``{key: tensor}`` mapping (what
``safetensors`` stores) and replaced by ``{"__tensor__": key}``; tuples, dicts with non-string
keys (an optimizer's ``{0: {...}}``), NumPy arrays and bytes get tags of their own, so
:func:`decode` gives back exactly what was saved (``(0.9, 0.999)`` stays a tuple, ``0`` stays an
int). Nothing is ever unpickled, so reading a checkpoint cannot run code.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .errors import ConfigError, WeightsError

__all__ = ["decode", "encode"]

_TAGS = ("__tensor__", "__ndarray__", "__tuple__", "__items__", "__bytes__", "__float__")


def encode(value: Any) -> tuple[Any, dict[str, Tensor]]:
    """``(JSON-ready data, {key: tensor})`` for ``value``; the tensors are on the CPU,
    contiguous and never share memory (safetensors refuses shared storage)."""
    tensors = _Tensors()
    return _encode(value, tensors, "state"), tensors


class _Tensors(dict[str, Tensor]):
    """The tensors met so far, by key, and the storages they use."""

    def __init__(self) -> None:
        super().__init__()
        self.storages: set[int] = set()

    def add(self, tensor: Tensor) -> str:
        key = f"t{len(self)}"
        tensor = tensor.detach().cpu()
        storage = tensor.untyped_storage().data_ptr()
        if (storage and storage in self.storages) or not tensor.is_contiguous():
            tensor = tensor.clone(memory_format=torch.contiguous_format)
        self.storages.add(tensor.untyped_storage().data_ptr())
        self[key] = tensor
        return key


def _encode(value: Any, tensors: _Tensors, where: str) -> Any:
    if isinstance(value, Tensor):
        return {"__tensor__": tensors.add(value)}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": tensors.add(torch.from_numpy(np.ascontiguousarray(value)))}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        # JSON has no NaN / infinity: spelt out, so the file stays strict JSON
        return number if math.isfinite(number) else {"__float__": repr(number)}
    if isinstance(value, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        if all(isinstance(k, str) for k in value) and not set(value) & set(_TAGS):
            return {k: _encode(v, tensors, f"{where}.{k}") for k, v in value.items()}
        return {
            "__items__": [
                [_encode(k, tensors, where), _encode(v, tensors, f"{where}[{k!r}]")]
                for k, v in value.items()
            ]
        }
    raise ConfigError(
        f"cannot save {where} (a {type(value).__name__}) in a checkpoint: checkpoint state holds "
        "tensors, numbers, strings, lists, tuples and dicts only (no pickle); give the "
        "optimizer or schedule plain state"
    )


def decode(value: Any, tensors: Mapping[str, Tensor], where: str = "state") -> Any:
    """Undo :func:`encode` (``tensors`` as read back from the safetensors file)."""
    if isinstance(value, list):
        return [decode(v, tensors, where) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, inner),) = value.items()
        if tag in ("__tensor__", "__ndarray__"):
            if inner not in tensors:
                raise WeightsError(
                    f"{where} names tensor {inner!r}, which its safetensors file lacks; the "
                    "checkpoint is incomplete"
                )
            found = tensors[inner]
            return found.numpy() if tag == "__ndarray__" else found
        if tag == "__tuple__":
            return tuple(decode(v, tensors, where) for v in inner)
        if tag == "__items__":
            return {decode(k, tensors, where): decode(v, tensors, where) for k, v in inner}
        if tag == "__bytes__":
            return base64.b64decode(inner)
        if tag == "__float__":
            return float(inner)
    return {k: decode(v, tensors, where) for k, v in value.items()}
