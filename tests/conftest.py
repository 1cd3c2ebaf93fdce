"""Shared fixtures: fake installed plugin distributions and a CLI runner in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def write_distribution(
    root: Path,
    *,
    distribution: str,
    version: str,
    module: str,
    source: str,
    entry_point: str | None = None,
) -> Path:
    """Install a one-module plugin the way pip lays it out: the module plus a ``.dist-info``
    folder whose ``entry_points.txt`` declares it in the ``seqzoo`` group."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = root / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[seqzoo]\n{entry_point or module} = {module}\n", encoding="utf-8"
    )
    return root


@pytest.fixture
def make_distribution(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def make(**kwargs: str) -> Path:
        return write_distribution(tmp_path / f"site{next(counter)}", **kwargs)

    return make


def run_seqzoo(
    *args: str, paths: tuple[Path, ...] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m seqzoo ARGS`` with ``paths`` on PYTHONPATH; return the finished process."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SEQZOO_")}
    environment["PYTHONPATH"] = os.pathsep.join([*map(str, paths), str(REPO)])
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "seqzoo", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's plugin selection or strict flag."""
    for name in ("SEQZOO_LOAD_PLUGINS", "SEQZOO_STRICT_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
