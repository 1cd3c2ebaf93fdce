"""Reading the ``--input`` CSV of ``seqzoo predict`` for a point forecaster: one series in
the model's own columns, or many, long (one row per series and time) or wide (one column per
series). Bad input is a :class:`ConfigError` naming the file, column, series or row.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqzoo.core.errors import ConfigError
from seqzoo.plugins.datasets.files import read_table

from .forecast_command import _TIME_NAMES

__all__ = ["read_histories"]


def read_histories(
    path: str,
    preprocessing: Any,
    id_col: str,
    time_col: str | None,
    target_col: str,
    where: str,
) -> tuple[list[str] | None, list[Any]]:
    """``(ids, histories)`` of an ``--input`` CSV for a point forecaster, each history raw
    ``(time, columns)`` in time order; ``ids`` None for one series in the model's own columns.

    Long (an ``id_col`` column): the model's columns, else ``target_col`` for a one-column
    model, rows grouped by id. Wide (a one-column model): every column but the time column is
    a series. Empty cells are missing values, dropped as :func:`seqzoo.forecast` drops them."""

    table = read_table(path)
    columns = list(preprocessing.feature_names)
    present = list(table.columns)
    layouts = (
        f"a CSV for {where} holds its column(s) {columns} (one series), or is long "
        f"({id_col!r}, a time column, {target_col!r}) or wide (a time column and one column "
        "per series)"
    )
    if time_col is not None and time_col not in present:
        raise ConfigError(
            f"{table.path}: no column {time_col!r} (--time-col); its columns are {present}",
            field="--input",
        )
    if id_col not in present and columns and all(c in present for c in columns):
        return None, [np.stack([_floats(table, c) for c in columns], axis=1)]
    if id_col in present:
        stamp = time_col or ("ds" if "ds" in present else None)
        if columns and all(c in present for c in columns):
            chosen = columns
        elif len(columns) <= 1 and target_col in present:
            chosen = [target_col]
        else:
            raise ConfigError(
                f"{table.path}: a long CSV (with {id_col!r}) needs the value column "
                f"{target_col!r} (--target-col) or the model's column(s) {columns}; its columns "
                f"are {present}",
                field="--input",
            )
        values = np.stack([_floats(table, c) for c in chosen], axis=1)
        groups: dict[str, list[int]] = {}
        for row, key in enumerate(table.column(id_col, "--input")):
            groups.setdefault(key, []).append(row)
        order = _time_order(table, stamp, list(range(len(table))))
        ids = list(groups)
        histories = [values[order(rows, key)] for key, rows in groups.items()]
    elif len(columns) <= 1:
        stamp = time_col or next((c for c in present if c.lower() in _TIME_NAMES), None)
        ids = [c for c in present if c != stamp]
        if not ids:
            raise ConfigError(f"{table.path}: no series column; {layouts}", field="--input")
        order = _time_order(table, stamp, list(range(len(table))))
        rows = order(list(range(len(table))), "the file")
        histories = [_floats(table, c)[rows][:, None] for c in ids]
    else:
        missing = [c for c in columns if c not in present]
        raise ConfigError(
            f"{table.path}: no column(s) {missing}; {layouts}; its columns are {present}",
            field="--input",
        )
    window = int(preprocessing.window)
    kept = []
    for key, history in zip(ids, histories, strict=True):
        history = history[np.isfinite(history).all(axis=1)]  # point models take observed rows
        if len(history) < window:
            raise ConfigError(
                f"{table.path}: series {key!r} has {len(history)} observed row(s); {where} needs "
                f"at least its window of {window} per series ({layouts})",
                field="--input",
            )
        kept.append(history)
    return ids, kept


def _floats(table: Any, name: str) -> Any:
    """Column ``name`` as float64 ``(rows,)``: empty cells and NA are NaN; text is an error
    naming the cell."""
    out = np.empty(len(table))
    for row, value in enumerate(table.column(name, "--input")):
        if value.strip().lower() in ("", "na", "nan", "n/a", "null", "none", "-"):
            out[row] = np.nan
            continue
        try:
            out[row] = float(value)
        except ValueError:
            out[row] = np.inf
        if np.isinf(out[row]):
            raise ConfigError(
                f"{table.path}: column {name!r} has {value!r} in {table.where(row)}; make every "
                "value a number (leave a missing one empty)",
                field="--input",
            )
    return out


def _time_order(table: Any, stamp: str | None, rows: list[int]) -> Any:
    """``order(rows, key) -> rows`` in time order by column ``stamp`` (numbers, or ISO dates;
    other text keeps the file's order); a repeated time in one series is an error."""
    if stamp is None:
        return lambda chosen, key: np.asarray(chosen)
    raw = table.column(stamp, "--input")
    try:
        times: Any = np.asarray(raw, dtype=np.float64)
    except ValueError:
        try:
            times = np.asarray(raw, dtype="datetime64[ns]")
        except ValueError:
            times = None

    def order(chosen: list[int], key: str) -> Any:
        picked = np.asarray(chosen)
        if times is None:
            return picked
        ranked = picked[np.argsort(times[picked], kind="stable")]
        repeated = np.flatnonzero(times[ranked][1:] == times[ranked][:-1])
        if len(repeated):
            at = int(ranked[repeated[0] + 1])
            raise ConfigError(
                f"{table.path}: {key if key == 'the file' else f'series {key!r}'} repeats the "
                f"time {raw[at]!r} ({table.where(at)}); give one row per time",
                field="--input",
            )
        return ranked

    return order
