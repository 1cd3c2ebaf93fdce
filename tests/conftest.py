"""Shared fixtures: fake installed plugin distributions and a CLI runner in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Overrides of the zero-shot recipe for a tiny end-to-end run (4 steps, a 16-wide model with
#: the zoo entries' inference averages on), as ``build_zero_shot_entry(..., overrides=...)``.
TINY_ZERO_SHOT: dict = {
    "steps": 4,
    "batch_size": 8,
    "kernel_pool": 8,
    "model": {
        "name": "patch-forecaster",
        "patch_size": 8,
        "d_model": 16,
        "hidden_size": 16,
        "num_layers": 1,
        "horizon": 16,
        "max_context": 64,
        "average_negated": True,
        "context_halvings": 3,
    },
}


def build_tiny_forecaster(root: Path) -> tuple[Path, dict]:
    """Pretrain and save the tiny zero-shot entry under ``root``: ``(its folder, its entry)``."""
    import torch

    from seqzoo.zoo.zeroshot import build_zero_shot_entry

    torch.set_num_threads(1)
    entry = build_zero_shot_entry(
        "zeroshot-lstm-small", root, 0, work=root / "work", overrides=TINY_ZERO_SHOT, log=None
    )
    return root / "models" / "zeroshot-lstm-small", entry


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


@pytest.fixture(scope="session")
def _seqzoo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("seqzoo-cache")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, _seqzoo_cache: Path) -> None:
    """Tests never see the developer's plugin selection, strict flag or seqzoo cache."""
    for name in ("SEQZOO_LOAD_PLUGINS", "SEQZOO_STRICT_PLUGINS", "SEQZOO_VERIFY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SEQZOO_CACHE_DIR", str(_seqzoo_cache))


@pytest.fixture(autouse=True)
def _python_sigint_handler() -> Iterator[None]:
    """Python's own Ctrl-C handler in every test, as in an interactive shell: a shell starts a
    background job (``bash .ci/run &``, nohup) with SIGINT ignored, and then the tests that send
    themselves SIGINT would test nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="session")
def example_plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install`` examples/seqzoo-tcn into a fresh target folder, once per session (no
    network: no build isolation, no dependencies, no index)."""
    target = tmp_path_factory.mktemp("example-site")
    build = tmp_path_factory.mktemp("example-build")
    result = subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
            "--no-build-isolation", "--no-index", "--target", str(target),
            str(REPO / "examples" / "seqzoo-tcn"),
        ],
        capture_output=True, text=True, timeout=300, cwd=build,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return target


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> object:
    """A local Hub (tests/hub_server.py) on 127.0.0.1 that the real huggingface_hub client
    talks to, with a fresh cache and no token; nothing reaches past this machine.

    huggingface_hub reads its settings once, at import, so its ``constants`` are patched as
    well as the environment (which seqzoo reads at call time).
    """
    from hub_server import HubServer
    from huggingface_hub import constants
    from huggingface_hub.utils import _detect_agent

    server = HubServer().start()  # a HubServer; see tests/hub_server.py
    home = tmp_path / "hf-home"
    cache = home / "hub"
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(
        constants,
        "HUGGINGFACE_CO_URL_TEMPLATE",
        server.url + "/{repo_id}/resolve/{revision}/{filename}",
    )
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    # the user-agent code would fetch an "agent harnesses" list from the real Hub once
    monkeypatch.setattr(_detect_agent, "_registry", _detect_agent._EMPTY_REGISTRY)
    request.addfinalizer(server.stop)
    return server
