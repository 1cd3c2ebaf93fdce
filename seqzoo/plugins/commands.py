"""The built-in workflow commands, added through ``register_commands`` like any plugin's:
``train``, ``evaluate``, ``predict`` and ``generate``.

Heavy imports (torch, the trainers) happen inside each command, so ``seqzoo --help`` stays light.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from seqzoo.core.errors import ConfigError
from seqzoo.core.hookspecs import hookimpl

SEQZOO_HOOK_API = 1


def _pairs(values: tuple[str, ...], option: str, kind: str | None = None) -> dict[str, Any]:
    """``("hidden_size=32", "output=sequence")`` -> ``{"hidden_size": 32, "output": "sequence"}``
    (values parsed as YAML scalars, lists or mappings). ``kind``: the part they configure, whose
    keyword arguments that seqzoo passes itself are refused (``-S optimizer=...``)."""
    from seqzoo.core.validate import refuse_reserved

    parsed: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"takes KEY=VALUE, got {item!r}", field=option)
        parsed[key.strip()] = _value(raw, option, key.strip())
    if kind is not None:
        refuse_reserved(parsed, kind, path=option)
    return parsed


def _value(raw: str, option: str, key: str) -> Any:
    """A flag value: an int, a float (``1e-5``, ``inf``; never NaN), else YAML for lists,
    mappings, booleans and null (bounded like a run file: size, depth, aliases), else the text
    itself; always plain JSON."""
    import json
    import math

    import yaml

    from seqzoo.core.structured import parse_yaml

    for number in (int, float):
        try:
            value = number(raw)
        except ValueError:
            continue
        if isinstance(value, float) and math.isnan(value):
            raise ConfigError(f"{key}={raw!r}: NaN is not a value; give a number", field=option)
        return value
    try:
        value = parse_yaml(raw, where=f"the value of {key}")
    except yaml.YAMLError:
        return raw  # not YAML: the text itself
    except ConfigError as exc:  # past a limit (size, nesting, expanded aliases)
        raise ConfigError(str(exc), field=option) from None
    try:
        json.dumps(value)
    except TypeError:
        return raw  # e.g. a date: keep the text
    return value


#: ``--threads`` of the inference commands (predict, evaluate, generate, forecast).
threads_option = click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Torch intra-op CPU threads (1: fastest for these small models on a shared CPU; "
    "raise it on a free many-core machine).",
)


def apply_threads(threads: int | None) -> None:
    """Set torch's intra-op threads for an inference command (default 1; None: leave them)."""
    if threads is not None:
        from seqzoo.core.device import set_threads

        set_threads(threads)


