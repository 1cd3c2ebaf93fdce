"""Plugin identity: built-ins by module name, first; outside plugins by ``distribution:name``;
a name registered twice fails the later plugin only, and every command keeps working."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pluggy
import pytest
from conftest import REPO, run_seqzoo, write_distribution

from seqzoo.core.errors import DuplicateNameError
from seqzoo.core.registry import BUILTIN_PLUGINS, PluginWarning, Registry

BUILTIN_MODELS = ["conv-recurrent", "embedding-lstm", "gru", "linear", "lstm", "rnn"]

# an outside plugin whose entry point is called `models`, as the built-in's used to be
OUTSIDER = """
import seqzoo
SEQZOO_HOOK_API = 1

@seqzoo.hookimpl
def register_models(register):
    register("outsider", "seqzoo_outsider:make", description="An outside model.")

def make():
    return "outsider"
"""

# an outside plugin registering `lstm` again, next to a name of its own
SECOND_LSTM = """
import seqzoo
SEQZOO_HOOK_API = 1

@seqzoo.hookimpl
def register_models(register):
    register("other-model", "seqzoo_twin:make", description="Not a clash.")
    register("lstm", "seqzoo_twin:make", description="Another LSTM.")

def make():
    return "twin"
"""

OVERRIDE = """
import seqzoo
SEQZOO_HOOK_API = 1

@seqzoo.hookimpl
def register_models(register):
    register("lstm", "seqzoo_mine:make", description="My LSTM.", override=True)

def make(**config):
    return "mine"
