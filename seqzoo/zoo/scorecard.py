"""How a zoo entry's scores are told: the table ``seqzoo zoo build`` prints per entry and the
sentences its card carries (seeds, baselines, whether the model beats them), worded from the
catalogue record so the printed numbers and the card's are the same digits."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .card import format_number
from .catalogue import ORGANIZATION

__all__ = [
    "baseline_note",
    "entry_card",
    "entry_table",
    "mean_std",
    "seed_range",
    "spell",
    "summary",
    "verdict_text",
]


def mean_std(mean: float, std: float) -> str:
    """``0.3512 ± 0.01234``: the mean over seeds and its sample standard deviation."""
    return f"{format_number(mean)} ± {format_number(std)}"


def seed_range(seeds: Sequence[int]) -> str:
    """``0-4`` for consecutive seeds, else ``0, 2, 5``."""
    ordered = sorted(seeds)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    return ", ".join(str(s) for s in ordered)


def verdict_text(verdict: Mapping[str, Any], count: int, *, ensemble: bool = False) -> str:
    """Whether the mean over ``count`` seeds (``ensemble``: the seeds' ensemble) beats every
    baseline; if not, to what it loses and by how much."""
    key, mean = verdict["metric"], format_number(verdict["mean"])
    if ensemble:
        what = f"The {count}-seed ensemble's test {key} ({mean})"
    elif count > 1:
        what = f"The {count}-seed mean test {key} ({mean})"
    else:
        what = f"The test {key} ({mean})"
    if verdict["beats_all"]:
        best = verdict.get("best_baseline")
        if best is None:
            return f"{what} has no baseline to compare with."
        return (
            f"{what} beats every baseline; the best of them, {best}, scores "
            f"{format_number(verdict['best_value'])}."
        )
    losses = "; ".join(
        f"{loss['baseline']} ({format_number(loss['value'])}) by {format_number(loss['by'])} "
        f"({format_number(loss['percent'])}%)"
        for loss in verdict["loses_to"]
    )
    return f"{what} does not beat every baseline: it loses to {losses}."


def baseline_note(
    classical: str, statsforecast: Mapping[str, Any] | None, seasonal: bool = True
) -> str:
    """What a forecaster's baselines are and how they were fit (one paragraph); ``seasonal``:
    whether a seasonal naive row is among them."""
    naive = "naive (persistence)" + (" and seasonal naive" if seasonal else "")
    text = (
        f"Baselines, fit in the same build and scored on the same test targets: {naive} from "
        "the model's own input windows; " + classical
    )
    if statsforecast is None:
        return text + "."
    if not statsforecast.get("computed"):
        return text + f"; the statsforecast baselines were not computed: {statsforecast['reason']}."
    chosen = ", ".join(f"{label} {name}" for label, name in statsforecast["chosen"].items())
    text += (
        f"; and statsforecast {statsforecast['version']}'s AutoETS, AutoARIMA, AutoTheta and "
        f"MSTL with season length {statsforecast['season_length']}, each fit once on the "
        f"training and validation rows ({statsforecast['fit_rows']} steps) and then moved one "
        "step at a time with `forward`: the fitted model applied to the true history up to "
        "each test target, no refit (what `cross_validation(h=1, step_size=1, refit=False)` "
        f"does; its Naive and SeasonalNaive reproduce the naive rows). Chosen: {chosen}."
    )
    notes = statsforecast.get("notes") or []
    if notes:
        text += " " + " ".join(note[0].upper() + note[1:] + "." for note in notes)
    return text


def entry_table(name: str, entry: Mapping[str, Any]) -> list[str]:
    """The lines ``seqzoo zoo build`` prints for a per-dataset entry: its headline test metric
    (mean ± std over seeds, the shipped seed), each baseline, the best one and the verdict."""
    metrics = entry.get("metrics") or {}
    seeds = metrics.get("seeds")
    if not seeds:
        return []
    key = metrics["headline"]
    shipped = seeds["shipped"]
    rows = [
        (
            f"mean ± std ({len(seeds['seeds'])} seeds)",
            mean_std(seeds["mean"][key], seeds["std"][key]),
        ),
        (
            "this model (the seeds' ensemble)"
            if shipped == "ensemble"
            else f"this model (seed {shipped})",
            format_number(metrics["model"][key]),
        ),
    ]
    rows += [
        (label, format_number(scores[key]))
        for label, scores in metrics["baselines"].items()
        if key in scores
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"  {'model':<{width}}  test {key}"]
    lines += [f"  {label:<{width}}  {value}" for label, value in rows]
    statsforecast = metrics.get("statsforecast")
    if statsforecast is not None and not statsforecast.get("computed"):
        lines.append(f"  statsforecast baselines not computed: {statsforecast['reason']}")
    verdict = metrics.get("verdict")
    if verdict:
        best = verdict.get("best_baseline")
        if best is not None:
            lines.append(f"  best baseline: {best} {format_number(verdict['best_value'])}")
        lines.append("  " + verdict_text(verdict, len(seeds["seeds"])))
    if metrics.get("ensemble_verdict"):
        lines.append(
            "  " + verdict_text(metrics["ensemble_verdict"], len(seeds["seeds"]), ensemble=True)
        )
    return lines


def _combined(task: str) -> str:
    """How a seed ensemble of ``task`` combines its members (the ``ensemble`` model's rule)."""
    if task in ("language-model", "classification"):
        return "the mean of the members' predicted probabilities"
    return "the mean of the members' predictions"


def spell(part: dict[str, Any]) -> str:
    """``{"name": "adam", "lr": 0.01}`` -> ``adam (lr=0.01)``."""
    rest = ", ".join(f"{k}={json.dumps(v)}" for k, v in part.items() if k != "name")
    return f"{part['name']} ({rest})" if rest else str(part["name"])


def entry_card(
    name: str,
    recipe: Mapping[str, Any],
    metrics: Mapping[str, Any],
    task: str,
    best: Any,
    command: str,
) -> dict[str, Any]:
    """The ``card`` of a per-dataset zoo entry (:func:`~seqzoo.zoo.card.render_card`): what
    it is, how it was trained, its seeds, its scores beside the baselines and the verdict."""
    dataset = recipe["dataset"]
    seeds = metrics["seeds"]
    shipped, count = seeds["shipped"], len(seeds["seeds"])
    units = metrics.get("units")
    description = [
        recipe["description"] + ".",
        "",
        f"Trained by `seqzoo zoo build` on the bundled `{spell(dataset)}` data from seeds "
        f"{seed_range(seeds['seeds'])}, each on one CPU thread (deterministic: the command below "
        "rebuilds these weights and numbers bit for bit on the same platform and torch "
        f"version); this folder holds "
        + (
            f"the {count} seeds' models as one ensemble (`ensemble`: {_combined(task)})."
            if shipped == "ensemble"
            else f"seed {shipped}'s weights, the median by test {metrics['headline']}."
        ),
        f"Scored on the held-out test split ({metrics['samples']} samples"
        + (f", in {units}" if units and task != "language-model" else "")
        + (
            ", each forecast one step ahead from the true history before it"
            if task == "forecast"
            else ""
        )
        + ") beside naive baselines and classical ones.",
    ]
    if recipe.get("note"):
        description += ["", recipe["note"]]
    trainer = recipe["trainer"]
    training: dict[str, Any] = {
        "command": command,
        "dataset": spell(dataset),
        "trainer": spell(trainer),
        "optimizer": spell(recipe["optimizer"]),
    }
    if recipe.get("schedule"):
        training["schedule"] = spell(recipe["schedule"])
    training.update(
        {"best epoch": best, "seed": shipped, "seeds": seed_range(seeds["seeds"]), "threads": 1}
    )
    classical = metrics["classical"]["description"]
    if task == "forecast":
        seasonal = "seasonal_naive" in metrics["baselines"]
        comparison = baseline_note(classical, metrics.get("statsforecast"), seasonal)
    else:
        comparison = f"The classical baseline, fit in the same build: {classical}."
    comparison += "\n\n" + verdict_text(metrics["verdict"], count)
    if metrics.get("ensemble_verdict"):
        comparison += " " + verdict_text(metrics["ensemble_verdict"], count, ensemble=True)
    return {
        "description": "\n".join(description),
        "dataset": dataset["name"],
        "metrics": metrics["model"],
        "baselines": metrics["baselines"],
        "seeds": {
            "seeds": seeds["seeds"],
            "shipped": shipped,
            "metric": metrics["headline"],
            "mean": seeds["mean"],
            "std": seeds["std"],
            **({"combined": _combined(task)} if shipped == "ensemble" else {}),
        },
        "comparison": comparison,
        "training": training,
        "license": "apache-2.0",
        "repo_id": f"{ORGANIZATION}/{name}",
    }


def summary(name: str, entry: dict[str, Any]) -> str:
    """One line: the entry's headline test metric (its seeds' mean ± std, when it has seeds)
    beside its baselines."""
    metrics = entry["metrics"]
    if not metrics:
        training = entry.get("training") or {}
        return f"{name}: trained {training.get('steps')} steps, loss {training.get('final_loss', float('nan')):.4g}"
    key = metrics["headline"]
    others = ", ".join(
        f"{label} {format_number(scores[key])}"
        for label, scores in metrics["baselines"].items()
        if key in scores
    )
    seeds = metrics.get("seeds")
    if seeds:
        shown = (
            f"{mean_std(seeds['mean'][key], seeds['std'][key])} over {len(seeds['seeds'])} "
            f"seeds, shipped "
            + ("ensemble" if seeds["shipped"] == "ensemble" else f"seed {seeds['shipped']}")
            + f" {format_number(metrics['model'][key])}"
        )
    else:
        shown = format_number(metrics["model"][key])
    return f"{name}: test {key} {shown} ({others})"
