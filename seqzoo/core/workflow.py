"""The train / evaluate / predict workflow over registry names, configs and run directories.

``train(model="lstm", dataset="sunspots", optimizer={"name": "adam", "lr": 3e-3}, epochs=20)``
resolves each part through the registry, fits, and returns a :class:`Run`. A run directory
holds ``run.json`` (every part's name and config, so a run can be rebuilt and resumed),
checkpoints, ``metrics.csv``, ``history.json`` and ``loss.png``.

``train(init="lstm-sunspots", dataset=...)`` fine-tunes a zoo model instead (its architecture
and preprocessing carry over; see :mod:`seqzoo.zoo.finetune`): ``run.json`` records it under
``init`` and the run directory also holds the fine-tuned model (``from_pretrained(run_dir)``).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

from .errors import ConfigError
from .validate import refuse_reserved

__all__ = ["Run", "load_run", "load_run_file", "resolve_part", "train"]

RUN_FILE = "run.json"
Part = str | Mapping[str, Any] | list[Any] | None  # a list: a hybrid model's layers


# the parts every run has: for these ``resolve_part`` never returns None (it raises instead)
_Required = Literal["model", "dataset", "optimizer", "trainer"]


@overload
def resolve_part(part: Part, what: _Required) -> tuple[str, dict[str, Any]]: ...
@overload
def resolve_part(part: Part, what: str) -> tuple[str, dict[str, Any]] | None: ...
def resolve_part(part: Part, what: str) -> tuple[str, dict[str, Any]] | None:
    """``"adam"`` or ``{"name": "adam", "lr": 0.01}`` -> ``("adam", {"lr": 0.01})``."""
    if part is None:
        if what in ("model", "dataset", "optimizer", "trainer"):
            raise ConfigError(f"{what} is empty; give a registered name", field=what)
        return None
    if isinstance(part, str):
        return part, {}
    if isinstance(part, Mapping):
        # a hybrid spec only when it names no other model: {"name": "mine", "layers": 3} is
        # the model "mine" with its own `layers` argument
        if "layers" in part and what == "model" and part.get("name") in (None, "hybrid"):
            return "hybrid", {k: v for k, v in part.items() if k != "name"}
        if "name" not in part:
            raise ConfigError(
                f"a {what} mapping needs a 'name' key, got {dict(part)!r}", field=what
            )
        config = {k: v for k, v in part.items() if k != "name"}
        # what seqzoo passes itself (an optimizer's params, a schedule's optimizer, ...)
        refuse_reserved(config, what, path=what)
        return str(part["name"]), config
    if isinstance(part, list) and what == "model":
        return "hybrid", {"layers": part}
    raise ConfigError(
        f"{what} must be a registered name or a mapping with 'name', got {part!r}", field=what
    )


@dataclass
class Run:
    """A finished (or resumed) training run: what was trained, how it went, where it lives."""

    model: Any
    data: Any
    history: Any
    spec: dict[str, Any]
    directory: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> dict[str, Any]:
        """The best epoch's row (by the trainer's monitored metric), as a flat dict."""
        # any history a trainer returns is kept; only a History-like one has a best row
        best_epoch = getattr(getattr(self.history, "result", None), "best_epoch", None)
        if best_epoch is None:
            return {}
        for row in getattr(self.history, "rows", ()):
            if row.epoch == best_epoch:
                return {
                    "epoch": row.epoch,
                    "train_loss": row.train_loss,
                    "val_loss": row.val_loss,
                    **row.metrics,
                }
        return {}


def _registry(registry: Any) -> Any:
    if registry is not None:
        return registry
    from .api import get_registry

    return get_registry()


def build_parts(
    spec: Mapping[str, Any], registry: Any = None, *, model_too: bool = True
) -> tuple[Any, Any]:
    """Build ``(model, data)`` from a run spec: the dataset first, so the model's sizes come
    from the data (``input_size``, ``output_size``, ``output``) unless the spec sets them.
    ``model_too=False`` builds the data alone (the model is None)."""
    registry = _registry(registry)
    data_name, data_config = resolve_part(spec["dataset"], "dataset")
    data = registry.create("dataset", data_name, **data_config)
    if not model_too:
        return None, data
    model_name, model_config = resolve_part(spec["model"], "model")
    if model_name == "hybrid":
        config = {"input_size": data.input_size, **model_config}
    else:
        # what the factory takes, whether or not its registration lists defaults
        accepted = registry.get("model", model_name).argument_names()
        suggested = {k: v for k, v in data.model_config().items() if k in accepted}
        config = {**suggested, **model_config}
    model = registry.create("model", model_name, **config)
    return model, data


def train(
    model: Part | list[Any] = None,
    dataset: Part = "sine",
    optimizer: Part = "adam",
    trainer: Part = "supervised",
    *,
    schedule: Part = None,
    run_dir: str | os.PathLike[str] | None = None,
    resume: str | os.PathLike[str] | None = None,
    registry: Any = None,
    init: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    **options: Any,
) -> Run:
    """Train ``model`` on ``dataset``; each part is a registry name or ``{"name": ..., **config}``
    (a model may also be a composed spec: ``{"layers": [...]}`` or a list of layer specs).

    ``options`` go to the trainer (``epochs``, ``batch_size``, ``clip``, ``patience``,
    ``seed``, ``quiet``, ``plot``, ``save_every``; ``device``, ``precision``, ``compile``,
    ``threads``: torch's intra-op threads, set before the model is built, default 1).
    ``resume=RUN_DIR`` continues a run from its last checkpoint (exactly where a Ctrl-C
    stopped it).

    Every part is built and checked (model, data, optimizer, schedule, trainer options, the
    monitor, the trainer's fit to the task, and for ``resume`` the checkpoint) before anything
    is written to ``run_dir``. A ``run_dir`` that holds a run already is refused unless
    ``overwrite=True``, which first removes that run's files (only seqzoo's own). The run
    directory is locked for the whole run: a second training into it fails naming the first's
    pid.

    ``init`` (a zoo name, ``seqzoo/<name>`` or a saved model directory) starts from that
    model's weights, config and preprocessing; ``model`` (default ``lstm``, or the init model's
    architecture) may then only set options that change no weight's shape.
    """
    registry = _registry(registry)
    reserved = {"model", "dataset", "optimizer", "trainer", "schedule", "run_dir", "resume", "init"}
    clashing = sorted(reserved & set(options)) + (["registry"] if "registry" in options else [])
    if clashing:
        raise ConfigError(f"trainer options may not be named {clashing}", field="trainer")
    source = None  # the init model of a new fine-tuning run
    directory: Path | None
    if resume is not None:
        if init is not None:
            raise ConfigError("resume continues a run as its run.json describes it; drop init")
        if overwrite:
            raise ConfigError(
                f"resume continues the run in {str(resume)!r} and overwrite replaces it; give "
                "one of them (--resume or --overwrite)"
            )
        directory = Path(resume)
        spec = read_run_spec(directory)
        if (spec.get("init") or {}).get("forecaster"):
            raise ConfigError(
                f"{str(directory)!r} fine-tuned a zero-shot forecaster, which cannot be resumed; "
                f"fine-tune it further from there: --init {directory} (init= in Python)"
            )
        spec["trainer"] = {**spec["trainer"], **options}
    else:
        if init is not None:
            from seqzoo.zoo.finetune import load_init, prepare_parts, train_forecaster

            source = load_init(init, registry)
            if source.forecaster:
                options.pop("plot", None)  # its own loop, which always draws loss.png
                with _run_dir_claimed(run_dir, overwrite=overwrite):
                    return train_forecaster(
                        source, model=model, dataset=dataset, optimizer=optimizer,
                        trainer=trainer, schedule=schedule, run_dir=run_dir, registry=registry,
                        **options,
                    )  # fmt: skip
            model, dataset = prepare_parts(source, model, dataset, registry)
        elif model is None:
            model = "lstm"
        trainer_name, trainer_config = resolve_part(trainer, "trainer")
        spec = {
            "model": _as_mapping(resolve_part(model, "model")),
            "dataset": _as_mapping(resolve_part(dataset, "dataset")),
            "optimizer": _as_mapping(resolve_part(optimizer, "optimizer")),
            "schedule": _as_mapping(resolve_part(schedule, "schedule")),
            "trainer": {"name": trainer_name, **trainer_config, **options},
        }
        if source is not None:
            spec["init"] = source.record()
        directory = Path(run_dir) if run_dir is not None else None

    trainer_name, trainer_config = resolve_part(spec["trainer"], "trainer")
    _set_threads(registry, trainer_name, trainer_config)  # before any model is built
    if resume is None:
        # the model's initial weights come from the global RNG: seed it first, so the same
        # seed gives the same run (a resumed run loads its weights instead)
        import torch

        torch.manual_seed(int(trainer_config.get("seed", 0) or 0))
    net, data = build_parts(spec, registry)
    if spec.get("init"):  # the init weights (a resumed run loads its own) and preprocessing
        from seqzoo.zoo.finetune import start_from_init

        data = start_from_init(net, data, spec["init"], source)
    optimizer_name, optimizer_config = resolve_part(spec["optimizer"], "optimizer")
    torch_optimizer = _build(
        registry, "optimizer", optimizer_name, params=net.parameters(), **optimizer_config
    )
    torch_schedule = None
    if spec.get("schedule"):
        resolved = resolve_part(spec["schedule"], "schedule")
        assert resolved is not None  # a non-empty schedule always resolves
        schedule_name, schedule_config = resolved
        torch_schedule = _build(
            registry, "schedule", schedule_name, optimizer=torch_optimizer, **schedule_config
        )
    _check_output_shape(net, data, trainer_name)
    fitter = registry.create(
        "trainer",
        trainer_name,
        run_dir=str(directory) if directory is not None else None,
        **trainer_config,
    )
    resume_from = str(directory) if resume is not None else None
    check = getattr(fitter, "check", None)
    if callable(check):  # the monitor, the task, the data, the checkpoint: before any write
        check(net, data, torch_optimizer, torch_schedule, resume=resume_from)
    with _run_dir_claimed(directory, overwrite=overwrite, resuming=resume is not None):
        if directory is not None:  # only once every part is known to fit
            from seqzoo import __version__

            write_json_atomic(directory / RUN_FILE, {**spec, "seqzoo_version": __version__})
        history = fitter.fit(
            net, data, torch_optimizer, schedule=torch_schedule, resume=resume_from
        )
        _attach(net, data, spec)
        if directory is not None:  # so `seqzoo predict RUN_DIR` needs no dataset
            from .predict import save_run_window

            save_run_window(directory, net, data)
        if spec.get("init") and directory is not None:  # the run directory is a model too
            from seqzoo.zoo.finetune import save_finetuned

            save_finetuned(
                net, directory, spec["init"], dataset=spec.get("dataset"), registry=registry,
                training={k: v for k, v in trainer_config.items() if k not in ("quiet", "run_dir")},
            )  # fmt: skip
    return Run(model=net, data=data, history=history, spec=spec, directory=directory)


def _set_threads(registry: Any, trainer: str, config: Mapping[str, Any]) -> None:
    """Apply the trainer's ``threads`` option (its registered default when not given; a
    trainer without one leaves torch's setting) to torch's intra-op threads."""
    from .device import set_threads

    if "threads" in config:
        set_threads(config["threads"])
        return
    record = registry.get("trainer", trainer)
    if "threads" in (getattr(record, "defaults", None) or {}):
        set_threads(record.defaults["threads"])


@contextlib.contextmanager
def _run_dir_claimed(
    directory: str | os.PathLike[str] | None, *, overwrite: bool, resuming: bool = False
) -> Iterator[None]:
    """Hold ``directory``'s run lock for the block; a new run (not ``resuming``) is refused
    when the directory holds a run already, or (``overwrite``) clears that run's files first."""
    if directory is None:
        yield
        return
    from .rundir import clear_run, held_run, lock_run

    if not resuming and not Path(directory).is_dir():
        held_run(directory, overwrite=overwrite)  # a file in the way: before creating anything
    with lock_run(directory):  # first: a run in progress is named by its pid
        if not resuming:
            held_run(directory, overwrite=overwrite)
            if overwrite:
                clear_run(directory)
        yield