@contextlib.contextmanager
def _warning_lines() -> Iterator[None]:
    """Show the trainers' own warnings (a compile fallback) as one ``warning: ...`` line on
    stderr while training runs; any other warning as Python shows it."""
    import warnings

    shown = warnings.showwarning

    def show(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if category.__name__ == "CompileFallbackWarning":
            click.echo(f"warning: {message}", err=True)
        else:
            shown(message, category, *args, **kwargs)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown


def _merge(part: Any, extra: dict[str, Any]) -> Any:
    if not extra:
        return part
    if isinstance(part, str):
        return {"name": part, **extra}
    if not isinstance(part, dict):
        raise ConfigError(
            f"cannot add {sorted(extra)} to {part!r}; write them into the run file instead"
        )
    return {**part, **extra}


@click.command()
@click.option("--config", "config_file", type=click.Path(), help="A YAML/TOML/JSON run file.")
@click.option("--model", help="A registered model name (default lstm).")
@click.option(
    "--init",
    help="Fine-tune this zoo model (a zoo name, seqzoo/<name> or a saved model directory); "
    "its architecture and preprocessing carry over.",
)
@click.option("-M", "--model-arg", multiple=True, help="Model config KEY=VALUE (repeatable).")
@click.option("--dataset", help="A registered dataset name (default sine).")
@click.option("-D", "--dataset-arg", multiple=True, help="Dataset option KEY=VALUE.")
@click.option("--optimizer", help="A registered optimizer (default adam).")
@click.option("--lr", type=float, help="Learning rate.")
@click.option("--schedule", help="A learning-rate schedule (step, cosine, plateau, ...).")
@click.option("-S", "--schedule-arg", multiple=True, help="Schedule option KEY=VALUE.")
@click.option("--trainer", help="A registered trainer (default supervised).")
@click.option("-T", "--trainer-arg", multiple=True, help="Trainer option KEY=VALUE.")
@click.option("--epochs", type=int, help="Epochs to train.")
@click.option("--batch-size", type=int, help="Samples per batch.")
@click.option("--clip", type=float, help="Clip gradients to this global norm.")
@click.option("--patience", type=int, help="Stop after this many epochs without improvement.")
@click.option("--seed", type=int, help="Seed for repeatable runs.")
@click.option("--run-dir", type=click.Path(), help="Where to write the run (default runs/...).")
@click.option("--resume", type=click.Path(), help="Continue the run in this directory.")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace the run already in --run-dir (its run files are removed first).",
)
@click.option(
    "--save-every",
    metavar="SECONDS|epoch",
    help="Save the last checkpoint (with best and the history files) after an epoch once this "
    "many seconds have passed since the previous save, or after every epoch ('epoch'); the "
    "final epoch and Ctrl-C always save, so a hard kill loses at most this long (or one "
    "epoch). Default 30.",
)
@click.option("--no-plot", is_flag=True, help="Do not draw loss.png (matplotlib is not loaded).")
@click.option("--quiet", is_flag=True, help="No progress bars, epoch lines or loss plot.")
@click.option(
    "--device",
    metavar="auto|cpu|cuda|cuda:N|mps",
    help="Where to train (default auto: CUDA, then MPS, then the CPU).",
)
@click.option(
    "--precision",
    type=click.Choice(["32", "bf16", "16-mixed"]),
    help="32 (default), bf16 autocast, or 16-mixed (fp16 autocast + gradient scaling; CUDA).",
)
@click.option(
    "--compile",
    "compile_model",
    is_flag=True,
    default=None,
    help="torch.compile the training forward (falls back to eager with a warning).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="Torch intra-op CPU threads (default 1: small models gain little from more).",
)
@click.option(
    "--nproc",
    type=click.IntRange(min=1),
    help="Train on this many local processes with the ddp trainer (torchrun; the global "
    "--batch-size is split between them).",
)
def train(**flags: Any) -> None:
    """Train a model on a dataset; writes a run directory with checkpoints and metrics."""
    from seqzoo.core.workflow import load_run_file
    from seqzoo.core.workflow import train as run_training

    arguments: dict[str, Any] = {}
    if flags["config_file"]:
        arguments = load_run_file(flags["config_file"])
    for key in ("model", "dataset", "optimizer", "schedule", "trainer", "init"):
        if flags[key]:
            arguments[key] = flags[key]
    if not arguments.get("init"):  # an init model brings its own architecture
        arguments.setdefault("model", "lstm")
    arguments.setdefault("dataset", "sine")
    arguments.setdefault("optimizer", "adam")
    model_args = _pairs(flags["model_arg"], "--model-arg", "model")
    if arguments.get("model") is not None:
        arguments["model"] = _merge(arguments["model"], model_args)
    elif model_args:  # options of the init model's config
        arguments["model"] = model_args
    arguments["dataset"] = _merge(arguments["dataset"], _pairs(flags["dataset_arg"], "-D"))
    from seqzoo.core.validate import finite_number

    if flags["lr"] is not None:
        lr = finite_number(flags["lr"], "--lr")  # its range: the optimizer says
        arguments["optimizer"] = _merge(arguments["optimizer"], {"lr": lr})
    if flags["clip"] is not None:
        finite_number(flags["clip"], "--clip")
    if flags["schedule_arg"]:
        if not arguments.get("schedule"):
            raise ConfigError("--schedule-arg needs --schedule", field="schedule")
        arguments["schedule"] = _merge(
            arguments["schedule"], _pairs(flags["schedule_arg"], "-S", "schedule")
        )
    options = _pairs(flags["trainer_arg"], "--trainer-arg")
    reserved = {"model", "dataset", "optimizer", "trainer", "schedule", "run_dir", "resume", "init"}
    if reserved & set(options) or "registry" in options:
        clashing = sorted((reserved | {"registry"}) & set(options))
        raise ConfigError(
            f"{clashing} are not trainer options; use the flags of the same name",
            field="--trainer-arg",
        )
    for key in ("epochs", "batch_size", "clip", "patience", "seed"):
        if flags[key] is not None:
            options[key] = flags[key]
    if flags["quiet"]:
        options["quiet"] = True
    if flags["quiet"] or flags["no_plot"]:
        options["plot"] = False
    if flags["save_every"] is not None:
        options["save_every"] = _value(flags["save_every"], "--save-every", "save_every")
    if flags["device"] is not None:
        from seqzoo.core.device import resolve_device

        resolve_device(flags["device"])  # a device this machine lacks: before anything loads
        options["device"] = flags["device"]
    for key, flag in (("precision", "precision"), ("compile", "compile_model")):
        if flags[flag] is not None:
            options[key] = flags[flag]
    if flags["threads"] is not None:
        options["threads"] = flags["threads"]
    if flags["resume"]:
        fixed = [
            f"--{name.replace('_', '-')}"
            for name in ("config_file", "model", "model_arg", "dataset", "dataset_arg",
                         "optimizer", "lr", "schedule", "schedule_arg", "trainer", "run_dir",
                         "init")
            if flags[name]
        ]  # fmt: skip
        if fixed:
            raise ConfigError(
                "--resume continues the run as its run.json describes it; only --epochs, "
                "--batch-size, --clip, --patience, --seed, --save-every, --no-plot, --quiet, "
                "--device, --precision, --compile, --threads and -T apply (got "
                + ", ".join(fixed).replace("--config-file", "--config")
                + ")"
            )
        if (flags["nproc"] or 1) > 1:  # the same command on N processes: their exit status
            from seqzoo.core.workflow import read_run_spec
            from seqzoo.plugins.trainers.ddp_launch import launch, trainer_of

            spec = read_run_spec(Path(flags["resume"]))
            click.get_current_context().exit(launch(flags["nproc"], trainer_of(spec["trainer"])))
        from seqzoo.plugins.trainers.ddp_launch import follower, follower_resume

        # ranks other than 0 resume from a private copy: rank 0 alone holds and writes the run
        with (
            follower_resume(flags["resume"])
            if follower()
            else contextlib.nullcontext(flags["resume"]) as source,
            _warning_lines(),
        ):
            run = run_training(resume=source, overwrite=flags["overwrite"], **options)
    else:
        arguments.update(options)
        if flags["overwrite"]:
            arguments["overwrite"] = True
        if flags["run_dir"]:
            arguments["run_dir"] = flags["run_dir"]
        if not arguments.get("run_dir"):
            model_name = _name_of(arguments.get("model"))
            if arguments.get("init"):  # runs/<init name>-<dataset>-<time>
                model_name = Path(str(arguments["init"]).split("@")[0].rstrip("/")).name
            data_name = _name_of(arguments["dataset"])
            stamp = time.strftime("%Y%m%d-%H%M%S")
            arguments["run_dir"] = str(Path("runs") / f"{model_name}-{data_name}-{stamp}")
        from seqzoo.plugins.trainers.ddp_launch import follower, launch, trainer_of

        if (flags["nproc"] or 1) > 1:  # the same command on N processes: their exit status
            extra = [] if flags["run_dir"] else ["--run-dir", str(arguments["run_dir"])]
            code = launch(flags["nproc"], trainer_of(arguments.get("trainer")), extra)
            click.get_current_context().exit(code)
        if follower():  # a rank other than 0 of a ddp run: rank 0 alone writes the run
            arguments["run_dir"] = None
        with _warning_lines():
            run = run_training(**arguments)
    if follower():
        return
    best = run.best
    summary = ", ".join(f"{k}={v:.4g}" for k, v in best.items() if isinstance(v, float))
    click.echo(f"run: {run.directory}")
    if summary:
        click.echo(f"best epoch {best.get('epoch')}: {summary}")
    # the command ends the process: spare the interpreter's final collection a walk over the
    # millions of objects torch, pandas and matplotlib leave behind (seconds on a small run)
    import gc

    gc.freeze()


