"""The report's arithmetic on known numbers (tolerance 1e-9 unless stated)."""

import math

import pytest

from rnnkit.studies.stats import mean_sd, paired_difference, t_quantile_975


def test_mean_and_sample_standard_deviation():
    mean, sd = mean_sd([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
    assert mean == pytest.approx(5.0, abs=1e-9)
    assert sd == pytest.approx(math.sqrt(32 / 7), abs=1e-9)  # divisor n - 1


def test_one_value_has_no_spread():
    assert mean_sd([0.8]) == (0.8, None)


def test_t_quantile_is_the_table_up_to_30_degrees_of_freedom():
    assert t_quantile_975(1) == 12.706
    assert t_quantile_975(2) == 4.303
    assert t_quantile_975(30) == 2.042


@pytest.mark.parametrize(("df", "exact"), [(31, 2.0395), (40, 2.0211), (60, 2.0003), (120, 1.9799)])
def test_t_quantile_beyond_the_table_is_within_2e_4(df, exact):
    assert t_quantile_975(df) == pytest.approx(exact, abs=2e-4)


def test_paired_difference_on_known_numbers():
    # differences 0.02, 0.01, 0.04: mean 0.07/3, sd sqrt(0.00046667/2) = 0.0152753,
    # half-width t(0.975, 2) * sd / sqrt(3) = 4.303 * 0.0152753 / 1.7320508 = 0.0379489
    found = paired_difference([(0.80, 0.82), (0.81, 0.82), (0.79, 0.83)])
    assert found.n == 3
    assert found.mean == pytest.approx(0.07 / 3, abs=1e-9)
    assert found.half_width == pytest.approx(0.0379489, abs=1e-7)
    assert not found.excludes_zero  # [-0.0146, +0.0613]


def test_paired_difference_whose_interval_excludes_zero():
    found = paired_difference([(0.0, 2.0), (0.0, 2.1), (0.0, 1.9)])  # sd 0.1: 2 +- 0.248
    assert found.low == pytest.approx(2 - 4.303 * 0.1 / math.sqrt(3), abs=1e-9)
    assert found.excludes_zero


def test_paired_difference_whose_interval_includes_zero():
    found = paired_difference([(1.0, 2.0), (2.0, 1.0), (1.0, 1.5)])  # differences 1, -1, 0.5
    assert found.mean == pytest.approx(1 / 6, abs=1e-9)
    assert not found.excludes_zero


def test_one_pair_has_no_interval():
    found = paired_difference([(0.5, 0.7)])
    assert found.mean == pytest.approx(0.2, abs=1e-9) and found.half_width is None
