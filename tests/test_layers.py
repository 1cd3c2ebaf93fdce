"""The built-in layers, constructed directly: shapes, stepping, gradients, errors, registration."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor

import seqzoo.plugins.layers as layers_plugin
from seqzoo.core.errors import ConfigError, NotSteppableError, ShapeError
from seqzoo.core.hookspecs import HOOK_API_VERSION
from seqzoo.core.modules import Layer, detach_state
from seqzoo.plugins.layers.basic import (
    ACTIVATIONS,
    Activation,
    Dropout,
    Embedding,
    LayerNorm,
    Linear,
)
from seqzoo.plugins.layers.sequence import Conv1d, LastPool, MaxPool, MeanPool, Recurrent

B, T, F = 3, 6, 4  # batch, time, features: small enough to keep the file fast
ATOL = 1e-5


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def run_steps(layer: Layer, x: Tensor) -> list[Tensor]:
    """Feed ``x`` one time step at a time from the initial state; return each step's output."""
    state = layer.initial_state(x.shape[0], dtype=x.dtype)
    outputs = []
    for t in range(x.shape[1]):
        y, state = layer.step(x[:, t], state)
        outputs.append(y)
    return outputs


def assert_grads_reach(layer: Layer, output: Tensor) -> None:
    """Back-propagate a random projection (a plain sum can cancel, e.g. after LayerNorm)."""
    (output * torch.randn_like(output)).sum().backward()
    params = list(layer.named_parameters())
    assert params, f"{type(layer).__name__} has no parameters"
    for name, p in params:
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


# --- pointwise layers ------------------------------------------------------------------------

POINTWISE: dict[str, Callable[[], Layer]] = {
    "linear": lambda: Linear(F, 5),
    "linear-nobias": lambda: Linear(F, 2, bias=False),
    "dropout": lambda: Dropout(F, p=0.5),
    "layernorm": lambda: LayerNorm(F),
    **{name: (lambda name=name: Activation(F, function=name)) for name in ACTIVATIONS},
}
WITH_PARAMS = {"linear", "linear-nobias", "layernorm"}


@pytest.mark.parametrize("key", sorted(POINTWISE))
def test_pointwise_shapes_and_flags(key: str) -> None:
    layer = POINTWISE[key]().eval()
    assert layer.input_size == F
    assert isinstance(layer.output_size, int)
    assert not layer.needs_sequence and not layer.reduces_time and not layer.takes_ids
    assert layer.causal
    assert layer(torch.randn(B, T, F)).shape == (B, T, layer.output_size)
    assert layer(torch.randn(B, F)).shape == (B, layer.output_size)


@pytest.mark.parametrize("key", sorted(POINTWISE))
def test_pointwise_step_equals_forward(key: str) -> None:
    layer = POINTWISE[key]().eval()
    x = torch.randn(B, T, F)
    expected = layer(x)
    assert layer.initial_state(B) is None
    for t, y in enumerate(run_steps(layer, x)):
        torch.testing.assert_close(y, expected[:, t], atol=ATOL, rtol=0)


@pytest.mark.parametrize("key", sorted(POINTWISE))
def test_pointwise_gradients(key: str) -> None:
    layer = POINTWISE[key]().train()
    x = torch.randn(B, T, F, requires_grad=True)
    y = layer(x)
    if key in WITH_PARAMS:
        assert_grads_reach(layer, y)
    else:  # parameter-free: the gradient must still reach the input
        y.sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0


def test_pointwise_layers_are_correct() -> None:
    x = torch.randn(B, T, F)
    linear = Linear(F, 5)
    torch.testing.assert_close(linear(x), x @ linear.linear.weight.T + linear.linear.bias)
    torch.testing.assert_close(Activation(F, "tanh")(x), torch.tanh(x))
    torch.testing.assert_close(Activation(F, "leaky-relu")(x), torch.nn.functional.leaky_relu(x))
    normed = LayerNorm(F)(x)
    torch.testing.assert_close(normed.mean(-1), torch.zeros(B, T), atol=ATOL, rtol=0)


