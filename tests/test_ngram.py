"""Kneser-Ney n-gram models and the text baselines of the char zoo entry, on real text."""

from __future__ import annotations

import bz2
import lzma
import math
from collections import Counter

import numpy as np
import pytest
import torch

from seqzoo.core.errors import ConfigError
from seqzoo.core.metrics import token_stream
from seqzoo.plugins.datasets.text import build_tokenizer, default_corpus, encode, text
from seqzoo.zoo.ngram import KneserNey, text_baselines


@pytest.fixture(scope="module")
def corpus() -> tuple[list[int], list[int], int]:
    """CPython's documentation text: 8k characters to fit, the next 2k held out."""
    raw = default_corpus()[:10_000]
    tokenizer = build_tokenizer([raw], "char")
    ids = encode(tokenizer, raw)
    return ids[:8_000], ids[8_000:], tokenizer.get_vocab_size()


def bigram_add_one(train: list[int], held_out: list[int], vocab: int) -> float:
    """Nats per token of an add-one smoothed bigram model (what the zoo's bigram row is)."""
    counts = np.ones((vocab, vocab))
    np.add.at(counts, (train[:-1], train[1:]), 1)
    p = counts / counts.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(p[held_out[:-1], held_out[1:]])))


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_every_distribution_sums_to_one_and_covers_unseen_tokens(corpus, order) -> None:
    train, held_out, vocab = corpus
    model = KneserNey(order, vocab).fit(train)
    seen_rarely = [i for i in range(vocab) if train.count(i) == 1]
    contexts = [
        [],  # the start of a text
        train[100:108],  # seen in training, longer than the order
        held_out[:3],
        [0, 1, 0, 1],  # padding and unknown ids: never in the text, an unseen context
        [*seen_rarely[:2], vocab - 1],
    ]
    for context in contexts:
        p = model.distribution(context)
        assert p.shape == (vocab,)
        assert p.sum() == pytest.approx(1.0, abs=1e-12)
        assert p.min() > 0  # ids 0 and 1 never occur, and still get a probability
    assert model.prob(train[100:108], train[108]) == model.distribution(train[100:108])[train[108]]


def test_kneser_ney_beats_an_add_one_bigram_on_held_out_text(corpus) -> None:
    train, held_out, vocab = corpus
    bigram = bigram_add_one(train, held_out, vocab)
    kn2 = float(-KneserNey(2, vocab).fit(train).log_probs(held_out).mean())
    kn3 = float(-KneserNey(3, vocab).fit(train).log_probs(held_out).mean())
    assert kn2 < bigram  # the same order: the smoothing alone wins
    assert kn3 < kn2 - 0.3  # and a longer context wins more


def test_order_one_ignores_context_and_order_five_uses_it(corpus) -> None:
    train, held_out, vocab = corpus
    unigram, five = KneserNey(1, vocab).fit(train), KneserNey(5, vocab).fit(train)
    np.testing.assert_array_equal(unigram.distribution([]), unigram.distribution(train[:40]))
    assert not np.allclose(five.distribution(train[:4]), five.distribution(train[4:8]))
    # the most frequent 4 tokens always followed by one same token: order 5 all but knows it
    following: dict[tuple[int, ...], set[int]] = {}
    for end in range(4, len(train)):
        following.setdefault(tuple(train[end - 4 : end]), set()).add(train[end])
    seen = Counter(tuple(train[end - 4 : end]) for end in range(4, len(train)))
    context = max((c for c in following if len(following[c]) == 1), key=lambda c: (seen[c], c))
    assert seen[context] >= 10
    (after,) = following[context]
    assert five.prob(list(context), after) > 0.9 > 0.2 > unigram.prob(list(context), after)
    scores = {o: float(-KneserNey(o, vocab).fit(train).log_probs(held_out).mean()) for o in (1, 5)}
    assert scores[5] < scores[1] - 1.0  # nats per character on the held-out text


def test_fitting_and_scoring_are_deterministic(corpus) -> None:
    train, held_out, vocab = corpus
    first = KneserNey(4, vocab).fit(train).log_probs(held_out)
    again = KneserNey(4, vocab).fit(list(train)).log_probs(np.asarray(held_out))
    assert first.tobytes() == again.tobytes()
    assert len(first) == len(held_out) - 1  # every token after the first, given those before


def test_bad_input_is_a_config_error(corpus) -> None:
    train, _, vocab = corpus
    with pytest.raises(ConfigError, match="order"):
        KneserNey(0, vocab)
    with pytest.raises(ConfigError, match="fit"):
        KneserNey(3, vocab).log_probs(train[:10])
    with pytest.raises(ConfigError, match=f"outside the vocabulary \\[0, {vocab}\\)"):
        KneserNey(3, vocab).fit([*train[:10], vocab])


