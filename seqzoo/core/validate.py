"""Config checks shared by models and layers: each returns the value or raises
:class:`~seqzoo.core.errors.ConfigError` naming the field."""

from __future__ import annotations

from typing import Any

from .errors import ConfigError

__all__ = ["OUTPUTS", "boolean", "output_mode", "positive_int", "probability"]

#: "last": many-to-one, ``(batch, output_size)``; "sequence": many-to-many, one output per step.
OUTPUTS = ("last", "sequence")


def positive_int(value: Any, field: str) -> int:
    """A positive int (not a bool: True as a size is a config mistake, not a 1)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"must be a positive integer, got {value!r}", field=field)
    return value


def boolean(value: Any, field: str) -> bool:
    """A real bool (not 0/1 or a string)."""
    if not isinstance(value, bool):
        raise ConfigError(f"must be true or false, got {value!r}", field=field)
    return value


def probability(value: Any, field: str) -> float:
    """A number in [0, 1), returned as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ConfigError(f"must be a number in [0, 1), got {value!r}", field=field)
    return float(value)


def output_mode(value: Any) -> str:
    """``output`` is one of :data:`OUTPUTS`."""
    if value not in OUTPUTS:
        raise ConfigError(
            f"must be 'last' (many-to-one) or 'sequence' (many-to-many), got {value!r}",
            field="output",
        )
    return value
