"""``seqzoo new-plugin NAME``: write a ready-to-install plugin package from templates.

The package registers a model (a :class:`seqzoo.nn.SequenceModel` that can step), a layer (a
:class:`seqzoo.nn.Layer` for :func:`seqzoo.compose`) and a forecasting dataset (built with
:func:`seqzoo.core.data.forecast_data`), and its tests run the conformance kit
(:mod:`seqzoo.testing`) over everything it registers. The templates are plain strings filled
by :class:`string.Template`; nothing here imports torch.
"""

from __future__ import annotations

import keyword
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from string import Template

import click

from seqzoo.core.errors import ConfigError

__all__ = ["new_plugin", "plugin_names", "write_plugin"]

#: A distribution name as packaging accepts it (PEP 508): letters, digits, ``.``, ``_``, ``-``.
_DISTRIBUTION = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
#: Import names a plugin package may not take: it would shadow these when installed.
_TAKEN = {"seqzoo", "torch", "numpy", "tests", "test", "setuptools", "pip"}

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "$distribution"
version = "0.1.0"
description = "$title: a seqzoo plugin"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["seqzoo>=$seqzoo_version", "numpy", "torch"]

# The one table that makes this package a seqzoo plugin: seqzoo knows it as
# "$distribution:$entry_point".
[project.entry-points.seqzoo]
$entry_point = "$package"

# a src layout: a folder named like the package in the working directory cannot shadow it
[tool.setuptools]
package-dir = {"" = "src"}
packages = ["$package"]

[tool.pytest.ini_options]
testpaths = ["tests"]

[tool.ruff]
line-length = 100
"""

_INIT = '''\
"""$distribution: registers the model ``$model``, the layer ``$layer`` and the dataset
``$dataset``.

