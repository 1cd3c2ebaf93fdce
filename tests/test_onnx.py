"""ONNX step export: the one-step graph with the state passed in and out matches PyTorch.

onnx/onnxruntime are an optional extra (``pip install 'seqzoo[onnx]'``): skipped without them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

import seqzoo  # noqa: E402
from seqzoo.core.errors import NotSteppableError, SeqzooError  # noqa: E402
from seqzoo.zoo.onnx import (  # noqa: E402
    OnnxDependencyError,
    OnnxError,
    OnnxMismatchError,
    export_onnx,
    flatten_state,
    read_export_info,
    unflatten_state,
    verify_onnx,
)

HYBRID_SPEC = [
    {"layer": "conv1d", "channels": 4, "kernel_size": 3},
    {"layer": "residual", "body": [{"layer": "gru", "hidden_size": 4}]},
    {
        "layer": "parallel",
        "join": "sum",
        "branches": [{"layer": "relu"}, {"layer": "lstm", "hidden_size": 4}],
    },
    {"layer": "max"},
    {"layer": "linear", "out_features": 2},
]


def _parallel_conv_recurrent() -> Any:
    model = seqzoo.create_model(
        "conv-recurrent",
        input_size=3,
        channels=[4, 5],
        kernel_sizes=[3, 2],
        hidden_size=6,
        style="parallel",
        cell="gru",
        output="sequence",
    )
    # non-trivial running statistics, so the export must use them (eval mode)
    for norm in model.norms:
        norm.running_mean.uniform_(-0.5, 0.5)
        norm.running_var.uniform_(0.5, 2.0)
    return model.train()  # export and verify switch to eval and back


BUILDERS: dict[str, Callable[[], Any]] = {
    "linear": lambda: seqzoo.create_model("linear", input_size=3, output_size=2, window=4),
    "rnn": lambda: seqzoo.create_model("rnn", input_size=3, hidden_size=6),
    "gru": lambda: seqzoo.create_model("gru", input_size=3, hidden_size=6, output_size=2),
    "lstm": lambda: seqzoo.create_model("lstm", input_size=3, hidden_size=6, num_layers=2),
    "conv-recurrent-serial": lambda: seqzoo.create_model(
        "conv-recurrent", input_size=3, channels=[4, 5], kernel_sizes=[3, 2], hidden_size=6
    ),
    "conv-recurrent-parallel": _parallel_conv_recurrent,
    "embedding-lstm": lambda: seqzoo.create_model(
        "embedding-lstm", vocab_size=12, embedding_dim=5, hidden_size=6, num_layers=2
    ),
    "hybrid": lambda: seqzoo.compose(HYBRID_SPEC, input_size=3),
    # its embedding checks the id range in Python: a data-dependent branch to trace past
    "hybrid-ids": lambda: seqzoo.compose(
        [
            {"layer": "embedding", "num_embeddings": 9, "embedding_dim": 4},
            {"layer": "lstm", "hidden_size": 5},
            {"layer": "linear", "out_features": 9},
        ]
    ),
}


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_step_export_matches_pytorch_step_by_step(name: str, tmp_path: Path) -> None:
    model = BUILDERS[name]()
    was_training = model.training
    path = tmp_path / f"{name}.onnx"
    info = export_onnx(model, path)
    assert path.is_file() and model.training == was_training
    assert info.exporter == "torchscript" and info.dynamic_batch
    leaves, tree = flatten_state(model.initial_state(1))
    assert info.state_tree == tree and len(info.state_shapes) == len(leaves)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == info.input_names
    assert [o.name for o in session.get_outputs()] == info.output_names
    assert info.input_names == ["x", *(f"state_{i}" for i in range(len(leaves)))]
    assert verify_onnx(model, path, steps=25, seed=1) <= 1e-5
    # the batch axis is dynamic: a batch the export never saw runs as well
    assert verify_onnx(model, path, steps=5, batch_size=3) <= 1e-5


def test_metadata_records_the_state_structure(tmp_path: Path) -> None:
    model = seqzoo.create_model(
        "conv-recurrent", input_size=3, channels=[4], kernel_sizes=[3], hidden_size=5, num_layers=2
    )
    path = tmp_path / "model.onnx"
    returned = export_onnx(model, path, batch_size=2)
    (prop,) = [p for p in onnx.load(str(path)).metadata_props if p.key == "seqzoo"]
    stored = json.loads(prop.value)
    # ((conv buffer,), (h, c)): buffers first, then the LSTM state
    assert stored["state_tree"] == {"tuple": [{"tuple": [0]}, {"tuple": [1, 2]}]}
    assert stored["state_shapes"] == [["batch", 3, 2], [2, "batch", 5], [2, "batch", 5]]
    assert stored["state_dtypes"] == ["float32"] * 3
    assert stored["registry_name"] == "conv-recurrent"
    assert stored["config"] == model.config
    assert stored["input_shape"] == ["batch", 3] and stored["batch_size"] == 2
    assert read_export_info(path) == returned
    rebuilt = unflatten_state(returned.state_tree, returned.initial_state(2))
    expected = model.initial_state(2)
    assert isinstance(rebuilt, tuple) and isinstance(rebuilt[1], tuple)
    torch.testing.assert_close(torch.from_numpy(rebuilt[1][0]), expected[1][0])


def test_runs_from_the_metadata_alone(tmp_path: Path) -> None:
    """A runtime without PyTorch builds the initial state (here a running max from -inf) from
    the metadata and steps through a sequence; the last output is the whole-sequence forward's."""
    model = BUILDERS["hybrid"]().eval()
    path = tmp_path / "hybrid.onnx"
    export_onnx(model, path)
    info = read_export_info(path)
    assert "-inf" in info.state_fills
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.randn(2, 9, 3)
    state = info.initial_state(batch_size=2)
    for t in range(x.shape[1]):
        y, *state = session.run(
            info.output_names, dict(zip(info.input_names, [x[:, t].numpy(), *state], strict=True))
        )
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(y), model(x), atol=1e-5, rtol=1e-5)


