"""The kind of number each stored tensor holds, checked against the model's before loading.

A tensor stored as integers or booleans where the model holds floats (or the reverse) is a
:class:`~seqzoo.core.errors.WeightsError` naming it: a silent cast would turn integer bits into
values like 1e9. Another width of the same kind (float16 or float64 for float32) is cast, as
copying into the parameter would.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from seqzoo.core.errors import WeightsError

from .hub import CONFIG_NAME

__all__ = ["check_dtypes", "kind", "stored_dtypes"]


def kind(dtype: torch.dtype | str) -> str:
    """``"bool"``, ``"integer"``, ``"floating-point"`` or ``"complex"``: of a torch dtype or a
    safetensors dtype code (``"F32"``, ``"BF16"``, ``"I64"``, ``"BOOL"``, ...)."""
    if isinstance(dtype, str):
        code = dtype.upper()
        if code == "BOOL":
            return "bool"
        if code.startswith(("F", "BF")):
            return "floating-point"
        return "complex" if code.startswith("C") else "integer"
    if dtype == torch.bool:
        return "bool"
    if dtype.is_floating_point:
        return "floating-point"
    return "complex" if dtype.is_complex else "integer"


#: safetensors' dtype codes, as torch names them
_CODES = {
    "BOOL": "bool",
    "U8": "uint8",
    "I8": "int8",
    "I16": "int16",
    "U16": "uint16",
    "I32": "int32",
    "U32": "uint32",
    "I64": "int64",
    "U64": "uint64",
    "F16": "float16",
    "BF16": "bfloat16",
    "F32": "float32",
    "F64": "float64",
}


def check_dtypes(
    stored: Mapping[str, torch.dtype | str],
    own: Mapping[str, torch.Tensor],
    path: Path,
    where: str,
) -> None:
    """A tensor stored as another kind of number than the model's (integers or booleans
    where it holds floats, or the reverse) is an error, not a silent cast: casting integer
    bits to floats gives values like 1e9. Another width of the same kind (float64 for
    float32) is cast, as copying into the parameter would."""
    for name, dtype in stored.items():
        tensor = own.get(name)
        if tensor is None:
            continue  # an unexpected key: reported (or skipped) by the strict check
        if kind(dtype) != kind(tensor.dtype):
            shown = _CODES.get(dtype, dtype) if isinstance(dtype, str) else str(dtype)
            shown = shown.removeprefix("torch.")
            expected = str(tensor.dtype).removeprefix("torch.")
            raise WeightsError(
                f"{where}: {path.name} stores {name!r} as {shown} ({kind(dtype)}), but the "
                f"model built from {CONFIG_NAME} holds {expected} ({kind(tensor.dtype)}) "
                "there; the file was not written from this kind of model, or was converted "
                "wrongly: save the model again with seqzoo.save_pretrained"
            )


def stored_dtypes(path: Path, where: str) -> dict[str, str]:
    """The safetensors dtype code of each tensor in ``path``, read from its header only."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as file:
            return {key: file.get_slice(key).get_dtype() for key in file.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(
            f"{where}: {path.name} is corrupt or truncated and cannot be read as safetensors "
            f"({exc}); download or save it again"
        ) from None