def _name_of(part: Any) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, dict):
        return str(part.get("name") or ("hybrid" if "layers" in part else "model"))
    return "hybrid"


@click.command()
@click.argument("run_dir", type=click.Path())
@click.option("--split", type=click.Choice(["train", "validation", "test"]), default="test")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@threads_option
def evaluate(run_dir: str, split: str, as_json: bool, threads: int | None) -> None:
    """Evaluate a run's best model on a split, beside naive baselines.

    A fine-tuned zero-shot forecaster is scored by rolling forecasts through the split (MASE,
    WQL, 80% coverage); a saved forecaster folder records no held-out points, so it is refused
    with a pointer to ``seqzoo forecast`` and the benchmark."""
    import json

    from seqzoo.core.metrics import evaluate as evaluate_model
    from seqzoo.core.metrics import format_report
    from seqzoo.core.workflow import RUN_FILE, load_run

    apply_threads(threads)
    path = Path(run_dir)
    if not (path / RUN_FILE).is_file() and _saved_forecaster(path):
        raise ConfigError(_unscorable(run_dir, f"it is a saved model folder (no {RUN_FILE})"))
    run = load_run(run_dir)
    if _is_quantile_forecaster(run.model):
        result = _evaluate_forecaster(run, split, run_dir)
    else:
        result = evaluate_model(run.model, run.data, split=split)
    click.echo(json.dumps(result, indent=2) if as_json else format_report(result))


