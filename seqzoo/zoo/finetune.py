"""Fine-tuning from a zoo model: ``seqzoo train --init NAME`` and ``seqzoo.train(init=NAME)``.

``NAME`` is anything :func:`~seqzoo.zoo.pretrained.from_pretrained` resolves: a bundled zoo
entry (``lstm-sunspots``), a ``seqzoo/<name>`` repo id, a Hub repo id or a saved model (or
fine-tuned run) directory. The init model fixes the architecture and the preprocessing:

- **per-dataset models** (``lstm-sunspots``, ``gru-co2``, ``linear-diabetes``, ...) go through
  the ordinary trainer, started from the loaded weights. The user's data is scaled with the init
  model's scalers (never refit, so the model keeps the units it learned) or, for text, encoded
  with its tokenizer; the dataset's window and horizon default to the init model's.
- **zero-shot forecasters** (registry model ``patch-forecaster``) are fine-tuned by
  :func:`finetune_forecaster`: (context, future) windows sampled from the training part of the
  user's series, the pinball loss in each window's scaled units, AdamW at a small learning rate,
  early stopping on a validation pinball loss over held-out final points, best weights kept.

The model options given with an init model may not change any weight's shape (a
:class:`ConfigError` names the option); ``--model`` may only name the init model's own
architecture. A saved fine-tuned model records ``fine_tuned_from`` (the source's name, repo id,
revision and weights sha256) in ``config.json``, and its card says "Fine-tuned from NAME".
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqzoo.core.errors import ConfigError, SeqzooError, UnknownNameError

__all__ = [
    "FORECASTER_OPTIONS",
    "InitModel",
    "adopt_preprocessing",
    "check_architecture",
    "finetune_forecaster",
    "forecaster_windows",
    "is_forecaster",
    "lineage",
    "load_init",
    "prepare_parts",
    "save_finetuned",
    "season_hints",
    "start_from_init",
    "train_forecaster",
]

#: Trainer options of a zero-shot forecaster's fine-tuning run (``-T KEY=VALUE``, ``--seed``...).
FORECASTER_OPTIONS = (
    "steps",
    "batch_size",
    "horizon",
    "context",
    "patience",
    "eval_every",
    "clip",
    "seed",
    "quiet",
)
#: The pseudo-trainer name a forecaster run records in ``run.json``.
FORECASTER_TRAINER = "finetune-forecaster"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def _registry(registry: Any) -> Any:
    if registry is not None:
        return registry
    from seqzoo.core.api import get_registry

    return get_registry()


def is_forecaster(model: Any) -> bool:
    """Whether ``model`` is a zero-shot forecaster (a :class:`PatchForecaster` or alike: it has
    ``forward_scaled``, ``quantiles``, ``horizon`` and ``max_context``)."""
    return all(hasattr(model, a) for a in ("forward_scaled", "quantiles", "horizon", "max_context"))


# -- the init model ------------------------------------------------------------------------------


@dataclasses.dataclass
class InitModel:
    """A loaded init model and where it came from.

    ``source`` is what a fine-tuned model records as ``fine_tuned_from``: ``name`` (as given),
    ``architecture`` (registry name), ``repo_id`` / ``revision`` / ``path`` where known, and
    ``sha256`` (of its ``model.safetensors``).
    """

    model: Any
    architecture: str
    config: dict[str, Any]
    preprocessing: Any
    task: str | None
    source: dict[str, Any]

    @property
    def forecaster(self) -> bool:
        return is_forecaster(self.model)

    @property
    def label(self) -> str:
        return str(self.source.get("name"))

    def record(self) -> dict[str, Any]:
        """What ``run.json`` keeps under ``init``: the source plus the init preprocessing (and
        tokenizer), so a resumed or reloaded run scales its data the same way."""
        record: dict[str, Any] = dict(self.source)
        pre = self.preprocessing
        record["preprocessing"] = pre.to_dict() if pre is not None else None
        tokenizer = getattr(pre, "tokenizer", None)
        record["tokenizer"] = tokenizer.to_str() if tokenizer is not None else None
        record["forecaster"] = self.forecaster
        return record


def load_init(name: str | os.PathLike[str], registry: Any = None) -> InitModel:
    """Load the init model ``name`` on the CPU (the trainers move it), with the resolution of
    :func:`~seqzoo.zoo.pretrained.from_pretrained`: a directory, a zoo name, ``seqzoo/<name>``
    or a Hub repo id (``@revision`` pins one). An unknown name suggests close zoo names."""
    from .hub import WEIGHTS_NAME, file_sha256
    from .pretrained import load_directory
    from .sources import locate

    registry = _registry(registry)
    text = os.fspath(name).strip() if isinstance(name, (str, os.PathLike)) else name
    if not isinstance(text, str) or not text:
        raise ConfigError(
            "init takes a zoo name, a 'seqzoo/<name>' repo id or a saved model directory",
            field="init",
        )
    try:
        directory, expected, where = locate(
            text, None, registry=registry, local_files_only=False, cache_dir=None
        )
    except UnknownNameError as exc:
        exc.args = (f"init: {exc}",)
        raise
    except SeqzooError as exc:  # e.g. a mistyped 'seqzoo/<name>' that the Hub cannot give
        close = _close_zoo_names(text, registry)
        if close:
            exc.args = (f"{exc}; did you mean " + " or ".join(repr(c) for c in close) + "?",)
        raise
    model = load_directory(
        directory, device="cpu", registry=registry, expected_files=expected, where=where
    )
    document = dict(getattr(model, "pretrained_config", None) or {})
    source: dict[str, Any] = {"name": text, "architecture": model.registry_name}
    base, _, pinned = text.partition("@")
    local = Path(text).expanduser()
    if local.is_dir():
        source["path"] = str(local.resolve())
    elif base in registry.names("zoo"):
        metadata = registry.get("zoo", base).metadata
        source["repo_id"] = metadata.get("repo_id")
        source["revision"] = pinned or metadata.get("revision")
    else:
        source["repo_id"] = base
        source["revision"] = pinned or None
    snapshot = directory.parent.name == "snapshots" and _COMMIT.match(directory.name)
    if not source.get("revision") and snapshot:  # a Hub cache snapshot is named by its commit
        source["revision"] = directory.name
    source["sha256"] = file_sha256(Path(directory) / WEIGHTS_NAME)
    if document.get("fine_tuned_from"):
        source["fine_tuned_from"] = document["fine_tuned_from"]  # the lineage goes on
    return InitModel(
        model=model.train(),
        architecture=model.registry_name,
        config=json.loads(json.dumps(dict(model.config))),
        preprocessing=getattr(model, "preprocessing", None),
        task=document.get("task"),
        source={k: v for k, v in source.items() if v is not None},
    )


def _close_zoo_names(text: str, registry: Any) -> list[str]:
    """Zoo names or repo ids close to ``text`` (a repo id is compared with the repo ids)."""
    import difflib

    base = text.partition("@")[0]
    names = list(registry.names("zoo"))
    repos = [r for r in (registry.get("zoo", n).metadata.get("repo_id") for n in names) if r]
    known = repos if "/" in base else names
    return difflib.get_close_matches(base, known, n=3, cutoff=0.6)


def check_architecture(init: InitModel, model: Any, registry: Any = None) -> dict[str, Any]:
    """The model config of the fine-tuning run: the init model's, plus the options ``model``
    (a name, ``{"name": ..., **options}`` or options alone) sets that change no weight's shape.

    ``model`` naming another architecture, or an option that would change a weight's shape
    (``hidden_size``, ``input_size``, ...), is a :class:`ConfigError` naming it."""
    registry = _registry(registry)
    options: dict[str, Any]
    if model is None:
        name, options = None, {}
    elif isinstance(model, str):
        name, options = model, {}
    elif isinstance(model, Mapping):
        options = {k: v for k, v in model.items() if k != "name"}
        name = model.get("name") or ("hybrid" if "layers" in model else None)
    elif isinstance(model, list):
        name, options = "hybrid", {"layers": model}
    else:
        raise ConfigError(f"model must be a registered name or a mapping, got {model!r}")
    if name is not None and name != init.architecture:
        raise ConfigError(
            f"init model {init.label!r} is a {init.architecture!r} model, so it cannot be "
            f"fine-tuned as {name!r}; the init model fixes the architecture: drop --model "
            f"(or give --model {init.architecture})",
            field="model",
        )
    config = dict(init.config)
    changed = {k: v for k, v in options.items() if k not in config or config[k] != v}
    if not changed:
        return config
    reference = _shapes(init.model.state_dict())
    for key, value in changed.items():
        with torch.random.fork_rng(devices=[]):  # building a candidate draws no seeded numbers
            candidate = registry.create("model", init.architecture, **{**config, key: value})
        if _shapes(candidate.state_dict()) != reference:
            raise ConfigError(
                f"{key}={value!r} would change the shape of the weights of {init.label!r} "
                f"({init.architecture} with {key}={config.get(key)!r}); fine-tuning keeps the init "
                f"model's architecture: drop the model option {key} (-M {key}=... on the command "
                f"line), or train from scratch with --model {init.architecture}",
                field=key,
            )
        config[key] = value
    return config


def _shapes(state: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


def _accepts(registry: Any, dataset: str) -> set[str]:
    try:
        return set(inspect.signature(registry.get("dataset", dataset).load()).parameters)
    except (TypeError, ValueError):
        return set(registry.get("dataset", dataset).defaults)


def prepare_parts(
    init: InitModel, model: Any, dataset: Any, registry: Any = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(model part, dataset part)`` of a run fine-tuned from ``init``: the model is the init
    model's architecture and config (see :func:`check_architecture`); the dataset's ``window``
    and ``horizon`` default to the init model's (a forecaster needs no window: 1)."""
    from seqzoo.core.workflow import resolve_part

    registry = _registry(registry)
    config = check_architecture(init, model, registry)
    data_name, data_config = resolve_part(dataset, "dataset")
    accepted = _accepts(registry, data_name)
    pre = init.preprocessing
    if init.forecaster:
        wanted: dict[str, int | None] = {
            "window": 1,
            "horizon": 1,
        }  # the forecaster cuts its own windows
    else:
        wanted = {"window": getattr(pre, "window", None), "horizon": getattr(pre, "horizon", None)}
    for key, value in wanted.items():
        if value is None or key not in accepted:
            continue
        given = data_config.get(key)
        if given is None:
            data_config[key] = value
        elif key == "horizon" and given != value and not init.forecaster:
            raise ConfigError(
                f"init model {init.label!r} forecasts {value} step(s) at once (its output layer "
                f"fixes that), so the dataset's horizon must be {value}, not {given}: drop the "
                "dataset option horizon (-D horizon=... on the command line)",
                field="horizon",
            )
        elif key == "window" and given != value and "window" in init.config:
            raise ConfigError(
                f"init model {init.label!r} reads windows of {value} steps (its config's window "
                f"fixes its input layer), so the dataset's window must be {value}, not {given}",
                field="window",
            )
    return {"name": init.architecture, **config}, {"name": data_name, **data_config}


