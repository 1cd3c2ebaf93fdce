"""The bundled zoo: the catalogue, offline loading with checksums, reference outputs, honest
metrics, the ``seqzoo zoo`` / ``seqzoo export`` commands, and a deterministic rebuild."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import REPO, run_seqzoo
from safetensors.torch import load_file

import seqzoo.plugins.models
import seqzoo.zoo.sources
from seqzoo.core.errors import WeightsError
from seqzoo.core.hookspecs import hookimpl
from seqzoo.core.registry import Registry
from seqzoo.zoo import catalogue, from_pretrained
from seqzoo.zoo.build import RECIPES, REFERENCE_NAME, build_zoo
from seqzoo.zoo.hub import file_sha256
from seqzoo.zoo.zeroshot import TASK as ZERO_SHOT
from seqzoo.zoo.zeroshot import ZERO_SHOT_RECIPES

ENTRIES: dict[str, dict[str, Any]] = catalogue.read_catalogue()["entries"]
NAMES = sorted(ENTRIES)
BUILTIN_ARCHITECTURES = {"linear", "rnn", "gru", "lstm", "conv-recurrent", "embedding-lstm"}
OFFLINE = {"HF_HUB_OFFLINE": "1"}


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """HF_HUB_OFFLINE=1, and any Hub download recorded and refused: the zoo needs none."""
    calls: list[tuple[Any, ...]] = []

    def refuse(*args: Any, **kwargs: Any) -> Path:
        calls.append(args)
        raise WeightsError(f"test: no Hub access allowed, asked for {args}")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(seqzoo.zoo.sources, "download", refuse)
    return calls


def test_the_catalogue_holds_every_recipe_and_every_built_in_architecture() -> None:
    assert sorted([*RECIPES, *ZERO_SHOT_RECIPES]) == NAMES
    architectures = {entry["architecture"] for entry in ENTRIES.values()}
    # a forecast-wrapper entry runs a built-in network inside (gru-co2: a GRU)
    architectures |= {
        entry["training"]["model"]["inner"]["name"]
        for entry in ENTRIES.values()
        if entry["architecture"] == "forecast-wrapper"
    }
    # an ensemble entry's members are its recipe's model (charlstm-pydoc: embedding-lstm)
    architectures |= {
        entry["training"]["model"]["name"]
        for entry in ENTRIES.values()
        if entry["architecture"] == "ensemble"
    }
    assert architectures >= BUILTIN_ARCHITECTURES | {"forecast-wrapper", "ensemble"}
    for name, entry in ENTRIES.items():
        assert entry["repo_id"] == f"seqzoo/{name}"
        recipe = RECIPES.get(name) or {"dataset": {"name": "synthetic-corpus"}}
        assert entry["dataset"]["name"] == recipe["dataset"]["name"]
        assert entry["training"]["command"] == f"seqzoo zoo build {name}"


def test_the_plugin_registers_each_entry_with_its_bundled_directory() -> None:
    registry = Registry([catalogue], entry_points=False)
    assert registry.names("zoo") == NAMES
    for spec in registry.list("zoo"):
        assert Path(spec.factory) == catalogue.MODELS_DIR / spec.name
        assert Path(spec.factory).is_dir()
        assert set(catalogue.METADATA_KEYS) <= set(spec.metadata)
        assert spec.metadata["files"] == ENTRIES[spec.name]["files"]
        assert spec.description == ENTRIES[spec.name]["description"]


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_loads_offline_and_reproduces_its_reference_outputs(
    name: str, offline: list[tuple[Any, ...]]
) -> None:
    reference = load_file(str(catalogue.MODELS_DIR / name / REFERENCE_NAME))
    for source in (name, f"seqzoo/{name}"):  # the zoo name, and the repo id it bundles
        model = from_pretrained(source, device="cpu")
        assert not model.training and model.registry_name == ENTRIES[name]["architecture"]
        with torch.no_grad():
            output = model(reference["input"])
        rtol, atol = model.reference_tolerance  # wider for a bfloat16 entry
        torch.testing.assert_close(output, reference["output"], rtol=rtol, atol=atol)
    assert offline == []  # nothing was asked of the Hub


def test_a_repo_id_with_a_revision_goes_to_the_hub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = shutil.copytree(catalogue.MODELS_DIR / "lstm-sunspots", tmp_path / "snapshot")
    calls: list[tuple[Any, ...]] = []

    def fake_download(repo_id: str, revision: str | None, **kwargs: Any) -> Path:
        calls.append((repo_id, revision))
        return copy

    monkeypatch.setattr(seqzoo.zoo.sources, "download", fake_download)
    from_pretrained("seqzoo/lstm-sunspots", revision="v2", device="cpu")
    from_pretrained("seqzoo/lstm-sunspots@v3", device="cpu")
    assert calls == [("seqzoo/lstm-sunspots", "v2"), ("seqzoo/lstm-sunspots", "v3")]


def test_the_catalogue_checksums_and_sizes_match_the_bundled_files() -> None:
    for name, entry in ENTRIES.items():
        directory = catalogue.MODELS_DIR / name
        present = sorted(p.name for p in directory.iterdir())
        assert present == sorted(entry["files"]), name  # no file unaccounted for
        for file, digest in entry["files"].items():
            assert file_sha256(directory / file) == digest, f"{name}/{file}"
        assert entry["size_bytes"] == sum((directory / f).stat().st_size for f in present)


class _TestZoo:
    """A zoo plugin with one entry: a copy of a bundled directory, the catalogue's checksums."""

    SEQZOO_HOOK_API = 1

    def __init__(self, name: str, root: Path) -> None:
        self.name, self.root = name, root

    @hookimpl
    def register_zoo(self, register: Any) -> None:
        factory, keywords = catalogue.registration(self.name, ENTRIES[self.name], self.root)
        register(self.name, factory, **keywords)


