"""``rnnkit forecast RUN``: the next values of a series from a trained forecasting run.

Training, loading and evaluation are the forecast task's (:mod:`rnnkit.tasks.forecast`).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from rnnkit.cli import set_threads
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
    forecast.add_argument("--threads", type=int, help="torch CPU threads")
    forecast.set_defaults(handler=forecast_command)


# --- forecast -------------------------------------------------------------------------------------
def forecast_command(args: argparse.Namespace) -> int:
    from rnnkit.data.series import Frequency, load_series
    from rnnkit.plots import plot_forecast_next
    from rnnkit.tasks.forecast import SPEC, forecast_next

    set_threads(args.threads)
    loaded = SPEC.load(args.run)
    model, config, scaler = loaded.model, loaded.config, loaded.scaler
    data, info = loaded.data, config["series"]
    if args.input:
        series = loaded.read_like_run(args.input)
        source = args.input
    else:
        series = load_series(data.data, data.time_column, info["columns"], data.fill)
        source = data.data
    if len(series) < data.lookback:
        raise InputError(
            f"{source}: has {len(series)} rows, fewer than the run's --lookback {data.lookback}"
        )
    trained = Frequency.from_dict(info["frequency"])
    if series.frequency is None and trained is not None:
        series.frequency = trained  # a single row: continue at the training data's step
    elif trained is not None and series.frequency != trained:
        raise InputError(
            f"{source}: steps by {series.frequency.describe()}, but the run was trained on data "
            f"stepping by {trained.describe()}"
        )
    inputs = [info["columns"].index(name) for name in info["inputs"]]
    targets = [info["columns"].index(name) for name in info["targets"]]
    values = forecast_next(model, scaler, series.values[-data.lookback :], inputs, targets)
    times = series.future_timestamps(data.horizon)
    header = [series.time_column or "step", *info["targets"]]
    rows = [[t, *(f"{v:.6g}" for v in row)] for t, row in zip(times, values)]
    if args.output:
        with open(args.output, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([header, *rows])
    else:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerows([header, *rows])
    if args.plot:
        plot_forecast_next(series, targets[0], values[:, 0], data.lookback, Path(args.plot))
    return 0
