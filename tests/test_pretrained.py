"""save_pretrained / from_pretrained on local directories: round trips, preprocessing, the
model card, strict loading, checksums, corrupt files, and that nothing is ever unpickled."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from torch import nn

import seqzoo
from seqzoo.core.data import Preprocessing
from seqzoo.core.device import resolve_device, resolve_dtype
from seqzoo.core.errors import ConfigError, UnknownNameError, WeightsError
from seqzoo.core.hookspecs import hookimpl
from seqzoo.core.modules import SequenceModel
from seqzoo.core.registry import Registry
from seqzoo.zoo import from_pretrained, save_pretrained
from seqzoo.zoo.pretrained import registry_name_of

ZOO_SOURCES = sorted((Path(seqzoo.__file__).parent / "zoo").glob("*.py"))


def _real(batch: int = 2, time: int = 7, features: int = 3) -> torch.Tensor:
    return torch.randn(batch, time, features, generator=torch.Generator().manual_seed(1))


def _tokenizer() -> Any:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    words = ["[PAD]", "[UNK]", "the", "cat", "sat", "on", "mat", "a", "dog"]
    tokenizer = Tokenizer(WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    return tokenizer


def _hybrid() -> Any:
    spec = [
        {"layer": "conv1d", "channels": 4, "kernel_size": 3},
        {"layer": "lstm", "hidden_size": 5},
        {"layer": "residual", "body": [{"layer": "gru", "hidden_size": 5}]},
        {"layer": "parallel", "join": "concat", "branches": [{"layer": "last"}, {"layer": "mean"}]},
        {"layer": "linear", "out_features": 2},
    ]
    return seqzoo.compose(spec, input_size=3)


BUILT_IN: dict[str, Any] = {
    "linear": lambda: seqzoo.create_model("linear", input_size=3, window=4, output_size=2),
    "rnn": lambda: seqzoo.create_model("rnn", input_size=3, hidden_size=5),
    "gru": lambda: seqzoo.create_model("gru", input_size=3, hidden_size=5, num_layers=2),
    "lstm": lambda: seqzoo.create_model(
        "lstm", input_size=3, hidden_size=5, bidirectional=True, output="sequence"
    ),
    "conv-recurrent-serial": lambda: seqzoo.create_model(
        "conv-recurrent", input_size=3, channels=[4, 4], kernel_sizes=[3, 2], hidden_size=5
    ),
    "conv-recurrent-parallel": lambda: seqzoo.create_model(
        "conv-recurrent", input_size=3, channels=[4], hidden_size=5, style="parallel"
    ),
    "hybrid": _hybrid,
}


def _check_round_trip(model: nn.Module, x: torch.Tensor, directory: Path, **load: Any) -> Any:
    model.eval()
    save_pretrained(model, directory, registry=load.get("registry"))
    loaded = from_pretrained(directory, **load)
    assert type(loaded) is type(model)
    assert not loaded.training
    assert loaded.config == model.config
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    for (name, p), (_, q) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert torch.equal(p, q), name
    return loaded


@pytest.mark.parametrize("kind", list(BUILT_IN))
def test_every_built_in_model_round_trips_exactly(kind: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = BUILT_IN[kind]()
    loaded = _check_round_trip(model, _real(), tmp_path / kind)
    expected = kind.removesuffix("-serial").removesuffix("-parallel")
    assert loaded.registry_name == expected
    assert loaded.pretrained_config["model"] == expected
    assert sorted(p.name for p in (tmp_path / kind).iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]


def test_a_text_model_round_trips_with_its_tokenizer(tmp_path: Path) -> None:
    torch.manual_seed(0)
    tokenizer = _tokenizer()
    model = seqzoo.create_model(
        "embedding-lstm", vocab_size=tokenizer.get_vocab_size(), embedding_dim=4, hidden_size=6
    ).eval()
    preprocessing = Preprocessing(tokenizer=tokenizer)
    save_pretrained(model, tmp_path / "text", preprocessing=preprocessing, task="language-model")
    config = json.loads((tmp_path / "text" / "config.json").read_text())
    assert set(config["seqzoo"]["files"]) == {"model.safetensors", "tokenizer.json"}

    loaded = from_pretrained(tmp_path / "text")
    sentence = "the cat sat on a mat near the dog"
    ids = loaded.preprocessing.tokenizer.encode(sentence).ids
    assert ids == tokenizer.encode(sentence).ids
    assert 1 in ids  # "near" is unknown: the unknown token survived too
    x = torch.tensor([ids])
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert loaded.pretrained_config["task"] == "language-model"


def test_scalers_and_window_travel_with_the_model(tmp_path: Path) -> None:
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    rows = rng.normal(5.0, 3.0, size=(50, 3))
    inputs = StandardScaler().fit(rows)
    targets = StandardScaler().fit(rows[:, -1:])
    preprocessing = Preprocessing(
        input_scaler=inputs,
        target_scaler=targets,
        window=8,
        horizon=2,
        feature_names=["a", "b", "c"],
        target_names=["c"],
    )
    model = seqzoo.create_model("gru", input_size=3, hidden_size=4)
    save_pretrained(model, tmp_path / "m", preprocessing=preprocessing, task="forecast")
    loaded = from_pretrained(tmp_path / "m").preprocessing

    raw = rng.normal(5.0, 3.0, size=(4, 8, 3))
    assert np.array_equal(loaded.scale_inputs(raw), preprocessing.scale_inputs(raw))
    outputs = rng.normal(size=(4, 2))
    assert np.array_equal(loaded.unscale_targets(outputs), preprocessing.unscale_targets(outputs))
    assert (loaded.window, loaded.horizon) == (8, 2)
    assert (loaded.feature_names, loaded.target_names) == (["a", "b", "c"], ["c"])
    assert loaded.tokenizer is None


def test_the_example_plugins_tcn_round_trips(
    example_plugin_site: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.syspath_prepend(str(example_plugin_site))
    registry = Registry()
    torch.manual_seed(0)
    model = registry.create("model", "tcn", input_size=3, channels=4, levels=2)
    loaded = _check_round_trip(model, _real(), tmp_path / "tcn", registry=registry)
    assert loaded.registry_name == "tcn"
    assert type(loaded).__module__ == "seqzoo_tcn.model"


class TiedModel(SequenceModel):
    """Token ids -> embedding -> linear head that shares the embedding matrix."""

    input_kind = "ids"

    def __init__(self, vocab_size: int, dim: int = 4) -> None:
        super().__init__()
        self._remember_config(locals())
        self.embedding = nn.Embedding(vocab_size, dim)
        self.head = nn.Linear(dim, vocab_size, bias=False)
        self.head.weight = self.embedding.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.embedding(x)))


class _TestModels:
    SEQZOO_HOOK_API = 1

    @hookimpl
    def register_models(self, register: Any) -> None:
        register("tied-test", TiedModel, description="tied weights")


def test_shared_tensors_are_stored_once_and_tied_again(tmp_path: Path) -> None:
    registry = Registry(plugins=[_TestModels()])
    torch.manual_seed(0)
    model = registry.create("model", "tied-test", vocab_size=9)
    x = torch.randint(0, 9, (2, 5), generator=torch.Generator().manual_seed(0))
    loaded = _check_round_trip(model, x, tmp_path / "tied", registry=registry)
    assert loaded.head.weight is loaded.embedding.weight
    from safetensors import safe_open

    with safe_open(tmp_path / "tied" / "model.safetensors", "pt") as weights:
        assert len(list(weights.keys())) == 1


def test_the_registry_name_is_found_from_the_class_or_must_be_given(tmp_path: Path) -> None:
    from seqzoo.plugins.models.recurrent import RecurrentModel

    assert registry_name_of(RecurrentModel(input_size=2, cell="gru", hidden_size=4)) == "gru"
    assert registry_name_of(_hybrid()) == "hybrid"  # compose() builds it without the registry

    class Unregistered(SequenceModel):
        def __init__(self, size: int = 2) -> None:
            super().__init__()
            self._remember_config(locals())
            self.layer = nn.Linear(size, size)

    with pytest.raises(ConfigError, match="pass name="):
        save_pretrained(Unregistered(), tmp_path / "u")
    assert not (tmp_path / "u").exists()
    with pytest.raises(UnknownNameError, match="did you mean 'lstm'"):
        save_pretrained(Unregistered(), tmp_path / "u", name="lstn")


def test_the_model_card_holds_hub_metadata_and_the_results(tmp_path: Path) -> None:
    card = {
        "description": "A small forecaster.",
        "dataset": "sunspots",
        "metrics": {"mae": 0.123456, "rmse": 0.25},
        "baselines": {"seasonal-naive": {"mae": 0.4, "rmse": 0.5}},
        "training": {"command": "seqzoo train run.yaml", "epochs": 12, "optimizer": "adam"},
        "repo_id": "seqzoo/lstm-sunspots",
    }
    model = seqzoo.create_model("lstm", input_size=1, hidden_size=4)
    save_pretrained(model, tmp_path / "m", task="forecast", card=card)
    text = (tmp_path / "m" / "README.md").read_text()
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["library_name"] == "seqzoo"
    assert {"seqzoo", "lstm", "time-series-forecasting"} <= set(meta["tags"])
    assert meta["pipeline_tag"] == "time-series-forecasting"
    assert meta["datasets"] == ["sunspots"]
    assert meta["metrics"] == ["mae", "rmse"]
    assert 'seqzoo.from_pretrained("seqzoo/lstm-sunspots")' in body
    assert "| **this model** | 0.1235 | 0.25 |" in body
    assert "| seasonal-naive | 0.4 | 0.5 |" in body
    assert "seqzoo train run.yaml" in body and "| epochs | 12 |" in body
    assert '"hidden_size": 4' in body

    with pytest.raises(ConfigError, match="unknown keys \\['metric'\\]"):
        save_pretrained(model, tmp_path / "typo", card={"metric": {}})
    assert not (tmp_path / "typo").exists()


def test_saving_over_a_directory_replaces_the_model_and_keeps_other_files(tmp_path: Path) -> None:
    target = tmp_path / "m"
    text = seqzoo.create_model("embedding-lstm", vocab_size=9, embedding_dim=4, hidden_size=4)
    save_pretrained(text, target, preprocessing=Preprocessing(tokenizer=_tokenizer()))
    (target / "notes.txt").write_text("mine")
    torch.manual_seed(3)
    real = seqzoo.create_model("rnn", input_size=3, hidden_size=4).eval()
    save_pretrained(real, target)

    assert not (target / "tokenizer.json").exists()  # the old text model's tokenizer is gone
    assert (target / "notes.txt").read_text() == "mine"
    loaded = from_pretrained(target)
    assert loaded.preprocessing is None
    with torch.no_grad():
        assert torch.equal(loaded(_real()), real(_real()))
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no staging directory left behind


def test_a_crash_while_saving_leaves_no_half_written_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import seqzoo.zoo.pretrained as pretrained

    torch.manual_seed(0)
    old = seqzoo.create_model("gru", input_size=3, hidden_size=4).eval()
    save_pretrained(old, tmp_path / "existing")

    def crash(**kwargs: Any) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(pretrained, "render_card", crash)
    new = seqzoo.create_model("gru", input_size=3, hidden_size=4)
    for target in ("fresh", "existing"):
        with pytest.raises(OSError, match="disk full"):
            save_pretrained(new, tmp_path / target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]
    loaded = from_pretrained(tmp_path / "existing")  # still the old model, intact
    with torch.no_grad():
        assert torch.equal(loaded(_real()), old(_real()))


def _edit_config(directory: Path, **changes: Any) -> None:
    path = directory / "config.json"
    config = json.loads(path.read_text())  # the layout save_pretrained writes
    for key, value in changes.items():
        if value is None:
            config["seqzoo"].pop(key, None)
        elif key == "config":
            config.update(value)  # constructor arguments sit at the top level
        else:
            config["seqzoo"][key] = value
    path.write_text(json.dumps(config))


def test_strict_loading_lists_missing_and_unexpected_keys(tmp_path: Path) -> None:
    torch.manual_seed(0)
    one = seqzoo.create_model("lstm", input_size=2, hidden_size=4)
    save_pretrained(one, tmp_path / "one")
    _edit_config(tmp_path / "one", config={"num_layers": 2})
    with pytest.raises(WeightsError, match="missing keys") as missing:
        from_pretrained(tmp_path / "one")
    assert "core.rnn.weight_ih_l1" in str(missing.value) and "strict=False" in str(missing.value)

    two = seqzoo.create_model("lstm", input_size=2, hidden_size=4, num_layers=2)
    save_pretrained(two, tmp_path / "two")
    _edit_config(tmp_path / "two", config={"num_layers": 1})
    with pytest.raises(WeightsError, match="unexpected keys") as unexpected:
        from_pretrained(tmp_path / "two")
    assert "core.rnn.bias_hh_l1" in str(unexpected.value)

    loose = from_pretrained(tmp_path / "two", strict=False)  # asked for: the matching keys load
    assert torch.equal(loose.core.rnn.weight_ih_l0, two.core.rnn.weight_ih_l0)
    assert torch.equal(loose.head.weight, two.head.weight)

    _edit_config(tmp_path / "one", config={"num_layers": 1, "hidden_size": 5})
    with pytest.raises(WeightsError, match="does not fit the model"):
        from_pretrained(tmp_path / "one", strict=False)


def test_one_flipped_byte_fails_the_checksum_naming_the_file(tmp_path: Path) -> None:
    save_pretrained(seqzoo.create_model("rnn", input_size=2, hidden_size=4), tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) - 5] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum mismatch for model.safetensors"):
        from_pretrained(tmp_path / "m")


def test_a_truncated_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    save_pretrained(seqzoo.create_model("rnn", input_size=2, hidden_size=4), tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(WeightsError, match="checksum mismatch for model.safetensors"):
        from_pretrained(tmp_path / "m")
    _edit_config(tmp_path / "m", files=None)  # no checksums: safetensors itself must object
    with pytest.raises(WeightsError, match="model.safetensors is corrupt or truncated"):
        from_pretrained(tmp_path / "m")


def test_a_directory_without_config_says_what_a_model_directory_holds(tmp_path: Path) -> None:
    save_pretrained(seqzoo.create_model("rnn", input_size=2), tmp_path / "m")
    (tmp_path / "m" / "config.json").unlink()
    with pytest.raises(WeightsError, match="no config.json") as error:
        from_pretrained(tmp_path / "m")
    assert "model.safetensors" in str(error.value) and "save_pretrained" in str(error.value)
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(WeightsError, match="config.json cannot be read as JSON"):
        from_pretrained(tmp_path / "m")


class _Trap:
    """Unpickling this opens (creates) the marker file: proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any unpickling during the test fails it."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("something tried to unpickle")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)