Factories are ``"module:attr"`` strings, imported on first use, so ``seqzoo list`` never
imports torch for this plugin.
"""

import seqzoo

SEQZOO_HOOK_API = 1  # the seqzoo hook API this plugin is written for


@seqzoo.hookimpl
def register_models(register):
    register(
        "$model",
        "$package.model:${cls}Model",
        description="Leaky recurrent cell and a linear head",
        defaults={"output_size": 1, "hidden_size": 16, "rate": 0.5, "output": "last"},
        input_kind="real",
        tags=["recurrent", "causal"],
    )


@seqzoo.hookimpl
def register_layers(register):
    register(
        "$layer",
        "$package.model:${cls}Block",
        description="Leaky recurrent cell: (batch, time, input_size) -> (batch, time, hidden_size)",
        defaults={"hidden_size": 16, "rate": 0.5},
    )


@seqzoo.hookimpl
def register_datasets(register):
    register(
        "$dataset",
        "$package.data:waves",
        description="Noisy sine wave (seeded), windowed for forecasting",
        defaults={"length": 400, "period": 20.0, "noise": 0.05, "window": 16, "seed": 0},
        task="forecast",
        source="synthetic",
        units="unitless",
    )
'''

_MODEL = '''\
"""The ``$model`` model and its ``$layer`` layer. Batch-first: ``(batch, time, features)``."""

from __future__ import annotations

import torch
from seqzoo.errors import ConfigError
from seqzoo.nn import Layer, SequenceModel, check_sequence
from torch import Tensor, nn


class ${cls}Block(Layer):
    """``h_t = (1 - rate) * h_{t-1} + rate * tanh(W x_t + U h_{t-1})``.

    ``(batch, time, input_size) -> (batch, time, hidden_size)``; its state is ``h``.
    """

    def __init__(self, input_size: int, hidden_size: int = 16, rate: float = 0.5) -> None:
        super().__init__()
        if isinstance(hidden_size, bool) or not isinstance(hidden_size, int) or hidden_size < 1:
            raise ConfigError(f"must be an integer >= 1, got {hidden_size!r}", field="hidden_size")
        if not isinstance(rate, (int, float)) or not 0 < rate <= 1:
            raise ConfigError(f"must be a number in (0, 1], got {rate!r}", field="rate")
        self.input_size, self.output_size, self.rate = input_size, hidden_size, float(rate)
        self.inp = nn.Linear(input_size, hidden_size)
        self.rec = nn.Linear(hidden_size, hidden_size, bias=False)

    def initial_state(self, batch_size, *, device=None, dtype=None) -> Tensor:
        weight = self.rec.weight
        device, dtype = device or weight.device, dtype or weight.dtype
        return torch.zeros(batch_size, self.output_size, device=device, dtype=dtype)

    def step(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if state is None:
            state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        h = (1 - self.rate) * state + self.rate * torch.tanh(self.inp(x) + self.rec(state))
        return h, h

    def forward(self, x: Tensor) -> Tensor:
        check_sequence(x, self.input_size, "$layer")  # a ShapeError naming the problem
        state, outputs = None, []
        for t in range(x.shape[1]):
            y, state = self.step(x[:, t], state)
            outputs.append(y)
        return torch.stack(outputs, dim=1)


class ${cls}Model(SequenceModel):
    """A ``$layer`` and a linear head: ``(batch, output_size)`` for ``output="last"``,
    ``(batch, time, output_size)`` for ``output="sequence"``.

    seqzoo checks the inputs of ``model(x)``, ``step`` and ``forward_stateful`` (the base
    class's default, which loops over ``step``) before they get here.
    """

    def __init__(
        self,
        input_size: int,
        output_size: int = 1,
        hidden_size: int = 16,
        rate: float = 0.5,
        output: str = "last",
    ) -> None:
        super().__init__()
        self._remember_config(locals())  # the config save_pretrained writes
        if output not in ("last", "sequence"):
            raise ConfigError(f"must be 'last' or 'sequence', got {output!r}", field="output")
        self.input_size, self.output_size, self.output = input_size, output_size, output
        self.block = ${cls}Block(input_size, hidden_size, rate)
        self.head = nn.Linear(hidden_size, output_size)

    def forward(self, x: Tensor) -> Tensor:
        y = self.head(self.block(x))
        return y[:, -1] if self.output == "last" else y

    def initial_state(self, batch_size, *, device=None, dtype=None) -> Tensor:
        return self.block.initial_state(batch_size, device=device, dtype=dtype)

    def step(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h, state = self.block.step(x, state)
        return self.head(h), state
'''

_DATA = '''\
"""The ``$dataset`` dataset: a seeded noisy sine wave, windowed for forecasting."""

from __future__ import annotations

import numpy as np
from seqzoo.core.data import SequenceData, forecast_data, require_int
from seqzoo.errors import ConfigError


def waves(
    length: int = 400, period: float = 20.0, noise: float = 0.05, window: int = 16, seed: int = 0
) -> SequenceData:
    """``sin(2 pi t / period)`` plus Gaussian noise of std ``noise``, ``length`` steps.

    Inputs ``(N, window, 1)``, targets ``(N, 1)``: the next step, split 70/15/15 in time order
    and scaled on the training part only (:func:`seqzoo.core.data.forecast_data`).
    """
    length = require_int(length, "length")
    if isinstance(period, bool) or not isinstance(period, (int, float)) or period <= 0:
        raise ConfigError(f"must be a positive number, got {period!r}", field="period")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or noise < 0:
        raise ConfigError(f"must be a number >= 0, got {noise!r}", field="noise")
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=np.float64)
    values = np.sin(2 * np.pi * t / period) + noise * rng.standard_normal(length)
    return forecast_data(
        "$dataset",
        values,
        window=window,
        columns=["wave"],
        season=int(period) if float(period).is_integer() else None,
        units="unitless",
        description=f"Sine wave of period {period} plus noise {noise}",
        metadata={"period": float(period), "noise": float(noise), "seed": seed},
    )
'''

_TESTS = '''\
"""The conformance kit over everything $distribution registers, and one real training run.

The plugin must be installed (``pip install -e .``): the names are read at collection.
"""

import math

import seqzoo
import torch
from seqzoo.testing import (
    check_dataset,
    check_layer,
    check_model,
    parametrize_registered,
    registered_names,
)

PLUGIN = "$distribution"


def test_the_plugin_is_installed_and_registers_its_parts():
    # without this, an uninstalled plugin would parametrize the checks below over nothing
    assert registered_names("model", PLUGIN) == ["$model"]
    assert registered_names("layer", PLUGIN) == ["$layer"]
    assert registered_names("dataset", PLUGIN) == ["$dataset"]


@parametrize_registered("model", plugin=PLUGIN)
def test_models(name):
    check_model(name)


@parametrize_registered("layer", plugin=PLUGIN)
def test_layers(name):
    check_layer(name)


@parametrize_registered("dataset", plugin=PLUGIN)
def test_datasets(name):
    check_dataset(name)


def test_the_model_trains_on_the_dataset():
    run = seqzoo.train(
        model={"name": "$model", "hidden_size": 8},
        dataset="$dataset",
        epochs=2,
        batch_size=32,
        quiet=True,
        plot=False,
    )
    assert [row.epoch for row in run.history.rows] == [1, 2]
    assert all(math.isfinite(row.train_loss) for row in run.history.rows)
    with torch.no_grad():
        prediction = run.model(run.data.test.inputs)
    assert prediction.shape == run.data.test.targets.shape
'''

_README = """\
# $distribution

A seqzoo plugin. It registers:

- the model `$model`: a leaky recurrent cell with a linear head, which runs step by step
  (`src/$package/model.py`);
- the layer `$layer`: that cell, usable in any composed model (`seqzoo.compose`);
- the dataset `$dataset`: a seeded noisy sine wave, windowed for forecasting
  (`src/$package/data.py`).

```bash
pip install -e .
seqzoo list models            # $model ... $distribution 0.1.0
python -m pytest -q           # the seqzoo.testing conformance checks
seqzoo train --model $model --dataset $dataset --epochs 5 --run-dir runs/$model
seqzoo zoo publish runs/$model zoo/my-$model   # a zoo entry folder and its record
```

`src/$package/__init__.py` is the plugin contract: it states the hook API it targets
(`SEQZOO_HOOK_API`) and registers each factory by a `module:attr` string. `pyproject.toml`
declares it in the `seqzoo` entry-point group, so seqzoo knows it as
`$distribution:$entry_point`.
"""


def plugin_names(name: str) -> dict[str, str]:
    """The names a plugin package called ``name`` uses: ``distribution`` (``name``),
    ``package`` (its import name), ``entry_point``, the registered ``model``, ``layer`` and
    ``dataset`` names and the class prefix ``cls``. A name that is no valid distribution name,
    or whose import name is no identifier or would shadow another module, is a
    :class:`ConfigError`."""
    if not _DISTRIBUTION.match(name):
        raise ConfigError(
            f"{name!r} is not a valid package name; use letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit (e.g. seqzoo-mymodel)",
            field="name",
        )
    package = re.sub(r"[-.]+", "_", name).lower()
    if not package.isidentifier() or keyword.iskeyword(package):
        raise ConfigError(
            f"{name!r} gives the import name {package!r}, which is not a Python identifier; "
            "start the name with a letter (e.g. seqzoo-mymodel)",
            field="name",
        )
    if package in _TAKEN or package in sys.stdlib_module_names:
        raise ConfigError(
            f"{name!r} gives the import name {package!r}, which would shadow the module of that "
            "name; choose another (e.g. seqzoo-mymodel)",
            field="name",
        )
    short = re.sub(r"^seqzoo[-_.]+", "", name.lower())
    short = re.sub(r"[_.]+", "-", short)
    if not short or short == "seqzoo":
        raise ConfigError(f"{name!r} names no plugin; try seqzoo-mymodel", field="name")
    return {
        "distribution": name,
        "package": package,
        "entry_point": short.replace("-", "_"),
        "model": short,
        "layer": f"{short}-block",
        "dataset": f"{short}-waves",
        "cls": "".join(part.capitalize() for part in short.split("-")),
        "title": name,
    }


def _files(names: dict[str, str]) -> dict[str, str]:
    """Relative path -> text of every file of the package."""
    from seqzoo import __version__

    values = {**names, "seqzoo_version": __version__}
    package = names["package"]
    templates = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"src/{package}/__init__.py": _INIT,
        f"src/{package}/model.py": _MODEL,
        f"src/{package}/data.py": _DATA,
        f"tests/test_{package}.py": _TESTS,
    }
    return {path: Template(text).substitute(values) for path, text in templates.items()}


def write_plugin(name: str, parent: str | os.PathLike[str] = ".") -> Path:
    """Write the plugin package ``name`` into ``parent/name`` and return that folder.

    A target that exists and is not an empty folder is refused (:class:`ConfigError`); the
    files are written into a temporary folder beside it and renamed into place, so a failure
    leaves nothing half-written.
    """
    files = _files(plugin_names(name))
    parent = Path(parent).expanduser()
    target = parent / name
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(
            f"{str(target)!r} exists and is not an empty folder; remove it or choose another "
            "name or --dir"
        )
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=parent))
    except OSError as exc:
        raise ConfigError(f"cannot create the plugin in {str(parent)!r}: {exc}") from None
    try:
        for relative, text in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp made it owner-only
        if target.is_dir():
            target.rmdir()  # empty (checked above); a file arriving meanwhile fails here
        staging.rename(target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ConfigError(f"cannot write the plugin to {str(target)!r}: {exc}") from None
    return target


@click.command(name="new-plugin")
@click.argument("name")
@click.option("--dir", "parent", default=".", show_default=True, type=click.Path(file_okay=False),
              help="The folder to create the package in.")  # fmt: skip
def new_plugin(name: str, parent: str) -> None:
    """Create the plugin package NAME (e.g. seqzoo-mymodel): a model, a layer, a dataset,
    their registrations and conformance tests, ready for `pip install -e`."""
    names = plugin_names(name)
    target = write_plugin(name, parent)
    for path in sorted(p for p in target.rglob("*") if p.is_file()):
        click.echo(f"wrote {path}")
    click.echo(
        f"registers model {names['model']!r}, layer {names['layer']!r}, dataset "
        f"{names['dataset']!r}; next:\n  pip install -e {target}\n  python -m pytest -q {target}"
    )
