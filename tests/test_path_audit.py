"""Nothing escapes the model folder: every name that a file, the catalogue, the Hub or the user
turns into a path goes through one guard (``seqzoo.core.files.member_file``), so ``..``, an
absolute path, a link leading out or a special file (FIFO) is refused with an error naming the
name and the folder, before anything is opened, and nothing is written outside.

Each case is a real folder with real files: a secret file outside the folder whose content
would load (a copy of the real file), so that without the guard the call would succeed."""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import io
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hub_server import HubServer

import seqzoo
from seqzoo.cli import main
from seqzoo.core.errors import ConfigError, SeqzooError, WeightsError
from seqzoo.core.hookspecs import hookimpl
from seqzoo.core.predict import read_last_window
from seqzoo.core.registry import Registry
from seqzoo.core.training import run_checkpoint
from seqzoo.core.workflow import load_run
from seqzoo.zoo import download, from_pretrained, save_pretrained
from seqzoo.zoo.catalogue import bundled_directory, registration
from seqzoo.zoo.hub import plan_push

LINK = "a link out of the"


# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture()
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The real paths of every file Python opens during the test (builtins/io/os.open)."""
    seen: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def recording(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, os.PathLike)):
            seen.append(os.path.realpath(file))
        return real_open(file, *args, **kwargs)

    def recording_os(path: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(path, (str, os.PathLike)):
            seen.append(os.path.realpath(path))
        return real_os_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", recording)
    monkeypatch.setattr(io, "open", recording)
    monkeypatch.setattr(os, "open", recording_os)
    return seen


@contextlib.contextmanager
def fifo_watch(fifo: Path) -> Iterator[list[bool]]:
    """While the block runs, detect (and unblock) any reader of ``fifo``: a FIFO with a
    reader accepts a non-blocking writer, one without refuses it (ENXIO)."""
    read: list[bool] = []
    done = threading.Event()
    real_os_open = os.open  # the opened fixture may patch os.open: use the real one

    def watch() -> None:
        while not done.wait(0.02):
            try:
                fd = real_os_open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                continue
            read.append(True)
            os.close(fd)  # the reader sees end of file and goes on

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield read
    finally:
        done.set()
        thread.join(5)


def _model_folder(root: Path) -> Path:
    model = seqzoo.create_model("lstm", input_size=1, hidden_size=4)
    return save_pretrained(model, root / "model", task="forecast")


def _link_out(folder: Path, name: str, outside: Path) -> Path:
    """Move (or create) ``folder/name`` to ``outside/name`` and link it back: the content
    would load, but it lies outside the folder."""
    outside.mkdir(exist_ok=True)
    secret = outside / name
    if (folder / name).exists():
        shutil.move(folder / name, secret)
    else:
        secret.write_text("{}")
    (folder / name).symlink_to(secret)
    return secret


def _refused(call: Callable[[], Any], *needles: str, kind: type = SeqzooError) -> str:
    with pytest.raises(kind) as error:
        call()
    message = str(error.value)
    for needle in needles:
        assert needle in message, message
    return message


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


# -- the model format's own files ------------------------------------------------------------------

FIXED = ["config.json", "model.safetensors", "tokenizer.json", "README.md", "last_window.json"]


@pytest.mark.parametrize("name", FIXED)
def test_a_format_file_linked_out_is_refused_unopened(
    tmp_path: Path, name: str, opened: list[str]
) -> None:
    folder = _model_folder(tmp_path)
    secret = _link_out(folder, name, tmp_path / "outside")
    opened.clear()
    _refused(
        lambda: from_pretrained(folder, device="cpu"),
        f"model directory {str(folder)!r}: {name} is {LINK} model folder",
    )
    assert str(secret.resolve()) not in opened


@pytest.mark.parametrize("name", FIXED)
def test_a_fifo_in_place_of_a_format_file_is_refused_unread(tmp_path: Path, name: str) -> None:
    folder = _model_folder(tmp_path)
    (folder / name).unlink(missing_ok=True)
    os.mkfifo(folder / name)  # reading it would block
    with fifo_watch(folder / name) as read:
        _refused(lambda: from_pretrained(folder, device="cpu"), f"{name} is {LINK}", "special")
    assert not read


def test_a_tokenizer_of_a_config_without_a_file_list_is_guarded_too(
    tmp_path: Path, opened: list[str]
) -> None:
    folder = _model_folder(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    del config["seqzoo"]["files"]  # older folders: the tokenizer is read when present
    (folder / "config.json").write_text(json.dumps(config))
    secret = _link_out(folder, "tokenizer.json", tmp_path / "outside")
    opened.clear()
    _refused(lambda: from_pretrained(folder, device="cpu"), f"tokenizer.json is {LINK}")
    assert str(secret.resolve()) not in opened


def test_a_hub_cache_snapshot_linked_out_of_its_blobs_is_refused(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opened: list[str]
) -> None:
    folder = _model_folder(tmp_path)
    hub.add_repo("org/lstm", {p.name: p.read_bytes() for p in folder.iterdir()})
    snapshot = download("org/lstm")
    assert from_pretrained("org/lstm", device="cpu") is not None  # its links into blobs/
    secret = tmp_path / "secret.json"
    shutil.copy(snapshot / "config.json", secret)
    (snapshot / "config.json").unlink()
    (snapshot / "config.json").symlink_to(secret)  # a tampered cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    opened.clear()
    _refused(lambda: from_pretrained("org/lstm", device="cpu"), f"config.json is {LINK}")
    assert str(secret.resolve()) not in opened


# -- model cards, predict, export: the CLI exits 2 with the message -----------------------------


def test_zoo_info_refuses_a_card_linked_out_or_a_fifo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _model_folder(tmp_path)
    secret = _link_out(folder, "README.md", tmp_path / "outside")
    secret.write_text("the secret card")
    code, out, err = _cli(capsys, "zoo", "info", str(folder))
    assert code == 2 and f"README.md is {LINK} model folder" in err and str(folder) in err
    assert "secret" not in out
    (folder / "README.md").unlink()
    os.mkfifo(folder / "README.md")
    with fifo_watch(folder / "README.md") as read:
        code, out, err = _cli(capsys, "zoo", "info", str(folder))
    assert code == 2 and "special file" in err and not read


@pytest.mark.parametrize("command", ["predict", "export"])
def test_predict_and_export_refuse_a_folder_naming_a_file_outside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    folder = _model_folder(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"outside")
    config = json.loads((folder / "config.json").read_text())
    config["seqzoo"]["files"]["../secret.txt"] = hashlib.sha256(b"outside").hexdigest()
    (folder / "config.json").write_text(json.dumps(config))
    args = [str(folder), str(tmp_path / "out.onnx")] if command == "export" else [str(folder)]
    code, _, err = _cli(capsys, command, *args)
    assert code == 2, err
    assert "'../secret.txt', which is not a plain file name of the model folder" in err
    assert str(folder) in err
    assert not (tmp_path / "out.onnx").exists()  # nothing written


# -- run directories ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("run") / "run"
    seqzoo.train(
        model={"name": "gru", "hidden_size": 4},
        dataset={"name": "sine", "length": 120, "window": 8},
        epochs=1,
        seed=0,
        quiet=True,
        plot=False,
        run_dir=run_dir,
    )
    return run_dir


@pytest.fixture()
def run(trained_run: Path, tmp_path: Path) -> Path:
    """A fresh copy of a tiny trained run (each test tampers with its own)."""
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy, symlinks=True)
    return copy


@pytest.mark.parametrize("where", ["parent", "absolute"])
def test_a_checkpoint_name_leaving_the_run_is_refused(
    run: Path, tmp_path: Path, where: str, opened: list[str]
) -> None:
    # a complete checkpoint outside the run: without the guard it would load
    outside = tmp_path / "elsewhere" / "secret"
    shutil.copytree(run_checkpoint(run, "last"), outside)
    name = "../../elsewhere/secret" if where == "parent" else str(outside)
    opened.clear()
    _refused(
        lambda: load_run(run, checkpoint=name),
        f"run directory {str(run)!r}",
        f"{name!r}, which is not a plain file name of the run directory",
        kind=WeightsError,
    )
    assert not any(path.startswith(str(outside.resolve())) for path in opened)


def test_checkpoints_linked_out_of_the_run_are_refused(run: Path, tmp_path: Path) -> None:
    best = run_checkpoint(run, "best")
    outside = tmp_path / "outside.safetensors"
    shutil.move(best / "model.safetensors", outside)
    (best / "model.safetensors").symlink_to(outside)
    _refused(lambda: load_run(run), f"model.safetensors is {LINK} checkpoint", kind=WeightsError)
    (best / "model.safetensors").unlink()
    shutil.move(outside, best / "model.safetensors")
    shutil.move(best, tmp_path / "best")
    best.symlink_to(tmp_path / "best")  # the whole checkpoint folder elsewhere
    _refused(lambda: load_run(run), f"checkpoint {best.name} is {LINK} run", kind=WeightsError)


@pytest.mark.parametrize("member", ["state.json", "model.safetensors"])
def test_resuming_refuses_checkpoint_files_linked_out(
    run: Path, tmp_path: Path, member: str, opened: list[str]
) -> None:
    last = run_checkpoint(run, "last")
    secret = _link_out(last, member, tmp_path / "outside")
    opened.clear()
    _refused(
        lambda: seqzoo.train(resume=run, epochs=2, quiet=True, plot=False),
        f"checkpoint {str(last)!r}: {member} is {LINK} checkpoint",
        kind=WeightsError,
    )
    assert str(secret.resolve()) not in opened


@pytest.mark.parametrize("name", ["run.json", "last_window.json"])
def test_a_run_file_linked_out_or_a_fifo_is_refused(
    run: Path, tmp_path: Path, name: str, opened: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    secret = _link_out(run, name, tmp_path / "outside")
    kind = "run directory" if name == "run.json" else "model folder"
    opened.clear()
    _refused(lambda: seqzoo.predict(run, steps=2), f"{name} is {LINK} {kind}", str(run))
    assert str(secret.resolve()) not in opened
    code, _, err = _cli(capsys, "predict", str(run), "--steps", "2")
    assert code == 2 and f"{name} is {LINK}" in err
    (run / name).unlink()
    os.mkfifo(run / name)
    with fifo_watch(run / name) as read:
        _refused(lambda: seqzoo.predict(run, steps=2), "special file")
        if name == "last_window.json":
            _refused(lambda: read_last_window(run), f"{name} is {LINK}", "special file")
    assert not read


# -- the catalogue and zoo entries -------------------------------------------------------------------


def _entry(files: dict[str, str]) -> dict[str, Any]:
    return {
        "repo_id": "seqzoo/x",
        "architecture": "lstm",
        "task": "forecast",
        "dataset": None,
        "metrics": {},
        "size_bytes": 1,
        "files": files,
    }


@pytest.mark.parametrize("name", ["../secret", "a/b", "..", "/abs/secret"])
def test_a_catalogue_entry_name_stays_inside_the_models_folder(tmp_path: Path, name: str) -> None:
    (tmp_path / "secret").mkdir()  # a model folder outside: bundled_directory would point there
    _refused(
        lambda: registration(name, _entry({}), root=tmp_path / "zoo"),
        f"{name!r}, which is not a plain file name of the zoo's models folder",
        str(tmp_path / "zoo" / "models"),
    )


def test_a_catalogue_entry_folder_linked_out_is_refused(tmp_path: Path) -> None:
    folder = _model_folder(tmp_path)
    models = tmp_path / "zoo" / "models"
    models.mkdir(parents=True)
    (models / "inside").symlink_to(folder)
    _refused(lambda: bundled_directory("inside", tmp_path / "zoo"), f"{LINK} zoo's models folder")


@pytest.mark.parametrize("file", ["../secret.txt", "/etc/hostname", "sub/x"])
def test_a_catalogue_file_list_naming_a_file_outside_is_refused(tmp_path: Path, file: str) -> None:
    _refused(
        lambda: registration("ok", _entry({file: "0" * 64}), root=tmp_path),
        f"{file!r}, which is not a plain file name of the model folder",
        str(tmp_path / "models" / "ok"),
    )


class _Zoo:
    SEQZOO_HOOK_API = 1

    def __init__(self, entries: dict[str, tuple[Any, dict[str, Any]]]) -> None:
        self.entries = entries

    @hookimpl
    def register_zoo(self, register: Any) -> None:
        for name, (target, metadata) in self.entries.items():
            register(name, target, description="test entry", **metadata)


def test_zoo_entries_file_lists_and_revisions_are_guarded(
    hub: HubServer, tmp_path: Path, opened: list[str]
) -> None:
    folder = _model_folder(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"outside")
    digest = hashlib.sha256(b"outside").hexdigest()
    link = folder / "notes.txt"
    link.symlink_to(secret)
    registry = Registry(
        plugins=[
            _Zoo(
                {
                    "parent": (str(folder), {"files": {"../secret.txt": digest}}),
                    "absolute": (str(folder), {"files": {str(secret): digest}}),
                    "linked": (str(folder), {"files": {"notes.txt": digest}}),
                    "escaping": ("org/lstm", {"revision": "../../../escape"}),
                }
            )
        ]
    )
    opened.clear()
    for name in ("parent", "absolute"):
        _refused(
            lambda n=name: from_pretrained(n, device="cpu", registry=registry),
            f"zoo entry {name!r}",
            "the zoo catalogue lists the file",
            "not a plain file name of the model folder",
            kind=WeightsError,
        )
    _refused(
        lambda: from_pretrained("linked", device="cpu", registry=registry),
        f"notes.txt is {LINK} model folder",
        str(folder),
    )
    assert str(secret.resolve()) not in opened
    _refused(
        lambda: from_pretrained("escaping", device="cpu", registry=registry),
        "revision '../../../escape' is not a branch, tag or commit name",
        kind=ConfigError,
    )
    assert hub.requests == []


# -- Hub downloads -------------------------------------------------------------------------------------


def _outside_cache(tmp_path: Path) -> set[Path]:
    cache = tmp_path / "hf-home" / "hub"
    return {p for p in tmp_path.rglob("*") if not p.is_relative_to(cache)}


@pytest.mark.parametrize("bad", ["../secret.json", "/tmp/seqzoo-secret.json", "a/../../x.json"])
def test_a_repo_listing_a_file_outside_downloads_nothing(
    hub: HubServer, tmp_path: Path, bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _model_folder(tmp_path)
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    hub.add_repo("org/evil", {**files, bad: b'{"planted": true}'})
    before = _outside_cache(tmp_path)
    _refused(
        lambda: download("org/evil"),
        "Hub repository 'org/evil'",
        f"lists the file {bad!r}, which would lie outside",
        kind=WeightsError,
    )
    assert hub.requests_to("GET", "/resolve/") == []  # not one file fetched
    code, _, err = _cli(capsys, "zoo", "download", "org/evil")
    assert code == 2 and f"lists the file {bad!r}" in err
    assert hub.requests_to("GET", "/resolve/") == []
    assert _outside_cache(tmp_path) == before  # nothing written outside the cache
    assert not Path("/tmp/seqzoo-secret.json").exists()


def test_a_revision_leaving_the_cache_is_refused_before_any_request(
    hub: HubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _model_folder(tmp_path)
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    hub.add_repo("org/lstm", files, revision="../../../escape")  # the Hub would serve it
    before = _outside_cache(tmp_path)
    for revision in ("../../../escape", "/abs/ref", "a\\b"):
        _refused(
            lambda r=revision: download("org/lstm", revision=r),
            f"revision {revision!r} is not a branch, tag or commit name",
            kind=ConfigError,
        )
    code, _, err = _cli(capsys, "zoo", "download", "org/lstm", "--revision", "../../../escape")
    assert code == 2 and "is not a branch, tag or commit name" in err
    assert hub.requests == []
    assert _outside_cache(tmp_path) == before
    assert not (tmp_path / "hf-home" / "escape").exists()


def test_a_push_never_uploads_a_file_linked_in_from_outside(tmp_path: Path) -> None:
    folder = _model_folder(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")
    (folder / "notes.txt").symlink_to(secret)
    _refused(lambda: plan_push(folder, "org/x"), f"notes.txt is {LINK} model folder", str(folder))
    (folder / "notes.txt").unlink()
    config = json.loads((folder / "config.json").read_text())
    config["seqzoo"]["files"]["../secret.txt"] = hashlib.sha256(b"outside").hexdigest()
    (folder / "config.json").write_text(json.dumps(config))
    _refused(lambda: plan_push(folder, "org/x"), "'../secret.txt', which is not a plain file")
