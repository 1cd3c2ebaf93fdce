"""The input and state checks every model and layer shares (see :mod:`seqzoo.core.modules`).

Structure checks (type, rank, features, dtype, a non-empty time axis) read only shapes. Value
checks read the data: a NaN or infinity (one ``sum`` over the input) and token ids outside the
vocabulary (one ``aminmax``); each is one reduction and one host read, so at most one device
sync per call. Every check raises :class:`~seqzoo.core.errors.ShapeError` naming the input.

While a model is traced, compiled or exported (TorchScript, ``torch.compile``, the ONNX
exporters) the value checks are skipped: they would read data the graph does not have.
:func:`input_checks` turns every check off, e.g. for a benchmark's baseline.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

from .errors import ShapeError

__all__ = [
    "check_finite",
    "check_ids",
    "check_sequence",
    "check_step",
    "check_token_range",
    "checks_enabled",
    "describe",
    "input_checks",
    "state_mismatch",
    "state_template",
    "tracing",
]

_ENABLED = [True]  # a list, so the hot path reads one global without a ``global`` statement

_get_tracing_state = torch._C._get_tracing_state
_is_compiling = torch.compiler.is_compiling
_is_exporting = getattr(torch.compiler, "is_exporting", lambda: False)


def tracing() -> bool:
    """True while TorchScript traces (the TorchScript ONNX exporter too), or dynamo compiles
    or exports: data-dependent checks must stay out of the graph then."""
    return _get_tracing_state() is not None or _is_compiling() or _is_exporting()


def checks_enabled() -> bool:
    """Whether the model input and state checks run (see :func:`input_checks`)."""
    return _ENABLED[0] and not tracing()


@contextmanager
def input_checks(enabled: bool) -> Iterator[None]:
    """``with input_checks(False):`` skips every model input and state check in the block
    (errors then come from deep inside torch); the previous setting is restored after it."""
    previous = _ENABLED[0]
    _ENABLED[0] = bool(enabled)
    try:
        yield
    finally:
        _ENABLED[0] = previous


def describe(x: object) -> str:
    """``shape (2, 5) of dtype float32``, or ``a list`` for what is not a tensor."""
    if isinstance(x, Tensor):
        return f"shape {tuple(x.shape)} of dtype {str(x.dtype).removeprefix('torch.')}"
    return f"a {type(x).__name__}"


def check_sequence(
    x: object, features: int | None, who: str, *, ranks: tuple[int, ...] = (3,)
) -> Tensor:
    """Check ``x`` is a float tensor ``(batch, time, features)`` with at least one time step;
    return it. ``ranks=(2, 3)`` also takes ``(batch, time)`` (one feature); ``features=None``
    takes any number of features."""
    shape = f"(batch, time, {features if features is not None else 'features'})"
    if ranks != (3,):
        shape = " or ".join("(batch, time)" if rank == 2 else shape for rank in sorted(ranks))
    if (
        not isinstance(x, Tensor)
        or x.dim() not in ranks
        or (x.dim() == 3 and features is not None and x.shape[-1] != features)
        or (x.dim() == 2 and features not in (None, 1))
        or not x.is_floating_point()
    ):
        raise ShapeError(f"{who} expects a float tensor of shape {shape}; got {describe(x)}")
    if x.shape[1] == 0:
        raise ShapeError(
            f"{who} expects at least one time step; got shape {tuple(x.shape)} (an empty "
            "sequence has no output)"
        )
    return x


def check_step(x: object, features: int | None, who: str) -> Tensor:
    """Check ``x`` is one time step, a float tensor ``(batch, features)``; return it."""
    if (
        not isinstance(x, Tensor)
        or x.dim() != 2
        or (features is not None and x.shape[-1] != features)
        or not x.is_floating_point()
    ):
        raise ShapeError(
            f"{who}.step expects one time step, a float tensor of shape (batch, "
            f"{features if features is not None else 'features'}); got {describe(x)}"
        )
    return x


def check_ids(x: object, dims: int, who: str) -> Tensor:
    """Check ``x`` is an integer tensor with ``dims`` dimensions (2: ``(batch, time)``, with at
    least one time step; 1: one step ``(batch,)``); return it."""
    expected = "(batch, time)" if dims == 2 else "(batch,)"
    if (
        not isinstance(x, Tensor)
        or x.dim() != dims
        or x.is_floating_point()
        or x.is_complex()
        or x.dtype == torch.bool
    ):
        raise ShapeError(f"{who} expects integer token ids of shape {expected}; got {describe(x)}")
    if dims == 2 and x.shape[1] == 0:
        raise ShapeError(
            f"{who} expects at least one token per sequence; got shape {tuple(x.shape)}"
        )
    return x


def check_token_range(ids: Tensor, vocab_size: int, who: str) -> None:
    """:class:`ShapeError` unless every id is in ``[0, vocab_size)``: an embedding lookup
    would fail with a bare IndexError on the CPU and a device-side assert on a GPU (which
    ends the process's use of that GPU). One ``aminmax`` pass and one host read."""
    if ids.numel() == 0:
        return
    low, high = (int(v) for v in torch.stack(torch.aminmax(ids)).tolist())
    if low < 0 or high >= vocab_size:
        bad = ((ids < 0) | (ids >= vocab_size)).nonzero()[0].tolist()
        raise ShapeError(
            f"{who} expects token ids in [0, {vocab_size}); got ids from {low} to {high} (the "
            f"first out of range, {int(ids[tuple(bad)])}, at index {tuple(bad)}); encode text "
            "with the model's own tokenizer"
        )


def check_finite(x: Tensor, who: str) -> None:
    """:class:`ShapeError` naming the first NaN or infinity in ``x``. One fused reduction (a
    NaN or infinity makes the sum non-finite) and one host read; only an input that fails
    it, or whose sum overflows, is searched element by element."""
    if x.numel() == 0:
        return
    total = x.sum(dtype=torch.float32) if x.element_size() < 4 else x.sum()
    if math.isfinite(total.item()):
        return
    finite = torch.isfinite(x)
    if bool(finite.all()):  # a sum that overflowed: every value is finite
        return
    index = tuple((~finite).nonzero()[0].tolist())
    raise ShapeError(
        f"{who} got a non-finite input ({float(x[index])} at index {index}, of "
        f"{int((~finite).sum())} such values); fill or drop missing values before calling it"
    )


# -- states -----------------------------------------------------------------------------------

#: What a state looks like: None (anything goes), ``(shape, floating, dtype)`` for a tensor,
#: or a list of templates for a tuple or list of states.
Template = Any


def state_template(state: Any) -> Template:
    """The form of a state from ``initial_state``: shapes and kinds, no data."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return (tuple(state.shape), state.is_floating_point(), state.dtype)
    if isinstance(state, (tuple, list)):
        return [state_template(s) for s in state]
    return None  # a state of a kind seqzoo does not know: the module checks it itself


def state_mismatch(state: Any, template: Template, device: torch.device | None) -> str | None:
    """Why ``state`` does not have the form of ``template`` (``"state[1]: ..."``), or None.
    Tuples and lists are interchangeable; a None template accepts anything (a module that
    makes its state on the first step)."""
    stack: list[tuple[Any, Template, str]] = [(state, template, "state")]
    while stack:
        value, form, where = stack.pop()
        if form is None:
            continue
        if isinstance(form, list):
            if not isinstance(value, (tuple, list)):
                return f"{where} must be a tuple or list of {len(form)} states; got {_kind(value)}"
            if len(value) != len(form):
                return f"{where} must hold {len(form)} states; got {len(value)}"
            children = enumerate(zip(value, form, strict=True))
            # reversed onto the stack, so the first mismatch in reading order is reported
            stack.extend(reversed([(v, f, f"{where}[{i}]") for i, (v, f) in children]))
            continue
        shape, floating, dtype = form
        if not isinstance(value, Tensor):
            return f"{where} must be a tensor of shape {shape}; got {_kind(value)}"
        if tuple(value.shape) != shape:
            return f"{where} must have shape {shape}; got shape {tuple(value.shape)}"
        if value.is_floating_point() != floating or (floating and value.dtype != dtype):
            name = str(dtype).removeprefix("torch.")
            got = str(value.dtype).removeprefix("torch.")
            return f"{where} must be of dtype {name}; got {got}"
        if device is not None and value.device != device:
            return f"{where} is on {value.device}, but the input is on {device}"
    return None


def _kind(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return describe(value)
