"""Replay a classic "sequence models in PyTorch" teaching notebook with seqzoo.

Six steps, each printing its numbers (test metrics always beside a naive baseline):

1. linear regression by gradient descent on ``diabetes``: raw inputs diverge, scaled ones fit;
2. an RNN and an LSTM forecasting ``sunspots``, beside persistence and seasonal naive;
3. the trained LSTM fed one step at a time vs whole windows (same numbers, O(1) per step);
4. an embedding + LSTM character language model on the ``text`` corpus, and a sample;
5. a composed "Frankenstein" hybrid on the series of step 2;
6. vanishing / exploding gradients on the ``adding`` problem: rnn vs lstm vs gru, input
   gradient norms over time, and gradient clipping under a too-large learning rate.

Run ``python examples/notebook/replay.py`` (0.5 to 1.5 minutes on a shared 2-core machine;
budget: under 5) or ``--quick`` (a smoke version, under a minute; about 15 s there). Figures go to ``examples/notebook/figures/`` (``--quick``:
a temporary directory unless ``--figures DIR`` is given); run directories go to a temporary
directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import torch

import seqzoo
from seqzoo.core.metrics import evaluate, format_report, predict_split
from seqzoo.core.predict import generate_text
from seqzoo.core.training import NonFiniteLossError, loss_for

HERE = Path(__file__).resolve().parent
SEED = 0


@dataclass(frozen=True)
class Budget:
    """How much each step trains; ``FULL`` is the real replay, ``QUICK`` a smoke run."""

    linear_epochs: int
    series_epochs: int
    series_hidden: int
    text_chars: int
    text_epochs: int
    text_hidden: int
    adding_length: int
    adding_samples: int
    adding_epochs: int
    clip_samples: int
    clip_epochs: int
    timing_repeats: int


FULL = Budget(
    linear_epochs=40,
    series_epochs=40,
    series_hidden=32,
    text_chars=200_000,
    text_epochs=10,
    text_hidden=128,
    adding_length=50,
    adding_samples=3000,
    adding_epochs=10,
    clip_samples=1500,
    clip_epochs=3,
    timing_repeats=50,
)
QUICK = Budget(
    linear_epochs=5,
    series_epochs=3,
    series_hidden=16,
    text_chars=8_000,
    text_epochs=1,
    text_hidden=32,
    adding_length=50,
    adding_samples=400,
    adding_epochs=1,
    clip_samples=400,
    clip_epochs=1,
    timing_repeats=3,
)


@dataclass
class Row:
    """One line of the final summary table (numbers already formatted)."""

    step: str
    model: str
    data: str
    metric: str
    value: str
    baseline: str = ""
    baseline_value: str = ""


class Replay:
    """The shared state of the six steps: budget, directories, results for the summary."""

    def __init__(self, budget: Budget, figures: Path, runs: Path) -> None:
        self.budget, self.figures, self.runs = budget, figures, runs
        self.summary: list[Row] = []
        self.figure_paths: list[Path] = []
        self.series: dict[str, Any] = {}  # step 2's runs, reused by steps 3 and 5

    def train(self, name: str, **arguments: Any) -> seqzoo.core.workflow.Run:
        """``seqzoo.train`` with the replay's fixed seed, quiet, in a temporary run dir."""
        return seqzoo.train(seed=SEED, quiet=True, run_dir=self.runs / name, **arguments)

    def add(
        self,
        step: str,
        model: str,
        data: str,
        metric: str,
        value: float | str,
        baseline: str = "",
        baseline_value: float | None = None,
    ) -> None:
        """Book a line of the summary table."""
        text = value if isinstance(value, str) else f"{value:.4g}"
        base = "" if baseline_value is None else f"{baseline_value:.4g}"
        self.summary.append(Row(step, model, data, metric, text, baseline, base))

    def save(self, figure: Any, name: str) -> None:
        path = self.figures / name
        figure.tight_layout()
        figure.savefig(path, format="png", dpi=100)
        plt.close(figure)
        self.figure_paths.append(path)
        print(f"figure: {display(path)}")


def display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def banner(title: str) -> None:
    print()
    print("=" * 78)
    print(title)
    print("=" * 78)


def mse(result: dict[str, Any], who: str = "model") -> float:
    """MSE in raw units from an ``evaluate`` result (its RMSE squared)."""
    values = result["model"] if who == "model" else result["baselines"][who]
    return values["rmse"] ** 2


