"""One exception hierarchy: every error seqzoo raises on bad input is a :class:`SeqzooError`.

Messages name the problem and what would fix it; the CLI prints them as one line and exits 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "ConfigError",
    "DuplicateNameError",
    "Interrupted",
    "NotSteppableError",
    "PluginError",
    "SeqzooError",
    "ShapeError",
    "StorageError",
    "UnknownNameError",
    "WeightsError",
]


class SeqzooError(Exception):
    """Base class of every error seqzoo raises on purpose."""


class UnknownNameError(SeqzooError, KeyError):
    """A name that no plugin registered; the message suggests the closest registered names."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        self.suggestions = difflib.get_close_matches(name, self.known, n=3, cutoff=0.5)
        message = f"unknown {kind} {name!r}"
        if self.suggestions:
            message += "; did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        elif self.known:
            if kind == "kind":
                message += f"; choose one of {', '.join(self.known)}"
            else:
                listing = {"zoo": "seqzoo zoo list", "name": "seqzoo list"}.get(
                    kind, f"seqzoo list {kind}s"
                )
                message += f"; run `{listing}` to see the {len(self.known)} registered"
        else:
            message += f"; no {kind}s are registered (check `seqzoo plugins`)"
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class ConfigError(SeqzooError, ValueError):
    """A bad configuration value; ``path`` locates it (e.g. ``spec[2].parallel[1]``)."""

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None) -> None:
        self.reason = message
        self.path = path
        self.field = field
        where = path or ""
        if field:
            where = f"{where}.{field}" if where else field
        super().__init__(f"{where}: {message}" if where else message)


class ShapeError(SeqzooError, ValueError):
    """An input whose shape or dtype is not what a module expects."""


class NotSteppableError(SeqzooError, RuntimeError):
    """Step-by-step inference asked of a module that cannot run causally one step at a time."""


class PluginError(SeqzooError):
    """A plugin that failed to import, to register, or that targets another hook API version."""


class DuplicateNameError(PluginError):
    """Two plugins registered the same name of the same kind without one overriding."""


class WeightsError(SeqzooError):
    """Weights that are missing, corrupt, of the wrong format, or do not fit the model."""


class Interrupted(SeqzooError):
    """The user stopped a long job (Ctrl-C) after its state was saved; the CLI exits 130."""


class StorageError(SeqzooError, OSError):
    """A file or folder that could not be read or written: a full disk, a read-only file
    system, a missing permission, a name too long, a file where a folder should be. The
    message names the path, the cause, what was kept and the fix; ``errno`` and ``path`` hold
    the operating system's error number and the path (see :mod:`seqzoo.core.files`). Being an
    :class:`OSError` too, it is caught where an ``OSError`` is."""

    def __init__(
        self,
        message: str,
        *,
        errno: int | None = None,
        path: str | None = None,
        kept: str | None = None,
    ) -> None:
        super().__init__(message)
        self.errno = errno
        self.path = path
        self.filename = path
        self.kept = kept

    def __str__(self) -> str:  # OSError would format "[Errno N] ..." from errno instead
        return str(self.args[0]) if self.args else ""
