"""User files: reading CSV tables and text files with errors that say what to fix, and the
``csv`` forecasting dataset.

Every problem with a file is a :class:`ConfigError` naming the file, the column and the row
(``row 3`` is the third data row; ``line`` counts the header too), never a traceback from
inside a parser.
"""

from __future__ import annotations

import csv as csvlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqzoo.core.data import SequenceData, forecast_data
from seqzoo.core.errors import ConfigError

__all__ = ["Table", "csv_series", "numeric_column", "read_table", "read_text"]

# spellings of a missing value in CSV exports (pandas, R, spreadsheets)
_MISSING = {"", "na", "nan", "n/a", "null", "none", "-"}


@dataclass
class Table:
    """A CSV file as columns of strings: ``columns[name][i]`` is data row ``i`` (0-based),
    found on file line ``lines[i]`` (quoted fields may span lines)."""

    path: Path
    columns: dict[str, list[str]]
    lines: list[int]

    def __len__(self) -> int:
        return len(self.lines)

    def where(self, row: int) -> str:
        return f"row {row + 1} (line {self.lines[row]})"

    def column(self, name: str, argument: str = "column") -> list[str]:
        """The values of ``name``; a missing column lists the ones the file has."""
        if name not in self.columns:
            available = ", ".join(repr(c) for c in self.columns)
            raise ConfigError(
                f"{self.path}: no column {name!r}; the file has {available}; set `{argument}` "
                "to one of them",
                field=argument,
            )
        return self.columns[name]


def _existing(path: str | Path, what: str) -> Path:
    if path is None or (isinstance(path, str) and not path.strip()):
        raise ConfigError(f"needs the path of a {what}", field="path")
    file = Path(path).expanduser()
    if not file.exists():
        raise ConfigError(f"{file}: no such file; check the path", field="path")
    if not file.is_file():
        raise ConfigError(f"{file}: not a file (a directory?); give the {what} itself")
    return file


def read_text(path: str | Path) -> str:
    """The UTF-8 text of ``path``; a missing, undecodable or blank file is a ConfigError."""
    file = _existing(path, "text file")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{file}: not UTF-8 text (byte {exc.start}); convert it to UTF-8", field="path"
        ) from None
    if not text.strip():
        raise ConfigError(f"{file}: the file is empty; give a file with text in it", field="path")
    return text


def read_table(path: str | Path) -> Table:
    """A CSV (or ``.tsv``) file with a header row, as columns of strings.

    A missing, empty or header-only file, a repeated column name, or a row with more or fewer
    fields than the header is a ConfigError naming the file and line.
    """
    file = _existing(path, "CSV file")
    delimiter = "\t" if file.suffix.lower() in (".tsv", ".tab") else ","
    try:
        # utf-8-sig: spreadsheet exports start with a BOM that would glue onto the first name
        with file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csvlib.reader(handle, delimiter=delimiter)
            header = next(reader, None)
            if header is None or not any(name.strip() for name in header):
                raise ConfigError(f"{file}: the file is empty; it needs a header row", field="path")
            header = [name.strip() for name in header]
            repeated = sorted({n for n in header if header.count(n) > 1})
            if repeated:
                raise ConfigError(f"{file}: column name(s) {repeated} appear more than once")
            rows: list[list[str]] = []
            lines: list[int] = []
            for row in reader:
                if not row or not any(field.strip() for field in row):
                    continue  # blank lines, a trailing newline
                if len(row) != len(header):
                    raise ConfigError(
                        f"{file}: line {reader.line_num} has {len(row)} fields but the header "
                        f"has {len(header)}; quote fields that contain {delimiter!r}"
                    )
                rows.append(row)
                lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except csvlib.Error as exc:
        raise ConfigError(f"{file}: not a readable CSV file ({exc})") from None
    if not rows:
        raise ConfigError(f"{file}: the file has a header but no data rows; add rows")
    columns = {name: [row[i].strip() for row in rows] for i, name in enumerate(header)}
    return Table(file, columns, lines)