# -- 1. linear regression ----------------------------------------------------------------------


def step_linear(replay: Replay) -> None:
    banner("1. Linear regression by gradient descent (diabetes, SGD)")
    raw = seqzoo.get_registry().create("dataset", "diabetes", scale=False)
    features = raw.train.inputs.reshape(len(raw.train), -1)
    spread = features.std(dim=0)
    print(
        f"raw inputs: {features.shape[1]} features, std per feature from "
        f"{float(spread.min()):.3g} to {float(spread.max()):.3g}; raw targets from "
        f"{float(raw.train.targets.min()):.0f} to {float(raw.train.targets.max()):.0f}"
    )
    lr = 0.05
    options = {"model": "linear", "optimizer": {"name": "sgd", "lr": lr}, "batch_size": 32}
    epochs = replay.budget.linear_epochs
    try:
        replay.train(
            "linear-unscaled",
            dataset={"name": "diabetes", "scale": False},
            epochs=epochs,
            **options,
        )
        print(f"unscaled, SGD lr={lr}: finished WITHOUT diverging (not what the notebook shows)")
    except NonFiniteLossError as error:
        print(f"unscaled, SGD lr={lr}: NonFiniteLossError raised by the trainer:")
        print(f"  {error}")
        print(f"  (error.epoch={error.epoch}, error.batch={error.batch}, error.loss={error.loss})")
    # how small must the step be for the raw inputs? (each run is a few hundred samples)
    print(f"unscaled, SGD, the same {epochs} epochs, smaller learning rates:")
    for small in (1e-3, 1e-4, 1e-5, 1e-6):
        try:
            tried = replay.train(
                f"linear-unscaled-{small:g}",
                dataset={"name": "diabetes", "scale": False},
                epochs=epochs,
                **{**options, "optimizer": {"name": "sgd", "lr": small}},
            )
        except NonFiniteLossError as error:
            print(f"  lr={small:g}: non-finite loss at epoch {error.epoch}, batch {error.batch}")
            continue
        found = evaluate(tried.model, tried.data)
        print(
            f"  lr={small:g}: finite; test MAE {found['model']['mae']:.2f} "
            f"(mean baseline {found['baselines']['mean']['mae']:.2f})"
        )
    run = replay.train(
        "linear-scaled", dataset={"name": "diabetes", "scale": True}, epochs=epochs, **options
    )
    losses = run.history.train_loss
    print(
        f"scaled, SGD lr={lr}, {len(losses)} epochs: train loss (standardized units) "
        f"{losses[0]:.4f} -> {losses[-1]:.4f}, best epoch {run.history.result.best_epoch}"
    )
    # the closed-form least-squares fit on the same training rows, for reference
    design = torch.cat([features, torch.ones(len(features), 1)], dim=1).double()
    solution = torch.linalg.lstsq(design, raw.train.targets.double()).solution
    test_rows = raw.test.inputs.reshape(len(raw.test), -1).double()
    test_design = torch.cat([test_rows, torch.ones(len(test_rows), 1)], dim=1)
    closed_mae = float((test_design @ solution - raw.test.targets).abs().mean())
    print(f"closed-form least squares on the same split (reference): test MAE {closed_mae:.2f}")
    result = evaluate(run.model, run.data)
    print(format_report(result))
    replay.add(
        "1",
        "linear (SGD, scaled)",
        "diabetes",
        "test MAE",
        result["model"]["mae"],
        "mean",
        result["baselines"]["mean"]["mae"],
    )


# -- 2. RNN and LSTM on sunspots ---------------------------------------------------------------


def series_options(replay: Replay) -> dict[str, Any]:
    return {
        "dataset": "sunspots",
        "optimizer": {"name": "adam", "lr": 3e-3},
        "epochs": replay.budget.series_epochs,
        "batch_size": 16,
    }


def test_years(data: Any) -> list[int]:
    """The year each test target belongs to (targets follow their input window)."""
    start, stop = data.metadata["split"]["test"]
    window = data.preprocessing.window
    return data.metadata["time"][start + window : stop]


def raw_predictions(model: Any, data: Any) -> Any:
    predictions, _ = predict_split(model, data.test, data.task)
    return data.preprocessing.unscale_targets(predictions).reshape(-1)