# -- the data in the init model's units ----------------------------------------------------------


def _preprocessing_of(record: Mapping[str, Any]) -> Any:
    from seqzoo.core.data import Preprocessing

    tokenizer = None
    if record.get("tokenizer"):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(record["tokenizer"])
    if record.get("preprocessing") is None and tokenizer is None:
        return None
    return Preprocessing.from_dict(record.get("preprocessing") or {}, tokenizer)


def _columns(scaler: Any) -> int | None:
    return None if scaler is None else len(scaler.scale_)


def adopt_preprocessing(data: Any, record: Mapping[str, Any], label: str | None = None) -> Any:
    """``data`` (a :class:`~seqzoo.core.data.SequenceData` built by its dataset, with its own
    scalers or tokenizer) re-expressed in the init model's units: scaled by the init scalers
    (fit on the init model's data, not refit), or encoded with its tokenizer. The result's
    ``preprocessing`` holds the init scalers / tokenizer with ``data``'s window, horizon and
    column names. ``record`` is :meth:`InitModel.record` (as ``run.json`` keeps it)."""
    from seqzoo.core.data import Preprocessing, Split

    label = label or str(record.get("name"))
    init = _preprocessing_of(record)
    own = data.preprocessing
    if init is None:
        init = Preprocessing()
    if init.tokenizer is not None or own.tokenizer is not None:
        return _adopt_tokenizer(data, init, label)
    if data.input_kind != "real":
        raise ConfigError(f"dataset {data.name!r} holds token ids; {label!r} reads real values")
    features, targets = len(own.feature_names) or data.input_size, len(own.target_names) or None
    for scaler, count, what in (
        (init.input_scaler, features, "input column"),
        (init.target_scaler, targets, "target column"),
    ):
        expected = _columns(scaler)
        if expected is not None and count is not None and expected != count:
            raise ConfigError(
                f"init model {label!r} was trained on {expected} {what}(s) but dataset "
                f"{data.name!r} has {count} ({', '.join(own.feature_names)}); give a dataset "
                "with the same columns",
                field="dataset",
            )
    adopted = Preprocessing(
        input_scaler=init.input_scaler,
        target_scaler=init.target_scaler,
        window=own.window,
        horizon=own.horizon,
        feature_names=list(own.feature_names),
        target_names=list(own.target_names),
    )
    split = (data.metadata or {}).get("split")
    if data.task == "forecast" and data.series is not None and split and own.window:
        # rebuild the windows from the raw series, exactly as forecast_data does
        from seqzoo.core.data import sliding_windows

        count, window, horizon = data.series.shape[1], own.window, own.horizon or 1
        n_targets = len(own.target_names) or 1
        scaled = torch.from_numpy(adopted.scale_inputs(data.series).astype(np.float32))

        def part(bounds: Sequence[int], old: Any) -> Any:
            start, stop = bounds
            if stop - start < window + horizon:
                return old
            windows = sliding_windows(scaled[start:stop], window, horizon)
            future = windows[:, window:, count - n_targets :]
            return Split(windows[:, :window], future.reshape(len(windows), -1))

        splits = {
            name: part(split[name], getattr(data, name)) for name in ("train", "validation", "test")
        }
    else:  # rows (regression, classification of series): back to raw units, then init's
        splits = {
            name: Split(
                _rescale(getattr(data, name).inputs, own.input_scaler, init.input_scaler),
                _rescale(getattr(data, name).targets, own.target_scaler, init.target_scaler)
                if getattr(data, name).targets.is_floating_point()
                else getattr(data, name).targets,
                getattr(data, name).lengths,
            )
            for name in ("train", "validation", "test")
        }
    return dataclasses.replace(data, preprocessing=adopted, **splits)


