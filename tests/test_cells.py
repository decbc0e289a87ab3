"""Cells: parity with torch.nn cells (forward and gradients), gradcheck, state_dict both ways."""

import pytest
import torch
from torch.autograd import gradcheck

import rnnkit

TOL = 1e-5  # float32 max abs difference

CASES = [
    (rnnkit.RNNCell, torch.nn.RNNCell, {"nonlinearity": "tanh"}),
    (rnnkit.RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
    (rnnkit.LSTMCell, torch.nn.LSTMCell, {}),
    (rnnkit.GRUCell, torch.nn.GRUCell, {}),
]


def _pair(ours_cls, torch_cls, kwargs, bias=True):
    reference = torch_cls(5, 7, bias=bias, **kwargs)
    ours = ours_cls(5, 7, bias=bias, **kwargs)
    ours.load_state_dict(reference.state_dict())
    return ours, reference


def _flat(out):
    return torch.cat([o.reshape(-1) for o in out]) if isinstance(out, tuple) else out.reshape(-1)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("ours_cls,torch_cls,kwargs", CASES)
def test_cell_matches_torch_forward_and_gradients(ours_cls, torch_cls, kwargs, bias):
    torch.manual_seed(0)
    ours, reference = _pair(ours_cls, torch_cls, kwargs, bias)
    x = torch.randn(3, 5)
    h = torch.randn(3, 7)
    hx = (h, torch.randn(3, 7)) if ours_cls is rnnkit.LSTMCell else h
    out_ours, out_ref = _flat(ours(x, hx)), _flat(reference(x, hx))
    assert (out_ours - out_ref).abs().max() <= TOL
    weights = torch.randn_like(out_ref)
    (out_ours * weights).sum().backward()
    (out_ref * weights).sum().backward()
    for name, param in ours.named_parameters():
        other = dict(reference.named_parameters())[name]
        assert (param.grad - other.grad).abs().max() <= TOL, name


@pytest.mark.parametrize("ours_cls,torch_cls,kwargs", CASES)
def test_cell_unbatched_and_default_state_match_torch(ours_cls, torch_cls, kwargs):
    torch.manual_seed(1)
    ours, reference = _pair(ours_cls, torch_cls, kwargs)
    x = torch.randn(5)
    assert (_flat(ours(x)) - _flat(reference(x))).abs().max() <= TOL


@pytest.mark.parametrize("ours_cls,torch_cls,kwargs", CASES)
def test_state_dict_loads_into_torch(ours_cls, torch_cls, kwargs):
    ours = ours_cls(4, 6, **kwargs)
    reference = torch_cls(4, 6, **kwargs)
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(2, 4)
    assert (_flat(ours(x)) - _flat(reference(x))).abs().max() <= TOL


@pytest.mark.parametrize(
    "cell",
    [
        rnnkit.RNNCell(3, 4, nonlinearity="tanh"),
        rnnkit.RNNCell(3, 4, nonlinearity="relu"),
        rnnkit.LSTMCell(3, 4),
        rnnkit.GRUCell(3, 4, reset_after=True),
        rnnkit.GRUCell(3, 4, reset_after=False),
    ],
    ids=["rnn-tanh", "rnn-relu", "lstm", "gru-reset-after", "gru-reset-before"],
)
def test_cell_gradcheck_float64(cell):
    torch.manual_seed(2)
    cell = cell.double()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    params = tuple(cell.parameters())
    if isinstance(cell, rnnkit.LSTMCell):
        c = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)

        def fn(x, h, c, *ps):
            return torch.func.functional_call(
                cell, dict(zip(dict(cell.named_parameters()), ps)), (x, (h, c))
            )

        assert gradcheck(fn, (x, h, c, *params))
    else:

        def fn(x, h, *ps):
            return torch.func.functional_call(
                cell, dict(zip(dict(cell.named_parameters()), ps)), (x, h)
            )

        assert gradcheck(fn, (x, h, *params))


def test_gru_reset_before_follows_the_original_equations():
    """reset_after=False: n = tanh(W_in x + b_in + W_hn (r * h) + b_hn), checked by hand."""
    torch.manual_seed(3)
    cell = rnnkit.GRUCell(3, 4, reset_after=False)
    x, h = torch.randn(2, 3), torch.randn(2, 4)
    w_ir, w_iz, w_in = cell.weight_ih.chunk(3)
    w_hr, w_hz, w_hn = cell.weight_hh.chunk(3)
    b_ir, b_iz, b_in = cell.bias_ih.chunk(3)
    b_hr, b_hz, b_hn = cell.bias_hh.chunk(3)
    r = torch.sigmoid(x @ w_ir.T + b_ir + h @ w_hr.T + b_hr)
    z = torch.sigmoid(x @ w_iz.T + b_iz + h @ w_hz.T + b_hz)
    n = torch.tanh(x @ w_in.T + b_in + (r * h) @ w_hn.T + b_hn)
    expected = (1 - z) * n + z * h
    assert (cell(x, h) - expected).abs().max() <= TOL
    # and it differs from the reset-after form on the same weights
    after = rnnkit.GRUCell(3, 4, reset_after=True)
    after.load_state_dict(cell.state_dict())
    assert (after(x, h) - expected).abs().max() > 1e-4


def test_cell_rejects_wrong_input_size():
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 5\).*got \(3, 4\)"):
        rnnkit.LSTMCell(5, 7)(torch.randn(3, 4))


def test_cell_rejects_wrong_state_shape():
    with pytest.raises(ValueError, match=r"expected state of shape \(3, 7\), got \(3, 6\)"):
        rnnkit.GRUCell(5, 7)(torch.randn(3, 5), torch.randn(3, 6))


def test_rnn_cell_rejects_unknown_nonlinearity():
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        rnnkit.RNNCell(2, 3, nonlinearity="sigmoid")
