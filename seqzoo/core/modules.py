"""The module contract every model and layer follows, and the input checks they share.

Shapes are batch-first: a real-valued sequence is ``(batch, time, features)``, one time step is
``(batch, features)``; token sequences are ``(batch, time)`` integer ids.

Step-by-step inference: ``initial_state(batch_size)`` gives the state before the first step and
``step(x_t, state) -> (y_t, state)`` consumes one time step. Feeding a sequence one step at a time
gives the same outputs as the whole-sequence forward. A state is ``None``, a tensor, or a tuple
or list of states. With autograd off, the built-in steps run under ``torch.inference_mode``
(:func:`autograd_off`), so their outputs and states are inference tensors.

Inputs and states are checked once, here, for every model and plugin: :class:`SequenceModel`
routes ``model(x)``, ``forward_stateful`` and ``step`` through :meth:`~SequenceModel.
check_input`, :meth:`~SequenceModel.check_step_input` and :meth:`~SequenceModel.check_state`,
and every ``initial_state`` refuses a batch size below 1 (the checks themselves live in
:mod:`seqzoo.core.checks`).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from .checks import (
    check_finite,
    check_ids,
    check_sequence,
    check_step,
    check_token_range,
    checks_enabled,
    describe,
    input_checks,
    state_mismatch,
    state_template,
)
from .errors import ConfigError, NotSteppableError, SeqzooError, ShapeError
from .protocols import State, Steppable, Streamable

if TYPE_CHECKING:
    import numpy as np

    from .data import Preprocessing

__all__ = [
    "Layer",
    "SequenceModel",
    "SequenceModule",
    "State",
    "Steppable",
    "Streamable",
    "autograd_off",
    "check_batch_size",
    "check_finite",
    "check_ids",
    "check_sequence",
    "check_step",
    "check_token_range",
    "detach_state",
    "inference_mode",
    "input_checks",
    "map_state",
]


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


def check_batch_size(batch_size: object, who: str) -> int:
    """``batch_size`` of ``initial_state``: a positive int (not a bool), else
    :class:`ConfigError`."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(
            f"{who}.initial_state needs a batch size of at least 1; got {batch_size!r}",
            field="batch_size",
        )
    return batch_size


def _checked_initial_state(fn: Callable[..., State]) -> Callable[..., State]:
    """``initial_state`` that refuses a batch size below 1 (zeros of shape (0, ...) or a
    negative size would fail later, deep inside torch)."""

    @functools.wraps(fn)
    def initial_state(self: SequenceModule, batch_size: int, *args: Any, **kwargs: Any) -> State:
        if type(batch_size) is not int or batch_size < 1:
            check_batch_size(batch_size, _who(self))
        return fn(self, batch_size, *args, **kwargs)

    initial_state.__seqzoo_checked__ = True  # type: ignore[attr-defined]  # a marker set on the wrapper
    return initial_state


def _who(module: nn.Module) -> str:
    """The module's name in error messages: its registered name, else its
    ``name_in_messages``, else its class name."""
    name = module.__dict__.get("registry_name") or getattr(module, "name_in_messages", None)
    return name if isinstance(name, str) else type(module).__name__


class SequenceModule(nn.Module):
    """Base of models and layers: the step-by-step protocol.

    ``causal`` is True when the module can run one step at a time (its output at time t depends
    only on inputs up to t, and it implements :meth:`step`). Every subclass's
    ``initial_state`` refuses a batch size below 1.
    """

    causal: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fn = cls.__dict__.get("initial_state")
        if fn is not None and not getattr(fn, "__seqzoo_checked__", False):
            cls.initial_state = _checked_initial_state(fn)  # type: ignore[method-assign]  # wraps the subclass's own method

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        """The state before the first step (``None`` for stateless modules)."""
        check_batch_size(batch_size, _who(self))
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


_module_call = nn.Module.__call__