def _rescale(values: torch.Tensor, old: Any, new: Any) -> torch.Tensor:
    if (old is None and new is None) or values.numel() == 0:
        return values
    count = _columns(old) or _columns(new)
    assert count is not None  # old or new is a scaler here
    shape = values.shape
    rows = values.double().numpy().reshape(-1, count)
    if old is not None:
        rows = old.inverse_transform(rows)
    if new is not None:
        rows = new.transform(rows)
    return torch.from_numpy(rows.reshape(shape).astype(np.float32))


def _adopt_tokenizer(data: Any, init: Any, label: str) -> Any:
    """Token ids of ``data``'s tokenizer mapped to the init tokenizer's (unknown: ``[UNK]``)."""
    from seqzoo.core.data import Split

    own = data.preprocessing
    if init.tokenizer is None or own.tokenizer is None:
        raise ConfigError(
            f"init model {label!r} and dataset {data.name!r} disagree on the input: one is text "
            "(token ids), the other real values",
            field="dataset",
        )
    unknown = init.tokenizer.token_to_id("[UNK]")
    unknown = 1 if unknown is None else unknown
    size = own.tokenizer.get_vocab_size()
    table = torch.tensor(
        [
            init.tokenizer.token_to_id(own.tokenizer.id_to_token(i) or "") or unknown
            for i in range(size)
        ],
        dtype=torch.int64,
    )
    table[0] = 0  # padding stays padding

    def remap(ids: torch.Tensor) -> torch.Tensor:
        valid = ids >= 0  # -100 and other ignore indices stay as they are
        return torch.where(valid, table[ids.clamp(min=0)], ids)

    vocab = init.tokenizer.get_vocab_size()
    lm = data.task == "language-model"
    splits = {
        name: Split(
            remap(getattr(data, name).inputs),
            remap(getattr(data, name).targets) if lm else getattr(data, name).targets,
            getattr(data, name).lengths,
        )
        for name in ("train", "validation", "test")
    }
    adopted = dataclasses.replace(own, tokenizer=init.tokenizer)
    return dataclasses.replace(
        data,
        preprocessing=adopted,
        vocab_size=vocab,
        output_size=vocab if lm else data.output_size,
        **splits,
    )


