"""Turn a trained run directory into a zoo entry: a model folder plus its catalogue record.

:func:`publish_run` loads a run's best (or last) checkpoint (:func:`seqzoo.core.workflow.
load_run`), scores it on its data's test split beside the naive baselines
(:func:`seqzoo.core.metrics.evaluate`), and writes the model folder as ``seqzoo zoo build``
writes a bundled entry: ``config.json``, ``model.safetensors``, the model card ``README.md``,
``tokenizer.json`` for text models, ``last_window.json`` for forecasters (so ``seqzoo predict``
continues the series) and ``reference.safetensors`` (the first test inputs and the saved
model's outputs for them, which :func:`seqzoo.testing.check_zoo_entry` compares against). It
returns the entry's catalogue record, the same schema as ``seqzoo/zoo/catalogue.json``'s (see
the ``register_zoo`` hookspec), for a plugin to register the folder under::

    @seqzoo.hookimpl
    def register_zoo(register):
        register(name, folder, **entry_metadata(record))

``seqzoo zoo publish RUN_DIR OUT_DIR`` runs it and prints the record as JSON.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seqzoo.core.errors import ConfigError

from .catalogue import METADATA_KEYS

__all__ = ["entry_metadata", "publish_run"]

#: The headline metric of each task (as in the bundled catalogue); classification: accuracy.
_HEADLINES = {"classification": "accuracy"}
#: Trainer options that say how a run was watched, not how the model was trained.
_RUN_ONLY = ("quiet", "plot", "run_dir")
_ENTRY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def entry_metadata(record: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``register(name, folder, ...)`` for a catalogue ``record``:
    its description and the metadata fields (:data:`~seqzoo.zoo.catalogue.METADATA_KEYS`)."""
    missing = [key for key in METADATA_KEYS if key not in record]
    if missing:
        raise ConfigError(f"the zoo record lacks {', '.join(missing)}")
    return {
        "description": str(record.get("description") or ""),
        **{key: record[key] for key in METADATA_KEYS},
    }


def _headline(task: str) -> str:
    from .build import HEADLINE

    return HEADLINE.get(task) or _HEADLINES.get(task, "loss")


