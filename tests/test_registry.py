"""The registry: discovery, records, lookups, failures, duplicates, selection, API version."""

from __future__ import annotations

import inspect
import json
import sys
import types
from pathlib import Path

import pytest

import seqzoo
from seqzoo.core.errors import (
    ConfigError,
    DuplicateNameError,
    PluginError,
    UnknownNameError,
)
from seqzoo.core.registry import Registry


def _plain(value: object) -> object:
    return json.loads(json.dumps(value))


BUILTIN_MODELS = {"linear", "rnn", "gru", "lstm", "embedding-lstm", "conv-recurrent"}


def plugin(name: str, **hooks: object) -> types.ModuleType:
    """A plugin module object holding the given hook functions (marked as hookimpls)."""
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        if hook_name.isupper():
            setattr(module, hook_name, function)
        else:
            setattr(module, hook_name, seqzoo.hookimpl(function))
    return module


def toy_factory(size: int = 3, scale: float = 1.0) -> dict[str, float]:
    return {"size": size, "scale": scale}


def test_builtins_load_by_module_name() -> None:
    registry = Registry()
    names = set(registry.names("model"))
    assert names >= BUILTIN_MODELS
    for name in BUILTIN_MODELS:
        spec = registry.get("model", name)
        assert spec.plugin.distribution == "seqzoo"
        assert spec.plugin.version == seqzoo.__version__
        assert spec.description
    assert {p.info.name for p in registry.plugins} >= {
        "seqzoo.plugins.models",
        "seqzoo.plugins.layers",
    }
    assert all(p.ok for p in registry.plugins)


def test_a_fresh_registry_holds_only_what_its_plugins_register() -> None:
    def register_models(register):
        register("toy", toy_factory, description="A toy.", defaults={"size": 5})

    registry = Registry([plugin("toy_plugin", register_models=register_models)], entry_points=False)
    assert registry.names("model") == ["toy"]
    assert registry.create("model", "toy") == {"size": 5, "scale": 1.0}
    assert registry.create("model", "toy", scale=2.0) == {"size": 5, "scale": 2.0}
    assert Registry(entry_points=False).names("model") == []


def test_wildcard_listing_is_case_insensitive_for_every_kind() -> None:
    registry = Registry()
    assert [s.name for s in registry.list("model", "*lstm*")] == ["embedding-lstm", "lstm"]
    assert [s.name for s in registry.list("model", "*LSTM")] == ["embedding-lstm", "lstm"]
    assert [s.name for s in registry.list("layer", "*ool*")] == []
    assert {"last", "mean", "max"} <= {s.name for s in registry.list("layer", "m*")} | {"last"}
    with pytest.raises(UnknownNameError, match="did you mean 'model'"):
        registry.list("modle")


def test_unknown_name_suggests_the_closest() -> None:
    registry = Registry()
    with pytest.raises(UnknownNameError, match="did you mean 'lstm'") as caught:
        registry.get("model", "lstmm")
    assert "lstm" in caught.value.suggestions
    with pytest.raises(UnknownNameError, match="'lstm'"):
        seqzoo.create_model("lstmm", input_size=2)
    with pytest.raises(UnknownNameError, match="'conv1d'"):
        registry.find("convd1")


