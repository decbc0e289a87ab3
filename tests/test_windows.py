"""Splits and windows: Informer's and fractional borders, and every window of a row range (row
indices checked exactly)."""

import pytest
import torch

from rnnkit.data.windows import Windows, fraction_split, informer_split
from rnnkit.errors import InputError


# --- Informer borders -----------------------------------------------------------------------------
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


# --- fraction splits ------------------------------------------------------------------------------
def test_fraction_split_defaults_to_70_10_20():
    split = fraction_split(1000, 24, (0.7, 0.1, 0.2))
    assert (split.train, split.valid, split.test) == ((0, 700), (676, 800), (776, 1000))


def test_fraction_split_without_validation_keeps_the_last_rows_for_test():
    split = fraction_split(200, 10, (0.75, 0.0, 0.25))
    assert (split.train, split.valid, split.test) == ((0, 150), None, (140, 200))


# --- windows --------------------------------------------------------------------------------------
def test_windows_have_stride_one_and_count_rows_minus_lookback_minus_horizon_plus_one():
    data = torch.arange(20, dtype=torch.float32).unsqueeze(1)
    windows = Windows(data, (0, 20), lookback=4, horizon=2, inputs=[0], targets=[0])
    assert len(windows) == 20 - 4 - 2 + 1
    x, _ = windows[:]
    assert x[:, 0, 0].tolist() == list(range(15))


def test_too_few_rows_for_one_window_names_the_lookback_and_horizon():
    data = torch.zeros(10, 1)
    with pytest.raises(InputError) as caught:
        Windows(data, (0, 10), 8, 3, [0], [0], "test part of x.csv")
    message = str(caught.value)
    assert "\n" not in message
    assert "test part of x.csv" in message and "--lookback 8 + --horizon 3 = 11" in message