@pytest.mark.parametrize("file", ["model.safetensors", "README.md", REFERENCE_NAME])
def test_one_flipped_byte_in_a_zoo_file_is_a_checksum_error_naming_it(
    file: str, tmp_path: Path
) -> None:
    name = "lstm-sunspots"
    copy = shutil.copytree(catalogue.MODELS_DIR / name, tmp_path / "models" / name)
    registry = Registry([seqzoo.plugins.models, _TestZoo(name, tmp_path)], entry_points=False)
    assert from_pretrained(name, device="cpu", registry=registry) is not None  # intact: loads
    data = bytearray((copy / file).read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / file).write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=f"checksum mismatch for {re.escape(file)}") as error:
        from_pretrained(name, device="cpu", registry=registry)
    assert "the zoo catalogue records sha256" in str(error.value)


def test_every_model_beats_its_naive_baseline_on_the_test_split() -> None:
    for name, entry in ENTRIES.items():
        metrics = entry["metrics"]
        key, model, baselines = metrics["headline"], metrics["model"], metrics["baselines"]
        if entry["task"] == ZERO_SHOT:  # scored on held-out series, relative to seasonal naive
            assert key == "relative_mase" and metrics["samples"] >= 150, name
            assert baselines["seasonal naive"]["relative_mase"] == 1.0
            assert model["relative_mase"] < 1 and model["relative_wql"] < 1, name
            assert {"AutoETS", "AutoTheta", "AutoARIMA"} <= set(baselines), name
            continue
        assert metrics["classical"]["name"] in baselines, name
        # five seeds; the folder ships the median one (its weights give the model's row) or
        # the five as one ensemble
        seeds = metrics["seeds"]
        assert seeds["seeds"] == [0, 1, 2, 3, 4] and entry["training"]["seed"] == seeds["shipped"]
        best = min(v[key] for v in baselines.values() if key in v)
        if seeds["shipped"] == "ensemble":
            assert entry["architecture"] == "ensemble", name
            # MAE and log loss are convex in the prediction: the ensemble does no worse than
            # its seeds on average (Jensen), on every split
            assert model[key] <= seeds["mean"][key], name
            assert metrics["ensemble_verdict"]["beats_all"] is (model[key] < best), name
        else:
            assert seeds["per_seed"][str(seeds["shipped"])] == model, name
            ranked = sorted(seeds["seeds"], key=lambda s: (seeds["per_seed"][str(s)][key], s))
            assert ranked[2] == seeds["shipped"], name
        verdict = metrics["verdict"]
        assert verdict["beats_all"] is (seeds["mean"][key] < best), name
        if entry["task"] == "forecast":
            # the statsforecast baselines, fit in the same build on the same test targets
            assert metrics["statsforecast"]["computed"] is True, name
            assert {"AutoETS", "AutoARIMA", "AutoTheta", "MSTL"} <= set(baselines), name
            assert seeds["mean"]["mae"] < baselines["persistence"]["mae"], name
            split = entry["dataset"]["config"]
            assert (split["validation"], split["test"]) == (0.15, 0.15), name  # the default
            assert key == "mae"
            assert model["mae"] < baselines["persistence"]["mae"], name
            assert ("seasonal_naive" in baselines) == (name != "rnn-nile")  # nile: no season
            assert re.match(r"arima\(\d,\d,\d\)|ets", metrics["classical"]["name"])
        elif entry["task"] == "regression":
            assert model["mae"] < baselines["mean"]["mae"], name
        else:
            assert key == "bpc" and model["bpc"] < baselines["unigram"]["bpc"], name


