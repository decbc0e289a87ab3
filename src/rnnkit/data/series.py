"""Time series: reading a CSV into a :class:`Series`, its timestamps and their frequency.

:func:`read_csv` (or :func:`load_series` for registry names and ``synthetic:sine``) reads the
numeric columns of a CSV file into a :class:`Series`: values (N, C), the timestamps and their
:class:`Frequency`. Every problem (missing value, text in a number column, unknown column,
unparseable or irregular timestamp) raises :class:`~rnnkit.errors.InputError` naming the line and
column; a missing value or a gap in the timestamps is filled only when a fill policy is given.

What a forecasting run does with the series next lives beside this module:
:mod:`rnnkit.data.windows` cuts its rows into chronological parts and (input, target) windows,
:mod:`rnnkit.data.scalers` maps its values to the model's scale and back.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from rnnkit.errors import InputError

MISSING = {"", "na", "n/a", "nan", "null", "none", "?", "-"}
FILLS = ("none", "interpolate", "ffill")
TIME_COLUMN_NAMES = {"date", "time", "datetime", "timestamp", "month", "ds", "day", "period"}
# strptime formats tried in order on the first timestamp; every later one must match the same.
DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
)
# "YYYY-MM" months, and "Y-MM" with a short year (the shampoo series counts years 1..3)
MONTH_PATTERN = re.compile(r"(\d{1,4})-(\d{1,2})")
SINE_POINTS = 200


# --- timestamps -----------------------------------------------------------------------------------
def detect_time_format(text: str) -> str | None:
    """The format of one timestamp: a strptime format, ``month:W`` (W-digit years), or None."""
    text = text.strip()
    match = MONTH_PATTERN.fullmatch(text)
    if match and 1 <= int(match.group(2)) <= 12:
        return f"month:{len(match.group(1))}"
    for fmt in DATETIME_FORMATS:
        try:
            datetime.strptime(text, fmt)
        except ValueError:
            continue
        return fmt
    return None


def parse_time(text: str, fmt: str) -> datetime:
    """Parse ``text`` in ``fmt`` (from :func:`detect_time_format`); ValueError if it fails."""
    text = text.strip()
    if fmt.startswith("month:"):
        match = MONTH_PATTERN.fullmatch(text)
        if not match:
            raise ValueError(text)
        return datetime(max(int(match.group(1)), 1), int(match.group(2)), 1)
    return datetime.strptime(text, fmt)


def format_time(moment: datetime, fmt: str) -> str:
    """Inverse of :func:`parse_time`, so forecasts print timestamps like the input's."""
    if fmt.startswith("month:"):
        width = int(fmt.split(":")[1])
        return f"{moment.year:0{width}d}-{moment.month:02d}"
    return moment.strftime(fmt)