def start_from_init(
    model: Any, data: Any, record: Mapping[str, Any], init: InitModel | None = None
) -> Any:
    """For a run fine-tuned from ``record`` (``run.json``'s ``init``): load ``init``'s weights
    into ``model`` when given (a new run; a resumed or reloaded one loads a checkpoint) and
    return ``data`` in the init model's units."""
    label = str(record.get("name"))
    if init is not None:
        try:
            model.load_state_dict(init.model.state_dict())
        except RuntimeError as exc:
            raise ConfigError(
                f"the weights of {label!r} do not fit the model built for this run: {exc}"
            ) from None
    if init is not None and init.task and init.task != data.task:
        raise ConfigError(
            f"init model {label!r} is a {init.task} model but dataset {data.name!r} is a "
            f"{data.task} dataset; fine-tune it on {init.task} data",
            field="dataset",
        )
    return adopt_preprocessing(data, record, label)


# -- saving --------------------------------------------------------------------------------------


def _describe(source: Mapping[str, Any]) -> str:
    details = []
    if source.get("repo_id") and source.get("repo_id") != source.get("name"):
        details.append(f"repo {source['repo_id']}")
    if source.get("revision"):
        details.append(f"revision {source['revision']}")
    if source.get("sha256"):
        details.append(f"weights sha256 {source['sha256'][:12]}")
    return f"Fine-tuned from {source.get('name')}" + (f" ({', '.join(details)})" if details else "")


