"""Plugin mistakes get messages that say what is wrong and what is meant: a misspelled hook or
``register`` keyword, a factory that cannot be imported (``seqzoo plugins --check``), a typo
in ``SEQZOO_LOAD_PLUGINS``, a ``SEQZOO_HOOK_API`` that is not an int; and, on demand, the
failing plugin's own traceback. Every plugin here is a real installed distribution."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from conftest import run_seqzoo, write_distribution

from seqzoo.core.errors import PluginError
from seqzoo.core.registry import BUILTIN_PLUGINS, PluginWarning, Registry

HOOKS = (
    "register_commands, register_datasets, register_layers, register_models, "
    "register_optimizers, register_trainers, register_zoo"
)


def _plugin(site: Path, module: str, body: str, *, api: str = "1") -> Path:
    """Install a one-module plugin ``module`` (distribution ``module`` with '-') in ``site``."""
    source = f"import seqzoo\nSEQZOO_HOOK_API = {api}\n\n{body}"
    return write_distribution(
        site,
        distribution=module.replace("_", "-"),
        version="0.1",
        module=module,
        source=source,
    )


def _failure(registry: Registry, module: str) -> str:
    (record,) = [p for p in registry.failures if p.info.entry_point == module]
    assert record.error is not None
    return record.error


def test_a_misspelled_hook_suggests_the_real_one_and_lists_them_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = _plugin(
        tmp_path,
        "seqzoo_typo",
        "@seqzoo.hookimpl\ndef register_model(register):\n    register('x', 'os:getcwd')\n",
    )
    monkeypatch.syspath_prepend(str(site))
    with pytest.warns(PluginWarning, match="register_model"):
        registry = Registry()
    error = _failure(registry, "seqzoo_typo")
    assert "implements an unknown hook 'register_model' (did you mean 'register_models'?)" in error
    assert f"the hooks are: {HOOKS}" in error
    assert "x" not in registry.names("model")
    with pytest.raises(PluginError, match="did you mean 'register_models'"):
        Registry(strict=True)


def test_a_near_miss_of_a_register_keyword_is_an_error_real_metadata_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = """
@seqzoo.hookimpl
def register_models(register):
    register("typo-model", "os:getcwd", defualts={"size": 3})

@seqzoo.hookimpl
def register_layers(register):
    register("short-layer", "os:getcwd", desc="Too short.")
"""
    _plugin(tmp_path, "seqzoo_keywords", body)
    good = """
@seqzoo.hookimpl
def register_datasets(register):
    register("meta-data", "os:getcwd", task="forecast", tags=["x"], metadata={"default": 1})
"""
    _plugin(tmp_path, "seqzoo_metadata", good)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(PluginWarning):
        registry = Registry()
    error = _failure(registry, "seqzoo_keywords")
    assert (
        "model 'typo-model': unknown register() keyword 'defualts'; did you mean 'defaults'?"
        in error
    )
    assert "metadata={'defualts': ...}" in error
    assert "typo-model" not in registry.names("model")
    spec = registry.get("dataset", "meta-data")
    assert dict(spec.metadata) == {"default": 1, "task": "forecast", "tags": ["x"]}

    # the other near miss, alone: a prefix of a real keyword
    only_desc = tmp_path / "desc"
    _plugin(
        only_desc,
        "seqzoo_desc",
        '@seqzoo.hookimpl\ndef register_layers(register):\n    register("l", "os:getcwd", '
        'desc="x")\n',
    )
    monkeypatch.syspath_prepend(str(only_desc))
    with pytest.warns(PluginWarning):
        registry = Registry(load_plugins="seqzoo-desc")
    assert "keyword 'desc'; did you mean 'description'?" in _failure(registry, "seqzoo_desc")


def test_plugins_check_imports_every_factory_and_reports_each_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = """
@seqzoo.hookimpl
def register_models(register):
    register("ghost", "seqzoo_no_such_module:Model")
    register("not-callable", "os:sep")
    register("fine", "os:getcwd")
"""
    site = _plugin(tmp_path, "seqzoo_lazy", body)
    # listing never imports the factories, so nothing is wrong yet
    listing = run_seqzoo("list", "models", paths=(site,))
    assert listing.returncode == 0 and listing.stderr == ""
    assert {"ghost", "not-callable", "fine"} <= {
        line.split()[0] for line in listing.stdout.splitlines()
    }

    # `seqzoo plugins --check`, run in this process (its imports are the slow part, and this
    # process has most of them already); the default registry is rebuilt around it
    monkeypatch.syspath_prepend(str(site))
    code, out, err = _main(capsys, "plugins", "--check")
    assert code == 2, out + err
    failed = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 2, out
    assert "model 'ghost' from plugin seqzoo-lazy 0.1: cannot import" in failed[0]
    assert "ModuleNotFoundError" in failed[0]
    assert "model 'not-callable'" in failed[1] and "is not callable" in failed[1]
    assert "0 plugin(s) failed to load and 2 factory(ies) cannot be imported" in err
    ((spec, error), _) = Registry().check()
    assert (spec.kind, spec.name) == ("model", "ghost") and "seqzoo_no_such_module" in str(error)

    monkeypatch.setenv("SEQZOO_LOAD_PLUGINS", "none")  # the built-ins alone
    code, out, err = _main(capsys, "plugins", "--check")
    assert code == 0, out + err
    assert "FAILED" not in out and err == ""
    builtins = len(BUILTIN_PLUGINS)
    assert f"{builtins} of {builtins} plugins loaded" in out


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``seqzoo ARGS`` in this process, on a fresh default registry: (status, stdout, stderr)."""
    from seqzoo.cli import main
    from seqzoo.core.api import reset_registry

    reset_registry()
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    finally:
        reset_registry()
    out, err = capsys.readouterr()
    return code, out, err


