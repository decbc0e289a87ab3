"""Character n-gram word vectors (``--char-ngrams``, fastText): the hash and the n-grams against
their definitions, the word vector against a direct computation, its gradients (gradcheck), and
a run trained and used through the CLI (its ONNX export: tests/test_export.py)."""

from __future__ import annotations

import pytest
import torch

from rnnkit.cli import main
from rnnkit.data.ngrams import char_ngrams, fnv1a, ngram_buckets, with_ngrams
from rnnkit.errors import InputError
from rnnkit.models.classifier import ClassifierConfig, TextClassifier
from rnnkit.tasks.classify import ClassificationTask, pad_batch
from rnnkit.tokens import UNK_ID
from rnnkit.training.optim import sparse_parameters
from tests.test_classify_model import direct_adversarial_backward

BUCKETS = 50


def test_fnv1a_matches_the_published_test_vectors():
    # the 32-bit FNV-1a vectors of the reference implementation (Fowler, Noll, Vo)
    assert fnv1a("") == 0x811C9DC5
    assert fnv1a("a") == 0xE40C292C
    assert fnv1a("foobar") == 0xBF9CF968


def test_char_ngrams_are_those_of_the_marked_word():
    # Bojanowski et al. (2017)'s example: the 3-grams of "where"
    assert char_ngrams("where", (3,)) == ["<wh", "whe", "her", "ere", "re>"]
    grams = char_ngrams("where")
    assert len(grams) == 5 + 4 + 3 and "<wher" in grams and "here>" in grams
    assert "<where>" not in grams  # the whole word has its own vector
    assert char_ngrams("a") == []  # "<a>" is the word itself
    assert char_ngrams("ab") == ["<ab", "ab>"]


def test_buckets_are_stable_and_in_range():
    buckets = ngram_buckets("unwatchable", BUCKETS)
    assert buckets == [1 + fnv1a(g) % BUCKETS for g in char_ngrams("unwatchable")]
    assert all(1 <= b <= BUCKETS for b in buckets)
    assert with_ngrams(["the", "zz"], [4, UNK_ID], BUCKETS) == [
        [4, *ngram_buckets("the", BUCKETS)],
        [UNK_ID, *ngram_buckets("zz", BUCKETS)],
    ]
    with pytest.raises(ValueError):
        ngram_buckets("the", 0)


TEXTS = [["a", "good", "film"], ["unwatchable"], ["the", "plot", "was", "dull", "and", "long"]]
IDS = [[4, 5, 6], [UNK_ID], [7, 8, 9, 3, 2, UNK_ID]]


def make(**options) -> TextClassifier:
    torch.manual_seed(0)
    config = dict(embedding_dim=6, hidden_size=5, dropout=0.0, char_ngrams=BUCKETS)
    return TextClassifier(ClassifierConfig(**{**config, **options}), 10, 2).eval()


def batch():
    return pad_batch([with_ngrams(t, i, BUCKETS) for t, i in zip(TEXTS, IDS)])


def test_word_vector_is_the_mean_of_its_own_and_its_ngrams():
    model = make()
    ids, lengths = batch()  # (B, T, 1 + G)
    assert ids.shape[:2] == (3, 6) and ids.shape[2] == 1 + max(
        len(char_ngrams(w)) for t in TEXTS for w in t
    )
    x = model.inputs(ids)  # (B, T, E)
    words, grams = model.embedding.weight, model.ngrams.weight
    for row, (text, ids_) in enumerate(zip(TEXTS, IDS)):
        for step, (word, i) in enumerate(zip(text, ids_)):
            buckets = ngram_buckets(word, BUCKETS)
            expected = (words[i] + grams[buckets].sum(dim=0)) / (1 + len(buckets))
            torch.testing.assert_close(x[row, step], expected)
        assert torch.all(x[row, len(text) :] == 0)  # padding
    # two unseen words share <unk> but not their n-grams
    other = model.inputs(pad_batch([with_ngrams(["unfunny"], [UNK_ID], BUCKETS)])[0])
    assert not torch.allclose(other[0, 0], x[1, 0])