#: The quantile levels ``seqzoo evaluate`` scores a forecaster's WQL and coverage on.
_LEVELS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def _is_quantile_forecaster(model: Any) -> bool:
    """Whether ``model`` gives quantile forecasts (what ``seqzoo.forecast`` dispatches on)."""
    from seqzoo.core.forecasting import QuantileForecaster

    return isinstance(model, QuantileForecaster)


def _saved_forecaster(path: Path) -> bool:
    """Whether ``path`` is a saved model folder of a zero-shot (quantile) forecaster."""
    import json

    try:
        document = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(document, dict):
        return False
    if isinstance(document.get("seqzoo"), dict):
        document = document["seqzoo"]  # the current layout: seqzoo's data under "seqzoo"
    return document.get("task") == "zero-shot-forecast" or document.get("model") == (
        "patch-forecaster"
    )


def _unscorable(target: str, why: str) -> str:
    return (
        f"cannot score {target!r} with `seqzoo evaluate`: {why}, so nothing records which "
        f"points its model has not seen; forecast with `seqzoo forecast FILE.csv --horizon H "
        f"--model {target}`, or score zero-shot forecasters with benchmarks/bench_forecast.py"
    )


def _evaluate_forecaster(run: Any, split: str, where: str) -> dict[str, Any]:
    """Score a fine-tuned quantile forecaster on ``split`` of the series its run was tuned on.

    The run's dataset rebuilds the same chronological split (the fine-tuning never saw the
    test part; the validation part served early stopping). Forecasts of ``horizon`` steps (the
    run's fine-tuning horizon, at most the split's length) start every ``horizon`` points
    through the split, each from everything before it, one series per target column. Scores
    in raw units: MAE/RMSE/sMAPE and MASE of the mean forecast (MASE scaled by the in-sample
    seasonal-naive error of the training part), WQL over q = 0.1 ... 0.9 and the coverage of
    the 80% interval (as in benchmarks/bench_forecast.py), beside persistence and seasonal
    naive on the same points."""
    import numpy as np

    from seqzoo.core.metrics import regression_metrics
    from seqzoo.zoo.forecast import forecast as front_door

    data = run.data
    series = getattr(data, "series", None)
    bounds = ((getattr(data, "metadata", None) or {}).get("split") or {}).get(split)
    train = ((getattr(data, "metadata", None) or {}).get("split") or {}).get("train")
    if series is None or bounds is None or train is None:
        raise ConfigError(_unscorable(where, "its run does not record a split of a series"))
    start, stop = (int(b) for b in bounds)
    model = run.model
    first = max(start, int(getattr(model, "patch_size", 1) or 1))
    if stop <= first:
        raise ConfigError(
            f"{where!r} holds out no {split} points to score (its dataset's {split} part is "
            f"empty); fine-tune with a {split} fraction (-D {split}=0.15), or use "
            "`seqzoo forecast` / benchmarks/bench_forecast.py",
            field="split",
        )
    targets = len(data.preprocessing.target_names) or 1
    values = np.asarray(series, dtype=np.float64)[:, -targets:]
    horizon = int((run.spec.get("trainer") or {}).get("horizon") or model.horizon)
    horizon = max(1, min(horizon, stop - first))
    origins = [(j, t) for j in range(targets) for t in range(first, stop, horizon)]
    result = front_door(
        [values[:t, j] for j, t in origins],
        horizon,
        model=model,
        quantiles=_LEVELS,
        season=data.season,
    )
    season = data.season
    truth, mean, bands, scales = [], [], [], []
    naive, seasonal = [], []
    for i, (j, t) in enumerate(origins):
        n = min(horizon, stop - t)
        actual = values[t : t + n, j]
        truth.append(actual)
        mean.append(result.mean[i, :n])
        bands.append(result.quantiles[i, :n])
        naive.append(np.repeat(values[t - 1, j], n))
        if season and t >= season:
            seasonal.append(values[[t - season + k % season for k in range(n)], j])
        history = values[: int(train[1]), j]
        m = season if season and len(history) > season else 1
        mae = float(np.mean(np.abs(history[m:] - history[:-m]))) if len(history) > m else 0.0
        scales.append(np.full(n, mae if mae > 1e-12 else np.nan))
    y, scale = np.concatenate(truth), np.concatenate(scales)
    levels = np.asarray(_LEVELS)

    def scores(point: np.ndarray, quantiles: np.ndarray) -> dict[str, float]:
        error = y[:, None] - quantiles
        pinball = np.maximum(levels * error, (levels - 1) * error).sum()
        absolute = float(np.abs(y).sum())
        return {
            **regression_metrics(y, point),
            "mase": float(np.mean(np.abs(y - point) / scale)),
            "wql": float(2 * pinball / (len(levels) * absolute)) if absolute > 0 else float("nan"),
        }

    quantiles = np.concatenate(bands)
    model_scores = scores(np.concatenate(mean), quantiles)
    model_scores["coverage_80"] = float(np.mean((y >= quantiles[:, 0]) & (y <= quantiles[:, -1])))
    baselines = {"persistence": np.concatenate(naive)}
    if len(seasonal) == len(origins):
        baselines["seasonal_naive"] = np.concatenate(seasonal)
    return {
        "task": "forecast",
        "split": split,
        "dataset": data.name,
        "units": data.units,
        "samples": len(origins),
        "points": len(y),
        "horizon": horizon,
        "levels": list(_LEVELS),
        "model": model_scores,
        "baselines": {
            name: scores(point, np.repeat(point[:, None], len(levels), axis=1))
            for name, point in baselines.items()
        },
    }


