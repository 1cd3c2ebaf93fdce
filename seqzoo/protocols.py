"""The plugin contracts, for authors and type checkers: trainer (and its schedule), dataset
factory, streaming.

::

    from seqzoo.protocols import Trainer, TrainerFactory, DatasetFactory, Streamable

Each is a :class:`typing.Protocol` stating the calls seqzoo makes (see
:mod:`seqzoo.core.protocols` for every detail); ``isinstance(obj, Trainer)`` checks that the
methods are there. Importing this module imports no torch.
"""

from seqzoo.core.protocols import (
    TASK_SHAPES,
    CheckingTrainer,
    DatasetFactory,
    Schedule,
    State,
    Steppable,
    Streamable,
    Trainer,
    TrainerFactory,
)

__all__ = [
    "TASK_SHAPES",
    "CheckingTrainer",
    "DatasetFactory",
    "Schedule",
    "State",
    "Steppable",
    "Streamable",
    "Trainer",
    "TrainerFactory",
]
