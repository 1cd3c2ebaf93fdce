"""The ``ensemble`` model: members' probabilities (or outputs) averaged, a state that is the
tuple of theirs, saved and loaded like any model, and clear errors for what cannot combine."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import seqzoo
from seqzoo.core.errors import ConfigError, ShapeError
from seqzoo.plugins.models.ensemble import Ensemble

VOCAB = 11


def language_ensemble(seed: int = 0) -> Ensemble:
    torch.manual_seed(seed)
    member = {"name": "embedding-lstm", "embedding_dim": 8, "hidden_size": 12}
    model = seqzoo.create_model(
        "ensemble", vocab_size=VOCAB, members=[member, {**member, "hidden_size": 6}]
    )
    return model.eval()


def ids(batch: int = 3, time: int = 17) -> torch.Tensor:
    return torch.randint(1, VOCAB, (batch, time), generator=torch.Generator().manual_seed(1))


def test_probabilities_are_the_members_mean_probability() -> None:
    model = language_ensemble()
    x = ids()
    with torch.no_grad():
        mixed = model(x)
        each = [torch.softmax(m(x), dim=-1) for m in model.members]
    assert mixed.shape == (3, 17, VOCAB)
    torch.testing.assert_close(torch.softmax(mixed, dim=-1), (each[0] + each[1]) / 2)
    torch.testing.assert_close(mixed.exp().sum(-1), torch.ones(3, 17))  # already log-probs
    # not simply one member's, nor the mean of logits
    assert not torch.allclose(torch.softmax(mixed, -1), each[0], atol=1e-3)


def test_the_state_carries_across_chunks_and_steps() -> None:
    model = language_ensemble()
    x = ids()
    with torch.no_grad():
        whole = model(x)
        first, state = model.forward_stateful(x[:, :9])
        second, state = model.forward_stateful(x[:, 9:], state)
        assert isinstance(state, tuple) and len(state) == 2
        torch.testing.assert_close(torch.cat([first, second], 1), whole, rtol=1e-5, atol=1e-5)
        state, steps = model.initial_state(3), []
        for t in range(x.shape[1]):
            y, state = model.step(x[:, t], state)
            steps.append(y)
    torch.testing.assert_close(torch.stack(steps, 1), whole, rtol=1e-5, atol=1e-5)


def test_forecasts_average_the_outputs_and_train(tmp_path: Path) -> None:
    torch.manual_seed(0)
    run = seqzoo.train(
        model={"name": "ensemble", "members": ["gru", {"name": "lstm", "hidden_size": 8}]},
        dataset={"name": "sine", "window": 12},
        trainer={"name": "supervised", "epochs": 2, "quiet": True, "batch_size": 32},
    )
    model = run.model.eval()
    assert model.combine == "mean"
    x = run.data.test.inputs[:4]
    with torch.no_grad():
        expected = (model.members[0](x) + model.members[1](x)) / 2
        torch.testing.assert_close(model(x), expected)
    assert math.isfinite(run.history.val_loss[-1])


def test_saved_and_loaded_it_gives_the_same_outputs(tmp_path: Path) -> None:
    model = language_ensemble()
    seqzoo.save_pretrained(model, tmp_path / "ensemble")
    loaded = seqzoo.from_pretrained(tmp_path / "ensemble")
    assert loaded.config["members"][1]["hidden_size"] == 6
    x = ids()
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_of_joins_trained_models_as_they_are() -> None:
    torch.manual_seed(0)
    members = [seqzoo.create_model("gru", input_size=2, hidden_size=4) for _ in range(3)]
    model = Ensemble.of(members)
    assert model.members[2] is members[2] and model.input_size == 2
    assert [m["name"] for m in model.config["members"]] == ["gru"] * 3
    x = torch.randn(2, 5, 2)
    with torch.no_grad():
        torch.testing.assert_close(model(x), sum(m(x) for m in members) / 3)


def test_what_cannot_combine_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="two models or more"):
        seqzoo.create_model("ensemble", input_size=1, members=["gru"])
    with pytest.raises(ConfigError, match="list of model configs"):
        seqzoo.create_model("ensemble", input_size=1, members="gru")
    with pytest.raises(ConfigError, match="different inputs"):
        Ensemble.of(
            [
                seqzoo.create_model("gru", input_size=1),
                seqzoo.create_model("embedding-lstm", vocab_size=5),
            ]
        )
    with pytest.raises(ConfigError, match="disagree on output_size"):
        Ensemble.of(
            [
                seqzoo.create_model("gru", input_size=1),
                seqzoo.create_model("gru", input_size=1, output_size=2),
            ]
        )
    with pytest.raises(ConfigError, match="combine must be one of"):
        seqzoo.create_model("ensemble", input_size=1, members=["gru", "lstm"], combine="vote")
    with pytest.raises(ConfigError, match="member 1 is an ensemble"):
        seqzoo.create_model("ensemble", input_size=1, members=["gru", {"name": "ensemble"}])
    with pytest.raises(ConfigError, match="member 1: .*unknown model"):
        seqzoo.create_model("ensemble", input_size=1, members=["gru", "grru"])
    with pytest.raises(ShapeError, match="tuple of 2 member states"):
        language_ensemble().forward_stateful(ids(), state=torch.zeros(1))