@click.command()
@click.argument("target")
@click.option(
    "--steps", type=click.IntRange(min=1), default=10, show_default=True, help="Steps to forecast."
)
@click.option(
    "--input",
    "input_csv",
    type=click.Path(),
    help="Forecast past the end of each series in this CSV: the model's own columns (one "
    "series), long (--id-col, --time-col, --target-col) or wide (one column per series).",
)
@click.option(
    "--id-col", default="unique_id", show_default=True, help="Series id column (long --input)."
)
@click.option(
    "--time-col", default=None, help="Time column of --input (default ds, date, time, ...)."
)
@click.option("--target-col", default="y", show_default=True, help="Value column (long --input).")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Series forecast at once.",
)
@click.option("--output", type=click.Path(), help="CSV to write (default: print).")
@click.option(
    "--plot", type=click.Path(), help="Also draw history and forecast (first series) to this PNG."
)
@threads_option
def predict(
    target: str,
    steps: int,
    input_csv: str | None,
    id_col: str,
    time_col: str | None,
    target_col: str,
    batch_size: int,
    output: str | None,
    plot: str | None,
    threads: int | None,
) -> None:
    """Forecast STEPS values past the end of the data (or of each series in --input) with a
    run's or zoo model.

    Several series (a long or wide --input) give one forecast per series: columns
    ID, step and the targets. A quantile forecaster (a zero-shot model or one fine-tuned from
    it) writes, per target column, its median (the column named like the target) and its
    quantiles (NAME_LEVEL)."""
    from seqzoo.core.predict import forecast
    from seqzoo.zoo.predict import own_history

    from .predict_input import read_histories

    apply_threads(threads)
    model, preprocessing, data = _load_target(target)
    if _is_quantile_forecaster(model):
        _predict_quantiles(target, model, preprocessing, data, steps, input_csv, output, plot)
        return
    if preprocessing is None or preprocessing.window is None:
        raise ConfigError(
            f"{target!r} was not trained on windows of a series, so it cannot forecast; "
            "`seqzoo predict` takes a forecasting run or zoo model (see `seqzoo zoo list`)"
        )
    ids: list[str] | None = None
    if input_csv:
        ids, histories = read_histories(
            input_csv, preprocessing, id_col, time_col, target_col, where=repr(target)
        )
    else:
        histories = [own_history(model, data, repr(target), "pass --input CSV")]
    if ids is None:
        values = forecast(model, preprocessing, histories[0], steps)
        forecasts = [values]
    else:
        labels = [f"series {i!r}" for i in ids]
        forecasts = list(
            forecast(model, preprocessing, histories, steps, batch_size=batch_size, names=labels)
        )
    names = preprocessing.target_names or ["value"]
    header = ["step", *names] if ids is None else [id_col, "step", *names]
    lines = [",".join(header)]
    for n, values in enumerate(forecasts):
        first = [] if ids is None else [_csv_field(ids[n])]
        lines += [
            ",".join([*first, str(i + 1), *(f"{v:.6g}" for v in row)])
            for i, row in enumerate(values)
        ]
    text = "\n".join(lines) + "\n"
    if output:
        _write_text_atomic(Path(output), text)
        what = f" for each of {len(forecasts)} series" if ids is not None else ""
        click.echo(f"wrote {steps} forecast steps{what} to {output}")
    else:
        click.echo(text, nl=False)
    if plot:
        _plot_forecast(histories[0], forecasts[0], names, Path(plot))
        click.echo(f"wrote {plot}")


