"""``rnnkit forecast RUN``: the next values of a series from a trained forecasting run.

Training, loading and evaluation are the forecast task's (:mod:`rnnkit.tasks.forecast`).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from rnnkit.cli import add_threads, set_threads
from rnnkit.errors import InputError


def add_commands(commands) -> None:
    forecast = commands.add_parser(
        "forecast",
        help="forecast the next values of a series with a trained run",
        description="Write the next --horizon values after the last rows of --input as CSV, in "
        "the original units, with timestamps continued at the series' frequency.",
    )
    forecast.add_argument("run", help="a forecasting run directory")
    forecast.add_argument(
        "--input",
        help="a CSV file with the run's columns; its last --lookback rows are read (default: "
        "the end of the run's own data)",
    )
    forecast.add_argument("--output", help="write the CSV here instead of to standard output")
    forecast.add_argument("--plot", help="also draw the recent values and the forecast (PNG)")
    add_threads(forecast)
    forecast.set_defaults(handler=forecast_command)


# --- forecast -------------------------------------------------------------------------------------
def forecast_command(args: argparse.Namespace) -> int:
    from rnnkit.io import check_writable, write_output
    from rnnkit.plots import plot_forecast_next
    from rnnkit.tasks.forecast import SPEC, forecast_next

    set_threads(args.threads)
    for flag, path in (("--output", args.output), ("--plot", args.plot)):
        if path:
            check_writable(path, flag)  # before any work, so that nothing is half done
    loaded = SPEC.load(args.run)
    model, scaler, data = loaded.model, loaded.scaler, loaded.data
    columns = loaded.info("columns", list)
    if args.input:
        series = loaded.read_like_run(args.input)
        source = args.input
    else:
        series = loaded.read_own()
        source = data.data
    if len(series) < data.lookback:
        raise InputError(
            f"{source}: has {len(series)} rows, fewer than the run's --lookback {data.lookback}"
        )
    trained = loaded.frequency()
    if series.frequency is None and trained is not None:
        series.frequency = trained  # a single row: continue at the training data's step
    elif trained is not None and series.frequency != trained:
        raise InputError(
            f"{source}: steps by {series.frequency.describe()}, but the run was trained on data "
            f"stepping by {trained.describe()}"
        )
    inputs = [columns.index(name) for name in loaded.info("inputs", list)]
    targets = [columns.index(name) for name in loaded.info("targets", list)]
    values = forecast_next(model, scaler, series.values[-data.lookback :], inputs, targets)
    times = series.future_timestamps(data.horizon)
    header = [series.time_column or "step", *loaded.info("targets", list)]
    rows = [[t, *(f"{v:.6g}" for v in row)] for t, row in zip(times, values)]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([header, *rows])
    if args.output:
        write_output(args.output, text.getvalue())
    else:
        sys.stdout.write(text.getvalue())
        sys.stdout.flush()
    if args.plot:
        plot_forecast_next(series, targets[0], values[:, 0], data.lookback, Path(args.plot))
    return 0
