"""seqzoo: a plugin registry and model zoo for sequence models on PyTorch.

The front door::

    import seqzoo
    seqzoo.list_models("*lstm*")                      # names, from every installed plugin
    model = seqzoo.create_model("lstm", input_size=3)  # an nn.Module
    hybrid = seqzoo.compose(spec, input_size=3)        # a hybrid from registered layers
    fc = seqzoo.forecast(series, horizon=24)          # zero-shot quantile forecasts

Importing seqzoo is light: torch is imported only when something is built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .core.hookspecs import HOOK_API_VERSION, hookimpl

__version__ = "0.1.0"

__all__ = [
    "HOOK_API_VERSION",
    "Registry",
    "__version__",
    "compose",
    "create_layer",
    "create_model",
    "errors",
    "forecast",
    "from_pretrained",
    "get_registry",
    "hookimpl",
    "list_datasets",
    "list_layers",
    "list_models",
    "list_optimizers",
    "list_schedules",
    "list_trainers",
    "list_zoo",
    "load_spec",
    "predict",
    "push_to_hub",
    "reset_registry",
    "save_pretrained",
    "train",
]

# name -> module that defines it; imported on first attribute access (PEP 562)
_LAZY = {
    "Registry": "seqzoo.core.registry",
    "compose": "seqzoo.core.compose",
    "load_spec": "seqzoo.core.compose",
    "forecast": "seqzoo.zoo.forecast",
    "predict": "seqzoo.zoo.predict",
    "from_pretrained": "seqzoo.zoo.pretrained",
    "save_pretrained": "seqzoo.zoo.pretrained",
    "push_to_hub": "seqzoo.zoo.hub",
    "train": "seqzoo.core.workflow",
    "errors": "seqzoo.core.errors",
    **{
        name: "seqzoo.core.api"
        for name in (
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
        )
    },
}

if TYPE_CHECKING:
    from .core import errors
    from .core.api import (
        create_layer,
        create_model,
        get_registry,
        list_datasets,
        list_layers,
        list_models,
        list_optimizers,
        list_schedules,
        list_trainers,
        list_zoo,
        reset_registry,
    )
    from .core.compose import compose, load_spec
    from .core.registry import Registry
    from .core.workflow import train
    from .zoo.forecast import forecast
    from .zoo.hub import push_to_hub
    from .zoo.predict import predict
    from .zoo.pretrained import from_pretrained, save_pretrained


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'seqzoo' has no attribute {name!r}")
    if name == "errors":
        return importlib.import_module(module)
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