def test_the_whole_zoo_is_small() -> None:
    files = [p for p in catalogue.ZOO_ROOT.joinpath("models").rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files) + catalogue.CATALOGUE_PATH.stat().st_size
    assert 0 < total < 50 * 1024 * 1024


def _numbers(value: Any) -> Any:
    """Every number of a nested metrics record as pytest.approx (cards print 4 digits)."""
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-4, abs=1e-9)
    return value


def test_rebuilding_entries_reproduces_the_catalogue_numbers(tmp_path: Path) -> None:
    names = ["linear-diabetes", "rnn-nile"]  # the quick ones: a few seconds per seed
    built: dict[str, dict[str, Any]] = {}
    for name in names:
        # the shipped seed alone, trained first here (fifth or so in the full build): a
        # seed's numbers do not depend on the seeds trained before it
        shipped = ENTRIES[name]["metrics"]["seeds"]["shipped"]
        built.update(build_zoo([name], out=tmp_path, seed=shipped, seeds=1))
    rebuilt = catalogue.read_catalogue(tmp_path / "catalogue.json")["entries"]
    assert sorted(rebuilt) == names
    for name in names:
        # the card's numbers, to the digits a card prints; file hashes are bit-for-bit only on
        # the same CPU and library versions (the catalogue records those), so they are not
        # compared here
        metrics, recorded = built[name]["metrics"], ENTRIES[name]["metrics"]
        shipped = str(recorded["seeds"]["shipped"])
        assert metrics["model"] == _numbers(recorded["model"])
        assert metrics["seeds"]["per_seed"] == _numbers(
            {shipped: recorded["seeds"]["per_seed"][shipped]}
        )
        if importlib.util.find_spec("statsforecast") is not None:  # else no statsforecast rows
            assert metrics["baselines"] == _numbers(recorded["baselines"])
            assert metrics.get("statsforecast") == recorded.get("statsforecast")
        else:
            assert set(metrics["baselines"]) <= set(recorded["baselines"])
        assert rebuilt[name]["training"]["seed"] == recorded["seeds"]["shipped"]
        assert rebuilt[name]["reference"]["shapes"] == ENTRIES[name]["reference"]["shapes"]
        # a forecaster's folder stores its last window, listed like every file; a table's not
        stored = "last_window.json" in rebuilt[name]["files"]
        assert stored == (name == "rnn-nile") == ("last_window.json" in ENTRIES[name]["files"])
    window = json.loads((tmp_path / "models" / "rnn-nile" / "last_window.json").read_text())
    assert len(window["rows"]) == window["window"] == 5
    bundled = catalogue.bundled_directory("rnn-nile") / "last_window.json"
    assert window["rows"] == json.loads(bundled.read_text())["rows"]  # the data's own rows
    card = (tmp_path / "models" / "rnn-nile" / "README.md").read_text()
    assert f"| `last_window.json` | `{rebuilt['rnn-nile']['files']['last_window.json']}` |" in card


