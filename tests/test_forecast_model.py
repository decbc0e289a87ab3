"""The forecaster's shapes and window normalisation, the baselines, and learning the seed's sine."""

import pytest
import torch

from rnnkit.data.windows import Windows
from rnnkit.errors import InputError
from rnnkit.models.forecaster import Forecaster, ForecasterConfig
from rnnkit.tasks.forecast import (
    ForecastData,
    ForecastTask,
    baseline_forecasts,
    build_model,
    evaluate_windows,
    prepare,
    read_columns,
)
from rnnkit.training.trainer import TrainConfig, Trainer


def make(**options) -> Forecaster:
    """3 input columns, 2 outputs (input columns 2 and 0), horizon 5."""
    config = ForecasterConfig(**{"hidden_size": 8, **options})
    return Forecaster(config, input_size=3, output_size=2, horizon=5, target_inputs=[2, 0])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("decoder", ["direct", "autoregressive"])
@pytest.mark.parametrize("attention", ["none", "general"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_forecaster_maps_a_window_to_horizon_by_targets(cell, decoder, attention, bidirectional):
    model = make(
        cell=cell,
        decoder=decoder,
        attention=attention,
        bidirectional=bidirectional,
        num_layers=2,
    )
    x = torch.randn(4, 7, 3)  # (B, L, Cin)
    y = model(x)
    assert y.shape == (4, 5, 2)
    y.sum().backward()  # every parameter takes part in the forecast
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("decoder", ["direct", "autoregressive"])
def test_window_norm_last_makes_forecasts_follow_a_level_shift(decoder):
    torch.manual_seed(0)
    model = make(decoder=decoder, window_norm="last").eval()
    x = torch.randn(2, 6, 3)
    shift = torch.tensor([1.5, -2.0, 4.0])
    moved = model(x + shift) - model(x)  # outputs are input columns 2 and 0
    expected = torch.tensor([4.0, 1.5]).expand_as(moved)
    torch.testing.assert_close(moved, expected, atol=1e-5, rtol=0)


def test_parameter_count_is_the_number_of_weights():
    model = make(cell="gru", hidden_size=8)
    gru = 3 * 8 * (3 + 8) + 2 * 3 * 8  # weight_ih, weight_hh, two biases
    head = (8 + 1) * 5 * 2
    assert model.parameter_count() == gru + head


def test_dot_attention_with_a_bidirectional_encoder_and_decoder_is_refused():
    with pytest.raises(InputError, match="general or additive"):
        make(decoder="autoregressive", attention="dot", bidirectional=True)


def test_baselines_read_the_rows_before_each_window():
    data = ForecastData(data="synthetic:sine", lookback=30, horizon=4, season=25, scaler="none")
    prepared = prepare(read_columns(data), data)
    windows = prepared.test
    forecasts = baseline_forecasts(prepared, windows)
    series = prepared.scaled[:, 0]
    now = int(windows.starts[0]) + 30  # first target row of the first window
    assert forecasts["naive"][0, :, 0].tolist() == [series[now - 1].item()] * 4
    assert forecasts["seasonal_naive"][0, :, 0].tolist() == series[now - 25 : now - 21].tolist()
    train_mean = series[: prepared.split.train[1]].mean().item()
    assert forecasts["train_mean"][0, 0, 0].item() == pytest.approx(train_mean, abs=1e-6)


def test_seasonal_naive_repeats_the_last_season_beyond_one_period():
    data = torch.arange(40, dtype=torch.float32).unsqueeze(1)
    from rnnkit.tasks.forecast import Prepared

    windows = Windows(data, (0, 40), lookback=3, horizon=7, inputs=[0], targets=[0])
    split = type("S", (), {"train": (0, 10)})()
    prepared = Prepared(None, data, None, split, [0], [0], 3, data[:10, 0].mean(0, True),
                        windows, None, windows)  # fmt: skip
    forecast = baseline_forecasts(prepared, windows)["seasonal_naive"]
    now = int(windows.starts[5]) + 3
    # period 3: targets now..now+6 repeat rows now-3, now-2, now-1
    assert forecast[5, :, 0].tolist() == [now - 3, now - 2, now - 1] * 2 + [now - 3]


def test_a_tiny_gru_learns_the_seed_sine_well_below_the_naive_baseline(tmp_path):
    """The seed's example: train on the first 150 points, test on the last 50 (one step ahead).
    The noise U(-0.2, 0.2) alone gives MSE 0.0133 in original units; the naive forecast ~0.038."""
    data = ForecastData(
        data="synthetic:sine", lookback=20, horizon=1, split="0.75,0,0.25", batch_size=16
    )
    prepared = prepare(read_columns(data), data)
    assert prepared.split.train == (0, 150) and len(prepared.test) == 50
    options = ForecasterConfig(cell="gru", hidden_size=16, window_norm="none")
    model = build_model(prepared, options, data.horizon)
    task = ForecastTask(model, prepared, data.batch_size, seed=0)
    train = TrainConfig(
        lr=0.01, max_steps=300, eval_every=25, progress=False, tensorboard=False, seed=0
    )
    Trainer(task, train, tmp_path).fit()
    from rnnkit.training.checkpoint import load_model

    load_model(tmp_path / "model.safetensors", model)
    metrics = evaluate_windows(model, prepared)["metrics"]
    assert metrics["model"]["mse_original"] < 0.7 * metrics["naive"]["mse_original"]
    assert metrics["model"]["mse_original"] < 0.027


# --- SegRNN: segment-wise input and parallel segment-wise output -------------------------------


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_segment_forecaster_maps_a_window_to_horizon_by_targets(cell, layers):
    model = make(cell=cell, num_layers=layers, segment=3)  # horizon 5: two segments, trimmed
    y = model(torch.randn(4, 9, 3))  # (B, L, Cin), L = 3 segments
    assert y.shape == (4, 5, 2)
    y.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_segment_forecaster_is_segrnn_computed_directly():
    """e_n = ReLU(W_e x_seg + b_e), h_N = GRU(e), z_m = GRU_step(p_m, h_N), y = W_o z_m + b_o."""
    torch.manual_seed(0)
    model = make(cell="gru", segment=2, window_norm="none").eval()
    x = torch.randn(3, 6, 3)  # 3 segments of 2 steps, 3 columns
    gru = torch.nn.GRU(8, 8, batch_first=True)
    gru.load_state_dict(model.encoder.state_dict())
    segments = torch.stack([x[:, 2 * n : 2 * n + 2].reshape(3, 6) for n in range(3)], dim=1)
    embedded = torch.relu(
        segments @ model.segment_embedding.weight.T + model.segment_embedding.bias
    )
    _, h = gru(embedded)  # (1, B, 8)
    expected = []
    for b in range(3):
        for m in range(3):  # ceil(5 / 2) output segments
            _, z = gru(model.positions[m].view(1, 1, 8), h[:, b : b + 1])
            expected.append(model.head(z[0, 0]).view(2, 2))  # 2 steps x 2 targets
    expected = torch.stack(expected).view(3, 6, 2)[:, :5]
    torch.testing.assert_close(model(x), expected, atol=1e-6, rtol=1e-5)


def test_segment_forecaster_refuses_a_window_that_is_not_whole_segments():
    with pytest.raises(ValueError, match="7 steps are not a whole number of 3-step segments"):
        make(segment=3)(torch.randn(2, 7, 3))


@pytest.mark.parametrize(
    "options", [{"decoder": "autoregressive"}, {"attention": "dot"}, {"bidirectional": True}]
)
def test_segment_forecaster_refuses_what_it_cannot_combine(options):
    with pytest.raises(InputError, match="--segment 3 predicts the horizon segment by segment"):
        make(segment=3, **options)


@pytest.mark.parametrize("segment", [0, 3])
@pytest.mark.parametrize("decoder", ["direct", "autoregressive"])
def test_window_norm_revin_makes_forecasts_follow_scale_and_shift(segment, decoder):
    if segment and decoder == "autoregressive":
        pytest.skip("segments decode directly")
    torch.manual_seed(0)
    model = make(window_norm="revin", segment=segment, decoder=decoder).eval()
    x = torch.randn(2, 6, 3)
    scale, shift = torch.tensor([2.0, 0.5, 3.0]), torch.tensor([1.5, -2.0, 4.0])
    # outputs are input columns 2 and 0: y(a x + b) = a y(x) + b per column
    expected = model(x) * torch.tensor([3.0, 2.0]) + torch.tensor([4.0, 1.5])
    torch.testing.assert_close(model(x * scale + shift), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("loss", ["mse", "mae"])
def test_the_training_loss_is_the_chosen_one_and_validation_stays_mse(loss):
    data = ForecastData(data="synthetic:sine", lookback=8, horizon=3, batch_size=4, loss=loss)
    prepared = prepare(read_columns(data), data)
    model = build_model(prepared, ForecasterConfig(cell="gru", hidden_size=4), data.horizon)
    task = ForecastTask(model, prepared, data.batch_size, seed=0, loss=data.loss)
    x, y = task.batch(0, 0)
    value, _, count = task.training_loss((x, y), None)
    error = model(x).detach() - y
    direct = error.abs().mean() if loss == "mae" else error.pow(2).mean()
    assert count == 4 and torch.allclose(value.detach(), direct)
    windows = prepared.windows("valid")
    vx, vy = windows[0 : len(windows)]
    with torch.no_grad():
        expected = (model(vx) - vy).pow(2).mean()
    assert task.evaluate()["loss"] == pytest.approx(float(expected), rel=1e-5)
