"""Random states of a run: seeding every generator it draws from, and capturing and restoring
them, so a resumed run continues with the very same random numbers (what a checkpoint's
``state.json`` + ``state.safetensors`` hold under ``trainer.rng``)."""

from __future__ import annotations

import random
from typing import Any, cast

import numpy as np
import torch

__all__ = ["capture_rng", "restore_rng", "seed_everything"]


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's ``random``, NumPy and torch; return a generator for shuffling batches."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def capture_rng(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Every random state a run consumes, as plain tensors and lists (what a checkpoint's
    ``state.json`` + ``state.safetensors`` hold)."""
    # the legacy (default) form: ("MT19937", keys, pos, has_gauss, cached_gaussian)
    legacy = cast("tuple[str, np.ndarray, int, int, float]", np.random.get_state())
    _, keys, pos, has_gauss, cached = legacy
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), cached],
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
    }
    if generator is not None:
        state["generator"] = generator.get_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Undo :func:`capture_rng`: the run continues with the very same random numbers."""
    torch.set_rng_state(state["torch"])
    keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
