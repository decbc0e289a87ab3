"""Attention: scores against PyTorch and by hand, masks, causal, gradcheck in float64."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from rnnkit import attention

TOL = 1e-5


def _inputs(batch=2, tq=3, tk=5, d=4, dtype=torch.float32):
    torch.manual_seed(0)
    return (
        torch.randn(batch, tq, d, dtype=dtype),
        torch.randn(batch, tk, d, dtype=dtype),
        torch.randn(batch, tk, 6, dtype=dtype),
    )


def _all(d=4):
    return {
        "dot": attention.DotAttention(),
        "scaled-dot": attention.ScaledDotProductAttention(),
        "general": attention.GeneralAttention(d, d),
        "additive": attention.AdditiveAttention(d, d, 8),
    }


def test_scaled_dot_matches_torch_sdpa_forward_and_gradients():
    q, k, v = (t.requires_grad_() for t in _inputs())
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    context, _ = attention.ScaledDotProductAttention()(q, k, v, mask=mask)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, :])
    assert (context - expected).abs().max() <= TOL
    grads = torch.autograd.grad(context.sum(), (q, k, v))
    expected_grads = torch.autograd.grad(expected.sum(), (q, k, v))
    for got, want in zip(grads, expected_grads, strict=True):
        assert (got - want).abs().max() <= TOL


def test_dot_is_sdpa_with_unit_scale_and_causal_matches_torch():
    q, k, v = _inputs(tq=5)
    context, _ = attention.DotAttention()(q, k, v, causal=True)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0)
    assert (context - expected).abs().max() <= TOL


def test_general_score_is_q_w_k():
    q, k, v = _inputs()
    attn = attention.GeneralAttention(4, 4)
    _, weights = attn(q, k, v)
    scores = torch.einsum("bqd,de,bke->bqk", q, attn.weight, k)
    assert (weights - torch.softmax(scores, -1)).abs().max() <= TOL


def test_additive_score_is_v_tanh_wq_plus_uk():
    q, k, v = _inputs()
    attn = attention.AdditiveAttention(4, 4, 8)
    _, weights = attn(q, k, v)
    w, u, b = attn.query_proj.weight, attn.key_proj.weight, attn.key_proj.bias
    scores = torch.empty(2, 3, 5)
    for bi in range(2):
        for i in range(3):
            for j in range(5):
                scores[bi, i, j] = attn.v @ torch.tanh(w @ q[bi, i] + u @ k[bi, j] + b)
    assert (weights - torch.softmax(scores, -1)).abs().max() <= TOL


@pytest.mark.parametrize("kind", ["dot", "scaled-dot", "general", "additive"])
def test_masked_keys_get_exactly_zero_and_rows_sum_to_one(kind):
    q, k, v = _inputs()
    mask = torch.tensor([[True, True, True, False, False], [True, False, True, False, True]])
    _, weights = _all()[kind](q, k, v, mask=mask)
    assert torch.all(weights[~mask.unsqueeze(1).expand_as(weights)] == 0)
    assert (weights.sum(-1) - 1).abs().max() <= TOL


@pytest.mark.parametrize("kind", ["dot", "scaled-dot", "general", "additive"])
def test_causal_query_never_sees_a_later_key(kind):
    q, k, v = _inputs(tq=5, tk=5)
    _, weights = _all()[kind](q, k, v, causal=True)
    assert torch.all(torch.triu(weights, diagonal=1) == 0)
    assert (weights.sum(-1) - 1).abs().max() <= TOL


def test_causal_with_fewer_queries_aligns_them_to_the_last_keys():
    q, k, v = _inputs(tq=2, tk=5)
    _, weights = attention.DotAttention()(q, k, v, causal=True)
    assert torch.all(weights[:, 0, 4] == 0) and torch.all(weights[:, 0, :4] > 0)
    assert torch.all(weights[:, 1] > 0)


def test_fully_masked_row_raises_clear_error():
    q, k, v = _inputs()
    mask = torch.tensor([[True] * 5, [False] * 5])
    with pytest.raises(ValueError, match="every key masked"):
        attention.DotAttention()(q, k, v, mask=mask)


def test_wrong_mask_shape_is_named():
    q, k, v = _inputs()
    with pytest.raises(ValueError, match=r"expected shape \(2, 5\) or \(2, 3, 5\), got \(2, 4\)"):
        attention.DotAttention()(q, k, v, mask=torch.ones(2, 4, dtype=torch.bool))


def test_values_default_to_keys_and_weights_are_inspectable():
    q, k, _ = _inputs()
    attn = attention.ScaledDotProductAttention()
    context, weights = attn(q, k)
    assert context.shape == (2, 3, 4)
    assert torch.equal(attn.last_weights, weights.detach())
    expected = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(4), -1) @ k
    assert (context - expected).abs().max() <= TOL


@pytest.mark.parametrize("kind", ["dot", "scaled-dot", "general", "additive"])
def test_attention_gradcheck_float64(kind):
    q, k, v = (t.requires_grad_() for t in _inputs(dtype=torch.float64))
    attn = _all()[kind].double()
    mask = torch.tensor([[True, True, True, False, True], [True] * 5])
    params = tuple(attn.parameters())
    names = [n for n, _ in attn.named_parameters()]

    def fn(q, k, v, *ps):
        return torch.func.functional_call(attn, dict(zip(names, ps)), (q, k, v), {"mask": mask})[0]

    assert gradcheck(fn, (q, k, v, *params))


def test_build_by_name_and_unknown_kind():
    assert isinstance(attention.build("additive", 3, 5), attention.AdditiveAttention)
    with pytest.raises(ValueError, match="unknown attention 'luong'"):
        attention.build("luong", 3, 3)


@pytest.mark.parametrize("kind", ["dot", "scaled-dot", "general", "additive"])
def test_keys_projected_once_give_the_same_attention(kind):
    q, k, v = _inputs()
    attn = _all()[kind]
    mask = torch.tensor([[True, True, True, False, False], [True] * 5])
    expected = attn(q, k, v, mask=mask)
    got = attn(q, k, v, mask=mask, projected_keys=attn.project_keys(k))
    for a, b in zip(got, expected, strict=True):
        assert torch.equal(a, b)
