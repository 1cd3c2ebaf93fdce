"""The errors seqzoo raises on bad input, for users and plugin authors.

Every one is a :class:`SeqzooError`; its message names the problem and what would fix it, and
the ``seqzoo`` command prints it on one line and exits 2::

    from seqzoo.errors import ConfigError, SeqzooError, ShapeError
"""

from seqzoo.core.errors import (
    ConfigError,
    DuplicateNameError,
    Interrupted,
    NotSteppableError,
    PluginError,
    SeqzooError,
    ShapeError,
    StorageError,
    UnknownNameError,
    WeightsError,
)

__all__ = [
    "ConfigError",
    "DuplicateNameError",
    "Interrupted",
    "NotSteppableError",
    "PluginError",
    "SeqzooError",
    "ShapeError",
    "StorageError",
    "UnknownNameError",
    "WeightsError",
]