"""


@pytest.fixture
def clashing_site(tmp_path: Path) -> Path:
    """One site folder holding both outside plugins, as two pip-installed distributions."""
    site = tmp_path / "site"
    write_distribution(
        site,
        distribution="seqzoo-outsider",
        version="1.0.0",
        module="seqzoo_outsider",
        source=OUTSIDER,
        entry_point="models",
    )
    write_distribution(
        site, distribution="seqzoo-twin", version="2.0.0", module="seqzoo_twin", source=SECOND_LSTM
    )
    return site


def _rows(stdout: str) -> dict[str, str]:
    return {line.split()[0]: line for line in stdout.splitlines()[1:] if line.strip()}


def test_an_outsider_named_models_and_a_second_lstm_leave_every_command_working(
    clashing_site: Path,
) -> None:
    help_run = run_seqzoo("--help", paths=(clashing_site,))
    assert help_run.returncode == 0, help_run.stderr
    assert "Commands:" in help_run.stdout and "train" in help_run.stdout
    # the failure is warned about once, naming both plugins and the three ways out
    warnings = [line for line in help_run.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, help_run.stderr
    (warning,) = warnings
    assert "'seqzoo.plugins.models' (seqzoo 0.1.0)" in warning
    assert "'seqzoo-twin:seqzoo_twin' (seqzoo-twin 2.0.0)" in warning
    assert "pip uninstall seqzoo-twin" in warning
    assert "override=True" in warning and "SEQZOO_LOAD_PLUGINS" in warning

    listing = run_seqzoo("list", "models", paths=(clashing_site,))
    assert listing.returncode == 0, listing.stderr
    assert listing.stderr.count("warning:") == 1
    rows = _rows(listing.stdout)
    for name in BUILTIN_MODELS:
        assert "seqzoo 0.1.0" in rows[name], name
    assert "seqzoo-outsider 1.0.0" in rows["outsider"]
    assert "other-model" not in rows  # nothing of the failed plugin stays
    everything = run_seqzoo("list", paths=(clashing_site,))
    assert everything.returncode == 0 and "is registered by two plugins" in everything.stderr

    shown = run_seqzoo("plugins", paths=(clashing_site,))
    assert shown.returncode == 0, shown.stderr
    rows = _rows(shown.stdout)
    for module in BUILTIN_PLUGINS:
        assert rows[module].split()[1:3] == ["seqzoo", "0.1.0"] and rows[module].endswith("ok")
    assert rows["seqzoo-outsider:models"].endswith("ok")
    assert "FAILED: model 'lstm' is registered by two plugins" in rows["seqzoo-twin:seqzoo_twin"]
    # the built-ins come first, by module name; nothing is listed under a bare `models`
    assert list(rows)[: len(BUILTIN_PLUGINS)] == list(BUILTIN_PLUGINS)
    assert "models" not in rows

    strict = run_seqzoo("plugins", paths=(clashing_site,), env={"SEQZOO_STRICT_PLUGINS": "1"})
    assert strict.returncode == 2
    assert "error: model 'lstm' is registered by two plugins" in strict.stderr


def test_plugins_json_carries_the_key_and_the_entry_point(clashing_site: Path) -> None:
    result = run_seqzoo("plugins", "--json", paths=(clashing_site,))
    assert result.returncode == 0, result.stderr
    records = {r["name"]: r for r in json.loads(result.stdout)}
    outsider = records["seqzoo-outsider:models"]
    assert (outsider["distribution"], outsider["entry_point"]) == ("seqzoo-outsider", "models")
    assert outsider["registered"] == {"model": ["outsider"]} and outsider["error"] is None
    assert records["seqzoo.plugins.models"]["error"] is None
    assert "two plugins" in records["seqzoo-twin:seqzoo_twin"]["error"]


def test_the_later_plugin_fails_whatever_the_order_on_sys_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two outside plugins registering one name: the key, not sys.path, decides who is later
    for distribution in ("seqzoo-aaa", "seqzoo-zzz"):
        module = distribution.replace("-", "_")
        write_distribution(
            tmp_path / distribution,
            distribution=distribution,
            version="1.0",
            module=module,
            source=f"""
                import seqzoo

                @seqzoo.hookimpl
                def register_datasets(register):
                    register("shared-data", "{module}:make")

                def make():
                    return {module!r}
            """,
        )
    for order in (("seqzoo-aaa", "seqzoo-zzz"), ("seqzoo-zzz", "seqzoo-aaa")):
        with monkeypatch.context() as patch:
            for distribution in order:
                patch.syspath_prepend(str(tmp_path / distribution))
            with pytest.warns(PluginWarning, match="'seqzoo-aaa:seqzoo_aaa'.*'seqzoo-zzz"):
                registry = Registry()
            assert registry.create("dataset", "shared-data") == "seqzoo_aaa"
            assert [p.info.name for p in registry.failures] == ["seqzoo-zzz:seqzoo_zzz"]
            assert set(registry.names("model")) >= set(BUILTIN_MODELS)
            with pytest.raises(DuplicateNameError, match="seqzoo-zzz"):
                Registry(strict=True)


def test_an_override_replaces_the_builtin_and_info_says_whose(make_distribution) -> None:
    site = make_distribution(
        distribution="seqzoo-mine", version="0.1.0", module="seqzoo_mine", source=OVERRIDE
    )
    result = run_seqzoo("info", "lstm", "--kind", "model", paths=(site,))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "plugin:   seqzoo-mine:seqzoo_mine (seqzoo-mine 0.1.0)" in result.stdout
    assert (
        "overrides: the model 'lstm' of plugin seqzoo.plugins.models (seqzoo 0.1.0), factory "
        "seqzoo.plugins.models.recurrent:RecurrentModel"
    ) in result.stdout
    (record,) = json.loads(
        run_seqzoo("info", "lstm", "--kind", "model", "--json", paths=(site,)).stdout
    )
    assert record["replaces"] == "seqzoo.plugins.models" and record["override"] is True
    # the built-in layer of the same name is untouched
    layer = run_seqzoo("info", "lstm", "--kind", "layer", paths=(site,))
    assert "plugin:   seqzoo.plugins.layers" in layer.stdout and "overrides" not in layer.stdout


def test_entry_points_naming_a_builtin_module_are_not_loaded_twice(
    make_distribution, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an outside distribution (or seqzoo's own older metadata) pointing at a built-in module
    site = make_distribution(
        distribution="seqzoo-repack",
        version="1.0",
        module="seqzoo_repack",
        source="",
        entry_point="models",
    )
    (entry_points,) = site.glob("*.dist-info/entry_points.txt")
    entry_points.write_text("[seqzoo]\nmodels = seqzoo.plugins.models\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    registry = Registry()
    assert registry.failures == []
    names = [p.info.name for p in registry.plugins]
    assert names == list(BUILTIN_PLUGINS)
    assert registry.get("model", "lstm").plugin.name == "seqzoo.plugins.models"


def test_the_builtins_load_from_a_plain_checkout(tmp_path: Path) -> None:
    """No installed metadata at all: only the package and its two light dependencies, on a
    bare path (``python -S``: no site-packages, so no seqzoo dist-info or egg-info)."""
    bare = tmp_path / "bare"
    bare.mkdir()
    for name, module in (("seqzoo", REPO / "seqzoo"), ("pluggy", pluggy), ("click", click)):
        target = module if isinstance(module, Path) else Path(module.__file__).parent
        (bare / name).symlink_to(target, target_is_directory=True)
    environment = {"PYTHONPATH": str(bare), "PATH": os.environ.get("PATH", "")}
    probe = (
        "from importlib import metadata\n"
        "assert not list(metadata.distributions()), 'metadata is visible'\n"
        "import sys\n"
        "from seqzoo.cli import main\n"
        "sys.argv = ['seqzoo', 'plugins']\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", probe],
        capture_output=True,
        text=True,
        cwd=bare,
        env=environment,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = _rows(result.stdout)
    assert list(rows) == list(BUILTIN_PLUGINS)
    assert all(row.endswith("ok") for row in rows.values())
    listing = subprocess.run(
        [sys.executable, "-S", "-m", "seqzoo", "list", "models"],
        capture_output=True,
        text=True,
        cwd=bare,
        env=environment,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
    assert set(BUILTIN_MODELS) <= set(_rows(listing.stdout))
