"""Text datasets and their tokenizers: ``text`` (language modeling) and
``text-classification``, plus :func:`encode` / :func:`decode` for text generation.

Tokenizers are Hugging Face ``tokenizers.Tokenizer`` objects (saved with ``to_str`` /
``save``), with id 0 ``[PAD]`` and id 1 ``[UNK]``:

- ``level="char"``: one token per Unicode code point, no normalization, and a concatenating
  decoder, so ``decode(tok, encode(tok, s)) == s`` exactly for text of known characters;
- ``level="word"``: words and punctuation runs (``Whitespace`` pre-tokenizer), the
  ``vocab_size - 2`` most frequent of them; ``decode`` joins tokens with single spaces.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from seqzoo.core.data import (
    Preprocessing,
    SequenceData,
    Split,
    chronological_split,
    random_split,
    require_int,
)
from seqzoo.core.errors import ConfigError

from .files import read_table, read_text

__all__ = [
    "LEVELS",
    "PAD",
    "UNK",
    "build_tokenizer",
    "decode",
    "default_corpus",
    "encode",
    "text",
    "text_classification",
]

PAD, UNK = "[PAD]", "[UNK]"
LEVELS = ("char", "word")


def _level(level: str) -> str:
    if level not in LEVELS:
        raise ConfigError(f"must be one of {LEVELS}, got {level!r}", field="level")
    return level


def _pre_tokenizer(level: str) -> Any:
    from tokenizers import Regex, pre_tokenizers

    if level == "char":
        # every code point, newlines included, is its own token
        return pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    return pre_tokenizers.Whitespace()


def build_tokenizer(
    texts: Iterable[str], level: str = "char", vocab_size: int | None = None
) -> Any:
    """A WordLevel ``tokenizers.Tokenizer`` over ``texts``' characters or words, most frequent
    first (ties by token), ``[PAD]`` = 0 and ``[UNK]`` = 1. ``vocab_size`` caps the vocabulary
    (specials included); ``None`` keeps every token seen."""
    from tokenizers import Tokenizer, decoders
    from tokenizers.models import WordLevel

    level = _level(level)
    pre = _pre_tokenizer(level)
    counts: Counter[str] = Counter()
    for piece in texts:
        if level == "char":
            counts.update(piece)  # Counter over a str counts code points, in C
        else:
            counts.update(word for word, _ in pre.pre_tokenize_str(piece))
    ranked = sorted(counts, key=lambda token: (-counts[token], token))
    if vocab_size is not None:
        ranked = ranked[: require_int(vocab_size, "vocab_size", minimum=3) - 2]
    vocab = {PAD: 0, UNK: 1, **{token: i + 2 for i, token in enumerate(ranked)}}
    # [PAD] / [UNK] are plain vocabulary entries, not added special tokens: special tokens are
    # matched in raw text, so a corpus containing "[UNK]" would no longer round-trip
    tokenizer = Tokenizer(WordLevel(vocab, unk_token=UNK))
    tokenizer.pre_tokenizer = pre
    if level == "char":
        tokenizer.decoder = decoders.Fuse()  # concatenate, no spaces between characters
    return tokenizer


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` (no padding, no truncation)."""
    return list(tokenizer.encode(text, add_special_tokens=False).ids)


def decode(tokenizer: Any, ids: Sequence[int] | Tensor | np.ndarray) -> str:
    """Text of ``ids``, padding (id 0) dropped; exact inverse of :func:`encode` at char level."""
    if isinstance(ids, (Tensor, np.ndarray)):
        ids = ids.tolist()
    return tokenizer.decode([int(i) for i in ids if int(i) != 0], skip_special_tokens=False)


