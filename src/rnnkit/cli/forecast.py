"""``rnnkit train forecast``, ``rnnkit forecast`` and ``rnnkit evaluate`` for forecasting runs.

A run directory holds, besides the trainer's files: ``config.json`` (sections ``data``, ``model``,
``train`` and ``series``: the columns, timestamps' format and frequency, split, parameter count)
and ``scaler.json`` (the scaler fitted on the training rows).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import asdict, fields
from pathlib import Path

from rnnkit.cli import common, options
from rnnkit.errors import InputError
from rnnkit.models.forecaster import ForecasterConfig
from rnnkit.tasks.forecast import ForecastData
from rnnkit.training.trainer import TrainConfig

TASK = "forecast"
DATA_SIZED = ("input_size", "output_size", "horizon", "target_inputs")  # set from the data
DEFAULT_TRAIN = {"time_budget": 600.0, "epochs": 30.0, "early_stopping": 5, "lr": 1e-3}
# help texts where the language model's wording (rnnkit.cli.options.HELP) does not fit
OWN_HELP = {
    "data": "a CSV file, or a named dataset: ett:ETTh1, ett:ETTh2, ett:ETTm1, airline, "
    "univariate:NAME (daily-min-temperatures, monthly-sunspots, ...), synthetic:sine",
    "batch_size": "windows per batch",
    "attention": "attention over the encoder's states: none, dot, general, additive, scaled-dot",
    "bidirectional": "bidirectional encoder (it reads the past window both ways)",
    "dropout": "dropout between recurrent layers and before the output layer",
}
SCALER_FILE = "scaler.json"


def add_train_parser(tasks) -> None:
    parser = tasks.add_parser(
        TASK,
        help="time-series forecasting",
        description="Train an RNN, LSTM or GRU to forecast the next --horizon values of a series "
        "from the last --lookback ones.",
    )
    common.add_run_arguments(parser, TASK)
    options.add_dataclass_options(parser, ForecastData, title="data")
    options.add_dataclass_options(parser, ForecasterConfig, skip=DATA_SIZED, title="model")
    options.add_dataclass_options(parser, TrainConfig, title="training")
    defaults = {"ForecastData": ForecastData, "ForecasterConfig": ForecasterConfig}
    for action in parser._actions:
        if action.dest in OWN_HELP:
            owner = next(
                (cls for cls in defaults.values() if action.dest in _field_names(cls)), None
            )
            default = _field_default(owner, action.dest) if owner else None
            action.help = f"{OWN_HELP[action.dest]} (default: {default})"
        if action.dest == "eval_every":
            action.help = "evaluate and keep the best weights every N steps (default: each epoch)"
    parser.set_defaults(handler=train, parser=parser, **DEFAULT_TRAIN)


def _field_names(cls) -> set[str]:
    return {f.name for f in fields(cls)}


def _field_default(cls, name: str):
    return next(f.default for f in fields(cls) if f.name == name)


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
    forecast.set_defaults(handler=forecast_command)


# --- train ----------------------------------------------------------------------------------------
def train(args: argparse.Namespace) -> int:
    from rnnkit.io import write_json
    from rnnkit.tasks.forecast import ForecastTask, build_model, prepare, read_columns
    from rnnkit.training.run import create_run, load_run

    out = Path(args.out or "runs/forecast")
    train_config = options.build(TrainConfig, args)
    if args.resume:
        stored = load_run(out, TASK)
        data = ForecastData(**stored["data"])
        model_options = {k: v for k, v in stored["model"].items() if k not in DATA_SIZED}
    else:
        data = options.build(ForecastData, args)
        data.check()
        model_options = {
            k: v
            for k, v in asdict(options.build(ForecasterConfig, args, **_sized())).items()
            if k not in DATA_SIZED
        }
    prepared = prepare(read_columns(data), data)
    model = build_model(prepared, model_options, data.horizon)
    task = ForecastTask(model, prepared, data.batch_size, seed=train_config.seed)
    if args.eval_every is None:
        train_config.eval_every = task.steps_per_epoch
    train_config.check()
    parameters = model.parameter_count()
    if not args.resume:
        create_run(
            out,
            {
                "task": TASK,
                "data": asdict(data),
                "model": model.config_dict(),
                "train": asdict(train_config),
                "series": series_record(prepared, parameters),
            },
        )
        write_json(out / SCALER_FILE, prepared.scaler.to_dict())
    valid = "training windows (no validation part)" if prepared.valid is None else "validation"
    print(
        f"rnnkit: {TASK} run {out}: {model.config.cell} {parameters:,} parameters; "
        f"{len(prepared.train)} training windows, validation on {valid} "
        f"({len(prepared.windows('valid'))}), {len(prepared.test)} test windows; "
        f"{task.steps_per_epoch} steps per epoch",
        file=sys.stderr,
    )
    return common.fit(task, train_config, out, args.resume, "MSE (scaled)")


def _sized() -> dict:
    """Placeholder sizes so the model options can be checked before the data is read."""
    return {"input_size": 1, "output_size": 1, "horizon": 1, "target_inputs": [0]}


def series_record(prepared, parameters: int) -> dict:
    """What a run must remember about its series to read new data the same way."""
    series = prepared.series
    start, end = prepared.split.train
    return {
        "columns": series.columns,
        "inputs": [series.columns[i] for i in prepared.inputs],
        "targets": prepared.target_names,
        "time_column": series.time_column,
        "time_format": series.time_format,
        "frequency": series.frequency.to_dict() if series.frequency else None,
        "season": prepared.season,
        "rows": len(series),
        "split": prepared.split.to_dict(),
        "train_mean": series.values[start:end].mean(axis=0).tolist(),
        "parameters": parameters,
    }


# --- loading a run --------------------------------------------------------------------------------
def load(run: str | Path):
    """(model, config, scaler) of a forecasting run, with its best weights."""
    from rnnkit.data.scalers import scaler_from_dict
    from rnnkit.io import read_json
    from rnnkit.models.forecaster import Forecaster
    from rnnkit.training.run import load_best_weights, load_run

    config = load_run(run, TASK)
    model = Forecaster(ForecasterConfig(**config["model"]))
    load_best_weights(run, model)
    model.eval()
    scaler = scaler_from_dict(read_json(Path(run) / SCALER_FILE, "scaler"))
    return model, config, scaler


def _read_like_run(path: str, config: dict):
    """Read a CSV with the run's columns, time column and fill policy."""
    from rnnkit.data.series import load_series

    series_info, data = config["series"], ForecastData(**config["data"])
    time_column = series_info["time_column"] or "none"
    return load_series(path, time_column, series_info["columns"], data.fill)


