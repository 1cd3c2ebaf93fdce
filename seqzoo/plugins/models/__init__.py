"""The built-in models plugin: registers each architecture by its ``"module:Class"`` path.

Nothing here imports torch; a model's module is imported when it is first created, so
``seqzoo list`` stays fast. ``defaults`` repeat each constructor's keyword defaults (the three
recurrent names share one class and differ in ``cell``).
"""

from __future__ import annotations

from seqzoo.core.hookspecs import Register, hookimpl

SEQZOO_HOOK_API = 1

_PACKAGE = "seqzoo.plugins.models"


@hookimpl
def register_models(register: Register) -> None:
    """Register the built-in architectures."""
    register(
        "linear",
        f"{_PACKAGE}.linear:LinearModel",
        description="Linear map over the last `window` steps (linear / autoregressive baseline)",
        defaults={"output_size": 1, "window": 1, "output": "last"},
        input_kind="real",
        tags=["baseline", "linear", "causal"],
    )
    for cell, description in (
        ("rnn", "Elman RNN (tanh) with a linear head"),
        ("gru", "GRU with a linear head"),
        ("lstm", "LSTM with a linear head"),
    ):
        register(
            cell,
            f"{_PACKAGE}.recurrent:RecurrentModel",
            description=description,
            defaults={
                "output_size": 1,
                "cell": cell,
                "hidden_size": 64,
                "num_layers": 1,
                "bidirectional": False,
                "dropout": 0.0,
                "output": "last",
            },
            input_kind="real",
            tags=["recurrent", cell],
        )
    register(
        "embedding-lstm",
        f"{_PACKAGE}.embedding_lstm:EmbeddingLSTM",
        description="Embedding + LSTM over token ids (language model, or classifier)",
        defaults={
            "output_size": None,
            "embedding_dim": 64,
            "hidden_size": 128,
            "num_layers": 1,
            "dropout": 0.0,
            "output": "sequence",
            "padding_idx": 0,
        },
        input_kind="ids",
        tags=["recurrent", "lstm", "embedding", "language-model", "text"],
    )
    register(
        "conv-recurrent",
        f"{_PACKAGE}.conv_recurrent:ConvRecurrent",
        description="Conv blocks with a recurrent stack: CNN-LSTM (serial) or LSTM-FCN (parallel)",
        defaults={
            "output_size": 1,
            "channels": [32],
            "kernel_sizes": [3],
            "cell": "lstm",
            "hidden_size": 64,
            "num_layers": 1,
            "causal": True,
            "style": "serial",
            "output": "last",
            "dropout": 0.0,
        },
        input_kind="real",
        tags=["convolutional", "recurrent", "hybrid"],
    )
    register(
        "patch-forecaster",
        f"{_PACKAGE}.patch_forecaster:PatchForecaster",
        description="Zero-shot quantile forecaster: LSTM/GRU over patches of a scaled context",
        defaults={
            "input_size": 1,
            "patch_size": 16,
            "d_model": 256,
            "hidden_size": 256,
            "num_layers": 2,
            "cell": "lstm",
            "horizon": 64,
            "max_context": 512,
            "quantiles": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
            "dropout": 0.0,
            "average_negated": False,
            "context_halvings": 0,
            "interval_scale": 1.0,
            "inference_dtype": "float32",
        },
        input_kind="real",
        tags=["recurrent", "lstm", "gru", "patching", "zero-shot", "probabilistic"],
    )
    register(
        "forecast-wrapper",
        f"{_PACKAGE}.wrapped:ForecastWrapper",
        description="Any forecaster on differenced / window-normalised inputs, plus an AR skip",
        defaults={
            "output_size": 1,
            "targets": 1,
            "difference": 0,
            "seasonal_difference": 0,
            "window_norm": False,
            "subtract_last": False,
            "ar_order": 0,
            "registry": None,
        },
        input_kind="real",
        tags=["forecasting", "wrapper", "differencing", "normalization"],
    )
    register(
        "ensemble",
        f"{_PACKAGE}.ensemble:Ensemble",
        description="Several models of one input kind, their probabilities or outputs averaged",
        defaults={
            "input_size": None,
            "vocab_size": None,
            "output_size": None,
            "output": None,
            "combine": "auto",
            "registry": None,
        },
        # no input_kind: the members' (token ids or real-valued sequences)
        tags=["ensemble", "composed"],
        metadata={
            "example_config": {
                "input_size": 2,
                "members": [{"name": "gru", "hidden_size": 4}, {"name": "lstm", "hidden_size": 4}],
            }
        },
    )
    register(
        "hybrid",
        "seqzoo.core.compose:Hybrid",
        description="A hybrid composed from registered layers (see seqzoo.compose)",
        defaults={},
        # no input_kind: it depends on the first layer (an embedding takes ids)
        tags=["composed"],
    )
