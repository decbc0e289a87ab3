"""The text classifier: padding never changes a prediction; attention pooling is a distribution
over the real tokens only."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.tokenize import Tokenizer, Vocab, read_word_vectors
from rnnkit.errors import InputError
from rnnkit.models.classifier import ClassifierConfig, TextClassifier
from rnnkit.tasks.classify import (
    ClassificationTask,
    adversarial_shift,
    pad_batch,
    predict,
    scores,
)

SENTENCE = [5, 9, 3, 7]
OTHERS = [[4, 2, 8, 6, 9, 3, 2, 5, 7], [3, 3], [8, 4, 6, 2, 5, 9]]  # longer and shorter


def make(**options) -> TextClassifier:
    torch.manual_seed(0)
    config = dict(embedding_dim=6, hidden_size=5, dropout=0.0)
    sizes = {"vocab_size": 10, "num_classes": 3}
    sizes.update({k: options.pop(k) for k in list(options) if k in sizes})
    return TextClassifier(ClassifierConfig(**{**config, **options}), **sizes).eval()


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_padding_never_changes_a_prediction(pooling, cell, bidirectional):
    model = make(pooling=pooling, cell=cell, bidirectional=bidirectional, num_layers=2)
    alone = torch.softmax(model(*pad_batch([SENTENCE])), dim=-1)[0]
    ids, lengths = pad_batch([OTHERS[0], SENTENCE, *OTHERS[1:]])  # padded to 9 tokens
    batched = torch.softmax(model(ids, lengths), dim=-1)[1]
    torch.testing.assert_close(batched, alone, atol=1e-6, rtol=0)


@pytest.mark.parametrize("backend", ["reference", "fused"])
def test_padding_invariance_holds_on_both_backends(backend):
    model = make(pooling="attention", backend=backend)
    alone = torch.softmax(model(*pad_batch([SENTENCE])), dim=-1)[0]
    batched = torch.softmax(model(*pad_batch([OTHERS[0], SENTENCE])), dim=-1)[1]
    torch.testing.assert_close(batched, alone, atol=1e-6, rtol=0)


def test_predict_returns_probabilities_in_input_order():
    model = make()
    probabilities, _ = predict(model, [OTHERS[0], SENTENCE, OTHERS[1]], batch_size=2)
    for row, sequence in enumerate([OTHERS[0], SENTENCE, OTHERS[1]]):
        alone = torch.softmax(model(*pad_batch([sequence])), dim=-1)[0]
        torch.testing.assert_close(probabilities[row], alone, atol=1e-6, rtol=0)


def test_attention_weights_are_zero_on_padding_and_sum_to_one():
    model = make(pooling="attention")
    ids, lengths = pad_batch([SENTENCE, *OTHERS])
    _, weights = model.encode(ids, lengths)  # (B, T)
    for row, length in enumerate(lengths.tolist()):
        assert torch.all(weights[row, length:] == 0)  # exactly zero
        assert torch.all(weights[row, :length] > 0)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(len(lengths)), atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", ["additive", "general", "dot", "scaled-dot"])
def test_every_attention_score_can_pool(kind):
    model = make(pooling="attention", attention=kind)
    assert model(*pad_batch([SENTENCE, OTHERS[0]])).shape == (2, 3)


def test_last_pooling_joins_forward_end_and_backward_start():
    model = make(pooling="last", cell="gru", bidirectional=True)
    ids, lengths = pad_batch([SENTENCE])
    outputs, _ = model.rnn(model.embedding(ids), lengths=lengths)  # (1, T, 2H)
    pooled, _ = model.encode(ids, lengths)
    hidden = model.config.hidden_size
    expected = torch.cat([outputs[0, -1, :hidden], outputs[0, 0, hidden:]])
    torch.testing.assert_close(pooled[0], expected, atol=1e-6, rtol=0)


def test_word_dropout_only_acts_while_training():
    model = make(word_dropout=0.5)
    ids, lengths = pad_batch([SENTENCE])
    assert torch.equal(model(ids, lengths), model(ids, lengths))


def test_unknown_pooling_is_an_input_error():
    with pytest.raises(InputError, match="--pooling must be one of last, mean, max, attention"):
        make(pooling="sum")


def test_batches_are_a_pure_function_of_epoch_and_index():
    sequences = [[i + 2] * (1 + i % 4) for i in range(10)]
    task = ClassificationTask(make(), (sequences, [i % 3 for i in range(10)]), ([[[2]]], [0]), 4, 7)
    assert task.steps_per_epoch == 3
    first = task.batch(1, 2)
    assert all(torch.equal(a, b) for a, b in zip(first, task.batch(1, 2)))
    seen = torch.cat([task.batch(1, i)[2] for i in range(3)])
    assert len(seen) == 10
    assert not torch.equal(task.batch(0, 0)[0], task.batch(1, 0)[0])


def test_scores_give_accuracy_f1_and_confusion():
    probabilities = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    result = scores(probabilities, [0, 1, 1, 1], ["neg", "pos"])
    assert result["accuracy"] == pytest.approx(0.75)
    assert result["confusion"] == [[1, 0], [1, 2]]
    assert result["per_class"]["pos"] == pytest.approx(
        {"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3}
    )
    assert result["per_class"]["neg"]["f1"] == pytest.approx(2 / 3)
    assert result["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)


def test_word_vectors_fill_the_embedding_rows_they_cover(tmp_path):
    vocab = Vocab.build([Tokenizer()("good bad film")])
    path = tmp_path / "vectors.txt"
    path.write_text("3 2\nGood 1 2\nfilm 3 4\nzebra 5 6\n", encoding="utf-8")
    vectors, found = read_word_vectors(path, vocab)
    assert vocab.tokens[2:] == ["bad", "film", "good"]
    assert found.tolist() == [False, False, False, True, True]
    model = make(vocab_size=len(vocab), embedding_dim=2)
    model.load_word_vectors(vectors, found)
    assert model.embedding.weight[vocab["good"]].tolist() == [1.0, 2.0]
    assert model.embedding.weight[vocab["film"]].tolist() == [3.0, 4.0]


def test_malformed_word_vector_line_names_file_and_line(tmp_path):
    vocab = Vocab.build([["good"]])
    path = tmp_path / "vectors.txt"
    path.write_text("good 1 2 3\nbad 1 2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"vectors\.txt:2: expected a word and 3 numbers"):
        read_word_vectors(path, vocab)


def _adversarial_task(**options) -> ClassificationTask:
    model = make(adversarial=0.5, **options).train()
    sequences = [SENTENCE, *OTHERS]
    return ClassificationTask(model, (sequences, [0, 1, 2, 1]), ([[[2]]], [0]), 4, 0, None, 0.5)


def test_adversarial_shift_is_the_normalised_gradient_of_each_text():
    gradient = torch.randn(3, 4, 6)
    gradient[1, 2:] = 0  # a shorter text's padding
    shift = adversarial_shift(gradient, 0.7)  # (B, T, E)
    for row in range(3):
        expected = 0.7 * gradient[row] / gradient[row].flatten().norm()
        assert torch.allclose(shift[row], expected, atol=1e-6)
    assert torch.allclose(shift.flatten(1).norm(dim=1), torch.full((3,), 0.7), atol=1e-6)
    assert torch.all(shift[1, 2:] == 0)


def test_adversarial_training_loss_is_the_clean_loss_plus_the_shifted_one():
    """L(x) + L(x + r) against a direct computation (no dropout, so both passes are exact); the
    shifted loss is higher (r follows the gradient), and the padding's shift is zero."""
    task = _adversarial_task()
    ids, lengths = pad_batch([SENTENCE, *OTHERS])
    labels = torch.tensor([0, 1, 2, 1])
    loss, _, count = task.training_loss((ids, lengths, labels), None)
    model = task.model
    x = model.embedding(ids).detach().requires_grad_()
    clean = torch.nn.functional.cross_entropy(model.classify(x, lengths), labels)
    (gradient,) = torch.autograd.grad(clean, x)
    assert torch.all(gradient[3, 6:] == 0)  # the 6-word text's padding
    r = 0.5 * gradient / gradient.flatten(1).norm(dim=1)[:, None, None]
    shifted = torch.nn.functional.cross_entropy(model.classify(x + r, lengths), labels).detach()
    clean = clean.detach()
    assert count == 4 and float(loss.detach()) == pytest.approx(float(clean + shifted), abs=1e-5)
    assert float(shifted) > float(clean)
    loss.backward()  # the gradient reaches the embedding through both passes
    assert model.embedding.weight.grad is not None


