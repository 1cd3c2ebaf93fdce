"""Pretrained models: the catalogue, Hub I/O and the bundled weights.

``save_pretrained`` / ``from_pretrained`` write and read a model directory (config.json,
model.safetensors, tokenizer.json, README.md); ``download`` and ``push_to_hub`` move one
to and from the Hugging Face Hub. Names are imported on first use, so ``import seqzoo.zoo``
does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "PushPlan",
    "download",
    "from_pretrained",
    "load_directory",
    "plan_push",
    "push_to_hub",
    "save_pretrained",
]

_LAZY = {
    "PushPlan": "seqzoo.zoo.hub",
    "download": "seqzoo.zoo.hub",
    "plan_push": "seqzoo.zoo.hub",
    "push_to_hub": "seqzoo.zoo.hub",
    "from_pretrained": "seqzoo.zoo.pretrained",
    "load_directory": "seqzoo.zoo.pretrained",
    "save_pretrained": "seqzoo.zoo.pretrained",
}

if TYPE_CHECKING:
    from .hub import PushPlan, download, plan_push, push_to_hub
    from .pretrained import from_pretrained, load_directory, save_pretrained


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'seqzoo.zoo' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