def test_the_dynamo_exporter_and_a_fixed_batch(tmp_path: Path) -> None:
    model = BUILDERS["lstm"]()
    dynamic = export_onnx(model, tmp_path / "dynamo.onnx", exporter="dynamo")
    assert dynamic.exporter == "dynamo"
    assert verify_onnx(model, tmp_path / "dynamo.onnx", steps=20) <= 1e-5
    assert verify_onnx(model, tmp_path / "dynamo.onnx", steps=3, batch_size=4) <= 1e-5
    fixed = export_onnx(model, tmp_path / "fixed.onnx", batch_size=2, dynamic_batch=False, opset=17)
    assert fixed.state_shapes == [[2, 2, 6], [2, 2, 6]] and fixed.opset == 17
    assert verify_onnx(model, tmp_path / "fixed.onnx", steps=20) <= 1e-5
    with pytest.raises(OnnxError, match="batch 2 only"):
        verify_onnx(model, tmp_path / "fixed.onnx", batch_size=3)


@pytest.mark.parametrize(
    "build",
    [
        lambda: seqzoo.create_model("lstm", input_size=3, hidden_size=4, bidirectional=True),
        lambda: seqzoo.create_model("conv-recurrent", input_size=3, causal=False),
        lambda: seqzoo.compose(
            [{"layer": "bidirectional", "body": [{"layer": "lstm", "hidden_size": 4}]}],
            input_size=3,
        ),
    ],
    ids=["bidirectional-lstm", "centred-conv", "hybrid-bidirectional"],
)
def test_a_non_causal_model_is_refused_clearly(build: Callable[[], Any], tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    with pytest.raises(NotSteppableError, match="causal") as caught:
        export_onnx(build(), path)
    assert "ONNX" in str(caught.value) and isinstance(caught.value, SeqzooError)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_export_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = BUILDERS["gru"]()
    path = tmp_path / "model.onnx"

    def broken_export(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(torch.onnx, "export", broken_export)
    with pytest.raises(OnnxError, match="torchscript: RuntimeError: exporter exploded"):
        export_onnx(model, path)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_keeps_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = BUILDERS["gru"]()
    path = tmp_path / "model.onnx"
    export_onnx(model, path)
    before = path.read_bytes()

    def half_write(proto: Any, target: str) -> None:
        Path(target).write_bytes(b"\x08\x07half")  # a truncated file, then the disk fills up
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(onnx, "save_model", half_write)
    with pytest.raises(OnnxError, match="No space left"):
        export_onnx(seqzoo.create_model("gru", input_size=3, hidden_size=6, output_size=2), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # no temporary left behind


def test_verify_reports_a_mismatch(tmp_path: Path) -> None:
    model = BUILDERS["gru"]()
    path = tmp_path / "model.onnx"
    export_onnx(model, path)
    with torch.no_grad():
        model.head.bias.add_(0.1)  # the PyTorch model drifts from the exported file
    with pytest.raises(OnnxMismatchError, match="at step 0"):
        verify_onnx(model, path)
    assert verify_onnx(model, path, atol=None) == pytest.approx(0.1, abs=1e-4)


def test_missing_onnxruntime_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = BUILDERS["rnn"]()
    export_onnx(model, tmp_path / "model.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now fails
    with pytest.raises(OnnxDependencyError, match=r"pip install 'seqzoo\[onnx\]'") as caught:
        verify_onnx(model, tmp_path / "model.onnx")
    assert isinstance(caught.value, ImportError)


def test_a_file_without_seqzoo_metadata_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.onnx"
    model = BUILDERS["rnn"]()
    export_onnx(model, path)
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    onnx.save_model(proto, str(path))
    with pytest.raises(OnnxError, match="no seqzoo"):
        read_export_info(path)


def test_state_flattening_round_trips() -> None:
    a, b, c = torch.zeros(1), torch.ones(2), torch.full((3,), 2.0)
    state = [None, (a, [b, None]), c]
    leaves, tree = flatten_state(state)
    assert [t.numel() for t in leaves] == [1, 2, 3]
    assert tree == {"list": [None, {"tuple": [0, {"list": [1, None]}]}, 2]}
    assert json.loads(json.dumps(tree)) == tree
    rebuilt = unflatten_state(tree, leaves)
    assert rebuilt[0] is None and rebuilt[1][0] is a and rebuilt[1][1][0] is b and rebuilt[2] is c
    assert isinstance(rebuilt[1], tuple) and isinstance(rebuilt[1][1], list)
