"""The examples run as documented (the notebook replay in its quick form)."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def run_example(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=REPO, timeout=600
    )


def test_the_tour_runs() -> None:
    result = run_example("examples/tour.py")
    assert result.returncode == 0, result.stderr
    assert "stepped == whole: True" in result.stdout
    assert "hybrid stepped == whole: True" in result.stdout
    assert "config round trip: True" in result.stdout


def test_the_notebook_replay_runs_quickly(tmp_path) -> None:
    result = run_example("examples/notebook/replay.py", "--quick", "--figures", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "NonFiniteLossError" in result.stdout  # step 1: the unscaled run diverges
    assert "Summary" in result.stdout
    figures = list(tmp_path.glob("*.png"))
    assert len(figures) == 5
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in figures)