def test_pickle_only_weights_are_refused_and_never_unpickled(
    tmp_path: Path, no_unpickling: None
) -> None:
    marker = tmp_path / "unpickled.marker"
    only = tmp_path / "only-pickle"
    only.mkdir()
    (only / "pytorch_model.bin").write_bytes(pickle.dumps(_Trap(marker)))
    with pytest.raises(WeightsError, match="only pickle weights \\(pytorch_model.bin\\)") as error:
        from_pretrained(only)
    assert "arbitrary code" in str(error.value)

    # a real config beside the pickle changes nothing
    save_pretrained(seqzoo.create_model("rnn", input_size=2), tmp_path / "with-config")
    (tmp_path / "with-config" / "model.safetensors").unlink()
    (tmp_path / "with-config" / "model.pt").write_bytes(pickle.dumps(_Trap(marker)))
    with pytest.raises(WeightsError, match="only pickle weights \\(model.pt\\)"):
        from_pretrained(tmp_path / "with-config")
    assert not marker.exists()


def test_loading_never_calls_an_unpickler(tmp_path: Path, no_unpickling: None) -> None:
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(np.arange(12.0).reshape(6, 2))
    model = seqzoo.create_model("embedding-lstm", vocab_size=9, embedding_dim=4, hidden_size=4)
    preprocessing = Preprocessing(input_scaler=scaler, tokenizer=_tokenizer())
    save_pretrained(model, tmp_path / "m", preprocessing=preprocessing)
    loaded = from_pretrained(tmp_path / "m")  # weights, tokenizer and scalers: all pickle-free
    assert loaded.preprocessing.tokenizer is not None
    for source in ZOO_SOURCES:  # and no code path in the zoo could unpickle
        text = source.read_text()
        assert "torch.load(" not in text and "import pickle" not in text, source.name


