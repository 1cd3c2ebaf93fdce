"""The built-in models against the module contract (seqzoo.core.modules), built directly."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from seqzoo.core.errors import ConfigError, NotSteppableError, ShapeError
from seqzoo.core.modules import SequenceModel, detach_state
from seqzoo.plugins.models import register_models
from seqzoo.plugins.models.conv_recurrent import ConvRecurrent
from seqzoo.plugins.models.embedding_lstm import EmbeddingLSTM
from seqzoo.plugins.models.linear import LinearModel
from seqzoo.plugins.models.recurrent import RecurrentModel

BATCH, TIME, FEATURES, OUT, VOCAB = 3, 10, 3, 2, 11
ATOL = 1e-5


def real(batch: int, time: int) -> Tensor:
    return torch.randn(batch, time, FEATURES)


def ids(batch: int, time: int) -> Tensor:
    return torch.randint(1, VOCAB, (batch, time))  # no padding id 0: every token is real


@dataclass
class Case:
    id: str
    cls: type[SequenceModel]
    config: dict[str, Any]
    make: Callable[[int, int], Tensor] = real
    steppable: bool = True
    out: int = OUT
    build: dict[str, Any] = field(default_factory=dict)

    def model(self, output: str | None = None, seed: int = 0) -> SequenceModel:
        torch.manual_seed(seed)
        config = dict(self.config)
        if output is not None:
            config["output"] = output
        return self.cls(**config)


CONV = {"channels": [4, 5], "kernel_sizes": [3, 2], "hidden_size": 6}
CASES = [
    Case("linear", LinearModel, {"input_size": FEATURES, "output_size": OUT}),
    Case("linear-window", LinearModel, {"input_size": FEATURES, "output_size": OUT, "window": 4}),
    Case("rnn", RecurrentModel, {"input_size": FEATURES, "output_size": OUT, "cell": "rnn"}),
    Case(
        "gru-2-layers",
        RecurrentModel,
        {
            "input_size": FEATURES,
            "output_size": OUT,
            "cell": "gru",
            "hidden_size": 6,
            "num_layers": 2,
            "dropout": 0.1,
        },
    ),
    Case("lstm", RecurrentModel, {"input_size": FEATURES, "output_size": OUT, "hidden_size": 6}),
    Case(
        "lstm-bidirectional",
        RecurrentModel,
        {"input_size": FEATURES, "output_size": OUT, "hidden_size": 6, "bidirectional": True},
        steppable=False,
    ),
    Case(
        "embedding-lstm-lm",
        EmbeddingLSTM,
        {"vocab_size": VOCAB, "embedding_dim": 5, "hidden_size": 6, "num_layers": 2},
        make=ids,
        out=VOCAB,
    ),
    Case(
        "embedding-lstm-classifier",
        EmbeddingLSTM,
        {"vocab_size": VOCAB, "output_size": OUT, "embedding_dim": 5, "hidden_size": 6},
        make=ids,
    ),
    Case("conv-serial", ConvRecurrent, {"input_size": FEATURES, "output_size": OUT, **CONV}),
    Case(
        "conv-parallel",
        ConvRecurrent,
        {"input_size": FEATURES, "output_size": OUT, "style": "parallel", "cell": "gru", **CONV},
    ),
    Case(
        "conv-parallel-centred",
        ConvRecurrent,
        # odd kernels: centred ("same") padding is then symmetric
        {
            "input_size": FEATURES,
            "style": "parallel",
            "causal": False,
            **CONV,
            "kernel_sizes": [3, 5],
        },
        steppable=False,
        out=1,
    ),
]
STEPPABLE = [c for c in CASES if c.steppable]
OUTPUTS = ["last", "sequence"]

cases = pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
steppable = pytest.mark.parametrize("case", STEPPABLE, ids=lambda c: c.id)
outputs = pytest.mark.parametrize("output", OUTPUTS)


def trained_bn(model: SequenceModel, case: Case) -> SequenceModel:
    """Move BatchNorm running statistics off (0, 1), so eval-mode stepping is really checked."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(case.make(BATCH, TIME) * 2 + 1 if case.make is real else case.make(BATCH, TIME))
    return model.eval()


@cases
@outputs
def test_forward_shapes(case: Case, output: str) -> None:
    model = case.model(output)
    y = model(case.make(BATCH, TIME))
    expected = (BATCH, case.out) if output == "last" else (BATCH, TIME, case.out)
    assert y.shape == expected
    assert y.dtype == torch.float32


@cases
@outputs
def test_gradients_reach_every_parameter(case: Case, output: str) -> None:
    model = case.model(output).train()
    model(case.make(BATCH, TIME)).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