@dataclass(frozen=True)
class Frequency:
    """A series' step: a whole number of calendar months, or a fixed number of seconds."""

    months: int = 0
    seconds: float = 0.0

    def advance(self, moment: datetime, steps: int) -> datetime:
        """The timestamp ``steps`` steps after ``moment``."""
        if self.months:
            index = moment.year * 12 + moment.month - 1 + steps * self.months
            return moment.replace(year=index // 12, month=index % 12 + 1)
        return moment + timedelta(seconds=self.seconds * steps)

    def steps_between(self, earlier: datetime, later: datetime) -> float:
        """How many steps separate two timestamps (not a whole number when they are irregular)."""
        if self.months:
            if (later.day, later.time()) != (earlier.day, earlier.time()):
                return math.nan
            months = (later.year - earlier.year) * 12 + later.month - earlier.month
            return months / self.months
        return (later - earlier).total_seconds() / self.seconds

    def season(self) -> int | None:
        """The natural seasonal period in steps: a day for sub-daily data (24 for hourly, 96 for
        15-minute), a week for daily, a year for weekly, monthly and quarterly data."""
        if self.months:
            return 12 // self.months if 12 % self.months == 0 and self.months < 12 else None
        day = 86400.0
        if self.seconds < day and (day / self.seconds).is_integer():
            return int(day / self.seconds)
        if self.seconds == day:
            return 7
        if self.seconds == 7 * day:
            return 52
        return None

    def describe(self) -> str:
        if self.months:
            return f"{self.months} month" + ("s" if self.months > 1 else "")
        value = timedelta(seconds=self.seconds)
        return str(value) if self.seconds < 86400 else f"{self.seconds / 86400:g} day(s)"

    def to_dict(self) -> dict:
        return {"months": self.months, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: dict | None) -> Frequency | None:
        return None if data is None else cls(int(data["months"]), float(data["seconds"]))


def infer_frequency(times: list[datetime], fmt: str) -> Frequency:
    """The most common step between consecutive timestamps (the shortest among equally common
    ones), so that a gap or a swapped pair is reported where it is rather than at row 2. The step
    is in months when the format or the dates are whole months (YYYY-MM, or every date on the 1st
    at midnight)."""
    from collections import Counter

    monthly = fmt.startswith("month:") or all(
        t.day == 1 and t.time() == datetime.min.time() for t in times
    )
    if monthly:
        months = Counter(
            (b.year - a.year) * 12 + b.month - a.month for a, b in zip(times, times[1:])
        )
        positive = [(-count, m) for m, count in months.items() if m > 0]
        if positive:
            return Frequency(months=min(positive)[1])
    seconds = Counter((b - a).total_seconds() for a, b in zip(times, times[1:]))
    positive = [(-count, s) for s, count in seconds.items() if s > 0]
    return Frequency(seconds=min(positive)[1] if positive else 0.0)


# --- the series -----------------------------------------------------------------------------------
@dataclass
class Series:
    """Numeric columns of a time series. ``values`` is (N, C) float64, rows in time order."""

    values: np.ndarray
    columns: list[str]
    source: str
    time_column: str | None = None
    timestamps: list[datetime] | None = None
    time_format: str | None = None
    frequency: Frequency | None = None

    def __len__(self) -> int:
        return len(self.values)

    def column(self, name: str) -> int:
        """The index of column ``name``, or InputError listing the columns there are."""
        if name not in self.columns:
            raise InputError(
                f"{self.source}: no column {name!r}; the numeric columns are "
                f"{', '.join(self.columns)}"
            )
        return self.columns.index(name)

    def future_timestamps(self, steps: int) -> list[str]:
        """The next ``steps`` timestamps after the last row, in the input's format; without
        timestamps, the row numbers that would follow (0-based)."""
        if self.timestamps is None or self.frequency is None:
            return [str(len(self) + k) for k in range(steps)]
        last = self.timestamps[-1]
        return [
            format_time(self.frequency.advance(last, k), self.time_format)
            for k in range(1, steps + 1)
        ]


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line number, cells)]) of a CSV file; blank lines are skipped."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a CSV file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            rows = []
            for cells in reader:
                if cells and any(cell.strip() for cell in cells):
                    rows.append((reader.line_num, cells))
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except csv.Error as error:
        raise InputError(f"{path}: not a readable CSV file ({error})") from None
    if not header or not any(name.strip() for name in header):
        raise InputError(f"{path}: file is empty, expected a header line with column names")
    header = [name.strip() for name in header]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise InputError(f"{path}: line 1: column {duplicates[0]!r} appears more than once")
    for line, cells in rows:
        if len(cells) != len(header):
            raise InputError(
                f"{path}: line {line}: expected {len(header)} cells (one per column of the "
                f"header), found {len(cells)}"
            )
    return header, rows


def _parse_number(text: str) -> float | None:
    """A finite float, NaN for a missing cell, or None when the cell is not a number."""
    text = text.strip()
    if text.lower() in MISSING:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _resolve_time_column(path: Path, header: list[str], time_column: str) -> str | None:
    if time_column == "none":
        return None
    if time_column == "auto":
        return header[0] if header[0].lower() in TIME_COLUMN_NAMES else None
    if time_column not in header:
        raise InputError(
            f"{path}: no column {time_column!r} for --time-column; the columns are "
            f"{', '.join(header)}"
        )
    return time_column