def test_dtype_cast_and_device_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    model = seqzoo.create_model("linear", input_size=3, window=2).eval()
    save_pretrained(model, tmp_path / "m")
    half = from_pretrained(tmp_path / "m", dtype="bfloat16")
    assert {p.dtype for p in half.parameters()} == {torch.bfloat16}
    with torch.no_grad():
        expected = model(_real())
        torch.testing.assert_close(half(_real().bfloat16()).float(), expected, atol=0.1, rtol=0.05)
    assert {p.dtype for p in from_pretrained(tmp_path / "m", dtype=torch.float16).parameters()} == {
        torch.float16
    }
    with pytest.raises(ConfigError, match="not a floating-point type"):
        from_pretrained(tmp_path / "m", dtype=torch.int8)
    with pytest.raises(ConfigError, match="unknown dtype"):
        from_pretrained(tmp_path / "m", dtype="float13")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for device in ("cpu", "auto", None, torch.device("cpu")):
        loaded = from_pretrained(tmp_path / "m", device=device)
        assert {p.device.type for p in loaded.parameters()} == {"cpu"}
    with pytest.raises(ConfigError, match="CUDA is not available"):
        from_pretrained(tmp_path / "m", device="cuda")
    with pytest.raises(ConfigError, match="MPS is not available"):
        from_pretrained(tmp_path / "m", device="mps")
    with pytest.raises(ConfigError, match="unknown device 'gpu0'"):
        from_pretrained(tmp_path / "m", device="gpu0")