def _csv_field(value: str) -> str:
    """A CSV field, quoted when it holds a comma, a quote or a line break."""
    if any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _predict_quantiles(
    target: str,
    model: Any,
    preprocessing: Any,
    data: Any,
    steps: int,
    input_csv: str | None,
    output: str | None,
    plot: str | None,
) -> None:
    """``seqzoo predict`` of a quantile forecaster, through :func:`seqzoo.zoo.forecast.forecast`:
    each target column of the run's series (or of ``--input``) is one series."""
    import numpy as np

    from seqzoo.zoo.forecast import forecast as front_door

    recorded = (getattr(model, "pretrained_config", None) or {}).get("dataset") or {}
    if input_csv:
        names = list(getattr(preprocessing, "target_names", None) or [])
        if not names and isinstance(recorded, dict):
            wanted = recorded.get("target")
            names = [wanted] if isinstance(wanted, str) else list(wanted or [])
        history, names = _read_series(input_csv, names)
        season = recorded.get("season") if isinstance(recorded, dict) else None
    else:
        rebuilt = data() if data is not None else None
        if rebuilt is None or getattr(rebuilt, "series", None) is None:
            raise ConfigError(f"{target!r} has no series of its own to continue; pass --input CSV")
        names = list(rebuilt.preprocessing.target_names) or ["value"]
        history = np.asarray(rebuilt.series, dtype=np.float64)[:, -len(names) :]
        season = rebuilt.season
    levels = sorted({*(float(q) for q in model.quantiles), 0.5})
    result = front_door(
        [history[:, j] for j in range(history.shape[1])],
        steps,
        model=model,
        quantiles=levels,
        season=season if isinstance(season, int) and not isinstance(season, bool) else None,
    )
    quantiles = np.moveaxis(result.quantiles, 0, 1)  # (steps, series, levels)
    median = quantiles[:, :, levels.index(0.5)]
    header = ["step"]
    for name in names:
        header += [name, *(f"{name}_{q:g}" for q in levels)]
    lines = [",".join(header)]
    for i in range(steps):
        row = [str(i + 1)]
        for j in range(len(names)):
            row += [f"{median[i, j]:.6g}", *(f"{v:.6g}" for v in quantiles[i, j])]
        lines.append(",".join(row))
    text = "\n".join(lines) + "\n"
    if output:
        _write_text_atomic(Path(output), text)
        click.echo(f"wrote {steps} forecast steps to {output}")
    else:
        click.echo(text, nl=False)
    if plot:
        band = (quantiles[:, :, 0], quantiles[:, :, -1])
        _plot_forecast(history, median, names, Path(plot), band=band)
        click.echo(f"wrote {plot}")