def test_string_factories_are_imported_on_first_use_only(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "lazy_target.py").write_text("def build(x=1):\n    return ('built', x)\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def register_models(register):
        register("lazy", "lazy_target:build")

    registry = Registry(
        [plugin("lazy_plugin", register_models=register_models)], entry_points=False
    )
    assert "lazy_target" not in sys.modules
    assert registry.get("model", "lazy").factory_path == "lazy_target:build"
    assert "lazy_target" not in sys.modules
    assert registry.create("model", "lazy", x=4) == ("built", 4)
    assert "lazy_target" in sys.modules


def test_a_broken_string_factory_names_its_plugin() -> None:
    def register_models(register):
        register("ghost", "no_such_module_anywhere:thing")

    registry = Registry([plugin("ghostly", register_models=register_models)], entry_points=False)
    with pytest.raises(PluginError, match="ghostly.*no_such_module_anywhere"):
        registry.create("model", "ghost")


def test_unknown_and_missing_arguments_name_the_field() -> None:
    def register_models(register):
        register("toy", toy_factory)

    registry = Registry([plugin("p", register_models=register_models)], entry_points=False)
    with pytest.raises(ConfigError, match="no argument 'sise'; did you mean 'size'"):
        registry.create("model", "toy", sise=3)
    with pytest.raises(ConfigError, match="needs the argument 'input_size'"):
        seqzoo.create_model("lstm")


def test_two_plugins_registering_one_name_fails_the_later_naming_both() -> None:
    def first(register):
        register("lstm", toy_factory)

    def second(register):
        register("lstm", toy_factory)

    plugins = [plugin("alpha", register_models=first), plugin("beta", register_models=second)]
    with pytest.warns(UserWarning, match="'alpha'.*'beta'"):
        registry = Registry(plugins, entry_points=False)
    assert registry.get("model", "lstm").plugin.name == "alpha"
    assert [p.info.name for p in registry.failures] == ["beta"]
    with pytest.raises(DuplicateNameError, match="'alpha'.*'beta'"):
        Registry(plugins, entry_points=False, strict=True)


def test_an_explicit_override_replaces_the_other_record() -> None:
    def replacement(register):
        register("lstm", toy_factory, description="My LSTM.", override=True)

    registry = Registry([plugin("mine", register_models=replacement)])
    spec = registry.get("model", "lstm")
    assert spec.plugin.name == "mine"
    assert spec.description == "My LSTM."


def test_a_plugin_that_fails_to_register_is_recorded_and_others_keep_working() -> None:
    def broken(register):
        register("half", toy_factory)
        raise RuntimeError("boom")

    registry = Registry([plugin("bad", register_models=broken)])
    assert set(registry.names("model")) >= BUILTIN_MODELS
    assert "half" not in registry.names("model")  # nothing of a failed plugin stays
    (failure,) = registry.failures
    assert failure.info.name == "bad"
    assert "RuntimeError: boom" in failure.error
    with pytest.raises(PluginError, match="boom"):
        Registry([plugin("bad", register_models=broken)], strict=True)


def test_a_misspelled_hook_is_reported_not_ignored() -> None:
    def register_model(register):  # missing 's'
        register("x", toy_factory)

    registry = Registry([plugin("typo", register_model=register_model)], entry_points=False)
    (failure,) = registry.failures
    assert "unknown hook" in failure.error
    assert "register_model" in failure.error


def test_a_hook_with_wrong_arguments_is_reported() -> None:
    def register_models(registrar):  # pluggy matches arguments by name
        registrar("x", toy_factory)

    registry = Registry([plugin("args", register_models=register_models)], entry_points=False)
    assert "invalid hook" in registry.failures[0].error


def test_an_incompatible_hook_api_is_rejected_naming_both_versions() -> None:
    def register_models(register):
        register("future", toy_factory)

    future = plugin("from_the_future", register_models=register_models, SEQZOO_HOOK_API=2)
    registry = Registry([future], entry_points=False)
    (failure,) = registry.failures
    assert "'from_the_future'" in failure.error
    assert "hook API 2" in failure.error and "hook API 1" in failure.error
    assert registry.names("model") == []


def test_bad_registrations_are_plugin_failures() -> None:
    def register_models(register):
        register("", toy_factory)

    registry = Registry([plugin("empty", register_models=register_models)], entry_points=False)
    assert "must be a non-empty string" in registry.failures[0].error

    def register_layers(register):
        register("x", "not-a-path")

    registry = Registry([plugin("pathless", register_layers=register_layers)], entry_points=False)
    assert "package.module:attr" in registry.failures[0].error


def test_optimizers_hook_registers_schedules_too() -> None:
    def register_optimizers(register, register_schedule):
        register("toy-opt", toy_factory)
        register_schedule("toy-schedule", toy_factory)

    registry = Registry(
        [plugin("opt", register_optimizers=register_optimizers)], entry_points=False
    )
    assert registry.names("optimizer") == ["toy-opt"]
    assert registry.names("schedule") == ["toy-schedule"]


def test_entry_point_plugins_carry_distribution_and_version(make_distribution, monkeypatch):
    site = make_distribution(
        distribution="seqzoo-toy",
        version="1.2.3",
        module="seqzoo_toy_ep",
        source="""
            import seqzoo
            SEQZOO_HOOK_API = 1

            @seqzoo.hookimpl
            def register_datasets(register):
                register("toy-data", "seqzoo_toy_ep:make", description="Toy data.")

            def make(n=3):
                return list(range(n))
        """,
    )
    monkeypatch.syspath_prepend(str(site))
    registry = Registry()
    spec = registry.get("dataset", "toy-data")
    assert (spec.plugin.name, spec.plugin.distribution, spec.plugin.version) == (
        "seqzoo-toy:seqzoo_toy_ep",
        "seqzoo-toy",
        "1.2.3",
    )
    assert registry.create("dataset", "toy-data") == [0, 1, 2]
    # selection: none, by distribution name, by entry-point name; built-ins always load
    assert "toy-data" not in Registry(load_plugins="none").names("dataset")
    assert "lstm" in Registry(load_plugins="none").names("model")
    assert "toy-data" in Registry(load_plugins="seqzoo-toy").names("dataset")
    assert "toy-data" in Registry(load_plugins=" Seqzoo_Toy ").names("dataset")
    assert "toy-data" in Registry(load_plugins="other,seqzoo_toy_ep").names("dataset")
    monkeypatch.setenv("SEQZOO_LOAD_PLUGINS", "someone-else")
    assert "toy-data" not in Registry().names("dataset")


def test_a_plugin_that_fails_to_import_is_recorded(make_distribution, monkeypatch) -> None:
    site = make_distribution(
        distribution="seqzoo-broken",
        version="0.0.1",
        module="seqzoo_broken_ep",
        source="raise ImportError('needs a library that is not installed')\n",
    )
    monkeypatch.syspath_prepend(str(site))
    registry = Registry()
    assert set(registry.names("model")) >= BUILTIN_MODELS
    (failure,) = registry.failures
    assert failure.info.distribution == "seqzoo-broken"
    assert "needs a library that is not installed" in failure.error
    monkeypatch.setenv("SEQZOO_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="seqzoo-broken.*strict"):
        Registry()


@pytest.mark.parametrize("kind", ["model", "layer"])
def test_registered_defaults_match_the_factory_signature(kind: str) -> None:
    """Defaults are stated at registration (so `seqzoo info` needs no import); keep them true."""
    registry = Registry()
    for spec in registry.list(kind):
        if spec.plugin.distribution != "seqzoo":
            continue
        parameters = inspect.signature(spec.load()).parameters
        for key, value in spec.defaults.items():
            assert key in parameters, f"{kind} {spec.name}: {key} is not an argument"
            default = parameters[key].default
            if default is not inspect.Parameter.empty and key not in ("cell", "function"):
                assert _plain(default) == value, (
                    f"{kind} {spec.name}: {key} {default!r} != {value!r}"
                )
        for key, parameter in parameters.items():
            if parameter.default is not inspect.Parameter.empty and key not in (
                "input_size",
                "registry",
            ):
                assert key in spec.defaults, f"{kind} {spec.name}: default of {key} not registered"


def test_a_created_model_remembers_its_registry_name() -> None:
    registry = Registry()
    model = registry.create("model", "gru", input_size=2)
    assert model.registry_name == "gru"
    rebuilt = registry.create("model", model.registry_name, **model.config)
    assert [p.shape for p in rebuilt.parameters()] == [p.shape for p in model.parameters()]
