"""The count-based baselines: interpolated Kneser-Ney against probabilities computed by hand on a
toy stream, every distribution summing to 1, and the add-one unigram model."""

from __future__ import annotations

import math
import random

import pytest

from rnnkit.models.ngram import KneserNey, Unigram

# ids: a = 0, b = 1, c = 2, d = 3 (in the vocabulary, never seen). The stream "a b a b c".
A, B, C, D = range(4)
STREAM = [A, B, A, B, C]

# By hand, with every discount 0.5 (module docstring's formulas). Continuation counts of the
# unigrams: a follows start and b (2), b follows a (1), c follows b (1); 4 in all, 3 kinds.
# P_1(w) = max(a(w) - 0.5, 0) / 4 + 0.5 * 3 / 4 * 1/4
P1 = {A: 1.5 / 4 + 0.09375, B: 0.5 / 4 + 0.09375, C: 0.5 / 4 + 0.09375, D: 0.09375}
# after b: b a (1), b c (1): total 2, 2 kinds -> (max(a - 0.5, 0)) / 2 + 0.5 * 2 / 2 * P_1
P2_AFTER_B = {A: 0.25 + 0.5 * P1[A], B: 0.5 * P1[B], C: 0.25 + 0.5 * P1[C], D: 0.5 * P1[D]}


def test_bigram_probabilities_equal_the_hand_computed_ones():
    model = KneserNey(vocab_size=4, order=2, discounts=[0.5, 0.5]).fit(STREAM)
    assert P1 == {A: 0.46875, B: 0.21875, C: 0.21875, D: 0.09375}  # the arithmetic, spelled out
    for word in range(4):
        assert model.probability(word, [B]) == pytest.approx(P2_AFTER_B[word], abs=1e-12)
        assert model.probability(word, [C]) == pytest.approx(P1[word], abs=1e-12)  # unseen: P_1
    # after a: a b twice -> (2 - 0.5) / 2 + 0.5 * 1 / 2 * P_1(b)
    assert model.probability(B, [A]) == pytest.approx(0.75 + 0.25 * P1[B], abs=1e-12)
    assert model.probability(A, [A]) == pytest.approx(0.25 * P1[A], abs=1e-12)


def test_trigram_probabilities_use_raw_counts_on_top_and_continuation_counts_below():
    model = KneserNey(vocab_size=4, order=3, discounts=[0.5, 0.5, 0.5]).fit(STREAM)
    # after "a b": a b a (1), a b c (1); the middle order after b is the bigram model's above
    assert model.probability(C, [A, B]) == pytest.approx(0.25 + 0.5 * P2_AFTER_B[C], abs=1e-12)
    assert model.probability(B, [A, B]) == pytest.approx(0.5 * P2_AFTER_B[B], abs=1e-12)
    # after "start a": start a b (1) -> 0.5 / 1 + 0.5 * 1 / 1 * P_2(b | a)
    p2_b_after_a = 0.75 + 0.25 * P1[B]
    assert model.probability(B, [A]) == pytest.approx(0.5 + 0.5 * p2_b_after_a, abs=1e-12)


def test_discounts_are_estimated_from_the_counts_of_counts():
    model = KneserNey(vocab_size=4, order=2).fit(STREAM)
    # bigram counts 1, 2, 1, 1: n1 = 3, n2 = 1 -> 3 / 5; unigram continuations 2, 1, 1 -> 2 / 4
    assert model.discounts == pytest.approx([0.5, 0.6])


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_every_distribution_sums_to_one(order):
    generator = random.Random(0)
    stream = [generator.choice(range(8)) for _ in range(300)] + [9, 9]  # id 8 never occurs
    model = KneserNey(vocab_size=10, order=order).fit(stream)
    contexts = [[], [9], [9, 9], [8, 8, 8], [3, 1, 4], stream[:5], stream[-3:], [0] * 6]
    for context in contexts:
        probabilities = model.distribution(context)
        assert math.fsum(probabilities) == pytest.approx(1.0, abs=1e-12), context
        assert min(probabilities) > 0  # every id, seen or not, has a probability


def test_cross_entropy_is_the_mean_negative_log_probability_of_each_next_token():
    model = KneserNey(vocab_size=4, order=2, discounts=[0.5, 0.5]).fit(STREAM)
    expected = -(math.log(model.probability(B, [A])) + math.log(model.probability(C, [B]))) / 2
    assert model.cross_entropy([A, B, C]) == pytest.approx(expected, abs=1e-12)


def test_unigram_is_add_one_smoothed_and_sums_to_one():
    model = Unigram(vocab_size=4).fit(STREAM)
    assert model.probability(A) == pytest.approx(3 / 9) and model.probability(D) == 1 / 9
    assert math.fsum(model.probability(w) for w in range(4)) == pytest.approx(1.0, abs=1e-12)


def test_bad_orders_and_discounts_are_refused():
    with pytest.raises(ValueError, match="order must be >= 1"):
        KneserNey(4, order=0)
    with pytest.raises(ValueError, match="discounts must be 2 values in"):
        KneserNey(4, order=2, discounts=[0.5, 1.5])
