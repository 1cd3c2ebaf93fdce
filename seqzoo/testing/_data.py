"""``check_dataset``, ``check_trainer`` and ``check_zoo_entry`` (see :mod:`seqzoo.testing`)."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ._common import SEED, Checker, Report, Skip, assert_close, get_spec, resolve_registry

__all__ = ["check_dataset", "check_trainer", "check_zoo_entry"]

#: Dataset arguments a check shrinks (never grows) when the record has them.
DATA_TINY: dict[str, int] = {"samples": 200, "max_chars": 20_000}
SPLITS = ("train", "validation", "test")
#: The sub-checks ``skip_checks`` may name, by check.
DATASET_CHECKS = ("determinism",)
TRAINER_CHECKS = ("loads back",)
ZOO_CHECKS = ("reference",)


def _tiny_data_config(spec: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    tiny = {
        key: min(value, DATA_TINY[key])
        for key, value in spec.defaults.items()
        if key in DATA_TINY and isinstance(value, int) and not isinstance(value, bool)
    }
    return {**tiny, **config}


def _check_ids(t: Tensor, vocab: int, what: str) -> None:
    if t.dtype != torch.int64:
        raise AssertionError(f"{what} must be int64 token ids, not {t.dtype}")
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= vocab):
        raise AssertionError(
            f"{what} hold ids from {int(t.min())} to {int(t.max())}, outside [0, {vocab})"
        )


def _check_split(data: Any, part: str) -> None:
    from seqzoo.core.data import Split

    split = getattr(data, part)
    if not isinstance(split, Split):
        raise AssertionError(f"{part} is a {type(split).__name__}, not a seqzoo Split")
    x, y, lengths = split.inputs, split.targets, split.lengths
    n = len(x)
    if len(y) != n:
        raise AssertionError(f"{part} has {n} inputs but {len(y)} targets")
    if data.input_kind == "ids":
        if x.dim() != 2:
            raise AssertionError(f"{part} ids must be (N, time), got shape {tuple(x.shape)}")
        _check_ids(x, data.vocab_size, f"{part} inputs")
    else:
        if x.dim() != 3 or not x.is_floating_point() or x.shape[-1] != data.input_size:
            raise AssertionError(
                f"{part} inputs must be float (N, time, input_size={data.input_size}), got "
                f"shape {tuple(x.shape)} of {x.dtype}"
            )
    task = data.task
    if task in ("forecast", "regression"):
        if y.dim() != 2 or not y.is_floating_point() or y.shape[1] != data.output_size:
            raise AssertionError(
                f"{part} targets of a {task} dataset must be float (N, output_size="
                f"{data.output_size}), got shape {tuple(y.shape)} of {y.dtype}"
            )
    elif task == "classification":
        if y.dim() != 1:
            raise AssertionError(f"{part} class targets must be (N,), got {tuple(y.shape)}")
        _check_ids(y, data.output_size, f"{part} class targets")
    else:  # language-model
        if tuple(y.shape) != tuple(x.shape):
            raise AssertionError(
                f"{part} next-token targets must match the inputs' shape {tuple(x.shape)}, got "
                f"{tuple(y.shape)}"
            )
        _check_ids(y, data.vocab_size, f"{part} targets")
    if lengths is not None:
        if tuple(lengths.shape) != (n,) or lengths.is_floating_point():
            raise AssertionError(
                f"{part} lengths must be integers (N,), got {tuple(lengths.shape)}"
            )
        if n and (int(lengths.min()) < 1 or int(lengths.max()) > x.shape[1]):
            raise AssertionError(f"{part} lengths must lie in [1, {x.shape[1]}]")
    for what, t in (("inputs", x), ("targets", y)):
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise AssertionError(f"{part} {what} hold NaN or infinity")


def check_dataset(
    name: str, /, *, registry: Any = None, skip_checks: Iterable[str] = (), **config: Any
) -> Report:
    """Check the registered dataset ``name`` (``samples`` and ``max_chars`` shrunk, ``config``
    on top): it returns a :class:`~seqzoo.core.data.SequenceData` whose task, sizes and
    train / validation / test splits agree with the documented shapes, whose values are
    finite, and which is the same when built twice from the same config and torch seed
    (``skip_checks`` may name ``determinism``)."""
    from seqzoo.core.data import TASKS, SequenceData

    registry = resolve_registry(registry)
    spec = get_spec(registry, "dataset", name)
    config = _tiny_data_config(spec, config)
    checker = Checker(spec, config, skip_checks, DATASET_CHECKS)

    def build() -> Any:
        torch.manual_seed(SEED)
        return registry.create("dataset", name, **config)

    with checker.check("build"):
        data = build()
        if not isinstance(data, SequenceData):
            raise AssertionError(f"the factory returned a {type(data).__name__}, not SequenceData")

    with checker.check("task and sizes"):
        if data.task not in TASKS:
            raise AssertionError(f"task {data.task!r} is not one of {TASKS}")
        stated = spec.metadata.get("task")
        if stated is not None and stated != data.task:
            raise AssertionError(f"the record says task {stated!r}, the data {data.task!r}")
        if data.input_kind == "ids":
            if not isinstance(data.vocab_size, int) or data.vocab_size < 2:
                raise AssertionError(f"token data needs a vocab_size, got {data.vocab_size!r}")
            if data.task == "language-model" and data.output_size != data.vocab_size:
                raise AssertionError(
                    f"a language model's output_size ({data.output_size}) must be its "
                    f"vocab_size ({data.vocab_size})"
                )
        elif not isinstance(data.input_size, int) or data.input_size < 1:
            raise AssertionError(f"real-valued data needs an input_size, got {data.input_size!r}")
        if not isinstance(data.output_size, int) or data.output_size < 1:
            raise AssertionError(f"output_size must be a positive int, got {data.output_size!r}")
        if not isinstance(data.model_config(), Mapping):
            raise AssertionError("model_config() must give a mapping of model arguments")

    with checker.check("splits"):
        for part in SPLITS:
            _check_split(data, part)
        if len(data.train) == 0:
            raise AssertionError("the train split is empty")

    if checker.wants("determinism"):
        with checker.check("determinism"):
            again = build()
            for part in SPLITS:
                mine, theirs = getattr(data, part), getattr(again, part)
                for field in ("inputs", "targets", "lengths"):
                    assert_close(
                        getattr(theirs, field),
                        getattr(mine, field),
                        f"{part}.{field} of a second build from the same config",
                        atol=0,
                        rtol=0,
                    )
    return checker.report


# -- trainers -------------------------------------------------------------------------------


def _default_parts(spec: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A tiny model and dataset a trainer says it handles (metadata ``tasks``, and
    ``model_output`` for trainers needing per-step outputs)."""
    tasks = spec.metadata.get("tasks") or ["forecast"]
    output = spec.metadata.get("model_output")
    if "forecast" in tasks:
        dataset: dict[str, Any] = {"name": "sine", "length": 300, "window": 12}
        model: dict[str, Any] = {"name": "gru", "hidden_size": 8}
    elif "regression" in tasks:
        dataset = {"name": "regression", "samples": 120, "features": 3}
        model = {"name": "gru", "hidden_size": 8}
    else:
        dataset = {"name": "copy", "samples": 96, "length": 4, "delay": 4}
        model = {"name": "embedding-lstm", "embedding_dim": 8, "hidden_size": 8}
    if output:
        model["output"] = output
    return model, dataset


