"""The sampler: temperature, top-k and top-p change the distribution exactly as documented."""

import pytest
import torch

from rnnkit import sampling

LOGITS = torch.log(torch.tensor([0.5, 0.2, 0.15, 0.1, 0.05]))


def _probs(**kwargs):
    return torch.softmax(sampling.filter_logits(LOGITS, **kwargs), dim=-1)


def test_temperature_one_keeps_the_model_distribution():
    assert torch.allclose(_probs(temperature=1.0), torch.softmax(LOGITS, -1), atol=1e-6)


def test_lower_temperature_sharpens_and_higher_flattens():
    def entropy(p):
        return float(-(p * p.log()).sum())

    base = entropy(_probs(temperature=1.0))
    assert entropy(_probs(temperature=0.5)) < base < entropy(_probs(temperature=2.0))
    expected = torch.softmax(LOGITS / 0.5, -1)  # p ∝ p_model ** 2
    assert torch.allclose(_probs(temperature=0.5), expected, atol=1e-6)


def test_top_k_keeps_exactly_the_k_most_likely_renormalised():
    probs = _probs(top_k=2)
    assert torch.allclose(probs, torch.tensor([0.5, 0.2, 0, 0, 0]) / 0.7, atol=1e-6)


def test_top_p_keeps_the_smallest_set_reaching_p():
    assert torch.count_nonzero(_probs(top_p=0.5)) == 1  # 0.5 alone reaches 0.5
    assert torch.count_nonzero(_probs(top_p=0.6)) == 2  # 0.5 + 0.2
    assert torch.count_nonzero(_probs(top_p=0.85)) == 3  # 0.5 + 0.2 + 0.15
    assert torch.count_nonzero(_probs(top_p=1.0)) == 5


def test_zero_temperature_is_greedy():
    assert int(sampling.sample(LOGITS, temperature=0)) == 0


def test_samples_follow_the_filtered_distribution():
    generator = torch.Generator().manual_seed(0)
    draws = sampling.sample(LOGITS.expand(20000, 5), top_k=3, generator=generator)
    frequencies = torch.bincount(draws, minlength=5).float() / 20000
    expected = torch.tensor([0.5, 0.2, 0.15, 0, 0]) / 0.85
    assert torch.allclose(frequencies, expected, atol=0.015)  # ~4 standard errors


def test_fixed_generator_seed_repeats():
    draws = [
        sampling.sample(LOGITS.expand(50, 5), generator=torch.Generator().manual_seed(5))
        for _ in range(2)
    ]
    assert torch.equal(*draws)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"temperature": -1, "top_k": None, "top_p": None}, "--temperature"),
        ({"temperature": 1, "top_k": 0, "top_p": None}, "--top-k"),
        ({"temperature": 1, "top_k": None, "top_p": 1.5}, "--top-p"),
    ],
)
def test_bad_options_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sampling.check_options(**kwargs)
