"""``backend="compiled"``: the reference loop with the LSTM's fused gate function computes what
the plain reference loop computes, forward and backward (<= 1e-5), and says how it ran."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit import gates

TOLERANCE = 1e-5


def _pair(cls, **options):
    torch.manual_seed(0)
    reference = cls(5, 7, 2, batch_first=True, backend="reference", **options)
    compiled = cls(5, 7, 2, batch_first=True, backend="compiled", **options)
    compiled.load_state_dict(reference.state_dict())
    return reference, compiled


def _outputs_and_gradients(layer, x, lengths):
    x = x.clone().requires_grad_(True)
    output, state = layer(x, lengths=lengths)
    h_n, c_n = state
    (output.square().sum() + 2 * h_n.sum() + c_n.sum()).backward()
    gradients = [p.grad for p in layer.parameters()] + [x.grad]
    return [output.detach(), h_n.detach(), c_n.detach()], gradients


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("lengths", [None, [6, 2, 4]])
def test_compiled_lstm_matches_the_reference_forward_and_backward(bidirectional, lengths):
    reference, compiled = _pair(rnnkit.LSTM, bidirectional=bidirectional)
    x = torch.randn(3, 6, 5)
    lengths = None if lengths is None else torch.tensor(lengths)
    expected, expected_gradients = _outputs_and_gradients(reference, x, lengths)
    got, got_gradients = _outputs_and_gradients(compiled, x, lengths)
    for a, b in zip(got + got_gradients, expected + expected_gradients):
        assert float((a - b).abs().max()) <= TOLERANCE
    assert compiled.last_backend == "compiled"
    assert compiled.last_backend_reason == f"requested: {gates.status()}"


def test_the_gate_function_is_compiled_where_a_compiler_works():
    status = gates.status()
    if "compiled by torch.compile" not in status:
        pytest.skip(f"no working compiler here: {status}")
    assert "inductor" in status


def test_cells_without_a_fused_gate_function_run_the_reference_step():
    reference, compiled = _pair(rnnkit.GRU)
    x = torch.randn(2, 4, 5)
    assert torch.equal(compiled(x)[0], reference(x)[0])
    assert "the reference step" in compiled.last_backend_reason