RAISES = """
@seqzoo.hookimpl
def register_models(register):
    helper_that_fails()

def helper_that_fails():
    raise ValueError("the plugin's own mistake")
"""


def test_strict_or_debug_shows_the_plugins_own_traceback(tmp_path: Path) -> None:
    site = _plugin(tmp_path, "seqzoo_raises", RAISES)
    plain = run_seqzoo("list", "models", paths=(site,))
    assert plain.returncode == 0
    assert "Traceback" not in plain.stderr
    assert "ValueError: the plugin's own mistake" in plain.stderr

    strict = run_seqzoo("list", "models", paths=(site,), env={"SEQZOO_STRICT_PLUGINS": "1"})
    assert strict.returncode == 2
    assert "Traceback (most recent call last)" in strict.stderr
    assert "seqzoo_raises.py" in strict.stderr and "in helper_that_fails" in strict.stderr
    assert strict.stderr.strip().splitlines()[-1].startswith("error: plugin 'seqzoo-raises:")

    debug = run_seqzoo("list", "models", paths=(site,), env={"SEQZOO_DEBUG": "1"})
    assert debug.returncode == 0  # a recorded failure, with its traceback in the warning
    assert "lstm" in debug.stdout
    assert "in helper_that_fails" in debug.stderr and "Traceback" in debug.stderr


def test_a_typo_in_load_plugins_is_warned_about_with_a_suggestion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = "@seqzoo.hookimpl\ndef register_models(register):\n    register('tiny', 'os:getcwd')\n"
    site = _plugin(tmp_path, "seqzoo_tiny", body)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("SEQZOO_LOAD_PLUGINS", "seqzoo-tinny")
    with pytest.warns(PluginWarning) as caught:
        registry = Registry()
    (message,) = [str(w.message) for w in caught]
    assert "SEQZOO_LOAD_PLUGINS names 'seqzoo-tinny', which matches no installed plugin" in message
    assert "did you mean 'seqzoo-tiny'?" in message
    assert "installed plugins: seqzoo-tiny:seqzoo_tiny" in message
    assert "tiny" not in registry.names("model")

    # every way of naming it selects it, silently; so do all, none and a built-in's name
    for selection in ("seqzoo-tiny", "seqzoo_tiny", "seqzoo-tiny:seqzoo_tiny", "all"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", PluginWarning)
            assert "tiny" in Registry(load_plugins=selection).names("model"), selection
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)
        assert "tiny" not in Registry(load_plugins="none").names("model")
        assert "tiny" not in Registry(load_plugins="seqzoo.plugins.models").names("model")

    cli = run_seqzoo("plugins", paths=(site,), env={"SEQZOO_LOAD_PLUGINS": "seqzoo-tinny"})
    assert cli.returncode == 0
    assert "warning: SEQZOO_LOAD_PLUGINS names 'seqzoo-tinny'" in cli.stderr
    assert "did you mean 'seqzoo-tiny'?" in cli.stderr


@pytest.mark.parametrize(
    ("api", "accepted", "message"),
    [
        ("1", True, None),
        ("'1'", True, None),  # a string of digits states that version
        ("' 1 '", True, None),
        ("2", False, "is written for seqzoo hook API 2, but this seqzoo provides hook API 1"),
        ("'2'", False, "is written for seqzoo hook API 2, but this seqzoo provides hook API 1"),
        ("'one'", False, "sets SEQZOO_HOOK_API = 'one' (str); it must be the integer"),
        ("1.0", False, "sets SEQZOO_HOOK_API = 1.0 (float); it must be the integer"),
        ("True", False, "sets SEQZOO_HOOK_API = True (bool)"),
    ],
)
def test_the_hook_api_version_is_compared_as_an_int(
    api: str, accepted: bool, message: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (
        "@seqzoo.hookimpl\ndef register_models(register):\n    register('versioned', 'os:getcwd')\n"
    )
    # one module name per case: a module imported once stays imported
    module = "seqzoo_versioned_" + "".join(c if c.isalnum() else "_" for c in api)
    monkeypatch.syspath_prepend(str(_plugin(tmp_path, module, body, api=api)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PluginWarning)
        registry = Registry()
    assert ("versioned" in registry.names("model")) is accepted
    if accepted:
        assert registry.failures == [] and caught == []
    else:
        error = _failure(registry, module)
        assert message in error
        assert "API 1 but" not in error