def _check_target(directory: Path) -> None:
    """Replace only a model folder (files, no subfolders) or an empty one: a published entry
    is swapped in whole, so anything else in the way would be lost."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise ConfigError(f"{str(directory)!r} exists and is not a directory; choose another")
    entries = list(directory.iterdir())
    if any(p.is_dir() for p in entries) or (entries and not (directory / "config.json").is_file()):
        raise ConfigError(
            f"{str(directory)!r} holds files that are not a saved model; publish into a new "
            "or empty folder (or a previous publication, which is replaced)"
        )


def _write_reference(model: Any, split: Any, name: str, directory: Path) -> dict[str, Any] | None:
    """Save the split's first two inputs and ``model``'s outputs for them."""
    import torch
    from safetensors.torch import save_file

    from .build import REFERENCE_NAME, REFERENCE_SAMPLES

    if len(split) == 0:
        return None
    inputs = split.inputs[:REFERENCE_SAMPLES].contiguous().clone()
    with torch.no_grad():
        outputs = model(inputs).contiguous()
    tensors = {"input": inputs, "output": outputs}
    save_file(tensors, str(directory / REFERENCE_NAME), metadata={"split": name})
    return {
        "file": REFERENCE_NAME,
        "split": name,
        "samples": list(range(len(inputs))),
        "shapes": {key: list(value.shape) for key, value in tensors.items()},
    }


def _card(
    description: str, report: dict[str, Any], training: dict[str, Any], extra: Mapping[str, Any]
) -> dict[str, Any]:
    def spell(part: Any) -> str:
        if not isinstance(part, Mapping):
            return str(part)
        rest = ", ".join(f"{k}={v!r}" for k, v in part.items() if k != "name")
        return f"{part.get('name')} ({rest})" if rest else str(part.get("name"))

    rows: dict[str, Any] = {
        key: spell(training[key]) for key in ("dataset", "trainer", "optimizer", "schedule")
    }
    rows = {k: v for k, v in rows.items() if training.get(k)}
    rows.update({"best epoch": training.get("best_epoch"), "seed": training.get("seed")})
    card = {
        "description": description,
        "results_note": f"On the {report['split']} split of `{report['dataset']}` "
        f"({report['samples']} samples), beside naive baselines.",
        "dataset": report["dataset"],
        "metrics": report["model"],
        "baselines": report["baselines"],
        "training": rows,
    }
    card.update({k: v for k, v in extra.items() if v})
    return card


def publish_run(
    run_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    name: str | None = None,
    description: str | None = None,
    checkpoint: str = "best",
    split: str = "test",
    repo_id: str | None = None,
    license: str | None = None,
    registry: Any = None,
) -> dict[str, Any]:
    """Publish the run in ``run_dir`` as the zoo entry folder ``out_dir``; return its record.

    ``name`` (default: ``out_dir``'s folder name) is the entry's name, ``checkpoint`` the run's
    checkpoint to publish (``best``, falling back to ``last``), ``split`` the split scored for
    ``metrics`` and the reference outputs. ``repo_id`` and ``license`` go on the model card
    and into the record. The folder is written beside ``out_dir`` and swapped in whole: a
    failure leaves what was there (a previous publication, which is replaced; any other
    non-empty folder is refused).
    """
    from seqzoo.core.api import get_registry
    from seqzoo.core.files import staged_directory
    from seqzoo.core.metrics import evaluate
    from seqzoo.core.workflow import load_run, read_run_spec

    from .build import _add_last_window
    from .hub import file_sha256
    from .pretrained import load_directory, write_pretrained

    registry = registry if registry is not None else get_registry()
    target = Path(out_dir).expanduser()
    name = name if name is not None else target.resolve().name
    if not _ENTRY_NAME.match(name):
        raise ConfigError(
            f"{name!r} is not a zoo entry name; use letters, digits, '.', '_' and '-' "
            "(e.g. lstm-mydata)",
            field="name",
        )
    if split not in ("train", "validation", "test"):
        raise ConfigError(f"must be train, validation or test, got {split!r}", field="split")
    spec = read_run_spec(Path(run_dir))  # "not a run directory" before any work
    if (spec.get("init") or {}).get("forecaster"):
        raise ConfigError(
            f"{str(run_dir)!r} fine-tuned a zero-shot forecaster: the run directory is the "
            "model folder already; load or push it as it is"
        )
    _check_target(target)
    run = load_run(run_dir, checkpoint, registry=registry)
    model, data = run.model, run.data
    report = evaluate(model, data, split)
    if data.task in ("forecast", "regression"):
        report["model"].pop("loss", None)  # in scaled units; MAE / RMSE / sMAPE are raw
    history = _best_epoch(Path(run_dir))
    trainer = {k: v for k, v in (spec.get("trainer") or {}).items() if k not in _RUN_ONLY}
    training = {
        **{key: spec.get(key) for key in ("model", "optimizer", "schedule")},
        "trainer": trainer,
        "dataset": spec.get("dataset"),
        "seed": (spec.get("trainer") or {}).get("seed", 0),
        "best_epoch": history,
        "checkpoint": checkpoint,
    }
    if spec.get("init"):
        training["init"] = spec["init"]
    text = description if description is not None else f"A seqzoo model of {data.name}"
    # the card's heading and load snippet name the Hub copy, else the entry itself
    extra = {"repo_id": repo_id or name, "license": license}
    card = _card(text if text.endswith(".") else f"{text}.", report, training, extra)
    dataset = dict(spec.get("dataset") or {"name": data.name})
    with staged_directory(target, carry_others=False, action="publish the zoo entry to") as staging:
        write_pretrained(
            model,
            staging,
            preprocessing=data.preprocessing,
            task=data.task,
            card=card,
            dataset=dataset,
            registry=registry,
        )
        _add_last_window(staging, data, card)
        # the reference comes from the saved files, loaded back: what from_pretrained gives
        loaded = load_directory(staging, device="cpu", registry=registry)
        reference = _write_reference(loaded, getattr(data, split), split, staging)
        for path in staging.iterdir():
            path.chmod(0o644)  # safetensors writes owner-only files; a zoo entry is for all
    files = {p.name: file_sha256(p) for p in sorted(target.iterdir())}
    record: dict[str, Any] = {
        "description": text,
        "repo_id": repo_id,
        "architecture": loaded.registry_name,
        "task": data.task,
        "dataset": {"name": dataset.pop("name"), "config": dataset},
        "metrics": {
            "split": split,
            "samples": report["samples"],
            "units": report["units"],
            "headline": _headline(data.task),
            "model": report["model"],
            "baselines": report["baselines"],
        },
        "size_bytes": sum((target / n).stat().st_size for n in files),
        "files": files,
        # the dataset is the record's own key; a part the run did not use is left out
        "training": {k: v for k, v in training.items() if k != "dataset" and v is not None},
    }
    if reference is not None:
        record["reference"] = reference
    if license:
        record["license"] = license
    return record


def _best_epoch(run_dir: Path) -> int | None:
    """The best epoch ``history.json`` records (None when it records none)."""
    import json

    try:
        history = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    best = history.get("best_epoch") if isinstance(history, dict) else None
    if best is None and isinstance(history, dict):
        best = (history.get("result") or {}).get("best_epoch")
    return best if isinstance(best, int) else None
