"""Forecasting through the CLI: train, evaluate, forecast (original units, continued timestamps),
config files, and one clear line with exit code 2 for each kind of bad input."""

import csv
import json
import math

import numpy as np
import pytest
import torch

from rnnkit.cli import main

TINY = [
    "--hidden", "8", "--batch-size", "16", "--max-steps", "12", "--eval-every", "6",
    "--no-progress", "--lr", "0.01", "--threads", "1",
]  # fmt: skip


def write_hourly(path, rows=200, start_day=1):
    """A daily cycle in 'load' (around 50) and a slow trend in 'temp' (around 10)."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "load", "temp"])
        for i in range(rows):
            day, hour = divmod(i, 24)
            load = 50 + 20 * math.sin(2 * math.pi * i / 24)
            writer.writerow([f"2021-03-{start_day + day:02d} {hour:02d}:00:00", f"{load:.4f}",
                             f"{10 + 0.01 * i:.4f}"])  # fmt: skip
    return path


@pytest.fixture
def hourly(tmp_path):
    return write_hourly(tmp_path / "hourly.csv")


def train(data, out, *extra):
    return main(["train", "forecast", "--data", str(data), "--out", str(out), *TINY, *extra])


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "expected an error message"
    return err[-1]


def read_forecast(text):
    rows = list(csv.reader(text.strip().splitlines()))
    return rows[0], rows[1:]


def test_train_then_evaluate_writes_model_and_baseline_metrics(hourly, tmp_path, capsys):
    run = tmp_path / "run"
    assert train(hourly, run, "--target", "load", "--lookback", "30", "--horizon", "6") == 0
    assert "parameters" in capsys.readouterr().err
    for name in ["config.json", "scaler.json", "model.safetensors", "metrics.jsonl", "loss.png"]:
        assert (run / name).is_file(), name
    assert main(["evaluate", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    # 200 rows split 140/20/40; the test part's 40 target rows hold 40 - 6 + 1 windows
    assert result["windows"] == 35 and result["target_rows"] == [160, 200]
    assert result["season"] == 24
    assert set(result["metrics"]) == {"model", "naive", "seasonal_naive", "train_mean"}
    # a noiseless daily cycle: the seasonal-naive forecast is exact (up to the 4 decimals written)
    assert result["metrics"]["seasonal_naive"]["mae_original"] < 1e-3
    assert (
        result["parameters"]
        == json.loads((run / "config.json").read_text())["series"]["parameters"]
    )
    assert (run / "forecast.png").is_file()


def test_forecast_continues_timestamps_in_original_units(hourly, tmp_path, capsys):
    run = tmp_path / "run"
    train(hourly, run, "--target", "load", "--features", "MS", "--lookback", "30",
          "--horizon", "5")  # fmt: skip
    recent = write_hourly(tmp_path / "recent.csv", rows=40, start_day=20)
    capsys.readouterr()
    plot = tmp_path / "forecast.png"
    assert main(["forecast", str(run), "--input", str(recent), "--plot", str(plot)]) == 0
    header, rows = read_forecast(capsys.readouterr().out)
    assert header == ["date", "load"]
    # the input ends at 2021-03-21 15:00 (40 hourly rows from the 20th)
    assert [row[0] for row in rows] == [f"2021-03-21 {h}:00:00" for h in range(16, 21)]
    # the same numbers by hand: scale the last 30 rows, run the model, unscale
    import rnnkit

    loaded = rnnkit.load(run)
    model, scaler = loaded.model, loaded.scaler
    with open(recent) as handle:
        values = np.array([[float(v) for v in r[1:]] for r in list(csv.reader(handle))[1:]])
    x = torch.tensor(scaler.transform(values[-30:]), dtype=torch.float32).unsqueeze(0)
    with torch.no_grad():
        y = model(x)[0, :, 0].double().numpy() * scaler.std[0] + scaler.mean[0]
    forecast = np.array([float(row[1]) for row in rows])
    np.testing.assert_allclose(forecast, y, rtol=1e-5)  # 6 significant digits written
    assert np.all((forecast > 0) & (forecast < 100))  # original units (load is 30..70)
    assert plot.is_file()


def test_forecast_without_input_continues_the_training_data(hourly, tmp_path, capsys):
    run = tmp_path / "run"
    train(hourly, run, "--lookback", "24", "--horizon", "3")  # target: the last column, temp
    output = tmp_path / "next.csv"
    assert main(["forecast", str(run), "--output", str(output)]) == 0
    header, rows = read_forecast(output.read_text())
    assert header == ["date", "temp"]
    assert [row[0] for row in rows] == [f"2021-03-09 {h:02d}:00:00" for h in (8, 9, 10)]


def test_evaluate_on_another_file_scores_all_its_windows(hourly, tmp_path):
    run = tmp_path / "run"
    train(hourly, run, "--target", "load", "--lookback", "24", "--horizon", "4")
    other = write_hourly(tmp_path / "other.csv", rows=60, start_day=10)
    assert main(["evaluate", str(run), "--data", str(other)]) == 0
    result = json.loads((run / "eval-other.json").read_text())  # the run's eval.json is kept
    assert result["windows"] == 60 - 24 - 4 + 1 and result["data"] == str(other)
    assert not (run / "eval.json").exists()


def test_sine_trains_from_a_config_file(tmp_path):
    recipe = tmp_path / "sine.toml"
    recipe.write_text(
        'data = "synthetic:sine"\nlookback = 20\nhorizon = 1\nsplit = "0.75,0,0.25"\n'
        'cell = "rnn"\nhidden = 8\nmax-steps = 4\neval-every = 2\n'
    )
    run = tmp_path / "run"
    assert main(["train", "forecast", "--config", str(recipe), "--out", str(run),
                 "--no-progress", "--threads", "1"]) == 0  # fmt: skip
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["cell"] == "rnn" and config["data"]["lookback"] == 20
    assert config["series"]["split"]["train"] == [0, 150]
    assert main(["evaluate", str(run)]) == 0
    assert json.loads((run / "eval.json").read_text())["windows"] == 50


def _bad(tmp_path, name, edit):
    path = write_hourly(tmp_path / name, rows=80)
    lines = path.read_text().splitlines()
    edit(lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def _set_cell(line_number, column, value):
    def edit(lines):
        cells = lines[line_number - 1].split(",")
        cells[column] = value
        lines[line_number - 1] = ",".join(cells)

    return edit


@pytest.mark.parametrize(
    "edit, extra, expected",
    [
        (_set_cell(7, 1, ""), [], "line 7, column 'load': missing value"),
        (_set_cell(9, 2, "warm"), [], "line 9, column 'temp': expected a number, found 'warm'"),
        (_set_cell(5, 0, "yesterday"), [], "line 5, column 'date': cannot read timestamp"),
        (_set_cell(5, 0, "2021-03-01 03:30:00"), [], "line 5, column 'date': timestamp"),
        (lambda lines: None, ["--target", "OT"], "no column 'OT'"),
        (lambda lines: None, ["--lookback", "70"], "fewer than --lookback 70 + --horizon"),
        (lambda lines: None, ["--time-column", "when"], "no column 'when' for --time-column"),
        (lambda lines: None, ["--features", "X"], "--features must be one of S, M, MS"),
        (lambda lines: None, ["--split", "0.5,0.5"], "--split must be auto"),
        (lambda lines: None, ["--split", "informer"], "--split informer has borders for the ETT"),
        (
            lambda lines: None,
            ["--lookback", "20", "--segment", "6"],
            "--lookback 20 is not a whole number of --segment 6 segments: choose a segment that "
            "divides it (e.g. 5)",
        ),
        (
            lambda lines: None,
            ["--segment", "4", "--decoder", "autoregressive"],
            "--segment 4 predicts the horizon segment by segment",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, edit, extra, expected):
    path = _bad(tmp_path, "bad.csv", edit)
    assert train(path, tmp_path / "run", *extra) == 2
    line = error_line(capsys)
    assert line.startswith("rnnkit: error:") and expected in line


def test_segment_run_trains_evaluates_and_forecasts(hourly, tmp_path, capsys):
    run = tmp_path / "run"
    assert train(hourly, run, "--lookback", "24", "--horizon", "10", "--segment", "6",
                 "--window-norm", "revin") == 0  # fmt: skip
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["segment"] == 6 and config["model"]["window_norm"] == "revin"
    assert main(["evaluate", str(run)]) == 0
    capsys.readouterr()
    assert main(["forecast", str(run)]) == 0
    header, rows = read_forecast(capsys.readouterr().out)
    assert len(rows) == 10


def test_fill_interpolate_repairs_a_missing_value(tmp_path, capsys):
    path = _bad(tmp_path, "gappy.csv", _set_cell(7, 1, "NA"))
    assert (
        train(path, tmp_path / "run", "--fill", "interpolate", "--lookback", "12", "--horizon", "2")
        == 0
    )


def test_forecast_input_shorter_than_the_lookback_is_refused(hourly, tmp_path, capsys):
    run = tmp_path / "run"
    train(hourly, run, "--lookback", "30", "--horizon", "3")
    short = write_hourly(tmp_path / "short.csv", rows=10)
    assert main(["forecast", str(run), "--input", str(short)]) == 2
    assert "has 10 rows, fewer than the run's --lookback 30" in error_line(capsys)


def test_forecast_input_at_another_frequency_is_refused(hourly, tmp_path, capsys):
    run = tmp_path / "run"
    train(hourly, run, "--lookback", "5", "--horizon", "2")
    daily = tmp_path / "daily.csv"
    daily.write_text("date,load,temp\n" + "".join(f"2021-04-{d:02d},1,2\n" for d in range(1, 9)))
    assert main(["forecast", str(run), "--input", str(daily)]) == 2
    assert "steps by 1 day(s), but the run was trained on data stepping by 1:00:00" in error_line(
        capsys
    )


def test_resume_continues_a_run_from_its_last_state(hourly, tmp_path):
    run = tmp_path / "run"
    options = ["--lookback", "24", "--horizon", "3"]
    assert train(hourly, run, *options) == 0  # 12 steps, evaluated at 6 and 12
    resumed = ["train", "forecast", "--out", str(run), "--resume", *TINY]
    resumed[resumed.index("--max-steps") + 1] = "18"
    assert main(resumed) == 0
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [6, 12, 18]


def test_diagnose_on_another_file_splits_it_afresh(hourly, tmp_path, capsys):
    run = tmp_path / "run"
    assert train(hourly, run, "--target", "load", "--lookback", "30", "--horizon", "6") == 0
    other = write_hourly(tmp_path / "other.csv", rows=120, start_day=10)
    assert main(["diagnose", str(run), "--data", str(other), "--batches", "2"]) == 0
    result = json.loads((run / "diagnostics.json").read_text())
    assert result["layer"] == "encoder" and result["steps"] == 30  # --lookback
    assert result["data"] == str(other) and result["sequences_per_step"] == [32] * 30
