"""The forecasting task: its data, batches, loss, and its metrics against three baselines.

What the trainer (:mod:`rnnkit.training.trainer`) needs from a task is here and nothing else. The
training loss is the mean squared error on the scaled data, or with ``--loss mae`` the mean
absolute error (SegRNN, Lin et al. 2023, trains on it: it is less pulled by the spikes of ETT's
oil temperature); the validation loss, which selects the kept weights, is always the MSE on the
validation windows (or on the training windows when ``--split`` holds none out).

Metrics, for the model and the baselines side by side, on the same windows:

- ``mse``, ``mae``: on the scaled data (the protocol of Informer and its successors);
- ``mse_original``, ``mae_original``: in the series' own units.

Baselines: ``naive`` repeats the last observed value; ``seasonal_naive`` repeats the last observed
season (``y_{t+h} = y_{t+h-m*ceil(h/m)}``, period m from the data's frequency: 24 for hourly);
``train_mean`` predicts the mean of the training rows.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.config import option
from rnnkit.data import epoch_generator
from rnnkit.data.scalers import SCALERS, Scaler, build_scaler, scaler_from_dict, select
from rnnkit.data.series import FILLS, Frequency, Series, load_series
from rnnkit.data.windows import Split, Windows, fraction_split, informer_split, parse_fractions
from rnnkit.errors import InputError
from rnnkit.io import read_json, write_json
from rnnkit.models.forecaster import Forecaster, ForecasterConfig
from rnnkit.plots import pyplot, save
from rnnkit.tasks.spec import Built, Scored, TaskSpec
from rnnkit.training.run import check_sources, load_best_weights, load_run, stored

FEATURES = ("S", "M", "MS")
LOSSES = {"mse": F.mse_loss, "mae": F.l1_loss}
EVAL_BATCH = 512


@dataclass
class ForecastData:
    """Which series, which columns, how it is split, scaled and cut; stored in config.json."""

    data: str = option(
        "ett:ETTh1",
        "a CSV file, or a named dataset: ett:ETTh1, ett:ETTh2, ett:ETTm1, airline, "
        "univariate:NAME (daily-min-temperatures, monthly-sunspots, ...), synthetic:sine",
        path=True,
    )
    time_column: str = option(
        "auto",
        "the timestamp column: a name, auto (the first column when it is called date, time, "
        "month, ...) or none",
    )
    target: str = option("", "the column to forecast (empty: the last numeric column)")
    features: str = option(
        "S",
        "S: the target alone; M: all numeric columns in and out; MS: all columns in, the "
        "target out",
        choices=FEATURES,
    )
    lookback: int = option(96, "past steps the model reads (L)", min=1)
    horizon: int = option(24, "future steps it forecasts (H)", min=1)
    split: str = option(
        "auto",
        "auto (Informer's borders for ETT, else 0.7,0.1,0.2), informer, or fractions "
        "train,validation,test in time order",
    )
    scaler: str = option(
        "standard", "standard, minmax or none; fitted on the training rows only", choices=SCALERS
    )
    fill: str = option(
        "none",
        "missing values and timestamp gaps: none (an error), interpolate or ffill",
        choices=FILLS,
    )
    season: int = option(
        0,
        "seasonal period in steps for the seasonal-naive baseline (0: from the frequency, 24 "
        "for hourly data)",
        min=0,
    )
    batch_size: int = option(32, "windows per batch", min=1)
    loss: str = option(
        "mse",
        "training loss on the scaled targets: mse, or mae (SegRNN's); the kept weights are "
        "always chosen by validation MSE",
        choices=tuple(LOSSES),
    )

    def check(self) -> None:
        if self.split not in ("auto", "informer"):
            parse_fractions(self.split)


def is_ett(spec: str) -> str | None:
    """'h' or 'm' when ``spec`` names an ETT file (``ett:ETTh1`` or a path to ETTm1.csv)."""
    name = spec.partition(":")[2] if spec.startswith("ett:") else Path(spec).name
    match = re.fullmatch(r"ETT([hm])\d(\.csv)?", name)
    return match.group(1) if match else None


@dataclass
class Prepared:
    """A series made ready for a model: chosen columns, split, fitted scaler, windows."""

    series: Series  # the columns used, in original units
    scaled: Tensor  # (N, C) float32, every row scaled by the training rows' scaler
    scaler: Scaler
    split: Split
    inputs: list[int]  # columns of ``series`` fed to the model
    targets: list[int]  # columns of ``series`` forecast
    season: int | None
    train_mean: Tensor  # (Cout,) the targets' mean over the training rows, scaled
    train: Windows | None  # None when a run's model is scored on a new file
    valid: Windows | None
    test: Windows

    @property
    def target_names(self) -> list[str]:
        return [self.series.columns[i] for i in self.targets]

    @property
    def target_scaler(self) -> Scaler:
        return select(self.scaler, self.targets)

    def windows(self, part: str) -> Windows:
        return {"train": self.train, "valid": self.valid or self.train, "test": self.test}[part]


def read_columns(data: ForecastData) -> Series:
    """Read the columns that ``features`` needs: the target alone for S, every numeric column
    for M and MS (the target, if given, must be among them)."""
    columns = [data.target] if data.features == "S" and data.target else None
    series = load_series(data.data, data.time_column, columns, data.fill)
    target = data.target or series.columns[-1]
    if data.features == "S" and not data.target:
        index = series.column(target)
        series.values, series.columns = series.values[:, index : index + 1], [target]
    series.column(target)
    return series


def choose_columns(series: Series, data: ForecastData) -> tuple[list[int], list[int]]:
    """(input columns, target columns) of ``series`` for features S, M or MS."""
    target = series.column(data.target or series.columns[-1])
    everything = list(range(len(series.columns)))
    if data.features == "S":
        return [target], [target]
    if data.features == "M":
        return everything, everything
    return everything, [target]


def choose_split(series: Series, data: ForecastData) -> Split:
    """Informer's borders for ETT (``auto`` or ``informer``), else train/validation/test
    fractions (70/10/20 for ``auto``)."""
    kind = is_ett(data.data)
    if data.split == "informer" or (data.split == "auto" and kind is not None):
        if kind is None:
            raise InputError(
                f"--split informer has borders for the ETT files only, not {data.data}; give "
                "fractions such as --split 0.7,0.1,0.2"
            )
        return informer_split(len(series), data.lookback, 4 if kind == "m" else 1, data.data)
    fractions = (0.7, 0.1, 0.2) if data.split == "auto" else parse_fractions(data.split)
    return fraction_split(len(series), data.lookback, fractions)


def prepare(
    series: Series,
    data: ForecastData,
    scaler: Scaler | None = None,
    split: Split | None = None,
    train_mean: np.ndarray | None = None,
) -> Prepared:
    """Split ``series``, fit the scaler on the training rows (unless one is given) and cut windows.

    With ``split`` given (e.g. the whole of a new file as test data), it is used as it is; with no
    training rows in it, ``train_mean`` (C,) in original units must be given (the run's).
    """
    data.check()
    inputs, targets = choose_columns(series, data)
    split = split or choose_split(series, data)
    if scaler is None:
        start, end = split.train
        scaler = build_scaler(data.scaler).fit(series.values[start:end])
    scaled = torch.as_tensor(scaler.transform(series.values), dtype=torch.float32)  # (N, C)
    L, H = data.lookback, data.horizon

    def cut(rows, what):
        return Windows(scaled, rows, L, H, inputs, targets, f"{what} of {data.data}")

    season = data.season or (series.frequency.season() if series.frequency else None)
    start, end = split.train
    if train_mean is None:
        train_mean = series.values[start:end].mean(axis=0)  # (C,)
    scaled_mean = torch.as_tensor(
        scaler.transform(np.asarray(train_mean)[None]), dtype=torch.float32
    )
    return Prepared(
        series,
        scaled,
        scaler,
        split,
        inputs,
        targets,
        season,
        scaled_mean[0, targets],
        cut(split.train, "training part") if end > start else None,
        cut(split.valid, "validation part") if split.valid else None,
        cut(split.test, "test part"),
    )


def largest_divisor(n: int, at_most: int) -> int:
    """The largest divisor of ``n`` that is at most ``at_most``."""
    return max(d for d in range(1, min(n, at_most) + 1) if n % d == 0)


def build_model(prepared: Prepared, config: ForecasterConfig, horizon: int) -> Forecaster:
    """A forecaster sized for ``prepared``'s columns."""
    target_inputs = [prepared.inputs.index(t) for t in prepared.targets]
    return Forecaster(config, len(prepared.inputs), len(prepared.targets), horizon, target_inputs)


class ForecastTask:
    """Windows shuffled each epoch; the loss is MSE (or MAE) on the scaled targets."""

    def __init__(
        self,
        model: Forecaster,
        prepared: Prepared,
        batch_size: int,
        seed: int = 0,
        loss: str = "mse",
    ):
        self.model = model
        self.loss = LOSSES[loss]
        self.prepared = prepared
        self.batch_size = batch_size
        self.seed = seed
        self.steps_per_epoch = math.ceil(len(prepared.train) / batch_size)
        self._order: tuple[int, Tensor] | None = None

    def _epoch_order(self, epoch: int) -> Tensor:
        if self._order is None or self._order[0] != epoch:
            generator = epoch_generator(self.seed, epoch)
            self._order = (epoch, torch.randperm(len(self.prepared.train), generator=generator))
        return self._order[1]

    def batch(self, epoch: int, index: int) -> tuple[Tensor, Tensor]:
        chosen = self._epoch_order(epoch)[index * self.batch_size : (index + 1) * self.batch_size]
        return self.prepared.train[chosen]  # (B, L, Cin), (B, H, Cout)

    def training_loss(self, batch, carry):
        x, y = batch
        prediction = self.model(x)  # (B, H, Cout)
        return self.loss(prediction.float(), y), None, y.shape[0]

    def evaluate(self) -> dict[str, float]:
        return validation_metrics(self.model, self.prepared)


def validation_metrics(model: Forecaster, prepared: Prepared) -> dict[str, float]:
    """The validation loss (MSE, scaled) and MAE: what training selects the best weights by."""
    windows = prepared.windows("valid")
    prediction = predict(model, windows)
    _, y = windows[:]
    return {
        "loss": float(F.mse_loss(prediction, y)),
        "mae": float((prediction - y).abs().mean()),
    }


@torch.no_grad()
def predict(model: Forecaster, windows: Windows, batch_size: int = EVAL_BATCH) -> Tensor:
    """The model's forecasts for every window, (N, H, Cout), in the scaled units."""
    was_training = model.training
    model.eval()
    parts = []
    for start in range(0, len(windows), batch_size):
        x, _ = windows[start : start + batch_size]
        parts.append(model(x).float())
    model.train(was_training)
    return torch.cat(parts)


def baseline_forecasts(prepared: Prepared, windows: Windows) -> dict[str, Tensor | None]:
    """Naive, seasonal-naive and training-mean forecasts (N, H, Cout) in the scaled units.

    They read the rows before each window's first target, whatever part those rows belong to, as
    the model's input does; ``seasonal_naive`` is None when there is no period or a window has
    fewer than one period of rows before it.
    """
    data, targets = prepared.scaled[:, prepared.targets], windows.horizon
    now = windows.starts + windows.lookback  # (N,) row of each window's first target
    steps = torch.arange(targets)  # (H,)
    naive = data[now - 1].unsqueeze(1).expand(-1, targets, -1)  # (N, H, Cout)
    mean = prepared.train_mean.expand_as(naive)  # (N, H, Cout)
    forecasts = {"naive": naive, "seasonal_naive": None, "train_mean": mean}
    period = prepared.season
    if period:
        back = period * (steps // period + 1)  # (H,) how far back the same phase was observed
        rows = now.unsqueeze(1) + steps - back  # (N, H)
        if int(rows.min()) >= 0:
            forecasts["seasonal_naive"] = data[rows]  # (N, H, Cout)
    return forecasts


def scores(prediction: Tensor, truth: Tensor, target_scaler: Scaler) -> dict[str, float]:
    """MSE and MAE in the scaled units and in the original ones."""
    error = prediction.double() - truth.double()
    original = target_scaler.inverse_transform(
        prediction.double()
    ) - target_scaler.inverse_transform(truth.double())
    return {
        "mse": float(error.pow(2).mean()),
        "mae": float(error.abs().mean()),
        "mse_original": float(original.pow(2).mean()),
        "mae_original": float(original.abs().mean()),
    }


def evaluate_windows(model: Forecaster, prepared: Prepared, part: str = "test") -> dict:
    """Scores of the model and of each baseline on every window of ``part``."""
    windows = prepared.windows(part)
    _, truth = windows[:]  # (N, H, Cout)
    target_scaler = prepared.target_scaler
    results = {"model": scores(predict(model, windows), truth, target_scaler)}
    for name, forecast in baseline_forecasts(prepared, windows).items():
        results[name] = None if forecast is None else scores(forecast, truth, target_scaler)
    first, last = windows.target_rows
    return {
        "part": part,
        "windows": len(windows),
        "rows": [int(windows.starts[0]), last],
        "target_rows": [first, last],
        "season": prepared.season,
        "metrics": results,
    }


def plot_forecasts(
    model: Forecaster, prepared: Prepared, path: Path, part: str = "test", count: int = 4
) -> Path | None:
    """``count`` windows spread over ``part``: input, actual and forecast of the first target, in
    the original units (needs matplotlib; None without it)."""
    plt = pyplot(path.name)
    if plt is None:
        return None
    windows = prepared.windows(part)
    chosen = torch.linspace(0, len(windows) - 1, min(count, len(windows))).round().long()
    x, y = windows[chosen]
    prediction = predict(model, windows, EVAL_BATCH)[chosen]
    inverse = prepared.target_scaler.inverse_transform
    target = prepared.targets[0]
    history = prepared.series.values[:, target]
    figure, axes = plt.subplots(len(chosen), 1, figsize=(10, 2.6 * len(chosen)), squeeze=False)
    L, H = windows.lookback, windows.horizon
    for axis, k, start in zip(axes[:, 0], range(len(chosen)), windows.starts[chosen]):
        start = int(start)
        past = np.arange(start, start + L)
        future = np.arange(start + L, start + L + H)
        axis.plot(past, history[start : start + L], color="0.4", label="input")
        axis.plot(future, inverse(y[k].double())[:, 0].numpy(), color="black", label="actual")
        axis.plot(
            future, inverse(prediction[k].double())[:, 0].numpy(), color="tab:red", label="forecast"
        )
        axis.set_ylabel(prepared.series.columns[target])
        axis.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper left")
    axes[-1, 0].set_xlabel("row")
    figure.suptitle(f"{prepared.series.source}: {part} windows, horizon {H}")
    return save(figure, path, dpi=90)


def forecast_next(
    model: Forecaster, scaler: Scaler, recent: np.ndarray, inputs: list[int], targets: list[int]
) -> np.ndarray:
    """The next H values (H, Cout), in original units, after ``recent`` (L, C): the last L rows
    of the series in original units, scaled here with the run's scaler."""
    scaled = torch.as_tensor(scaler.transform(recent), dtype=torch.float32)  # (L, C)
    model.eval()
    with torch.no_grad():
        y = model(scaled[:, inputs].unsqueeze(0))[0].double()  # (H, Cout)
    return select(scaler, targets).inverse_transform(y).numpy()


SCALER = "scaler.json"


def series_record(prepared: Prepared, parameters: int) -> dict:
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


# what a run's ``series`` section holds: key -> its JSON types
SERIES_KEYS = {
    "columns": list,
    "inputs": list,
    "targets": list,
    "time_column": (str, type(None)),
    "time_format": (str, type(None)),
    "frequency": (dict, type(None)),
    "season": (int, type(None)),
    "rows": int,
    "split": dict,
    "train_mean": list,
    "parameters": int,
}


def check_series(run: Path, config: dict) -> None:
    """Check the types of a run's ``series`` section (InputError naming a damaged key)."""
    for key, kind in SERIES_KEYS.items():
        stored(run, config, "series", key, kind=kind)
    columns = config["series"]["columns"]
    for key in ("inputs", "targets"):
        if not set(config["series"][key]) <= set(columns) or not config["series"][key]:
            raise InputError(
                f"{run / 'config.json'}: key 'series.{key}' must name some of 'series.columns'; "
                "the file is damaged"
            )
    stored_split(config["series"], str(run / "config.json"))


def stored_split(info: dict, where: str = "config.json") -> Split:
    """The split a run recorded in its ``series`` section."""
    try:
        split = info["split"]
        parts = {
            name: None if split[name] is None else tuple(int(i) for i in split[name])
            for name in ("train", "valid", "test")
        }
        if any(part is not None and len(part) != 2 for part in parts.values()):
            raise ValueError("a part is not [start, end]")
        return Split(parts["train"], parts["valid"], parts["test"], str(split["kind"]))
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(f"{where}: key 'series.split' is damaged ({error})") from None


@dataclass
class LoadedForecaster:
    """A trained forecaster with its scaler and configuration."""

    model: Forecaster
    scaler: Scaler
    config: dict
    run: Path = Path(".")

    @property
    def data(self) -> ForecastData:
        return SPEC.from_stored(self.config, str(self.run / "config.json"))["data"]

    def info(self, key: str, kind: type | tuple = object):
        """A key of the run's ``series`` section, checked (InputError naming it)."""
        return stored(self.run, self.config, "series", key, kind=kind)

    def frequency(self) -> Frequency | None:
        """The step of the run's series (None: no timestamps)."""
        try:
            return Frequency.from_dict(self.info("frequency", (dict, type(None))))
        except (KeyError, TypeError, ValueError) as error:
            where = self.run / "config.json"
            raise InputError(f"{where}: key 'series.frequency' is damaged ({error})") from None

    def read_like_run(self, path: str) -> Series:
        """Read a CSV with the run's columns, time column and fill policy."""
        time_column = self.info("time_column", (str, type(None)))
        return load_series(path, time_column or "none", self.info("columns", list), self.data.fill)

    def read_own(self) -> Series:
        """The run's own series, after checking its file against the stored sha256."""
        data = self.data
        check_sources(self.run, self.config, hint="; pass --input FILE to forecast after it")
        return load_series(data.data, data.time_column, self.info("columns", list), data.fill)

    def prepared(self, data_path: str | None = None) -> tuple[Prepared, str]:
        """The run's own split of its data, or the whole of ``data_path`` as test data."""
        data = self.data
        if data_path is None:
            check_sources(self.run, self.config)
            series = load_series(data.data, data.time_column, self.info("columns", list), data.fill)
            split = stored_split(self.config["series"], str(self.run / "config.json"))
            return prepare(series, data, self.scaler, split), data.data
        series = self.read_like_run(data_path)
        whole = Split((0, 0), None, (0, len(series)), "file")
        named = dataclasses.replace(data, data=data_path)  # messages name the file scored
        prepared = prepare(series, named, self.scaler, whole, self.info("train_mean", list))
        return prepared, data_path


class ForecastSpec(TaskSpec):
    """``rnnkit train forecast``: the next H values of a series from its last L."""

    name = "forecast"
    help = "time-series forecasting"
    description = (
        "Train an RNN, LSTM or GRU to forecast the next --horizon values of a series from the "
        "last --lookback ones."
    )
    sections = {"data": ForecastData, "model": ForecasterConfig}
    train_defaults = {"time_budget": 600.0, "epochs": 30.0, "early_stopping": 5, "lr": 1e-3}
    unit = "MSE (scaled)"

    def is_dataset(self, value: str) -> bool:
        from rnnkit.data import registry

        return value.startswith("synthetic:") or registry.is_registered(value.partition(":")[0])

    def check(self, config) -> None:
        super().check(config)
        lookback, segment = config["data"].lookback, config["model"].segment
        if segment and lookback % segment:
            raise InputError(
                f"--lookback {lookback} is not a whole number of --segment {segment} segments: "
                f"choose a segment that divides it (e.g. {largest_divisor(lookback, segment)})"
            )

    def build(self, config, run: Path, resume: bool) -> Built:
        data = config["data"]
        series = read_columns(data)
        if resume:  # the scaler and split are the run's, not refitted on today's file
            config_json = load_run(run, self.name)
            info = config_json.get("series")
            scaler = scaler_from_dict(read_json(run / SCALER, "scaler"), run / SCALER)
            # the stored split holds rows of the run's own file; another one (rnnkit diagnose
            # --data) is split afresh
            own = data.data == stored(run, config_json, "data", "data", kind=str)
            split = stored_split(info, str(run / "config.json")) if own else None
            prepared = prepare(series, data, scaler, split)
        else:
            prepared = prepare(series, data)
        model = build_model(prepared, config["model"], data.horizon)
        task = ForecastTask(
            model, prepared, data.batch_size, seed=config["train"].seed, loss=data.loss
        )
        parameters = model.parameter_count()
        valid = "training windows (no validation part)" if prepared.valid is None else "validation"
        return Built(
            task,
            model,
            f"{model.config.cell} {parameters:,} parameters; {len(prepared.train)} training "
            f"windows, validation on {valid} ({len(prepared.windows('valid'))}), "
            f"{len(prepared.test)} test windows; {task.steps_per_epoch} steps per epoch",
            record={"series": series_record(prepared, parameters)},
            save=lambda out: write_json(out / SCALER, prepared.scaler.to_dict()),
        )

    def load(self, run) -> LoadedForecaster:
        run = Path(run)
        config = load_run(run, self.name)
        sections = self.from_stored(config, str(run / "config.json"))
        sizes = [
            stored(run, config, "sizes", key, kind=int)
            for key in ("input_size", "output_size", "horizon")
        ]
        target_inputs = stored(run, config, "sizes", "target_inputs", kind=list)
        check_series(run, config)
        try:
            model = Forecaster(sections["model"], *sizes, target_inputs)
        except (TypeError, ValueError, IndexError) as error:
            raise InputError(f"{run / 'config.json'}: key 'sizes' is damaged ({error})") from None
        load_best_weights(run, model)
        model.eval()
        scaler = scaler_from_dict(read_json(run / SCALER, "scaler"), run / SCALER)
        if scaler.columns not in (None, len(stored(run, config, "series", "columns", kind=list))):
            raise InputError(
                f"{run / SCALER}: has {scaler.columns} columns, but the run's series has "
                f"{len(config['series']['columns'])}; the file is damaged"
            )
        return LoadedForecaster(model, scaler, config, run)

    def score(self, run: Path, data: str | None = None) -> Scored:
        loaded = self.load(run)
        prepared, source = loaded.prepared(data)
        stored_data = loaded.data
        result = {
            "data": source,
            "features": stored_data.features,
            "targets": prepared.target_names,
            "lookback": stored_data.lookback,
            "horizon": stored_data.horizon,
            "parameters": loaded.config["series"].get("parameters"),
            **evaluate_windows(loaded.model, prepared, "test"),
        }
        if data is None:
            result["valid"] = validation_metrics(loaded.model, prepared)
        return Scored(
            result, {"forecast.png": lambda path: plot_forecasts(loaded.model, prepared, path)}
        )


SPEC = ForecastSpec()