def test_dropout_drops_only_while_training() -> None:
    layer = Dropout(F, p=0.5)
    x = torch.ones(8, 50, F)
    assert (layer.train()(x) == 0).any()
    torch.testing.assert_close(layer.eval()(x), x)
    torch.testing.assert_close(Dropout(F, p=0).train()(x), x)


# --- embedding -------------------------------------------------------------------------------


def test_embedding_shapes_step_and_gradients() -> None:
    layer = Embedding(num_embeddings=10, embedding_dim=5)
    assert layer.takes_ids and layer.causal and layer.output_size == 5
    assert layer.input_size == 10  # ids have no feature size: it reports the vocabulary
    ids = torch.randint(0, 10, (B, T))
    y = layer(ids)
    assert y.shape == (B, T, 5)
    for t, y_t in enumerate(run_steps(layer, ids)):
        torch.testing.assert_close(y_t, y[:, t], atol=ATOL, rtol=0)
    assert_grads_reach(layer, y)


def test_embedding_ignores_input_size_and_pads() -> None:
    layer = Embedding(123, num_embeddings=6, embedding_dim=3, padding_idx=0)
    assert layer.input_size == 6
    y = layer(torch.tensor([[0, 1, 0]]))
    torch.testing.assert_close(y[0, 0], torch.zeros(3))
    torch.testing.assert_close(y[0, 2], torch.zeros(3))


@pytest.mark.parametrize(
    "bad",
    [
        torch.randn(B, T),  # floats, not ids
        torch.randint(0, 10, (B, T, 1)),  # an extra axis
        torch.zeros(B, T, dtype=torch.bool),
        torch.tensor([[0, 10]]),  # out of the vocabulary
        torch.tensor([[-1, 0]]),
        [[1, 2]],  # not a tensor
    ],
)
def test_embedding_rejects_bad_ids(bad: Any) -> None:
    with pytest.raises(ShapeError, match="embedding expects"):
        Embedding(num_embeddings=10, embedding_dim=5)(bad)


def test_embedding_step_wants_one_step_of_ids() -> None:
    layer = Embedding(num_embeddings=10, embedding_dim=5)
    with pytest.raises(ShapeError, match=r"embedding\.step .*\(batch,\)"):
        layer.step(torch.randint(0, 10, (B, T)))


# --- recurrent -------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_recurrent_forward_step_and_gradients(cell: str, num_layers: int) -> None:
    layer = Recurrent(F, 5, cell=cell, num_layers=num_layers, dropout=0.2).eval()
    assert layer.causal and layer.needs_sequence and layer.output_size == 5
    x = torch.randn(B, T, F)
    y = layer(x)
    assert y.shape == (B, T, 5)
    for t, y_t in enumerate(run_steps(layer, x)):
        torch.testing.assert_close(y_t, y[:, t], atol=ATOL, rtol=0)
    # a None state starts from zeros too
    y0, state = layer.step(x[:, 0])
    torch.testing.assert_close(y0, y[:, 0], atol=ATOL, rtol=0)
    h = state[0] if cell == "lstm" else state
    assert h.shape == (num_layers, B, 5)
    assert_grads_reach(layer.train(), layer(x))


def test_recurrent_steps_through_a_detached_state() -> None:
    layer = Recurrent(F, 5, cell="lstm").eval()
    x = torch.randn(B, T, F)
    expected = layer(x)
    state = detach_state(layer.initial_state(B))
    for t in range(T):
        y, state = layer.step(x[:, t], state)
    torch.testing.assert_close(y, expected[:, -1], atol=ATOL, rtol=0)


