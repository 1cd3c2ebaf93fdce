"""What a plugin author builds models and layers on: the base classes and the input checks.

::

    from seqzoo.nn import Layer, SequenceModel, check_sequence, check_step

:class:`SequenceModel` checks every model's inputs and states (rank, features, dtype, NaN,
token range, the state's form) and gives ``forward_stateful`` a default that loops over
``step``; :class:`Layer` is the building block :func:`seqzoo.compose` assembles. The streaming
contract: ``initial_state(batch_size, *, device, dtype) -> state``,
``step(x_t, state) -> (y_t, state)`` and ``forward_stateful(x, state) -> (y, state)``, where a
state keeps its structure and shapes from step to step (so it can be an explicit ONNX input
and output). :class:`Steppable` and :class:`Streamable` state that contract as protocols
(``isinstance(layer, Steppable)``), for modules that do not subclass these bases.
"""

from seqzoo.core.modules import (
    Layer,
    SequenceModel,
    SequenceModule,
    State,
    Steppable,
    Streamable,
    autograd_off,
    check_batch_size,
    check_finite,
    check_ids,
    check_sequence,
    check_step,
    check_token_range,
    detach_state,
    inference_mode,
    input_checks,
    map_state,
)

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
