"""The model card: ``README.md`` with Hub metadata (YAML front matter) and a body that says what
the model is, how to load it, its config, how it was trained and how well it does.

The front matter is huggingface_hub's ``ModelCardData``: the card's metrics become
``EvalResult``s, so the Hub shows them as the card's ``model-index`` (evaluation results).
huggingface_hub is imported only while a card is rendered: loading and predicting never need it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from seqzoo.core.errors import ConfigError
from seqzoo.core.tasks import TASKS

__all__ = ["CARD_KEYS", "PIPELINE_TAGS", "format_number", "render_card"]

#: Keys a ``card`` dict may hold (anything else is a typo, reported with this list).
CARD_KEYS = (
    "description",
    "dataset",
    "metrics",
    "baselines",
    "results_note",
    "seeds",
    "comparison",
    "training",
    "license",
    "repo_id",
)

#: seqzoo task -> the Hub's pipeline tag, from the task table (classification's depends on
#: the input kind: :func:`_pipeline_tag`).
PIPELINE_TAGS = {
    **{name: task.pipeline_tag for name, task in TASKS.items() if task.text_pipeline_tag is None},
    "zero-shot-forecast": "time-series-forecasting",
}


def _pipeline_tag(task: str | None, text: bool) -> str | None:
    row = TASKS.get(task or "")
    if row is not None and row.text_pipeline_tag is not None:  # token ids or not
        return row.text_pipeline_tag if text else row.pipeline_tag
    return PIPELINE_TAGS.get(task or "")


def _check(card: Mapping[str, Any]) -> None:
    unknown = sorted(set(card) - set(CARD_KEYS))
    if unknown:
        raise ConfigError(
            f"card has unknown keys {unknown}; it may hold {', '.join(CARD_KEYS)}", field="card"
        )
    for key in ("metrics", "baselines", "training", "seeds"):
        if card.get(key) is not None and not isinstance(card[key], Mapping):
            raise ConfigError(f"card[{key!r}] must be a mapping", field="card")


def format_number(value: Any) -> str:
    """A card's number: floats to 4 significant digits (``seqzoo zoo build`` prints the same)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


_number = format_number


def _cell(value: Any) -> str:
    return _number(value).replace("|", "\\|").replace("\n", " ")