def lineage(record: Mapping[str, Any]) -> dict[str, Any]:
    """The ``fine_tuned_from`` entry of a run's ``init`` record (no preprocessing payload)."""
    return {
        k: v
        for k, v in record.items()
        if k not in ("preprocessing", "tokenizer", "forecaster") and v is not None
    }


def save_finetuned(
    model: Any,
    directory: str | os.PathLike[str],
    source: Mapping[str, Any],
    *,
    dataset: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    task: str | None = None,
    registry: Any = None,
) -> Path:
    """:func:`~seqzoo.zoo.pretrained.save_pretrained` for a fine-tuned model: the card says
    "Fine-tuned from NAME" and ``config.json`` records ``fine_tuned_from`` (``source``)."""
    from seqzoo.core.training import atomic_write

    from .hub import CONFIG_NAME
    from .pretrained import save_pretrained

    source = lineage(source)
    data_name = (dataset or {}).get("name")
    description = _describe(source) + (f" on the `{data_name}` dataset." if data_name else ".")
    card = {
        "description": description,
        "training": {"fine_tuned_from": source.get("name"), **dict(training or {})},
    }
    if data_name:
        card["dataset"] = data_name
    target = save_pretrained(
        model, directory, card=card, dataset=dataset, task=task, registry=registry
    )
    path = Path(target) / CONFIG_NAME
    document = json.loads(path.read_text(encoding="utf-8"))
    # seqzoo's data sits under "seqzoo" (config.json's checksum is nobody's: files list weights)
    document["seqzoo"]["fine_tuned_from"] = source
    atomic_write(path, json.dumps(document, indent=2) + "\n")
    model.pretrained_config = {**(getattr(model, "pretrained_config", None) or {})}
    model.pretrained_config["fine_tuned_from"] = source
    return Path(target)


# -- zero-shot forecasters -----------------------------------------------------------------------


def _series_list(series: Any) -> list[np.ndarray]:
    if isinstance(series, np.ndarray) and series.ndim == 1:
        series = [series]
    out = []
    for i, values in enumerate(series):
        array = np.asarray(values, dtype=np.float64).reshape(-1)
        if not np.isfinite(array).all():
            raise ConfigError(
                f"series {i} holds NaN or infinite values; fill or drop them", field="series"
            )
        out.append(array)
    if not out:
        raise ConfigError("no series to fine-tune on", field="series")
    return out


