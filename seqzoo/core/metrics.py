"""Metrics, naive baselines and the evaluation report.

Regression / forecast metrics are in RAW units (model outputs go back through
``data.preprocessing.unscale_targets``): MAE, RMSE and sMAPE in percent. Classification:
accuracy and macro-F1. Language models: cross entropy (nats per token), perplexity and bits per
character/token (``loss / ln 2``). :func:`evaluate` scores a model beside naive baselines on the
same split, so a number always comes with what "no skill" would get.

A language-model split is cut into windows of one token stream; a model that carries its
recurrent state across chunks (``forward_stateful``) is scored over that stream in order
(:func:`stateful_loss`), so every token is predicted from all the tokens before it in the
split, not only from those in its own window.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .data import SequenceData, Split
from .errors import ConfigError, NotSteppableError
from .losses import loss_for
from .steps import forward_fn
from .tasks import task_row

__all__ = [
    "accuracy",
    "bits_per_character",
    "evaluate",
    "forecast_baselines",
    "format_report",
    "language_model_metrics",
    "macro_f1",
    "mae",
    "perplexity",
    "predict_split",
    "raw_inputs",
    "regression_metrics",
    "rmse",
    "smape",
    "stateful_loss",
    "target_layout",
    "token_stream",
    "unigram_loss",
]

ArrayLike = np.ndarray | Tensor | list[float]


def _np(x: ArrayLike) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = _np(y_true).astype(np.float64)
    p = _np(y_pred).astype(np.float64).reshape(t.shape)
    return t, p


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error, in the units of ``y_true``."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error, in the units of ``y_true``."""
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((t - p) ** 2)))


def smape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Symmetric MAPE in percent (0..200): ``100 * mean(2|y - p| / (|y| + |p|))``; a pair that
    is 0 and 0 counts as 0 error (not 0/0)."""
    t, p = _pair(y_true, y_pred)
    denominator = np.abs(t) + np.abs(p)
    ratio = np.divide(2 * np.abs(t - p), denominator, out=np.zeros_like(t), where=denominator != 0)
    return float(100 * np.mean(ratio))


def regression_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """``{"mae", "rmse", "smape"}`` of raw-unit targets and predictions."""
    return {
        "mae": mae(y_true, y_pred),
        "rmse": rmse(y_true, y_pred),
        "smape": smape(y_true, y_pred),
    }


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of class labels predicted exactly (0..1)."""
    t, p = _np(y_true).reshape(-1), _np(y_pred).reshape(-1)
    return float(np.mean(t == p)) if t.size else float("nan")


def macro_f1(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Unweighted mean of per-class F1 over the labels in ``y_true`` or ``y_pred`` (as
    scikit-learn's ``f1_score(average="macro")``; a class never predicted nor present scores 0)."""
    t, p = _np(y_true).reshape(-1), _np(y_pred).reshape(-1)
    labels = np.union1d(t, p)
    if labels.size == 0:
        return float("nan")
    scores = []
    for label in labels:
        tp = np.sum((t == label) & (p == label))
        fp = np.sum((t != label) & (p == label))
        fn = np.sum((t == label) & (p != label))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores))


def perplexity(loss: float) -> float:
    """``exp(loss)`` for a cross entropy in nats per token."""
    return math.exp(loss) if loss < 700 else float("inf")  # exp overflows past ~709


def bits_per_character(loss: float) -> float:
    """Cross entropy in bits per token (per character for character-level models)."""
    return loss / math.log(2)


def language_model_metrics(loss: float) -> dict[str, float]:
    """``{"loss", "perplexity", "bpc"}`` from a mean cross entropy in nats."""
    return {"loss": loss, "perplexity": perplexity(loss), "bpc": bits_per_character(loss)}


# -- model predictions -------------------------------------------------------------------------


@torch.no_grad()
def predict_split(
    model: nn.Module, split: Split, task: str, batch_size: int = 256
) -> tuple[Tensor, float]:
    """Run ``model`` over ``split`` in eval mode; return ``(predictions, mean loss)``.

    Predictions are on the CPU: for forecast/regression the outputs in model units shaped like
    the targets (a sequence-output model is scored on its last step), for classification the
    predicted classes, for language models an empty tensor (logits are never gathered). The
    loss is the training loss averaged over target elements (tokens for language models).
    """
    was_training = model.training
    model.eval()
    forward, loss_fn = forward_fn(model), loss_for(task)
    scoring = task_row(task).scoring
    reference = next(iter(model.parameters()), None)
    device = reference.device if reference is not None else torch.device("cpu")
    dtype = reference.dtype if reference is not None else None
    outputs: list[Tensor] = []
    total, count = torch.zeros((), dtype=torch.float64, device=device), 0
    try:
        for inputs, targets, lengths in split.to(device, dtype).batches(batch_size):
            y = forward(inputs, lengths)
            if scoring == "values" and y.dim() == 3 == targets.dim() + 1:
                y = y[:, -1]  # a many-to-many model (e.g. trained with tbptt): its last step
            total += loss_fn(y, targets).double() * targets.numel()
            count += targets.numel()
            if scoring == "classes":
                outputs.append(y.argmax(dim=-1).cpu())
            elif scoring == "values":  # token logits are never gathered
                outputs.append(y.reshape(targets.shape).float().cpu())
    finally:
        model.train(was_training)
    predictions = torch.cat(outputs) if outputs else torch.empty(0)
    return predictions, float(total / max(count, 1))


