"""The entries of a model folder, read once per load, and its small files' contents.

A process remembers a folder's listing while the folder is provably unchanged, as
:mod:`seqzoo.zoo.digests` remembers a file's digest: by its device, inode and modification and
change times. Adding, removing, renaming or replacing an entry (a file swapped for a link)
changes the folder's times, which no ordinary program can set back, and a swap of the whole
folder changes its inode. A listing is remembered only when the folder's last change is a few
seconds old (a change within the same timestamp tick cannot hide) and it holds no links,
whose targets can change without the folder changing. A small file's contents are remembered
the same way, by its size, inode and times. ``SEQZOO_VERIFY=always`` turns the memory off.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat as stat_module
import time
from pathlib import Path

from seqzoo.core.errors import WeightsError
from seqzoo.core.files import recover_directory

from .digests import _SETTLED_SECONDS

__all__ = ["Listing", "read_bytes", "read_listing"]


@dataclasses.dataclass(frozen=True)
class Listing:
    """A folder's entries: every name, those that are files (following links) and those that
    are plain files themselves (not links)."""

    names: frozenset[str]
    files: frozenset[str]
    plain: frozenset[str]


#: Listings of unchanged folders: folder -> (its device, inode, mtime and ctime; its listing).
_KNOWN: dict[str, tuple[tuple[int, int, int, int], Listing]] = {}
_MAX_KNOWN = 1024


def _identity(info: os.stat_result) -> tuple[int, int, int, int]:
    return info.st_dev, info.st_ino, info.st_mtime_ns, info.st_ctime_ns


def _remember() -> bool:
    return os.environ.get("SEQZOO_VERIFY", "").strip().lower() != "always"


def _settled(info: os.stat_result) -> bool:
    """Whether the last change is old enough that a later one gets other times."""
    return time.time() - max(info.st_mtime_ns, info.st_ctime_ns) / 1e9 >= _SETTLED_SECONDS


def _scan(directory: Path) -> tuple[Listing, bool]:
    """The listing, and whether it holds a link."""
    names: set[str] = set()
    files: set[str] = set()
    plain: set[str] = set()
    links = False
    with os.scandir(directory) as entries:
        for entry in entries:
            name = entry.name
            names.add(name)
            if entry.is_file(follow_symlinks=False):
                plain.add(name)
                files.add(name)
            elif entry.is_symlink():
                links = True
                if entry.is_file():
                    files.add(name)
    return Listing(frozenset(names), frozenset(files), frozenset(plain)), links


def read_listing(directory: Path, where: str, info: os.stat_result | None = None) -> Listing:
    """The entries of the model folder ``directory``; ``info`` is its ``os.stat`` taken just
    before (when known), which lets an unchanged folder's remembered listing answer. A folder
    a killed save left missing is recovered first."""
    key = os.fspath(directory)
    remember = _remember()
    if info is not None and remember:
        known = _KNOWN.get(key)
        if known is not None and known[0] == _identity(info):
            return known[1]
    for attempt in range(2):
        try:
            listing, links = _scan(directory)
        except (FileNotFoundError, NotADirectoryError):
            # a save killed between its two renames: finish it and look again
            if attempt or os.path.lexists(directory) or not recover_directory(directory):
                break
            info = None  # another folder now
            continue
        if (
            remember
            and info is not None
            and not links
            and stat_module.S_ISDIR(info.st_mode)
            and _settled(info)
        ):
            if len(_KNOWN) >= _MAX_KNOWN:
                _KNOWN.clear()
            _KNOWN[key] = (_identity(info), listing)
        return listing
    raise WeightsError(f"{where} does not exist or is not a directory")


#: Contents of small unchanged files (config.json): path -> (identity with size, contents).
_CONTENTS: dict[str, tuple[tuple[int, int, int, int, int], bytes]] = {}
_MAX_CONTENT = 1 << 16  # bytes; larger files are read every time (bounds the memory)


def read_bytes(path: Path) -> bytes:
    """The contents of the file ``path``, remembered while the file is provably unchanged (its
    size, device, inode, mtime and ctime, settled as a listing must be): an unchanged
    ``config.json`` costs a stat, not an open and a read. An :class:`OSError` propagates."""
    key = os.fspath(path)
    info = None
    if _remember():
        with contextlib.suppress(OSError):  # open() below reports it
            info = os.stat(key)
        if info is not None:
            known = _CONTENTS.get(key)
            if known is not None and known[0] == (info.st_size, *_identity(info)):
                return known[1]
    with open(key, "rb") as file:
        data = file.read()
    # stat before the read: a change meanwhile moves the times, so the next stat misses
    if info is not None and len(data) == info.st_size <= _MAX_CONTENT and _settled(info):
        if len(_CONTENTS) >= _MAX_KNOWN:
            _CONTENTS.clear()
        _CONTENTS[key] = ((info.st_size, *_identity(info)), data)
    return data
