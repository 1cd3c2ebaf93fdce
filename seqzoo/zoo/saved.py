"""What a save records about a model besides its weights: the registry name to rebuild it
under, its constructor arguments and, for a fine-tuned model, its lineage."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import torch

from seqzoo.core.errors import ConfigError

__all__ = ["default_registry", "lineage_card", "plain_config", "registry_name_of"]


def default_registry(registry: Any) -> Any:
    """``registry``, or the registry of the installed plugins when it is ``None``."""
    if registry is not None:
        return registry
    from seqzoo.core.api import get_registry

    return get_registry()


def registry_name_of(model: torch.nn.Module, registry: Any = None) -> str:
    """The name ``model`` is registered under: its ``registry_name`` (set when the registry
    built it), else the one model record whose factory is ``type(model)``.

    Records sharing a class (``rnn``/``gru``/``lstm``) are told apart by how many of their
    defaults the model's config matches; a tie is a :class:`ConfigError` asking for ``name=``.
    """
    name = getattr(model, "registry_name", None)
    if isinstance(name, str) and name:
        return name
    cls = type(model)
    path = f"{cls.__module__}:{cls.__qualname__}"
    # compare without importing any factory: string factories name their class
    candidates = [s for s in default_registry(registry).list("model") if s.factory in (cls, path)]
    if not candidates:
        raise ConfigError(
            f"no registered model builds a {cls.__name__} ({path}); pass name=... with the "
            "registry name to rebuild it under (see `seqzoo list models`)",
            field="name",
        )
    if len(candidates) == 1:
        return candidates[0].name
    config = getattr(model, "config", {}) or {}
    scores = {
        s.name: sum(1 for k, v in s.defaults.items() if k in config and config[k] == v)
        for s in candidates
    }
    best = max(scores.values())
    winners = sorted(n for n, score in scores.items() if score == best)
    if len(winners) > 1:
        raise ConfigError(
            f"a {cls.__name__} could be any of {', '.join(winners)}; pass name=... to say which",
            field="name",
        )
    return winners[0]


def plain_config(model: torch.nn.Module) -> dict[str, Any]:
    """The model's constructor arguments (its ``.config``), as plain JSON values."""
    config = getattr(model, "config", None)
    if not isinstance(config, Mapping):
        raise ConfigError(
            f"save_pretrained needs a seqzoo model whose .config gives its constructor "
            f"arguments; a {type(model).__name__} has none"
        )
    try:
        return json.loads(json.dumps(dict(config)))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"the model's config must hold plain JSON values: {exc}") from None


def lineage_card(
    source: Mapping[str, Any], card: Mapping[str, Any] | None, dataset: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(fine_tuned_from, card)`` of a fine-tuned model, worded as
    :func:`~seqzoo.zoo.finetune.save_finetuned` words them: the card's description says
    "Fine-tuned from NAME (...)" (before any description given) and its training table names
    the source."""
    from .finetune import _describe, lineage

    source = lineage(source)
    card = dict(card or {})
    data_name = (dataset or {}).get("name") if isinstance(dataset, Mapping) else None
    sentence = _describe(source) + (f" on the `{data_name}` dataset." if data_name else ".")
    given = str(card.get("description") or "").strip()
    if "Fine-tuned from" not in given:
        card["description"] = f"{sentence}\n\n{given}" if given else sentence
    training = card.get("training")
    if training is None or isinstance(training, Mapping):
        card["training"] = {"fine_tuned_from": source.get("name"), **dict(training or {})}
    return source, card
