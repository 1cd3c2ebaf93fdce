"""The example third-party plugin (examples/seqzoo-tcn), installed with pip as a user would."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import run_seqzoo

from seqzoo.core.compose import compose
from seqzoo.core.registry import Registry


@pytest.fixture
def installed(example_plugin_site: Path) -> Path:
    """The example installed with ``pip install --target`` (see conftest.py)."""
    assert list(example_plugin_site.glob("seqzoo_tcn-0.2.0.dist-info/entry_points.txt"))
    return example_plugin_site


def test_the_installed_plugin_is_listed_with_its_distribution(installed: Path) -> None:
    result = run_seqzoo("list", "models", "tcn", paths=(installed,))
    assert result.returncode == 0, result.stderr
    assert "seqzoo-tcn 0.2.0" in result.stdout
    layers = run_seqzoo("list", "layers", "tcn*", paths=(installed,))
    assert "tcn-block" in layers.stdout
    info = run_seqzoo("info", "tcn", paths=(installed,))
    assert "seqzoo_tcn.model:TCN" in info.stdout
    plugins = run_seqzoo("plugins", paths=(installed,))
    (row,) = [line for line in plugins.stdout.splitlines() if line.startswith("seqzoo-tcn:tcn ")]
    assert "models,layers" in row.replace(" ", "") or "layers,models" in row.replace(" ", "")


def test_the_plugin_builds_steps_and_composes_with_builtins(installed: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(installed))
    registry = Registry()
    spec = registry.get("model", "tcn")
    assert (spec.plugin.distribution, spec.plugin.version) == ("seqzoo-tcn", "0.2.0")

    torch.manual_seed(0)
    model = registry.create("model", "tcn", input_size=2, channels=8, levels=2).eval()
    x = torch.randn(3, 12, 2)
    assert model(x).shape == (3, 1)
    rebuilt = registry.create("model", "tcn", **model.config)
    assert [p.shape for p in rebuilt.parameters()] == [p.shape for p in model.parameters()]
    state, outputs = None, []
    for t in range(12):
        y, state = model.step(x[:, t], state)
        outputs.append(y)
    torch.testing.assert_close(outputs[-1], model(x), atol=1e-5, rtol=1e-5)

    hybrid = compose(
        [
            {"layer": "conv1d", "channels": 6},
            {"layer": "tcn-block", "channels": 6, "dilation": 2},
            {"layer": "lstm", "hidden_size": 5},
            {"layer": "last"},
            {"layer": "linear", "out_features": 1},
        ],
        input_size=2,
        registry=registry,
    ).eval()
    assert hybrid(x).shape == (3, 1)
    hybrid(x).sum().backward()
    assert all(p.grad is not None for p in hybrid.parameters())
    state, last = None, None
    for t in range(12):
        last, state = hybrid.step(x[:, t], state)
    torch.testing.assert_close(last, hybrid(x), atol=1e-5, rtol=1e-5)