def default_corpus() -> str:
    """CPython's own documentation text (``pydoc_data.topics``), ~460k characters, offline."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


def _chunks(stream: Tensor, rows: slice, seq_len: int) -> Split:
    """Non-overlapping ``(N, seq_len)`` inputs and next-token targets of one range: windows of
    ``seq_len + 1`` ids stepping ``seq_len`` (views, the last id of one is the first of the
    next)."""
    part = stream[rows]
    if len(part) < seq_len + 1:
        empty = stream.new_empty((0, seq_len))
        return Split(empty, empty)
    windows = part.unfold(0, seq_len + 1, seq_len)
    return Split(windows[:, :-1], windows[:, 1:])


def text(
    path: str | None = None,
    level: str = "char",
    seq_len: int = 64,
    max_chars: int | None = 200_000,
    vocab_size: int = 10_000,
    validation: float = 0.15,
    test: float = 0.15,
) -> SequenceData:
    """Language modeling on a UTF-8 text file (``path=None``: CPython's documentation text).

    The first ``max_chars`` characters are tokenized at ``level``; the token stream is split
    chronologically and cut into inputs ``(N, seq_len)`` int64 ids with targets ``(N,
    seq_len)`` the next ids. A char vocabulary is the corpus' whole alphabet (so decoding is
    exact); a word vocabulary, capped at ``vocab_size``, is counted on the training part only.
    """
    level = _level(level)
    seq_len = require_int(seq_len, "seq_len")
    if max_chars is not None:
        max_chars = require_int(max_chars, "max_chars")
    corpus = default_corpus() if path is None else read_text(path)
    where = "the default corpus" if path is None else str(path)
    corpus = corpus[:max_chars]
    if level == "char":
        tokenizer = build_tokenizer([corpus], "char")
    else:
        # the word stream is split first so the vocabulary sees training words only
        words = [word for word, _ in _pre_tokenizer("word").pre_tokenize_str(corpus)]
        train_words = words[chronological_split(len(words), validation, test)[0]]
        tokenizer = build_tokenizer([" ".join(train_words)], "word", vocab_size)
    stream = torch.tensor(encode(tokenizer, corpus), dtype=torch.int64)
    ranges = chronological_split(len(stream), validation, test)
    splits = [_chunks(stream, rows, seq_len) for rows in ranges]
    if len(splits[0]) == 0:
        raise ConfigError(
            f"{where}: {len(stream)} {level} tokens leave too few for one training sequence of "
            f"{seq_len} + 1; use a smaller seq_len or a longer text",
            field="seq_len",
        )
    vocab = tokenizer.get_vocab_size()
    return SequenceData(
        name="text",
        task="language-model",
        train=splits[0],
        validation=splits[1],
        test=splits[2],
        input_size=None,
        output_size=vocab,
        preprocessing=Preprocessing(tokenizer=tokenizer),
        vocab_size=vocab,
        units="tokens",
        description=f"{level}-level language modeling on {where}",
        metadata={
            "path": None if path is None else str(path),
            "level": level,
            "tokens": len(stream),
            "split": {
                name: [rows.start, rows.stop]
                for name, rows in zip(("train", "validation", "test"), ranges, strict=True)
            },
        },
    )


def _label_order(labels: list[str]) -> list[str]:
    """Distinct labels, numerically sorted when they are all numbers, else alphabetically."""
    distinct = set(labels)
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return sorted(distinct)


def text_classification(
    path: str,
    text_column: str = "text",
    label_column: str = "label",
    seq_len: int = 128,
    level: str = "word",
    vocab_size: int = 10_000,
    seed: int = 0,
    validation: float = 0.15,
    test: float = 0.15,
) -> SequenceData:
    """Classify the texts of a CSV file by its label column.

    Texts are tokenized at ``level`` (vocabulary counted on the training rows), truncated to
    ``seq_len`` and padded with 0 to the longest: inputs ``(N, time)`` int64, ``lengths``
    ``(N,)``, targets ``(N,)`` int64 class indices into ``metadata["labels"]``. Random seeded
    split.
    """
    level = _level(level)
    seq_len = require_int(seq_len, "seq_len")
    table = read_table(path)
    texts = table.column(text_column, "text_column")
    labels = table.column(label_column, "label_column")
    for row, label in enumerate(labels):
        if not label:
            raise ConfigError(
                f"{table.path}: column {label_column!r} is empty in {table.where(row)}; give "
                "every row a label",
                field="label_column",
            )
    classes = _label_order(labels)
    if len(classes) < 2:
        raise ConfigError(
            f"{table.path}: column {label_column!r} has one label {classes[0]!r}; a classifier "
            "needs at least two",
            field="label_column",
        )
    train, validation_index, test_index = random_split(len(texts), validation, test, seed)
    tokenizer = build_tokenizer((texts[i] for i in train.tolist()), level, vocab_size)
    # tokenizers pads (with 0, to the longest) and truncates the whole batch in Rust; switched
    # off afterwards so the returned tokenizer encodes plainly
    tokenizer.enable_truncation(max_length=seq_len)
    tokenizer.enable_padding(pad_id=0, pad_token=PAD)
    try:
        encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
    finally:
        tokenizer.no_padding()
        tokenizer.no_truncation()
    ids = torch.tensor([e.ids for e in encodings], dtype=torch.int64)
    lengths = torch.tensor([e.attention_mask for e in encodings], dtype=torch.int64).sum(dim=1)
    empty = torch.nonzero(lengths == 0).flatten()
    if len(empty):
        raise ConfigError(
            f"{table.path}: column {text_column!r} has no text in {table.where(int(empty[0]))}; "
            "drop the row or fill it",
            field="text_column",
        )
    index = {label: i for i, label in enumerate(classes)}
    targets = torch.tensor([index[label] for label in labels], dtype=torch.int64)

    def split(rows: Tensor) -> Split:
        return Split(ids[rows], targets[rows], lengths[rows])

    vocab = tokenizer.get_vocab_size()
    return SequenceData(
        name="text-classification",
        task="classification",
        train=split(train),
        validation=split(validation_index),
        test=split(test_index),
        input_size=None,
        output_size=len(classes),
        preprocessing=Preprocessing(tokenizer=tokenizer),
        vocab_size=vocab,
        units="class",
        description=f"{table.path.name}: classify {text_column!r} by {label_column!r}",
        metadata={"labels": classes, "path": str(table.path), "level": level, "seed": seed},
    )