def step_series(replay: Replay) -> None:
    banner("2. RNN and LSTM forecasting yearly sunspots (one step ahead)")
    hidden = replay.budget.series_hidden
    results = {}
    for cell in ("rnn", "lstm"):
        tick = time.perf_counter()
        run = replay.train(
            f"sunspots-{cell}",
            model={"name": cell, "hidden_size": hidden},
            **series_options(replay),
        )
        result = evaluate(run.model, run.data)
        best = run.best
        print(
            f"\n{cell} (hidden {hidden}): {len(run.history)} epochs in "
            f"{time.perf_counter() - tick:.1f}s, best epoch {best.get('epoch')} "
            f"(val MAE {best.get('val_mae', float('nan')):.2f})"
        )
        print(format_report(result))
        replay.series[cell] = run
        results[cell] = result
    data = replay.series["lstm"].data
    years = test_years(data)
    truth = data.preprocessing.unscale_targets(data.test.targets).reshape(-1)
    figure, axes = plt.subplots(figsize=(8, 4))
    axes.plot(years, truth, "k-o", markersize=3, label="truth")
    for cell in ("rnn", "lstm"):
        mae = results[cell]["model"]["mae"]
        label = f"{cell} (MAE {mae:.1f})"
        axes.plot(years, raw_predictions(replay.series[cell].model, data), "-o", ms=3, label=label)
    persistence = results["lstm"]["baselines"]["persistence"]["mae"]
    axes.plot(
        years,
        data.preprocessing.unscale_targets(data.test.inputs[:, -1]).reshape(-1),
        ":",
        color="grey",
        label=f"persistence (MAE {persistence:.1f})",
    )
    axes.set_xlabel("year")
    axes.set_ylabel("sunspot number")
    axes.set_title("sunspots, test split: one-step-ahead forecasts")
    axes.legend()
    replay.save(figure, "sunspots_rnn_lstm.png")
    for cell in ("rnn", "lstm"):
        result = results[cell]
        replay.add(
            "2",
            cell,
            "sunspots",
            "test MAE",
            result["model"]["mae"],
            "persistence",
            result["baselines"]["persistence"]["mae"],
        )


# -- 3. one step at a time ---------------------------------------------------------------------


def best_seconds(function: Any, repeats: int) -> float:
    """The fastest of ``repeats`` calls (the least disturbed by other work on the machine)."""
    times = []
    for _ in range(repeats):
        tick = time.perf_counter()
        function()
        times.append(time.perf_counter() - tick)
    return min(times)


@torch.no_grad()
def step_streaming(replay: Replay) -> None:
    banner("3. The trained LSTM fed one step at a time vs whole windows")
    model = replay.series["lstm"].model.eval()
    data = replay.series["lstm"].data
    x = data.test.inputs  # (windows, T, 1)
    windows, length = x.shape[0], x.shape[1]

    # every prefix of every test window: stepping gives, after step t, what the whole-sequence
    # forward gives on x[:, :t+1]
    state = model.initial_state(windows)
    worst = 0.0
    for t in range(length):
        stepped, state = model.step(x[:, t], state)
        whole = model(x[:, : t + 1])
        worst = max(worst, float((stepped - whole).abs().max()))
    print(
        f"{windows} test windows of {length} steps, every prefix compared: "
        f"max |step-by-step - whole forward| = {worst:.2e}"
    )
    # two contrasts that show the comparison is not vacuous
    dropped = max(
        float((model.step(x[:, t], None)[0] - model(x[:, : t + 1])).abs().max())
        for t in range(length)
    )
    reference = copy.deepcopy(model).double()
    rounding = float((model(x).double() - reference(x.double())).abs().max())
    print(
        f"  contrasts: not carrying the state (fresh state every step): max diff {dropped:.2e}; "
        f"float32 vs a float64 copy of the model: {rounding:.2e} (scaled units)"
    )
    _, carried = model.forward_stateful(x[:, :10])
    chunked, _ = model.forward_stateful(x[:, 10:], carried)
    print(
        "two chunks with forward_stateful (10 + 12 steps) vs whole: "
        f"max diff {float((chunked - model(x)).abs().max()):.2e}"
    )

    repeats = replay.budget.timing_repeats
    one = x[:1]

    def run_steps() -> None:
        s = model.initial_state(1)
        for t in range(length):
            model.step(one[:, t], s)

    whole_s = best_seconds(lambda: model(one), repeats)
    steps_s = best_seconds(run_steps, repeats)
    print(
        f"one window of {length} steps: whole forward {whole_s * 1e3:.3f} ms; "
        f"{length} calls of step {steps_s * 1e3:.3f} ms ({steps_s / length * 1e6:.1f} us/step)"
    )

    # streaming: a new observation arrives; update the state (step) or recompute the history
    scaled = torch.as_tensor(data.preprocessing.scale_inputs(data.series), dtype=torch.float32)
    stream = scaled.repeat(7, 1)[None]  # (1, ~2100, 1): the series, seven times over
    lengths = [10, 100, 500, 1000, 2000]
    state = model.initial_state(1)
    step_cost: dict[int, float] = {}
    for t in range(max(lengths)):
        if t + 1 in lengths:
            current = state
            step_cost[t + 1] = best_seconds(partial(model.step, stream[:, t], current), repeats)
        _, state = model.step(stream[:, t], state)
    recompute_cost = {n: best_seconds(partial(model, stream[:, :n]), repeats) for n in lengths}
    print("cost of one new observation, by history length (best of repeats):")
    print(f"  {'history':>8}  {'step (us)':>10}  {'recompute whole (us)':>20}")
    for n in lengths:
        print(f"  {n:>8}  {step_cost[n] * 1e6:>10.1f}  {recompute_cost[n] * 1e6:>20.1f}")
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(lengths, [step_cost[n] * 1e6 for n in lengths], "-o", label="step (carry state)")
    axes.plot(
        lengths, [recompute_cost[n] * 1e6 for n in lengths], "-o", label="recompute whole history"
    )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("history length (steps)")
    axes.set_ylabel("microseconds per new observation")
    axes.set_title("LSTM: streaming update vs full recompute (CPU)")
    axes.legend()
    replay.save(figure, "lstm_step_vs_whole.png")
    replay.add("3", "lstm .step vs forward", "sunspots", "max abs diff", f"{worst:.2e}")


