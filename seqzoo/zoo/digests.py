"""sha256 of model files, remembered across processes by their file-system identity.

Hashing 50 MB of weights costs more than loading them, so every load re-hashing every file
would make the checksum the slowest part of ``from_pretrained``. Like git's index, a file's
digest is remembered together with its size, inode, device and modification and change times
(``st_mtime_ns``, ``st_ctime_ns``). Any write to the file changes its change time, which no
ordinary program can set back, so a remembered digest is reused only while all of these are
unchanged; otherwise the file is hashed again. A digest is remembered only once the file's
last change is a few seconds old, so a write landing within the same timestamp tick as the
hashing cannot go unnoticed.

The record is one small JSON file per folder, ``verified/<hash of the folder's path>.json`` in
``$SEQZOO_CACHE_DIR`` (default ``$XDG_CACHE_HOME/seqzoo`` or ``~/.cache/seqzoo``), so a load
reads only its own folder's few entries however many folders were ever loaded. It is written
atomically; if it cannot be read or written, files are simply hashed every time.
``SEQZOO_VERIFY=always`` turns the memory off.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from .hub import file_sha256

__all__ = ["cache_directory", "record_path", "verified_sha256", "verified_sha256s"]

#: A digest is remembered only for files whose last change is at least this old (seconds).
_SETTLED_SECONDS = 2.0
#: At most this many files of one folder are remembered (the oldest entries are dropped first).
_MAX_ENTRIES = 4096
_FOLDER_NAME = "verified"


def cache_directory() -> Path:
    """Where seqzoo keeps its own small caches."""
    explicit = os.environ.get("SEQZOO_CACHE_DIR", "").strip()
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "seqzoo"


def record_path(folder: Path) -> Path:
    """The record of the files directly inside ``folder`` (an absolute path)."""
    name = hashlib.sha256(str(folder).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return cache_directory() / _FOLDER_NAME / f"{name}.json"


def _identity(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_ino, stat.st_dev, stat.st_mtime_ns, stat.st_ctime_ns]


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, entries: dict[str, Any]) -> None:
    if len(entries) > _MAX_ENTRIES:
        oldest = sorted(entries, key=lambda k: entries[k].get("at", 0))
        for key in oldest[: len(entries) - _MAX_ENTRIES]:
            del entries[key]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        staging.write_text(json.dumps(entries), encoding="utf-8")
        os.replace(staging, path)
    except OSError:
        pass  # a read-only or full cache only costs the next load a hash


def verified_sha256s(paths: list[Path]) -> list[str]:
    """The hex sha256 of each file in ``paths``, reading and writing the record at most once;
    a digest is remembered if its file is unchanged since it was hashed."""
    remember = os.environ.get("SEQZOO_VERIFY", "").strip().lower() != "always"
    records: dict[Path, dict[str, Any]] = {}  # record file -> its entries, read once
    changed: set[Path] = set()
    digests: list[str] = []
    for path in paths:
        # the key need not be canonical: the identity below is checked on the file itself
        file = Path(os.path.abspath(path))
        record = record_path(file.parent)
        if record not in records:
            records[record] = _read(record) if remember else {}
        entries = records[record]
        stat = file.stat()
        key = str(file)
        known = entries.get(key)
        if isinstance(known, dict) and known.get("stat") == _identity(stat):
            digest = known.get("sha256")
            if isinstance(digest, str) and len(digest) == 64:
                digests.append(digest)
                continue
        digest = file_sha256(file)
        digests.append(digest)
        now = time.time()
        settled = now - max(stat.st_mtime_ns, stat.st_ctime_ns) / 1e9 >= _SETTLED_SECONDS
        if remember and settled and _identity(file.stat()) == _identity(stat):
            entries[key] = {"stat": _identity(stat), "sha256": digest, "at": now}
            changed.add(record)
    for record in changed:
        _write(record, records[record])
    return digests


def verified_sha256(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of ``path``: remembered if the file is unchanged since it was hashed."""
    return verified_sha256s([Path(path)])[0]