def _read_series(path: str, names: list[str]) -> tuple[Any, list[str]]:
    """``(values (rows, columns), names)`` of a CSV for a quantile forecaster: the ``names``
    columns, else ``y``, else every numeric column but a time column; empty cells and NA are
    missing values (NaN), which the forecaster takes as they are."""
    import numpy as np

    from seqzoo.plugins.datasets.files import read_table

    from .forecast_command import _TIME_NAMES

    table = read_table(path)

    def floats(name: str) -> np.ndarray | str:
        out = np.empty(len(table))
        for row, value in enumerate(table.column(name, "--input")):
            if value.lower() in ("", "na", "nan", "n/a", "null", "none", "-"):
                out[row] = np.nan
                continue
            try:
                out[row] = float(value)
            except ValueError:
                return f"the non-numeric value {value!r} in {table.where(row)}"
            if np.isinf(out[row]):
                return f"the infinite value {value!r} in {table.where(row)}"
        return out

    if names:
        chosen = names
    elif "y" in table.columns:
        chosen = ["y"]
    else:
        chosen = [
            c
            for c in table.columns
            if c.lower() not in _TIME_NAMES and not isinstance(floats(c), str)
        ]
        if not chosen:
            raise ConfigError(
                f"{table.path}: no numeric column to forecast; give a column of numbers (named y, "
                "or any name beside a time column)",
                field="--input",
            )
    columns = []
    for name in chosen:
        values = floats(name)
        if isinstance(values, str):
            raise ConfigError(
                f"{table.path}: column {name!r} has {values}; make every value a number (leave "
                "a missing one empty)",
                field="--input",
            )
        if not np.isfinite(values).any():
            raise ConfigError(f"{table.path}: column {name!r} has no value", field="--input")
        columns.append(values)
    return np.stack(columns, axis=1), list(chosen)