def check_trainer(
    name: str,
    /,
    *,
    model: Any = None,
    dataset: Any = None,
    optimizer: Any = None,
    registry: Any = None,
    skip_checks: Iterable[str] = (),
    **options: Any,
) -> Report:
    """Check the registered trainer ``name``: :func:`seqzoo.train` fits a tiny model on a tiny
    registered dataset (chosen from the record's ``tasks`` metadata unless given) for 2 epochs
    into a temporary run directory, the history is finite, and the run loads back
    (:func:`seqzoo.core.workflow.load_run`) with the trained weights. ``options`` go to the
    trainer (``epochs``, ``batch_size``, ...); ``skip_checks`` may name ``loads back``."""
    from seqzoo.core.workflow import load_run, train

    registry = resolve_registry(registry)
    spec = get_spec(registry, "trainer", name)
    default_model, default_dataset = _default_parts(spec)
    model = model if model is not None else default_model
    dataset = dataset if dataset is not None else default_dataset
    optimizer = optimizer if optimizer is not None else {"name": "adam", "lr": 1e-2}
    options = {"epochs": 2, "batch_size": 32, "quiet": True, "plot": False, **options}
    checker = Checker(
        spec, {"model": model, "dataset": dataset, **options}, skip_checks, TRAINER_CHECKS
    )
    with tempfile.TemporaryDirectory(prefix="seqzoo-check-") as tmp:
        run_dir = Path(tmp) / "run"
        with checker.check("train"):
            run = train(
                model=model,
                dataset=dataset,
                optimizer=optimizer,
                trainer=name,
                run_dir=run_dir,
                registry=registry,
                **options,
            )
        with checker.check("history"):
            rows = list(getattr(run.history, "rows", []))
            if len(rows) != options["epochs"]:
                raise AssertionError(f"{options['epochs']} epochs gave {len(rows)} history rows")
            losses = [row.train_loss for row in rows]
            if not all(isinstance(v, float) and math.isfinite(v) for v in losses):
                raise AssertionError(f"training losses {losses} are not all finite")
        if checker.wants("loads back"):
            with checker.check("loads back"):
                best = options.get("restore_best", spec.defaults.get("restore_best", True))
                loaded = load_run(run_dir, "best" if best else "last", registry=registry)
                inputs = run.data.test.inputs[:4]
                if len(inputs) == 0:
                    inputs = run.data.train.inputs[:4]
                run.model.eval()
                with torch.no_grad():
                    want = run.model(inputs)
                    got = loaded.model(inputs)
                assert_close(got, want, "the reloaded run's output", atol=1e-6, rtol=1e-6)
    return checker.report