def numeric_column(table: Table, name: str, argument: str = "column") -> np.ndarray:
    """Column ``name`` as float64 ``(rows,)``; a non-numeric or missing value is a ConfigError
    naming the column and its first bad row."""
    values = table.column(name, argument)
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except ValueError:
        numbers = None
    if numbers is not None:
        bad = np.flatnonzero(~np.isfinite(numbers))
        if len(bad) == 0:
            return numbers
    # the slow path runs only to find and name the first bad value
    for row, value in enumerate(values):
        if value.lower() in _MISSING:
            problem = "a missing value" if not value else f"a missing value ({value!r})"
            fix = "fill or interpolate missing values, or drop those rows"
        else:
            try:
                number = float(value)
            except ValueError:
                problem, fix = f"the non-numeric value {value!r}", "make every value a number"
            else:
                if np.isfinite(number):
                    continue
                problem = f"the non-finite value {value!r}"
                fix = "fill or interpolate missing values, or drop those rows"
        raise ConfigError(
            f"{table.path}: column {name!r} has {problem} in {table.where(row)}; {fix}",
            field=argument,
        )
    raise AssertionError("unreachable: a bad value was detected above")  # pragma: no cover


def _time_order(table: Table, name: str) -> tuple[np.ndarray, list[str]]:
    """A stable order of the rows by the time column, and the sorted times as strings."""
    values = table.column(name, "time_column")
    try:
        keys: np.ndarray = np.asarray(values, dtype=np.float64)  # years, epochs, step numbers
        numeric = bool(np.isfinite(keys).all())
    except ValueError:
        numeric = False
    if numeric:
        labels = list(values)
    else:
        import pandas as pd

        parsed = pd.to_datetime(pd.Series(values), errors="coerce")
        bad = np.flatnonzero(parsed.isna().to_numpy())
        if len(bad):
            row = int(bad[0])
            raise ConfigError(
                f"{table.path}: column {name!r} has {values[row]!r} in {table.where(row)}, "
                "which is not a time; use ISO dates (2024-01-31) or numbers throughout",
                field="time_column",
            )
        keys = parsed.to_numpy().astype("datetime64[ns]").astype(np.int64)
        labels = [t.isoformat() for t in parsed]
    order = np.argsort(keys, kind="stable")
    repeated = np.flatnonzero(np.diff(keys[order]) == 0)
    if len(repeated):
        first, second = sorted((int(order[repeated[0]]), int(order[repeated[0] + 1])))
        raise ConfigError(
            f"{table.path}: column {name!r} has the time {values[first]!r} twice, in "
            f"{table.where(first)} and {table.where(second)}; keep one row per time",
            field="time_column",
        )
    return order, [labels[i] for i in order]


def _names(value: str | Sequence[str] | None, argument: str) -> list[str]:
    if value is None:
        return []
    names = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(n, str) and n for n in names):
        raise ConfigError(
            f"must be a column name or a list of names, got {value!r}", field=argument
        )
    return names


def csv_series(
    path: str,
    target: str | list[str],
    time_column: str | None = None,
    features: list[str] | None = None,
    window: int = 24,
    horizon: int = 1,
    season: int | None = None,
    units: str | None = None,
    validation: float = 0.15,
    test: float = 0.15,
) -> SequenceData:
    """Forecast the ``target`` column(s) of a CSV time series from the last ``window`` rows.

    Rows are in file order, or sorted by ``time_column`` when given (numbers or dates; each
    time once). Inputs ``(N, window, len(features) + len(targets))`` are the ``features``
    columns then the targets; targets ``(N, horizon * len(targets))`` the next ``horizon`` rows
    of the targets. Split chronologically, scaled on the training range (see
    :func:`seqzoo.core.data.forecast_data`). ``season`` sets the seasonal-naive period.
    """
    table = read_table(path)
    targets = _names(target, "target")
    extra = _names(features, "features")
    if not targets:
        raise ConfigError("name at least one target column", field="target")
    both = sorted(set(targets) & set(extra))
    if both:
        raise ConfigError(
            f"{table.path}: {both} are both features and targets; targets are "
            "inputs already, so list them once",
            field="features",
        )
    if time_column is not None and time_column in targets + extra:
        raise ConfigError(
            f"{table.path}: the time column {time_column!r} cannot also be a target or feature",
            field="time_column",
        )
    columns = extra + targets
    series = np.column_stack(
        [numeric_column(table, c, "target" if c in targets else "features") for c in columns]
    )
    metadata: dict[str, object] = {"path": str(table.path)}
    if time_column is not None:
        order, times = _time_order(table, time_column)
        series = series[order]
        metadata["time"] = times
    return forecast_data(
        "csv",
        series,
        window=window,
        horizon=horizon,
        targets=len(targets),
        columns=columns,
        validation=validation,
        test=test,
        season=season,
        units=units,
        description=f"{table.path.name}: forecast {', '.join(targets)}",
        metadata=metadata,
        source=str(table.path),
    )