# -- 4. character language model ---------------------------------------------------------------


def step_text(replay: Replay) -> None:
    banner("4. Embedding + LSTM character language model (Python docs text)")
    budget = replay.budget
    run = replay.train(
        "text-lm",
        model={"name": "embedding-lstm", "embedding_dim": 32, "hidden_size": budget.text_hidden},
        dataset={"name": "text", "max_chars": budget.text_chars, "seq_len": 64},
        optimizer={"name": "adam", "lr": 5e-3},
        epochs=budget.text_epochs,
        batch_size=32,
        clip=1.0,
    )
    data = run.data
    print(
        f"corpus: first {budget.text_chars} characters, vocabulary {data.vocab_size}, "
        f"{len(data.train)} training sequences of 64"
    )
    for row in run.history.rows:
        print(
            f"  epoch {row.epoch}: train loss {row.train_loss:.3f}  val perplexity "
            f"{row.metrics['val_perplexity']:.2f}  val bpc {row.metrics['val_bpc']:.3f}  "
            f"({row.seconds:.1f}s)"
        )
    result = evaluate(run.model, data)
    print(format_report(result))
    model = run.model.eval()
    sample = generate_text(
        model, data.preprocessing.tokenizer, "The ", length=240, temperature=0.8, seed=SEED
    )
    print("sample (prompt 'The ', temperature 0.8, seed 0):")
    print("  " + "\n  ".join(sample.splitlines()))
    replay.add(
        "4",
        "embedding-lstm",
        "text (char)",
        "test bits/char",
        result["model"]["bpc"],
        "unigram",
        result["baselines"]["unigram"]["bpc"],
    )


# -- 5. a Frankenstein hybrid ------------------------------------------------------------------

FRANKENSTEIN = [
    {"layer": "conv1d", "channels": 16, "kernel_size": 3},
    {"layer": "lstm", "hidden_size": 32},
    {"layer": "residual", "body": [{"layer": "lstm", "hidden_size": 32}]},
    {"layer": "parallel", "join": "concat", "branches": [{"layer": "last"}, {"layer": "mean"}]},
    {"layer": "linear", "out_features": 1},
]