# -- zoo entries ----------------------------------------------------------------------------


def check_zoo_entry(
    name: str, /, *, registry: Any = None, skip_checks: Iterable[str] = (), offline: bool = True
) -> Report:
    """Check the registered zoo entry ``name``: its files are where it points (``offline``: no
    download, only bundled or cached files) with the sha256 its record lists, it loads with
    :func:`seqzoo.from_pretrained` as its ``architecture``, it has a model card, and it
    reproduces the outputs stored in its ``reference.safetensors`` (when it has one;
    ``skip_checks`` may name ``reference``)."""
    from seqzoo.zoo.hub import file_sha256
    from seqzoo.zoo.pretrained import from_pretrained
    from seqzoo.zoo.sources import locate

    registry = resolve_registry(registry)
    spec = get_spec(registry, "zoo", name)
    checker = Checker(spec, {"offline": offline}, skip_checks, ZOO_CHECKS)

    with checker.check("files"):
        directory, expected, where = locate(
            name, None, registry=registry, local_files_only=offline, cache_dir=None
        )
        if not expected:
            raise AssertionError(
                f"the record lists no sha256 of its files (metadata['files']); {where}"
            )
        for file, digest in sorted(expected.items()):
            path = directory / file
            if not path.is_file():
                raise AssertionError(f"{file} is listed but missing from {where}")
            if file_sha256(path) != str(digest).lower():
                raise AssertionError(f"{file} does not match the sha256 its record lists")

    with checker.check("loads"):
        model = from_pretrained(name, device="cpu", registry=registry, local_files_only=offline)
        if model.training:
            raise AssertionError("from_pretrained must return the model in eval mode")
        architecture = spec.metadata.get("architecture")
        if architecture is not None and model.registry_name != architecture:
            raise AssertionError(
                f"it loads as {model.registry_name!r}, but its record says {architecture!r}"
            )

    with checker.check("card"):
        card = directory / "README.md"
        if not card.is_file() or not card.read_text(encoding="utf-8").strip():
            raise AssertionError(f"no model card (README.md) in {where}")

    if checker.wants("reference"):
        with checker.check("reference"):
            reference_file = directory / "reference.safetensors"
            if not reference_file.is_file():
                raise Skip("the entry has no reference.safetensors")
            from safetensors.torch import load_file

            reference = load_file(str(reference_file))
            if not {"input", "output"} <= set(reference):
                raise AssertionError("reference.safetensors must hold 'input' and 'output'")
            with torch.no_grad():
                output = model(reference["input"])
            rtol, atol = getattr(model, "reference_tolerance", (1e-6, 1e-6))
            assert_close(output, reference["output"], "the reference output", atol=atol, rtol=rtol)
    return checker.report
