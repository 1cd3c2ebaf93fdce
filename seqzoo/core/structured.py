"""Bounded parsing of the structured text users hand in: spec and run files (YAML, TOML,
JSON) and the YAML values of ``KEY=VALUE`` flags.

Every parse is bounded, so a small hostile or mistaken input cannot exhaust memory or the
stack: at most :data:`MAX_BYTES` of text, :data:`MAX_DEPTH` levels of nesting, and
:data:`MAX_NODES` values once YAML aliases are expanded (a 500-byte "billion laughs" file of
nested aliases would otherwise stand for hundreds of millions of values, which copying or
writing the config would expand). Each limit is a :class:`~seqzoo.core.errors.ConfigError`
naming it. Nothing here imports torch.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .validate import check_nesting

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "parse_structured_text",
    "parse_yaml",
    "read_structured_file",
]

#: Largest spec or run file, in bytes (a spec of a hundred layers is a few kilobytes).
MAX_BYTES = 1 << 20
#: Deepest nesting of lists and mappings (a spec nests three levels per block).
MAX_DEPTH = 64
#: Most values (scalars, lists and mappings), counted with YAML aliases expanded.
MAX_NODES = 100_000

_SUFFIXES = (".yaml", ".yml", ".toml", ".json")


def read_structured_file(file: Path, *, what: str = "file") -> Any:
    """Parse a ``.yaml``/``.yml``, ``.toml`` or ``.json`` file within the limits; a clear
    :class:`ConfigError` otherwise (missing file, other suffix, not UTF-8, syntax, a limit)."""
    file = Path(file)
    if not file.is_file():
        raise ConfigError(f"{what} {str(file)!r} does not exist")
    suffix = file.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ConfigError(
            f"{what} {str(file)!r} must end in .yaml, .yml, .toml or .json, not {suffix!r}"
        )
    with file.open("rb") as handle:
        raw = handle.read(MAX_BYTES + 1)  # never more than the limit, whatever the file's size
    if len(raw) > MAX_BYTES:
        raise ConfigError(
            f"{what} {str(file)!r} is larger than {MAX_BYTES:,} bytes, the limit for a spec or "
            "run file; keep data (series, vocabularies) in separate files"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{str(file)!r} is not UTF-8 text ({exc.reason})") from None
    return parse_structured_text(text, suffix.lstrip("."), str(file))


def parse_structured_text(text: str, kind: str, where: str) -> Any:
    """Parse ``text`` as ``kind`` (``yaml``/``yml``, ``toml`` or ``json``) within the limits;
    ``where`` names the source in errors."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{where} is longer than {MAX_BYTES:,} characters")
    parsers: dict[str, Callable[[str], Any]] = {
        "json": json.loads,
        "toml": _toml,
        "yaml": lambda text: parse_yaml(text, where=where),
        "yml": lambda text: parse_yaml(text, where=where),
    }
    try:
        value = parsers[kind](text)
    except ConfigError:
        raise
    except RecursionError:  # the JSON and TOML parsers recurse once per nesting level
        raise ConfigError(
            f"cannot parse {where}: it nests lists or mappings deeper than {MAX_DEPTH} levels"
        ) from None
    except Exception as exc:  # the parser's own message says where, on one line
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        if mark is not None:
            reason += f" (line {mark.line + 1}, column {mark.column + 1})"
        raise ConfigError(f"cannot parse {where}: {' '.join(reason.split())}") from None
    check_nesting(value, where=where, max_depth=MAX_DEPTH, max_nodes=MAX_NODES)
    return value


def _toml(text: str) -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    return tomllib.loads(text)


def parse_yaml(text: str, *, where: str = "the YAML") -> Any:
    """``yaml.safe_load`` within the limits (aliases expanded): a :class:`ConfigError` naming
    ``where`` as soon as composing the document passes one; ``yaml.YAMLError`` for a syntax
    error."""
    import yaml

    if len(text) > MAX_BYTES:
        raise ConfigError(f"{where} is longer than {MAX_BYTES:,} characters")
    loader = _bounded_loader(yaml)(text)
    try:
        value = loader.get_single_data()
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    finally:
        loader.dispose()
    check_nesting(value, where=where, max_depth=MAX_DEPTH, max_nodes=MAX_NODES)
    return value


_LOADER: Any = None


def _bounded_loader(yaml: Any) -> Any:
    """A ``SafeLoader`` that counts, while it composes, how many values each node stands for
    with aliases expanded, and how deep it is; made once (PyYAML is imported lazily)."""
    global _LOADER
    if _LOADER is not None:
        return _LOADER

    class BoundedLoader(yaml.SafeLoader):
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._depth = 0
            self._sizes: dict[int, int] = {}  # id(node) -> values it stands for, expanded

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                node = super().compose_node(parent, index)
                size = self._sizes.get(id(node))
                if size is None:  # the alias is inside the node it names
                    raise ConfigError(
                        f"the YAML alias *{event.anchor} refers to a node that contains it (a "
                        f"recursive structure, line {event.start_mark.line + 1}); write it out"
                    )
                self._count(size, event)
                return node
            self._depth += 1
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ConfigError(
                    f"it nests lists or mappings deeper than {MAX_DEPTH} levels (line "
                    f"{mark.line + 1})"
                )
            try:
                node = super().compose_node(parent, index)
            finally:
                self._depth -= 1
            size = 1
            if isinstance(node, yaml.SequenceNode):
                size += sum(self._sizes[id(child)] for child in node.value)
            elif isinstance(node, yaml.MappingNode):
                size += sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
            self._sizes[id(node)] = size
            self._count(size, node)
            return node

        def _count(self, size: int, at: Any) -> None:
            if size > MAX_NODES:
                raise ConfigError(
                    f"it stands for more than {MAX_NODES:,} values once its YAML aliases are "
                    f"expanded (line {at.start_mark.line + 1}); write the values out, or use "
                    "fewer nested aliases"
                )

    _LOADER = BoundedLoader
    return _LOADER