def step_hybrid(replay: Replay) -> None:
    banner("5. A Frankenstein hybrid: conv1d -> lstm -> residual(lstm) -> parallel(last, mean)")
    preview = seqzoo.compose(FRANKENSTEIN, input_size=1)
    print(f"composed: {sum(p.numel() for p in preview.parameters())} parameters")
    tick = time.perf_counter()
    run = replay.train("sunspots-hybrid", model={"layers": FRANKENSTEIN}, **series_options(replay))
    result = evaluate(run.model, run.data)
    print(
        f"trained {len(run.history)} epochs in {time.perf_counter() - tick:.1f}s, "
        f"best epoch {run.best.get('epoch')}"
    )
    print(format_report(result))
    data = run.data
    rows = {"hybrid": result}
    for cell in ("rnn", "lstm"):
        if cell in replay.series:
            rows[cell] = evaluate(replay.series[cell].model, replay.series[cell].data)
    print("sunspots test MAE, side by side:")
    for name, value in rows.items():
        params = sum(
            p.numel()
            for p in (run.model if name == "hybrid" else replay.series[name].model).parameters()
        )
        print(f"  {name:<16} {value['model']['mae']:8.2f}   ({params} parameters)")
    for name, values in result["baselines"].items():
        print(f"  {name:<16} {values['mae']:8.2f}")
    years = test_years(data)
    truth = data.preprocessing.unscale_targets(data.test.targets).reshape(-1)
    figure, axes = plt.subplots(figsize=(8, 4))
    axes.plot(years, truth, "k-o", markersize=3, label="truth")
    for name in ("rnn", "lstm"):
        if name in replay.series:
            model = replay.series[name].model
            label = f"{name} (MAE {rows[name]['model']['mae']:.1f})"
            axes.plot(years, raw_predictions(model, data), "-", alpha=0.6, label=label)
    label = f"hybrid (MAE {result['model']['mae']:.1f})"
    axes.plot(years, raw_predictions(run.model, data), "-o", ms=3, label=label)
    axes.set_xlabel("year")
    axes.set_ylabel("sunspot number")
    axes.set_title("sunspots, test split: the composed hybrid beside rnn and lstm")
    axes.legend()
    replay.save(figure, "sunspots_hybrid.png")
    replay.add(
        "5",
        "hybrid (compose)",
        "sunspots",
        "test MAE",
        result["model"]["mae"],
        "persistence",
        result["baselines"]["persistence"]["mae"],
    )


# -- 6. vanishing and exploding gradients ------------------------------------------------------


def input_gradient_norms(model: Any, inputs: Any, targets: Any) -> list[float]:
    """``mean over samples of ||dL/dx_t||`` for each time step t (L: the batch's MSE)."""
    model.eval()
    x = inputs.clone().requires_grad_(True)
    loss = loss_for("regression")(model(x), targets)
    (grad,) = torch.autograd.grad(loss, x)
    return grad.norm(dim=-1).mean(dim=0).tolist()


def marked_sensitivity(model: Any, inputs: Any) -> tuple[float, float]:
    """Mean d(output)/d(value) at the first and at the second marked step: a model that adds
    the two marked values has 1 and 1; one that ignores the early mark has ~0 there."""
    model.eval()
    x = inputs.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x).sum(), x)
    marks = inputs[..., 1].nonzero()[:, 1].reshape(len(inputs), 2)  # (N, 2) marked steps
    rows = torch.arange(len(inputs))
    return float(grad[rows, marks[:, 0], 0].mean()), float(grad[rows, marks[:, 1], 0].mean())