def test_bidirectional_recurrent_runs_forward_but_not_steps() -> None:
    layer = Recurrent(F, 5, cell="gru", bidirectional=True)
    assert not layer.causal
    assert layer.output_size == 10
    assert layer(torch.randn(B, T, F)).shape == (B, T, 10)
    with pytest.raises(NotSteppableError, match=r"gru.*bidirectional=False"):
        layer.step(torch.randn(B, F), layer.initial_state(B))


# --- convolution -----------------------------------------------------------------------------


@pytest.mark.parametrize(("kernel_size", "dilation"), [(1, 1), (3, 1), (3, 2), (2, 3)])
def test_conv1d_step_equals_forward(kernel_size: int, dilation: int) -> None:
    layer = Conv1d(F, 5, kernel_size=kernel_size, dilation=dilation).eval()
    assert layer.causal and layer.output_size == 5
    x = torch.randn(B, T, F)
    y = layer(x)
    assert y.shape == (B, T, 5)
    for t, y_t in enumerate(run_steps(layer, x)):
        torch.testing.assert_close(y_t, y[:, t], atol=ATOL, rtol=0)
    assert_grads_reach(layer, layer(x))


def test_conv1d_causal_ignores_the_future() -> None:
    layer = Conv1d(F, 5, kernel_size=3, dilation=2)
    x = torch.randn(B, T, F)
    changed = x.clone()
    changed[:, 3:] += 1.0
    torch.testing.assert_close(layer(x)[:, :3], layer(changed)[:, :3])


def test_conv1d_non_causal_runs_forward_but_not_steps() -> None:
    layer = Conv1d(F, 5, kernel_size=3, causal=False)
    assert not layer.causal
    x = torch.randn(B, T, F)
    changed = x.clone()
    changed[:, -1] += 1.0
    assert layer(x).shape == (B, T, 5)
    assert not torch.allclose(layer(x)[:, -2], layer(changed)[:, -2])  # it reads one step ahead
    with pytest.raises(NotSteppableError, match=r"conv1d.*causal=True"):
        layer.step(torch.randn(B, F), layer.initial_state(B))


# --- time pooling ----------------------------------------------------------------------------

POOLS: dict[str, tuple[type[Layer], Callable[[Tensor], Tensor]]] = {
    "last": (LastPool, lambda x: x[:, -1]),
    "mean": (MeanPool, lambda x: x.mean(dim=1)),
    "max": (MaxPool, lambda x: x.max(dim=1).values),
}


@pytest.mark.parametrize("name", sorted(POOLS))
def test_pool_forward_and_every_step_prefix(name: str) -> None:
    cls, reference = POOLS[name]
    layer = cls(F)
    assert layer.reduces_time and layer.needs_sequence and layer.causal
    assert layer.output_size == F
    x = torch.randn(B, T, F, requires_grad=True)
    y = layer(x)
    assert y.shape == (B, F)
    torch.testing.assert_close(y, reference(x))
    outputs = run_steps(layer, x)
    for t, y_t in enumerate(outputs):
        torch.testing.assert_close(y_t, reference(x[:, : t + 1]), atol=ATOL, rtol=0)
    torch.testing.assert_close(outputs[-1], y, atol=ATOL, rtol=0)
    y.sum().backward()  # no parameters: the gradient must reach the input
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", sorted(POOLS))
def test_pool_steps_from_none_state(name: str) -> None:
    cls, reference = POOLS[name]
    layer = cls(F)
    x = torch.randn(B, T, F, dtype=torch.float64)
    state = None
    for t in range(T):
        y, state = layer.step(x[:, t], state)
    assert y.dtype == torch.float64
    torch.testing.assert_close(y, reference(x))


