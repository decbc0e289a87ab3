"""Layers: reference and fused backends against torch.nn.RNN/LSTM/GRU, forward and gradients."""

import logging
import random

import pytest
import torch
from torch.autograd import gradcheck
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit

TOL = 1e-5  # float32 max abs difference, outputs, states and every gradient

KINDS = {
    "rnn-tanh": (rnnkit.RNN, torch.nn.RNN, {"nonlinearity": "tanh"}),
    "rnn-relu": (rnnkit.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (rnnkit.LSTM, torch.nn.LSTM, {}),
    "gru": (rnnkit.GRU, torch.nn.GRU, {}),
}


def _configs(count=24, seed=1234):
    rng = random.Random(seed)
    kinds = list(KINDS)
    configs = []
    for i in range(count):
        configs.append(
            dict(
                kind=kinds[i % len(kinds)],
                num_layers=rng.randint(1, 3),
                bidirectional=rng.random() < 0.5,
                batch_first=rng.random() < 0.5,
                with_hx=rng.random() < 0.5,
                variable_lengths=rng.random() < 0.6,
                bias=rng.random() < 0.85,
                seed=rng.randrange(10_000),
            )
        )
    return configs


def _states(h):
    return list(h) if isinstance(h, tuple) else [h]


def _run_torch(module, x, hx, lengths, batch_first):
    if lengths is None:
        return module(x, hx)
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    out, h = module(packed, hx)
    out, _ = pad_packed_sequence(
        out, batch_first=batch_first, total_length=x.shape[1 if batch_first else 0]
    )
    return out, h


@pytest.mark.parametrize("config", _configs(), ids=lambda c: "-".join(f"{v}" for v in c.values()))
def test_backends_match_torch_forward_and_gradients(config):
    check_backends_against_torch(config, "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none in CI)")
@pytest.mark.parametrize("config", _configs(), ids=lambda c: "-".join(f"{v}" for v in c.values()))
def test_backends_match_torch_on_cuda(config, monkeypatch):
    """The same check on the GPU, with TF32 off so that float32 means float32. There torch.nn's
    cuDNN kernels are not the most exact float32 answer (on rnn-tanh seed 996 their worst gradient
    error against float64 was 8.3e-5, the reference backend's 2.2e-6, with gradients up to 13), so
    reference and fused are held against torch.nn in float64 on the CPU: each must be within TOL
    times the largest magnitude among the expected tensors of that kind, or no further off than
    twice torch.nn's own GPU result is."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    check_backends_against_torch(config, "cuda", against_float64=True)


def check_backends_against_torch(config: dict, device: str, against_float64: bool = False) -> None:
    """reference and fused against torch.nn on ``device``: outputs, final states and every
    gradient within TOL. ``against_float64``: all three against torch.nn in float64 on the CPU."""
    ours_cls, torch_cls, kwargs = KINDS[config["kind"]]
    torch.manual_seed(config["seed"])
    steps, batch, input_size, hidden = 7, 5, 4, 6
    build = dict(
        num_layers=config["num_layers"],
        bidirectional=config["bidirectional"],
        batch_first=config["batch_first"],
        bias=config["bias"],
        **kwargs,
    )
    reference = torch_cls(input_size, hidden, **build)
    modules = {"torch": (reference, device, torch.float32)}
    for backend in ("reference", "fused"):
        ours = ours_cls(input_size, hidden, backend=backend, **build)
        ours.load_state_dict(reference.state_dict())
        modules[backend] = (ours, device, torch.float32)
    if against_float64:
        truth = torch_cls(input_size, hidden, **build)
        truth.load_state_dict(reference.state_dict())
        modules["float64"] = (truth, "cpu", torch.float64)
    shape = (batch, steps, input_size) if config["batch_first"] else (steps, batch, input_size)
    x = torch.randn(shape)
    lengths = torch.randint(1, steps + 1, (batch,)) if config["variable_lengths"] else None
    if lengths is not None:
        lengths[0] = steps
    directions = 2 if config["bidirectional"] else 1
    state_shape = (config["num_layers"] * directions, batch, hidden)
    hx = None
    if config["with_hx"]:
        hx = tuple(torch.randn(state_shape) for _ in range(2 if ours_cls is rnnkit.LSTM else 1))
        hx = hx if ours_cls is rnnkit.LSTM else hx[0]

    results = {}
    for name, (module, place, dtype) in modules.items():
        module.to(place, dtype)
        x_leaf = x.to(place, dtype).clone().requires_grad_(True)
        hx_leaf = None
        if hx is not None:
            hx_leaf = tuple(s.to(place, dtype).clone().requires_grad_(True) for s in _states(hx))
            hx_leaf = hx_leaf if ours_cls is rnnkit.LSTM else hx_leaf[0]
        if name in ("torch", "float64"):
            out, h = _run_torch(module, x_leaf, hx_leaf, lengths, config["batch_first"])
        else:
            out, h = module(x_leaf, hx_leaf, lengths=lengths)
        torch.manual_seed(0)
        weight = torch.randn(out.shape).to(place, dtype)  # not randn_like: strides differ
        loss = (out * weight).sum()
        for state in _states(h):
            loss = loss + (state * torch.randn(state.shape).to(place, dtype)).sum()
        loss.backward()
        grads = {"input": x_leaf.grad}
        grads.update({n: p.grad for n, p in module.named_parameters()})
        if hx_leaf is not None:
            grads.update({f"hx{i}": s.grad for i, s in enumerate(_states(hx_leaf))})
        as64 = {k: v.detach().cpu().double() for k, v in grads.items()}
        states = [s.detach().cpu().double() for s in _states(h)]
        results[name] = (out.detach().cpu().double(), states, as64)

    expected_out, expected_states, expected_grads = results[
        "float64" if against_float64 else "torch"
    ]
    scales = {"values": 1.0, "grads": 1.0}
    if against_float64:  # float32 is exact to a share of the largest magnitude it sums
        scales["values"] = max(
            1.0, *(float(t.abs().max()) for t in [expected_out, *expected_states])
        )
        scales["grads"] = max(1.0, *(float(g.abs().max()) for g in expected_grads.values()))

    def close(value, expected, kind: str, torch_value=None) -> bool:
        bound = TOL * scales[kind]
        if torch_value is not None:  # as exact as torch.nn's own kernels on this device
            bound = max(bound, 2 * float((torch_value - expected).abs().max()))
        return float((value - expected).abs().max()) <= bound

    torch_out, torch_states, torch_grads = results["torch"]
    if not against_float64:
        torch_out, torch_states, torch_grads = None, [None] * len(torch_states), {}
    for backend in ("reference", "fused"):
        out, states, grads = results[backend]
        assert out.shape == expected_out.shape
        assert close(out, expected_out, "values", torch_out), backend
        for state, expected, theirs in zip(states, expected_states, torch_states, strict=True):
            assert close(state, expected, "values", theirs), backend
        assert grads.keys() == expected_grads.keys()
        for key, grad in grads.items():
            assert close(grad, expected_grads[key], "grads", torch_grads.get(key)), (backend, key)


@pytest.mark.parametrize("kind", list(KINDS))
def test_packed_sequence_input_returns_packed_output(kind):
    ours_cls, torch_cls, kwargs = KINDS[kind]
    torch.manual_seed(5)
    reference = torch_cls(3, 4, bidirectional=True, **kwargs)
    ours = ours_cls(3, 4, bidirectional=True, backend="reference", **kwargs)
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(6, 4, 3)
    packed = pack_padded_sequence(x, torch.tensor([2, 6, 6, 3]), enforce_sorted=False)
    out_ref, h_ref = reference(packed)
    out_ours, h_ours = ours(packed)
    assert isinstance(out_ours, torch.nn.utils.rnn.PackedSequence)
    assert torch.equal(out_ours.batch_sizes, out_ref.batch_sizes)
    assert (out_ours.data - out_ref.data).abs().max() <= TOL
    for a, b in zip(_states(h_ours), _states(h_ref), strict=True):
        assert (a - b).abs().max() <= TOL


def test_padded_outputs_are_zero_and_h_n_is_last_valid_step():
    torch.manual_seed(6)
    layer = rnnkit.GRU(3, 4, backend="reference")
    x = torch.randn(5, 2, 3)
    out, h_n = layer(x, lengths=torch.tensor([5, 2]))
    assert torch.equal(out[2:, 1], torch.zeros(3, 4))
    assert torch.allclose(h_n[0, 1], out[1, 1])
    alone, h_alone = layer(x[:2, 1:2])
    assert (alone[:, 0] - out[:2, 1]).abs().max() <= TOL


@pytest.mark.parametrize("kind", list(KINDS))
def test_unbatched_input_matches_torch(kind):
    ours_cls, torch_cls, kwargs = KINDS[kind]
    reference = torch_cls(3, 4, num_layers=2, **kwargs)
    ours = ours_cls(3, 4, num_layers=2, backend="reference", **kwargs)
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(5, 3)
    out_ref, h_ref = reference(x)
    out_ours, h_ours = ours(x)
    assert out_ours.shape == out_ref.shape == (5, 4)
    assert (out_ours - out_ref).abs().max() <= TOL
    for a, b in zip(_states(h_ours), _states(h_ref), strict=True):
        assert a.shape == b.shape and (a - b).abs().max() <= TOL


@pytest.mark.parametrize("kind", list(KINDS))
def test_state_dict_round_trips_with_torch(kind):
    ours_cls, torch_cls, kwargs = KINDS[kind]
    ours = ours_cls(3, 4, num_layers=2, bidirectional=True, **kwargs)
    reference = torch_cls(3, 4, num_layers=2, bidirectional=True, **kwargs)
    assert list(ours.state_dict()) == list(reference.state_dict())
    reference.load_state_dict(ours.state_dict())
    back = ours_cls(3, 4, num_layers=2, bidirectional=True, **kwargs)
    back.load_state_dict(reference.state_dict())
    for name, value in ours.state_dict().items():
        assert torch.equal(back.state_dict()[name], value)


def test_gru_reset_before_runs_reference_under_auto_and_says_why(caplog):
    layer = rnnkit.GRU(3, 4, reset_after=False)
    with caplog.at_level(logging.DEBUG, logger="rnnkit.layers"):
        layer(torch.randn(5, 2, 3))
    assert layer.last_backend == "reference"
    assert "reset_after=False" in layer.last_backend_reason
    assert any("backend reference" in r.getMessage() for r in caplog.records)


def test_auto_picks_fused_when_it_computes_the_same():
    layer = rnnkit.LSTM(3, 4)
    layer(torch.randn(5, 2, 3))
    assert layer.last_backend == "fused"
    assert layer.last_backend_reason.startswith("auto")


def test_fused_backend_refused_when_it_would_compute_something_else():
    with pytest.raises(ValueError, match="reset_after=False"):
        rnnkit.GRU(3, 4, reset_after=False, backend="fused")(torch.randn(5, 2, 3))


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_layer_gradcheck_float64(reset_after, bidirectional):
    torch.manual_seed(7)
    layer = rnnkit.GRU(
        2,
        3,
        num_layers=2,
        bidirectional=bidirectional,
        reset_after=reset_after,
        backend="reference",
    ).double()
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 2])
    assert gradcheck(lambda x: layer(x, lengths=lengths)[0], (x,))


def test_dropout_applies_between_layers_only_in_training():
    torch.manual_seed(8)
    layer = rnnkit.LSTM(3, 8, num_layers=2, dropout=0.5, backend="reference")
    x = torch.randn(4, 2, 3)
    layer.eval()
    assert torch.equal(layer(x)[0], layer(x)[0])
    layer.train()
    assert not torch.equal(layer(x)[0], layer(x)[0])


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda m: m(torch.randn(5, 2, 4)), r"input_size=3.*got \(5, 2, 4\)"),
        (lambda m: m(torch.randn(5, 2, 2, 3)), r"expected input of shape.*got \(5, 2, 2, 3\)"),
        (
            lambda m: m(torch.randn(5, 2, 3), torch.randn(1, 2, 4)),
            r"expected hx of shape \(2, 2, 4\), got \(1, 2, 4\)",
        ),
        (
            lambda m: m(torch.randn(5, 2, 3), lengths=torch.tensor([5, 2, 1])),
            r"expected lengths of shape \(2,\), got \(3,\)",
        ),
        (
            lambda m: m(torch.randn(5, 2, 3), lengths=torch.tensor([6, 2])),
            r"lengths must lie in \[1, 5\]",
        ),
        (
            lambda m: m(torch.randn(5, 2, 3), lengths=torch.tensor([0, 2])),
            r"lengths must lie in \[1, 5\]",
        ),
    ],
    ids=["input-size", "rank", "hx-shape", "lengths-shape", "too-long", "zero-length"],
)
def test_bad_shapes_raise_value_error_naming_expected_and_received(call, message):
    with pytest.raises(ValueError, match=message):
        call(rnnkit.GRU(3, 4, num_layers=2))


def test_lstm_hx_must_be_a_pair():
    with pytest.raises(ValueError, match=r"tuple \(h_0, c_0\)"):
        rnnkit.LSTM(3, 4)(torch.randn(5, 2, 3), torch.randn(1, 2, 4))
