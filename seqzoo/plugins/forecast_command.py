"""``seqzoo forecast FILE.csv --horizon H``: forecast every series of a long or a wide CSV.

- long: one row per (series, time): ``--id-col`` (``unique_id``), ``--time-col`` (``ds``),
  ``--target-col`` (``y``);
- wide: a time column (``--time-col``, else ``ds``/``date``/``time``/``timestamp`` if present,
  else none: the rows are equally spaced steps) and one numeric column per series.

Writes a long CSV (``unique_id, ds, mean, 0.1 .. 0.9``) to ``--output`` (atomically) or prints
it, and with ``--plot`` draws the history, the median and the 80% band of the first series.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from seqzoo.core.errors import ConfigError

_TIME_NAMES = ("ds", "date", "time", "timestamp", "datetime", "period")


def read_series_csv(
    path: str, id_col: str, time_col: str | None, target_col: str
) -> tuple[Any, str, str, str]:
    """A long DataFrame and its ``(id, time, target)`` column names, from a long or wide CSV."""
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"no such file: {path!r}")
    try:
        frame = pd.read_csv(file)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ConfigError(f"{path!r} cannot be read as CSV ({str(exc).splitlines()[0]})") from None
    if id_col in frame.columns:  # long
        return frame, id_col, time_col or "ds", target_col
    if time_col is not None and time_col not in frame.columns:
        raise ConfigError(
            f"{path!r} has no column {time_col!r}; its columns are {', '.join(map(str, frame.columns))}"
        )
    time_col = time_col or next((c for c in frame.columns if str(c).lower() in _TIME_NAMES), None)
    series = [c for c in frame.columns if c != time_col]
    if not series:
        raise ConfigError(
            f"{path!r} has no series column: a wide CSV has one column per series, a long one "
            f"the columns {id_col!r}, 'ds' and {target_col!r} (see --id-col/--target-col)"
        )
    if time_col is None:
        frame = frame.assign(ds=range(len(frame)))
        time_col = "ds"
    # private names: a series column may itself be called "y" or "unique_id"
    long = frame.melt(
        id_vars=[time_col], value_vars=series, var_name="_series", value_name="_value"
    ).rename(columns={"_series": "unique_id"})
    return long, "unique_id", time_col, "_value"


def _plot(history: Any, result: Any, columns: tuple[str, str, str], path: Path, count: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    id_col, time_col, target_col = columns
    ids = list(dict.fromkeys(result[id_col]))[:count]
    figure, axes = plt.subplots(len(ids), 1, figsize=(8, 2.6 * len(ids)), squeeze=False)
    for ax, uid in zip(axes[:, 0], ids, strict=True):
        past = history[history[id_col] == uid].tail(300)
        future = result[result[id_col] == uid]
        ax.plot(past[time_col], past[target_col], color="black", linewidth=1, label="history")
        ax.plot(future[time_col], future["0.5"], color="C0", label="median")
        ax.fill_between(
            future[time_col],
            future["0.1"],
            future["0.9"],
            color="C0",
            alpha=0.25,
            label="80% interval",
        )
        ax.set_title(str(uid), fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    from seqzoo.core.training import atomic_write

    atomic_write(path, lambda tmp: figure.savefig(tmp, dpi=100, format="png"))
    plt.close(figure)


@click.command()
@click.argument("csv_file", type=click.Path(dir_okay=False))
@click.option("--horizon", type=int, required=True, help="Steps to forecast past each series' end.")
@click.option(
    "--model",
    default=None,
    help="A zoo name, Hub repo id or model folder (default: the small zero-shot forecaster).",
)
@click.option(
    "--id-col", default="unique_id", show_default=True, help="Series id column (long CSV)."
)
@click.option(
    "--time-col", default=None, help="Time column (default ds, or date/time/... in a wide CSV)."
)
@click.option("--target-col", default="y", show_default=True, help="Value column (long CSV).")
@click.option("--quantiles", default=None, help="Comma-separated levels (default 0.1,...,0.9).")
@click.option("--season", type=int, help="A season-length hint (default: from the frequency).")
@click.option("--context-length", type=int, help="Use at most this many of the latest points.")
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--output", type=click.Path(dir_okay=False), help="CSV to write (default: print).")
@click.option("--plot", type=click.Path(dir_okay=False), help="PNG of the first series' forecasts.")
@click.option("--plot-series", type=int, default=3, show_default=True, help="Series in the plot.")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Torch intra-op CPU threads (1: fastest for these small models on a shared CPU; "
    "raise it on a free many-core machine).",
)
def forecast(
    csv_file: str,
    horizon: int,
    model: str | None,
    id_col: str,
    time_col: str | None,
    target_col: str,
    quantiles: str | None,
    season: int | None,
    context_length: int | None,
    batch_size: int,
    device: str,
    output: str | None,
    plot: str | None,
    plot_series: int,
    threads: int | None,
) -> None:
    """Forecast every series in CSV_FILE (long: unique_id, ds, y; or wide: one column per
    series) HORIZON steps ahead, with quantiles, with no training."""
    import warnings

    from seqzoo.core.training import atomic_write
    from seqzoo.zoo.forecast import DEFAULT_MODEL
    from seqzoo.zoo.forecast import forecast as run_forecast

    levels = None
    if quantiles:
        try:
            levels = [float(q) for q in quantiles.split(",")]
        except ValueError:
            raise ConfigError(
                f"--quantiles takes numbers like 0.1,0.5,0.9; got {quantiles!r}"
            ) from None
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}", field="batch_size")
    frame, id_col, time_col, target_col = read_series_csv(csv_file, id_col, time_col, target_col)
    if threads is not None:
        from seqzoo.core.device import set_threads

        set_threads(threads)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_forecast(
            frame,
            horizon,
            model=model or DEFAULT_MODEL,
            quantiles=levels,
            context_length=context_length,
            device=device,
            batch_size=batch_size,
            season=season,
            id_col=id_col,
            time_col=time_col,
            target_col=target_col,
            progress=sys.stderr.isatty(),
        )
    for warning in caught:
        if "forecast" in type(warning.message).__name__.lower():
            click.echo(f"warning: {warning.message}", err=True)
    text = result.to_csv(index=False)
    if output:
        atomic_write(Path(output), text)
        click.echo(
            f"wrote {len(result)} rows ({result[id_col].nunique()} series) to {output}", err=True
        )
    else:
        click.echo(text, nl=False)
    if plot:
        if "0.5" not in result.columns:
            raise ConfigError("--plot draws the median and 80% band: the model must give quantiles")
        import pandas as pd

        from seqzoo.core.forecasting import timestamps

        stamps = frame[time_col]
        if not pd.api.types.is_numeric_dtype(stamps):
            stamps = timestamps(stamps, time_col)
        history = frame.assign(**{time_col: stamps})
        _plot(history, result, (id_col, time_col, target_col), Path(plot), max(1, plot_series))
        click.echo(f"plotted {plot}", err=True)
