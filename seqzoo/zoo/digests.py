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
atomically; if it cannot be read or written, files are simply hashed every time. A process
also keeps the digests it verified, by the same identity, so its repeated loads of a file
cost one stat.
``SEQZOO_VERIFY=always`` turns the memory off.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
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
    return Path(_cache_root())


def _cache_root() -> str:
    explicit = os.environ.get("SEQZOO_CACHE_DIR", "").strip()
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return os.path.join(base or os.path.join(os.path.expanduser("~"), ".cache"), "seqzoo")


def record_path(folder: Path) -> Path:
    """The record of the files directly inside ``folder`` (an absolute path)."""
    return Path(_record_file(str(folder)))


def _record_file(folder: str) -> str:
    name = hashlib.sha256(folder.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return os.path.join(_cache_root(), _FOLDER_NAME, f"{name}.json")


def _identity(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_ino, stat.st_dev, stat.st_mtime_ns, stat.st_ctime_ns]


#: Digests this process verified or read from a record: file -> (its identity then, digest).
#: A repeated load then costs one stat of the file, not a read of the record; the identity is
#: checked on the file itself, exactly as a record entry's is.
_KNOWN: dict[str, tuple[list[int], str]] = {}
_MAX_KNOWN = 4096


def _know(key: str, identity: list[int], digest: str) -> None:
    if len(_KNOWN) >= _MAX_KNOWN:
        _KNOWN.clear()
    _KNOWN[key] = (identity, digest)


def _read(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            data = json.loads(file.read())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: str, entries: dict[str, Any]) -> None:
    if len(entries) > _MAX_ENTRIES:
        oldest = sorted(entries, key=lambda k: entries[k].get("at", 0))
        for key in oldest[: len(entries) - _MAX_ENTRIES]:
            del entries[key]
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        staging = os.path.join(
            os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.tmp"
        )
        with open(staging, "w", encoding="utf-8") as file:
            file.write(json.dumps(entries))
        os.replace(staging, path)
    except OSError:
        pass  # a read-only or full cache only costs the next load a hash


def verified_sha256s(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """The hex sha256 of each file in ``paths``, reading and writing the record at most once;
    a digest is remembered if its file is unchanged since it was hashed."""
    remember = os.environ.get("SEQZOO_VERIFY", "").strip().lower() != "always"
    records: dict[str, dict[str, Any]] = {}  # record file -> its entries, read once
    changed: set[str] = set()
    digests: list[str] = []
    for path in paths:
        # the key need not be canonical: the identity below is checked on the file itself
        key = os.path.abspath(path)
        stat = os.stat(key)
        identity = _identity(stat)
        known = _KNOWN.get(key) if remember else None
        if known is not None and known[0] == identity:
            digests.append(known[1])
            continue
        record = _record_file(os.path.dirname(key))
        if record not in records:
            records[record] = _read(record) if remember else {}
        entries = records[record]
        entry = entries.get(key)
        if isinstance(entry, dict) and entry.get("stat") == identity:
            digest = entry.get("sha256")
            if isinstance(digest, str) and len(digest) == 64:
                digests.append(digest)
                _know(key, identity, digest)
                continue
        digest = file_sha256(key)
        digests.append(digest)
        now = time.time()
        settled = now - max(stat.st_mtime_ns, stat.st_ctime_ns) / 1e9 >= _SETTLED_SECONDS
        if remember and settled and _identity(os.stat(key)) == identity:
            entries[key] = {"stat": identity, "sha256": digest, "at": now}
            changed.add(record)
            _know(key, identity, digest)
    for record in changed:
        _write(record, records[record])
    return digests


def verified_sha256(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of ``path``: remembered if the file is unchanged since it was hashed."""
    return verified_sha256s([path])[0]
