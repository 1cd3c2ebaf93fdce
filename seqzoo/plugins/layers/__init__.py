"""The built-in layers for :func:`seqzoo.compose`, registered as an outside plugin would be.

This module must stay free of torch: factories are ``"module:Class"`` strings imported on first
use, so ``seqzoo list`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seqzoo.core.hookspecs import hookimpl

if TYPE_CHECKING:
    from seqzoo.core.hookspecs import Register

SEQZOO_HOOK_API = 1

_BASIC = "seqzoo.plugins.layers.basic"
_SEQUENCE = "seqzoo.plugins.layers.sequence"
_BLOCKS = "seqzoo.plugins.layers.blocks"
_PATCHING = "seqzoo.plugins.layers.patching"
_FORECASTING = "seqzoo.plugins.layers.forecasting"

#: Activation names, each a registered layer built by ``basic:Activation(function=name)``.
ACTIVATION_NAMES: tuple[str, ...] = (
    "relu",
    "tanh",
    "sigmoid",
    "gelu",
    "silu",
    "elu",
    "leaky-relu",
    "softplus",
)

# name, factory, description, defaults, tags
_LAYERS: list[tuple[str, str, str, dict[str, Any], list[str]]] = [
    (
        "linear",
        f"{_BASIC}:Linear",
        "Affine map of the feature axis to out_features",
        {"bias": True},
        ["pointwise"],
    ),
    (
        "dropout",
        f"{_BASIC}:Dropout",
        "Zeroes features with probability p while training",
        {"p": 0.1},
        ["pointwise", "regularization"],
    ),
    (
        "layernorm",
        f"{_BASIC}:LayerNorm",
        "Normalises the features of each time step",
        {"eps": 1e-5},
        ["pointwise", "normalization"],
    ),
    *(
        (
            name,
            f"{_BASIC}:Activation",
            f"{name} activation, elementwise",
            {"function": name},
            ["pointwise", "activation"],
        )
        for name in ACTIVATION_NAMES
    ),
    (
        "embedding",
        f"{_BASIC}:Embedding",
        "Token ids (batch, time) to vectors of embedding_dim",
        {"padding_idx": None},
        ["ids", "embedding"],
    ),
    *(
        (
            cell,
            f"{_SEQUENCE}:Recurrent",
            f"{title} stack over time; causal unless bidirectional",
            {"cell": cell, "num_layers": 1, "bidirectional": False, "dropout": 0.0},
            ["sequence", "recurrent"],
        )
        for cell, title in (("rnn", "Elman RNN"), ("gru", "GRU"), ("lstm", "LSTM"))
    ),
    (
        "conv1d",
        f"{_SEQUENCE}:Conv1d",
        "1-d convolution over time to channels; causal by default",
        {"kernel_size": 3, "dilation": 1, "causal": True},
        ["sequence", "convolution"],
    ),
    (
        "last",
        f"{_SEQUENCE}:LastPool",
        "The last time step: (batch, time, f) -> (batch, f)",
        {},
        ["pooling", "reduces-time"],
    ),
    (
        "mean",
        f"{_SEQUENCE}:MeanPool",
        "Mean over time: (batch, time, f) -> (batch, f)",
        {},
        ["pooling", "reduces-time"],
    ),
    (
        "max",
        f"{_SEQUENCE}:MaxPool",
        "Maximum over time per feature: (batch, time, f) -> (batch, f)",
        {},
        ["pooling", "reduces-time"],
    ),
    (
        "residual",
        f"{_BLOCKS}:Residual",
        "x + body(x); body is a list of layer specs",
        {},
        ["block"],
    ),
    (
        "parallel",
        f"{_BLOCKS}:Parallel",
        "Branches side by side, joined by concat or sum",
        {"join": "concat"},
        ["block"],
    ),
    (
        "bidirectional",
        f"{_BLOCKS}:Bidirectional",
        "Runs its body forwards and backwards in time and concatenates",
        {},
        ["block"],
    ),
    (
        "patch-embedding",
        f"{_PATCHING}:PatchEmbedding",
        "(value, observed) steps cut into patches of patch_size, each embedded by a residual MLP",
        {},
        ["sequence", "patching", "forecasting"],
    ),
    (
        "residual-mlp",
        f"{_PATCHING}:ResidualMLP",
        "linear -> SiLU -> linear plus a linear skip, to out_features",
        {"hidden_size": None},
        ["pointwise"],
    ),
    (
        "ar-highway",
        f"{_FORECASTING}:ARHighway",
        "Linear autoregression over the last `order` steps of the target columns (LSTNet)",
        {"out_features": 1, "order": 2, "targets": 1, "bias": True},
        ["forecasting", "linear", "reduces-time"],
    ),
    (
        "forecast-wrapper",
        f"{_FORECASTING}:ForecastBlock",
        "Differences / normalises each window around a body, and undoes it on the forecast",
        {
            "targets": 1,
            "difference": 0,
            "seasonal_difference": 0,
            "window_norm": False,
            "subtract_last": False,
            "ar_order": 0,
        },
        ["block", "forecasting"],
    ),
]


@hookimpl
def register_layers(register: Register) -> None:
    """Register every built-in layer and nesting block."""
    for name, factory, description, defaults, tags in _LAYERS:
        # copies, so a caller mutating a record cannot change the next registration's
        register(name, factory, description=description, defaults=dict(defaults), tags=list(tags))
