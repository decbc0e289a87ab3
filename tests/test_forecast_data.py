"""The forecast task's data: a series split, scaled and cut into windows by ``prepare``, with
nothing from validation or test leaking into training (row indices checked exactly)."""

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.tasks.forecast import ForecastData, prepare, read_columns


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


def test_scaler_and_training_windows_ignore_validation_and_test_rows(
    tmp_path, write_csv, hourly_rows
):
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


def test_every_target_row_lies_inside_its_own_part(tmp_path, write_csv, hourly_rows):
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
