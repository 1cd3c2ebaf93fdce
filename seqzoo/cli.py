"""The ``seqzoo`` command. Core commands live here; plugins add theirs through
``register_commands(cli)`` (the built-in train/evaluate/predict/zoo commands do too).

Listing commands import no torch: they read registry records only.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from .core.errors import Interrupted, SeqzooError, UnknownNameError
from .core.specs import KINDS, Spec

__all__ = ["cli", "main"]

_KIND_WORDS = {f"{kind}s" if kind != "zoo" else "zoo": kind for kind in KINDS}
_WILDCARDS = set("*?[")


def _registry() -> Any:
    from .core.api import get_registry

    return get_registry()


def _warn_failures() -> None:
    failures = _registry().failures
    if failures:
        names = ", ".join(p.info.name for p in failures)
        click.echo(
            f"warning: {len(failures)} plugin(s) failed to load ({names}); "
            "run `seqzoo plugins` for the errors",
            err=True,
        )


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
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
            kind, pattern = None, kind  # `seqzoo list '*lstm*'`: every kind
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
    _warn_failures()


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
        if spec.override:
            click.echo("  overrides: another plugin's record of the same name")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins(as_json: bool) -> None:
    """List the plugins found: name, distribution and version, hooks, and load errors."""
    records = _registry().plugins
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


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: errors print one line and exit with status 2."""
    try:
        _registry().add_commands(cli)
        code = cli.main(args=argv, prog_name="seqzoo", standalone_mode=False)
    except Interrupted as exc:
        click.echo(f"interrupted: {exc}", err=True)
        sys.exit(130)
    except SeqzooError as exc:
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
        click.echo(
            f"error: internal error: {type(exc).__name__}: {_one_line(str(exc))} (set "
            "SEQZOO_DEBUG=1 for the "
            "traceback, and please report it)",
            err=True,
        )
        sys.exit(1)
    if isinstance(code, int) and code:  # a command's ctx.exit(n) comes back as a value
        sys.exit(code)


def _one_line(message: str) -> str:
    """Messages from torch or a parser may span lines; the CLI prints one."""
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())
