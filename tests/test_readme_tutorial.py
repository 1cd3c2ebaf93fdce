"""Every snippet of README's plugin tutorial ("## Write a plugin") runs, as written.

Blocks that start with a ``# path`` comment are files: they are written into a package laid out
as pip installs it (the module plus a ``.dist-info`` whose entry points come from the
tutorial's own ``pyproject.toml`` block), and the tutorial's commands run against it in
subprocesses. The remaining Python blocks run in a namespace that supplies only the names the
text says the reader brings (their model, a batch, their data loader).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomllib
import torch
from conftest import REPO, run_seqzoo

README = REPO / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Write a plugin")
    return text[start : text.index("\n## ", start + 1)]


def _blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(_section())]


def _files() -> dict[str, str]:
    """``{path: text}`` of the blocks whose first line is ``# path``."""
    files = {}
    for language, body in _blocks():
        first = body.splitlines()[0] if body.strip() else ""
        match = re.fullmatch(r"# ([\w./-]+\.(?:py|toml))", first)
        if language in ("python", "toml") and match:
            files[match.group(1)] = body
    return files


@pytest.fixture(scope="module")
def tutorial_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tutorial's package, installed the way pip lays it out."""
    files = _files()
    site = tmp_path_factory.mktemp("tutorial-site")
    project = tomllib.loads(files["pyproject.toml"])["project"]
    package = site / "seqzoo_tcn"
    package.mkdir()
    for path, text in files.items():
        if path.startswith("seqzoo_tcn/"):
            (site / path).write_text(text, encoding="utf-8")
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n",
        encoding="utf-8",
    )
    points = "".join(f"{k} = {v}\n" for k, v in project["entry-points"]["seqzoo"].items())
    (info / "entry_points.txt").write_text(f"[seqzoo]\n{points}", encoding="utf-8")
    return site


def _environment(*paths: Path) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SEQZOO_")}
    environment["PYTHONPATH"] = os.pathsep.join([*map(str, paths), str(REPO)])
    return environment


def test_the_tutorial_has_the_files_it_says() -> None:
    assert {"seqzoo_tcn/model.py", "seqzoo_tcn/__init__.py", "pyproject.toml"} <= set(_files())
    assert "tests/test_seqzoo_tcn.py" in _files()


def test_the_tutorial_plugin_lists_creates_and_passes_its_conformance_tests(
    tutorial_site: Path, tmp_path: Path
) -> None:
    listed = run_seqzoo("list", "models", "tcn", paths=(tutorial_site,))
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("tcn "))
    assert "seqzoo-tcn 0.2.0" in row and "Temporal convolutional network" in row

    # the step-4 one-liner, as written in the console block
    console = next(body for lang, body in _blocks() if "seqzoo.create_model('tcn'" in body)
    line = next(x for x in console.splitlines() if x.startswith("$ python -c"))
    code = re.fullmatch(r'\$ python -c "(.*)"', line)
    assert code is not None
    created = subprocess.run(
        [sys.executable, "-c", code.group(1)],
        capture_output=True,
        text=True,
        env=_environment(tutorial_site),
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("TCN(")

    # step 5: the conformance tests, as a plugin author runs them
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_seqzoo_tcn.py").write_text(_files()["tests/test_seqzoo_tcn.py"])
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_environment(tutorial_site),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b1 passed\b", result.stdout), result.stdout


def test_the_tutorial_model_streams_like_its_whole_forward(tutorial_site: Path) -> None:
    sys.path.insert(0, str(tutorial_site))
    try:
        namespace: dict[str, Any] = {}
        exec(compile(_files()["seqzoo_tcn/model.py"], "model.py", "exec"), namespace)
    finally:
        sys.path.remove(str(tutorial_site))
    torch.manual_seed(0)
    model = namespace["TCN"](input_size=3, output_size=2, channels=8)
    x = torch.randn(4, 9, 3)
    state = model.initial_state(4)
    for t in range(9):
        y, state = model.step(x[:, t], state)
    torch.testing.assert_close(y, model(x))
    _, state = model.forward_stateful(x[:, :5])
    second, _ = model.forward_stateful(x[:, 5:], state)
    torch.testing.assert_close(second, model(x))


def test_the_trainer_written_to_the_protocol_trains_through_the_cli(
    tmp_path: Path, make_distribution: Any
) -> None:
    body = next(body for lang, body in _blocks() if "class PlainSGD" in body)
    module = re.search(r'"(\w+):PlainSGD"', body)
    assert module is not None
    site = make_distribution(
        distribution="my-plugin", version="1.0", module=module.group(1), source=body
    )
    command = next(body for lang, body in _blocks() if "--trainer plain-sgd" in body)
    args = command.strip().removeprefix("$ seqzoo ").split()
    result = run_seqzoo(*args, "--run-dir", str(tmp_path / "run"), "--quiet", paths=(site,))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "checkpoints" / "last" / "model.safetensors").is_file()


