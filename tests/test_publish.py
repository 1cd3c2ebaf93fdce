"""``seqzoo zoo publish`` / :func:`seqzoo.zoo.publish.publish_run`: a trained run becomes a
zoo entry folder whose record a plugin registers and ``from_pretrained`` loads by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import run_seqzoo

import seqzoo
import seqzoo.plugins.models
from seqzoo.core.errors import ConfigError, WeightsError
from seqzoo.core.hookspecs import hookimpl
from seqzoo.core.registry import Registry
from seqzoo.core.workflow import load_run
from seqzoo.testing import check_zoo_entry
from seqzoo.zoo.catalogue import METADATA_KEYS
from seqzoo.zoo.hub import file_sha256
from seqzoo.zoo.pretrained import from_pretrained
from seqzoo.zoo.publish import entry_metadata, publish_run

NAME = "gru-tiny-sine"
DATASET = {"name": "sine", "length": 300, "window": 12}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-epoch run of a tiny GRU on a short sine series (one per module: about a second)."""
    directory = tmp_path_factory.mktemp("publish") / "run"
    seqzoo.train(
        model={"name": "gru", "hidden_size": 8},
        dataset=DATASET,
        optimizer={"name": "adam", "lr": 0.01},
        epochs=2,
        batch_size=32,
        seed=0,
        quiet=True,
        plot=False,
        run_dir=directory,
    )
    return directory


class _Published:
    """A zoo plugin registering one published folder with the record publish returned."""

    SEQZOO_HOOK_API = 1

    def __init__(self, name: str, folder: Path, record: dict[str, Any]) -> None:
        self.name, self.folder, self.record = name, folder, record

    @hookimpl
    def register_zoo(self, register: Any) -> None:
        register(self.name, str(self.folder), **entry_metadata(self.record))


def _registry(folder: Path, record: dict[str, Any]) -> Registry:
    plugins = [seqzoo.plugins.models, _Published(NAME, folder, record)]
    return Registry(plugins, entry_points=False)


def test_the_published_entry_matches_its_record_and_the_runs_best_model(
    run_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / NAME
    record = publish_run(run_dir, folder, description="A tiny GRU of a sine wave")
    assert sorted(p.name for p in folder.iterdir()) == sorted(record["files"])
    assert {"config.json", "model.safetensors", "README.md", "reference.safetensors"} <= set(
        record["files"]
    )
    for file, digest in record["files"].items():
        assert file_sha256(folder / file) == digest, file
    assert record["size_bytes"] == sum((folder / f).stat().st_size for f in record["files"])
    assert set(METADATA_KEYS) <= set(record)
    assert (record["architecture"], record["task"]) == ("gru", "forecast")
    assert record["dataset"] == {"name": "sine", "config": {"length": 300, "window": 12}}
    metrics = record["metrics"]
    assert (metrics["split"], metrics["headline"], metrics["units"]) == ("test", "mae", "unitless")
    assert metrics["samples"] > 0 and "loss" not in metrics["model"]
    assert (
        set(metrics["model"])
        == set(metrics["baselines"]["persistence"])
        == {
            "mae",
            "rmse",
            "smape",
        }
    )
    assert record["training"]["best_epoch"] in (1, 2)
    assert "quiet" not in record["training"]["trainer"]
    json.dumps(record)  # plain JSON, as a catalogue holds it

    best = load_run(run_dir, "best")
    loaded = from_pretrained(folder, device="cpu")
    inputs = best.data.test.inputs
    with torch.no_grad():
        torch.testing.assert_close(loaded(inputs), best.model(inputs), atol=0, rtol=0)
    assert loaded.preprocessing.to_dict() == best.data.preprocessing.to_dict()
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert f"# {NAME}" in card and "A tiny GRU of a sine wave." in card
    assert f'seqzoo.from_pretrained("{NAME}")' in card


def test_a_plugin_registers_the_published_folder_and_loads_it_by_name(
    run_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / NAME
    record = publish_run(run_dir, folder)
    registry = _registry(folder, record)
    model = from_pretrained(NAME, device="cpu", registry=registry)
    assert model.registry_name == "gru"
    report = check_zoo_entry(NAME, registry=registry)
    assert {"files", "loads", "card", "reference"} <= set(report.passed)
    # the record's checksums guard the folder: a changed weight file is refused by name
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum mismatch for model.safetensors"):
        from_pretrained(NAME, device="cpu", registry=registry)


def test_the_cli_publishes_and_an_installed_plugin_lists_the_entry(
    run_dir: Path, tmp_path: Path, make_distribution: Any
) -> None:
    folder = tmp_path / "zoo" / NAME
    record_file = tmp_path / "record.json"
    result = run_seqzoo(
        "zoo", "publish", str(run_dir), str(folder), "--description", "Tiny GRU",
        "--record", str(record_file),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed == json.loads(record_file.read_text(encoding="utf-8"))
    record = printed[NAME]
    # the same run published twice gives the same files, bit for bit
    again = publish_run(run_dir, tmp_path / "again" / NAME, description="Tiny GRU")
    assert again["files"] == record["files"]

    site = make_distribution(
        distribution="seqzoo-published",
        version="1.0",
        module="seqzoo_published",
        source=f"""
            import json
            import seqzoo
            from seqzoo.zoo.publish import entry_metadata

            SEQZOO_HOOK_API = 1

            @seqzoo.hookimpl
            def register_zoo(register):
                with open({str(record_file)!r}, encoding="utf-8") as file:
                    for name, record in json.load(file).items():
                        register(name, {str(folder)!r}, **entry_metadata(record))
        """,
    )
    listed = run_seqzoo("zoo", "list", paths=(site,))
    assert listed.returncode == 0, listed.stderr
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith(f"{NAME} ")]
    assert "gru" in row and "forecast" in row and "mae " in row and "persistence" in row
    info = run_seqzoo("zoo", "info", NAME, paths=(site,))
    assert info.returncode == 0, info.stderr
    assert "Tiny GRU." in info.stdout


def test_publishing_replaces_a_previous_publication_only(run_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / NAME
    first = publish_run(run_dir, folder, description="first")
    second = publish_run(run_dir, folder, description="second")
    assert first["files"]["README.md"] != second["files"]["README.md"]
    assert "second." in (folder / "README.md").read_text(encoding="utf-8")

    occupied = tmp_path / "notes"
    occupied.mkdir()
    (occupied / "todo.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a saved model"):
        publish_run(run_dir, occupied)
    assert [p.name for p in occupied.iterdir()] == ["todo.txt"]


def test_bad_inputs_are_refused_before_any_write(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a run directory"):
        publish_run(tmp_path, tmp_path / "out")
    with pytest.raises(ConfigError, match="not a zoo entry name"):
        publish_run(run_dir, tmp_path / "out", name="bad name")
    with pytest.raises(ConfigError, match="train, validation or test"):
        publish_run(run_dir, tmp_path / "out", split="holdout")
    assert not (tmp_path / "out").exists()