@steppable
@outputs
def test_step_by_step_matches_whole_sequence(case: Case, output: str) -> None:
    model = trained_bn(case.model(output), case)
    x = case.make(BATCH, TIME)
    with torch.no_grad():
        whole = model(x)
        state = model.initial_state(BATCH)
        steps = []
        for t in range(TIME):
            y_t, state = model.step(x[:, t], state)
            assert y_t.shape == (BATCH, case.out)
            steps.append(y_t)
        if output == "sequence":
            torch.testing.assert_close(torch.stack(steps, dim=1), whole, atol=ATOL, rtol=0)
        else:
            torch.testing.assert_close(steps[-1], whole, atol=ATOL, rtol=0)
            # y_t is the many-to-one output of the prefix ending at t
            for t in (0, TIME // 2):
                torch.testing.assert_close(steps[t], model(x[:, : t + 1]), atol=ATOL, rtol=0)
        # state=None is the initial state
        first, _ = model.step(x[:, 0])
        torch.testing.assert_close(first, steps[0], atol=ATOL, rtol=0)


@steppable
@outputs
def test_forward_stateful_chunks_match_whole_sequence(case: Case, output: str) -> None:
    model = trained_bn(case.model(output), case)
    x = case.make(BATCH, TIME)
    with torch.no_grad():
        whole = model(x)
        # a one-step chunk is shorter than the conv buffers: they must carry across it
        pieces, state = [], None
        for start, stop in ((0, 5), (5, 6), (6, TIME)):
            y, state = model.forward_stateful(x[:, start:stop], state)
            pieces.append(y)
            state = detach_state(state)  # what truncated BPTT does between chunks
        if output == "sequence":
            torch.testing.assert_close(torch.cat(pieces, dim=1), whole, atol=ATOL, rtol=0)
        else:
            torch.testing.assert_close(pieces[-1], whole, atol=ATOL, rtol=0)
            torch.testing.assert_close(pieces[0], model(x[:, :5]), atol=ATOL, rtol=0)


@cases
def test_config_round_trip(case: Case) -> None:
    model = case.model("sequence").eval()
    config = json.loads(json.dumps(model.config))  # plain JSON values
    assert config == model.config
    rebuilt = case.cls(**config).eval()
    assert [(n, p.shape) for n, p in rebuilt.named_parameters()] == [
        (n, p.shape) for n, p in model.named_parameters()
    ]
    rebuilt.load_state_dict(model.state_dict())
    x = case.make(BATCH, TIME)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), model(x))


@cases
def test_wrong_input_raises_shape_error(case: Case) -> None:
    model = case.model()
    if case.make is ids:
        bad = [torch.randn(BATCH, TIME), torch.ones(BATCH, TIME, 2, dtype=torch.long)]
        expected = "(batch, time)"
    else:
        bad = [
            torch.randn(BATCH, TIME, FEATURES + 1),
            torch.randn(BATCH, FEATURES),
            torch.ones(BATCH, TIME, FEATURES, dtype=torch.long),
        ]
        expected = f"(batch, time, {FEATURES})"
    for x in bad:
        with pytest.raises(ShapeError) as error:
            model(x)
        assert expected in str(error.value)
        assert str(tuple(x.shape)) in str(error.value)
        assert str(x.dtype).removeprefix("torch.") in str(error.value)


@steppable
def test_wrong_step_input_raises_shape_error(case: Case) -> None:
    model = case.model()
    if case.make is ids:
        x, expected = torch.randint(1, VOCAB, (BATCH, 1)), "(batch,)"
    else:
        x, expected = torch.randn(BATCH, FEATURES + 1), f"(batch, {FEATURES})"
    with pytest.raises(ShapeError) as error:
        model.step(x)
    assert expected in str(error.value)
    assert str(tuple(x.shape)) in str(error.value)


@pytest.mark.parametrize("case", [c for c in CASES if not c.steppable], ids=lambda c: c.id)
def test_non_causal_models_refuse_to_step(case: Case) -> None:
    model = case.model()
    assert model.causal is False
    x = case.make(BATCH, TIME)
    assert model(x).shape == (BATCH, case.out)  # whole sequences still work
    with pytest.raises(NotSteppableError, match="whole sequences"):
        model.step(x[:, 0])
    with pytest.raises(NotSteppableError, match="whole sequences"):
        model.forward_stateful(x)


@steppable
def test_steppable_models_say_so(case: Case) -> None:
    assert case.model().causal is True


@outputs
def test_embedding_lstm_padded_batch_matches_each_sequence_alone(output: str) -> None:
    torch.manual_seed(0)
    model = EmbeddingLSTM(VOCAB, output_size=4, embedding_dim=5, hidden_size=6, output=output)
    model.eval()
    lengths = [TIME, 4, 1, 7]
    batch = torch.zeros(len(lengths), TIME, dtype=torch.long)  # 0 is padding_idx
    for i, n in enumerate(lengths):
        batch[i, :n] = torch.randint(1, VOCAB, (n,))
    with torch.no_grad():
        derived = model(batch)  # lengths found from the trailing padding
        given = model(batch, lengths=torch.tensor(lengths))
        torch.testing.assert_close(given, derived, atol=0, rtol=0)
        for i, n in enumerate(lengths):
            alone = model(batch[i : i + 1, :n])[0]
            if output == "last":
                torch.testing.assert_close(derived[i], alone, atol=ATOL, rtol=0)
            else:
                torch.testing.assert_close(derived[i, :n], alone, atol=ATOL, rtol=0)
                assert (derived[i, n:] == 0).all()


