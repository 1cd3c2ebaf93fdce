"""Kneser-Ney n-gram language models of token ids: the classical baseline of a language model.

:class:`KneserNey` is interpolated modified Kneser-Ney smoothing (Chen & Goodman, 1998): an
n-gram seen ``c`` times keeps ``c - D(c)`` of its count, with three discounts per order
(``c = 1``, ``2``, ``3+``) estimated from the counts of counts; what the discounts free goes to
the next lower order, whose counts are continuation counts (how many distinct tokens precede
an n-gram, not how often it occurs). The unigram level interpolates with the uniform
distribution over the whole vocabulary, so every token, seen in training or not, gets a
probability above zero and the probabilities over the vocabulary sum to 1 in every context.

Counts live in dicts keyed by strings (each id one code point), which keeps fitting a few
hundred thousand tokens at order 5 to seconds in pure Python.
"""

from __future__ import annotations

import bz2
import lzma
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from seqzoo.core.errors import ConfigError

__all__ = ["COMPRESSORS", "KneserNey", "text_baselines"]

#: The compressors :func:`text_baselines` scores the test text with: ``name -> compress``.
COMPRESSORS = {
    "xz": lambda raw: lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME),
    "bz2": lambda raw: bz2.compress(raw, 9),
}

# Stands in for the discounts of an order whose counts of counts are degenerate (a tiny text).
_FALLBACK = (0.5, 1.0, 1.5)


def _ids(ids: Sequence[int] | np.ndarray, vocab_size: int, what: str) -> str:
    """``ids`` as a string of code points (one per id), checked against the vocabulary."""
    values = [int(i) for i in (ids.tolist() if isinstance(ids, np.ndarray) else ids)]
    bad = [i for i in values if not 0 <= i < vocab_size]
    if bad:
        raise ConfigError(f"{what}: token id {bad[0]} is outside the vocabulary [0, {vocab_size})")
    return "".join(map(chr, values))


def _discounts(counts: dict[str, Counter[str]]) -> tuple[float, float, float]:
    """Chen & Goodman's ``D1, D2, D3+`` from the counts of counts ``n1..n4`` of one order."""
    n = Counter[int]()
    for following in counts.values():
        n.update(c for c in following.values() if c <= 4)
    n1, n2, n3, n4 = (n[i] for i in (1, 2, 3, 4))
    if not (n1 and n2 and n3 and n4):
        return _FALLBACK
    y = n1 / (n1 + 2 * n2)
    found = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    # each discount within (0, its count]: a strange spectrum must not give negative mass
    return tuple(min(max(d, 1e-3), float(i)) for i, d in zip((1, 2, 3), found, strict=True))  # type: ignore[return-value]  # three values, zipped from three


class _Level:
    """One order's statistics: for each context, the counts of what follows it, their total,
    and the mass the discounts free (the weight of the next lower order)."""

    def __init__(self, counts: dict[str, Counter[str]]) -> None:
        self.counts = counts
        self.discount = _discounts(counts)
        d1, d2, d3 = self.discount
        self.total: dict[str, int] = {}
        self.backoff: dict[str, float] = {}
        for context, following in counts.items():
            total = sum(following.values())
            ones = sum(1 for c in following.values() if c == 1)
            twos = sum(1 for c in following.values() if c == 2)
            more = len(following) - ones - twos
            self.total[context] = total
            self.backoff[context] = (d1 * ones + d2 * twos + d3 * more) / total

    def kept(self, count: int) -> float:
        """``count`` less its discount (0 for an unseen token)."""
        if count <= 0:
            return 0.0
        return count - self.discount[min(count, 3) - 1]


