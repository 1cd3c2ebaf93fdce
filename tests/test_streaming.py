"""Streaming steps of the recurrent built-ins: the fused cell kernels on the modules' own weights.

Stepping a sequence must give the whole-sequence forward (1e-6, float32), take the fused path
(never ``nn.LSTM.forward`` and kin), carry everything in the state (so a step costs the same
at any history), keep the state format, and check the state it is given.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import seqzoo
from seqzoo.core.errors import NotSteppableError, ShapeError
from seqzoo.core.modules import SequenceModel
from seqzoo.plugins import nn as seqzoo_nn
from seqzoo.plugins.nn import CELL_OPS, RecurrentCore

ATOL = 1e-6
BATCH, TIME, FEATURES = 3, 20, 4


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


#: (id, registry name, config); every model here is causal and runs step by step
MODELS: list[tuple[str, str, dict[str, Any]]] = [
    ("rnn", "rnn", {"input_size": FEATURES, "hidden_size": 7, "output": "sequence"}),
    ("gru-2", "gru", {"input_size": FEATURES, "hidden_size": 7, "num_layers": 2, "dropout": 0.3}),
    (
        "lstm-3",
        "lstm",
        {
            "input_size": FEATURES,
            "output_size": 2,
            "hidden_size": 7,
            "num_layers": 3,
            "dropout": 0.3,
            "output": "sequence",
        },
    ),
    ("lstm-64", "lstm", {"input_size": 1, "output": "sequence"}),
    (
        "embedding-lstm",
        "embedding-lstm",
        {"vocab_size": 13, "embedding_dim": 5, "hidden_size": 6, "num_layers": 2},
    ),
    (
        "conv-serial-gru",
        "conv-recurrent",
        {"input_size": FEATURES, "channels": [5], "kernel_sizes": [3], "cell": "gru"},
    ),
    (
        "conv-parallel-rnn",
        "conv-recurrent",
        {
            "input_size": FEATURES,
            "channels": [5, 3],
            "kernel_sizes": [2, 3],
            "cell": "rnn",
            "hidden_size": 6,
            "style": "parallel",
            "output": "sequence",
        },
    ),
]

HYBRID = [
    {"layer": "conv1d", "channels": 5, "kernel_size": 3},
    {"layer": "lstm", "hidden_size": 6, "num_layers": 2},
    {"layer": "residual", "body": [{"layer": "gru", "hidden_size": 6}]},
    {
        "layer": "parallel",
        "join": "concat",
        "branches": [{"layer": "rnn", "hidden_size": 4}, {"layer": "lstm", "hidden_size": 3}],
    },
    {"layer": "linear", "out_features": 2},
]


def build(name: str, config: dict[str, Any], seed: int = 0) -> SequenceModel:
    torch.manual_seed(seed)
    if name == "hybrid":
        return seqzoo.compose(config["layers"], input_size=config["input_size"]).eval()
    return seqzoo.create_model(name, **config).eval()


def inputs(model: SequenceModel, time: int = TIME, seed: int = 1) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    if model.input_kind == "ids":
        return torch.randint(1, model.vocab_size, (BATCH, time), generator=generator)
    return torch.randn(BATCH, time, model.input_size, generator=generator)


def step_through(model: SequenceModel, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
    """Every step's output ``(batch, time, out)`` and the final state."""
    outputs = []
    for t in range(x.shape[1]):
        y, state = model.step(x[:, t], state)
        outputs.append(y)
    return torch.stack(outputs, dim=1), state


ALL = [*MODELS, ("hybrid", "hybrid", {"layers": HYBRID, "input_size": FEATURES})]
every_model = pytest.mark.parametrize("name,config", [m[1:] for m in ALL], ids=[m[0] for m in ALL])


def whole_sequence(model: SequenceModel, x: Tensor) -> Tensor:
    """The forward's output at every step: ``(batch, time, out)``, prefix by prefix when the
    model gives one vector per sequence."""
    y = model(x)
    if y.dim() == 3:
        return y
    return torch.stack([model(x[:, : t + 1]) for t in range(x.shape[1])], dim=1)


@every_model
def test_stepping_equals_the_whole_sequence_forward(name: str, config: dict[str, Any]) -> None:
    model = build(name, config)
    x = inputs(model)
    with torch.no_grad():
        stepped, _ = step_through(model, x)
        torch.testing.assert_close(stepped, whole_sequence(model, x), atol=ATOL, rtol=0)