def _checked_step(fn: Callable[..., tuple[Tensor, State]]) -> Callable[..., tuple[Tensor, State]]:
    """``step`` behind :meth:`SequenceModel.check_step_input` and :meth:`~SequenceModel.
    check_state`; a state this model returned from its last step (the streaming loop's
    case) is trusted without a second look."""

    @functools.wraps(fn)
    def step(self: SequenceModel, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        if not checks_enabled():
            return fn(self, x, state)
        self.check_step_input(x)
        if state is not None:
            trusted = self.__dict__.get("_trusted_state")
            if trusted is None or trusted[0] is not state or trusted[1] != x.shape[0]:
                self.check_state(state, x)
        y, state = fn(self, x, state)
        self.__dict__["_trusted_state"] = (state, x.shape[0])
        return y, state

    step.__seqzoo_checked__ = True  # type: ignore[attr-defined]  # a marker set on the wrapper
    return step


def _checked_chunk(
    fn: Callable[..., tuple[Tensor, State]],
) -> Callable[..., tuple[Tensor, State]]:
    """``forward_stateful`` behind :meth:`SequenceModel.check_input` and ``check_state``."""

    @functools.wraps(fn)
    def forward_stateful(
        self: SequenceModel, x: Tensor, state: State = None
    ) -> tuple[Tensor, State]:
        if not checks_enabled():
            return fn(self, x, state)
        self.check_input(x)
        if state is not None:
            trusted = self.__dict__.get("_trusted_state")
            if trusted is None or trusted[0] is not state or trusted[1] != x.shape[0]:
                self.check_state(state, x)
        y, state = fn(self, x, state)
        self.__dict__["_trusted_state"] = (state, x.shape[0])
        return y, state

    forward_stateful.__seqzoo_checked__ = True  # type: ignore[attr-defined]  # a marker set on the wrapper
    return forward_stateful


class SequenceModel(SequenceModule):
    """Base of whole architectures. Constructor arguments are the config (plain JSON values).

    ``forward(x)`` runs a whole sequence; ``forward_stateful(x, state)`` runs a chunk from a
    given state and returns the next state (truncated BPTT); ``step`` runs one time step.

    Inputs are checked here, for every subclass: ``model(x)`` and ``forward_stateful`` go
    through :meth:`check_input`, ``step`` through :meth:`check_step_input`, and a given state
    through :meth:`check_state`, each raising :class:`ShapeError` naming the problem. A
    subclass states what it takes (``input_kind``, ``input_size`` or ``vocab_size``,
    ``input_ranks``, ``accepts_nan``) or overrides those methods.
    """

    #: "real" for (batch, time, features) floats, "ids" for (batch, time) integer token ids.
    input_kind: str = "real"
    #: Ranks a real whole-sequence input may have: 3 is ``(batch, time, features)``; a model of
    #: one series may add 2, ``(batch, time)``.
    input_ranks: tuple[int, ...] = (3,)
    #: True for a model that reads NaN (or an infinity) as a missing value: its inputs are then
    #: not checked for them.
    accepts_nan: bool = False
    #: How error messages name the model when it was not built under a registered name.
    name_in_messages: str | None = None
    #: ``(rtol, atol)`` within which the model reproduces its saved reference outputs on any
    #: machine (``reference.safetensors``); a model that computes in reduced precision where the
    #: hardware allows it widens this.
    reference_tolerance: tuple[float, float] = (1e-6, 1e-6)

    # What travels with a model outside its state dict (``config.json``, the run directory),
    # set by seqzoo after the model is built; None until then.
    #: The name the model was built under: set by the registry (``create_model``),
    #: ``from_pretrained`` and fine-tuning; ``save_pretrained`` records it as the architecture.
    registry_name: str | None = None
    #: The data's scalers or tokenizer, so inputs are scaled and outputs come back in raw
    #: units: set by ``seqzoo.train`` / ``load_run`` (from the data) and ``from_pretrained``.
    preprocessing: Preprocessing | None = None
    #: The saved model's ``config.json`` as loaded (``from_pretrained``), or for a trained model
    #: ``{"task": ..., "dataset": ...}`` (plus ``fine_tuned_from`` after fine-tuning).
    pretrained_config: dict[str, Any] | None = None
    #: The last ``window`` raw rows of a forecaster's series, a float64 ``(window, columns)``
    #: array (``last_window.json``), so a forecast past the end of the data needs no dataset:
    #: set when a run directory or a saved folder is loaded for prediction.
    last_window: np.ndarray | None = None
    _config: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, wrap in (("step", _checked_step), ("forward_stateful", _checked_chunk)):
            fn = cls.__dict__.get(name)
            if fn is not None and not getattr(fn, "__seqzoo_checked__", False):
                setattr(cls, name, wrap(fn))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if args and checks_enabled():
            self.check_input(args[0])
        return _module_call(self, *args, **kwargs)

    def _apply(self, *args: Any, **kwargs: Any) -> Any:
        # .to(), .double(), .half(), .cuda() change what initial_state makes, and a state on
        # the old device or dtype is no longer this model's
        self.__dict__.pop("_state_templates", None)
        self.__dict__.pop("_trusted_state", None)
        return super()._apply(*args, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_trusted_state", None)  # the last stream's state is no part of the model
        state.pop("_state_templates", None)
        return state

    # -- the checks -----------------------------------------------------------------------

    def check_input(self, x: object) -> None:
        """Check a whole-sequence input: its type, rank, features and dtype, at least one time
        step, token ids inside the vocabulary, and no NaN or infinity (unless
        ``accepts_nan``). Raises :class:`ShapeError`."""
        who = _who(self)
        if self.input_kind == "ids":
            ids = check_ids(x, 2, who)
            vocab = getattr(self, "vocab_size", None)
            if isinstance(vocab, int):
                check_token_range(ids, vocab, who)
            return
        features = getattr(self, "input_size", None)
        x = check_sequence(
            x, features if isinstance(features, int) else None, who, ranks=self.input_ranks
        )
        if not self.accepts_nan:
            check_finite(x, who)

    def check_step_input(self, x: object) -> None:
        """Check one time step: floats ``(batch, input_size)``, or ids ``(batch,)`` inside the
        vocabulary. Values are not searched for NaN here: that would cost each step a device
        read, and a NaN only makes the output NaN."""
        if self.input_kind == "ids":
            who = f"{_who(self)}.step"
            ids = check_ids(x, 1, who)
            vocab = getattr(self, "vocab_size", None)
            if isinstance(vocab, int):
                check_token_range(ids, vocab, who)
            return
        features = getattr(self, "input_size", None)
        if (  # the streaming case, inline: this runs on every step
            type(x) is Tensor and x.dim() == 2 and x.shape[1] == features and x.is_floating_point()
        ):
            return
        check_step(x, features if isinstance(features, int) else None, _who(self))

    def check_state(self, state: State, x: Tensor) -> None:
        """Check a state given to ``step`` or ``forward_stateful`` with input ``x`` against
        the form of ``initial_state(batch)``: structure, shapes (the batch size among them),
        tensor dtypes and device. Raises :class:`ShapeError`."""
        batch = x.shape[0]
        template = self._state_template(batch, x.dtype if x.is_floating_point() else None)
        problem = state_mismatch(state, template, x.device)
        if problem is not None:
            who = _who(self)
            raise ShapeError(
                f"{who}: the state does not fit an input of batch {batch}: {problem} (the state "
                f"given: {describe_state(state)}); start from {who}.initial_state({batch}) or "
                "None, and pass back the state each step returns"
            )

    def _state_template(self, batch: int, dtype: torch.dtype | None) -> Any:
        """The form of ``initial_state(batch)`` (made once per batch size and dtype, on the
        meta device: no memory), or None when the model has no state to compare with."""
        templates = self.__dict__.setdefault("_state_templates", {})  # emptied by _apply
        key = (batch, dtype)
        if key not in templates:
            if len(templates) >= 32:  # many batch sizes (ragged last batches): start over
                templates.clear()
            try:
                made = self.initial_state(batch, device="meta", dtype=dtype)
            except (SeqzooError, NotImplementedError, TypeError, RuntimeError):
                made = None  # not steppable, or a plugin's own protocol: step checks itself
            templates[key] = state_template(made)
        return templates[key]

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
        """Run a chunk ``(batch, time, ...)`` from ``state`` (``None``: the initial state);
        return its output and the next state.

        The default loops :meth:`step` over the chunk's time steps, so a model that can step
        streams chunk by chunk with no more code: its output is the last step's
        ``(batch, out)``, or every step's ``(batch, time, out)`` when the model's ``output``
        is ``"sequence"``. A model with a faster whole-chunk path overrides this; one that
        cannot step raises :class:`NotSteppableError`.
        """
        if _unbound(type(self).step) is _unbound(SequenceModule.step):
            raise NotSteppableError(
                f"{type(self).__name__} cannot carry state across chunks: it has no step"
            )
        if state is None:
            dtype = x.dtype if x.is_floating_point() else None
            state = self.initial_state(x.shape[0], device=x.device, dtype=dtype)
        outputs = []
        for t in range(x.shape[1]):
            y, state = self.step(x[:, t], state)
            outputs.append(y)
        if getattr(self, "output", "last") == "sequence":
            return torch.stack(outputs, dim=1), state
        return outputs[-1], state


def _unbound(fn: Any) -> Any:
    """The function under :func:`_checked_step`'s wrapper (``functools.wraps`` keeps it)."""
    return getattr(fn, "__wrapped__", fn)


def describe_state(state: State) -> str:
    """A state's form in a message: ``(shape (1, 2, 8), shape (1, 2, 8))``."""
    if isinstance(state, (tuple, list)):
        inner = ", ".join(describe_state(s) for s in state[:8])
        more = ", ..." if len(state) > 8 else ""
        return f"{'(' if isinstance(state, tuple) else '['}{inner}{more}" + (
            ")" if isinstance(state, tuple) else "]"
        )
    if isinstance(state, Tensor):
        return f"shape {tuple(state.shape)}"
    return "None" if state is None else describe(state)