def token_stream(split: Split) -> Tensor | None:
    """The token stream a language-model split's windows were cut from: ids ``(T + 1,)`` whose
    ``[1:]`` are ``split.targets`` flattened, so each target follows the ids before it. None
    when the windows are not consecutive, non-overlapping slices of one stream (shuffled rows,
    padding, or targets that are not the next ids)."""
    inputs, targets = split.inputs, split.targets
    if (
        split.lengths is not None
        or inputs.dim() != 2
        or inputs.shape != targets.shape
        or inputs.numel() == 0
        or inputs.is_floating_point()
    ):
        return None
    within = bool((inputs[:, 1:] == targets[:, :-1]).all())
    across = bool((inputs[1:, 0] == targets[:-1, -1]).all())
    if not (within and across):
        return None
    return torch.cat([inputs[:1, 0], targets.reshape(-1)])


def _carries_state(model: nn.Module) -> bool:
    """Whether ``model`` runs chunks from a state and gives one output per step."""
    return (
        bool(getattr(model, "causal", False))
        and callable(getattr(model, "forward_stateful", None))
        and getattr(model, "output", "sequence") == "sequence"
    )


@torch.no_grad()
def stateful_loss(model: nn.Module, split: Split, chunk: int = 1024) -> float | None:
    """Mean cross entropy (nats/token) of ``model`` over ``split``'s token stream, read in
    order ``chunk`` tokens at a time with the recurrent state carried from chunk to chunk
    (one stream, batch 1), so each target is predicted from every token before it in the
    split. None when the split is no single stream (:func:`token_stream`) or the model cannot
    carry its state (no ``forward_stateful``, not causal, or one output per sequence)."""
    stream = token_stream(split)
    if stream is None or not _carries_state(model):
        return None
    was_training = model.training
    model.eval()
    reference = next(iter(model.parameters()), None)
    device = reference.device if reference is not None else torch.device("cpu")
    stream = stream.to(device)
    total = torch.zeros((), dtype=torch.float64, device=device)
    state: Any = None
    try:
        for start in range(0, len(stream) - 1, chunk):
            x = stream[start : min(start + chunk, len(stream) - 1)]
            y = stream[start + 1 : start + 1 + len(x)]
            logits, state = model.forward_stateful(x.unsqueeze(0), state)  # type: ignore[operator]  # nn.Module.__getattr__ is typed Tensor | Module
            if logits.dim() != 3 or logits.shape[1] != len(x):
                return None  # not one output per step after all
            log_p = torch.log_softmax(logits[0].double(), dim=-1)
            total -= log_p.gather(1, y.unsqueeze(1)).sum()
    except NotSteppableError:
        return None
    finally:
        model.train(was_training)
    return float(total) / (len(stream) - 1)


# -- baselines ---------------------------------------------------------------------------------