def count_cell_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Wrap each fused kernel in CELL_OPS with a call counter."""
    calls = dict.fromkeys(CELL_OPS, 0)
    for key, op in list(CELL_OPS.items()):

        def counted(*args: Any, _key: str = key, _op: Callable[..., Any] = op) -> Any:
            calls[_key] += 1
            return _op(*args)

        monkeypatch.setitem(CELL_OPS, key, counted)
    return calls


def recurrent_layers(model: nn.Module) -> int:
    return sum(m.num_layers for m in model.modules() if isinstance(m, RecurrentCore))


@every_model
@pytest.mark.parametrize("grad", [False, True], ids=["no-grad", "grad"])
def test_steps_take_the_fused_cells_never_the_sequence_module(
    name: str,
    config: dict[str, Any],
    grad: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = build(name, config)
    x = inputs(model, time=4)
    with torch.no_grad():
        expected = whole_sequence(model, x)  # before the sequence modules are disabled
    monkeypatch.setattr(
        nn.LSTM, "forward", lambda *a, **k: pytest.fail("nn.LSTM.forward ran during a step")
    )
    monkeypatch.setattr(
        nn.GRU, "forward", lambda *a, **k: pytest.fail("nn.GRU.forward ran during a step")
    )
    monkeypatch.setattr(
        nn.RNN, "forward", lambda *a, **k: pytest.fail("nn.RNN.forward ran during a step")
    )
    calls = count_cell_calls(monkeypatch)
    with torch.set_grad_enabled(grad):
        stepped, state = step_through(model, x)
        last, _ = model.step(x[:, -1], state)
    # one kernel call per layer per step: no history is re-run
    assert sum(calls.values()) == recurrent_layers(model) * (x.shape[1] + 1)
    torch.testing.assert_close(stepped.detach(), expected, atol=ATOL, rtol=0)
    assert last.is_inference() is not grad  # inference mode exactly when autograd is off
    assert last.requires_grad is grad


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_core_steps_every_cell_and_nonlinearity(cell: str, nonlinearity: str) -> None:
    torch.manual_seed(0)
    core = RecurrentCore(cell, FEATURES, 5, num_layers=2, nonlinearity=nonlinearity).eval()
    x = torch.randn(BATCH, TIME, FEATURES)
    with torch.no_grad():
        whole, final = core(x)
        state, outputs = None, []
        for t in range(TIME):
            y, state = core.step(x[:, t], state)
            outputs.append(y)
    torch.testing.assert_close(torch.stack(outputs, dim=1), whole, atol=ATOL, rtol=0)
    # the state has the format (and the values) of nn.RNNBase's final state
    if cell == "lstm":
        assert type(state) is tuple and len(state) == 2
        for got, want in zip(state, final, strict=True):
            assert got.shape == want.shape == (2, BATCH, 5)
            torch.testing.assert_close(got, want, atol=ATOL, rtol=0)
    else:
        assert isinstance(state, Tensor) and state.shape == final.shape == (2, BATCH, 5)
        torch.testing.assert_close(state, final, atol=ATOL, rtol=0)


def test_a_step_costs_the_same_at_any_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """The state carries everything: from the state after 5 or 300 steps, the next step runs
    one kernel per layer and equals the forward over the whole history plus that step; a copy
    of the state on a copy of the model gives the same (nothing hides in the module)."""
    model = build("lstm", {"input_size": 2, "hidden_size": 8, "num_layers": 2})
    x = torch.randn(1, 301, 2, generator=torch.Generator().manual_seed(3))
    calls = count_cell_calls(monkeypatch)
    with torch.no_grad():
        for history in (5, 300):
            _, state = model.forward_stateful(x[:, :history])
            before = sum(calls.values())
            y, _ = model.step(x[:, history], state)
            assert sum(calls.values()) - before == 2  # two layers, whatever the history
            torch.testing.assert_close(y, model(x[:, : history + 1]), atol=ATOL, rtol=0)
            clone_y, _ = copy.deepcopy(model).step(x[:, history], copy.deepcopy(state))
            torch.testing.assert_close(clone_y, y, atol=0, rtol=0)


def test_gradients_through_steps_equal_the_forward_gradients() -> None:
    config = {"input_size": FEATURES, "hidden_size": 5, "num_layers": 2, "output": "sequence"}
    model = build("lstm", config)
    x = inputs(model, time=6)
    stepped, _ = step_through(model, x)
    stepped.square().sum().backward()
    from_steps = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model(x).square().sum().backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(from_steps[n], p.grad, atol=1e-5, rtol=1e-5, msg=n)
    assert all(g.abs().sum() > 0 for g in from_steps.values())


def test_a_no_grad_state_continues_under_autograd() -> None:
    """States from a no-grad step are inference tensors; a step with autograd on takes them."""
    model = build("gru", {"input_size": FEATURES, "hidden_size": 5, "output": "sequence"})
    x = inputs(model, time=4)
    with torch.no_grad():
        _, state = step_through(model, x[:, :2])
    assert state.is_inference()
    y, _ = step_through(model, x[:, 2:], state)
    y.sum().backward()
    assert model.core.rnn.weight_hh_l0.grad.abs().sum() > 0
    with torch.no_grad():
        torch.testing.assert_close(y, model(x)[:, 2:], atol=ATOL, rtol=0)


def test_training_mode_drops_out_between_layers_only() -> None:
    config = {"input_size": FEATURES, "hidden_size": 6, "num_layers": 2, "dropout": 0.5}
    model = build("lstm", config).train()
    x = inputs(model, time=1)[:, 0]
    model.dropout.p = 0.0  # leave only the dropout between the recurrent layers
    torch.manual_seed(0)
    first, _ = model.step(x)
    torch.manual_seed(1)
    second, _ = model.step(x)
    assert not torch.allclose(first, second)  # stochastic in training
    model.core.rnn.dropout = 0.0
    with torch.no_grad():
        torch.testing.assert_close(model.step(x)[0], model.eval().step(x)[0], atol=0, rtol=0)


def test_steps_follow_new_weights_and_dtypes() -> None:
    """The kernels read the modules' current parameters: after load_state_dict and .double()."""
    model = build("lstm", {"input_size": FEATURES, "hidden_size": 5, "output": "sequence"})
    other = build("lstm", {"input_size": FEATURES, "hidden_size": 5, "output": "sequence"}, 7)
    model.load_state_dict(other.state_dict())
    x = inputs(model, time=5)
    with torch.no_grad():
        torch.testing.assert_close(step_through(model, x)[0], other(x), atol=ATOL, rtol=0)
        model.double()
        stepped, state = step_through(model, x.double())
    assert stepped.dtype == state[0].dtype == torch.float64
    torch.testing.assert_close(stepped, other.double()(x.double()), atol=1e-12, rtol=0)


