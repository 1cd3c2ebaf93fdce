"""The bundled zoo, registered as a plugin: every entry of ``catalogue.json``.

Each entry's weights ship inside the package (``seqzoo/zoo/models/<name>/``), so the zoo loads
on a machine with no network; the catalogue records every file's sha256, checked on each load.
An entry's ``repo_id`` (``seqzoo/<name>``) names its Hub copy: ``from_pretrained`` with that
repo id and no revision loads the bundled files, with a revision it asks the Hub.

This module reads JSON only (no torch), so ``seqzoo list`` and ``--help`` stay fast.
``catalogue.json`` is written by :mod:`seqzoo.zoo.build` (``seqzoo zoo build``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from seqzoo.core.errors import ConfigError, WeightsError
from seqzoo.core.files import member_path
from seqzoo.core.hookspecs import Register, hookimpl

__all__ = [
    "CATALOGUE_FORMAT",
    "CATALOGUE_PATH",
    "METADATA_KEYS",
    "MODELS_DIR",
    "ORGANIZATION",
    "ZOO_ROOT",
    "bundled_directory",
    "read_catalogue",
    "registration",
]

SEQZOO_HOOK_API = 1

#: The folder holding ``catalogue.json`` and ``models/`` inside the installed package.
ZOO_ROOT = Path(__file__).resolve().parent
CATALOGUE_PATH = ZOO_ROOT / "catalogue.json"
MODELS_DIR = ZOO_ROOT / "models"
#: The Hub organization every bundled entry is published under.
ORGANIZATION = "seqzoo"
CATALOGUE_FORMAT = "seqzoo.catalogue/1"

#: Entry fields that become the registered record's metadata (``seqzoo info NAME``).
METADATA_KEYS = ("repo_id", "architecture", "task", "dataset", "metrics", "size_bytes", "files")


def read_catalogue(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The catalogue document: ``{"format", "seqzoo_version", "entries": {name: entry}}``.

    A missing file is an empty catalogue (a checkout before the first ``seqzoo zoo build``);
    a file that is not a catalogue is a :class:`ConfigError` naming it.
    """
    path = Path(path) if path is not None else CATALOGUE_PATH
    if not path.is_file():
        return {"format": CATALOGUE_FORMAT, "entries": {}}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"zoo catalogue {str(path)!r} cannot be read as JSON ({exc})") from None
    if (
        not isinstance(document, dict)
        or document.get("format") != CATALOGUE_FORMAT
        or not isinstance(document.get("entries"), dict)
    ):
        raise ConfigError(
            f"zoo catalogue {str(path)!r} is not a {CATALOGUE_FORMAT} document with 'entries'"
        )
    return document


def bundled_directory(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Where the bundled files of entry ``name`` are (``<root>/models/<name>``); a name that
    is no plain folder name (``..``, ``a/b``, absolute) is a :class:`WeightsError`."""
    models = (Path(root) if root is not None else ZOO_ROOT) / "models"
    where = f"zoo models folder {str(models)!r}"
    path = member_path(models, name, where, "the zoo catalogue", kind="zoo's models folder")
    if path.is_symlink() and not path.resolve().is_relative_to(models.resolve()):
        raise WeightsError(
            f"{where}: entry {name!r} is a link out of the zoo's models folder; a bundled "
            "entry's files live inside the package (replace the link with the folder)"
        )
    return path


def registration(
    name: str, entry: dict[str, Any], root: str | os.PathLike[str] | None = None
) -> tuple[str, dict[str, Any]]:
    """``(factory, keyword arguments)`` that register catalogue ``entry``: the factory is the
    bundled directory; the keywords are the description and the metadata fields."""
    missing = [key for key in METADATA_KEYS if key not in entry]
    if missing:
        raise ConfigError(f"zoo catalogue entry {name!r} lacks {', '.join(missing)}")
    metadata = {key: entry[key] for key in METADATA_KEYS}
    directory = bundled_directory(name, root)
    if not isinstance(entry["files"], dict):
        raise ConfigError(f"zoo catalogue entry {name!r}: 'files' must map file names to sha256")
    where = f"zoo entry {name!r} at {str(directory)!r}"
    for file in entry["files"]:  # checked again, on disk, by every load
        member_path(directory, file, where, "the zoo catalogue")
    return str(directory), {"description": entry.get("description", ""), **metadata}


@hookimpl
def register_zoo(register: Register) -> None:
    """Register every bundled entry of ``catalogue.json`` under its name."""
    for name, entry in sorted(read_catalogue()["entries"].items()):
        factory, keywords = registration(name, entry)
        register(name, factory, **keywords)


@hookimpl
def register_commands(cli: Any) -> None:
    """Add ``seqzoo zoo ...`` and ``seqzoo export`` (imported now: click only, no torch)."""
    from .commands import export, zoo

    cli.add_command(zoo)
    cli.add_command(export)