def step_gradients(replay: Replay) -> None:
    budget = replay.budget
    length = budget.adding_length
    banner(f"6. Vanishing and exploding gradients: the adding problem (length {length})")
    dataset = {"name": "adding", "length": length, "samples": budget.adding_samples}
    runs = {}
    for cell in ("rnn", "lstm", "gru"):
        tick = time.perf_counter()
        runs[cell] = replay.train(
            f"adding-{cell}",
            model={"name": cell, "hidden_size": 32},
            dataset=dataset,
            optimizer={"name": "adam", "lr": 1e-2},
            epochs=budget.adding_epochs,
            batch_size=32,
            clip=1.0,
        )
        losses = " ".join(f"{v:.4f}" for v in runs[cell].history.train_loss)
        print(f"{cell}: train MSE per epoch {losses}  ({time.perf_counter() - tick:.1f}s)")
    data = runs["rnn"].data
    print(
        f"\nsame budget for each: hidden 32, Adam lr 0.01, clip 1.0, batch 32, "
        f"{budget.adding_epochs} epochs over {len(data.train)} sequences"
    )
    print(f"test split, {len(data.test)} sequences; baseline = predict the training mean")
    print(f"  {'model':<6} {'test MSE':>9} {'test MAE':>9}   verdict")
    baseline = None
    for cell, run in runs.items():
        result = evaluate(run.model, run.data)
        baseline = mse(result, "mean"), result["baselines"]["mean"]["mae"]
        value = mse(result)
        verdict = "learned the task" if value < 0.5 * baseline[0] else "no better than baseline"
        print(f"  {cell:<6} {value:9.4f} {result['model']['mae']:9.4f}   {verdict}")
        replay.add("6", cell, f"adding-{length}", "test MSE", value, "mean", baseline[0])
    assert baseline is not None
    print(
        f"  {'mean':<6} {baseline[0]:9.4f} {baseline[1]:9.4f}   "
        f"(theory: {data.metadata['baseline_mse']:.4f})"
    )

    figure, axes = plt.subplots(figsize=(7, 4))
    for cell, run in runs.items():
        epochs = [row.epoch for row in run.history.rows]
        (line,) = axes.plot(epochs, run.history.train_loss, "-o", ms=3, label=f"{cell} train")
        axes.plot(epochs, run.history.val_loss, "--", color=line.get_color(), label=f"{cell} val")
    axes.axhline(1 / 6, color="grey", linestyle=":", label="baseline 1/6")
    axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.set_ylabel("MSE")
    axes.set_title(f"adding problem, length {length}")
    axes.legend(ncol=2, fontsize=8)
    replay.save(figure, "adding_loss_curves.png")

    # vanishing: how much does the loss at the end feel the input at step t?
    print("\nmean ||dL/dx_t|| over 256 test sequences (L: MSE of the final output):")
    inputs, targets = data.test.inputs[:256], data.test.targets[:256]
    norms: dict[str, list[float]] = {}
    reads: dict[str, tuple[float, float]] = {}
    for cell in ("rnn", "lstm", "gru"):
        torch.manual_seed(SEED)  # the initial weights of the runs above (train seeds the same)
        fresh = seqzoo.create_model(cell, input_size=2, output_size=1, hidden_size=32)
        for name, model in ((f"{cell} (initial)", fresh), (f"{cell} (trained)", runs[cell].model)):
            norms[name] = input_gradient_norms(model, inputs, targets)
            reads[name] = marked_sensitivity(model, inputs)
    middle = length // 2
    print(
        f"  {'model':<15} {'t=1':>10} {f't={middle}':>10} {f't={length}':>10} {'t=1 / t=T':>10}"
        f"   d(output)/d(marked values), ideal 1 and 1"
    )
    for name, values in norms.items():
        first, second = reads[name]
        print(
            f"  {name:<15} {values[0]:10.2e} {values[middle - 1]:10.2e} {values[-1]:10.2e} "
            f"{values[0] / values[-1]:10.2e}   {first:6.3f} {second:6.3f}"
        )
    figure, axes = plt.subplots(figsize=(7, 4))
    for name, values in norms.items():
        color = {"rnn": "C0", "lstm": "C1", "gru": "C2"}[name.split()[0]]
        style = "-" if "trained" in name else "--"
        axes.plot(range(1, length + 1), values, style, color=color, label=name)
    axes.set_yscale("log")
    axes.set_xlabel("time step t of the input")
    axes.set_ylabel("mean ||dL/dx_t||")
    axes.set_title("gradient reaching each input step (loss at the last step)")
    axes.legend()
    replay.save(figure, "adding_input_gradients.png")

    step_clipping(replay)