@pytest.mark.parametrize("name", sorted(POOLS))
def test_pool_rejects_an_empty_sequence(name: str) -> None:
    with pytest.raises(ShapeError, match="at least one time step"):
        POOLS[name][0](F)(torch.randn(B, 0, F))


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Linear(0, 3), "input_size"),
        (lambda: Linear(F, -1), "out_features"),
        (lambda: Linear(F, 2.5), "out_features"),
        (lambda: Linear(F, True), "out_features"),
        (lambda: Linear(F, 3, bias="yes"), "bias"),
        (lambda: Dropout(F, p=1.0), "p"),
        (lambda: Dropout(F, p=-0.1), "p"),
        (lambda: Dropout(F, p="0.1"), "p"),
        (lambda: LayerNorm(F, eps=0), "eps"),
        (lambda: Activation(F, "swish"), "function"),
        (lambda: Activation("4"), "input_size"),
        (lambda: Embedding(num_embeddings=0, embedding_dim=3), "num_embeddings"),
        (lambda: Embedding(num_embeddings=5, embedding_dim=None), "embedding_dim"),
        (lambda: Embedding(num_embeddings=5, embedding_dim=3, padding_idx=5), "padding_idx"),
        (lambda: Recurrent(F, 0), "hidden_size"),
        (lambda: Recurrent(F, 5, cell="transformer"), "cell"),
        (lambda: Recurrent(F, 5, num_layers=0), "num_layers"),
        (lambda: Recurrent(F, 5, dropout=1.5), "dropout"),
        (lambda: Recurrent(F, 5, bidirectional="no"), "bidirectional"),
        (lambda: Recurrent(None, 5), "input_size"),
        (lambda: Conv1d(F, 0), "channels"),
        (lambda: Conv1d(F, 3, kernel_size=0), "kernel_size"),
        (lambda: Conv1d(F, 3, dilation=0), "dilation"),
        (lambda: Conv1d(F, 3, causal=None), "causal"),
        (lambda: Conv1d(0, 3), "input_size"),
        (lambda: MeanPool(0), "input_size"),
        (lambda: MaxPool(2.0), "input_size"),
    ],
)
def test_bad_arguments_name_the_field(build: Callable[[], Layer], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


SHAPE_CASES: list[tuple[str, Callable[[], Layer], Any, str]] = [
    ("linear-features", lambda: Linear(F, 3), torch.randn(B, T, F + 1), "linear expects"),
    ("linear-1d", lambda: Linear(F, 3), torch.randn(F), "linear expects"),
    ("linear-ints", lambda: Linear(F, 3), torch.ones(B, F, dtype=torch.long), "linear expects"),
    ("relu-4d", lambda: Activation(F, "relu"), torch.randn(1, B, T, F), "relu expects"),
    ("layernorm-list", lambda: LayerNorm(F), [[0.0] * F], "layernorm expects"),
    ("lstm-2d", lambda: Recurrent(F, 5), torch.randn(B, F), r"lstm expects .*\(batch, time, 4\)"),
    ("gru-features", lambda: Recurrent(F, 5, cell="gru"), torch.randn(B, T, 2), "gru expects"),
    ("conv1d-2d", lambda: Conv1d(F, 5), torch.randn(B, F), "conv1d expects"),
    ("mean-2d", lambda: MeanPool(F), torch.randn(B, F), "mean expects"),
    ("max-features", lambda: MaxPool(F), torch.randn(B, T, 1), "max expects"),
    ("last-ids", lambda: LastPool(F), torch.ones(B, T, F, dtype=torch.long), "last expects"),
]


@pytest.mark.parametrize(
    ("build", "bad", "match"), [c[1:] for c in SHAPE_CASES], ids=[c[0] for c in SHAPE_CASES]
)
def test_wrong_input_shape(build: Callable[[], Layer], bad: Any, match: str) -> None:
    with pytest.raises(ShapeError, match=match):
        build()(bad)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Linear(F, 3),
        lambda: Dropout(F),
        lambda: Activation(F, "gelu"),
        lambda: Recurrent(F, 5, cell="rnn"),
        lambda: Conv1d(F, 5),
        lambda: LastPool(F),
        lambda: MeanPool(F),
        lambda: MaxPool(F),
    ],
)
def test_step_rejects_a_sequence(build: Callable[[], Layer]) -> None:
    layer = build()
    with pytest.raises(ShapeError, match=r"\.step expects one time step, .*\(batch, 4\)"):
        layer.step(torch.randn(B, T, F), layer.initial_state(B))


