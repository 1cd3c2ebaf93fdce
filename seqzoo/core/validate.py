"""Checks of user-given values shared across seqzoo: each returns the value or raises
:class:`~seqzoo.core.errors.ConfigError` naming the field. Sizes and probabilities of model
and layer configs; finite numbers; the keyword arguments seqzoo passes itself
(:data:`RESERVED`), which no config may set; and bounds on nested data."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ConfigError

__all__ = [
    "OUTPUTS",
    "RESERVED",
    "boolean",
    "check_nesting",
    "finite_number",
    "output_mode",
    "positive_int",
    "probability",
    "refuse_reserved",
]

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


def finite_number(
    value: Any,
    field: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
) -> float:
    """A real, finite number (not a bool, NaN or an infinity), optionally ``>= minimum``,
    ``<= maximum`` or ``> above``; returned as a float. Every number a user hands to seqzoo
    (a temperature, a learning rate, a clip norm, ...) goes through this check."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"must be a number, got {value!r}", field=field)
    number = float(value)
    if not math.isfinite(number):
        raise ConfigError(f"must be a finite number, got {value!r}", field=field)
    bounds = []
    if minimum is not None and number < minimum:
        bounds.append(f">= {minimum:g}")
    if above is not None and number <= above:
        bounds.append(f"> {above:g}")
    if maximum is not None and number > maximum:
        bounds.append(f"<= {maximum:g}")
    if bounds:
        raise ConfigError(f"must be {' and '.join(bounds)}, got {value!r}", field=field)
    return number


#: Keyword arguments seqzoo passes to factories itself, per kind of part: a config that sets
#: one would clash with seqzoo's own value (a TypeError deep in the call) or replace an
#: internal object (a registry, the model's parameters) with plain data.
RESERVED: dict[str, frozenset[str]] = {
    "model": frozenset({"registry"}),  # the hybrid's registry of layers
    "layer": frozenset({"input_size", "build"}),  # the size flowing in, the child builder
    "optimizer": frozenset({"params"}),
    "schedule": frozenset({"optimizer"}),
    "trainer": frozenset({"run_dir"}),
    # train(**options): its own keyword arguments, and what it hands to the trainer itself
    "options": frozenset(
        {"model", "dataset", "optimizer", "trainer", "schedule", "run_dir", "resume", "init"}
        | {"registry"}
    ),
}


def refuse_reserved(
    arguments: Mapping[str, Any],
    kind: str,
    *,
    path: str | None = None,
    extra: Iterable[str] = (),
) -> None:
    """:class:`ConfigError` naming the first key of ``arguments`` that seqzoo passes itself
    to a ``kind`` (see :data:`RESERVED`), or that is one of ``extra``."""
    reserved = RESERVED.get(kind, frozenset()) | frozenset(extra)
    for key in arguments:
        if key not in reserved:
            continue
        if kind == "options" and key != "registry":
            reason = f"{key!r} is a part of the run, not a trainer option; give it on its own"
        else:
            where = "trainer options" if kind == "options" else f"a {kind} config"
            reason = f"{key!r} is set by seqzoo itself and cannot be given in {where}; remove it"
        raise ConfigError(reason, path=path, field=str(key))


def check_nesting(value: Any, *, where: str, max_depth: int, max_nodes: int) -> None:
    """:class:`ConfigError` when ``value`` (plain lists, tuples and mappings) nests deeper than
    ``max_depth``, holds more than ``max_nodes`` values (shared ones counted each time they
    are reached: what copying or writing it out would expand), or holds a NaN (never a
    meaningful setting; the error gives its place, e.g. ``options.lr``). Iterative: a deep
    value cannot overflow the stack here."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    count = 0
    while stack:
        item, depth, place = stack.pop()
        count += 1
        if count > max_nodes:
            raise ConfigError(
                f"{where} holds more than {max_nodes:,} values (shared ones counted each time "
                "they are used); make it smaller"
            )
        if isinstance(item, float) and math.isnan(item):
            raise ConfigError(f"{where} holds NaN at {place or 'its top'}; give a number")
        if isinstance(item, Mapping):
            children: list[tuple[Any, str]] = [(k, place) for k in item]
            children += [(v, f"{place}.{k}" if place else str(k)) for k, v in item.items()]
        elif isinstance(item, (list, tuple)):
            children = [(v, f"{place}[{i}]") for i, v in enumerate(item)]
        else:
            continue
        if children and depth >= max_depth:
            raise ConfigError(
                f"{where} nests lists or mappings deeper than {max_depth} levels; flatten it"
            )
        stack.extend((child, depth + 1, at) for child, at in reversed(children))
