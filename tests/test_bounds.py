"""Bounded parsing of spec and run files and of ``KEY=VALUE`` flags (size, nesting, YAML
aliases), keyword arguments that seqzoo passes itself refused in user configs, and numbers
from the user checked for finiteness. Every failure is a ConfigError naming the problem."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import run_seqzoo

import seqzoo
from seqzoo.core.errors import ConfigError
from seqzoo.core.structured import MAX_BYTES, MAX_DEPTH, parse_yaml, read_structured_file
from seqzoo.core.validate import check_nesting, finite_number, refuse_reserved
from seqzoo.core.workflow import load_run_file
from seqzoo.plugins.commands import _pairs

LSTM = {"layer": "lstm", "hidden_size": 4}


def laughs(levels: int = 9) -> str:
    """A "billion laughs" run file: each level lists the previous one ten times (under 500
    bytes for 10**9 values once expanded)."""
    lines = ["model: lstm", "options:", "  epochs: 1", "  junk:", '    l0: &l0 ["ha","ha"]']
    for i in range(1, levels):
        lines.append(f"    l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_run_file_is_refused_while_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(laughs())
    assert path.stat().st_size < 500
    with pytest.raises(ConfigError, match=r"more than 100,000 values once its YAML aliases"):
        load_run_file(path)


def test_aliases_that_stay_small_still_work(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        "model: {name: lstm, hidden_size: &h 16}\ndataset: sine\n"
        "optimizer: &adam {name: adam, lr: 0.01}\noptions: {epochs: 2, patience: *h}\n"
    )
    assert load_run_file(path) == {
        "model": {"name": "lstm", "hidden_size": 16},
        "dataset": "sine",
        "optimizer": {"name": "adam", "lr": 0.01},
        "epochs": 2,
        "patience": 16,
    }


def test_a_recursive_yaml_alias_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"alias \*a refers to a node that contains it"):
        parse_yaml("a: &a [1, *a]\n")


def deep_spec(depth: int) -> list[dict[str, Any]]:
    spec: list[dict[str, Any]] = [LSTM]
    for _ in range(depth):
        spec = [{"layer": "residual", "body": spec}]
    return spec


def deep_json(depth: int) -> str:
    text = json.dumps(LSTM)
    for _ in range(depth):
        text = '{"layer": "residual", "body": [' + text + "]}"
    return "[" + text + "]"


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".toml"])
def test_a_3000_deep_spec_file_is_a_config_error_not_a_recursion_error(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"spec{suffix}"
    if suffix == ".toml":  # TOML nests through inline arrays
        path.write_text("layers = " + "[" * 3000 + "]" * 3000 + "\n")
    else:  # JSON is YAML too
        path.write_text(deep_json(3000))
    with pytest.raises(ConfigError, match=rf"deeper than {MAX_DEPTH} levels"):
        seqzoo.compose(path, input_size=2)


def test_a_3000_deep_spec_in_memory_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=rf"the spec nests .* deeper than {MAX_DEPTH} levels"):
        seqzoo.compose(deep_spec(3000), input_size=2)
    shared: list[Any] = [LSTM]
    for _ in range(30):  # a small list reached 2**30 times
        shared = [shared, shared]
    with pytest.raises(ConfigError, match="values"):
        check_nesting(shared, where="it", max_depth=100, max_nodes=1000)
    spec: list[Any] = [{"layer": "tanh"}]
    for _ in range(15):  # a reasonable nesting still builds
        spec = [{"layer": "residual", "body": spec}]
    assert seqzoo.compose(spec, input_size=2)(torch.randn(1, 3, 2)).shape == (1, 3, 2)


def test_a_file_past_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text('{"model": "lstm", "pad": "' + "x" * MAX_BYTES + '"}')
    with pytest.raises(ConfigError, match=r"larger than 1,048,576 bytes"):
        read_structured_file(path)


def test_flag_values_are_bounded_like_files() -> None:
    assert _pairs(("hidden_size=32", "channels=[8, 16]", "output=sequence"), "-M") == {
        "hidden_size": 32,
        "channels": [8, 16],
        "output": "sequence",
    }
    with pytest.raises(ConfigError, match=r"-M: .*deeper than"):
        _pairs(("channels=" + "[" * 3000 + "]" * 3000,), "-M")
    levels = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 6)]
    with pytest.raises(ConfigError, match=r"-T: .*once its YAML aliases are expanded"):
        _pairs(("junk={" + ", ".join(levels) + "}",), "-T")
    with pytest.raises(ConfigError, match="NaN is not a value"):
        _pairs(("lr=nan",), "-T")


# -- reserved keyword arguments -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("options:\n  registry: 1\n", r"options\.registry: 'registry' is set by seqzoo itself"),
        ("options:\n  run_dir: x\n", r"options\.run_dir: 'run_dir' is a part of the run"),
        ("options: [1, 2]\n", r"options must be a mapping .* got a list"),
        ("options: 3\n", r"options must be a mapping .* got a int"),
        ("model: {name: hybrid, layers: [], registry: x}\n", r"model\.registry: 'registry'"),
        ("optimizer: {name: adam, params: 1}\n", r"optimizer\.params: 'params' is set by"),
        ("schedule: {name: step, optimizer: 1}\n", r"schedule\.optimizer: 'optimizer'"),
        ("trainer: {name: supervised, run_dir: x}\n", r"trainer\.run_dir: 'run_dir'"),
    ],
)
def test_a_run_file_cannot_set_what_seqzoo_passes_itself(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("dataset: sine\n" + text)
    with pytest.raises(ConfigError, match=message):
        load_run_file(path)


def test_a_layer_spec_cannot_set_build() -> None:
    with pytest.raises(ConfigError, match=r"spec\[0\]\.build: 'build' is set by seqzoo"):
        seqzoo.compose([{**LSTM, "build": 1}], input_size=2)


def test_a_hybrid_config_json_carrying_a_registry_is_a_config_error(tmp_path: Path) -> None:
    model = seqzoo.create_model("hybrid", layers=[LSTM], input_size=2)
    seqzoo.save_pretrained(model, tmp_path / "saved")
    config_file = tmp_path / "saved" / "config.json"
    document = json.loads(config_file.read_text())
    document["registry"] = "elsewhere"  # constructor arguments sit at the top level
    config_file.write_text(json.dumps(document))
    with pytest.raises(ConfigError, match=r"registry: 'registry' is set by seqzoo itself"):
        seqzoo.from_pretrained(tmp_path / "saved")
    with pytest.raises(ConfigError, match="'registry' is set by seqzoo itself"):
        seqzoo.create_model("hybrid", layers=[LSTM], input_size=2, registry={"layer": []})


def test_refuse_reserved_names_the_key() -> None:
    refuse_reserved({"lr": 0.1}, "optimizer")  # an ordinary key passes
    with pytest.raises(ConfigError, match=r"^where\.params: 'params'"):
        refuse_reserved({"lr": 0.1, "params": []}, "optimizer", path="where")


# -- numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "1", True, None])
def test_finite_number_refuses_what_is_not_a_finite_number(value: Any) -> None:
    with pytest.raises(ConfigError, match=r"^lr: must be a (finite )?number"):
        finite_number(value, "lr")


def test_finite_number_checks_bounds() -> None:
    assert finite_number(3, "x", minimum=0) == 3.0
    with pytest.raises(ConfigError, match=r"x: must be > 0, got 0"):
        finite_number(0, "x", above=0)
    with pytest.raises(ConfigError, match=r"x: must be >= 0 and <= 1, got -1|x: must be >= 0"):
        finite_number(-1, "x", minimum=0, maximum=1)


def test_a_nan_temperature_or_forecast_number_is_a_config_error() -> None:
    from seqzoo.core.predict import generate_text

    lm = seqzoo.create_model("embedding-lstm", vocab_size=9, hidden_size=4)
    with pytest.raises(ConfigError, match="temperature: must be a finite number"):
        generate_text(lm, None, "hello", 5, temperature=math.nan)
    with pytest.raises(ConfigError, match=r"batch_size: must be a whole number"):
        seqzoo.forecast([1.0, 2.0, 3.0], 2, model=lm, batch_size=math.nan)
    with pytest.raises(ConfigError, match=r"quantiles: must be a finite number"):
        seqzoo.forecast([1.0, 2.0, 3.0], 2, model=lm, quantiles=[0.5, math.nan])


def test_the_cli_exits_2_on_a_nan_temperature_and_a_reserved_option(tmp_path: Path) -> None:
    result = run_seqzoo("generate", "no-such-model", "--prompt", "hi", "--temperature", "nan")
    assert result.returncode == 2, result.stderr
    assert "--temperature: must be a finite number, got nan" in result.stderr
    assert "internal error" not in result.stderr
    run_file = tmp_path / "run.yaml"
    run_file.write_text("model: lstm\noptions:\n  registry: {}\n")
    result = run_seqzoo("train", "--config", str(run_file), "--run-dir", str(tmp_path / "r"))
    assert result.returncode == 2, result.stderr
    assert "'registry' is set by seqzoo itself" in result.stderr


def test_a_nan_anywhere_in_a_run_file_is_named_by_its_place(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("model: lstm\nschedule: {name: cosine, eta_min: .nan}\n")
    with pytest.raises(ConfigError, match=r"holds NaN at schedule\.eta_min; give a number"):
        load_run_file(path)
    path = tmp_path / "spec.json"
    path.write_text('[{"layer": "dropout", "p": NaN}]')
    with pytest.raises(ConfigError, match=r"holds NaN at \[0\]\.p"):
        seqzoo.load_spec(path)


def test_reserved_names_are_refused_through_the_python_api_too(tmp_path) -> None:
    import pytest

    import seqzoo
    from seqzoo.core.errors import ConfigError

    cases = [
        ({"optimizer": {"name": "adam", "params": 1}}, "'params' is set by seqzoo itself"),
        ({"schedule": {"name": "step", "optimizer": 1}}, "'optimizer' is set by seqzoo itself"),
        ({"model": {"name": "lstm", "registry": {}}}, "'registry' is set by seqzoo itself"),
    ]
    for index, (override, message) in enumerate(cases):
        run_dir = tmp_path / f"run{index}"
        arguments = {"model": "lstm", "dataset": "sine", "epochs": 1, "run_dir": run_dir}
        with pytest.raises(ConfigError, match=message):
            seqzoo.train(**{**arguments, **override})
        assert not run_dir.exists()  # refused before anything is written


def test_a_deeply_nested_config_or_run_json_is_a_clear_error(tmp_path) -> None:
    import pytest

    import seqzoo
    from seqzoo.core.errors import ConfigError, WeightsError
    from seqzoo.core.workflow import load_run

    deep = "[" * 100_000 + "]" * 100_000
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(deep)
    (model_dir / "model.safetensors").write_bytes(b"")
    with pytest.raises(WeightsError, match="nests too deeply"):
        seqzoo.from_pretrained(model_dir)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(deep)
    with pytest.raises(ConfigError, match="nests too deeply"):
        load_run(run_dir)
