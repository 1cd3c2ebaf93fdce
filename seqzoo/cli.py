"""The ``seqzoo`` command. Core commands live here; plugins add theirs through
``register_commands(cli)`` (the built-in train/evaluate/predict/zoo commands do too).

Listing commands import no torch: they read registry records only.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
import warnings
from typing import TYPE_CHECKING, Any

import click

from .core.errors import Interrupted, PluginError, SeqzooError, UnknownNameError
from .core.specs import KINDS, Spec

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["cli", "main"]

_KIND_WORDS = {f"{kind}s" if kind != "zoo" else "zoo": kind for kind in KINDS}
_WILDCARDS = set("*?[")


def _registry() -> Any:
    from .core.api import get_registry

    return get_registry()


def _load_plugins() -> None:
    """Build the registry and add the plugins' commands; each plugin warning (a plugin left
    out, a selection naming no plugin) is printed once, on stderr, as ``warning: ...``."""
    from .core.registry import PluginWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PluginWarning)
        _registry().add_commands(cli)
    for warning in caught:
        if issubclass(warning.category, PluginWarning):
            click.echo(f"warning: {warning.message}", err=True)
        else:  # someone else's warning: as Python would have shown it
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )


def _table(rows: Sequence[tuple[Any, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)]
        click.echo("  ".join(cells).rstrip())


def _spec_dict(spec: Spec) -> dict[str, Any]:
    return {
        "kind": spec.kind,
        "name": spec.name,
        "description": spec.description,
        "plugin": spec.plugin.name,
        "distribution": spec.plugin.distribution,
        "version": spec.plugin.version,
        "factory": spec.factory_path,
        "defaults": dict(spec.defaults),
        "override": spec.override,
        "replaces": spec.replaces.plugin.name if spec.replaces else None,
        "metadata": dict(spec.metadata),
    }


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="seqzoo")
def cli() -> None:
    """seqzoo: sequence models from a plugin registry and a pretrained zoo."""


@cli.command(name="list")
@click.argument("kind", required=False)
@click.argument("pattern", required=False, default="*")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(kind: str | None, pattern: str, as_json: bool) -> None:
    """List registered things: KIND is one of models, layers, datasets, optimizers, schedules,
    trainers, zoo (all when omitted); PATTERN is a shell-style wildcard such as '*lstm*'."""
    if kind is not None and kind not in _KIND_WORDS and kind not in KINDS:
        if _WILDCARDS & set(kind) and pattern == "*":
            pattern, kind = kind, None  # `seqzoo list '*lstm*'`: every kind
        else:
            raise UnknownNameError("kind", kind, _KIND_WORDS)
    kinds = [_KIND_WORDS.get(kind, kind)] if kind else list(KINDS)
    registry = _registry()
    specs = [spec for k in kinds for spec in registry.list(k, pattern)]
    if as_json:
        click.echo(json.dumps([_spec_dict(s) for s in specs], indent=2))
    else:
        rows = [(s.name, s.kind, s.plugin.label, s.description) for s in specs]
        if rows:
            _table(rows, ("NAME", "KIND", "PLUGIN", "DESCRIPTION"))
        else:
            what = f"{kind}" if kind else "entries"
            click.echo(f"no {what} match {pattern!r}", err=True)


@cli.command()
@click.argument("name")
@click.option("--kind", type=click.Choice(KINDS), help="Only look among this kind.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def info(name: str, kind: str | None, as_json: bool) -> None:
    """Show what NAME is, which plugin registered it, and its defaults."""
    registry = _registry()
    specs = [registry.get(kind, name)] if kind else registry.find(name)
    if as_json:
        click.echo(json.dumps([_spec_dict(s) for s in specs], indent=2))
        return
    for i, spec in enumerate(specs):
        if i:
            click.echo()
        click.echo(f"{spec.name} ({spec.kind})")
        if spec.description:
            click.echo(f"  {spec.description}")
        click.echo(f"  plugin:   {spec.plugin.name} ({spec.plugin.label})")
        click.echo(f"  factory:  {spec.factory_path}")
        if spec.defaults:
            click.echo("  defaults:")
            for key, value in spec.defaults.items():
                click.echo(f"    {key} = {json.dumps(value)}")
        for key, value in spec.metadata.items():
            click.echo(f"  {key}: {json.dumps(value) if not isinstance(value, str) else value}")
        if spec.replaces is not None:
            old = spec.replaces
            click.echo(
                f"  overrides: the {old.kind} {old.name!r} of plugin {old.plugin.name} "
                f"({old.plugin.label}), factory {old.factory_path}"
            )
        elif spec.override:
            click.echo("  overrides: nothing (no other plugin registers this name)")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--check", is_flag=True, help="Also import every registered factory.")
def plugins(as_json: bool, check: bool) -> None:
    """List the plugins found: name, distribution and version, hooks, and load errors.

    With --check, import every registered factory too and report each that fails; the exit
    status is 2 when any plugin or factory fails."""
    records = _registry().plugins
    if check:
        _check_plugins(as_json)
        return
    if as_json:
        click.echo(json.dumps([p.as_dict() for p in records], indent=2))
        return
    rows = [
        (
            p.info.name,
            p.info.label,
            ",".join(h.removeprefix("register_") for h in p.hooks) or "-",
            "ok" if p.ok else f"FAILED: {p.error}",
        )
        for p in records
    ]
    _table(rows, ("PLUGIN", "DISTRIBUTION", "HOOKS", "STATUS"))


def _check_plugins(as_json: bool) -> None:
    registry = _registry()
    problems = registry.check()
    failed = registry.failures
    if as_json:
        report = {
            "plugins": [p.as_dict() for p in registry.plugins],
            "factories": [{**_spec_dict(spec), "error": str(error)} for spec, error in problems],
        }
        click.echo(json.dumps(report, indent=2))
    else:
        checked = sum(1 for spec in registry if spec.kind != "zoo")
        for record in failed:
            click.echo(f"FAILED  plugin {record.info.name}: {record.error}")
        for _, error in problems:
            click.echo(f"FAILED  {error}")
        click.echo(
            f"{len(registry.plugins) - len(failed)} of {len(registry.plugins)} plugins loaded; "
            f"{checked - len(problems)} of {checked} factories import"
        )
    if failed or problems:
        raise PluginError(
            f"{len(failed)} plugin(s) failed to load and {len(problems)} factory(ies) cannot "
            "be imported (listed above)"
        )


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: errors print one line and exit with status 2."""
    try:
        _load_plugins()
        code = cli.main(args=argv, prog_name="seqzoo", standalone_mode=False)
    except Interrupted as exc:
        click.echo(f"interrupted: {exc}", err=True)
        sys.exit(130)
    except SeqzooError as exc:
        if isinstance(exc, PluginError) and exc.__cause__ is not None and _plugin_debug():
            # the failing plugin's own traceback, on demand
            traceback.print_exception(exc.__cause__)
        click.echo(f"error: {_one_line(str(exc))}", err=True)
        sys.exit(2)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug, not bad input: say so briefly, keep the trace on demand
        if os.environ.get("SEQZOO_DEBUG"):
            raise
        storage = _storage_error(exc)
        if storage is not None:  # the file system said no (full, read-only, ...): not a bug
            click.echo(f"error: {_one_line(str(storage))}", err=True)
            sys.exit(2)
        click.echo(
            f"error: internal error: {type(exc).__name__}: {_one_line(str(exc))} (set "
            "SEQZOO_DEBUG=1 for the "
            "traceback, and please report it)",
            err=True,
        )
        sys.exit(1)
    if isinstance(code, int) and code:  # a command's ctx.exit(n) comes back as a value
        sys.exit(code)


def _plugin_debug() -> bool:
    return any(
        os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
        for name in ("SEQZOO_STRICT_PLUGINS", "SEQZOO_DEBUG")
    )


def _storage_error(exc: Exception) -> SeqzooError | None:
    """The :class:`~seqzoo.core.errors.StorageError` for an OS error that escaped a command
    (an ``OSError``, or a library's error reporting one), or None for anything else."""
    import io

    from .core.files import os_error_in, storage_error

    if isinstance(exc, io.UnsupportedOperation):
        return None  # a file used the wrong way: a bug
    error = os_error_in(exc)
    if error is None or (error.errno is None and not isinstance(exc, OSError)):
        return None
    return storage_error(error)


def _one_line(message: str) -> str:
    """Messages from torch or a parser may span lines; the CLI prints one."""
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())
