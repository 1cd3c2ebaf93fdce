"""The ``seqzoo`` command, run as a user runs it: in a subprocess, with real installed plugins."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import REPO, run_seqzoo

BUILTIN_MODELS = ["conv-recurrent", "embedding-lstm", "gru", "linear", "lstm", "rnn"]

BROKEN = """
raise RuntimeError("this plugin is broken on purpose")
"""

DUPLICATE = """
import seqzoo
SEQZOO_HOOK_API = 1

@seqzoo.hookimpl
def register_models(register):
    register("lstm", "seqzoo_dup:make", description="Another LSTM.")

def make():
    return None
"""


def test_list_models_shows_the_builtins_with_their_plugin() -> None:
    result = run_seqzoo("list", "models")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "PLUGIN", "DESCRIPTION"]
    rows = {line.split()[0]: line for line in lines[1:]}
    for name in BUILTIN_MODELS:
        assert "seqzoo 0.1.0" in rows[name]
    assert result.stderr == ""


def test_list_filters_with_a_wildcard() -> None:
    result = run_seqzoo("list", "models", "*lstm*")
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert names == ["embedding-lstm", "lstm"]
    every_kind = run_seqzoo("list", "*lstm*", "--json")
    found = {(item["kind"], item["name"]) for item in json.loads(every_kind.stdout)}
    assert {("model", "lstm"), ("layer", "lstm"), ("model", "embedding-lstm")} <= found


def test_info_shows_the_record() -> None:
    result = run_seqzoo("info", "lstm", "--kind", "model")
    assert result.returncode == 0, result.stderr
    assert "lstm (model)" in result.stdout
    assert "seqzoo.plugins.models.recurrent:RecurrentModel" in result.stdout
    assert 'cell = "lstm"' in result.stdout
    both = run_seqzoo("info", "lstm")
    assert "lstm (model)" in both.stdout and "lstm (layer)" in both.stdout


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [
        (("info", "lstmm"), "'lstm'"),
        (("info", "lstmm", "--kind", "model"), "'lstm'"),
        (("list", "modles"), "'models'"),
    ],
)
def test_unknown_names_exit_2_with_a_suggestion(args: tuple[str, ...], suggestion: str) -> None:
    result = run_seqzoo(*args)
    assert result.returncode == 2
    assert "did you mean" in result.stderr and suggestion in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [("--help",), ("list", "models"), ("list", "models", "*lstm*"), ("info", "lstm"), ("plugins",)],
)
def test_listing_commands_do_not_import_torch(args: tuple[str, ...]) -> None:
    script = (
        "import sys\n"
        "from seqzoo.cli import main\n"
        f"sys.argv = ['seqzoo', *{list(args)!r}]\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "heavy = sorted(m for m in ('torch', 'numpy', 'sklearn', 'safetensors') if m in sys.modules)\n"
        "print('HEAVY:', heavy, file=sys.stderr)\n"
    )
    import subprocess

    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY: []" in result.stderr


def test_a_broken_plugin_is_shown_and_the_builtins_keep_working(make_distribution) -> None:
    site = make_distribution(
        distribution="seqzoo-broken", version="0.3.0", module="seqzoo_broken", source=BROKEN
    )
    listing = run_seqzoo("list", "models", paths=(site,))
    assert listing.returncode == 0, listing.stderr
    for name in BUILTIN_MODELS:
        assert name in listing.stdout
    assert "1 plugin(s) failed to load (seqzoo_broken)" in listing.stderr

    shown = run_seqzoo("plugins", paths=(site,))
    assert shown.returncode == 0
    (row,) = [line for line in shown.stdout.splitlines() if line.startswith("seqzoo_broken")]
    assert "seqzoo-broken 0.3.0" in row
    assert "FAILED" in row and "this plugin is broken on purpose" in row
    records = json.loads(run_seqzoo("plugins", "--json", paths=(site,)).stdout)
    broken = next(r for r in records if r["name"] == "seqzoo_broken")
    assert broken["version"] == "0.3.0" and "RuntimeError" in broken["error"]

    strict = run_seqzoo("list", "models", paths=(site,), env={"SEQZOO_STRICT_PLUGINS": "1"})
    assert strict.returncode == 2
    assert "seqzoo-broken" in strict.stderr and "strict" in strict.stderr
    assert "Traceback" not in strict.stderr

    skipped = run_seqzoo("plugins", paths=(site,), env={"SEQZOO_LOAD_PLUGINS": "none"})
    assert "seqzoo_broken" not in skipped.stdout


def test_two_plugins_registering_lstm_is_an_error_naming_both(make_distribution) -> None:
    site = make_distribution(
        distribution="seqzoo-dup", version="1.0.0", module="seqzoo_dup", source=DUPLICATE
    )
    result = run_seqzoo("list", "models", paths=(site,))
    assert result.returncode == 2
    assert "model 'lstm' is registered by two plugins" in result.stderr
    assert "seqzoo 0.1.0" in result.stderr and "seqzoo-dup 1.0.0" in result.stderr
    assert "Traceback" not in result.stderr
