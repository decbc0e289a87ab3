"""Diagnostics: the gradient per step against hand-computed and hand-unrolled cases, gate
saturation on known gate values, the spectra of known matrices, the clip share of records."""

import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.cells import LSTMCell
from rnnkit.diagnostics import (
    clip_share,
    find_recurrent_layer,
    gate_saturation,
    gradient_per_step,
    recurrent_spectra,
)
from rnnkit.errors import InputError


def linear_rnn(w: float) -> rnnkit.RNN:
    """A 1-unit RNN h_t = relu(w h_{t-1} + x_t) that stays linear for positive inputs."""
    layer = rnnkit.RNN(1, 1, nonlinearity="relu", batch_first=True)
    with torch.no_grad():
        layer.weight_hh_l0.fill_(w)
        layer.weight_ih_l0.fill_(1.0)
        layer.bias_ih_l0.zero_()
        layer.bias_hh_l0.zero_()
    return layer


@pytest.mark.parametrize("w", [0.5, 0.9, 1.3])
def test_linear_one_unit_rnn_gradient_is_w_to_the_t_minus_t_times_the_last(w):
    """|dL/dh_t| = |w|^(T-t) |dL/dh_T| with L = (h_T - 3)^2, so |dL/dh_T| = 2 |h_T - 3|."""
    layer, steps = linear_rnn(w), 12
    x = torch.rand(1, steps, 1) + 0.1  # positive: relu is the identity

    def loss_of(batch):
        outputs, _ = layer(batch)  # (1, T, 1)
        return (outputs[0, -1, 0] - 3.0) ** 2

    flow = gradient_per_step(layer, loss_of, [x], layer)
    with torch.no_grad():
        h_last = float(layer(x)[0][0, -1, 0])
    expected = [w ** (steps - t) * 2 * abs(h_last - 3.0) for t in range(1, steps + 1)]
    assert flow["steps"] == steps and flow["sequences_per_step"] == [1] * steps
    assert flow["grad_norm_per_step"] == pytest.approx(expected, rel=1e-5)
    assert flow["first_to_last"] == pytest.approx(w ** (steps - 1), rel=1e-5)
    assert flow["gate_saturation"] == {}  # a plain RNN has no gates


def test_watching_leaves_the_layer_and_the_parameters_gradients_as_they_were():
    layer = linear_rnn(0.5)
    gradient_per_step(layer, lambda x: layer(x)[0].sum(), [torch.rand(2, 4, 1)], layer)
    assert layer.backend == "auto" and "_scan" not in vars(layer) and "_step" not in vars(layer)
    assert all(p.grad is None for p in layer.parameters())
    assert layer.training  # eval mode only while measuring


def test_lstm_gradient_per_step_equals_a_hand_unrolled_loop_over_padded_sequences():
    """Total derivatives from an independent loop that adds a zero eps_t to every h_t; only
    the sequences still running at t count in g_t."""
    torch.manual_seed(0)
    layer = rnnkit.LSTM(3, 5, batch_first=True)
    x, lengths = torch.randn(4, 6, 3), torch.tensor([6, 4, 2, 6])
    weights = torch.randn(6, 5)

    def loss_of(batch):
        outputs, (h_n, _) = layer(batch, lengths=lengths)  # (B, T, H), (1, B, H)
        return (outputs * weights).sum() + h_n.pow(2).sum()

    flow = gradient_per_step(layer, loss_of, [x], layer)

    eps = [torch.zeros(4, 5, requires_grad=True) for _ in range(6)]
    h = c = torch.zeros(4, 5)
    gx = nn.functional.linear(x, layer.weight_ih_l0, layer.bias_ih_l0)  # (B, T, 4H)
    loss = 0.0
    for t in range(6):
        h_new, c_new = LSTMCell.recurrence(gx[:, t], (h, c), layer.weight_hh_l0, layer.bias_hh_l0)
        h_new = h_new + eps[t]
        running = (t < lengths).unsqueeze(1)  # (B, 1)
        loss = loss + (h_new * running * weights[t]).sum()
        h, c = torch.where(running, h_new, h), torch.where(running, c_new, c)
    loss = loss + h.pow(2).sum()
    grads = torch.autograd.grad(loss, eps)
    expected = [float(g[t < lengths].norm(dim=1).mean()) for t, g in enumerate(grads)]
    assert flow["sequences_per_step"] == [4, 4, 3, 3, 2, 2]
    assert flow["grad_norm_per_step"] == pytest.approx(expected, rel=1e-5)


