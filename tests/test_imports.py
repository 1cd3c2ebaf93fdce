"""What importing seqzoo, loading a zoo model and listing pull in: torch, safetensors, numpy and
light dependencies, never the data-science stack (it costs seconds at start-up).

Each case runs in a fresh interpreter under ``python -X importtime``, whose report names every
module imported, so the command line itself (``python -m seqzoo list``) is checked as a user
runs it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

#: Libraries none of these paths may import (a dataset or a download imports them lazily).
HEAVY = (
    "sklearn",
    "scipy",
    "statsmodels",
    "pandas",
    "matplotlib",
    "huggingface_hub",
    "tokenizers",
)

_IMPORT_LINE = re.compile(r"^import time:\s+\d+\s+\|\s+\d+\s+\|\s*([\w.]+)\s*$")


def imported(*arguments: str) -> set[str]:
    """Top-level names of the modules a fresh ``python -X importtime ARGUMENTS`` imports."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *arguments],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=environment,
        timeout=300,
    )
    lines = result.stderr.splitlines()
    report = [m.group(1) for m in map(_IMPORT_LINE.match, lines) if m]
    errors = "\n".join(line for line in lines if not _IMPORT_LINE.match(line))
    assert result.returncode == 0, errors[-2000:]
    assert report, "python -X importtime reported no imports"
    return {name.split(".")[0] for name in report}


def test_the_report_parser_sees_heavy_imports() -> None:
    # the check below is only as good as the parser: it must see a heavy import when one happens
    assert {"seqzoo", "scipy"} <= imported("-c", "import seqzoo, scipy")


def test_import_seqzoo_imports_neither_torch_nor_a_heavy_library() -> None:
    modules = imported("-c", "import seqzoo")
    assert "seqzoo" in modules and "pluggy" in modules
    assert sorted(modules & {"torch", "numpy", *HEAVY}) == []


def test_loading_and_running_a_zoo_model_imports_no_heavy_library() -> None:
    code = (
        "import seqzoo, torch\n"
        "model = seqzoo.from_pretrained('lstm-sunspots', device='cpu')\n"
        "window = model.preprocessing.window\n"
        "scaled = model.preprocessing.scale_inputs(torch.full((window, 1), 40.0).double().numpy())\n"
        "with torch.no_grad():\n"
        "    y = model(torch.from_numpy(scaled).float().unsqueeze(0))\n"
        "assert model.preprocessing.unscale_targets(y).shape == (1, 1)\n"
        "assert 'lstm' in seqzoo.list_models() and 'lstm-sunspots' in seqzoo.list_zoo()\n"
    )
    modules = imported("-c", code)
    assert {"torch", "safetensors", "numpy"} <= modules  # the load really happened
    assert sorted(modules & set(HEAVY)) == []


@pytest.mark.parametrize("command", [("list",), ("zoo", "list"), ("--help",)])
def test_listing_commands_import_no_heavy_library(command: tuple[str, ...]) -> None:
    modules = imported("-m", "seqzoo", *command)
    assert {"seqzoo", "click"} <= modules
    assert sorted(modules & {"torch", *HEAVY}) == []


def test_predicting_from_a_zoo_entry_imports_no_heavy_library() -> None:
    # the entry's stored last window is the history: no dataset (statsmodels) is rebuilt
    modules = imported("-m", "seqzoo", "predict", "lstm-sunspots", "--steps", "10")
    assert "torch" in modules
    assert sorted(modules & set(HEAVY)) == []