def test_parameter_names_are_those_of_the_sequence_modules() -> None:
    """Zoo weights load: the fused path adds no parameter or buffer."""
    model = build("lstm", {"input_size": 1, "num_layers": 2})
    assert sorted(model.state_dict()) == sorted(
        [f"core.rnn.{kind}_{part}_l{k}" for kind in ("weight", "bias") for part in ("ih", "hh")
         for k in (0, 1)] + ["head.weight", "head.bias"]
    )  # fmt: skip


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(lambda m: m.initial_state(BATCH + 1), id="wrong-batch"),
        pytest.param(lambda m: tuple(s[:1] for s in m.initial_state(BATCH)), id="wrong-layers"),
        pytest.param(lambda m: m.initial_state(BATCH)[0], id="h-without-c"),
        pytest.param(lambda m: (*m.initial_state(BATCH), m.initial_state(BATCH)[0]), id="three"),
        pytest.param(lambda m: (m.initial_state(BATCH)[0][..., :2],) * 2, id="wrong-hidden"),
        pytest.param(lambda m: "h", id="not-a-tensor"),
    ],
)
def test_a_wrong_state_is_a_shape_error(state: Callable[[Any], Any]) -> None:
    model = build("lstm", {"input_size": FEATURES, "hidden_size": 5, "num_layers": 2})
    x = inputs(model, time=1)[:, 0]
    with pytest.raises(ShapeError, match=r"lstm state must be \(h, c\), each of shape \(2, 3, 5\)"):
        model.step(x, state(model))
    with pytest.raises(ShapeError, match="lstm state must be"):
        model.forward_stateful(x[:, None], state(model))


def test_a_wrong_state_is_a_shape_error_in_layers_and_hybrids() -> None:
    gru = build("gru", {"input_size": FEATURES, "hidden_size": 5})
    x = inputs(gru, time=1)[:, 0]
    with pytest.raises(ShapeError, match=r"gru state must be h of shape \(1, 3, 5\)"):
        gru.step(x, gru.initial_state(BATCH)[None])
    hybrid = build("hybrid", {"layers": [{"layer": "gru", "hidden_size": 5}], "input_size": 4})
    with pytest.raises(
        ShapeError,
        match=r"gru state must be h of shape \(1, 3, 5\), i.e. .*; got shape \(1, 3, 6\)",
    ):
        hybrid.step(x, [torch.zeros(1, BATCH, 6)])
    lm = build("embedding-lstm", {"vocab_size": 9, "hidden_size": 5})
    with pytest.raises(ShapeError, match=r"each of shape \(1, 2, 5\)"):
        lm.step(torch.tensor([1, 2]), lm.initial_state(3))


def test_bidirectional_still_refuses_to_step() -> None:
    model = build("lstm", {"input_size": FEATURES, "bidirectional": True})
    with pytest.raises(NotSteppableError, match="bidirectional"):
        model.step(torch.zeros(BATCH, FEATURES))
    core = RecurrentCore("gru", FEATURES, 3, bidirectional=True)
    with pytest.raises(NotSteppableError, match="bidirectional"):
        core.step(torch.zeros(BATCH, FEATURES))


def test_the_core_forward_is_the_sequence_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole-sequence path (what the zero-shot forecasters run) is nn.LSTM unchanged."""
    torch.manual_seed(0)
    core = RecurrentCore("lstm", FEATURES, 5, num_layers=2)
    x = torch.randn(BATCH, TIME, FEATURES)
    outputs, (h, c) = core(x)
    expected, (h_want, c_want) = core.rnn(x)
    for got, want in ((outputs, expected), (h, h_want), (c, c_want)):
        torch.testing.assert_close(got, want, atol=0, rtol=0)
    assert seqzoo_nn.CELLS["lstm"] is nn.LSTM