def _attach(model: Any, data: Any, spec: Mapping[str, Any]) -> None:
    """Give a trained model its preprocessing, task and dataset, as ``from_pretrained`` does,
    so ``save_pretrained(run.model, ...)`` keeps raw units and ``seqzoo predict`` works."""
    model.preprocessing = data.preprocessing
    model.pretrained_config = {"task": data.task, "dataset": spec.get("dataset")}
    if spec.get("init"):
        from seqzoo.zoo.finetune import lineage

        model.pretrained_config["fine_tuned_from"] = lineage(spec["init"])


def _build(registry: Any, kind: str, name: str, /, **config: Any) -> Any:
    """Create an optimizer or schedule; torch's own complaints about a value become a
    :class:`ConfigError` naming the part (``--lr -1``, ``factor=2``, ...)."""
    try:
        return registry.create(kind, name, **config)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{kind} {name!r} rejected its options: {exc}", field=kind) from None


def _check_output_shape(model: Any, data: Any, trainer: str) -> None:
    """Run two training samples through the model before training, so a model whose output
    does not fit the data's targets fails with both shapes named, not deep in the loss."""
    import torch

    if trainer != "supervised" or len(data.train) == 0:
        return
    inputs, targets, lengths = next(data.train.batches(2))
    reference = next(iter(model.parameters()), None)
    if reference is not None and inputs.is_floating_point():
        inputs = inputs.to(reference.dtype)
    from .steps import model_forward

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            output = model_forward(model, inputs, lengths)
    finally:
        model.train(was_training)
    from .tasks import TASKS

    wanted = TASKS[data.task].output_check(output, targets, data.output_size)
    if wanted is not None:
        raise ConfigError(
            f"the model's output has shape {tuple(output.shape)} for a batch whose targets have "
            f"shape {tuple(targets.shape)}; a {data.task} model on {data.name!r} must give "
            f"{wanted}",
            field="model",
        )


