"""Where a pretrained model's files are: a local directory, a zoo entry (registered by a
plugin: a directory, bundled weights or a Hub repo, with the sha256 of its files) or a Hub
repository downloaded into the standard cache. A Hub repo id that a zoo entry bundles (its
``repo_id`` metadata), asked for without a revision, loads the bundled copy: offline, checked.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from seqzoo.core.errors import ConfigError, UnknownNameError, WeightsError

from .hub import CONFIG_NAME, WEIGHTS_NAME, download, is_repo_id, parse_repo_id

__all__ = ["locate"]

_LAZY_ATTR = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def _zoo_target(spec: Any, where: str) -> str:
    """A zoo entry's directory or repo id. Its factory is that string, a callable returning
    it, or a ``"package.module:attr"`` naming either (imported only now: bundled weights)."""
    target: Any = spec.factory
    if isinstance(target, str) and _LAZY_ATTR.match(target) and not Path(target).is_dir():
        target = spec.load()
    if callable(target):
        target = target()
    if not isinstance(target, (str, os.PathLike)):
        raise WeightsError(f"{where} gives {target!r}, not a directory path or a Hub repo id")
    return os.fspath(target)


def _bundled_copy(repo_id: str, registry: Any) -> tuple[Path, dict[str, str], str] | None:
    """A zoo entry whose ``repo_id`` metadata is ``repo_id`` and whose files are a local
    directory (weights bundled with a package): load those, offline, with its checksums. Only
    for the entry's own revision: a caller naming a revision wants the Hub's."""
    for spec in registry.list("zoo"):
        if spec.metadata.get("repo_id") != repo_id:
            continue
        where = f"zoo entry {spec.name!r} ({spec.plugin.label})"
        target = Path(_zoo_target(spec, where)).expanduser()
        if target.is_dir():
            expected = dict(spec.metadata.get("files") or {})
            return target, expected, f"{where}, the bundled copy of {repo_id!r} at {str(target)!r}"
    return None


def locate(
    name_or_path: str | os.PathLike[str],
    revision: str | None,
    *,
    registry: Any,
    local_files_only: bool,
    cache_dir: str | os.PathLike[str] | None,
) -> tuple[Path, dict[str, str], str]:
    """Where the model's files are: ``(directory, expected checksums, description)``."""
    if isinstance(name_or_path, os.PathLike) or (
        isinstance(name_or_path, str) and Path(name_or_path).expanduser().is_dir()
    ):
        path = Path(name_or_path).expanduser()
        if revision is not None:
            raise ConfigError("revision= applies to Hub repositories, not to a local directory")
        return path, {}, f"model directory {str(path)!r}"
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise ConfigError(
            "from_pretrained takes a directory, a zoo name or a Hub repo id ('org/name')",
            field="name_or_path",
        )
    text = name_or_path.strip()
    base, _, pinned = text.partition("@")
    if pinned and revision is not None and pinned != revision:
        raise ConfigError(
            f"{text!r} pins revision {pinned!r} but revision={revision!r} was passed; give one",
            field="revision",
        )
    wanted = pinned or revision

    if base in registry.names("zoo"):
        spec = registry.get("zoo", base)
        where = f"zoo entry {base!r} ({spec.plugin.label})"
        target = _zoo_target(spec, where)
        # the entry's checksums describe its own revision; another one has other files
        expected = dict(spec.metadata.get("files") or {}) if wanted is None else {}
        if Path(target).expanduser().is_dir():
            if wanted is not None:
                raise ConfigError(f"{where} is a local directory; it has no revisions")
            return Path(target).expanduser(), expected, f"{where} at {target!r}"
        if not is_repo_id(target):
            raise WeightsError(
                f"{where} points at {target!r}, which is neither an existing directory nor a "
                "Hub repo id ('org/name')"
            )
        repo_id, entry_revision = parse_repo_id(target)
        revision_used = wanted or entry_revision or spec.metadata.get("revision")
        path = download(
            repo_id, revision_used, local_files_only=local_files_only, cache_dir=cache_dir
        )
        return path, expected, f"{where}, Hub repository {repo_id!r}"

    if is_repo_id(text):
        repo_id, revision_used = parse_repo_id(text, revision)
        if revision_used is None:
            bundled = _bundled_copy(repo_id, registry)
            if bundled is not None:
                return bundled
        path = download(
            repo_id, revision_used, local_files_only=local_files_only, cache_dir=cache_dir
        )
        return (
            path,
            {},
            f"Hub repository {repo_id!r}"
            + (f" at revision {revision_used!r}" if revision_used else ""),
        )
    if Path(text).expanduser().exists():
        raise WeightsError(
            f"{text!r} is a file; from_pretrained takes the directory that holds "
            f"{CONFIG_NAME} and {WEIGHTS_NAME}"
        )
    error = UnknownNameError("zoo", text, registry.names("zoo"))
    error.args = (
        f"{error}; {text!r} is not a local directory, a zoo name or a Hub repo id ('org/name')",
    )
    raise error
