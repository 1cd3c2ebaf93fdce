"""Metrics against hand computations, naive baselines, and evaluate()/format_report()."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score
from sklearn.preprocessing import StandardScaler
from torch import Tensor, nn

from seqzoo.core.data import Preprocessing, SequenceData, Split
from seqzoo.core.metrics import (
    accuracy,
    bits_per_character,
    evaluate,
    format_report,
    language_model_metrics,
    macro_f1,
    mae,
    perplexity,
    rmse,
    smape,
)


class Constant(nn.Module):
    """A stub model: ``output`` for every sample (shape ``(batch, *output.shape)``)."""

    def __init__(self, output: Tensor) -> None:
        super().__init__()
        self.register_buffer("output", output)
        self.weight = nn.Parameter(torch.zeros(1))  # so the evaluation finds a device

    def forward(self, x: Tensor) -> Tensor:
        return self.output.expand(x.shape[0], *self.output.shape).clone()


class LastInput(nn.Module):
    """Repeats the last input value over ``horizon`` steps (persistence, in model units)."""

    def __init__(self, horizon: int) -> None:
        super().__init__()
        self.horizon = horizon

    def forward(self, x: Tensor) -> Tensor:
        return x[:, -1, :1].expand(x.shape[0], self.horizon)


# -- metric functions ---------------------------------------------------------------------


def test_regression_metrics_by_hand() -> None:
    truth, guess = np.array([1.0, 2.0, 4.0, 0.0]), np.array([2.0, 2.0, 1.0, 0.0])
    assert mae(truth, guess) == pytest.approx((1 + 0 + 3 + 0) / 4)
    assert rmse(truth, guess) == pytest.approx(math.sqrt((1 + 0 + 9 + 0) / 4))
    # per pair 2|e| / (|y| + |p|): 2/3, 0, 6/5, and 0 for the 0-vs-0 pair (not 0/0)
    assert smape(truth, guess) == pytest.approx(100 * (2 / 3 + 0 + 6 / 5 + 0) / 4)
    assert mae(torch.tensor([[1.0], [3.0]]), torch.tensor([1.0, 1.0])) == 1.0  # shapes align


def test_classification_metrics_by_hand_and_against_sklearn() -> None:
    truth, guess = [0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 0, 2]
    assert accuracy(truth, guess) == pytest.approx(4 / 6)
    # F1 per class: 0 -> 2*1/(2+1+1) = .5; 1 -> 2*2/(4+1+0) = .8; 2 -> 2*1/(2+0+1) = 2/3
    assert macro_f1(truth, guess) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    rng = np.random.default_rng(0)
    truth, guess = rng.integers(0, 5, 200), rng.integers(0, 6, 200)  # a class never true
    assert macro_f1(truth, guess) == pytest.approx(f1_score(truth, guess, average="macro"))


def test_language_model_metrics() -> None:
    loss = math.log(8)
    assert perplexity(loss) == pytest.approx(8)
    assert bits_per_character(loss) == pytest.approx(3)
    assert language_model_metrics(loss) == pytest.approx({"loss": loss, "perplexity": 8, "bpc": 3})
    assert perplexity(1e6) == math.inf


# -- evaluate ------------------------------------------------------------------------------


def forecast_data(raw: np.ndarray, window: int, horizon: int, scaled: bool) -> SequenceData:
    """Windows over a raw ``(time,)`` series; with ``scaled``, input and target scalers that
    differ, so raw-unit results prove both scalers are undone correctly."""
    span = window + horizon
    windows = np.stack([raw[i : i + span] for i in range(len(raw) - span + 1)])
    x, y = windows[:, :window, None], windows[:, window:]
    prep = Preprocessing(window=window, horizon=horizon)
    if scaled:
        prep.input_scaler = StandardScaler().fit(raw[:, None])
        prep.target_scaler = StandardScaler().fit(raw[:, None] * 2 + 1)
        x = prep.input_scaler.transform(x.reshape(-1, 1)).reshape(x.shape)
        y = prep.target_scaler.transform(y.reshape(-1, 1)).reshape(y.shape)
    split = Split(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
    return SequenceData("s", "forecast", split, split, split, input_size=1,
                        output_size=horizon, preprocessing=prep, season=4)  # fmt: skip


@pytest.mark.parametrize("scaled", [False, True])
def test_persistence_is_exact_on_a_constant_series(scaled: bool) -> None:
    raw = np.repeat([3.0, 7.0, -2.0, 10.0], 20)  # constant stretches, windows inside each
    data = forecast_data(raw, window=5, horizon=3, scaled=scaled)
    inside = [i for i in range(len(data.test)) if len(set(raw[i : i + 8])) == 1]
    data.test = Split(data.test.inputs[inside], data.test.targets[inside])
    result = evaluate(LastInput(3) if not scaled else Constant(torch.zeros(3)), data)
    persistence = result["baselines"]["persistence"]
    assert persistence["mae"] == pytest.approx(0, abs=1e-5)
    assert persistence["rmse"] == pytest.approx(0, abs=1e-5)
    if not scaled:  # the stub repeats the last input: it is persistence
        assert result["model"]["mae"] == pytest.approx(0, abs=1e-6)
    else:  # zeros in target units are the targets' raw mean: 2 * mean(raw) + 1
        expected = np.abs(raw[[i + 5 for i in inside]] - (2 * raw.mean() + 1)).mean()
        assert result["model"]["mae"] == pytest.approx(expected, rel=1e-5)
    json.dumps(result)  # plain values, ready for --json


def test_seasonal_naive_is_exact_on_a_periodic_series() -> None:
    raw = np.tile([1.0, 5.0, 2.0, 8.0], 12)
    data = forecast_data(raw, window=6, horizon=6, scaled=True)  # horizon > season: wraps
    result = evaluate(LastInput(6), data)
    assert result["baselines"]["seasonal_naive"]["mae"] == pytest.approx(0, abs=1e-5)
    assert result["baselines"]["persistence"]["mae"] > 1
    short = forecast_data(raw, window=3, horizon=1, scaled=False)  # window < season
    assert "seasonal_naive" not in evaluate(LastInput(1), short)["baselines"]


def test_sequence_output_models_are_scored_on_their_last_step() -> None:
    raw = np.arange(30.0)
    data = forecast_data(raw, window=4, horizon=1, scaled=False)

    class Echo(nn.Module):  # (batch, time, 1): every step's input; the last is x_{t}
        def forward(self, x: Tensor) -> Tensor:
            return x + 1  # the next value of the ramp

    assert evaluate(Echo(), data)["model"]["mae"] == pytest.approx(0)


def test_regression_mean_baseline_in_raw_units() -> None:
    x = torch.randn(6, 1, 2)
    raw_y = np.array([[1.0], [2.0], [3.0], [4.0], [10.0], [20.0]])
    scaler = StandardScaler().fit(raw_y[:4])  # fit on the training rows only
    y = torch.tensor(scaler.transform(raw_y), dtype=torch.float32)
    prep = Preprocessing(target_scaler=scaler)
    data = SequenceData("r", "regression", Split(x[:4], y[:4]), Split(x[4:], y[4:]),
                        Split(x[4:], y[4:]), input_size=2, output_size=1, preprocessing=prep)  # fmt: skip
    result = evaluate(Constant(torch.zeros(1)), data)  # zero in scaled units = the train mean
    assert result["baselines"]["mean"]["mae"] == pytest.approx((7.5 + 17.5) / 2)
    assert result["model"]["mae"] == pytest.approx(12.5, rel=1e-5)
    assert result["model"]["rmse"] == pytest.approx(math.sqrt((7.5**2 + 17.5**2) / 2), rel=1e-5)
    assert result["split"] == "test" and result["samples"] == 2


def test_classification_majority_baseline() -> None:
    x = torch.randn(8, 3, 2)
    y = torch.tensor([1, 1, 1, 0, 2, 0, 0, 2])
    data = SequenceData("c", "classification", Split(x[:5], y[:5]), Split(x[5:], y[5:]),
                        Split(x[5:], y[5:]), input_size=2, output_size=3)  # fmt: skip
    result = evaluate(Constant(torch.tensor([0.0, 0.0, 5.0])), data)  # always class 2
    assert result["baselines"]["majority"]["accuracy"] == 0  # majority (1) never in the test
    assert result["model"]["accuracy"] == pytest.approx(1 / 3)
    assert result["model"]["macro_f1"] == pytest.approx(
        f1_score([0, 0, 2], [2, 2, 2], average="macro")
    )


def test_language_model_unigram_baseline_and_uniform_model() -> None:
    train = torch.tensor([[1, 1, 1, 2]])
    test = torch.tensor([[1, 2, 3]])
    data = SequenceData("t", "language-model", Split(train, train), Split(test, test),
                        Split(test, test), input_size=None, output_size=4, vocab_size=4)  # fmt: skip
    result = evaluate(Constant(torch.zeros(3, 4)), data)  # uniform logits over 4 tokens
    assert result["model"]["loss"] == pytest.approx(math.log(4))
    assert result["model"]["perplexity"] == pytest.approx(4)
    assert result["model"]["bpc"] == pytest.approx(2)
    # counts 0,3,1,0 + 1 each over 8: p(1) = 4/8, p(2) = 2/8, p(3) = 1/8
    expected = -(math.log(4 / 8) + math.log(2 / 8) + math.log(1 / 8)) / 3
    assert result["baselines"]["unigram"]["loss"] == pytest.approx(expected)


def test_format_report_is_a_table_of_every_row() -> None:
    result = {
        "task": "forecast", "split": "test", "dataset": "sine", "units": "degC", "samples": 3,
        "model": {"mae": 0.5, "rmse": 1e-6},
        "baselines": {"persistence": {"mae": 2.0}, "seasonal_naive": {"mae": 1234567.0}},
    }  # fmt: skip
    lines = format_report(result).splitlines()
    assert "sine" in lines[0] and "degC" in lines[0] and "3 samples" in lines[0]
    assert lines[1].split() == ["mae", "rmse"]
    assert lines[2].split() == ["model", "0.5000", "1.000e-06"]
    assert lines[3].split() == ["persistence", "2.0000", "-"]
    assert lines[4].split() == ["seasonal_naive", "1.235e+06", "-"]


def test_evaluate_rejects_an_unknown_split() -> None:
    data = forecast_data(np.arange(20.0), window=4, horizon=1, scaled=False)
    with pytest.raises(ValueError, match="split"):
        evaluate(LastInput(1), data, split="dev")