def test_text_baselines_score_the_models_test_targets(tmp_path) -> None:
    path = tmp_path / "doc.txt"
    path.write_text(default_corpus()[:8_000], encoding="utf-8")
    data = text(str(path), level="char", seq_len=50, max_chars=None)
    rows, why = text_baselines(data, orders=(2, 3))
    assert list(rows) == ["kneser_ney_2", "kneser_ney_3", "xz", "bz2"]
    assert "Kneser-Ney" in why and "test text alone" in why
    stream = token_stream(data.test)
    assert stream is not None
    torch.testing.assert_close(stream[1:], data.test.targets.reshape(-1))
    train = token_stream(data.train)
    assert train is not None
    kn3 = KneserNey(3, data.vocab_size).fit(train.tolist()).log_probs(stream.tolist())
    assert rows["kneser_ney_3"]["loss"] == pytest.approx(-kn3.mean(), rel=1e-12)
    assert rows["kneser_ney_3"]["bpc"] == pytest.approx(-kn3.mean() / math.log(2))
    scored = data.test.targets.numel()
    first = data.metadata["split"]["test"][0] + 1  # the first test target: after one id
    chars = path.read_text(encoding="utf-8")[first : first + scored]
    for name, size in (
        ("xz", len(lzma.compress(chars.encode(), preset=9 | lzma.PRESET_EXTREME))),
        ("bz2", len(bz2.compress(chars.encode(), 9))),
    ):
        assert rows[name]["bpc"] == pytest.approx(8 * size / scored)
    # word tokens are no characters: no compressor rows
    words = text(str(path), level="word", seq_len=20, max_chars=None)
    assert list(text_baselines(words, orders=(2,))[0]) == ["kneser_ney_2"]


def test_a_char_entry_is_built_beside_kneser_ney_and_compressors(tmp_path, monkeypatch) -> None:
    from seqzoo.core.metrics import evaluate
    from seqzoo.zoo import catalogue
    from seqzoo.zoo.build import RECIPES, build_zoo

    shipped = RECIPES["charlstm-pydoc"]  # the bundled recipe: truncated BPTT, n-gram rows
    assert shipped["trainer"]["name"] == "tbptt" and shipped["classical"]["kneser_ney"] == [3, 4, 5]
    path = tmp_path / "doc.txt"
    path.write_text(default_corpus()[:6_000], encoding="utf-8")
    dataset = {"name": "text", "path": str(path), "level": "char", "seq_len": 32, "max_chars": None}
    recipe = {
        **shipped,
        "description": "Tiny character LSTM (a test recipe)",
        "model": {"name": "embedding-lstm", "embedding_dim": 8, "hidden_size": 16},
        "dataset": dataset,
        "trainer": {"name": "tbptt", "chunk": 8, "epochs": 1, "batch_size": 16},
        "classical": {"kind": "bigram", "kneser_ney": [2, 3]},
    }
    monkeypatch.setitem(RECIPES, "tiny-char", recipe)
    built = build_zoo(["tiny-char"], out=tmp_path / "zoo", seeds=1)["tiny-char"]
    metrics = built["metrics"]
    assert list(metrics["baselines"]) == [
        "unigram", "bigram", "kneser_ney_2", "kneser_ney_3", "xz", "bz2"
    ]  # fmt: skip
    assert "Kneser-Ney" in metrics["classical"]["description"]
    data = text(str(path), level="char", seq_len=32, max_chars=None)
    rows, _ = text_baselines(data, (2, 3))
    assert metrics["baselines"]["kneser_ney_3"] == pytest.approx(rows["kneser_ney_3"])
    # the model's row is its stateful score: the saved weights, scored again, give it
    from seqzoo import from_pretrained

    model = from_pretrained(str(tmp_path / "zoo" / "models" / "tiny-char"), device="cpu")
    report = evaluate(model, data, "test")
    assert report["evaluation"] == "stateful"
    assert metrics["model"]["bpc"] == pytest.approx(report["model"]["bpc"], rel=1e-6)
    card = (tmp_path / "zoo" / "models" / "tiny-char" / "README.md").read_text(encoding="utf-8")
    assert "| kneser_ney_3 |" in card and "| xz |" in card and "| bz2 |" in card
    assert catalogue.read_catalogue(tmp_path / "zoo" / "catalogue.json")["entries"]["tiny-char"]