def test_embedding_lstm_lengths_without_padding_idx() -> None:
    torch.manual_seed(0)
    model = EmbeddingLSTM(VOCAB, embedding_dim=5, hidden_size=6, padding_idx=None, output="last")
    x = torch.randint(0, VOCAB, (2, TIME))  # id 0 is an ordinary token here
    with torch.no_grad():
        torch.testing.assert_close(model(x, lengths=[3, TIME])[0], model(x[:1, :3])[0])
        torch.testing.assert_close(model(x), model(x, lengths=[TIME, TIME]))
    with pytest.raises(ShapeError, match=r"lengths of shape \(2,\)"):
        model(x, lengths=[3])
    with pytest.raises(ShapeError, match=r"\[1, 10\]"):
        model(x, lengths=[0, TIME + 1])


@pytest.mark.parametrize(
    ("cls", "config", "field"),
    [
        (LinearModel, {"input_size": 0}, "input_size"),
        (LinearModel, {"input_size": 2, "window": 1.5}, "window"),
        (LinearModel, {"input_size": 2, "output": "all"}, "output"),
        (RecurrentModel, {"input_size": 2, "cell": "transformer"}, "cell"),
        (RecurrentModel, {"input_size": 2, "hidden_size": True}, "hidden_size"),
        (RecurrentModel, {"input_size": 2, "dropout": 1.0}, "dropout"),
        (RecurrentModel, {"input_size": 2, "bidirectional": "no"}, "bidirectional"),
        (RecurrentModel, {"input_size": 2, "output": "many"}, "output"),
        (EmbeddingLSTM, {"vocab_size": 0}, "vocab_size"),
        (EmbeddingLSTM, {"vocab_size": 5, "output_size": -1}, "output_size"),
        (EmbeddingLSTM, {"vocab_size": 5, "padding_idx": 5}, "padding_idx"),
        (ConvRecurrent, {"input_size": 2, "channels": [4, 4]}, "kernel_sizes"),
        (ConvRecurrent, {"input_size": 2, "channels": []}, "channels"),
        (ConvRecurrent, {"input_size": 2, "kernel_sizes": [0]}, "kernel_sizes"),
        (ConvRecurrent, {"input_size": 2, "style": "stacked"}, "style"),
        (ConvRecurrent, {"input_size": 2, "causal": "yes"}, "causal"),
        (ConvRecurrent, {"input_size": 2, "cell": "lstmm"}, "cell"),
    ],
)
def test_bad_config_raises_config_error(cls: type, config: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as error:
        cls(**config)
    assert error.value.field == field
    assert field in str(error.value)


def registrations() -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}

    def register(name: str, factory: Any, **options: Any) -> None:
        assert name not in records, f"{name} registered twice"
        records[name] = {"factory": factory, **options}

    register_models(register)
    return records


def test_registrations_match_the_constructors() -> None:
    records = registrations()
    assert {"linear", "rnn", "gru", "lstm", "embedding-lstm", "conv-recurrent", "hybrid"} <= set(
        records
    )
    assert records["hybrid"]["factory"] == "seqzoo.core.compose:Hybrid"
    for name, record in records.items():
        assert record["description"] and "\n" not in record["description"]
        if name == "hybrid":  # written elsewhere; its module may not exist yet
            continue
        module, _, attr = record["factory"].partition(":")
        cls = getattr(importlib.import_module(module), attr)
        assert issubclass(cls, SequenceModel)
        keyword_defaults = {
            p.name: p.default
            for p in inspect.signature(cls).parameters.values()
            if p.default is not inspect.Parameter.empty
        }
        # tuple defaults are stored as lists in configs, as JSON would
        keyword_defaults = {
            k: list(v) if isinstance(v, tuple) else v for k, v in keyword_defaults.items()
        }
        if name in ("rnn", "gru", "lstm"):  # one class; the names differ in the cell only
            keyword_defaults["cell"] = name
        assert record["defaults"] == keyword_defaults, name
        if name == "ensemble":  # it reads what its members read
            assert "input_kind" not in record
        else:
            assert record["input_kind"] == cls.input_kind
        json.dumps(record["defaults"])


def test_plugin_module_does_not_import_torch() -> None:
    source = Path(importlib.import_module("seqzoo.plugins.models").__file__).read_text()
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert imported <= {"__future__", "seqzoo.core.hookspecs"}, imported


@pytest.mark.parametrize(
    "name", ["linear", "rnn", "gru", "lstm", "embedding-lstm", "conv-recurrent"]
)
def test_registered_defaults_build_a_model_with_that_config(name: str) -> None:
    record = registrations()[name]
    module, _, attr = record["factory"].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    required = {"vocab_size": VOCAB} if record["input_kind"] == "ids" else {"input_size": FEATURES}
    torch.manual_seed(0)
    model = cls(**required, **record["defaults"])
    assert model.config == {**required, **record["defaults"]}
    assert model.input_kind == record["input_kind"]
