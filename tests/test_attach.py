"""Loading attaches a file's tensors to a model built on the meta device: directly where that is
what load_state_dict(assign=True) would do, through load_state_dict everywhere else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import seqzoo
from seqzoo.core.errors import WeightsError
from seqzoo.core.hookspecs import hookimpl
from seqzoo.core.modules import SequenceModel
from seqzoo.core.registry import Registry
from seqzoo.zoo import attach, pretrained
from seqzoo.zoo.pretrained import from_pretrained, save_pretrained

KINDS: dict[str, Any] = {
    "rnn": lambda: seqzoo.create_model("rnn", input_size=3, hidden_size=5),
    "gru": lambda: seqzoo.create_model("gru", input_size=3, hidden_size=5, num_layers=2),
    "lstm": lambda: seqzoo.create_model(
        "lstm", input_size=3, hidden_size=5, num_layers=2, bidirectional=True
    ),
    "conv-recurrent": lambda: seqzoo.create_model(
        "conv-recurrent", input_size=3, channels=[4, 4], kernel_sizes=[3, 2], hidden_size=5
    ),
    "embedding-lstm": lambda: seqzoo.create_model(
        "embedding-lstm", vocab_size=9, embedding_dim=4, hidden_size=6, num_layers=2
    ),
    "patch-forecaster": lambda: seqzoo.create_model(
        "patch-forecaster", patch_size=4, d_model=8, hidden_size=8, horizon=3, max_context=16
    ),
}


def _input(kind: str) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    if kind == "embedding-lstm":
        return torch.randint(0, 9, (2, 7), generator=generator)
    if kind == "patch-forecaster":
        return torch.randn(2, 13, generator=generator)
    return torch.randn(2, 7, 3, generator=generator)


def _output(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    return out[0] if isinstance(out, tuple) else out


def _through_load_state_dict(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each load that goes through load_state_dict (the direct way declined); a model
    built normally instead of on the meta device fails the test."""
    calls: list[str] = []
    real = attach._load_state

    def no_copy(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model was built normally, not on the meta device")

    monkeypatch.setattr(pretrained, "_load_weights", no_copy)

    def recording(model: nn.Module, *args: Any) -> bool:
        calls.append(type(model).__name__)
        return real(model, *args)

    monkeypatch.setattr(attach, "_load_state", recording)
    return calls


@pytest.mark.parametrize("kind", list(KINDS))
def test_built_in_models_are_attached_directly_and_match_a_normal_load_bit_for_bit(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(0)
    model = KINDS[kind]().eval()
    save_pretrained(model, tmp_path / kind)
    normal = KINDS[kind]().eval()
    normal.load_state_dict(model.state_dict())
    calls = _through_load_state_dict(monkeypatch)
    loaded = from_pretrained(tmp_path / kind, device="cpu")
    assert calls == []  # the direct way
    assert all(type(p) is nn.Parameter and p.requires_grad for p in loaded.parameters())
    for module in loaded.modules():
        if isinstance(module, nn.RNNBase):  # its cached weight list is the new parameters
            names = module._flat_weights_names
            assert len(module._flat_weights) == len(names)
            assert all(
                w is getattr(module, n) for w, n in zip(module._flat_weights, names, strict=True)
            )
    x = _input(kind)
    with torch.no_grad():
        assert torch.equal(_output(loaded, x), _output(normal, x))
    for net in (loaded.train(), normal.train()):
        _output(net, x).pow(2).mean().backward()
    expected = dict(normal.named_parameters())
    for name, p in loaded.named_parameters():
        q = expected[name]
        assert (p.grad is None) == (q.grad is None), name
        assert p.grad is None or torch.equal(p.grad, q.grad), name
    # a step on the parameters reaches the forward pass (an RNN computes with its cached list)
    with torch.no_grad():
        for net in (loaded, normal):
            for p in net.parameters():
                if p.grad is not None:
                    p.sub_(0.1 * p.grad)
        assert torch.equal(_output(loaded.eval(), x), _output(normal.eval(), x))


class Tied(SequenceModel):
    """Shared weights, a frozen parameter and a persistent buffer."""

    input_kind = "ids"

    def __init__(self, vocab_size: int = 7, dim: int = 3) -> None:
        super().__init__()
        self._remember_config(locals())
        self.embedding = nn.Embedding(vocab_size, dim)
        self.head = nn.Linear(dim, vocab_size, bias=False)
        self.head.weight = self.embedding.weight
        self.scale = nn.Parameter(torch.ones(dim), requires_grad=False)
        self.register_buffer("shift", torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(x) * self.scale + self.shift)


class OwnLoading(nn.Module):
    """A layer that rewrites its weight while loading (through its own hook of the state dict
    machinery): the direct way would skip it."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(3))

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any) -> None:
        state_dict[prefix + "weight"] = state_dict[prefix + "weight"] + 1.0
        super()._load_from_state_dict(state_dict, prefix, *args)


class OwnLoader(SequenceModel):
    def __init__(self, hooked: bool = False) -> None:
        super().__init__()
        self._remember_config(locals())
        self.inner = OwnLoading() if not hooked else nn.Linear(3, 3)
        if hooked:
            self.seen: list[str] = []
            self.register_load_state_dict_pre_hook(
                lambda module, state, prefix, *rest: self.seen.append(prefix or "root")
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class _Models:
    SEQZOO_HOOK_API = 1

    @hookimpl
    def register_models(self, register: Any) -> None:
        register("tied-attach-test", Tied, description="tied, frozen, buffer")
        register("own-loading-test", OwnLoader, description="loads its own way")


def test_tied_frozen_and_buffers_attach_directly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = Registry(plugins=[_Models()])
    torch.manual_seed(0)
    model = registry.create("model", "tied-attach-test")
    with torch.no_grad():
        model.shift.add_(0.5)
        model.scale.mul_(2.0)
    save_pretrained(model, tmp_path / "m", registry=registry)
    calls = _through_load_state_dict(monkeypatch)
    loaded = from_pretrained(tmp_path / "m", device="cpu", registry=registry)
    assert calls == []
    assert loaded.head.weight is loaded.embedding.weight  # one parameter again
    assert len(list(loaded.parameters())) == 2
    assert loaded.scale.requires_grad is False and loaded.embedding.weight.requires_grad
    assert type(loaded.shift) is torch.Tensor and torch.equal(loaded.shift, model.shift)
    x = torch.tensor([[0, 3, 6]])
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_modules_that_load_their_own_way_go_through_load_state_dict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = Registry(plugins=[_Models()])
    save_pretrained(
        registry.create("model", "own-loading-test"), tmp_path / "own", registry=registry
    )
    hooked = registry.create("model", "own-loading-test", hooked=True)
    save_pretrained(hooked, tmp_path / "hooked", registry=registry)
    calls = _through_load_state_dict(monkeypatch)
    own = from_pretrained(tmp_path / "own", device="cpu", registry=registry)
    assert torch.equal(own.inner.weight, torch.ones(3))  # its _load_from_state_dict ran
    loaded = from_pretrained(tmp_path / "hooked", device="cpu", registry=registry)
    assert loaded.seen == ["root"]  # the pre-hook ran
    assert torch.equal(loaded.inner.weight, hooked.inner.weight)
    assert calls == ["OwnLoader", "OwnLoader"]


def _meta_lstm() -> nn.Module:
    with torch.device("meta"):
        return seqzoo.create_model("lstm", input_size=2, hidden_size=4)


def test_the_direct_way_declines_mismatches_untouched_and_errors_stay_the_same(
    tmp_path: Path,
) -> None:
    torch.manual_seed(0)
    built = seqzoo.create_model("lstm", input_size=2, hidden_size=4)
    state = {k: v.clone() for k, v in built.state_dict().items()}
    path = tmp_path / "model.safetensors"
    missing = {k: v for k, v in state.items() if k != "head.bias"}
    extra = {**state, "head.extra": torch.zeros(1)}
    wrong = {**state, "head.bias": torch.zeros(2)}
    for bad in (missing, extra, wrong):
        model = _meta_lstm()
        assert attach._attach(model, bad, path, "here") is None
        assert all(p.is_meta for p in model.parameters())  # nothing was changed
    assert attach._attach(_meta_lstm(), state, path, "here") is not None
    with pytest.raises(WeightsError, match=r"missing keys \(in the model, not in the file\): "):
        attach.assign_weights(_meta_lstm(), missing, True, path, "here")
    with pytest.raises(WeightsError, match="unexpected keys .*: head.extra"):
        attach.assign_weights(_meta_lstm(), extra, True, path, "here")
    with pytest.raises(
        WeightsError, match="(?s)does not fit the model .*size mismatch for head.bias"
    ):
        attach.assign_weights(_meta_lstm(), wrong, True, path, "here")
    ints = {**state, "head.bias": torch.zeros(1, dtype=torch.int64)}
    with pytest.raises(WeightsError, match=r"stores 'head.bias' as int64 \(integer\)"):
        attach.assign_weights(_meta_lstm(), ints, True, path, "here")


def test_a_listed_file_gone_since_the_listing_is_reported_missing(tmp_path: Path) -> None:
    save_pretrained(seqzoo.create_model("rnn", input_size=2, hidden_size=3), tmp_path / "m")
    listing = pretrained._listing(tmp_path / "m", "here")
    (tmp_path / "m" / "model.safetensors").unlink()
    checksums = [("model.safetensors", "0" * 64, "config.json")]
    with pytest.raises(
        WeightsError, match="model.safetensors is listed in config.json but missing"
    ):
        pretrained._verify(tmp_path / "m", checksums, "here", listing)


def test_a_global_parameter_hook_still_sees_the_loaded_parameters(tmp_path: Path) -> None:
    from torch.nn.modules.module import register_module_parameter_registration_hook

    save_pretrained(seqzoo.create_model("rnn", input_size=2, hidden_size=3), tmp_path / "m")
    seen: list[str] = []
    handle = register_module_parameter_registration_hook(lambda m, n, p: seen.append(n))
    try:
        loaded = from_pretrained(tmp_path / "m", device="cpu")
    finally:
        handle.remove()
    # once when the model is built on the meta device, once when load_state_dict assigns
    assert seen.count("weight_ih_l0") == 2 and seen.count("bias") == 2
    assert not any(p.is_meta for p in loaded.parameters())
