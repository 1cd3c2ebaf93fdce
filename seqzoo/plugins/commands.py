"""The built-in workflow commands, added through ``register_commands`` like any plugin's."""

from __future__ import annotations

from typing import Any

from seqzoo.core.hookspecs import hookimpl

SEQZOO_HOOK_API = 1


@hookimpl
def register_commands(cli: Any) -> None:
    """Add ``train``, ``evaluate``, ``predict`` and ``generate`` to the ``seqzoo`` command."""
