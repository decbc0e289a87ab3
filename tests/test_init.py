"""Chrono initialisation (rnnkit.init): which biases it sets, the spread of the time scales it
gives, and the gradient it lets through at initialisation."""

import math

import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.init import chrono_init_


def gate(bias: torch.Tensor, block: int, hidden: int) -> torch.Tensor:
    return bias[block * hidden : (block + 1) * hidden]


@pytest.mark.parametrize("layer_class", [rnnkit.LSTM, nn.LSTM, rnnkit.LayerNormLSTM])
def test_lstm_forget_bias_is_log_uniform_and_the_input_bias_its_negative(layer_class):
    torch.manual_seed(0)
    layer = layer_class(3, 64, num_layers=2, bidirectional=True)
    before = {n: p.clone() for n, p in layer.named_parameters()}
    chrono_init_(layer, 100)
    for suffix in ["_l0", "_l0_reverse", "_l1", "_l1_reverse"]:
        total = getattr(layer, "bias_ih" + suffix) + getattr(layer, "bias_hh" + suffix)  # (4H,)
        forget, input_ = gate(total, 1, 64), gate(total, 0, 64)
        assert torch.all(forget >= 0) and torch.all(forget <= math.log(99) + 1e-6)
        assert torch.equal(input_, -forget)
        # time scale 1 / (1 - sigma(b_f)) = 1 + e^b_f, spread over [2, T_max]
        scale = 1 + forget.exp()
        assert scale.min() >= 2 - 1e-5 and scale.max() <= 100 + 1e-4
        assert scale.max() - scale.min() > 50  # spread out, not one value
        for block in (2, 3):  # candidate and output gates keep torch.nn's initialisation
            for kind in ("bias_ih", "bias_hh"):
                name = kind + suffix
                assert torch.equal(
                    gate(getattr(layer, name), block, 64), gate(before[name], block, 64)
                )
        assert torch.equal(getattr(layer, "weight_hh" + suffix), before["weight_hh" + suffix])
    # each layer and direction draws its own values
    assert not torch.equal(layer.bias_hh_l0, layer.bias_hh_l0_reverse)


@pytest.mark.parametrize("layer_class", [rnnkit.GRU, nn.GRU])
def test_gru_update_bias_is_log_uniform_and_the_other_gates_keep_theirs(layer_class):
    torch.manual_seed(0)
    layer = layer_class(3, 32)
    before = layer.bias_hh_l0.clone(), layer.bias_ih_l0.clone()
    chrono_init_(layer, 50)
    update = gate(layer.bias_ih_l0 + layer.bias_hh_l0, 1, 32)
    assert torch.all(update >= 0) and torch.all(update <= math.log(49) + 1e-6)
    assert torch.all(gate(layer.bias_ih_l0, 1, 32) == 0)
    for block in (0, 2):
        assert torch.equal(gate(layer.bias_hh_l0, block, 32), gate(before[0], block, 32))
        assert torch.equal(gate(layer.bias_ih_l0, block, 32), gate(before[1], block, 32))


def test_chrono_refuses_a_gateless_rnn_a_short_horizon_and_missing_biases():
    with pytest.raises(ValueError, match="needs gates"):
        chrono_init_(rnnkit.RNN(2, 4), 50)
    with pytest.raises(ValueError, match="t_max > 2"):
        chrono_init_(rnnkit.LSTM(2, 4), 2)
    with pytest.raises(ValueError, match="bias=False"):
        chrono_init_(rnnkit.LSTM(2, 4, bias=False), 50)


def first_over_last_gradient(layer: nn.Module, steps: int) -> float:
    """||dL/dx_1|| / ||dL/dx_T|| for L = sum of the last output, at a fixed input."""
    x = torch.randn(steps, 8, 2, generator=torch.Generator().manual_seed(1), requires_grad=True)
    output, _ = layer(x)
    output[-1].sum().backward()
    return (x.grad[0].norm() / x.grad[-1].norm()).item()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_chrono_lets_the_gradient_reach_the_first_of_100_steps_at_initialisation(cell):
    torch.manual_seed(0)
    uniform = rnnkit.LSTM(2, 32) if cell == "lstm" else rnnkit.GRU(2, 32)
    chrono = rnnkit.LSTM(2, 32) if cell == "lstm" else rnnkit.GRU(2, 32)
    chrono.load_state_dict(uniform.state_dict())
    chrono_init_(chrono, 100)
    plain, warped = first_over_last_gradient(uniform, 100), first_over_last_gradient(chrono, 100)
    assert plain < 1e-10  # the uniform initialisation forgets in a few steps
    assert warped > 1e-3 and warped > 1e6 * plain
