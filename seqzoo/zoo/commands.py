"""``seqzoo zoo ...`` (list, info, download, push, build, publish) and ``seqzoo export``.

Added by the zoo plugin's ``register_commands`` (:mod:`seqzoo.zoo.catalogue`). Only click is
imported here; torch, huggingface_hub and statsmodels are imported inside the commands that
need them, so ``seqzoo --help`` stays light. Errors are :class:`SeqzooError`\\ s: the CLI
prints one line and exits 2.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from seqzoo.core.errors import ConfigError, UnknownNameError, WeightsError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["export", "zoo"]


def _registry() -> Any:
    from seqzoo.core.api import get_registry

    return get_registry()


def _size(size: Any) -> str:
    if not isinstance(size, (int, float)):
        return "-"
    for unit in ("B", "kB", "MB"):
        if size < 1000 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return "-"  # unreachable: the loop returns at "MB"


def _headline(metrics: Any) -> str:
    """``mae 10.03 (persistence 23.32)``: the headline test metric beside the first baseline."""
    if not isinstance(metrics, dict) or "headline" not in metrics:
        return "-"
    key = metrics["headline"]
    value = (metrics.get("model") or {}).get(key)
    if not isinstance(value, (int, float)):
        return "-"
    text = f"{key} {value:.4g}"
    for label, scores in (metrics.get("baselines") or {}).items():
        if isinstance(scores, dict) and isinstance(scores.get(key), (int, float)):
            return f"{text} ({label} {scores[key]:.4g})"
    return text


def _dataset_name(dataset: Any) -> str:
    if isinstance(dataset, dict):
        return str(dataset.get("name", "-"))
    return str(dataset) if dataset else "-"


def _table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _target(name: str, registry: Any) -> tuple[str, Path | None]:
    """Zoo entry ``name``'s directory or repo id, and that directory (None: on the Hub)."""
    from .sources import _zoo_target

    target = _zoo_target(registry.get("zoo", name), f"zoo entry {name!r}")
    local = Path(target).expanduser()
    return target, local if local.is_dir() else None


@click.group()
def zoo() -> None:
    """Pretrained models: list, inspect, download, publish and rebuild them."""


@zoo.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(as_json: bool) -> None:
    """List the zoo: name, architecture, task, data, size and headline test metric."""
    specs = _registry().list("zoo")
    if as_json:
        records = [
            {
                "name": s.name,
                "description": s.description,
                "plugin": s.plugin.name,
                "source": s.factory_path,
                **s.metadata,
            }
            for s in specs
        ]
        click.echo(json.dumps(records, indent=2))
        return
    if not specs:
        click.echo("the zoo is empty (no plugin registers pretrained models)", err=True)
        return
    rows = [
        (
            s.name,
            str(s.metadata.get("architecture", "-")),
            str(s.metadata.get("task", "-")),
            _dataset_name(s.metadata.get("dataset")),
            _size(s.metadata.get("size_bytes")),
            _headline(s.metadata.get("metrics")),
        )
        for s in specs
    ]
    _table(rows, ("NAME", "ARCHITECTURE", "TASK", "DATA", "SIZE", "TEST METRIC"))


@zoo.command()
@click.argument("name")
@click.option("--revision", help="A Hub branch, tag or commit (Hub entries and repo ids).")
def info(name: str, revision: str | None) -> None:
    """Print the model card (README.md) of a zoo entry, a Hub repo id or a model directory."""
    from .hub import CARD_NAME, member_file
    from .sources import locate

    directory, _, where = locate(
        name, revision, registry=_registry(), local_files_only=False, cache_dir=None
    )
    card = member_file(directory, CARD_NAME, where, "the seqzoo model format")  # no link out
    if not card.is_file():
        raise WeightsError(f"{where} has no model card ({CARD_NAME})")
    click.echo(card.read_text(encoding="utf-8").rstrip("\n"))


