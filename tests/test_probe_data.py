"""The long-range probes' generators, baselines and the 'solved' rule."""

import math

import pytest
import torch

from rnnkit.data.probes import (
    BLANK,
    DELIMITER,
    adding_batch,
    copy_batch,
    generator,
    probe_batch,
)
from rnnkit.models.probe import ProbeModelConfig
from rnnkit.tasks.probe import (
    ProbeData,
    ProbeTask,
    baseline_loss,
    build_model,
    held_out,
    solved,
)


def test_adding_inputs_have_two_markers_one_per_half_and_the_target_is_their_sum():
    x, y = adding_batch(64, 31, generator("test"))
    assert x.shape == (64, 31, 2) and y.shape == (64,)
    values, markers = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert set(markers.unique().tolist()) == {0.0, 1.0}
    assert (markers.sum(1) == 2).all()
    assert (markers[:, :15].sum(1) == 1).all() and (markers[:, 15:].sum(1) == 1).all()
    torch.testing.assert_close(y, (values * markers).sum(1), rtol=0, atol=1e-6)


@pytest.mark.parametrize("delay", [1, 7, 100])
def test_copy_input_is_ten_symbols_blanks_delimiter_and_the_target_repeats_the_symbols(delay):
    x, y = copy_batch(32, delay, generator("test"))
    steps = delay + 20
    assert x.shape == y.shape == (32, steps) and x.dtype == y.dtype == torch.long
    symbols = x[:, :10]
    assert ((symbols >= 1) & (symbols <= 8)).all()
    assert (x[:, 10 : 10 + delay - 1] == BLANK).all()
    assert (x[:, 10 + delay - 1] == DELIMITER).all()  # T steps after the last symbol
    assert (x[:, -10:] == BLANK).all()
    assert (y[:, : delay + 10] == BLANK).all()
    assert torch.equal(y[:, -10:], symbols)


def test_batches_are_pure_functions_of_their_seed_and_held_out_sets_ignore_the_run_seed():
    data = ProbeData(probe="adding", length=10, batch_size=8, valid_size=16)
    config = ProbeModelConfig(hidden_size=4)
    a, b, other = (ProbeTask(build_model(data, config), data, seed) for seed in (3, 3, 4))
    assert torch.equal(a.batch(2, 5)[0], b.batch(2, 5)[0])
    assert not torch.equal(a.batch(2, 5)[0], a.batch(2, 6)[0])
    assert not torch.equal(a.batch(0, 0)[0], other.batch(0, 0)[0])
    assert torch.equal(a.valid[0], other.valid[0])  # the same validation set for every seed
    assert not torch.equal(held_out(data, "valid")[0], held_out(data, "test")[0])


def test_adding_baseline_is_the_targets_variance_one_sixth():
    _, y = adding_batch(4000, 50, generator("test"))
    # the mean of (y - 1)^2 over 4000 sums has a standard deviation of 0.003
    assert baseline_loss("adding", y) == pytest.approx(1 / 6, abs=0.012)


@pytest.mark.parametrize("delay", [5, 50, 100, 200])
def test_copy_baseline_is_ten_ln8_over_t_plus_20(delay):
    _, y = copy_batch(16, delay, generator("test"))
    assert baseline_loss("copy", y) == pytest.approx(10 * math.log(8) / (delay + 20), rel=1e-12)


def test_solved_means_mse_below_001_or_cross_entropy_below_one_percent_of_the_baseline():
    assert solved("adding", 0.0099, 0.167) and not solved("adding", 0.0101, 0.167)
    assert solved("copy", 0.00099, 0.1) and not solved("copy", 0.0011, 0.1)


def test_unknown_probe_and_too_short_sequences_raise():
    with pytest.raises(ValueError, match="unknown probe 'sum'"):
        probe_batch("sum", 2, 10, generator("test"))
    with pytest.raises(ValueError, match="length >= 2"):
        adding_batch(2, 1, generator("test"))