def _as_mapping(resolved: tuple[str, dict[str, Any]] | None) -> dict[str, Any] | None:
    if resolved is None:
        return None
    name, config = resolved
    return {"name": name, **config}


def read_run_spec(directory: Path) -> dict[str, Any]:
    """The ``run.json`` of a run directory, with a clear error when it is not one (a link out
    of the directory or a special file in its place is refused unopened)."""
    from .files import member_file

    where = f"run directory {str(directory)!r}"
    path = member_file(directory, RUN_FILE, where, "seqzoo", kind="run directory")
    if not path.is_file():
        raise ConfigError(
            f"{str(directory)!r} is not a run directory: it has no {RUN_FILE} "
            "(make one with `seqzoo train ... --run-dir DIR`)"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    except RecursionError:  # json recurses once per nesting level
        raise ConfigError(f"{path} nests too deeply to be a run file") from None


def load_run(
    directory: str | os.PathLike[str], checkpoint: str = "best", registry: Any = None
) -> Run:
    """Rebuild a run's model and data and load the weights of ``checkpoints/<checkpoint>``
    (:func:`~seqzoo.core.training.run_checkpoint`: a copy a crash left set aside counts, and
    ``best`` falls back to ``last``)."""
    from .training import load_weights

    directory = Path(directory)
    spec = read_run_spec(directory)
    if (spec.get("init") or {}).get("forecaster"):  # no checkpoints: the run dir is the model
        from seqzoo.zoo.pretrained import load_directory

        _, data = build_parts(spec, _registry(registry), model_too=False)
        model = load_directory(directory, device="cpu", registry=_registry(registry))
        return Run(model=model, data=data, history=None, spec=spec, directory=directory)
    model, data = build_parts(spec, _registry(registry))
    if spec.get("init"):
        from seqzoo.zoo.finetune import start_from_init

        data = start_from_init(model, data, spec["init"])
    load_weights(directory, model, checkpoint)  # best, or .best.prev, or last
    model.eval()
    _attach(model, data, spec)
    return Run(model=model, data=data, history=None, spec=spec, directory=directory)


def load_run_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a run file (YAML, TOML or JSON) into the keyword arguments of :func:`train`;
    bounded in size, nesting and YAML aliases (:mod:`seqzoo.core.structured`)."""
    from .structured import read_structured_file

    data = read_structured_file(Path(path), what="run file")
    if not isinstance(data, Mapping):
        raise ConfigError(f"run file {str(path)!r} must hold a mapping (model, dataset, ...)")
    known = {"model", "dataset", "optimizer", "trainer", "schedule", "run_dir", "init"}
    unknown = sorted(set(data) - known - {"options"})
    if unknown:
        raise ConfigError(
            f"run file {str(path)!r} has unknown keys {unknown}; known keys: {sorted(known)}"
        )
    from .validate import refuse_reserved

    arguments = {k: v for k, v in data.items() if k in known}
    for kind in ("model", "dataset", "optimizer", "schedule", "trainer"):
        if isinstance(arguments.get(kind), Mapping):  # keys seqzoo passes that part itself
            refuse_reserved(arguments[kind], kind, path=f"run file {str(path)!r}: {kind}")
    options = data.get("options")
    if options is not None and not isinstance(options, Mapping):
        raise ConfigError(
            f"run file {str(path)!r}: options must be a mapping of trainer options "
            f"(epochs: 20, ...), got a {type(options).__name__}",
            field="options",
        )
    own = set(inspect.signature(train).parameters) - {"options"}  # train's own arguments
    refuse_reserved(options or {}, "options", path=f"run file {str(path)!r}: options", extra=own)
    arguments.update(options or {})
    return arguments


def write_json_atomic(path: Path, value: Any) -> None:
    """Write JSON through a temporary file and a rename: never a half-written file."""
    from .training import atomic_write

    atomic_write(path, json.dumps(value, indent=2))