def test_only_the_last_layer_of_a_stack_is_watched():
    """A 2-layer GRU measures the same as its top layer alone, fed the bottom layer's outputs."""
    torch.manual_seed(0)
    stack = rnnkit.GRU(2, 3, num_layers=2, batch_first=True)
    bottom, top = rnnkit.GRU(2, 3, batch_first=True), rnnkit.GRU(3, 3, batch_first=True)
    state = stack.state_dict()
    bottom.load_state_dict({k: v for k, v in state.items() if k.endswith("_l0")})
    top.load_state_dict({k.replace("_l1", "_l0"): v for k, v in state.items() if "_l1" in k})
    x = torch.randn(2, 5, 2)
    with torch.no_grad():
        inputs = bottom(x)[0]  # (B, T, 3): what the top layer reads
    flow = gradient_per_step(stack, lambda b: stack(b)[0].pow(2).sum(), [x], stack)
    alone = gradient_per_step(top, lambda b: top(b)[0].pow(2).sum(), [inputs], top)
    assert flow["layer_index"] == 1
    assert flow["grad_norm_per_step"] == pytest.approx(alone["grad_norm_per_step"], rel=1e-5)


def test_saturation_of_known_gate_values():
    values = torch.tensor([0.01, 0.04, 0.5, 0.3, 0.7, 0.96, 0.999, 0.6])
    result = gate_saturation(values)
    assert result["below"] == 2 / 8 and result["above"] == 2 / 8 and result["saturated"] == 0.5
    assert result["values"] == 8 and sum(result["histogram"]) == 8
    assert result["histogram"][0] == 2 and result["histogram"][-1] == 2


def test_lstm_and_gru_gates_set_by_their_biases_are_reported_saturated_or_not():
    lstm = rnnkit.LSTM(2, 3, batch_first=True)
    gru = rnnkit.GRU(2, 3, batch_first=True)
    with torch.no_grad():
        for layer, biases in ((lstm, [-10.0, 10.0, 0.0, 0.0]), (gru, [10.0, -10.0, 0.0])):
            for p in layer.parameters():
                p.zero_()
            layer.bias_ih_l0.copy_(torch.tensor(biases).repeat_interleave(3))
    x = torch.randn(4, 5, 2)
    lstm_gates = gradient_per_step(lstm, lambda b: lstm(b)[0].sum(), [x], lstm)["gate_saturation"]
    assert {g: s["saturated"] for g, s in lstm_gates.items()} == {
        "input": 1.0,
        "forget": 1.0,
        "output": 0.0,  # sigmoid(0) = 0.5
    }
    assert lstm_gates["input"]["below"] == 1.0 and lstm_gates["forget"]["above"] == 1.0
    assert lstm_gates["input"]["values"] == 4 * 5 * 3  # every unit of every step
    gru_gates = gradient_per_step(gru, lambda b: gru(b)[0].sum(), [x], gru)["gate_saturation"]
    assert gru_gates["reset"]["above"] == 1.0 and gru_gates["update"]["below"] == 1.0


def test_spectral_radius_and_largest_singular_value_of_a_known_w_hh():
    """W_hh = [[0, 2], [0.5, 0]]: eigenvalues +-1, singular values 2 and 0.5."""
    layer = rnnkit.RNN(1, 2)
    with torch.no_grad():
        layer.weight_hh_l0.copy_(torch.tensor([[0.0, 2.0], [0.5, 0.0]]))
    (row,) = recurrent_spectra(layer)
    assert row["weight"] == "weight_hh_l0" and row["gate"] == "hidden"
    assert row["spectral_radius"] == pytest.approx(1.0, abs=1e-6)
    assert row["largest_singular_value"] == pytest.approx(2.0, abs=1e-6)


def test_spectra_cover_every_gate_block_of_layers_and_cells():
    model = nn.ModuleDict(
        {"encoder": rnnkit.LSTM(2, 3, num_layers=2), "cell": rnnkit.GRUCell(2, 3)}
    )
    rows = recurrent_spectra(model)
    assert [(r["weight"], r["gate"]) for r in rows[:4]] == [
        ("encoder.weight_hh_l0", gate) for gate in ("input", "forget", "candidate", "output")
    ]
    assert len(rows) == 4 + 4 + 3
    assert rows[-1]["weight"] == "cell.weight_hh" and rows[-1]["gate"] == "candidate"


def test_clip_share_weighs_each_record_by_the_steps_it_covers():
    records = [
        {"step": 10, "clipped": 0.5, "grad_norm": 2.0, "grad_norm_max": 3.0},
        {"step": 30, "clipped": 0.0, "grad_norm": 0.5, "grad_norm_max": 0.9},
    ]
    share = clip_share(records)
    assert share["share"] == pytest.approx(5 / 30) and share["steps"] == 30
    assert share["grad_norm_max"] == 3.0 and share["grad_norm_last"] == 0.5
    assert clip_share([{"step": 10, "val_loss": 1.0}]) is None  # not recorded
    assert clip_share([]) is None


def test_a_model_without_a_recurrent_layer_is_refused_in_one_line():
    with pytest.raises(InputError, match="has no recurrent layer"):
        find_recurrent_layer(nn.Sequential(nn.Linear(2, 2)))
