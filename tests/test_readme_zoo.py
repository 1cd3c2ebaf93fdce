"""README's zoo table is the output of ``seqzoo zoo list`` on the bundled catalogue."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("readme_zoo", ROOT / "scripts" / "readme_zoo.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_zoo_table_matches_the_catalogue() -> None:
    script = _script()
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = script.zoo_table()
    # every bundled entry is a row, with its size from the catalogue
    from seqzoo.zoo.catalogue import CATALOGUE_PATH, read_catalogue

    entries = read_catalogue(CATALOGUE_PATH)["entries"]
    assert [line.split()[0] for line in table.splitlines()[1:]] == sorted(entries)
    assert "SIZE" in table.splitlines()[0]
    assert script.replace_table(text, table) == text, (
        "README's zoo table is out of date: run python scripts/readme_zoo.py"
    )


def test_replace_table_swaps_only_the_listing() -> None:
    script = _script()
    text = "intro\n```console\n$ seqzoo zoo list\nold row\nolder row\n$ seqzoo zoo info x\n```\n"
    out = script.replace_table(text, "NAME  SIZE\nnew  1 kB\n")
    assert (
        out
        == "intro\n```console\n$ seqzoo zoo list\nNAME  SIZE\nnew  1 kB\n$ seqzoo zoo info x\n```\n"
    )


def test_readme_scores_table_shows_each_seeded_entrys_catalogue_numbers() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    from seqzoo.zoo.catalogue import CATALOGUE_PATH, read_catalogue

    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    seeded = {
        name: entry["metrics"]
        for name, entry in read_catalogue(CATALOGUE_PATH)["entries"].items()
        if (entry.get("metrics") or {}).get("seeds")
    }
    assert len(seeded) >= 6
    for name, metrics in seeded.items():
        key, seeds = metrics["headline"], metrics["seeds"]
        mean, std = seeds["mean"][key], seeds["std"][key]
        shipped = seeds["shipped"]
        if shipped == "ensemble":  # the folder holds the seeds' ensemble: its own score
            expected = f"{mean:.4g} ± {std:.4g} (ensemble: {metrics['model'][key]:.4g})"
        else:
            ship = seeds["per_seed"][str(shipped)][key]
            expected = f"{mean:.4g} ± {std:.4g} (seed {shipped}: {ship:.4g})"
        assert expected in rows[name], f"README's row for {name} should show {expected}"