@click.command()
@click.argument("target")
@click.option("--prompt", required=True, help="Text to continue.")
@click.option(
    "--length",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Tokens to generate.",
)
@click.option("--temperature", type=float, default=0.8, show_default=True)
@click.option("--seed", type=int, help="Seed for repeatable sampling.")
@threads_option
def generate(
    target: str,
    prompt: str,
    length: int,
    temperature: float,
    seed: int | None,
    threads: int | None,
) -> None:
    """Continue PROMPT with a language model."""
    from seqzoo.core.validate import finite_number

    finite_number(temperature, "--temperature", minimum=0)  # before torch or a model loads
    apply_threads(threads)
    from seqzoo.core.predict import generate_text

    model, preprocessing, _ = _load_target(target)
    task = (getattr(model, "pretrained_config", None) or {}).get("task")
    if preprocessing is None or preprocessing.tokenizer is None or task != "language-model":
        raise ConfigError(f"{target!r} is not a language model (its task is {task!r})")
    text = generate_text(
        model, preprocessing.tokenizer, prompt, length, temperature=temperature, seed=seed
    )
    click.echo(text)


def _load_target(target: str) -> tuple[Any, Any, Any]:
    """A run directory, a saved model directory, a zoo name or a Hub repo id ->
    ``(model, preprocessing, data)`` where ``data()`` rebuilds its dataset (or is None). The
    model's ``last_window`` holds the raw rows its folder stores (None when it has none)."""
    from seqzoo.core.predict import load_run_model
    from seqzoo.core.workflow import RUN_FILE, load_run

    path = Path(target)
    if (path / RUN_FILE).is_file():
        stored = load_run_model(path)  # builds no dataset
        if stored is not None:
            return stored, stored.preprocessing, lambda: None
        run = load_run(path)
        return run.model, run.data.preprocessing, lambda: run.data
    if path.exists() and not (path / "config.json").is_file():
        raise ConfigError(
            f"{target!r} is not a run directory (no {RUN_FILE}) nor a saved model (no config.json)"
        )
    if not path.exists() and (target.startswith((".", "/", "~")) or target.count("/") > 1):
        raise ConfigError(f"{target!r} does not exist: give a run directory or a zoo name")
    from seqzoo.zoo.predict import load_predictor

    model, rebuild = load_predictor(target)
    return model, getattr(model, "preprocessing", None), rebuild


def _read_history(path: str, columns: list[str]) -> Any:
    """The ``columns`` a model was trained on, read from a CSV as ``(rows, columns)`` floats;
    the CSV dataset's own reader names a missing file, column or bad value."""
    import numpy as np

    from seqzoo.plugins.datasets.files import numeric_column, read_table

    table = read_table(path)
    return np.stack([numeric_column(table, name, "--input") for name in columns], axis=1)


def _write_text_atomic(path: Path, text: str) -> None:
    from seqzoo.core.training import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text)


def _plot_forecast(
    history: Any, values: Any, names: list[str], path: Path, band: tuple[Any, Any] | None = None
) -> None:
    """History and forecast of each target; ``band`` ``(low, high)`` (each ``(steps, targets)``)
    shades a forecast interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    history = np.asarray(history)
    tail = history[-min(len(history), 200) :, -len(names) :]
    start = len(history) - len(tail)
    figure, axes = plt.subplots(figsize=(8, 3.5))
    for i, name in enumerate(names):
        axes.plot(range(start, len(history)), tail[:, i], label=f"{name} (history)")
        future = range(len(history) - 1, len(history) + len(values))
        axes.plot(future, np.r_[tail[-1, i], values[:, i]], "--", label=f"{name} (forecast)")
        if band is not None:
            ahead = range(len(history), len(history) + len(values))
            axes.fill_between(
                ahead, band[0][:, i], band[1][:, i], alpha=0.25, label=f"{name} (80%)"
            )
    axes.set_xlabel("time step")
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


@hookimpl
def register_commands(cli: Any) -> None:
    """Add ``train``, ``evaluate``, ``predict``, ``generate``, ``forecast`` and ``new-plugin``
    to ``seqzoo``."""
    from .forecast_command import forecast
    from .new_plugin import new_plugin

    for command in (train, evaluate, predict, generate, forecast, new_plugin):
        cli.add_command(command)
