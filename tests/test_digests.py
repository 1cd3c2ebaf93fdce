"""Remembered file digests: reused only while a file is provably unchanged."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

import seqzoo
from seqzoo.core.errors import WeightsError
from seqzoo.zoo import digests, hub
from seqzoo.zoo.pretrained import from_pretrained, save_pretrained


def _settle(path: Path) -> None:
    """Age a file's modification time (its change time moves to now, so wait that out too)."""
    old = time.time() - 60
    os.utime(path, (old, old))
    time.sleep(digests._SETTLED_SECONDS + 0.1)


def _count_hashes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = hub.file_sha256

    def counting(path: str | os.PathLike[str]) -> str:
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(digests, "file_sha256", counting)
    return calls


def test_an_unchanged_file_is_hashed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_hashes(monkeypatch)
    file = tmp_path / "weights.bin"
    file.write_bytes(b"x" * 1000)
    _settle(file)
    expected = hashlib.sha256(b"x" * 1000).hexdigest()
    assert digests.verified_sha256(file) == expected
    assert digests.verified_sha256(file) == expected
    assert len(calls) == 1
    record = json.loads(digests.record_path(Path(os.path.abspath(file)).parent).read_text())
    assert record[str(file.resolve())]["sha256"] == expected
    # one small record per folder, under the cache directory
    assert digests.record_path(file.parent).parent.parent == Path(os.environ["SEQZOO_CACHE_DIR"])
    assert list(record) == [str(file.resolve())]
    monkeypatch.setenv("SEQZOO_VERIFY", "always")
    assert digests.verified_sha256(file) == expected
    assert len(calls) == 2  # the memory is off: hashed again


def test_a_fresh_file_is_not_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_hashes(monkeypatch)
    file = tmp_path / "new.bin"
    file.write_bytes(b"abc")
    digests.verified_sha256(file)
    digests.verified_sha256(file)
    assert len(calls) == 2  # changed within the last seconds: a same-tick write could hide


def test_a_rewrite_with_the_old_size_and_mtime_is_caught(tmp_path: Path) -> None:
    model = seqzoo.create_model("lstm", input_size=1, hidden_size=8)
    folder = tmp_path / "model"
    save_pretrained(model, folder)
    weights = folder / "model.safetensors"
    _settle(weights)
    assert from_pretrained(folder, device="cpu") is not None  # hashed and remembered
    before = weights.stat()
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))  # same size ...
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))  # ... and the old mtime
    with pytest.raises(WeightsError, match="checksum mismatch for model.safetensors"):
        from_pretrained(folder, device="cpu")


def test_an_unwritable_cache_only_costs_a_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("SEQZOO_CACHE_DIR", str(blocker / "cache"))
    file = tmp_path / "w.bin"
    file.write_bytes(b"data")
    _settle(file)
    assert digests.verified_sha256(file) == hashlib.sha256(b"data").hexdigest()
    assert blocker.is_file() and not (blocker / "cache").exists()


def _settled_model(folder: Path) -> Path:
    """A saved model folder whose files and listing are all a few seconds old."""
    save_pretrained(seqzoo.create_model("lstm", input_size=1, hidden_size=4), folder)
    old = time.time() - 60
    for path in [*folder.iterdir(), folder]:
        os.utime(path, (old, old))
    time.sleep(digests._SETTLED_SECONDS + 0.1)
    return folder


def test_a_load_remembers_an_unchanged_folder_and_forgets_a_changed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seqzoo.zoo import folder as folders

    scans: list[Path] = []
    real = folders._scan
    monkeypatch.setattr(folders, "_scan", lambda d: (scans.append(d), real(d))[1])
    hashes = _count_hashes(monkeypatch)
    model = _settled_model(tmp_path / "m")
    from_pretrained(model, device="cpu")
    assert (len(scans), len(hashes)) == (1, 1)
    digests.record_path(model.resolve()).unlink()  # the process's own memory answers
    from_pretrained(model, device="cpu")
    assert (len(scans), len(hashes)) == (1, 1)  # no listing, no read of a record, no hash
    monkeypatch.setenv("SEQZOO_VERIFY", "always")
    from_pretrained(model, device="cpu")
    assert (len(scans), len(hashes)) == (2, 2)  # the memory is off
    monkeypatch.delenv("SEQZOO_VERIFY")
    # the format's file swapped for a link out of the folder: the folder changed, looked at
    outside = tmp_path / "elsewhere.json"
    (model / "config.json").rename(outside)
    (model / "config.json").symlink_to(outside)
    with pytest.raises(WeightsError, match="link out of the model folder"):
        from_pretrained(model, device="cpu")
    assert len(scans) == 3


def test_a_changed_config_is_read_again_though_its_size_and_mtime_are_the_old(
    tmp_path: Path,
) -> None:
    model = _settled_model(tmp_path / "m")
    assert from_pretrained(model, device="cpu").config["dropout"] == 0.0
    config = model / "config.json"
    before = config.stat()
    text = config.read_text()
    config.write_text(text.replace('"dropout": 0.0', '"dropout": 0.5'))
    os.utime(config, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert config.stat().st_size == before.st_size
    assert from_pretrained(model, device="cpu").config["dropout"] == 0.5


def test_weights_changed_after_a_remembered_load_are_caught(tmp_path: Path) -> None:
    model = _settled_model(tmp_path / "m")
    from_pretrained(model, device="cpu")  # remembered by this process
    weights = model / "model.safetensors"
    before = weights.stat()
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(WeightsError, match="checksum mismatch for model.safetensors"):
        from_pretrained(model, device="cpu")
    weights.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit, old size and mtime
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(WeightsError, match="checksum mismatch for model.safetensors"):
        from_pretrained(model, device="cpu")