def test_the_contract_snippets_run() -> None:
    snippets = [
        body
        for lang, body in _blocks()
        if lang == "python"
        and not body.startswith("# ")
        and "class PlainSGD" not in body
        and "@seqzoo.hookimpl" not in body
    ]
    assert len(snippets) >= 3  # the imports, the dataset factory, the streaming calls
    from seqzoo import create_model

    model = create_model("lstm", input_size=3, hidden_size=8, output_size=2)
    time = np.arange(400.0)
    namespace: dict[str, Any] = {
        "model": model,
        "batch_size": 4,
        "device": "cpu",
        "dtype": torch.float32,
        "x_t": torch.randn(4, 3),
        "x": torch.randn(4, 6, 3),
        "load_values": lambda: np.sin(time / 6)[:, None],
    }
    for snippet in snippets:
        if "RUN_DIR_OR_NONE" in snippet:  # the calls train() makes, run with a real trainer
            _run_the_trainer_calls(snippet)
            continue
        exec(compile(snippet, "README.md", "exec"), namespace)
    data = namespace["my_series"]()
    assert data.task == "forecast" and data.input_size == 1
    assert data.train.inputs.shape[1:] == (24, 1)
    assert namespace["y"].shape == (4, 2)


def test_the_tutorial_pyproject_matches_the_example_package() -> None:
    # the tutorial's pyproject names the entry point the finished example really declares
    project = tomllib.loads(_files()["pyproject.toml"])["project"]
    example = tomllib.loads((REPO / "examples" / "seqzoo-tcn" / "pyproject.toml").read_text())
    assert project["entry-points"] == example["project"]["entry-points"]
    assert project["name"] == example["project"]["name"]


def _run_the_trainer_calls(snippet: str) -> None:
    """The trainer-protocol block, with the built-in supervised trainer as the factory."""
    import seqzoo

    registry = seqzoo.get_registry()
    data = registry.create("dataset", "sine")
    model = registry.create("model", "lstm", hidden_size=8, **data.model_config())
    namespace: dict[str, Any] = {
        "factory": registry.get("trainer", "supervised").load(),
        "RUN_DIR_OR_NONE": None,
        "options": {"epochs": 1, "quiet": True, "plot": False},
        "model": model,
        "data": data,
        "optimizer": torch.optim.Adam(model.parameters(), lr=1e-3),
        "schedule": None,
        "R": None,
    }
    exec(compile(snippet, "README.md", "exec"), namespace)
    assert namespace["history"].rows  # one epoch trained


def test_publishing_a_zoo_entry_as_the_tutorial_says(tmp_path: Path) -> None:
    """Step 6: train, publish, register the folder from a plugin, load it and check it."""
    console = next(body for lang, body in _blocks() if "seqzoo zoo publish" in body)
    plugin = next(body for lang, body in _blocks() if "def register_zoo" in body)
    site = tmp_path / "site"
    site.mkdir()
    for line in console.strip().splitlines():
        args = shlex.split(line.removeprefix("$ seqzoo "))
        if args[0] == "train":
            args.append("--quiet")
        result = subprocess.run(
            [sys.executable, "-m", "seqzoo", *args],
            capture_output=True,
            text=True,
            cwd=site,
            env=_environment(),
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
    (site / "gru_zoo.py").write_text(plugin, encoding="utf-8")
    info = site / "gru_zoo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gru-zoo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[seqzoo]\ngru_zoo = gru_zoo\n")
    check = (
        "import seqzoo\n"
        "from seqzoo.testing import check_zoo_entry\n"
        "model = seqzoo.from_pretrained('gru-sunspots', device='cpu')\n"
        "report = check_zoo_entry('gru-sunspots')\n"
        "print(type(model).__name__, sorted(report.passed))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_environment(site),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("RecurrentModel") and "reference" in result.stdout
    listed = run_seqzoo("zoo", "list", paths=(site,))
    row = next(line for line in listed.stdout.splitlines() if line.startswith("gru-sunspots "))
    assert "gru" in row and "sunspots" in row