def test_resolve_device_prefers_cuda_then_mps_then_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device() == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device(1) == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match="2 CUDA device"):
        resolve_device("cuda:3")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_dtype(None) is None
    assert resolve_dtype("bf16") is torch.bfloat16
    assert resolve_dtype("torch.float16") is torch.float16
    assert resolve_dtype(torch.float32) is torch.float32


def test_unknown_sources_and_models_are_clear_errors(tmp_path: Path) -> None:
    save_pretrained(seqzoo.create_model("rnn", input_size=2), tmp_path / "m")
    with pytest.raises(WeightsError, match="is a file"):
        from_pretrained(str(tmp_path / "m" / "model.safetensors"))
    with pytest.raises(UnknownNameError, match="not a local directory, a zoo name or a Hub repo"):
        from_pretrained("no-such-model-anywhere")
    with pytest.raises(ConfigError, match="revision= applies to Hub repositories"):
        from_pretrained(tmp_path / "m", revision="v1")
    _edit_config(tmp_path / "m", model="rnn-from-a-missing-plugin")
    with pytest.raises(UnknownNameError, match="install the plugin that provides"):
        from_pretrained(tmp_path / "m")


# -- building on the meta device ---------------------------------------------------------------

META_BUILT: dict[str, Any] = {
    **BUILT_IN,
    "embedding-lstm": lambda: seqzoo.create_model(
        "embedding-lstm", vocab_size=9, embedding_dim=4, hidden_size=6, num_layers=2
    ),
    "patch-forecaster": lambda: seqzoo.create_model(
        "patch-forecaster", patch_size=4, d_model=8, hidden_size=8, horizon=3, max_context=16
    ),
}