@zoo.command()
@click.argument("name_or_repo")
@click.option("--revision", help="A branch, tag or commit of the Hub repository.")
def download(name_or_repo: str, revision: str | None) -> None:
    """Download a zoo entry or Hub repo id into the Hub cache and print where it is.

    A bundled entry (or its repo id, without --revision) needs no download: its path is
    printed. With --revision, a bundled entry's Hub repository is downloaded at that revision.
    """
    from .hub import download as hub_download
    from .hub import is_repo_id, parse_repo_id

    registry = _registry()
    local: Path | None = None
    if name_or_repo in registry.names("zoo"):
        spec = registry.get("zoo", name_or_repo)
        target, local = _target(spec.name, registry)
        repo_id = spec.metadata.get("repo_id") if local is not None else target
    elif is_repo_id(name_or_repo):
        repo_id, revision = parse_repo_id(name_or_repo, revision)
        entries = registry.list("zoo")
        spec = next((s for s in entries if s.metadata.get("repo_id") == repo_id), None)
        if spec is not None:
            local = _target(spec.name, registry)[1]
    else:
        error = UnknownNameError("zoo entry", name_or_repo, registry.names("zoo"))
        if not error.suggestions:
            error.args = (
                f"{name_or_repo!r} is neither a zoo entry (`seqzoo zoo list`) nor a Hub repo id "
                "('org/name')",
            )
        raise error
    if spec is not None and local is not None and revision is None:
        where = spec.plugin.label
        click.echo(f"{spec.name} is bundled with {where} (no download needed): {local}")
        return
    if spec is not None and local is None:
        revision = revision or spec.metadata.get("revision")  # a Hub entry's pinned revision
    if not repo_id:
        raise ConfigError(f"zoo entry {name_or_repo!r} is bundled only; it names no Hub repository")
    click.echo(str(hub_download(repo_id, revision)))


@zoo.command()
@click.argument("directory")
@click.argument("repo_id")
@click.option("--revision", help="The branch to commit to (created when missing).")
@click.option("--private", is_flag=True, help="Create the repository as private.")
@click.option("-m", "--message", help="The commit message.")
@click.option("--dry-run", is_flag=True, help="Check the directory and print the plan only.")
def push(
    directory: str,
    repo_id: str,
    revision: str | None,
    private: bool,
    message: str | None,
    dry_run: bool,
) -> None:
    """Upload a saved model DIRECTORY (or a bundled zoo entry) to REPO_ID in one commit."""
    from .hub import plan_push, push_to_hub

    source = Path(directory)
    if not source.is_dir():
        registry = _registry()
        if directory not in registry.names("zoo"):
            raise ConfigError(f"{directory!r} is neither a directory nor a bundled zoo entry")
        local = _target(directory, registry)[1]
        if local is None:
            raise ConfigError(f"zoo entry {directory!r} lives on the Hub, not in a directory")
        source = local
    if dry_run:
        plan = plan_push(source, repo_id, commit_message=message)
        branch = revision or "main"
        click.echo(f"would push {len(plan.files)} files from {plan.directory} to {plan.repo_id}")
        click.echo(f"branch {branch}, {'private' if private else 'public'}, one commit:")
        click.echo(f"  {plan.commit_message}")
        for line in plan.commit_description.splitlines():
            click.echo(f"  {line}")
        return
    commit = push_to_hub(
        source, repo_id, revision=revision, private=private, commit_message=message
    )
    click.echo(f"pushed {source} to {repo_id}: {commit.commit_url}")


