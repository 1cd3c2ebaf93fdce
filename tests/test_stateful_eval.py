"""Language models scored over the whole token stream with their state carried (evaluate)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from seqzoo.core.data import SequenceData, Split
from seqzoo.core.errors import ConfigError
from seqzoo.core.metrics import (
    evaluate,
    format_report,
    predict_split,
    stateful_loss,
    token_stream,
)
from seqzoo.plugins.datasets.text import default_corpus, text
from seqzoo.plugins.models.embedding_lstm import EmbeddingLSTM


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> SequenceData:
    path = tmp_path_factory.mktemp("text") / "doc.txt"
    path.write_text(default_corpus()[:6_000], encoding="utf-8")
    return text(str(path), level="char", seq_len=16, max_chars=None)


@pytest.fixture(scope="module")
def model(data) -> EmbeddingLSTM:
    torch.manual_seed(0)
    return EmbeddingLSTM(data.vocab_size, embedding_dim=8, hidden_size=16).eval()


class Uniform(nn.Module):
    """Equal logits over ``vocab`` tokens: no state, no ``forward_stateful``."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab

    def forward(self, x: Tensor) -> Tensor:
        return torch.zeros(*x.shape, self.vocab)


def test_token_stream_is_the_text_the_windows_were_cut_from(data) -> None:
    split = data.test
    stream = token_stream(split)
    assert stream is not None and len(stream) == split.targets.numel() + 1
    torch.testing.assert_close(stream[1:], split.targets.reshape(-1))
    torch.testing.assert_close(stream[:-1], split.inputs.reshape(-1))
    start = data.metadata["split"]["test"][0]
    assert stream[0] == split.inputs[0, 0] and start > 0
    # rows out of order, or overlapping windows, are no single stream
    assert token_stream(Split(split.inputs.flip(0), split.targets.flip(0))) is None
    ids = torch.arange(20)
    overlapping = ids.unfold(0, 5, 2)
    assert token_stream(Split(overlapping[:, :-1], overlapping[:, 1:])) is None
    assert token_stream(Split(split.inputs.float(), split.targets)) is None


def test_stateful_loss_is_one_pass_over_the_whole_stream(data, model) -> None:
    stream = token_stream(data.test)
    assert stream is not None
    with torch.no_grad():
        logits = model(stream[None, :-1])[0]
    whole = float(nn.functional.cross_entropy(logits.double(), stream[1:]))
    assert stateful_loss(model, data.test) == pytest.approx(whole, rel=1e-6)
    # chunks of 7 carry the state across 16-token window boundaries and across chunks alike
    assert stateful_loss(model, data.test, chunk=7) == pytest.approx(whole, rel=1e-6)
    _, windowed = predict_split(model, data.test, data.task)
    assert abs(windowed - whole) > 1e-4  # each window from a fresh state: other numbers
    assert not model.training


def test_evaluate_reports_the_stateful_score_and_the_windowed_one(data, model) -> None:
    result = evaluate(model, data, "validation")
    assert result["evaluation"] == "stateful"
    carried = stateful_loss(model, data.validation)
    assert carried is not None
    assert result["model"]["loss"] == pytest.approx(carried)
    assert result["model"]["bpc"] == pytest.approx(carried / math.log(2))
    _, windowed = predict_split(model, data.validation, data.task)
    assert result["windowed"]["loss"] == pytest.approx(windowed)
    assert "unigram" in result["baselines"]
    lines = format_report(result).splitlines()
    assert [line.split()[0] for line in lines[2:]] == ["model", "model", "unigram"]
    assert lines[3].startswith("model (windowed)")
    alone = evaluate(model, data, "validation", stateful=False)
    assert alone["evaluation"] == "windowed" and "windowed" not in alone
    assert alone["model"]["loss"] == pytest.approx(windowed)


def test_a_model_without_state_is_scored_window_by_window(data) -> None:
    uniform = Uniform(data.vocab_size)
    assert stateful_loss(uniform, data.test) is None
    result = evaluate(uniform, data)
    assert result["evaluation"] == "windowed" and "windowed" not in result
    assert result["model"]["loss"] == pytest.approx(math.log(data.vocab_size))
    with pytest.raises(ConfigError, match="stateful=False"):
        evaluate(uniform, data, stateful=True)