def _input_for(kind: str) -> torch.Tensor:
    if kind == "embedding-lstm":
        return torch.randint(0, 9, (2, 7), generator=torch.Generator().manual_seed(1))
    if kind == "patch-forecaster":
        return torch.randn(2, 13, generator=torch.Generator().manual_seed(1))
    return _real()


@pytest.mark.parametrize("kind", list(META_BUILT))
def test_every_built_in_model_loads_on_meta_without_initialising_and_matches_a_normal_build(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqzoo.zoo import pretrained

    torch.manual_seed(0)
    model = META_BUILT[kind]().eval()
    save_pretrained(model, tmp_path / kind)
    # a normal construction with the weights copied in: what loading gave before
    normal = META_BUILT[kind]().eval()
    normal.load_state_dict(model.state_dict())

    def no_copy(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model was built normally, not on the meta device")

    monkeypatch.setattr(pretrained, "_load_weights", no_copy)
    rng = torch.get_rng_state()
    loaded = from_pretrained(tmp_path / kind, device="cpu")
    assert torch.equal(torch.get_rng_state(), rng)  # no random initialisation ran
    assert not any(t.is_meta for t in [*loaded.parameters(), *loaded.buffers()])
    assert {p.device.type for p in loaded.parameters()} == {"cpu"}
    assert all(p.requires_grad for p in loaded.parameters())
    x = _input_for(kind)
    with torch.no_grad():
        assert torch.equal(loaded(x), normal(x))
    for net in (loaded, normal):  # and it trains as the normal build does: same gradients
        out = net(x)
        (out[0] if isinstance(out, tuple) else out).pow(2).mean().backward()
    grads = {n: p.grad for n, p in loaded.named_parameters()}
    assert any(g is not None for g in grads.values())
    for name, p in normal.named_parameters():
        assert (grads[name] is None) == (p.grad is None), name
        assert p.grad is None or torch.equal(grads[name], p.grad), name


class BufferedModel(SequenceModel):
    """A linear map with a non-persistent buffer and a plain tensor attribute, both computed
    in the constructor (neither is in the state dict, so meta loading cannot give them)."""

    def __init__(self, input_size: int = 3) -> None:
        super().__init__()
        self._remember_config(locals())
        self.linear = nn.Linear(input_size, 1)
        self.register_buffer("offset", torch.arange(input_size, dtype=torch.float32), False)
        self.factor = torch.full((1,), 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x[:, -1] + self.offset) * self.factor


class ValueReadingModel(SequenceModel):
    """A constructor that reads a tensor's value: impossible on the meta device."""

    def __init__(self, input_size: int = 3) -> None:
        super().__init__()
        self._remember_config(locals())
        self.linear = nn.Linear(input_size, 1)
        self.gain = float(torch.ones(1).sum().item())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x[:, -1]) * self.gain


class _FallbackModels:
    SEQZOO_HOOK_API = 1

    @hookimpl
    def register_models(self, register: Any) -> None:
        register("buffered-test", BufferedModel, description="non-persistent buffer")
        register("value-reading-test", ValueReadingModel, description="reads a value")


@pytest.mark.parametrize("name", ["buffered-test", "value-reading-test"])
def test_a_model_meta_cannot_build_is_built_normally(name: str, tmp_path: Path) -> None:
    registry = Registry(plugins=[_FallbackModels()])
    torch.manual_seed(0)
    model = registry.create("model", name)
    loaded = _check_round_trip(model, _real(), tmp_path / name, registry=registry)
    tensors = [*loaded.parameters(), *loaded.buffers(), getattr(loaded, "factor", torch.ones(1))]
    assert not any(t.is_meta for t in tensors)
    if name == "buffered-test":
        assert torch.equal(loaded.offset, torch.arange(3.0)) and loaded.factor.item() == 2.0


def test_keys_missing_under_strict_false_are_initialised_not_left_on_meta(tmp_path: Path) -> None:
    torch.manual_seed(0)
    one = seqzoo.create_model("lstm", input_size=2, hidden_size=4)
    save_pretrained(one, tmp_path / "one")
    _edit_config(tmp_path / "one", config={"num_layers": 2})
    loose = from_pretrained(tmp_path / "one", strict=False)
    assert not any(p.is_meta for p in loose.parameters())
    assert torch.equal(loose.core.rnn.weight_ih_l0, one.core.rnn.weight_ih_l0)
    assert loose.core.rnn.weight_ih_l1.abs().sum() > 0  # the layer the file lacks: initialised
    with torch.no_grad():
        assert torch.isfinite(loose(_real(features=2))).all()


def test_weights_saved_in_another_dtype_are_cast_as_a_copy_would_cast_them(
    tmp_path: Path,
) -> None:
    torch.manual_seed(0)
    model = seqzoo.create_model("gru", input_size=3, hidden_size=5).eval()
    save_pretrained(model.to(torch.float64), tmp_path / "m")
    loaded = from_pretrained(tmp_path / "m", device="cpu")
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}  # the built dtype
    assert torch.equal(loaded.head.weight, model.head.weight.float())
