"""Series data: CSV reading and its errors, timestamps, Informer and fraction splits, scalers and
windows (row indices checked exactly, nothing from validation or test leaking into training)."""

import csv
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.data.scalers import MinMaxScaler, StandardScaler, scaler_from_dict
from rnnkit.data.series import Frequency, read_csv
from rnnkit.data.windows import Windows, fraction_split, informer_split
from rnnkit.errors import InputError
from rnnkit.tasks.forecast import ForecastData, prepare, read_columns


def write_csv(path: Path, header, rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def hourly_rows(count: int, start_hour: int = 0):
    """(timestamp, a, b) rows: a = row index, b = 10 * row index."""
    rows = []
    for i in range(count):
        hour = start_hour + i
        day, hour = 1 + hour // 24, hour % 24
        rows.append([f"2020-01-{day:02d} {hour:02d}:00:00", str(i), str(10 * i)])
    return rows


@pytest.fixture
def hourly(tmp_path):
    return write_csv(tmp_path / "hourly.csv", ["date", "a", "b"], hourly_rows(48))


def error_of(call) -> str:
    with pytest.raises(InputError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- Informer borders --------------------------------------------------------------------------
def test_informer_borders_for_hourly_ett_are_exact():
    split = informer_split(17420, lookback=96)
    assert split.train == (0, 8640)
    assert split.valid == (8640 - 96, 11520)
    assert split.test == (11520 - 96, 14400)


def test_informer_borders_for_15_minute_ett_are_scaled_by_four():
    split = informer_split(69680, lookback=96, rows_per_hour=4)
    assert split.train == (0, 34560)
    assert split.valid == (34560 - 96, 46080)
    assert split.test == (46080 - 96, 57600)


def test_informer_test_windows_are_every_window_of_the_test_rows():
    data = torch.arange(14400, dtype=torch.float32).unsqueeze(1)  # value = row index
    split = informer_split(14400, lookback=96)
    test = Windows(data, split.test, 96, 24, [0], [0])
    assert len(test) == 2880 - 24 + 1  # 2857: no window dropped
    x, y = test[0]
    assert x[0, :, 0].tolist() == list(range(11424, 11520))
    assert y[0, :, 0].tolist() == list(range(11520, 11544))
    _, y_last = test[len(test) - 1]
    assert y_last[0, -1, 0] == 14399


def test_ett_h1_scaler_is_fitted_on_the_first_8640_rows_of_OT_only():
    path = Path(os.environ.get("RNNKIT_DATA", "/nonexistent")) / "ett" / "ETTh1.csv"
    if not path.is_file():
        pytest.skip("ETTh1.csv not in $RNNKIT_DATA")
    with open(path, newline="") as handle:
        ot = np.array([float(row["OT"]) for row in csv.DictReader(handle)])
    data = ForecastData(data="ett:ETTh1", target="OT", features="S", lookback=96, horizon=24)
    prepared = prepare(read_columns(data), data)
    assert prepared.split.test == (11424, 14400)
    # numpy's population std, as Informer's StandardScaler; tolerance: float64 rounding
    assert prepared.scaler.mean[0] == pytest.approx(ot[:8640].mean(), rel=1e-12)
    assert prepared.scaler.std[0] == pytest.approx(ot[:8640].std(), rel=1e-12)
    x, y = prepared.test[0]
    expected = (ot[11424:11544] - ot[:8640].mean()) / ot[:8640].std()
    np.testing.assert_allclose(x[0, :, 0].numpy(), expected[:96], rtol=0, atol=1e-5)
    np.testing.assert_allclose(y[0, :, 0].numpy(), expected[96:], rtol=0, atol=1e-5)
    assert len(prepared.test) == 2857


# --- no leaks ----------------------------------------------------------------------------------
def test_scaler_and_training_windows_ignore_validation_and_test_rows(tmp_path):
    rows = hourly_rows(100)
    first = prepare_file(write_csv(tmp_path / "a.csv", ["date", "a", "b"], rows), "standard")
    for row in rows[70:]:  # change every validation and test value
        row[1], row[2] = "1e6", "-1e6"
    second = prepare_file(write_csv(tmp_path / "b.csv", ["date", "a", "b"], rows), "standard")
    assert first.split.train == (0, 70)
    np.testing.assert_array_equal(first.scaler.mean, second.scaler.mean)
    np.testing.assert_array_equal(first.scaler.std, second.scaler.std)
    for a, b in zip(first.train[:], second.train[:]):
        assert torch.equal(a, b)


def prepare_file(path, scaler="none"):
    data = ForecastData(data=str(path), features="M", lookback=5, horizon=3, scaler=scaler)
    return prepare(read_columns(data), data)


def test_every_target_row_lies_inside_its_own_part(tmp_path):
    prepared = prepare_file(write_csv(tmp_path / "s.csv", ["date", "a", "b"], hourly_rows(100)))
    split = prepared.split
    assert (split.train, split.valid, split.test) == ((0, 70), (65, 80), (75, 100))
    # (windows, first target row, last target row, first input row); column a = the row index
    for windows, first_target, last_target, first_input in [
        (prepared.train, 5, 69, 0),
        (prepared.valid, 70, 79, 65),
        (prepared.test, 80, 99, 75),
    ]:
        x, y = windows[:]
        assert int(y[..., 0].min()) == first_target
        assert int(y[..., 0].max()) == last_target
        assert int(x[..., 0].min()) == first_input
        assert torch.equal(x[:, -1, 0] + 1, y[:, 0, 0])  # inputs end right before the targets


def test_windows_have_stride_one_and_count_rows_minus_lookback_minus_horizon_plus_one():
    data = torch.arange(20, dtype=torch.float32).unsqueeze(1)
    windows = Windows(data, (0, 20), lookback=4, horizon=2, inputs=[0], targets=[0])
    assert len(windows) == 20 - 4 - 2 + 1
    x, _ = windows[:]
    assert x[:, 0, 0].tolist() == list(range(15))


def test_too_few_rows_for_one_window_names_the_lookback_and_horizon():
    data = torch.zeros(10, 1)
    message = error_of(lambda: Windows(data, (0, 10), 8, 3, [0], [0], "test part of x.csv"))
    assert "test part of x.csv" in message and "--lookback 8 + --horizon 3 = 11" in message


def test_fraction_split_defaults_to_70_10_20():
    split = fraction_split(1000, 24, (0.7, 0.1, 0.2))
    assert (split.train, split.valid, split.test) == ((0, 700), (676, 800), (776, 1000))


def test_fraction_split_without_validation_keeps_the_last_rows_for_test():
    split = fraction_split(200, 10, (0.75, 0.0, 0.25))
    assert (split.train, split.valid, split.test) == ((0, 150), None, (140, 200))


# --- scalers -----------------------------------------------------------------------------------
def test_standard_scaler_round_trips_and_uses_population_std():
    values = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    scaler = StandardScaler().fit(values)
    assert scaler.mean.tolist() == [3.0, 5.0]
    assert scaler.std[0] == pytest.approx(math.sqrt(8 / 3), rel=1e-12)
    assert scaler.std[1] == 1.0  # a constant column is centred, not divided by zero
    restored = scaler_from_dict(scaler.to_dict())
    np.testing.assert_allclose(restored.inverse_transform(scaler.transform(values)), values)


def test_minmax_scaler_maps_training_rows_onto_zero_one():
    values = np.array([[2.0], [4.0], [6.0]])
    scaler = scaler_from_dict(MinMaxScaler().fit(values).to_dict())
    assert scaler.transform(values)[:, 0].tolist() == [0.0, 0.5, 1.0]
    assert scaler.transform(torch.tensor([[10.0]])).item() == pytest.approx(2.0)


# --- reading CSV files and their errors ----------------------------------------------------------
def test_read_csv_reads_timestamps_and_frequency(hourly):
    series = read_csv(hourly)
    assert series.columns == ["a", "b"] and series.values.shape == (48, 2)
    assert series.time_column == "date"
    assert series.frequency == Frequency(seconds=3600)
    assert series.frequency.season() == 24
    assert series.future_timestamps(2) == ["2020-01-03 00:00:00", "2020-01-03 01:00:00"]


def test_missing_value_names_line_and_column(tmp_path):
    rows = hourly_rows(10)
    rows[4][2] = ""
    path = write_csv(tmp_path / "m.csv", ["date", "a", "b"], rows)
    message = error_of(lambda: read_csv(path))
    assert "line 6, column 'b': missing value" in message and "--fill" in message


def test_fill_interpolate_and_ffill(tmp_path):
    rows = hourly_rows(6)
    rows[2][1], rows[3][1] = "NA", ""
    path = write_csv(tmp_path / "m.csv", ["date", "a", "b"], rows)
    assert read_csv(path, fill="interpolate").values[:, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert read_csv(path, fill="ffill").values[:, 0].tolist() == [0, 1, 1, 1, 4, 5]


def test_non_numeric_cell_names_line_column_and_value(tmp_path):
    rows = hourly_rows(10)
    rows[6][1] = "12,5kg"
    path = write_csv(tmp_path / "n.csv", ["date", "a", "b"], rows)
    message = error_of(lambda: read_csv(path))
    assert "line 8, column 'a': expected a number, found '12,5kg'" in message


def test_unknown_column_lists_the_columns(hourly):
    message = error_of(lambda: read_csv(hourly, columns=["OT"]))
    assert "no column 'OT'" in message and "date, a, b" in message


def test_unknown_time_column(hourly):
    message = error_of(lambda: read_csv(hourly, time_column="when"))
    assert "no column 'when' for --time-column" in message


def test_unparseable_timestamp_names_line_and_value(tmp_path):
    rows = hourly_rows(10)
    rows[3][0] = "2020-01-01 25:00:00"
    path = write_csv(tmp_path / "t.csv", ["date", "a", "b"], rows)
    message = error_of(lambda: read_csv(path))
    assert "line 5, column 'date': cannot read timestamp '2020-01-01 25:00:00'" in message


def test_irregular_timestamp_is_an_error(tmp_path):
    rows = hourly_rows(10)
    rows[5][0] = "2020-01-01 05:30:00"
    path = write_csv(tmp_path / "t.csv", ["date", "a", "b"], rows)
    message = error_of(lambda: read_csv(path))
    assert "line 7" in message and "irregular" in message and "1:00:00" in message


def test_timestamps_out_of_order_are_an_error(tmp_path):
    rows = hourly_rows(10)
    rows[4], rows[5] = rows[5], rows[4]
    path = write_csv(tmp_path / "t.csv", ["date", "a", "b"], rows)
    assert "line 7" in error_of(lambda: read_csv(path))


def test_a_gap_in_the_timestamps_needs_fill_and_is_filled_with_it(tmp_path):
    rows = hourly_rows(10)
    del rows[4:6]  # hours 4 and 5 missing
    path = write_csv(tmp_path / "g.csv", ["date", "a", "b"], rows)
    assert "leaves 2 missing step(s)" in error_of(lambda: read_csv(path))
    series = read_csv(path, fill="interpolate")
    assert len(series) == 10
    assert series.values[:, 0].tolist() == list(range(10))
    assert series.timestamps[4].hour == 4


def test_monthly_series_with_short_years_continue_into_the_next_year(tmp_path):
    rows = [[f"{1 + i // 12}-{1 + i % 12:02d}", str(i)] for i in range(24)]
    path = write_csv(tmp_path / "shampoo.csv", ["Month", "Sales"], rows)
    series = read_csv(path)
    assert series.frequency == Frequency(months=1) and series.frequency.season() == 12
    assert series.future_timestamps(2) == ["3-01", "3-02"]


def test_fifteen_minute_series_has_a_daily_season(tmp_path):
    rows = [[f"2020-01-01 {i // 4:02d}:{15 * (i % 4):02d}:00", str(i)] for i in range(20)]
    series = read_csv(write_csv(tmp_path / "m.csv", ["date", "x"], rows))
    assert series.frequency.season() == 96
    assert series.future_timestamps(1) == ["2020-01-01 05:00:00"]


def test_text_columns_are_left_out_when_columns_are_not_named(tmp_path):
    rows = [[r[0], "station-1", r[1]] for r in hourly_rows(5)]
    series = read_csv(write_csv(tmp_path / "t.csv", ["date", "station", "a"], rows))
    assert series.columns == ["a"]
