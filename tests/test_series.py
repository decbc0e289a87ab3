"""Reading series: CSV files and their errors (each naming the line and column), timestamps, their
frequency and season, and filling missing values and gaps."""

import pytest

from rnnkit.data.series import Frequency, read_csv
from rnnkit.errors import InputError


@pytest.fixture
def hourly(tmp_path, write_csv, hourly_rows):
    return write_csv(tmp_path / "hourly.csv", ["date", "a", "b"], hourly_rows(48))


def error_of(call) -> str:
    with pytest.raises(InputError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_read_csv_reads_timestamps_and_frequency(hourly):
    series = read_csv(hourly)
    assert series.columns == ["a", "b"] and series.values.shape == (48, 2)
    assert series.time_column == "date"
    assert series.frequency == Frequency(seconds=3600)
    assert series.frequency.season() == 24
    assert series.future_timestamps(2) == ["2020-01-03 00:00:00", "2020-01-03 01:00:00"]


def test_missing_value_names_line_and_column(tmp_path, write_csv, hourly_rows):
    rows = hourly_rows(10)
    rows[4][2] = ""
    path = write_csv(tmp_path / "m.csv", ["date", "a", "b"], rows)
    message = error_of(lambda: read_csv(path))
    assert "line 6, column 'b': missing value" in message and "--fill" in message


def test_fill_interpolate_and_ffill(tmp_path, write_csv, hourly_rows):
    rows = hourly_rows(6)
    rows[2][1], rows[3][1] = "NA", ""
    path = write_csv(tmp_path / "m.csv", ["date", "a", "b"], rows)
    assert read_csv(path, fill="interpolate").values[:, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert read_csv(path, fill="ffill").values[:, 0].tolist() == [0, 1, 1, 1, 4, 5]


def test_non_numeric_cell_names_line_column_and_value(tmp_path, write_csv, hourly_rows):
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


def test_unparseable_timestamp_names_line_and_value(tmp_path, write_csv, hourly_rows):
    rows = hourly_rows(10)
    rows[3][0] = "2020-01-01 25:00:00"
    path = write_csv(tmp_path / "t.csv", ["date", "a", "b"], rows)
    message = error_of(lambda: read_csv(path))
    assert "line 5, column 'date': cannot read timestamp '2020-01-01 25:00:00'" in message


def test_irregular_timestamp_is_an_error(tmp_path, write_csv, hourly_rows):
    rows = hourly_rows(10)
    rows[5][0] = "2020-01-01 05:30:00"
    path = write_csv(tmp_path / "t.csv", ["date", "a", "b"], rows)
    message = error_of(lambda: read_csv(path))
    assert "line 7" in message and "irregular" in message and "1:00:00" in message


def test_timestamps_out_of_order_are_an_error(tmp_path, write_csv, hourly_rows):
    rows = hourly_rows(10)
    rows[4], rows[5] = rows[5], rows[4]
    path = write_csv(tmp_path / "t.csv", ["date", "a", "b"], rows)
    assert "line 7" in error_of(lambda: read_csv(path))


def test_a_gap_in_the_timestamps_needs_fill_and_is_filled_with_it(tmp_path, write_csv, hourly_rows):
    rows = hourly_rows(10)
    del rows[4:6]  # hours 4 and 5 missing
    path = write_csv(tmp_path / "g.csv", ["date", "a", "b"], rows)
    assert "leaves 2 missing step(s)" in error_of(lambda: read_csv(path))
    series = read_csv(path, fill="interpolate")
    assert len(series) == 10
    assert series.values[:, 0].tolist() == list(range(10))
    assert series.timestamps[4].hour == 4


def test_monthly_series_with_short_years_continue_into_the_next_year(tmp_path, write_csv):
    rows = [[f"{1 + i // 12}-{1 + i % 12:02d}", str(i)] for i in range(24)]
    path = write_csv(tmp_path / "shampoo.csv", ["Month", "Sales"], rows)
    series = read_csv(path)
    assert series.frequency == Frequency(months=1) and series.frequency.season() == 12
    assert series.future_timestamps(2) == ["3-01", "3-02"]


def test_fifteen_minute_series_has_a_daily_season(tmp_path, write_csv):
    rows = [[f"2020-01-01 {i // 4:02d}:{15 * (i % 4):02d}:00", str(i)] for i in range(20)]
    series = read_csv(write_csv(tmp_path / "m.csv", ["date", "x"], rows))
    assert series.frequency.season() == 96
    assert series.future_timestamps(1) == ["2020-01-01 05:00:00"]


def test_text_columns_are_left_out_when_columns_are_not_named(tmp_path, write_csv, hourly_rows):
    rows = [[r[0], "station-1", r[1]] for r in hourly_rows(5)]
    series = read_csv(write_csv(tmp_path / "t.csv", ["date", "station", "a"], rows))
    assert series.columns == ["a"]