class KneserNey:
    """Interpolated modified Kneser-Ney model of order ``order`` over ids ``[0, vocab_size)``.

    ``fit(ids)`` counts a token stream; ``log_probs(ids)`` scores each token of a stream given
    the tokens before it (up to ``order - 1`` of them); ``distribution(context)`` is the whole
    next-token distribution after ``context``. Deterministic: no randomness anywhere.
    """

    def __init__(self, order: int, vocab_size: int) -> None:
        if isinstance(order, bool) or not isinstance(order, int) or order < 1:
            raise ConfigError(f"must be an integer >= 1, got {order!r}", field="order")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
            raise ConfigError(f"must be an integer >= 1, got {vocab_size!r}", field="vocab_size")
        self.order = order
        self.vocab_size = vocab_size
        self._levels: list[_Level] = []  # index k: contexts of k tokens (order k + 1)

    def fit(self, ids: Sequence[int] | np.ndarray) -> KneserNey:
        """Count the stream ``ids`` (the training text); returns ``self``."""
        text = _ids(ids, self.vocab_size, "KneserNey.fit")
        if not text:
            raise ConfigError("KneserNey.fit needs at least one token")
        top = self.order - 1
        # the highest order counts occurrences: context (top tokens) -> next token -> count
        raw: dict[str, Counter[str]] = {}
        for end in range(len(text)):
            context = text[max(0, end - top) : end]
            if len(context) == top:
                raw.setdefault(context, Counter())[text[end]] += 1
        # a shorter text start (fewer than ``top`` tokens before it) still counts at its
        # length: its n-gram has no left neighbour, so no continuation count records it
        levels: list[dict[str, Counter[str]]] = [{} for _ in range(self.order)]
        levels[top] = raw
        for end in range(min(top, len(text))):
            levels[end].setdefault(text[:end], Counter())[text[end]] += 1
        # lower orders: the number of distinct tokens seen before each n-gram
        for k in range(top, 0, -1):
            lower = levels[k - 1]
            for context, following in levels[k].items():
                shorter = context[1:]
                target = lower.setdefault(shorter, Counter())
                for token in following:
                    target[token] += 1
        self._levels = [_Level(counts) for counts in levels]
        return self

    def _check_fitted(self) -> None:
        if not self._levels:
            raise ConfigError("the KneserNey model is not fitted yet: call fit(ids) first")

    def _prob(self, context: str, token: str) -> float:
        """``p(token | context)``, ``context`` at most ``order - 1`` code points."""
        p = 1.0 / self.vocab_size
        for k in range(len(context) + 1):  # from the unigram level up to the full context
            level = self._levels[k]
            history = context[len(context) - k :]
            total = level.total.get(history)
            if total is None:  # an unseen context: the lower orders' estimate stands
                break
            count = level.counts[history].get(token, 0)
            p = level.kept(count) / total + level.backoff[history] * p
        return p

    def prob(self, context: Sequence[int], token: int) -> float:
        """``p(token | context)``; only the last ``order - 1`` ids of ``context`` count."""
        self._check_fitted()
        text = _ids(context, self.vocab_size, "KneserNey.prob")
        history = text[max(0, len(text) - (self.order - 1)) :]
        return self._prob(history, _ids([token], self.vocab_size, "KneserNey.prob"))

    def distribution(self, context: Sequence[int]) -> np.ndarray:
        """The next-token probabilities after ``context``, float64 ``(vocab_size,)`` (sums
        to 1)."""
        return np.array([self.prob(context, token) for token in range(self.vocab_size)])

    def log_probs(self, ids: Sequence[int] | np.ndarray, start: int = 1) -> np.ndarray:
        """Natural-log probabilities of ``ids[start:]``, each given the ids before it (the
        last ``order - 1`` of them; a token near the start sees fewer): float64."""
        self._check_fitted()
        text = _ids(ids, self.vocab_size, "KneserNey.log_probs")
        top = self.order - 1
        found = [
            self._prob(text[max(0, end - top) : end], text[end]) for end in range(start, len(text))
        ]
        return np.log(np.array(found, dtype=np.float64))


def text_baselines(
    data: Any, orders: Sequence[int] = (3, 4, 5), compressors: bool = True
) -> tuple[dict[str, dict[str, float]], str]:
    """Classical scores of a language-model data set's test split: ``(rows, description)``.

    ``kneser_ney_<order>``: a :class:`KneserNey` model fit on the training token stream,
    scoring each test target after the test tokens before it, exactly the targets and contexts
    :func:`seqzoo.core.metrics.stateful_loss` gives a model. For character-level data with
    ``compressors``, ``xz`` and ``bz2``: ``8 * compressed bytes / characters`` of the test
    targets' text, compressed on its own (container headers included). Rows are
    :func:`~seqzoo.core.metrics.language_model_metrics` (loss in nats per token).
    """
    from seqzoo.core.metrics import language_model_metrics, token_stream

    train, test = token_stream(data.train), token_stream(data.test)
    if train is None or test is None:
        raise ConfigError(
            f"{data.name}: the n-gram baselines need the training and test windows cut from "
            "one token stream each (consecutive, non-overlapping windows)"
        )
    vocab = int(data.vocab_size)
    train_ids, test_ids = train.tolist(), test.tolist()
    rows: dict[str, dict[str, float]] = {}
    for order in orders:
        model = KneserNey(int(order), vocab).fit(train_ids)
        rows[f"kneser_ney_{order}"] = language_model_metrics(
            float(-model.log_probs(test_ids).mean())
        )
    spelled = ", ".join(str(o) for o in orders)
    why = (
        f"interpolated modified Kneser-Ney n-gram models (orders {spelled}) of the training "
        "text, each test token scored after the (up to order - 1) test tokens before it: the "
        "targets the model is scored on"
    )
    tokenizer = getattr(data.preprocessing, "tokenizer", None)
    if compressors and tokenizer is not None and data.metadata.get("level") == "char":
        from seqzoo.plugins.datasets.text import decode

        raw = decode(tokenizer, test_ids[1:]).encode("utf-8")
        for name, compress in COMPRESSORS.items():
            bits = 8 * len(compress(raw)) / (len(test_ids) - 1)
            rows[name] = language_model_metrics(bits * math.log(2))
        why += (
            "; xz (preset 9e) and bz2 (level 9) compress the test text alone (they see no "
            "training text): 8 x compressed bytes / characters"
        )
    return rows, why