def forecaster_windows(
    series: Sequence[np.ndarray],
    origins: Sequence[tuple[int, int]],
    context: int,
    horizon: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(past (B, L), future (B, horizon))`` float32 for ``origins`` ``[(series, t)]``: the
    (up to) ``context`` values before ``t``, left-padded with NaN (missing) to the longest, and
    the ``horizon`` values from ``t``."""
    width = max(min(context, t) for _, t in origins)
    past = np.full((len(origins), width), np.nan, dtype=np.float32)
    future = np.empty((len(origins), horizon), dtype=np.float32)
    for row, (index, t) in enumerate(origins):
        values = series[index]
        start = max(0, t - context)
        past[row, width - (t - start) :] = values[start:t]
        future[row] = values[t : t + horizon]
    return torch.from_numpy(past), torch.from_numpy(future)


def season_hints(model: Any, seasons: Sequence[int | None]) -> torch.Tensor | None:
    """The season-hint tensor a forecaster takes for rows of these season lengths (None when
    no row has one): the model's own ``season_bucket`` if it has one, else patch-forecaster's."""
    from seqzoo.plugins.models.patch_forecaster import season_bucket

    bucket = getattr(model, "season_bucket", None) or season_bucket
    hints = [bucket(s) for s in seasons]
    return torch.tensor(hints, dtype=torch.int64) if any(hints) else None


def _pinball(model: Any, past: Any, future: Any, season: Any, quantiles: Any) -> Any:
    from .zeroshot import pinball_loss

    predicted, loc, scale = model.forward_scaled(past, season)
    target = ((future - loc) / scale).clamp(-100, 100)
    return pinball_loss(predicted[:, : future.shape[1]], target, quantiles)


def finetune_forecaster(
    model: Any,
    series: Sequence[np.ndarray] | np.ndarray,
    *,
    steps: int = 300,
    batch_size: int = 32,
    lr: float = 1e-4,
    horizon: int | None = None,
    context: int | None = None,
    validation: int | None = None,
    seed: int = 0,
    weight_decay: float = 0.01,
    clip: float | None = 1.0,
    patience: int | None = 4,
    eval_every: int | None = None,
    season: int | Sequence[int | None] | None = None,
    quiet: bool = True,
) -> Any:
    """Fine-tune a zero-shot forecaster on ``series`` (1-D raw arrays); return its
    :class:`~seqzoo.core.training.History` (one row per evaluation; row 0 is the model as it came,
    ``train_loss`` NaN) and leave ``model`` holding the weights of the best validation loss, in
    eval mode.

    The last ``validation`` points of each series (default: ``horizon``) are held out: windows
    forecasting them from everything before give the validation pinball loss (in scaled units),
    and no training window's future reaches into them. Training windows end at a random origin
    in the rest, with up to ``context`` (default: the model's ``max_context``) values of context
    and ``horizon`` (default: the model's) future values. ``validation=0`` keeps no points back:
    no early stopping, the final weights are kept. AdamW at ``lr``, gradient norm clipped to
    ``clip``; every ``eval_every`` steps (default: ``steps // 10``) the validation loss is
    computed, ``patience`` evaluations without improvement stop early. ``season`` is the
    season-length hint given to the model, one for all series or one per series (default none;
    give what you will forecast with). Seeded: the same call gives the same weights.
    """
    from seqzoo.core.data import require_int
    from seqzoo.core.training import EpochRow, History, TrainingResult

    if not is_forecaster(model):
        raise ConfigError(
            f"finetune_forecaster takes a zero-shot forecaster (patch-forecaster), got a "
            f"{type(model).__name__}",
            field="model",
        )
    data = _series_list(series)
    steps = require_int(steps, "steps")
    batch_size = require_int(batch_size, "batch_size")
    horizon = require_int(horizon if horizon is not None else model.horizon, "horizon")
    if horizon > model.horizon:
        raise ConfigError(
            f"the model forecasts {model.horizon} steps at once; fine-tune with horizon <= "
            f"{model.horizon}, not {horizon}",
            field="horizon",
        )
    context = require_int(context if context is not None else model.max_context, "context")
    held = require_int(validation if validation is not None else horizon, "validation", 0)
    eval_every = require_int(eval_every or max(1, steps // 10), "eval_every")
    if patience is not None:
        patience = require_int(patience, "patience")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ConfigError(f"must be a positive number, got {lr!r}", field="lr")
    minimum = min(context, getattr(model, "patch_size", 8))

    # training origins: t with a context of >= minimum values and t + horizon <= n - held
    train_origins = [
        (i, t)
        for i, values in enumerate(data)
        for t in range(minimum, len(values) - held - horizon + 1)
    ]
    if not train_origins:
        longest = max(len(v) for v in data)
        raise ConfigError(
            f"the longest series has {longest} points, too few to fine-tune on: it needs at "
            f"least {minimum} of context + {horizon} forecast + {held} held out for validation; "
            "use a smaller horizon or validation, or longer series",
            field="series",
        )
    val_horizon = min(horizon, held)
    val_origins = []  # every val_horizon steps through the held-out tail, and its very end
    for i, values in enumerate(data):
        if held:
            ends = {*range(len(values) - held, len(values) - val_horizon + 1, val_horizon)}
            ends.add(len(values) - val_horizon)
            val_origins += [(i, t) for t in sorted(ends) if t >= 1]
    seasons = list(season) if isinstance(season, Sequence) else [season] * len(data)
    if len(seasons) != len(data):
        raise ConfigError(
            f"{len(seasons)} season hints for {len(data)} series; give one, or one per series",
            field="season",
        )
    hints = season_hints(model, seasons)

    def hint(origins: Sequence[tuple[int, int]]) -> torch.Tensor | None:
        return None if hints is None else hints[[i for i, _ in origins]]

    quantiles = torch.tensor(model.quantiles, dtype=torch.float32)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(lr), weight_decay=weight_decay)
    parameter = next(model.parameters())

    if val_origins:
        val_past, val_future = forecaster_windows(data, val_origins, context, val_horizon)
        val_past, val_future = val_past.to(parameter), val_future.to(parameter)
        val_season = hint(val_origins)

    def validate() -> float | None:
        if not val_origins:
            return None
        model.eval()
        with torch.no_grad():
            value = float(_pinball(model, val_past, val_future, val_season, quantiles))
        return value

    history = History(result=TrainingResult(monitor="val_loss"))
    began = time.perf_counter()
    best_value = validate()
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    best_round, bad, losses = 0, 0, []
    history.rows.append(EpochRow(0, math.nan, best_value, float(lr), 0.0, {"step": 0.0}))
    rounds = math.ceil(steps / eval_every)
    for step in range(1, steps + 1):
        model.train()
        pick = rng.integers(0, len(train_origins), size=batch_size)
        origins = [train_origins[j] for j in pick]
        past, future = forecaster_windows(data, origins, context, horizon)
        loss = _pinball(model, past.to(parameter), future.to(parameter), hint(origins), quantiles)
        value = loss.detach().item()
        if not math.isfinite(value):
            raise ConfigError(
                f"the pinball loss became {value} at step {step}; use a lower lr", field="lr"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        losses.append(value)
        if step % eval_every and step != steps:
            continue
        value = validate()
        number = len(history.rows)
        row = EpochRow(
            number,
            float(np.mean(losses)),
            value,
            float(lr),
            time.perf_counter() - began,
            {"step": float(step)},
        )
        history.rows.append(row)
        losses = []
        if not quiet:
            shown = "-" if value is None else f"{value:.4g}"
            print(
                f"step {step}/{steps}  train_loss {row.train_loss:.4g}  val_loss {shown}",
                file=sys.stderr,
                flush=True,
            )
        if value is None or best_value is None or value < best_value:
            best_value, best_round, bad = value, number, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if patience is not None and bad >= patience and number < rounds:
                history.result.stopped_early = True
                history.result.stop_reason = (
                    f"early stopping: val_loss did not improve for {patience} evaluation(s)"
                )
                break
    model.load_state_dict(best_state)
    model.eval()
    result = history.result
    result.epochs = len(history.rows) - 1
    result.best_epoch, result.best_value = best_round, best_value
    result.seconds = time.perf_counter() - began
    if not result.stopped_early:
        result.stop_reason = f"completed {steps} step(s)"
    if best_round == 0 and val_origins:
        result.stop_reason += "; no step beat the initial weights on validation, kept them"
    return history


def train_forecaster(
    init: InitModel,
    *,
    model: Any = None,
    dataset: Any = "sine",
    optimizer: Any = "adamw",
    trainer: Any = None,
    schedule: Any = None,
    run_dir: str | os.PathLike[str] | None = None,
    registry: Any = None,
    **options: Any,
) -> Any:
    """The ``seqzoo.train(init=...)`` path of a zero-shot forecaster: fine-tune it with
    :func:`finetune_forecaster` on the target column(s) of a forecasting dataset, each column one
    series. The dataset's test part is never seen; its validation part (default 15%) is held out
    for early stopping. ``options``: :data:`FORECASTER_OPTIONS`; the optimizer is AdamW (``lr``,
    default 1e-4, and ``weight_decay``). With ``run_dir`` the run directory holds ``run.json``,
    ``history.json``, ``metrics.csv``, ``loss.png`` and the fine-tuned model itself
    (``config.json``, ``model.safetensors``, ``README.md``: ``seqzoo.from_pretrained(run_dir)``).
    Returns a :class:`~seqzoo.core.workflow.Run`."""
    from seqzoo import __version__
    from seqzoo.core.training import plot_loss, write_history
    from seqzoo.core.workflow import RUN_FILE, Run, build_parts, resolve_part, write_json_atomic

    registry = _registry(registry)
    trainer_name, trainer_config = resolve_part(trainer or FORECASTER_TRAINER, "trainer")
    if trainer_name not in ("supervised", FORECASTER_TRAINER):
        raise ConfigError(
            f"a zero-shot forecaster is fine-tuned by its own loop, not by trainer {trainer_name!r}",
            field="trainer",
        )
    options = {**trainer_config, **options}
    unknown = sorted(set(options) - set(FORECASTER_OPTIONS))
    if unknown:
        raise ConfigError(
            f"{unknown} do not apply to fine-tuning a zero-shot forecaster; its options are "
            f"{', '.join(FORECASTER_OPTIONS)} (steps instead of epochs: -T steps=N)",
            field="trainer",
        )
    if schedule is not None:
        raise ConfigError(
            "a zero-shot forecaster is fine-tuned at a constant learning rate; drop the schedule",
            field="schedule",
        )
    optimizer_name, optimizer_config = resolve_part(optimizer or "adamw", "optimizer")
    if optimizer_name not in ("adam", "adamw"):
        raise ConfigError(
            f"a zero-shot forecaster is fine-tuned with AdamW, not {optimizer_name!r}; give only "
            "--lr (and -T options)",
            field="optimizer",
        )
    extra = sorted(set(optimizer_config) - {"lr", "weight_decay"})
    if extra:
        raise ConfigError(f"AdamW here takes lr and weight_decay, not {extra}", field="optimizer")
    lr = float(optimizer_config.get("lr", 1e-4))
    weight_decay = float(optimizer_config.get("weight_decay", 0.01))
    model_part, data_part = prepare_parts(init, model, dataset, registry)
    config = {k: v for k, v in model_part.items() if k != "name"}
    net = init.model
    if config != init.config:  # options that change no shape (dropout): rebuild, same weights
        net = registry.create("model", init.architecture, **config)
        net.load_state_dict(init.model.state_dict())
    _, data = build_parts({"dataset": data_part, "model": None}, registry, model_too=False)
    split = (data.metadata or {}).get("split")
    if data.task != "forecast" or data.series is None or not split:
        raise ConfigError(
            f"dataset {data.name!r} is not a series to forecast; a zero-shot forecaster is "
            "fine-tuned on a forecasting dataset (such as csv with -D path=FILE -D target=COL)",
            field="dataset",
        )
    targets = len(data.preprocessing.target_names) or 1
    seen = split["test"][0] if split["test"][1] > split["test"][0] else len(data.series)
    held = split["validation"][1] - split["validation"][0]
    series = [
        data.series[:seen, c] for c in range(data.series.shape[1] - targets, data.series.shape[1])
    ]
    settings = {"steps": 300, "batch_size": 32, "patience": 4, "clip": 1.0, "seed": 0, **options}
    settings.setdefault("horizon", min(net.horizon, held) if held else net.horizon)
    quiet = bool(settings.pop("quiet", False))
    spec: dict[str, Any] = {
        "init": init.record(),
        "model": model_part,
        "dataset": data_part,
        "optimizer": {"name": "adamw", "lr": lr, "weight_decay": weight_decay},
        "schedule": None,
        "trainer": {"name": FORECASTER_TRAINER, **settings, "validation": held},
    }
    directory = Path(run_dir) if run_dir is not None else None
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        write_json_atomic(directory / RUN_FILE, {**spec, "seqzoo_version": __version__})
    history = finetune_forecaster(
        net,
        series,
        lr=lr,
        weight_decay=weight_decay,
        validation=held,
        season=data.season,
        quiet=quiet,
        **settings,
    )
    history.result.run_dir = str(directory) if directory is not None else None
    net.preprocessing = None  # the forecaster scales each context itself
    net.registry_name = init.architecture
    task = init.task or "forecast"
    net.pretrained_config = {
        "task": task,
        "dataset": data_part,
        "fine_tuned_from": lineage(spec["init"]),
    }
    if directory is not None:
        write_history(directory, history)
        plot_loss(history, directory / "loss.png")
        training = {
            "steps": settings["steps"],
            "batch_size": settings["batch_size"],
            "lr": lr,
            "best_step": int(history.rows[history.result.best_epoch or 0].metrics["step"]),
            "val_pinball_before": history.rows[0].val_loss,
            "val_pinball_after": history.result.best_value,
        }
        save_finetuned(
            net,
            directory,
            spec["init"],
            dataset=data_part,
            training=training,
            task=task,
            registry=registry,
        )
    return Run(model=net, data=data, history=history, spec=spec, directory=directory)
