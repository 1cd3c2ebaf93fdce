"""The tasks seqzoo trains and scores, in one table: :data:`TASKS` maps a task name
(``SequenceData.task``) to its :class:`Task` row.

A row says which loss trains the task, which validation metrics each epoch logs, which test
metric a zoo entry leads with, what a model's output must look like and how its predictions
are scored. The data, the trainers, the metrics, the workflow and the zoo read this table
instead of branching on task names, so a new task is one row here (plus a loss in
:data:`seqzoo.core.losses.LOSSES` when none of those fits).

No torch import: the zoo listing and the plugin contracts read the table on light paths (the
losses are named here and live in :mod:`seqzoo.core.losses`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["HIGHER_IS_BETTER", "TASKS", "Task", "task_row"]

#: Metrics where a higher value is better (the rest are minimized), validation and test names.
HIGHER_IS_BETTER = frozenset({"val_accuracy", "accuracy", "macro_f1"})

#: What a task's predictions are scored as: values in the data's own units (MAE, RMSE, sMAPE
#: after undoing the target scaling), class labels (accuracy, macro-F1) or next tokens
#: (cross entropy, perplexity, bits per token; logits are never gathered).
Scoring = Literal["values", "classes", "tokens"]


@dataclass(frozen=True)
class Task:
    """One task: how it is trained, checked and scored.

    - ``loss``: the key of its training loss in :data:`seqzoo.core.losses.LOSSES`.
    - ``validation_metrics``: the columns each epoch logs beside ``val_loss`` (a trainer's
      ``monitor`` may name any of them).
    - ``headline_metric``: the test metric a zoo entry leads with (``seqzoo zoo list``).
    - ``output_check(output, targets, output_size)``: None when a model's output for a batch
      fits the batch's targets, else the shape it must have, in words.
    - ``output``: the output mode a built-in model gets for real-valued inputs
      (``"last"``: one output per sample, ``"sequence"``: one per step).
    - ``scoring``: see :data:`Scoring`; ``baseline``: the no-skill reference of the test
      report (``"naive"``: persistence and seasonal naive, ``"mean"``: the training mean,
      ``"majority"``: the most frequent class, ``"unigram"``: token frequencies).
    - ``shapes``: a split's ``inputs`` / ``targets`` and a model's ``output``, in words
      (:data:`seqzoo.core.protocols.TASK_SHAPES`).
    - ``pipeline_tag``: the Hugging Face Hub's pipeline tag of a model card
      (``text_pipeline_tag``: the one for token-id inputs, when it differs).
    """

    name: str
    loss: str
    validation_metrics: tuple[str, ...]
    headline_metric: str
    output_check: Callable[[Any, Any, int], str | None]
    output: Literal["last", "sequence"]
    scoring: Scoring
    baseline: str
    shapes: Mapping[str, str]
    pipeline_tag: str
    text_pipeline_tag: str | None = None


def _values(output: Any, targets: Any, output_size: int) -> str | None:
    """Forecast / regression: one value per target element, shaped like the targets."""
    if tuple(output.shape) == tuple(targets.shape):
        return None
    return f"(batch, {targets.shape[-1]}) (output='last')"


def _class_scores(output: Any, targets: Any, output_size: int) -> str | None:
    """Classification: one score per class for each sample."""
    if output.dim() == 2 and output.shape[0] == targets.shape[0]:
        return None
    return f"(batch, {output_size}) class scores"


def _token_scores(output: Any, targets: Any, output_size: int) -> str | None:
    """Language models: one score per vocabulary entry for each step of each sample."""
    if output.dim() == 3 and output.shape[:2] == targets.shape:
        return None
    return f"(batch, time, {output_size}) token scores (output='sequence')"


#: Every task, by name (in the order error messages list them).
TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            name="forecast",
            loss="mse",
            validation_metrics=("val_mae",),
            headline_metric="mae",
            output_check=_values,
            output="last",
            scoring="values",
            baseline="naive",
            shapes={
                "inputs": "(N, window, features) float32",
                "targets": "(N, horizon * targets) float32, step by step",
                "output": "(B, output_size) with output_size = horizon * targets (output='last')",
            },
            pipeline_tag="time-series-forecasting",
        ),
        Task(
            name="regression",
            loss="mse",
            validation_metrics=("val_mae",),
            headline_metric="mae",
            output_check=_values,
            output="last",
            scoring="values",
            baseline="mean",
            shapes={
                "inputs": "(N, 1, features) float32 (one row is a length-1 sequence)",
                "targets": "(N, targets) float32",
                "output": "(B, output_size) (output='last')",
            },
            pipeline_tag="tabular-regression",
        ),
        Task(
            name="classification",
            loss="cross_entropy",
            validation_metrics=("val_accuracy",),
            headline_metric="accuracy",
            output_check=_class_scores,
            output="last",
            scoring="classes",
            baseline="majority",
            shapes={
                "inputs": "(N, time) int64 ids with lengths (N,), or (N, time, features) float32",
                "targets": "(N,) int64 class indices",
                "output": "(B, output_size) class scores, output_size = number of classes",
            },
            pipeline_tag="time-series-classification",
            text_pipeline_tag="text-classification",
        ),
        Task(
            name="language-model",
            loss="token_cross_entropy",
            validation_metrics=("val_perplexity", "val_bpc"),
            headline_metric="bpc",
            output_check=_token_scores,
            output="sequence",
            scoring="tokens",
            baseline="unigram",
            shapes={
                "inputs": "(N, time) int64 ids",
                "targets": "(N, time) int64, the next ids",
                "output": "(B, time, vocab_size) token scores (output='sequence')",
            },
            pipeline_tag="text-generation",
        ),
    )
}


def task_row(task: str) -> Task:
    """The :class:`Task` row of ``task``; a :class:`~seqzoo.core.errors.ConfigError` naming
    the known tasks when there is none."""
    try:
        return TASKS[task]
    except KeyError:
        from .errors import ConfigError

        raise ConfigError(
            f"task must be one of {tuple(TASKS)}, got {task!r}", field="task"
        ) from None
