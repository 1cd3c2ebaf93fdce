"""The module contract every model and layer follows, and the input checks they share.

Shapes are batch-first: a real-valued sequence is ``(batch, time, features)``, one time step is
``(batch, features)``; token sequences are ``(batch, time)`` integer ids.

Step-by-step inference: ``initial_state(batch_size)`` gives the state before the first step and
``step(x_t, state) -> (y_t, state)`` consumes one time step. Feeding a sequence one step at a time
gives the same outputs as the whole-sequence forward. A state is ``None``, a tensor, or a tuple
or list of states. With autograd off, the built-in steps run under ``torch.inference_mode``
(:func:`autograd_off`), so their outputs and states are inference tensors.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import Tensor, nn

from .errors import NotSteppableError, ShapeError

__all__ = [
    "Layer",
    "SequenceModel",
    "SequenceModule",
    "State",
    "autograd_off",
    "check_ids",
    "check_sequence",
    "check_step",
    "detach_state",
    "inference_mode",
    "map_state",
]

State = Any  # None | Tensor | tuple[State, ...] | list[State]


def map_state(state: State, fn: Callable[[Tensor], Tensor]) -> State:
    """Apply ``fn`` to every tensor in a (nested) state."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return fn(state)
    if isinstance(state, (tuple, list)):
        return type(state)(map_state(s, fn) for s in state)
    raise TypeError(f"a state holds tensors, tuples and lists, not {type(state).__name__}")


def detach_state(state: State) -> State:
    """Cut the autograd history of a state (truncated back-propagation through time)."""
    return map_state(state, Tensor.detach)


def autograd_off() -> bool:
    """True when no gradient can be wanted (autograd off, no tracing or compiling): a step may
    then run under ``torch.inference_mode``, which skips autograd's bookkeeping on every op.

    Tensors made there are inference tensors: usable anywhere under ``torch.no_grad``, but
    clone one before editing it in place, or feeding it to autograd, outside that mode.
    """
    return not (torch.is_grad_enabled() or torch.jit.is_tracing() or torch.compiler.is_compiling())


#: ``with inference_mode(True):`` is ``with torch.inference_mode():`` through its C++ guard,
#: a microsecond cheaper per entry than the Python wrapper: it is entered once per streaming
#: step. The public class stands in where the guard is absent.
inference_mode: Callable[[bool], AbstractContextManager[Any]] = getattr(
    torch._C, "_InferenceMode", torch.inference_mode
)


def _describe(x: object) -> str:
    if isinstance(x, Tensor):
        return f"shape {tuple(x.shape)} of dtype {str(x.dtype).removeprefix('torch.')}"
    return f"a {type(x).__name__}"


def check_sequence(x: object, features: int, who: str) -> Tensor:
    """Check ``x`` is a float tensor ``(batch, time, features)``; return it."""
    if (
        not isinstance(x, Tensor)
        or x.dim() != 3
        or x.shape[-1] != features
        or not x.is_floating_point()
    ):
        raise ShapeError(
            f"{who} expects a float tensor of shape (batch, time, {features}); got {_describe(x)}"
        )
    return x


def check_step(x: object, features: int, who: str) -> Tensor:
    """Check ``x`` is one time step, a float tensor ``(batch, features)``; return it."""
    if (
        not isinstance(x, Tensor)
        or x.dim() != 2
        or x.shape[-1] != features
        or not x.is_floating_point()
    ):
        raise ShapeError(
            f"{who}.step expects one time step, a float tensor of shape (batch, {features}); "
            f"got {_describe(x)}"
        )
    return x


def check_ids(x: object, dims: int, who: str) -> Tensor:
    """Check ``x`` is an integer tensor with ``dims`` dimensions (2: ``(batch, time)``)."""
    expected = "(batch, time)" if dims == 2 else "(batch,)"
    if (
        not isinstance(x, Tensor)
        or x.dim() != dims
        or x.is_floating_point()
        or x.is_complex()
        or x.dtype == torch.bool
    ):
        raise ShapeError(f"{who} expects integer token ids of shape {expected}; got {_describe(x)}")
    return x


class SequenceModule(nn.Module):
    """Base of models and layers: the step-by-step protocol.

    ``causal`` is True when the module can run one step at a time (its output at time t depends
    only on inputs up to t, and it implements :meth:`step`).
    """

    causal: bool = True

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        """The state before the first step (``None`` for stateless modules)."""
        return None

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """Consume one time step ``x``; return its output and the next state."""
        raise NotSteppableError(f"{type(self).__name__} cannot run step by step")


class Layer(SequenceModule):
    """A building block for :func:`seqzoo.compose`.

    Its factory takes ``input_size`` (features of the incoming tensor) plus its own arguments,
    and the built layer states ``output_size`` so sizes flow to the next layer.

    - ``needs_sequence``: the input must be ``(batch, time, features)``; pointwise layers
      (False) also take ``(batch, features)``.
    - ``reduces_time``: the output drops the time axis, ``(batch, time, f) -> (batch, f)``.
    - ``takes_ids``: the input is integer ids ``(batch, time)`` (embeddings).
    """

    input_size: int
    output_size: int
    needs_sequence: bool = True
    reduces_time: bool = False
    takes_ids: bool = False


class SequenceModel(SequenceModule):
    """Base of whole architectures. Constructor arguments are the config (plain JSON values).

    ``forward(x)`` runs a whole sequence; ``forward_stateful(x, state)`` runs a chunk from a
    given state and returns the next state (truncated BPTT); ``step`` runs one time step.
    """

    #: "real" for (batch, time, features) floats, "ids" for (batch, time) integer token ids.
    input_kind: str = "real"
    _config: dict[str, Any]

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments: ``create_model(name, **model.config)`` rebuilds it."""
        return copy.deepcopy(self._config)

    def _remember_config(self, arguments: dict[str, Any]) -> None:
        """Store constructor arguments (call as ``self._remember_config(locals())``)."""
        self._config = {
            k: list(v) if isinstance(v, tuple) else copy.deepcopy(v)
            for k, v in arguments.items()
            if k not in ("self", "__class__")
        }

    def forward_stateful(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """Run a chunk from ``state`` (``None``: the initial state); return output and state."""
        raise NotSteppableError(f"{type(self).__name__} cannot carry state across chunks")