def test_zoo_list_shows_a_table_and_json() -> None:
    table = run_seqzoo("zoo", "list", env=OFFLINE)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["NAME", "ARCHITECTURE", "TASK", "DATA", "SIZE", "TEST", "METRIC"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert sorted(rows) == NAMES
    assert "lstm  " in rows["lstm-sunspots"] and "sunspots" in rows["lstm-sunspots"]
    assert "mae " in rows["lstm-sunspots"] and "(persistence " in rows["lstm-sunspots"]
    assert "bpc " in rows["charlstm-pydoc"] and re.search(r"\d (kB|MB) ", rows["charlstm-pydoc"])
    records = json.loads(run_seqzoo("zoo", "list", "--json", env=OFFLINE).stdout)
    by_name = {r["name"]: r for r in records}
    assert sorted(by_name) == NAMES
    assert by_name["gru-co2"]["metrics"] == ENTRIES["gru-co2"]["metrics"]


def test_zoo_info_prints_the_card() -> None:
    result = run_seqzoo("zoo", "info", "lstm-sunspots", env=OFFLINE)
    assert result.returncode == 0, result.stderr
    card = result.stdout
    assert card.startswith("---\n") and "# lstm-sunspots" in card
    assert "seqzoo zoo build lstm-sunspots" in card
    assert "| persistence |" in card and "| arima(9,0,0) |" in card
    assert 'seqzoo.from_pretrained("seqzoo/lstm-sunspots")' in card
    missing = run_seqzoo("zoo", "info", "lstm-sunspot", env=OFFLINE)
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: ") and "'lstm-sunspots'" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_zoo_download_of_a_bundled_entry_prints_its_path() -> None:
    for target in ("gru-co2", "seqzoo/gru-co2"):
        result = run_seqzoo("zoo", "download", target, env=OFFLINE)
        assert result.returncode == 0, result.stderr
        assert "bundled" in result.stdout
        assert result.stdout.strip().endswith(str(catalogue.MODELS_DIR / "gru-co2"))


def test_zoo_push_dry_run_prints_the_plan() -> None:
    result = run_seqzoo("zoo", "push", "rnn-nile", "someone/rnn-nile", "--dry-run", env=OFFLINE)
    assert result.returncode == 0, result.stderr
    assert "would push 5 files" in result.stdout and "someone/rnn-nile" in result.stdout
    assert "last_window.json" in result.stdout  # the history `seqzoo predict` continues
    for file in ENTRIES["rnn-nile"]["files"]:
        assert f"- {file}" in result.stdout
    unknown = run_seqzoo("zoo", "build", "rnn-nil", env=OFFLINE)
    assert unknown.returncode == 2 and "did you mean 'rnn-nile'" in unknown.stderr


def test_export_verifies_the_onnx_step_against_pytorch(tmp_path: Path) -> None:
    target = tmp_path / "lstm-sunspots.onnx"
    result = run_seqzoo("export", "lstm-sunspots", str(target), "--verify", env=OFFLINE)
    assert result.returncode == 0, result.stderr
    assert target.is_file()
    found = re.search(r"max \|onnx - torch\| over 20 steps = (\S+)", result.stdout)
    assert found is not None, result.stdout
    assert float(found.group(1)) <= 1e-5
    # the graph works in model units: the file carries the scalers that map raw values to them
    from seqzoo.zoo.onnx import read_export_info

    info = read_export_info(target)
    assert info.task == "forecast"
    from seqzoo.zoo.layout import parse_config

    document = json.loads((catalogue.MODELS_DIR / "lstm-sunspots" / "config.json").read_text())
    saved = parse_config(document, "lstm-sunspots")  # any config.json layout, one record
    assert info.preprocessing == saved["preprocessing"]
    assert info.preprocessing["input_scaler"]["scale"][0] > 1  # raw sunspot numbers' spread


def test_listing_the_zoo_imports_no_torch() -> None:
    code = (
        "import sys\n"
        "from seqzoo.core.api import get_registry\n"
        "import seqzoo.zoo.commands\n"
        "assert get_registry().names('zoo')\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_zoo_push_then_download_a_revision_through_a_local_hub(
    hub: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`zoo push` sends a bundled entry in one commit; `zoo download --revision` fetches that
    revision from the Hub (the bundled copy answers only when no revision is asked for)."""
    directory = catalogue.MODELS_DIR / "rnn-nile"
    env = {"HF_TOKEN": "hf_test_token"}
    pushed = run_seqzoo("zoo", "push", "rnn-nile", "seqzoo/rnn-nile", "--revision", "v2", env=env)
    assert pushed.returncode == 0, pushed.stderr
    (commit,) = hub.commits
    assert (commit.repo_id, commit.revision) == ("seqzoo/rnn-nile", "v2")
    assert commit.files == {p.name: p.read_bytes() for p in directory.iterdir()}
    assert commit.sha in pushed.stdout

    got = run_seqzoo("zoo", "download", "rnn-nile", "--revision", "v2")
    assert got.returncode == 0, got.stderr
    snapshot = Path(got.stdout.strip())
    assert snapshot.is_dir() and directory not in snapshot.parents
    for name in ("config.json", "model.safetensors", "README.md"):
        assert (snapshot / name).read_bytes() == (directory / name).read_bytes()


# -- seeds, baselines and the printed table --------------------------------------------------

TINY = {
    "description": "Tiny Elman RNN on the Nile (a test recipe)",
    "model": {"name": "rnn", "hidden_size": 4},
    "dataset": {"name": "nile", "window": 5, "horizon": 1, "validation": 0.15, "test": 0.15},
    "optimizer": {"name": "adam", "lr": 0.01},
    "trainer": {"name": "supervised", "epochs": 2, "batch_size": 16},
    "classical": {"kind": "arima", "order": [0, 1, 1]},
}


def _printed_tables(output: str) -> dict[str, dict[str, str]]:
    """``{entry: {row label: value}}`` of the tables ``seqzoo zoo build`` prints, plus each
    entry's ``best`` and ``verdict`` lines under those keys."""
    tables: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in output.splitlines():
        head = re.match(r"(\S+): test \w+ ", line)
        if head:
            current = tables.setdefault(head.group(1), {})
        elif current is not None and line.startswith("  best baseline: "):
            current["best"] = line.removeprefix("  best baseline: ")
        elif current is not None and line.startswith("  The "):
            key = "ensemble_verdict" if "-seed ensemble's " in line else "verdict"
            current[key] = line.strip()
        elif current is not None and line.startswith("  statsforecast "):
            current["statsforecast"] = line.strip()
        elif current is not None and (row := re.match(r"  (\S.*?)\s{2,}(\S.*)$", line)):
            current[row.group(1)] = row.group(2)
    return tables


def _card_rows(card: str) -> dict[str, list[str]]:
    """The Results table of a card: ``{row label: cells}``, the header row under ``model``."""
    section = card.split("## Results", 1)[1].split("## Files", 1)[0]
    rows = [line.strip("|").split(" | ") for line in section.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows}


def _build_tiny(monkeypatch: pytest.MonkeyPatch, out: Path, *args: str) -> str:
    """``seqzoo zoo build tiny-nile --out OUT ARGS`` in this process (the recipe is patched
    in); returns what it printed."""
    import io
    from contextlib import redirect_stdout

    from seqzoo.cli import main

    monkeypatch.setitem(RECIPES, "tiny-nile", TINY)
    printed = io.StringIO()
    with redirect_stdout(printed):
        main(["zoo", "build", "tiny-nile", "--out", str(out), *args])
    return printed.getvalue()


def test_zoo_build_prints_the_numbers_its_card_and_catalogue_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqzoo.zoo.card import format_number

    output = _build_tiny(monkeypatch, tmp_path)
    table = _printed_tables(output)["tiny-nile"]
    entry = catalogue.read_catalogue(tmp_path / "catalogue.json")["entries"]["tiny-nile"]
    metrics = entry["metrics"]
    seeds = metrics["seeds"]
    assert seeds["seeds"] == [0, 1, 2, 3, 4] and entry["training"]["seed"] == seeds["shipped"]
    per_seed = [seeds["per_seed"][str(s)]["mae"] for s in seeds["seeds"]]
    assert seeds["per_seed"][str(seeds["shipped"])]["mae"] == sorted(per_seed)[2]  # the median
    assert metrics["model"] == seeds["per_seed"][str(seeds["shipped"])]  # what the weights score
    assert seeds["mean"]["mae"] == pytest.approx(sum(per_seed) / 5, rel=1e-12)
    assert len(set(per_seed)) == 5  # the seeds differ: five trainings, not one five times

    card = (tmp_path / "models" / "tiny-nile" / "README.md").read_text(encoding="utf-8")
    rows = _card_rows(card)
    column = rows["model"].index("mae")
    shipped = f"this model (seed {seeds['shipped']})"
    mean_row = "mean ± std (5 seeds)"
    expected = {
        shipped: format_number(metrics["model"]["mae"]),
        mean_row: f"{format_number(seeds['mean']['mae'])} ± {format_number(seeds['std']['mae'])}",
        **{k: format_number(v["mae"]) for k, v in metrics["baselines"].items()},
    }
    # ("statsforecast" is the line saying its baselines were left out, where it is missing)
    skipped = ("model", "best", "verdict", "statsforecast")
    printed = {k: v for k, v in table.items() if k not in skipped}
    assert printed == expected  # printed = the catalogue's numbers, card digits
    if importlib.util.find_spec("statsforecast") is None:
        assert "not computed" in table["statsforecast"] and "not computed" in card
    assert rows["**this model**"][column] == printed[shipped]  # = the card's
    assert rows[mean_row][column] == printed[mean_row]
    for label in metrics["baselines"]:
        assert rows[label][column] == printed[label], label
    assert f"this folder holds seed {seeds['shipped']}'s weights" in card
    assert table["verdict"] in card.replace("\n", " ")
    best = metrics["verdict"]["best_baseline"]
    assert table["best"] == f"{best} {format_number(metrics['baselines'][best]['mae'])}"
    assert best == min(metrics["baselines"], key=lambda k: metrics["baselines"][k]["mae"])
    beats = seeds["mean"]["mae"] < metrics["baselines"][best]["mae"]
    assert metrics["verdict"]["beats_all"] is beats
    assert ("beats every baseline" in table["verdict"]) is beats
    if not beats:  # it names what it loses to, and by how much
        loss = metrics["verdict"]["loses_to"][0]
        assert loss["baseline"] == best and f"{best} (" in table["verdict"]
        assert loss["by"] == pytest.approx(seeds["mean"]["mae"] - metrics["baselines"][best]["mae"])
    if importlib.util.find_spec("statsforecast") is not None:
        assert {"AutoETS", "AutoARIMA", "AutoTheta", "MSTL"} <= set(metrics["baselines"])
        assert metrics["statsforecast"]["computed"] is True
        assert "MSTL reduces to its trend model" in card  # the Nile has no season
    else:
        assert "statsforecast" in table


def test_a_recipe_can_ship_its_seeds_as_one_ensemble(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqzoo.zoo.card import format_number

    monkeypatch.setitem(TINY, "ship", "ensemble")
    output = _build_tiny(monkeypatch, tmp_path)
    table = _printed_tables(output)["tiny-nile"]
    entry = catalogue.read_catalogue(tmp_path / "catalogue.json")["entries"]["tiny-nile"]
    metrics, seeds = entry["metrics"], entry["metrics"]["seeds"]
    assert seeds["shipped"] == entry["training"]["seed"] == "ensemble"
    assert entry["architecture"] == "ensemble"
    per_seed = [seeds["per_seed"][str(s)]["mae"] for s in seeds["seeds"]]
    assert metrics["model"]["mae"] <= seeds["mean"]["mae"]  # never worse than the seeds' mean
    assert metrics["model"]["mae"] not in per_seed  # its own score, not one seed's
    # the folder holds the five trained models; loaded, it scores what the card says
    from seqzoo.core.metrics import evaluate
    from seqzoo.core.workflow import build_parts

    model = from_pretrained(tmp_path / "models" / "tiny-nile")
    assert model.registry_name == "ensemble" and len(model.members) == 5
    _, data = build_parts({"dataset": TINY["dataset"], "model": None}, model_too=False)
    report = evaluate(model, data, "test")
    assert report["model"]["mae"] == pytest.approx(metrics["model"]["mae"], rel=1e-6)
    assert table["this model (the seeds' ensemble)"] == format_number(metrics["model"]["mae"])
    card = (tmp_path / "models" / "tiny-nile" / "README.md").read_text(encoding="utf-8")
    assert _card_rows(card)["**this model**"][0] == format_number(metrics["model"]["mae"])
    assert "this folder holds all of their weights as one ensemble" in card
    assert table["ensemble_verdict"].startswith("The 5-seed ensemble's test mae")
    assert table["ensemble_verdict"] in card.replace("\n", " ")
    assert table["verdict"].startswith("The 5-seed mean test mae")  # still told


def test_without_statsforecast_the_build_works_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "statsforecast", None)  # any import of it fails
    output = _build_tiny(monkeypatch, tmp_path, "--seeds", "2")
    table = _printed_tables(output)["tiny-nile"]
    reason = "statsforecast is not installed (pip install 'seqzoo[bench]')"
    assert table["statsforecast"] == f"statsforecast baselines not computed: {reason}"
    entry = catalogue.read_catalogue(tmp_path / "catalogue.json")["entries"]["tiny-nile"]
    assert entry["metrics"]["statsforecast"] == {"computed": False, "reason": reason}
    assert not {"AutoETS", "AutoARIMA", "AutoTheta", "MSTL"} & set(entry["metrics"]["baselines"])
    assert entry["metrics"]["seeds"]["seeds"] == [0, 1]
    assert entry["training"]["command"] == "seqzoo zoo build tiny-nile --seeds 2"
    card = (tmp_path / "models" / "tiny-nile" / "README.md").read_text(encoding="utf-8")
    assert f"the statsforecast baselines were not computed: {reason}" in card.replace("\n", " ")


def test_statsforecast_baselines_follow_cross_validation_without_refit() -> None:
    """fit once + ``forward`` at each test target = ``cross_validation(h=1, refit=False)``,
    and the targets are the model's own test targets (its Naive = persistence)."""
    pytest.importorskip("statsforecast")
    import numpy as np
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta

    from seqzoo.core.metrics import evaluate, regression_metrics
    from seqzoo.core.workflow import build_parts
    from seqzoo.zoo.baselines import forecast_frame, statsforecast_baselines

    model, data = build_parts({"dataset": TINY["dataset"], "model": TINY["model"]})
    naive = evaluate(model, data, "test")["baselines"]
    found = statsforecast_baselines(data, naive)
    assert found["fit_rows"] == data.metadata["split"]["test"][0] == 85
    series, _, first, stop = forecast_frame(data)
    frame = pd.DataFrame({"unique_id": "nile", "ds": np.arange(stop), "y": series[:stop]})
    sf = StatsForecast(models=[AutoETS(season_length=1), AutoTheta(season_length=1)], freq=1)
    cv = sf.cross_validation(df=frame, h=1, step_size=1, n_windows=stop - 85, refit=False)
    scored = cv.iloc[first - 85 :]  # the first `window` test rows are inputs, not targets
    assert np.array_equal(scored["y"].to_numpy(), series[first:stop])
    for label in ("AutoETS", "AutoTheta"):
        expected = regression_metrics(series[first:stop], scored[label].to_numpy())
        assert found["baselines"][label] == pytest.approx(expected, rel=1e-9), label
    broken = {"persistence": {"mae": naive["persistence"]["mae"] * 1.01}}
    with pytest.raises(RuntimeError, match="not the same test points"):
        statsforecast_baselines(data, broken)


def test_seed_summary_ships_the_median_seed_and_the_verdict_names_its_losses() -> None:
    from seqzoo.zoo.baselines import seed_summary, verdict

    reports = {s: {"mae": v} for s, v in zip(range(5), [3.0, 1.0, 5.0, 2.0, 4.0], strict=True)}
    summary = seed_summary("mae", reports)
    assert summary["shipped"] == 0 and summary["mean"]["mae"] == 3.0  # 3.0 is the median
    assert summary["std"]["mae"] == pytest.approx(2.5**0.5)  # the sample std (ddof 1)
    assert seed_summary("mae", {7: {"mae": 1.0}, 8: {"mae": 1.0}})["shipped"] == 7
    result = verdict("mae", 3.0, {"a": {"mae": 4.0}, "b": {"mae": 2.0}, "c": {"mae": 2.5}})
    assert not result["beats_all"] and result["best_baseline"] == "b"
    assert [(x["baseline"], x["by"]) for x in result["loses_to"]] == [("b", 1.0), ("c", 0.5)]
    assert result["loses_to"][0]["percent"] == 50.0
    assert verdict("mae", 1.0, {"a": {"mae": 4.0}})["beats_all"] is True


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_bundled_card_shows_the_catalogue_numbers_and_verdict(name: str) -> None:
    from seqzoo.zoo.card import format_number
    from seqzoo.zoo.scorecard import verdict_text

    metrics = ENTRIES[name]["metrics"]
    card = (catalogue.MODELS_DIR / name / "README.md").read_text(encoding="utf-8")
    rows = _card_rows(card)
    columns = rows.pop("model")
    seeds = metrics["seeds"]
    expected = {"**this model**": metrics["model"], **metrics["baselines"]}
    for label, scores in expected.items():
        assert rows[label] == [format_number(scores[k]) for k in columns], label
    mean = [
        f"{format_number(seeds['mean'][k])} ± {format_number(seeds['std'][k])}" for k in columns
    ]
    assert rows["mean ± std (5 seeds)"] == mean
    assert verdict_text(metrics["verdict"], 5) in card.replace("\n", " ")
    if seeds["shipped"] == "ensemble":
        told = verdict_text(metrics["ensemble_verdict"], 5, ensemble=True)
        assert told in card.replace("\n", " ")
        assert "this folder holds all of their weights as one ensemble" in card
    else:
        assert f"this folder holds seed {seeds['shipped']}'s weights" in card


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX advisory locks")
def test_catalogue_updates_from_concurrent_builds_are_serialised(tmp_path: Path) -> None:
    """A build holds the zoo's lock while it merges its entry into catalogue.json, so two
    builds into one zoo cannot both read the old catalogue and drop each other's entry."""
    import fcntl
    import os

    from seqzoo.zoo.build import _locked

    with _locked(tmp_path):
        other = os.open(tmp_path, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):  # a second build would wait here
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
    other = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released: free to take
    finally:
        os.close(other)