@zoo.command()
@click.argument("names", nargs=-1)
@click.option("--out", type=click.Path(), help="Build into this folder (default: the package).")
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="The first seed of a per-dataset entry; the seed of a zero-shot one.",
)
@click.option(
    "--seeds",
    type=int,
    default=5,
    show_default=True,
    help="Seeds per per-dataset entry (SEED, SEED+1, ...); the median one is shipped.",
)
@click.option(
    "--work",
    type=click.Path(file_okay=False),
    help="Zero-shot pretraining checkpoints (resumed from; default build/zeroshot).",
)
@click.option("--steps", type=int, help="Override the zero-shot recipes' step count.")
@click.option("--device", help="Where zero-shot pretraining runs: cpu (default), cuda, mps.")
def build(
    names: tuple[str, ...],
    out: str | None,
    seed: int,
    seeds: int,
    work: str | None,
    steps: int | None,
    device: str | None,
) -> None:
    """Train, score and save the bundled zoo (NAMES: some entries; default every per-dataset
    entry), then update catalogue.json. A per-dataset entry trains from --seeds seeds, prints
    its test metric's mean ± std beside every baseline (the numbers on its card) and ships the
    median seed. Per-dataset builds are deterministic: a rebuild reproduces the files bit for
    bit. Zero-shot entries (zeroshot-lstm-small, -base) pretrain
    for one to two hours on 2 CPU cores and resume from their checkpoint when interrupted."""
    from .build import build_zoo, check_recipe
    from .catalogue import ZOO_ROOT

    for name in names:
        check_recipe(name)
    began = time.perf_counter()
    if steps is not None and steps < 1:
        raise ConfigError(f"--steps must be at least 1, got {steps}", field="steps")
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}", field="seeds")
    built = build_zoo(
        list(names) or None,
        out=out,
        seed=seed,
        seeds=seeds,
        log=click.echo,
        work=work,
        steps=steps,
        device=device,
    )
    root = Path(out) if out else ZOO_ROOT
    seconds = time.perf_counter() - began
    click.echo(
        f"built {len(built)} entries in {seconds:.0f}s; catalogue: {root / 'catalogue.json'}"
    )


@zoo.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--name", help="The entry's name (default: OUT_DIR's folder name).")
@click.option("--description", help="One line for `seqzoo zoo list` and the model card.")
@click.option("--checkpoint", default="best", show_default=True, help="The checkpoint to publish.")
@click.option("--split", default="test", show_default=True, help="The split scored for metrics.")
@click.option("--repo-id", help="The Hub repository the entry will live in ('org/name').")
@click.option("--license", "license_", help="The license on the model card (e.g. apache-2.0).")
@click.option("--record", type=click.Path(dir_okay=False), help="Also write the record here.")
def publish(
    run_dir: str,
    out_dir: str,
    name: str | None,
    description: str | None,
    checkpoint: str,
    split: str,
    repo_id: str | None,
    license_: str | None,
    record: str | None,
) -> None:
    """Publish a trained RUN_DIR as the zoo entry folder OUT_DIR (weights, config, card,
    reference outputs) and print its catalogue record, {name: record}, as JSON."""
    from seqzoo.core.workflow import write_json_atomic

    from .publish import publish_run

    entry = publish_run(
        run_dir, out_dir, name=name, description=description, checkpoint=checkpoint,
        split=split, repo_id=repo_id, license=license_, registry=_registry(),
    )  # fmt: skip
    document = {name or Path(out_dir).expanduser().resolve().name: entry}
    if record:
        write_json_atomic(Path(record), document)
    click.echo(json.dumps(document, indent=2))


@click.command()
@click.argument("source")
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--verify", is_flag=True, help="Check the file against PyTorch in onnxruntime.")
@click.option("--batch-size", type=int, default=1, show_default=True, help="The example batch.")
@click.option("--opset", type=int, help="The ONNX opset (default: the exporter's).")
def export(source: str, output: str, verify: bool, batch_size: int, opset: int | None) -> None:
    """Export SOURCE (a zoo name, Hub repo id or model directory) to OUTPUT.onnx: one time
    step, with the recurrent state as explicit inputs and outputs."""
    from .onnx import export_onnx, verify_onnx
    from .pretrained import from_pretrained

    model = from_pretrained(source, device="cpu")
    exported = export_onnx(model, output, batch_size=batch_size, opset=opset)
    click.echo(
        f"wrote {output} ({exported.exporter} exporter, opset {exported.opset}; inputs "
        f"{', '.join(exported.input_names)}; outputs {', '.join(exported.output_names)})"
    )
    if verify:
        steps = 20
        difference = verify_onnx(model, output, steps=steps)
        click.echo(f"verified: max |onnx - torch| over {steps} steps = {difference:.3g}")
