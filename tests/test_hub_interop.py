"""Interoperation with huggingface_hub: ``PyTorchModelHubMixin`` folders both ways, the
config.json layouts, model cards with a ``model-index``, and push errors without a network or a
token. Real files, a local Hub (tests/hub_server.py) or a closed port; nothing leaves the
machine."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import hub_server
import pytest
import torch
from hub_server import HubServer
from huggingface_hub import ModelCard, PyTorchModelHubMixin

import seqzoo
from seqzoo import from_pretrained, save_pretrained
from seqzoo.core.errors import ConfigError, SeqzooError, WeightsError
from seqzoo.plugins.models.recurrent import RecurrentModel
from seqzoo.zoo.card import render_card
from seqzoo.zoo.hub import push_to_hub
from seqzoo.zoo.pretrained import FORMAT_VERSION, load_directory

ZOO = Path(seqzoo.__file__).parent / "zoo" / "models"
X = torch.randn(2, 7, 3, generator=torch.Generator().manual_seed(1))


class LSTMMixin(RecurrentModel, PyTorchModelHubMixin):
    """seqzoo's recurrent model (the ``lstm`` record's class) made a Hub mixin model."""


def _outputs(model: Any) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(X)


def _lstm(seed: int = 0) -> Any:
    torch.manual_seed(seed)
    return seqzoo.create_model("lstm", input_size=3, hidden_size=5, num_layers=2)


def test_a_seqzoo_folder_loads_through_the_mixin(tmp_path: Path) -> None:
    model = _lstm()
    save_pretrained(model, tmp_path / "m", task="forecast", dataset={"name": "sunspots"})
    document = json.loads((tmp_path / "m" / "config.json").read_text())
    own = document.pop("seqzoo")
    assert document == model.config  # constructor arguments, flat at the top level
    assert own["format"] == FORMAT_VERSION and own["model"] == "lstm"
    assert own["class"] == "seqzoo.plugins.models.recurrent:RecurrentModel"
    assert (own["task"], own["dataset"]) == ("forecast", {"name": "sunspots"})
    assert set(own["files"]) == {"model.safetensors"}

    mixed = LSTMMixin.from_pretrained(tmp_path / "m")
    assert isinstance(mixed, LSTMMixin) and mixed.config == model.config
    assert torch.equal(_outputs(mixed), _outputs(model))

    loaded = from_pretrained(tmp_path / "m", device="cpu")  # and seqzoo reads it back
    assert loaded.pretrained_config["model"] == "lstm"
    assert loaded.pretrained_config["dataset"] == {"name": "sunspots"}
    assert torch.equal(_outputs(loaded), _outputs(model))


def test_a_mixin_folder_loads_in_seqzoo_when_told_the_architecture(tmp_path: Path) -> None:
    torch.manual_seed(3)
    mixed = LSTMMixin(input_size=3, hidden_size=5, num_layers=2)
    mixed.save_pretrained(tmp_path / "mixin")
    document = json.loads((tmp_path / "mixin" / "config.json").read_text())
    assert "seqzoo" not in document and document["hidden_size"] == 5  # init kwargs only

    with pytest.raises(WeightsError, match="pass architecture="):
        from_pretrained(tmp_path / "mixin", device="cpu")
    loaded = from_pretrained(tmp_path / "mixin", device="cpu", architecture="lstm")
    assert isinstance(loaded, RecurrentModel) and loaded.registry_name == "lstm"
    assert torch.equal(_outputs(loaded), _outputs(mixed))

    # saved again by seqzoo, it names its architecture itself
    save_pretrained(loaded, tmp_path / "again")
    assert torch.equal(_outputs(from_pretrained(tmp_path / "again", device="cpu")), _outputs(mixed))
    with pytest.raises(ConfigError, match="holds a 'lstm' model, not 'gru'"):
        from_pretrained(tmp_path / "again", device="cpu", architecture="gru")


def test_an_old_layout_folder_keeps_loading(tmp_path: Path) -> None:
    model = _lstm(seed=4)
    save_pretrained(model, tmp_path / "m", task="forecast")
    path = tmp_path / "m" / "config.json"
    new = json.loads(path.read_text())
    own = new.pop("seqzoo")
    old = {  # the layout of seqzoo 0.1 (the bundled zoo entries)
        "seqzoo_version": "0.1.0",
        "model": own["model"],
        "config": new,
        "task": own["task"],
        "preprocessing": own["preprocessing"],
        "dataset": own["dataset"],
        "files": own["files"],
    }
    path.write_text(json.dumps(old, indent=2))
    loaded = from_pretrained(tmp_path / "m", device="cpu")
    assert loaded.pretrained_config["config"] == model.config
    assert torch.equal(_outputs(loaded), _outputs(model))

    # its checksums are still checked
    weights = tmp_path / "m" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum mismatch for model.safetensors"):
        from_pretrained(tmp_path / "m", device="cpu")

    # the bundled zoo entries are in the current layout (constructor arguments at the top)
    bundled = json.loads((ZOO / "rnn-nile" / "config.json").read_text())
    assert bundled["seqzoo"]["model"] == "rnn" and bundled["hidden_size"] == 16
    assert load_directory(ZOO / "rnn-nile", device="cpu").registry_name == "rnn"


def test_the_new_layout_keeps_checksums_and_the_path_guard(tmp_path: Path) -> None:
    save_pretrained(_lstm(), tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(WeightsError, match="checksum mismatch for model.safetensors"):
        from_pretrained(tmp_path / "m", device="cpu")
    weights.write_bytes(original)
    path = tmp_path / "m" / "config.json"
    document = json.loads(path.read_text())
    (tmp_path / "outside.txt").write_text("not the model's")
    document["seqzoo"]["files"]["../outside.txt"] = "0" * 64
    path.write_text(json.dumps(document))
    with pytest.raises(WeightsError, match="outside.txt"):
        from_pretrained(tmp_path / "m", device="cpu")


def test_a_saved_card_has_a_model_index_with_its_metrics(tmp_path: Path) -> None:
    metrics = {"mae": 0.5, "rmse": 0.75, "note": "n/a"}
    card = {"dataset": "sunspots", "metrics": metrics, "baselines": {"naive": {"mae": 1.25}}}
    save_pretrained(_lstm(), tmp_path / "m", task="forecast", card=card)
    loaded = ModelCard.load(tmp_path / "m" / "README.md")
    meta = loaded.data.to_dict()
    assert meta["library_name"] == "seqzoo" and meta["datasets"] == ["sunspots"]
    assert meta["pipeline_tag"] == "time-series-forecasting"
    ((index),) = meta["model-index"]
    ((result),) = index["results"]
    assert result["task"]["type"] == "time-series-forecasting"
    assert result["dataset"]["name"] == "sunspots" and result["dataset"]["split"] == "test"
    # this model's numeric metrics only: the baseline stays in the body's table
    assert {m["type"]: m["value"] for m in result["metrics"]} == {"mae": 0.5, "rmse": 0.75}
    assert [(r.metric_type, r.metric_value) for r in loaded.data.eval_results] == [
        ("mae", 0.5),
        ("rmse", 0.75),
    ]
    assert "| naive | 1.25 |" in loaded.text and "## Results" in loaded.text

    text = render_card(
        name="embedding-lstm",
        config={},
        task="language-model",
        card={"dataset": "text", "metrics": {"bpc": 2.5}},
        preprocessing=None,
        has_tokenizer=True,
        files={},
    )
    ((index),) = ModelCard(text).data.to_dict()["model-index"]
    assert index["results"][0]["task"]["type"] == "text-generation"
    assert index["results"][0]["metrics"] == [{"type": "bpc", "value": 2.5, "name": "bpc"}]
    plain = render_card(
        name="lstm", config={}, task="forecast", card=None, preprocessing=None,
        has_tokenizer=False, files={},
    )  # fmt: skip
    assert "model-index" not in ModelCard(plain).data.to_dict()  # no metrics: no results


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends


def test_push_without_a_network_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_pretrained(_lstm(), tmp_path / "m")
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    with pytest.raises(SeqzooError, match="cannot reach the Hub at http://127.0.0.1:") as error:
        push_to_hub(tmp_path / "m", "me/lstm", token="hf_test_token")
    assert endpoint in str(error.value) and "check the network or HF_ENDPOINT" in str(error.value)


def test_push_without_a_token_says_so(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = hub_server._Handler._create_repo

    def demand_auth(self: Any, *, body: bytes) -> Any:  # the real Hub refuses anonymous writes
        if not self.headers.get("Authorization"):
            return 401, {"error": "Invalid username or password."}, {}
        return answer(self, body=body)

    monkeypatch.setattr(hub_server._Handler, "_create_repo", demand_auth)
    model = _lstm()
    save_pretrained(model, tmp_path / "m")
    with pytest.raises(SeqzooError, match="no Hugging Face token: run `hf auth login`") as error:
        push_to_hub(tmp_path / "m", "me/lstm")
    assert "HF_TOKEN" in str(error.value) and not hub.commits
    push_to_hub(tmp_path / "m", "me/lstm", token="hf_test_token")  # with one, it goes through
    assert [c.repo_id for c in hub.commits] == ["me/lstm"]
    assert torch.equal(_outputs(from_pretrained("me/lstm", device="cpu")), _outputs(model))