def test_padding_never_changes_a_prediction():
    model = make(pooling="max")
    ids, lengths = batch()
    alone = model(*pad_batch([with_ngrams(TEXTS[0], IDS[0], BUCKETS)]))
    torch.testing.assert_close(model(ids, lengths)[0], alone[0], atol=1e-6, rtol=0)


def test_word_dropout_keeps_the_ngrams():
    model = make(word_dropout=0.999999).train()
    ids, _ = batch()
    x = model.inputs(ids)
    words, grams = model.embedding.weight, model.ngrams.weight
    buckets = ngram_buckets("good", BUCKETS)
    expected = (words[UNK_ID] + grams[buckets].sum(dim=0)) / (1 + len(buckets))
    torch.testing.assert_close(x[0, 1], expected)


def test_ngram_vectors_pass_gradcheck_in_float64():
    model = make(pooling="mean").double()
    ids, lengths = batch()

    def vectors(words, grams):
        weights = {"embedding.weight": words, "ngrams.weight": grams}
        return torch.func.functional_call(model, weights, (ids, lengths))  # (B, C)

    words = model.embedding.weight.detach().clone().requires_grad_()
    grams = model.ngrams.weight.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(vectors, (words, grams))


def test_sparse_ngram_vectors_go_to_sparseadam_and_get_adversarial_gradients():
    model = make(sparse_embedding=True, adversarial=0.5, pooling="max").train()
    assert {id(p) for p in sparse_parameters(model)} == {
        id(model.embedding.weight),
        id(model.ngrams.weight),
    }
    sequences = [with_ngrams(t, i, BUCKETS) for t, i in zip(TEXTS, IDS)]
    task = ClassificationTask(
        model, (sequences, [0, 1, 0]), ([[sequences[0]]], [0]), 3, 0, None, 0.5
    )
    ids, lengths = pad_batch(sequences)
    labels = torch.tensor([0, 1, 0])
    loss, _, _ = task.training_loss((ids, lengths, labels), None)
    loss.backward()
    got = {name: w.grad.to_dense().clone() for name, w in model.named_parameters()}
    direct_adversarial_backward(model, ids, lengths, labels, 0.5)
    for name, w in model.named_parameters():
        assert torch.allclose(got[name], w.grad.to_dense(), atol=1e-6), name
    assert got["ngrams.weight"].abs().sum() > 0


def test_a_classifier_with_ngrams_refuses_bare_ids():
    with pytest.raises(InputError, match="char-ngrams"):
        make()(torch.tensor([[4, 5]]), torch.tensor([2]))


# --- through the CLI ----------------------------------------------------------------------------

ROWS = [("pos", "a superb film"), ("neg", "a dull film"), ("pos", "superb acting")] * 20 + [
    ("neg", "dull acting"),
    ("pos", "a superb plot"),
    ("neg", "a dull plot"),
] * 20


def test_a_char_ngram_run_trains_and_classifies_unseen_words(tmp_path, capsys):
    data = tmp_path / "train.tsv"
    data.write_text("".join(f"{label}\t{text}\n" for label, text in ROWS), encoding="utf-8")
    run = tmp_path / "run"
    tiny = ["--hidden", "8", "--embedding-dim", "8", "--epochs", "6", "--eval-every", "20"]
    tiny += ["--no-progress", "--threads", "1", "--lr", "0.02", "--dropout", "0"]
    options = ["--char-ngrams", "500", "--word-dropout", "0.3", "--batch-size", "16"]
    assert main(["train", "classify", "--data", str(data), "--out", str(run), *tiny, *options]) == 0
    capsys.readouterr()
    # "superbly" and "dullest" were never seen: their n-grams carry the sentiment
    assert main(["classify", str(run), "superbly", "dullest"]) == 0
    labels = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert labels == ["pos", "neg"]
    assert main(["evaluate", str(run)]) == 0


def test_language_model_pretraining_refuses_ngrams():
    from rnnkit.tasks.pretrain import check_pretrainable

    with pytest.raises(InputError, match="--char-ngrams"):
        check_pretrainable(make())
