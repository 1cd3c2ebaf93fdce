"""A model folder names only plain files inside itself: every name read from a file is checked
before it is opened (``seqzoo.zoo.hub.member_file``)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

import seqzoo
from seqzoo.core.errors import WeightsError
from seqzoo.zoo.pretrained import from_pretrained, load_directory, save_pretrained


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    model = seqzoo.create_model("lstm", input_size=1, hidden_size=4)
    target = tmp_path / "model"
    save_pretrained(model, target)
    return target


def _list(folder: Path, name: str, content: bytes) -> None:
    """Add ``name`` with the sha256 of ``content`` to the folder's config.json file list."""
    config = json.loads((folder / "config.json").read_text())
    config["seqzoo"]["files"][name] = hashlib.sha256(content).hexdigest()
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("name", ["../secret.txt", "sub/secret.txt", "..", "a\\b", "c:secret"])
def test_names_that_leave_the_folder_are_refused_before_opening(folder: Path, name: str) -> None:
    secret = folder.parent / "secret.txt"
    secret.write_bytes(b"outside the model")
    _list(folder, name, b"outside the model")
    with pytest.raises(WeightsError, match="not a plain file name of the model folder"):
        from_pretrained(folder, device="cpu")


def test_an_absolute_name_is_refused(folder: Path) -> None:
    secret = folder.parent / "secret.txt"
    secret.write_bytes(b"x")
    _list(folder, str(secret), b"x")
    with pytest.raises(WeightsError, match="not a plain file name"):
        from_pretrained(folder, device="cpu")


def test_a_catalogue_file_list_is_checked_the_same_way(folder: Path) -> None:
    with pytest.raises(WeightsError, match="the zoo catalogue lists the file '../x'"):
        load_directory(folder, device="cpu", expected_files={"../x": "0" * 64})


def test_links_and_special_files_are_refused(folder: Path) -> None:
    secret = folder.parent / "secret.txt"
    secret.write_bytes(b"linked")
    (folder / "notes.txt").symlink_to(secret)
    _list(folder, "notes.txt", b"linked")
    with pytest.raises(
        WeightsError, match="notes.txt is a link out of the model folder or a special file"
    ):
        from_pretrained(folder, device="cpu")
    (folder / "notes.txt").unlink()
    os.mkfifo(folder / "notes.txt")  # reading it would block forever
    with pytest.raises(
        WeightsError, match="notes.txt is a link out of the model folder or a special file"
    ):
        from_pretrained(folder, device="cpu")


def test_a_link_inside_the_folder_is_a_plain_file(folder: Path) -> None:
    (folder / "real.txt").write_bytes(b"same folder")
    (folder / "notes.txt").symlink_to("real.txt")
    _list(folder, "notes.txt", b"same folder")
    assert from_pretrained(folder, device="cpu") is not None


def test_a_plain_listed_file_still_loads(folder: Path) -> None:
    (folder / "notes.txt").write_bytes(b"fine")
    _list(folder, "notes.txt", b"fine")
    assert from_pretrained(folder, device="cpu") is not None


def test_the_core_guard_checks_names_and_what_is_on_disk(tmp_path: Path) -> None:
    from seqzoo.core.files import member_file, member_path

    folder = tmp_path / "folder"
    folder.mkdir()
    where = f"folder {str(folder)!r}"
    assert member_path(folder, "not-yet.json", where, "a list") == folder / "not-yet.json"
    with pytest.raises(WeightsError, match="'../x', which is not a plain file name of the run"):
        member_path(folder, "../x", where, "run.json", kind="run directory")
    with pytest.raises(WeightsError, match="a list lists the file '3'"):
        member_path(folder, 3, where, "a list")
    (folder / "sub").mkdir()
    (folder / "null").symlink_to(os.devnull)  # a device, through a link
    (tmp_path / "secret").write_text("x")
    (folder / "hop").symlink_to("inner")
    (folder / "inner").symlink_to(tmp_path / "secret")  # a chain that ends outside
    for name in ("sub", "null", "hop", "inner"):
        with pytest.raises(WeightsError, match=f"{where}: {name} is a link out of the model"):
            member_file(folder, name, where, "a list")
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    (blobs / "abc").write_text("blob")
    (folder / "cached").symlink_to(blobs / "abc")  # a Hub cache snapshot's link
    with pytest.raises(WeightsError, match="cached is a link out"):
        member_file(folder, "cached", where, "a list")
    assert member_file(folder, "cached", where, "a list", links_within=[blobs]).read_text()
    assert member_file(folder, "missing", where, "a list") == folder / "missing"
