"""The functional front door: ``list_models("*lstm*")``, ``create_model("lstm", ...)`` and kin.

They use one default :class:`Registry`, built on first use from the installed plugins.
"""

from __future__ import annotations

import functools
from typing import Any

from .registry import Registry

__all__ = [
    "create_layer",
    "create_model",
    "get_registry",
    "list_datasets",
    "list_layers",
    "list_models",
    "list_optimizers",
    "list_schedules",
    "list_trainers",
    "list_zoo",
    "reset_registry",
]


@functools.cache
def get_registry() -> Registry:
    """The registry of the installed plugins (built once; see :func:`reset_registry`)."""
    return Registry()


def reset_registry() -> None:
    """Forget the default registry, so the next call rediscovers plugins."""
    get_registry.cache_clear()


def _names(kind: str, pattern: str) -> list[str]:
    return [spec.name for spec in get_registry().list(kind, pattern)]


def list_models(pattern: str = "*") -> list[str]:
    """Names of the registered models matching a shell-style pattern, e.g. ``"*lstm*"``."""
    return _names("model", pattern)


def list_layers(pattern: str = "*") -> list[str]:
    """Names of the registered layers matching ``pattern``."""
    return _names("layer", pattern)


def list_datasets(pattern: str = "*") -> list[str]:
    """Names of the registered datasets matching ``pattern``."""
    return _names("dataset", pattern)


def list_optimizers(pattern: str = "*") -> list[str]:
    """Names of the registered optimizers matching ``pattern``."""
    return _names("optimizer", pattern)


def list_schedules(pattern: str = "*") -> list[str]:
    """Names of the registered learning-rate schedules matching ``pattern``."""
    return _names("schedule", pattern)


def list_trainers(pattern: str = "*") -> list[str]:
    """Names of the registered trainers matching ``pattern``."""
    return _names("trainer", pattern)


def list_zoo(pattern: str = "*") -> list[str]:
    """Names of the registered pretrained models matching ``pattern``."""
    return _names("zoo", pattern)


def create_model(name: str, /, **config: Any) -> Any:
    """Build the model ``name`` from its config, e.g. ``create_model("lstm", input_size=3)``."""
    return get_registry().create("model", name, **config)


def create_layer(name: str, /, **config: Any) -> Any:
    """Build one registered layer, e.g. ``create_layer("lstm", input_size=3, hidden_size=8)``."""
    return get_registry().create("layer", name, **config)
