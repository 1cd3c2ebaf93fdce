"""``seqzoo new-plugin``: the generated package installs, passes its own conformance tests and
shows up in ``seqzoo list``; a bad name or an occupied target is refused."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from conftest import REPO, run_seqzoo

from seqzoo.core.errors import ConfigError
from seqzoo.plugins.new_plugin import plugin_names, write_plugin

NAME = "seqzoo-newplugin-demo"  # a distribution name nothing else on the machine uses


def _pip(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def _uninstall(cwd: Path) -> None:
    """Remove the package (also what an earlier failed run left installed); pip exits 0 and
    warns when it is not installed."""
    result = _pip("uninstall", "--yes", NAME, cwd=cwd)
    assert result.returncode == 0, result.stderr


def test_the_generated_plugin_installs_passes_its_tests_and_is_listed(tmp_path: Path) -> None:
    made = run_seqzoo("new-plugin", NAME, "--dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    project = tmp_path / NAME
    package = "seqzoo_newplugin_demo"
    for file in ("pyproject.toml", "README.md", f"src/{package}/__init__.py"):
        assert (project / file).is_file(), file
    assert f"wrote {project / 'pyproject.toml'}" in made.stdout

    _uninstall(tmp_path)
    try:
        # no network: no build isolation (setuptools comes from this environment), no deps
        installed = _pip(
            "install", "--quiet", "--no-build-isolation", "--no-deps", "--no-index",
            "-e", str(project), cwd=tmp_path,
        )  # fmt: skip
        assert installed.returncode == 0, installed.stderr
        environment = {k: v for k, v in os.environ.items() if not k.startswith("SEQZOO_")}
        environment["PYTHONPATH"] = str(REPO)
        tests = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", NAME],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
            env=environment,
        )
        assert tests.returncode == 0, tests.stdout + tests.stderr
        # the conformance checks ran over the plugin's own names, none over nothing
        assert "5 passed" in tests.stdout, tests.stdout
        listed = run_seqzoo("list", "models")
        assert listed.returncode == 0, listed.stderr
        (row,) = [line for line in listed.stdout.splitlines() if line.startswith("newplugin-demo ")]
        assert f"{NAME} 0.1.0" in row
    finally:
        _uninstall(tmp_path)
    importlib.invalidate_caches()
    with pytest.raises(metadata.PackageNotFoundError):  # the environment is clean again
        metadata.distribution(NAME)


def test_names_derive_from_the_package_name() -> None:
    names = plugin_names("seqzoo-my.model")
    assert names["package"] == "seqzoo_my_model"
    assert (names["model"], names["layer"], names["dataset"]) == (
        "my-model",
        "my-model-block",
        "my-model-waves",
    )
    assert names["entry_point"] == "my_model" and names["cls"] == "MyModel"
    assert plugin_names("demo")["package"] == "demo"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("1abc", "not a Python identifier"),
        ("my plugin", "not a valid package name"),
        ("-x", "not a valid package name"),
        ("json", "would shadow"),
        ("seqzoo", "would shadow"),
        ("class", "not a Python identifier"),
    ],
)
def test_a_bad_name_is_refused_and_writes_nothing(name: str, problem: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=problem):
        write_plugin(name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_occupied_target_is_refused_and_kept(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    target.mkdir()
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    result = run_seqzoo("new-plugin", "demo", "--dir", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "exists and is not an empty folder" in result.stderr
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # no staging folder left
    (tmp_path / "file").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="exists and is not an empty folder"):
        write_plugin("file", tmp_path)


def test_an_empty_target_folder_is_filled(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    target = write_plugin("demo", tmp_path)
    assert (target / "src" / "demo" / "model.py").is_file()
    assert (target / "tests" / "test_demo.py").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]