def _prepared_for_run(config: dict, scaler, data_path: str | None):
    """The run's own split of its data, or the whole of ``data_path`` as test data."""
    from rnnkit.data.series import load_series
    from rnnkit.data.windows import Split
    from rnnkit.tasks.forecast import prepare

    data = ForecastData(**config["data"])
    info = config["series"]
    split = info["split"]
    if data_path is None:
        series = load_series(data.data, data.time_column, info["columns"], data.fill)
        stored = Split(
            tuple(split["train"]),
            tuple(split["valid"]) if split["valid"] else None,
            tuple(split["test"]),
            split["kind"],
        )
        return prepare(series, data, scaler=scaler, split=stored), data.data
    series = _read_like_run(data_path, config)
    whole = Split((0, 0), None, (0, len(series)), "file")
    mean = info["train_mean"]
    return prepare(series, data, scaler=scaler, split=whole, train_mean=mean), data_path


# --- evaluate -------------------------------------------------------------------------------------
def evaluate(args: argparse.Namespace, config: dict) -> int:
    from rnnkit.io import write_json
    from rnnkit.tasks.forecast import evaluate_windows, plot_forecasts

    model, config, scaler = load(args.run)
    prepared, source = _prepared_for_run(config, scaler, args.data)
    data = ForecastData(**config["data"])
    result = {
        "data": source,
        "features": data.features,
        "targets": prepared.target_names,
        "lookback": data.lookback,
        "horizon": data.horizon,
        "parameters": config["series"]["parameters"],
        **evaluate_windows(model, prepared, "test"),
    }
    run = Path(args.run)
    write_json(run / "eval.json", result)
    plot_forecasts(model, prepared, run / "forecast.png")
    print(json.dumps(result, indent=2))
    return 0


# --- forecast -------------------------------------------------------------------------------------
def forecast_command(args: argparse.Namespace) -> int:
    from rnnkit.data.series import Frequency, load_series
    from rnnkit.plots import plot_forecast_next
    from rnnkit.tasks.forecast import forecast_next

    model, config, scaler = load(args.run)
    data, info = ForecastData(**config["data"]), config["series"]
    if args.input:
        series = _read_like_run(args.input, config)
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