def target_layout(data: SequenceData, width: int) -> tuple[int, list[int] | None]:
    """For forecast targets ``(N, width = horizon * targets)``: how many target columns there
    are, and which input columns hold them (by name, or the input itself when it has exactly
    that many columns, e.g. univariate); None when the targets are not among the inputs."""
    p = data.preprocessing
    if p.target_scaler is not None:
        count = p.target_scaler.n_features_in_
    elif p.target_names:
        count = len(p.target_names)
    elif p.horizon:
        count = max(width // p.horizon, 1)
    else:
        count = 1 if data.input_size == 1 else width
    if p.feature_names and p.target_names and set(p.target_names) <= set(p.feature_names):
        return count, [p.feature_names.index(name) for name in p.target_names]
    return count, list(range(count)) if data.input_size == count else None


def raw_inputs(data: SequenceData, inputs: Tensor, columns: list[int]) -> np.ndarray:
    """``inputs[..., columns]`` back in raw units (undoing the input scaler)."""
    x = inputs.detach().cpu().numpy().astype(np.float64)[..., columns]
    scaler = data.preprocessing.input_scaler
    if scaler is None:
        return x
    assert scaler.scale_ is not None and scaler.mean_ is not None  # a data set's scalers are fit
    return x * scaler.scale_[columns] + scaler.mean_[columns]


def forecast_baselines(data: SequenceData, split: Split) -> dict[str, np.ndarray]:
    """Naive forecasts in raw units shaped ``(N, horizon * targets)``: ``persistence`` (the last
    input value, repeated) and ``seasonal_naive`` (the value ``data.season`` steps earlier,
    when the window holds a whole season). Empty when the targets are not among the inputs."""
    width = split.targets.reshape(len(split), -1).shape[1]
    count, columns = target_layout(data, width)
    if columns is None or split.inputs.dim() != 3:
        return {}
    horizon = width // count
    window = split.inputs.shape[1]
    raw = raw_inputs(data, split.inputs, columns)  # (N, window, count)
    found = {"persistence": np.repeat(raw[:, -1:, :], horizon, axis=1).reshape(len(split), -1)}
    season = data.season
    if season and window >= season:
        # step h (1-based) repeats the last observed value of its phase: t + h - s * ceil(h / s)
        index = [window - 1 + h - season * math.ceil(h / season) for h in range(1, horizon + 1)]
        found["seasonal_naive"] = raw[:, index, :].reshape(len(split), -1)
    return found


def unigram_loss(data: SequenceData, split: Split) -> float:
    """Cross entropy (nats/token) of a unigram model of the training targets, add-one
    smoothed over the vocabulary; ids below 0 (ignored padding) are skipped."""
    vocab = data.vocab_size or max(int(data.train.targets.max()), int(split.targets.max())) + 1
    train = data.train.targets.reshape(-1)
    counts = torch.bincount(train[train >= 0], minlength=vocab).double() + 1
    log_p = torch.log(counts / counts.sum())
    targets = split.targets.reshape(-1)
    return float(-log_p[targets[targets >= 0]].mean())


# -- evaluation --------------------------------------------------------------------------------


def evaluate(
    model: nn.Module,
    data: SequenceData,
    split: str = "test",
    batch_size: int = 256,
    stateful: bool | None = None,
) -> dict[str, Any]:
    """Score ``model`` on ``data.<split>`` beside naive baselines on the same samples.

    Returns ``{"task", "split", "dataset", "units", "samples", "model": {metric: value},
    "baselines": {name: {metric: value}}}``. Forecast/regression metrics are in raw units.

    A language model is scored over the split's token stream with its state carried
    (:func:`stateful_loss`) when it can be (``stateful=None``; ``True`` requires it, ``False``
    scores each window on its own); the report then adds ``"evaluation": "stateful"`` and the
    window-by-window scores as ``"windowed"`` (otherwise ``"evaluation": "windowed"``).
    """
    if split not in ("train", "validation", "test"):
        raise ValueError(f"split must be 'train', 'validation' or 'test', got {split!r}")
    part: Split = getattr(data, split)
    if len(part) == 0:
        raise ConfigError(f"dataset {data.name!r} has no {split} samples to evaluate on")
    predictions, loss = predict_split(model, part, data.task, batch_size)
    result: dict[str, Any] = {
        "task": data.task,
        "split": split,
        "dataset": data.name,
        "units": data.units,
        "samples": len(part),
        "model": {},
        "baselines": {},
    }
    unscale = data.preprocessing.unscale_targets
    task = task_row(data.task)
    if task.scoring == "values":
        truth = unscale(part.targets).reshape(len(part), -1)
        model_raw = unscale(predictions).reshape(len(part), -1)
        result["model"] = {**regression_metrics(truth, model_raw), "loss": loss}
        if task.baseline == "naive":
            naive = forecast_baselines(data, part)
        else:
            mean = unscale(data.train.targets).reshape(len(data.train), -1).mean(axis=0)
            naive = {"mean": np.broadcast_to(mean, truth.shape)}
        for name, guess in naive.items():
            result["baselines"][name] = regression_metrics(truth, guess)
    elif task.scoring == "classes":
        labels = part.targets
        result["model"] = {
            "accuracy": accuracy(labels, predictions),
            "macro_f1": macro_f1(labels, predictions),
            "loss": loss,
        }
        majority = torch.bincount(data.train.targets.reshape(-1)).argmax()
        majority_guess = majority.expand(labels.shape)
        result["baselines"]["majority"] = {
            "accuracy": accuracy(labels, majority_guess),
            "macro_f1": macro_f1(labels, majority_guess),
        }
    else:
        carried = None if stateful is False else stateful_loss(model, part)
        if carried is None and stateful:
            raise ConfigError(
                f"cannot score the {split} split statefully: the model must carry its state "
                "(forward_stateful, output='sequence') and the split's windows must be "
                "consecutive slices of one token stream; pass stateful=False",
                field="stateful",
            )
        result["model"] = language_model_metrics(loss if carried is None else carried)
        result["evaluation"] = "windowed" if carried is None else "stateful"
        if carried is not None:
            result["windowed"] = language_model_metrics(loss)
        result["baselines"]["unigram"] = language_model_metrics(unigram_loss(data, part))
    return result


def _number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4f}"


def format_report(result: dict[str, Any]) -> str:
    """A plain-text table: one row for the model (and, for a language model scored with its
    state carried, one for its window-by-window score) and one per baseline, one column per
    metric."""
    rows = [("model", result["model"])]
    if result.get("windowed"):
        rows.append(("model (windowed)", result["windowed"]))
    rows += result["baselines"].items()
    names = list(dict.fromkeys(name for _, values in rows for name in values))
    table = [["", *names]] + [
        [label, *(_number(values[n]) if n in values else "-" for n in names)]
        for label, values in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in table
    ]
    units = f" ({result['units']})" if result.get("units") else ""
    title = (
        f"{result.get('dataset') or 'data'} / {result['split']} split, {result['samples']} "
        f"samples, task {result['task']}{units}"
    )
    return "\n".join([title, *(line.rstrip() for line in lines)])