def read_csv(
    path: str | Path,
    time_column: str = "auto",
    columns: list[str] | None = None,
    fill: str = "none",
) -> Series:
    """Read a CSV time series.

    Args:
        path: a CSV file with one header line.
        time_column: the timestamp column's name; ``auto`` takes the first column when it is
            called date, time, month, ...; ``none`` reads no timestamps.
        columns: the columns to read (each must be numeric); None reads every column except the
            time column, leaving out columns of text.
        fill: what to do with a missing value or a gap in the timestamps: ``none`` (an error
            naming the line and column), ``interpolate`` (linear), ``ffill`` (the last value).
            Leading missing values take the first value present.

    Raises:
        InputError: one line naming the file, the line and the column of the first problem.
    """
    path = Path(path)
    if fill not in FILLS:
        raise InputError(f"--fill must be one of {', '.join(FILLS)}, got {fill!r}")
    header, rows = _read_rows(path)
    time_name = _resolve_time_column(path, header, time_column)
    if columns is not None:
        for name in columns:
            if name not in header:
                raise InputError(f"{path}: no column {name!r}; the columns are {', '.join(header)}")
        if time_name in columns:
            raise InputError(f"{path}: column {time_name!r} is the time column, not a value")
    wanted = list(columns) if columns is not None else [n for n in header if n != time_name]
    if not rows:
        raise InputError(f"{path}: has a header but no data rows")

    kept, arrays = [], []
    for name in wanted:
        index = header.index(name)
        parsed = [_parse_number(cells[index]) for _, cells in rows]
        bad = next((k for k, value in enumerate(parsed) if value is None), None)
        if bad is not None:
            present = [v for v in parsed if v is None or not math.isnan(v)]
            if columns is None and present and present[0] is None:
                continue  # a text column (an id, a label): not a series to forecast
            line, cells = rows[bad]
            raise InputError(
                f"{path}: line {line}, column {name!r}: expected a number, found "
                f"{cells[index].strip()!r}"
            )
        kept.append(name)
        arrays.append(np.array(parsed, dtype=np.float64))
    if not kept:
        raise InputError(f"{path}: no numeric column to forecast (columns: {', '.join(header)})")
    values = np.stack(arrays, axis=1)  # (N, C)
    missing = np.isnan(values)
    if fill == "none" and missing.any():
        row, col = map(int, np.argwhere(missing)[0])
        raise InputError(
            f"{path}: line {rows[row][0]}, column {kept[col]!r}: missing value; pass "
            "--fill interpolate or --fill ffill to fill it"
        )

    series = Series(values, kept, str(path))
    if time_name is not None:
        _attach_timestamps(series, path, time_name, header.index(time_name), rows, fill)
    if fill != "none":
        series.values = fill_missing(series.values, fill, kept, str(path))
    return series


def _attach_timestamps(
    series: Series, path: Path, name: str, index: int, rows: list, fill: str
) -> None:
    """Parse the time column, check it steps regularly, and insert the rows of any gap when a
    fill method is given (their values are then filled like missing values)."""
    first_line, first_cells = rows[0]
    fmt = detect_time_format(first_cells[index])
    if fmt is None:
        raise InputError(
            f"{path}: line {first_line}, column {name!r}: cannot read timestamp "
            f"{first_cells[index].strip()!r}; expected e.g. 2016-07-01 00:00:00, 2016-07-01 "
            "or 2016-07 (or pass --time-column none)"
        )
    times = []
    for line, cells in rows:
        try:
            times.append(parse_time(cells[index], fmt))
        except ValueError:
            raise InputError(
                f"{path}: line {line}, column {name!r}: cannot read timestamp "
                f"{cells[index].strip()!r} in the format of the first row "
                f"({first_cells[index].strip()!r})"
            ) from None
    if len(times) < 2:
        series.timestamps, series.time_format, series.time_column = times, fmt, name
        return
    frequency = infer_frequency(times, fmt)
    if frequency.months == 0 and frequency.seconds <= 0:
        raise InputError(
            f"{path}: line {rows[1][0]}, column {name!r}: timestamp {rows[1][1][index].strip()!r}"
            " does not come after the one before it; sort the file by time"
        )
    steps = [frequency.steps_between(times[k - 1], times[k]) for k in range(1, len(times))]
    for k, step in enumerate(steps, start=1):  # order and regularity first, then gaps
        if math.isnan(step) or abs(step - round(step)) > 1e-9 or step < 1:
            line, cells = rows[k]
            order = "is not after" if not math.isnan(step) and step <= 0 else "is irregular after"
            raise InputError(
                f"{path}: line {line}, column {name!r}: timestamp {cells[index].strip()!r} "
                f"{order} {rows[k - 1][1][index].strip()!r}; the series steps by "
                f"{frequency.describe()}"
            )
    values, kept_times = [series.values[0]], [times[0]]
    for k, step in enumerate(steps, start=1):
        gap = round(step) - 1
        if gap and fill == "none":
            line, cells = rows[k]
            raise InputError(
                f"{path}: line {line}, column {name!r}: timestamp {cells[index].strip()!r} "
                f"leaves {gap} missing step(s) of {frequency.describe()} after "
                f"{rows[k - 1][1][index].strip()!r}; pass --fill interpolate or --fill "
                "ffill to fill them"
            )
        for j in range(1, gap + 1):
            kept_times.append(frequency.advance(times[k - 1], j))
            values.append(np.full(series.values.shape[1], np.nan))
        kept_times.append(times[k])
        values.append(series.values[k])
    series.values = np.stack(values)
    series.timestamps, series.time_format, series.frequency = kept_times, fmt, frequency
    series.time_column = name


