"""The zoo against a local Hub (tests/hub_server.py) through the real huggingface_hub client:
the cache, offline mode, pinned revisions, errors, pickle-only repos and pushing."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
from hub_server import HubServer

import seqzoo
from seqzoo.core.errors import ConfigError, UnknownNameError, WeightsError
from seqzoo.core.hookspecs import hookimpl
from seqzoo.core.registry import Registry
from seqzoo.zoo import download, from_pretrained, plan_push, push_to_hub, save_pretrained

X = torch.randn(2, 6, 3, generator=torch.Generator().manual_seed(0))


def _saved(directory: Path, seed: int, **card: Any) -> tuple[Any, dict[str, bytes]]:
    """A small GRU saved to ``directory``; returns it and its files as bytes."""
    torch.manual_seed(seed)
    model = seqzoo.create_model("gru", input_size=3, hidden_size=4).eval()
    save_pretrained(model, directory, task="forecast", card=card or None)
    return model, {p.name: p.read_bytes() for p in directory.iterdir()}


def _outputs(model: Any) -> torch.Tensor:
    with torch.no_grad():
        return model(X)


def test_the_first_download_fills_the_cache_then_offline_needs_no_requests(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, files = _saved(tmp_path / "m", seed=0)
    files["pytorch_model.bin"] = b"never fetched"  # a repo may hold extra formats too
    sha = hub.add_repo("org/gru", files)

    loaded = from_pretrained("org/gru")
    assert torch.equal(_outputs(loaded), _outputs(model))
    assert hub.downloads("model.safetensors") == 1 and hub.downloads("config.json") == 1
    assert hub.downloads("pytorch_model.bin") == 0
    snapshot = tmp_path / "hf-home" / "hub" / "models--org--gru" / "snapshots" / sha
    assert {p.name for p in snapshot.iterdir()} == {"config.json", "model.safetensors", "README.md"}

    seen = len(hub.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = from_pretrained("org/gru")
    assert torch.equal(_outputs(offline), _outputs(model))
    assert len(hub.requests) == seen  # not one request while offline
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert torch.equal(_outputs(from_pretrained("org/gru", local_files_only=True)), _outputs(model))
    assert len(hub.requests) == seen

    hub.stop()  # the Hub is unreachable now: the cached snapshot still loads
    assert torch.equal(_outputs(from_pretrained("org/gru")), _outputs(model))


def test_offline_without_a_cached_copy_says_what_to_do(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add_repo("org/gru", _saved(tmp_path / "m", seed=0)[1])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsError, match="not \\(completely\\) in the local Hub cache") as error:
        from_pretrained("org/gru")
    assert "HF_HUB_OFFLINE" in str(error.value)
    assert hub.requests == []
    monkeypatch.delenv("HF_HUB_OFFLINE")
    hub.stop()
    with pytest.raises(WeightsError, match="cannot reach the Hub"):
        from_pretrained("org/gru")


def test_a_pinned_revision_loads_that_revisions_weights(hub: HubServer, tmp_path: Path) -> None:
    main, main_files = _saved(tmp_path / "main", seed=0)
    old, old_files = _saved(tmp_path / "old", seed=1)
    hub.add_repo("org/gru", main_files)
    v1 = hub.add_repo("org/gru", old_files, revision="v1")
    assert not torch.equal(_outputs(main), _outputs(old))

    assert torch.equal(_outputs(from_pretrained("org/gru@v1")), _outputs(old))
    assert torch.equal(_outputs(from_pretrained("org/gru", revision="v1")), _outputs(old))
    assert torch.equal(_outputs(from_pretrained("org/gru")), _outputs(main))
    assert download("org/gru@v1").name == v1

    assert torch.equal(_outputs(from_pretrained("org/gru", revision=v1)), _outputs(old))
    seen = len(hub.requests)
    from_pretrained(f"org/gru@{v1}")  # a cached commit never changes: no request at all
    assert len(hub.requests) == seen
    with pytest.raises(ConfigError, match="pins revision 'v1' but revision='v2'"):
        from_pretrained("org/gru@v1", revision="v2")


def test_unknown_repos_and_revisions_are_clear_errors(hub: HubServer, tmp_path: Path) -> None:
    hub.add_repo("org/gru", _saved(tmp_path / "m", seed=0)[1])
    with pytest.raises(WeightsError, match="'org/nothing' was not found on http://127.0.0.1"):
        from_pretrained("org/nothing")
    with pytest.raises(ConfigError, match="has no revision 'v9'"):
        from_pretrained("org/gru@v9")
    hub.add_repo("org/empty", {"README.md": b"# nothing here"})
    with pytest.raises(WeightsError, match="is not a seqzoo model: it has no config.json"):
        from_pretrained("org/empty")
    assert hub.requests_to("GET", "/resolve/") == []  # refused before downloading anything


class _Trap:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_a_pickle_only_repo_is_refused_before_any_download(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("something tried to unpickle")

    for owner, name in ((torch, "load"), (pickle, "load"), (pickle, "loads")):
        monkeypatch.setattr(owner, name, refuse)
    marker = tmp_path / "unpickled.marker"
    config = {"model": "gru", "config": {"input_size": 3}}
    hub.add_repo(
        "org/pickled",
        {
            "config.json": json.dumps(config).encode(),
            "pytorch_model.bin": pickle.dumps(_Trap(marker)),
        },
    )
    with pytest.raises(WeightsError, match="only pickle weights \\(pytorch_model.bin\\)") as error:
        from_pretrained("org/pickled")
    assert "arbitrary code" in str(error.value)
    assert hub.requests_to("GET", "/resolve/") == [] and hub.requests_to("HEAD") == []
    assert not marker.exists()


def test_a_zoo_entry_can_name_a_hub_repo_with_checksums(hub: HubServer, tmp_path: Path) -> None:
    model, files = _saved(tmp_path / "m", seed=0)
    hub.add_repo("seqzoo/tiny-gru", files)
    checksums = json.loads(files["config.json"])["seqzoo"]["files"]
    entries = {
        "tiny-gru": ("seqzoo/tiny-gru", {"files": checksums}),
        "tampered": ("seqzoo/tiny-gru", {"files": {"model.safetensors": "f" * 64}}),
    }
    registry = Registry([_Zoo(entries)])
    loaded = from_pretrained("tiny-gru", registry=registry)
    assert torch.equal(_outputs(loaded), _outputs(model))
    with pytest.raises(WeightsError, match="checksum mismatch for model.safetensors"):
        from_pretrained("tampered", registry=registry)


class _Zoo:
    SEQZOO_HOOK_API = 1

    def __init__(self, entries: dict[str, tuple[Any, dict[str, Any]]]) -> None:
        self.entries = entries

    @hookimpl
    def register_zoo(self, register: Any) -> None:
        for name, (target, metadata) in self.entries.items():
            register(name, target, description="test entry", **metadata)


def test_zoo_names_resolve_through_the_registry_and_check_their_checksums(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, saved = _saved(tmp_path / "tiny", seed=0)
    files = json.loads(saved["config.json"])["seqzoo"]["files"]
    wrong = {"model.safetensors": "0" * 64}
    # bundled weights: a "module:attr" factory, imported only when the entry is loaded
    (tmp_path / "zoo_paths_for_test.py").write_text(
        f"def tiny():\n    return {str(tmp_path / 'tiny')!r}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry(
        plugins=[
            _Zoo(
                {
                    "tiny-gru": (lambda: tmp_path / "tiny", {"files": files, "task": "forecast"}),
                    "tampered": (lambda: str(tmp_path / "tiny"), {"files": wrong}),
                    "nowhere": (lambda: "no such place", {}),
                    "bundled": ("zoo_paths_for_test:tiny", {"files": files}),
                }
            )
        ]
    )
    for name in ("tiny-gru", "bundled"):
        assert torch.equal(_outputs(from_pretrained(name, registry=registry)), _outputs(model))
    with pytest.raises(WeightsError, match="checksum mismatch for model.safetensors") as error:
        from_pretrained("tampered", registry=registry)
    assert "zoo catalogue" in str(error.value)
    with pytest.raises(WeightsError, match="neither an existing directory nor a Hub repo id"):
        from_pretrained("nowhere", registry=registry)
    with pytest.raises(UnknownNameError, match="did you mean 'tiny-gru'"):
        from_pretrained("tiny-gr", registry=registry)


def test_push_sends_every_file_in_one_commit(hub: HubServer, tmp_path: Path) -> None:
    model, files = _saved(tmp_path / "m", seed=0, dataset="sunspots", metrics={"mae": 0.5})
    plan = plan_push(tmp_path / "m", "me/gru")
    assert plan.files == ["README.md", "config.json", "model.safetensors"]
    assert plan.commit_message == f"Upload gru model with seqzoo {seqzoo.__version__}"

    info = push_to_hub(tmp_path / "m", "me/gru", token="hf_test_token")
    (commit,) = hub.commits
    assert len(hub.requests_to("POST", "/commit/")) == 1
    assert commit.files == files  # every file, byte for byte, in one commit
    assert (commit.repo_id, commit.revision, commit.summary) == (
        "me/gru",
        "main",
        plan.commit_message,
    )
    assert commit.authorization == "Bearer hf_test_token"
    assert info.oid == commit.sha and info.commit_url.endswith(f"/me/gru/commit/{commit.sha}")
    (card,) = hub.validated  # the model card's metadata went through the Hub's YAML check
    assert card["library_name"] == "seqzoo" and card["datasets"] == ["sunspots"]

    assert torch.equal(_outputs(from_pretrained("me/gru")), _outputs(model))  # and back

    other, _ = _saved(tmp_path / "v2", seed=5)
    push_to_hub(tmp_path / "v2", "me/gru", revision="v2", commit_message="second try")
    assert [(c.revision, c.summary) for c in hub.commits[1:]] == [("v2", "second try")]
    assert torch.equal(_outputs(from_pretrained("me/gru@v2")), _outputs(other))
    assert torch.equal(_outputs(from_pretrained("me/gru")), _outputs(model))  # main untouched


def test_plan_push_refuses_pickles_and_changed_weights(tmp_path: Path) -> None:
    _saved(tmp_path / "m", seed=0)
    (tmp_path / "m" / ".cache").mkdir()
    (tmp_path / "m" / ".cache" / "x.lock").write_text("")
    assert ".cache/x.lock" not in plan_push(tmp_path / "m", "me/gru").files  # hidden: left out
    (tmp_path / "m" / "optimizer.pt").write_bytes(b"pickle")
    with pytest.raises(WeightsError, match="holds pickle files \\(optimizer.pt\\)"):
        plan_push(tmp_path / "m", "me/gru")
    (tmp_path / "m" / "optimizer.pt").unlink()
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b" ")
    with pytest.raises(WeightsError, match="model.safetensors does not match the sha256"):
        plan_push(tmp_path / "m", "me/gru")
    with pytest.raises(ConfigError, match="not a Hub repo id"):
        plan_push(tmp_path / "m", "no-org")