# --- registration ----------------------------------------------------------------------------


def collect_records() -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}

    def register(name: str, factory: Any, **kwargs: Any) -> None:
        assert name not in records, f"{name} registered twice"
        records[name] = {"factory": factory, **kwargs}

    layers_plugin.register_layers(register)
    return records


EXPECTED_NAMES = {
    *ACTIVATIONS,
    *("linear", "dropout", "layernorm", "embedding", "rnn", "gru", "lstm", "conv1d"),
    *("last", "mean", "max", "residual", "parallel", "bidirectional"),
    *("patch-embedding", "residual-mlp"),
    *("ar-highway", "forecast-wrapper"),
}
BLOCKS = {"residual", "parallel", "bidirectional", "forecast-wrapper"}
# classes registered under several names take the name's variant as a default
DISTINGUISHING = {"Activation": "function", "Recurrent": "cell"}


def test_plugin_registers_every_layer() -> None:
    assert layers_plugin.SEQZOO_HOOK_API == HOOK_API_VERSION
    assert hasattr(layers_plugin.register_layers, "seqzoo_impl")  # the pluggy hookimpl marker
    records = collect_records()
    assert set(records) == EXPECTED_NAMES
    for name, record in records.items():
        assert isinstance(record["factory"], str)
        assert record["factory"].startswith("seqzoo.plugins.layers.")
        assert record["description"] and "\n" not in record["description"]
        assert isinstance(record["defaults"], dict)
        assert record["tags"], name
    assert records["parallel"]["defaults"] == {"join": "concat"}
    assert records["residual"]["defaults"] == records["bidirectional"]["defaults"] == {}
    assert records["residual"]["factory"] == "seqzoo.plugins.layers.blocks:Residual"


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES - BLOCKS))
def test_registered_defaults_match_the_constructor(name: str) -> None:
    record = collect_records()[name]
    module, _, attr = record["factory"].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    assert issubclass(cls, Layer)
    signature_defaults = {
        p.name: p.default
        for p in inspect.signature(cls).parameters.values()
        if p.default is not inspect.Parameter.empty and p.name != "input_size"
    }
    defaults = record["defaults"]
    assert set(defaults) == set(signature_defaults)
    distinguishing = DISTINGUISHING.get(cls.__name__)
    for key, value in signature_defaults.items():
        if key != distinguishing:
            assert defaults[key] == value, key
    if distinguishing:
        assert defaults[distinguishing] == name
    # the registered defaults plus the required arguments build a working layer
    required = {
        "linear": {"out_features": 3},
        "embedding": {"num_embeddings": 7, "embedding_dim": 3},
        "conv1d": {"channels": 3},
        **{cell: {"hidden_size": 3} for cell in ("rnn", "gru", "lstm")},
        "patch-embedding": {"patch_size": 4, "out_features": 3},
        "residual-mlp": {"out_features": 3},
    }.get(name, {})
    # a patch embedding takes (value, observed) pairs
    layer = cls(input_size=2 if name == "patch-embedding" else F, **defaults, **required)
    assert isinstance(layer.output_size, int) and layer.output_size > 0


def test_plugin_module_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "import seqzoo.core.hookspecs\n"
        "if 'torch' in sys.modules: raise SystemExit(3)  # imported by a package above us\n"
        "import seqzoo.plugins.layers\n"
        "raise SystemExit(1 if 'torch' in sys.modules else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode == 3:
        pytest.skip("a parent package imports torch; the plugin module cannot be checked alone")
    assert result.returncode == 0, result.stderr or "seqzoo.plugins.layers imported torch"
