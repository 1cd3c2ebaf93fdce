"""Inference in the data's own units: multi-step forecasts and text generation.

Both run on trained models with their :class:`~seqzoo.core.data.Preprocessing`, so inputs and
outputs are raw values (or text), never scaled units or token ids.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .errors import ConfigError, ShapeError

__all__ = ["PAD_ID", "forecast", "generate_text"]

#: The token id text datasets reserve for padding.
PAD_ID = 0


@torch.no_grad()
def forecast(model: Any, preprocessing: Any, history: np.ndarray, steps: int) -> np.ndarray:
    """Forecast ``steps`` values past the end of ``history``.

    ``history``: raw values ``(time, columns)``, the columns the model was trained on (inputs:
    features then targets). Returns raw values ``(steps, targets)``. A model whose horizon is
    shorter than ``steps`` is rolled forward, feeding its forecasts back in; that needs every
    input column to be a target (a univariate or purely autoregressive series).
    """
    window, horizon = preprocessing.window, preprocessing.horizon or 1
    if window is None:
        raise ConfigError("this model was not trained on windows of a series; it cannot forecast")
    if steps < 1:
        raise ConfigError(f"steps must be at least 1, got {steps}", field="steps")
    history = np.asarray(history, dtype=np.float64)
    if history.ndim == 1:
        history = history[:, None]
    columns = len(preprocessing.feature_names) or history.shape[1]
    targets = len(preprocessing.target_names) or 1
    if history.ndim != 2 or history.shape[1] != columns:
        raise ShapeError(
            f"the history must have shape (time, {columns}) (columns "
            f"{preprocessing.feature_names}); got {history.shape}"
        )
    if history.shape[0] < window:
        raise ConfigError(
            f"the history has {history.shape[0]} rows; the model needs at least its window "
            f"of {window}",
            field="history",
        )
    if steps > horizon and columns != targets:
        raise ConfigError(
            f"the model forecasts {horizon} step(s) and has input columns that are not targets, "
            f"so it cannot roll forward {steps} steps; ask for at most {horizon}",
            field="steps",
        )
    parameter = next(model.parameters())
    scaled = preprocessing.scale_inputs(history[-window:])
    produced: list[np.ndarray] = []
    remaining = steps
    while remaining > 0:
        x = torch.as_tensor(scaled[-window:], dtype=parameter.dtype, device=parameter.device)
        y = model(x.unsqueeze(0))
        if y.dim() == 3:  # a many-to-many model: its output at the window's last step
            y = y[:, -1]
        y = y.reshape(horizon, targets).float().cpu().numpy().astype(np.float64)
        take = y[: min(horizon, remaining)]
        produced.append(take)
        remaining -= len(take)
        if remaining > 0:
            # back to input units: the targets are the (last) input columns
            raw = preprocessing.unscale_targets(take)
            scaled = np.concatenate([scaled, preprocessing.scale_inputs(raw)], axis=0)
    return preprocessing.unscale_targets(np.concatenate(produced, axis=0))


@torch.no_grad()
def generate_text(
    model: Any,
    tokenizer: Any,
    prompt: str,
    length: int = 200,
    *,
    temperature: float = 0.8,
    seed: int | None = None,
) -> str:
    """Continue ``prompt`` by ``length`` tokens, sampling from a language model step by step.

    ``temperature`` 0 picks the most likely token each step; higher values sample more freely.
    """
    if temperature < 0:
        raise ConfigError(f"temperature must be >= 0, got {temperature}", field="temperature")
    ids = tokenizer.encode(prompt).ids
    if not ids:
        raise ConfigError("the prompt is empty after tokenization; give some text", field="prompt")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    device = next(model.parameters()).device
    state, logits = None, None
    for token in ids:  # read the prompt, carrying the state
        logits, state = model.step(torch.tensor([token], device=device), state)
    unknown = tokenizer.token_to_id("[UNK]")
    never = [PAD_ID] if unknown is None else [PAD_ID, unknown]
    produced: list[int] = []
    for _ in range(length):
        logits = logits.clone()
        logits[..., never] = -torch.inf  # padding and "unknown" are not text: never sample them
        if temperature == 0:
            token = int(logits.argmax(dim=-1))
        else:
            probabilities = torch.softmax(logits.float().cpu() / temperature, dim=-1)
            token = int(torch.multinomial(probabilities, 1, generator=generator))
        produced.append(token)
        logits, state = model.step(torch.tensor([token], device=device), state)
    continuation = tokenizer.decode(produced)
    # character tokenizers fuse tokens; word tokenizers join with spaces, the prompt included
    fused = type(tokenizer.decoder).__name__ == "Fuse"
    return prompt + ("" if fused or not continuation else " ") + continuation