def step_clipping(replay: Replay) -> None:
    budget = replay.budget
    lr = 1.0
    dataset = {"name": "adding", "length": budget.adding_length, "samples": budget.clip_samples}
    print(f"\nexploding: plain rnn, SGD lr={lr} (too large), {budget.clip_samples} sequences")
    options = {
        "model": {"name": "rnn", "hidden_size": 32},
        "dataset": dataset,
        "optimizer": {"name": "sgd", "lr": lr},
        "epochs": budget.clip_epochs,
        "batch_size": 32,
    }
    outcome = {}
    data_baseline = 1 / 6  # MSE of always predicting 1
    for clip in (None, 1.0):
        label = "unclipped" if clip is None else f"clip={clip}"
        try:
            run = replay.train(f"adding-rnn-sgd-{label}", clip=clip, **options)
        except NonFiniteLossError as error:
            print(f"  {label}: NonFiniteLossError: {error}")
            outcome[label] = f"NonFiniteLossError (epoch {error.epoch}, batch {error.batch})"
            continue
        losses = " ".join(f"{v:.4g}" for v in run.history.train_loss)
        result = evaluate(run.model, run.data)
        print(f"  {label}: finished; train MSE per epoch {losses}; test MSE {mse(result):.4g}")
        if max(run.history.train_loss) > 100 * data_baseline:
            outcome[label] = (
                f"exploded but stayed finite (train MSE up to {max(run.history.train_loss):.3g})"
            )
        else:
            outcome[label] = f"finite, test MSE {mse(result):.4f}"

    # the same unclipped run by hand, to watch the gradient norm on the way to the blow-up:
    # the same initial weights (train seeds torch with the seed before building the model)
    # and the same batch order (the trainer shuffles with a generator seeded the same way)
    sizes = {k: v for k, v in dataset.items() if k != "name"}
    data = seqzoo.get_registry().create("dataset", "adding", **sizes)
    torch.manual_seed(SEED)
    model = seqzoo.create_model("rnn", input_size=2, output_size=1, hidden_size=32)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(SEED)
    loss_fn = loss_for("regression")
    recurrent = [p for n, p in model.named_parameters() if n.startswith("core.")]
    head = [p for n, p in model.named_parameters() if n.startswith("head.")]
    w_hh = model.core.rnn.weight_hh_l0

    def norm(tensors: list[Any]) -> float:
        return float(torch.linalg.vector_norm(torch.stack([t.norm() for t in tensors])))

    print("  the unclipped run replayed by hand (gradient norms before any step):")
    print(
        f"    {'batch':>5} {'loss':>10} {'grad all':>10} {'grad rnn':>10} {'grad head':>10}"
        f" {'|W_hh|':>9}"
    )
    for batch, (x, y, _) in enumerate(
        data.train.batches(32, shuffle=True, generator=generator), start=1
    ):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        grads = [p.grad for p in recurrent], [p.grad for p in head]
        total = norm(grads[0] + grads[1])
        print(
            f"    {batch:5d} {loss.item():10.3g} {total:10.3g} {norm(grads[0]):10.3g} "
            f"{norm(grads[1]):10.3g} {float(w_hh.detach().norm()):9.3g}"
        )
        if not math.isfinite(loss.item()) or not math.isfinite(total) or batch >= 40:
            break
        optimizer.step()
    for label, text in outcome.items():
        replay.add("6", f"rnn SGD lr={lr} {label}", "adding", "outcome", text)


# -- the summary -------------------------------------------------------------------------------


def print_summary(replay: Replay) -> None:
    banner("Summary")
    header = ("step", "model", "data", "metric", "value", "baseline", "baseline value")
    table = [header]
    for row in replay.summary:
        table.append(
            (row.step, row.model, row.data, row.metric, row.value, row.baseline, row.baseline_value)
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run, under a minute")
    parser.add_argument("--figures", type=Path, help="where the PNGs go")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: these models are tiny, and on a busy 2-core "
        "machine a second OpenMP thread made single batches stall for up to half a second)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    budget = QUICK if args.quick else FULL
    began = time.perf_counter()
    print(
        f"seqzoo {seqzoo.__version__}, torch {torch.__version__}, "
        f"intra-op threads: {torch.get_num_threads()}, {'quick' if args.quick else 'full'} budget"
    )
    with tempfile.TemporaryDirectory(prefix="seqzoo-replay-") as scratch:
        figures = args.figures or (Path(scratch) / "figures" if args.quick else HERE / "figures")
        figures.mkdir(parents=True, exist_ok=True)
        replay = Replay(budget, figures, Path(scratch) / "runs")
        timings = {}
        for name, step in (
            ("1 linear", step_linear),
            ("2 rnn/lstm", step_series),
            ("3 step", step_streaming),
            ("4 text", step_text),
            ("5 hybrid", step_hybrid),
            ("6 gradients", step_gradients),
        ):
            tick = time.perf_counter()
            step(replay)
            timings[name] = time.perf_counter() - tick
        print_summary(replay)
        print("\nseconds per step: " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
        print(f"total {time.perf_counter() - began:.0f}s")
        print("figures: " + ", ".join(display(p) for p in replay.figure_paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