def _seed_row(seeds: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """``mean ± std (5 seeds)`` of every metric the seeds report."""
    mean, std = seeds.get("mean") or {}, seeds.get("std") or {}
    cells = {k: f"{_number(v)} ± {_number(std.get(k, float('nan')))}" for k, v in mean.items()}
    return f"mean ± std ({len(seeds.get('seeds') or [])} seeds)", cells


def _metrics_table(
    metrics: Mapping[str, Any],
    baselines: Mapping[str, Any],
    seeds: Mapping[str, Any] | None = None,
) -> list[str]:
    """One row for this model (and its seeds' mean ± std), one per baseline; columns are the
    metric names."""
    names = list(metrics)
    for scores in baselines.values():
        if isinstance(scores, Mapping):
            names += [n for n in scores if n not in names]
    lines = ["| model | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    rows: list[tuple[str, Mapping[str, Any]]] = [("**this model**", metrics)]
    if seeds:
        rows.append(_seed_row(seeds))
    rows += [(name, s if isinstance(s, Mapping) else {}) for name, s in baselines.items()]
    for label, scores in rows:
        lines.append(f"| {label} | " + " | ".join(_cell(scores.get(n, "")) for n in names) + " |")
    return lines


def _eval_results(
    metrics: Mapping[str, Any],
    pipeline: str | None,
    datasets: list[str],
    on_test_split: bool,
) -> list[Any]:
    """This model's numeric metrics as ``EvalResult``s (the card's ``model-index``): one task
    (the pipeline tag), the first dataset. Baselines stay in the body's table: the model-index
    holds the scores of this model only."""
    from huggingface_hub import EvalResult

    if not pipeline:
        return []  # the model-index needs a task type
    dataset = datasets[0] if datasets else "custom"
    results = []
    for metric, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(value):
            continue  # NaN/inf: not a result the Hub can show
        results.append(
            EvalResult(
                task_type=pipeline,
                dataset_type=dataset,
                dataset_name=dataset,
                dataset_split="test" if on_test_split else None,
                metric_type=str(metric),
                metric_name=str(metric),
                metric_value=value,
            )
        )
    return results


def render_card(
    *,
    name: str,
    config: Mapping[str, Any],
    task: str | None,
    card: Mapping[str, Any] | None,
    preprocessing: Mapping[str, Any] | None,
    has_tokenizer: bool,
    files: Mapping[str, str],
) -> str:
    """The text of ``README.md`` for a model saved under registry name ``name``."""
    from huggingface_hub import ModelCardData

    card = dict(card or {})
    _check(card)
    datasets = card.get("dataset")
    datasets = [datasets] if isinstance(datasets, str) else list(datasets or [])
    metrics: Mapping[str, Any] = card.get("metrics") or {}
    baselines: Mapping[str, Any] = card.get("baselines") or {}
    training: Mapping[str, Any] = card.get("training") or {}
    pipeline = _pipeline_tag(task, has_tokenizer)

    tags = ["seqzoo", name]
    if task:
        tags.append(task)
    if pipeline and pipeline not in tags:
        tags.append(pipeline)
    repo_id = card.get("repo_id") or "ORG/NAME"
    title = repo_id.split("/")[-1] if card.get("repo_id") else name
    results = _eval_results(metrics, pipeline, datasets, on_test_split=not card.get("results_note"))
    meta = ModelCardData(
        library_name="seqzoo",
        tags=tags,
        pipeline_tag=pipeline,
        license=card.get("license") or None,
        datasets=datasets or None,
        metrics=list(metrics) or None,
        model_name=title if results else None,
        eval_results=results or None,
    )

    what = f"A seqzoo `{name}` model" + (f" for {task}" if task else "")
    if datasets:
        what += " trained on " + ", ".join(f"`{d}`" for d in datasets)
    lines = [
        "---",
        meta.to_yaml().rstrip(),
        "---",
        "",
        f"# {title}",
        "",
        what + ", made with [seqzoo](https://pypi.org/project/seqzoo/).",
        "",
    ]
    if card.get("description"):
        lines += [str(card["description"]).strip(), ""]
    lines += [
        "## How to load",
        "",
        "```python",
        "import seqzoo",
        "",
        f'model = seqzoo.from_pretrained("{repo_id}")  # best device: CUDA, MPS, else CPU',
        "```",
        "",
        "Only `model.safetensors` is read (nothing is unpickled); every file's sha256 in "
        "`config.json` is checked on load.",
    ]
    if preprocessing or has_tokenizer:
        lines += [
            "`model.preprocessing` holds what the model was trained with"
            + (" (the tokenizer, from `tokenizer.json`)" if has_tokenizer else "")
            + (
                " (input and target scalers), so predictions come back in the data's units"
                if preprocessing and preprocessing.get("target_scaler")
                else ""
            )
            + "."
        ]
    lines += [
        "",
        "## Config",
        "",
        f"Registry name `{name}`; `seqzoo.create_model({name!r}, **config)` rebuilds it.",
        "",
        "```json",
        json.dumps(dict(config), indent=2, sort_keys=True),
        "```",
        "",
    ]
    if training:
        lines += ["## Training", ""]
        command = training.get("command")
        if command:
            lines += ["```bash", str(command), "```", ""]
        rest = {k: v for k, v in training.items() if k != "command"}
        if rest:
            lines += ["| setting | value |", "|---|---|"]
            lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in rest.items()]
            lines.append("")
    if metrics or baselines:
        lines += ["## Results", ""]
        if card.get("results_note"):
            lines += [str(card["results_note"]), ""]
        elif datasets:
            lines += ["On the test split of " + ", ".join(f"`{d}`" for d in datasets) + ".", ""]
        seeds: Mapping[str, Any] | None = card.get("seeds")
        if seeds:
            listed = ", ".join(str(s) for s in seeds.get("seeds") or [])
            if seeds.get("shipped") == "ensemble":
                how = seeds.get("combined") or "their predictions averaged"
                held = f"all of their weights as one ensemble ({how})"
            else:
                held = (
                    f"seed {seeds.get('shipped')}'s weights (the median by test "
                    f"{seeds.get('metric')})"
                )
            lines += [
                f"Trained from seeds {listed}; this folder holds {held}: the **this model** row.",
                "",
            ]
        lines += [*_metrics_table(metrics, baselines, seeds), ""]
        if card.get("comparison"):
            lines += [str(card["comparison"]).strip(), ""]
    if files:
        lines += ["## Files", "", "| file | sha256 |", "|---|---|"]
        lines += [f"| `{n}` | `{digest}` |" for n, digest in files.items()]
        lines.append("")
    return "\n".join(lines)