def direct_adversarial_backward(model, ids, lengths, labels, epsilon: float) -> torch.Tensor:
    """``L(x) + L(x + r)`` computed and backpropagated the textbook way (gradients cleared
    first, left in ``.grad``); returns its value."""
    model.zero_grad(set_to_none=True)
    x = model.inputs(ids)
    clean = torch.nn.functional.cross_entropy(model.classify(x, lengths), labels)
    (gradient,) = torch.autograd.grad(clean, x, retain_graph=True)
    shifted = x + adversarial_shift(gradient, epsilon)
    direct = clean + torch.nn.functional.cross_entropy(model.classify(shifted, lengths), labels)
    direct.backward()
    return direct.detach()


@pytest.mark.parametrize("pooling", ["max", "attention"])
def test_adversarial_training_gradient_is_that_of_both_losses(pooling):
    """The task hands the clean pass's gradients on through a surrogate (one backward pass
    fewer); every parameter's gradient, the sparse embedding's too, must equal that of a direct
    ``L(x) + L(x + r)`` backward."""
    task = _adversarial_task(sparse_embedding=True, pooling=pooling, bidirectional=True)
    model = task.model
    ids, lengths = pad_batch([SENTENCE, *OTHERS])
    labels = torch.tensor([0, 1, 2, 1])
    loss, _, _ = task.training_loss((ids, lengths, labels), None)
    loss.backward()
    got = {name: w.grad.to_dense().clone() for name, w in model.named_parameters()}
    direct = direct_adversarial_backward(model, ids, lengths, labels, 0.5)
    assert float(loss.detach()) == pytest.approx(float(direct), abs=1e-6)
    assert len(got) > 3 and set(got) == {name for name, _ in model.named_parameters()}
    for name, w in model.named_parameters():
        assert torch.allclose(got[name], w.grad.to_dense(), atol=1e-6), name
    assert got["head.weight"].abs().sum() > 0 and got["embedding.weight"].abs().sum() > 0


def test_adversarial_training_works_with_a_frozen_embedding():
    task = _adversarial_task(freeze_embeddings=True)
    ids, lengths = pad_batch([SENTENCE, *OTHERS])
    loss, _, _ = task.training_loss((ids, lengths, torch.tensor([0, 1, 2, 1])), None)
    loss.backward()
    assert task.model.embedding.weight.grad is None and task.model.head.weight.grad is not None


def test_without_adversarial_training_the_loss_is_the_plain_cross_entropy():
    model = make().train()
    task = ClassificationTask(model, ([SENTENCE], [0]), ([[[2]]], [0]), 1, 0)
    ids, lengths = pad_batch([SENTENCE, *OTHERS])
    labels = torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        loss, _, _ = task.training_loss((ids, lengths, labels), None)
        expected = torch.nn.functional.cross_entropy(model(ids, lengths), labels)
    assert float(loss) == pytest.approx(float(expected), abs=1e-6)