def fill_missing(values: np.ndarray, method: str, columns: list[str], source: str) -> np.ndarray:
    """Fill NaNs column by column: ``interpolate`` (linear in the row index) or ``ffill``.
    Leading NaNs take the first value present; a column with no value at all is an error."""
    values = values.copy()
    rows = np.arange(len(values))
    for col in range(values.shape[1]):
        column = values[:, col]
        present = ~np.isnan(column)
        if not present.any():
            raise InputError(f"{source}: column {columns[col]!r} has no values at all")
        if present.all():
            continue
        if method == "interpolate":
            values[:, col] = np.interp(rows, rows[present], column[present])
        else:  # ffill: index of the last present value at or before each row
            last = np.maximum.accumulate(np.where(present, rows, -1))
            last[last < 0] = int(np.argmax(present))
            values[:, col] = column[last]
    return values


def sine_series(points: int = SINE_POINTS, seed: int = 0) -> Series:
    """The seed's series: ``x_i = sin(i / 10) + U(-0.2, 0.2)`` for i = 0 .. points-1."""
    rng = np.random.default_rng(seed)
    i = np.arange(points)
    values = np.sin(i / 10.0) + rng.uniform(-0.2, 0.2, size=points)
    return Series(values[:, None], ["value"], "synthetic:sine")


def resolve_source(spec: str) -> Path | None:
    """The CSV file a ``--data`` value names: ``ett:ETTh1``, ``airline``, ``univariate:NAME``, a
    path; None for ``synthetic:sine`` (generated)."""
    from rnnkit.data import registry

    if spec.startswith("synthetic:"):
        if spec != "synthetic:sine":
            raise InputError(f"unknown synthetic series {spec!r}; expected synthetic:sine")
        return None
    name, _, file = spec.partition(":")
    if registry.is_registered(name):
        if name in ("ett", "univariate"):
            if not file:
                names = ", ".join(f"{name}:{f[:-4]}" for f in registry.DATASETS[name].files)
                raise InputError(f"{spec!r}: name one file of the dataset: {names}")
            return registry.locate(name, file if file.endswith(".csv") else f"{file}.csv")
        if file:
            raise InputError(f"{spec!r}: dataset {name!r} has one file; give just {name!r}")
        return registry.locate(name)
    if not Path(spec).exists():
        named = [
            f"{dataset}:{Path(file).stem}" if dataset in ("ett", "univariate") else dataset
            for dataset in ("ett", "airline", "univariate")
            for file in registry.DATASETS[dataset].files
        ]
        raise InputError(
            f"{spec}: file not found, and not a dataset (ett:ETTh1, airline, univariate:NAME, "
            "synthetic:sine; see rnnkit data list)"
            + registry.did_you_mean(Path(spec).name, [*dict.fromkeys(named), "synthetic:sine"])
        )
    return Path(spec)


def load_series(
    spec: str, time_column: str = "auto", columns: list[str] | None = None, fill: str = "none"
) -> Series:
    """A named dataset (see :func:`resolve_source`) or a CSV path, read by :func:`read_csv`."""
    path = resolve_source(spec)
    if path is None:
        series = sine_series()
        if columns is not None:
            for name in columns:
                series.column(name)
        return series
    series = read_csv(path, time_column, columns, fill)
    series.source = spec if not Path(spec).exists() else str(path)
    return series
