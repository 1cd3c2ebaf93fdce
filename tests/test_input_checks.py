"""The input and state checks every model gets from its base class (seqzoo.core.modules):
empty sequences, token ids outside the vocabulary, NaN / infinity, states of the wrong form,
``initial_state(batch <= 0)``; plugins get them without code; tracing and ONNX skip them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from test_training import fit, lstm, sine_data
from torch import Tensor, nn

import seqzoo
from seqzoo.core.data import Preprocessing
from seqzoo.core.errors import ConfigError, ShapeError
from seqzoo.core.modules import SequenceModel, State, input_checks
from seqzoo.core.predict import forecast

BATCH = 3


def build(name: str, **config: Any) -> SequenceModel:
    torch.manual_seed(0)
    return seqzoo.create_model(name, **config).eval()


REAL: dict[str, dict[str, Any]] = {
    "lstm": {"input_size": 2, "hidden_size": 5, "num_layers": 2},
    "gru": {"input_size": 2, "hidden_size": 5},
    "linear": {"input_size": 2, "window": 3},
    "conv-recurrent": {"input_size": 2, "hidden_size": 5, "channels": [4]},
    "lstm-fcn": {"input_size": 2, "hidden_size": 5, "channels": [4], "style": "parallel"},
    "hybrid": {
        "input_size": 2,
        "layers": [
            {"layer": "conv1d", "channels": 4},
            {"layer": "gru", "hidden_size": 5},
            {"layer": "mean"},
            {"layer": "linear", "out_features": 1},
        ],
    },
}


def real(name: str) -> SequenceModel:
    config = dict(REAL[name])
    return build("conv-recurrent" if name == "lstm-fcn" else name, **config)


@pytest.mark.parametrize("name", sorted(REAL))
def test_an_empty_sequence_is_a_shape_error(name: str) -> None:
    model = real(name)
    with pytest.raises(ShapeError, match=r"at least one time step; got shape \(3, 0, 2\)"):
        model(torch.zeros(BATCH, 0, 2))
    if model.causal:
        with pytest.raises(ShapeError, match="at least one time step"):
            model.forward_stateful(torch.zeros(BATCH, 0, 2))


def test_empty_token_sequences_are_a_shape_error() -> None:
    lm = build("embedding-lstm", vocab_size=9, hidden_size=5)
    with pytest.raises(ShapeError, match=r"at least one token per sequence; got shape \(2, 0\)"):
        lm(torch.zeros(2, 0, dtype=torch.long))


@pytest.mark.parametrize("bad", [9, 100, -1])
def test_token_ids_outside_the_vocabulary_are_a_shape_error(bad: int) -> None:
    lm = build("embedding-lstm", vocab_size=9, hidden_size=5)
    ids = torch.tensor([[1, 2, 3], [4, bad, 5]])
    message = rf"ids in \[0, 9\).*the first out of range, {bad}, at index \(1, 1\)"
    with pytest.raises(ShapeError, match=message):
        lm(ids)
    with pytest.raises(ShapeError, match=message):
        lm.forward_stateful(ids)
    with pytest.raises(ShapeError, match=r"embedding-lstm\.step expects token ids in \[0, 9\)"):
        lm.step(torch.tensor([1, bad]))
    hybrid = build(
        "hybrid",
        layers=[
            {"layer": "embedding", "num_embeddings": 9, "embedding_dim": 4},
            {"layer": "lstm", "hidden_size": 5},
        ],
    )
    with pytest.raises(ShapeError, match=r"embedding expects token ids in \[0, 9\)"):
        hybrid(ids)
    with pytest.raises(ShapeError, match=r"embedding\.step expects token ids in \[0, 9\)"):
        hybrid.step(torch.tensor([bad, 1]))
    assert lm(ids.clamp(0, 8)).shape == (2, 3, 9)  # the same ids in range run


@pytest.mark.parametrize("name", sorted(REAL))
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_nan_or_infinite_inputs_are_a_shape_error_naming_the_first(name: str, value: float) -> None:
    model = real(name)
    x = torch.randn(BATCH, 6, 2)
    x[1, 4, 0] = value
    with pytest.raises(ShapeError, match=rf"non-finite input \({value} at index \(1, 4, 0\)"):
        model(x)
    x[1, 4, 0] = 0.0
    model(x)


def test_a_sum_that_overflows_is_not_mistaken_for_an_infinity() -> None:
    model = build("lstm", input_size=1, hidden_size=3)
    model(torch.full((2, 4, 1), 3e38))  # each value finite, their float32 sum is not
    half = build("lstm", input_size=1, hidden_size=3).half()
    half(torch.full((2, 4, 1), 60000.0, dtype=torch.float16))  # checked in float32


def test_models_that_read_nan_as_missing_say_so_and_keep_working() -> None:
    forecaster = build(
        "patch-forecaster", patch_size=4, d_model=8, hidden_size=8, num_layers=1, horizon=4,
        max_context=16,
    )  # fmt: skip
    assert forecaster.accepts_nan and not SequenceModel.accepts_nan
    context = torch.randn(2, 12)
    context[0, :5] = float("nan")  # missing values, left padding included
    out = forecaster(context)
    assert out.shape == (2, 4, 9) and torch.isfinite(out).all()
    with pytest.raises(ShapeError, match=r"\(batch, time\) or \(batch, time, 1\)"):
        forecaster(torch.randn(2, 12, 3))
    with pytest.raises(ShapeError, match="at least one time step"):
        forecaster(torch.zeros(2, 0))


def test_nan_in_the_history_of_a_forecast_is_a_config_error() -> None:
    model = build("lstm", input_size=1, hidden_size=4)
    preprocessing = Preprocessing(window=5, horizon=1, feature_names=["y"], target_names=["y"])
    history = np.sin(np.arange(20.0))
    assert forecast(model, preprocessing, history, 3).shape == (3, 1)
    history[-2] = np.nan
    with pytest.raises(ConfigError, match="missing or infinite value among its last 5 rows"):
        forecast(model, preprocessing, history, 3)
    with pytest.raises(ShapeError, match="non-finite input"):  # straight to the model
        model(torch.tensor(history[None, -5:, None], dtype=torch.float32))


def test_nan_in_training_data_is_a_config_error_before_training() -> None:
    data = sine_data()
    data.train.inputs[4, 2, 0] = float("nan")
    with pytest.raises(ConfigError, match=r"hold NaN or infinite values .* index 4"):
        fit(lstm(), data, epochs=1)


# -- states -------------------------------------------------------------------------------


def wrong_states(model: SequenceModel) -> dict[str, Any]:
    """States of the wrong structure, shape, type and batch size for ``model`` at BATCH."""
    good = model.initial_state(BATCH)
    leaves = [s for s in _leaves(good)]
    first = leaves[0]
    return {
        "batch": model.initial_state(BATCH + 1),
        "structure": [good, good] if not isinstance(good, Tensor) else (good, good),
        "type": "h",
        "numpy": first.numpy() if isinstance(good, Tensor) else [first.numpy()] * 2,
        "shape": _replace_first(good, torch.zeros(*first.shape[:-1], first.shape[-1] + 1)),
        "dtype": _replace_first(good, first.double()),
    }


def _leaves(state: State) -> list[Tensor]:
    if isinstance(state, Tensor):
        return [state]
    return [t for s in state or [] for t in _leaves(s)]


def _replace_first(state: State, tensor: Tensor) -> State:
    if isinstance(state, Tensor):
        return tensor
    done = False
    out = []
    for s in state:
        if not done and _leaves(s):
            out.append(_replace_first(s, tensor))
            done = True
        else:
            out.append(s)
    return type(state)(out)


STEPPABLE = ["lstm", "gru", "linear", "conv-recurrent", "lstm-fcn", "hybrid"]


@pytest.mark.parametrize("name", STEPPABLE)
@pytest.mark.parametrize("kind", ["batch", "structure", "type", "numpy", "shape", "dtype"])
def test_a_state_of_the_wrong_form_is_a_shape_error(name: str, kind: str) -> None:
    model = real(name)
    x = torch.randn(BATCH, 2)
    state = wrong_states(model)[kind]
    with torch.no_grad():
        with pytest.raises(ShapeError, match="state"):
            model.step(x, state)
        with pytest.raises(ShapeError, match="state"):
            model.forward_stateful(x[:, None], state)
        y, good = model.step(x, model.initial_state(BATCH))  # the right form still runs
        assert y.shape[0] == BATCH
        model.step(x, good)


def test_a_state_from_another_batch_names_the_batch_size() -> None:
    model = real("conv-recurrent")
    with pytest.raises(ShapeError, match=r"does not fit an input of batch 3: state\[0\]\[0\]"):
        model.step(torch.randn(BATCH, 2), model.initial_state(2))
    lm = build("embedding-lstm", vocab_size=9, hidden_size=5)
    with pytest.raises(ShapeError, match=r"each of shape \(1, 3, 5\)"):
        lm.step(torch.tensor([1, 2, 3]), lm.initial_state(2))


def test_the_state_a_step_returns_is_trusted_but_not_for_another_batch() -> None:
    model = real("linear")
    with torch.no_grad():
        _, state = model.step(torch.randn(2, 2))
        with pytest.raises(ShapeError, match="does not fit an input of batch 3"):
            model.step(torch.randn(BATCH, 2), state)


@pytest.mark.parametrize("name", [*STEPPABLE, "embedding-lstm", "patch-forecaster"])
@pytest.mark.parametrize("batch", [0, -2, True, 1.5])
def test_initial_state_needs_a_batch_size_of_at_least_one(name: str, batch: Any) -> None:
    model = (
        build(name, vocab_size=9, hidden_size=5)
        if name == "embedding-lstm"
        else build(name, patch_size=4, d_model=8, hidden_size=8, num_layers=1, horizon=4,
                   max_context=16)
        if name == "patch-forecaster"
        else real(name)
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"batch_size: .*initial_state needs a batch size"):
        model.initial_state(batch)


# -- plugins, tracing, the switch ---------------------------------------------------------


class PluginModel(SequenceModel):
    """A plugin's model with no checks of its own: the base class checks for it."""

    def __init__(self, input_size: int = 2) -> None:
        super().__init__()
        self.input_size = input_size
        self.cell = nn.GRUCell(input_size, 4)

    def forward(self, x: Tensor) -> Tensor:
        return x.sum(dim=1)

    def initial_state(self, batch_size: int, *, device: Any = None, dtype: Any = None) -> Tensor:
        return torch.zeros(batch_size, 4, device=device, dtype=dtype)

    def step(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        h = self.cell(x, state)
        return h, h


def test_a_plugin_model_gets_every_check_without_code() -> None:
    model = PluginModel()
    with pytest.raises(ShapeError, match=r"PluginModel expects a float tensor of shape \(batch, "):
        model(torch.zeros(2, 5, 3))
    with pytest.raises(ShapeError, match="at least one time step"):
        model(torch.zeros(2, 0, 2))
    with pytest.raises(ShapeError, match="non-finite"):
        model(torch.full((2, 5, 2), float("nan")))
    with pytest.raises(ShapeError, match=r"state must have shape \(2, 4\); got shape \(3, 4\)"):
        model.step(torch.zeros(2, 2), torch.zeros(3, 4))
    with pytest.raises(ShapeError, match=r"PluginModel\.step expects one time step"):
        model.step(torch.zeros(2, 5, 2))
    with pytest.raises(ConfigError, match="batch size of at least 1"):
        model.initial_state(0)
    assert model.step(torch.zeros(2, 2), model.initial_state(2))[0].shape == (2, 4)


def test_the_checks_can_be_switched_off_and_stay_out_of_traces() -> None:
    model = build("lstm", input_size=1, hidden_size=3)
    x = torch.full((2, 4, 1), float("nan"))
    with input_checks(False):
        assert torch.isnan(model(x)).all()  # unchecked: NaN in, NaN out
    with pytest.raises(ShapeError):
        model(x)  # restored after the block
    traced = torch.jit.trace(model, torch.randn(2, 4, 1))  # no data-dependent check traced
    assert torch.isnan(traced(x)).all()


def test_checked_models_still_pickle_and_copy_without_their_last_stream() -> None:
    import copy
    import pickle

    model = real("lstm")
    with torch.no_grad():
        model.step(torch.randn(BATCH, 2))
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert "_trusted_state" not in clone.__dict__
        assert clone.step(torch.randn(BATCH, 2))[0].shape == (BATCH, 1)


def test_a_converted_model_checks_states_against_its_new_dtype() -> None:
    lm = build("embedding-lstm", vocab_size=9, hidden_size=4)
    ids = torch.tensor([1, 2])
    with torch.no_grad():
        lm.step(ids, tuple(s.clone() for s in lm.initial_state(2)))  # a template for float32
        lm.double()
        state = lm.initial_state(2)
        assert lm.step(ids, tuple(s.clone() for s in state))[0].dtype == torch.float64
        with pytest.raises(ShapeError, match=r"state\[0\] must be of dtype float64; got float32"):
            lm.step(ids, tuple(s.float() for s in state))
