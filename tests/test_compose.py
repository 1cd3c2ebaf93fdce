"""Hybrid composition: specs from Python, YAML and TOML; size flow; round trips; stepping;
errors that name the position in the spec."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import seqzoo
from seqzoo.core.compose import Hybrid, compose, load_spec
from seqzoo.core.errors import ConfigError, NotSteppableError, ShapeError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "hybrids"


def shapes(module: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(name, tuple(p.shape)) for name, p in module.named_parameters()]


def step_through(model: Hybrid, x: torch.Tensor) -> list[torch.Tensor]:
    state = model.initial_state(x.shape[0])
    outputs = []
    for t in range(x.shape[1]):
        y, state = model.step(x[:, t], state)
        outputs.append(y)
    return outputs


@pytest.fixture
def yaml_file(tmp_path: Path) -> Path:
    target = tmp_path / "frankenstein.yaml"
    shutil.copy(EXAMPLES / "frankenstein.yaml", target)
    return target


def test_yaml_hybrid_builds_runs_backward_round_trips_and_steps(yaml_file: Path) -> None:
    torch.manual_seed(0)
    model = compose(yaml_file)
    x = torch.randn(4, 11, 3)
    y = model(x)
    assert y.shape == (4, 1)
    assert model.output_size == 1

    y.pow(2).mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())

    config = json.loads(json.dumps(model.config))  # plain JSON all the way down
    rebuilt = seqzoo.create_model("hybrid", **config)
    assert shapes(rebuilt) == shapes(model)
    rebuilt.load_state_dict(model.state_dict())

    model.eval()
    outputs = step_through(model, x)
    torch.testing.assert_close(outputs[-1], model(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(rebuilt.eval()(x), model(x))


def test_the_same_spec_loads_from_toml_json_and_python(yaml_file: Path, tmp_path: Path) -> None:
    from_yaml = load_spec(yaml_file)
    from_toml = load_spec(EXAMPLES / "frankenstein.toml")
    json_file = tmp_path / "spec.json"
    json_file.write_text(json.dumps(from_yaml["layers"]))
    from_json = load_spec(json_file)
    assert from_toml == from_yaml
    assert from_json["layers"] == from_yaml["layers"]
    assert from_json["input_size"] is None
    torch.manual_seed(0)
    a = compose(from_yaml)
    torch.manual_seed(0)
    b = compose(from_yaml["layers"], input_size=3)
    assert shapes(a) == shapes(b)


def test_sizes_flow_so_no_size_is_stated_twice() -> None:
    model = compose(
        [
            {"layer": "conv1d", "channels": 8},
            {"layer": "gru", "hidden_size": 5, "bidirectional": True},
            {"layer": "parallel", "branches": [{"layer": "max"}, [{"layer": "mean"}]]},
            {"layer": "linear", "out_features": 2},
        ],
        input_size=4,
    )
    assert model.output_size == 2
    assert model(torch.randn(3, 6, 4)).shape == (3, 2)
    per_step = compose([{"layer": "lstm", "hidden_size": 7}, {"layer": "tanh"}], input_size=2)
    assert per_step(torch.randn(2, 5, 2)).shape == (2, 5, 7)


def test_a_per_step_hybrid_steps_like_its_forward() -> None:
    torch.manual_seed(1)
    model = compose(
        [
            {"layer": "conv1d", "channels": 6, "kernel_size": 4, "dilation": 2},
            {"layer": "layernorm"},
            {"layer": "residual", "body": [{"layer": "gru", "hidden_size": 6}]},
            {
                "layer": "parallel",
                "join": "sum",
                "branches": [{"layer": "relu"}, {"layer": "rnn", "hidden_size": 6}],
            },
            {"layer": "linear", "out_features": 3},
        ],
        input_size=2,
    ).eval()
    x = torch.randn(3, 10, 2)
    stepped = torch.stack(step_through(model, x), dim=1)
    torch.testing.assert_close(stepped, model(x), atol=1e-5, rtol=1e-5)
    # chunks carry state: [0:4] then [4:10] equals the whole
    first, state = model.forward_stateful(x[:, :4])
    second, _ = model.forward_stateful(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), model(x), atol=1e-5, rtol=1e-5)


def test_embedding_first_takes_token_ids() -> None:
    model = compose(
        [
            {"layer": "embedding", "num_embeddings": 20, "embedding_dim": 8},
            {"layer": "lstm", "hidden_size": 8},
            {"layer": "linear", "out_features": 20},
        ]
    ).eval()
    ids = torch.randint(0, 20, (2, 7))
    assert model.input_kind == "ids"
    assert model(ids).shape == (2, 7, 20)
    stepped = torch.stack(step_through(model, ids), dim=1)
    torch.testing.assert_close(stepped, model(ids), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("spec", "where", "words"),
    [
        (
            [{"layer": "lstm", "hidden_size": 4}, {"layer": "lstmm"}],
            "spec[1].layer",
            "did you mean 'lstm'",
        ),
        ([{"layer": "lstm"}], "spec[0].hidden_size", "needs the argument 'hidden_size'"),
        ([{"layer": "lstm", "hidden_size": 4, "hiden": 2}], "spec[0].hiden", "no argument 'hiden'"),
        ([{"layer": "linear", "out_features": 0}], "spec[0].out_features", "positive"),
        ([{"channels": 3}], "spec[0]", "'layer' key"),
        (
            [{"layer": "linear", "out_features": 2, "input_size": 3}],
            "spec[0].input_size",
            "sizes flow",
        ),
        (
            [
                {"layer": "lstm", "hidden_size": 4},
                {"layer": "mean"},
                {"layer": "gru", "hidden_size": 2},
            ],
            "spec[2].layer",
            "pooled away at spec[1]",
        ),
        (
            [
                {"layer": "lstm", "hidden_size": 4},
                {"layer": "residual", "body": [{"layer": "linear", "out_features": 3}]},
            ],
            "spec[1].body",
            "keep the size",
        ),
        (
            [
                {"layer": "lstm", "hidden_size": 4},
                {"layer": "parallel", "branches": [{"layer": "last"}, {"layer": "mean", "dim": 1}]},
            ],
            "spec[1].parallel[1].dim",
            "no argument 'dim'",
        ),
        (
            [
                {
                    "layer": "parallel",
                    "join": "sum",
                    "branches": [
                        {"layer": "linear", "out_features": 2},
                        {"layer": "linear", "out_features": 3},
                    ],
                }
            ],
            "spec[0].join",
            "one size",
        ),
        (
            [
                {
                    "layer": "parallel",
                    "branches": [
                        [{"layer": "relu"}, {"layer": "gru", "hidden_size": 2, "num_layers": -1}]
                    ],
                }
            ],
            "spec[0].parallel[0][1].num_layers",
            "positive",
        ),
        (
            [
                {"layer": "lstm", "hidden_size": 4},
                {"layer": "embedding", "num_embeddings": 3, "embedding_dim": 2},
            ],
            "spec[1].layer",
            "must come first",
        ),
    ],
)
def test_a_bad_spec_names_its_position_and_field(spec, where: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        compose(spec, input_size=3)
    message = str(caught.value)
    assert message.startswith(f"{where}:"), message
    assert words in message


def test_stepping_a_non_causal_hybrid_names_the_layer() -> None:
    model = compose(
        [
            {"layer": "linear", "out_features": 4},
            {
                "layer": "parallel",
                "branches": [
                    {"layer": "relu"},
                    {"layer": "lstm", "hidden_size": 3, "bidirectional": True},
                ],
            },
        ],
        input_size=2,
    )
    assert model(torch.randn(2, 5, 2)).shape == (2, 5, 10)  # whole-sequence still works
    with pytest.raises(NotSteppableError, match=r"spec\[1\]\.parallel\[1\] \('lstm'\)"):
        model.step(torch.randn(2, 2))
    blocky = compose(
        [{"layer": "bidirectional", "body": [{"layer": "gru", "hidden_size": 3}]}], input_size=2
    )
    assert blocky(torch.randn(2, 5, 2)).shape == (2, 5, 6)
    with pytest.raises(NotSteppableError, match=r"spec\[0\] \('bidirectional'\)"):
        blocky.initial_state(2)


def test_bidirectional_block_reads_the_sequence_backwards() -> None:
    torch.manual_seed(0)
    model = compose(
        [{"layer": "bidirectional", "body": [{"layer": "rnn", "hidden_size": 2}]}], input_size=1
    )
    x = torch.randn(1, 6, 1)
    y = model(x)
    backward_alone = model.body.steps[0].backward_body(torch.flip(x, dims=[1]))
    torch.testing.assert_close(y[..., 2:], torch.flip(backward_alone, dims=[1]))


def test_wrong_input_to_a_hybrid_is_a_shape_error(yaml_file: Path) -> None:
    model = compose(yaml_file)
    with pytest.raises(ShapeError, match=r"\(batch, time, 3\).*\(4, 9, 2\)"):
        model(torch.randn(4, 9, 2))
    with pytest.raises(ShapeError, match=r"\(batch, 3\)"):
        model.step(torch.randn(4, 9, 3))


def test_spec_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_spec(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("layers: [ {layer: lstm\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_spec(bad)
    wrong = tmp_path / "spec.txt"
    wrong.write_text("[]")
    with pytest.raises(ConfigError, match=r"\.yaml, \.yml, \.toml or \.json"):
        load_spec(wrong)
    shapeless = tmp_path / "shapeless.yaml"
    shapeless.write_text("just: a mapping\n")
    with pytest.raises(ConfigError, match="list of layer specs"):
        load_spec(shapeless)
    conflicting = tmp_path / "conflict.yaml"
    conflicting.write_text("input_size: 3\nlayers: [{layer: relu}]\n")
    with pytest.raises(ConfigError, match="input_size=3 but input_size=4"):
        compose(conflicting, input_size=4)
    with pytest.raises(ConfigError, match="needs an input size"):
        compose([{"layer": "relu"}])
