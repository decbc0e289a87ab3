"""Language-model pretraining of a classifier (``--pretrain-epochs``): the objective against a
direct computation, what it trains, which texts it reads, and the command's records and errors."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from rnnkit.cli import main
from rnnkit.models.classifier import ClassifierConfig, TextClassifier
from rnnkit.tasks.pretrain import NextWordDecoder, PretrainConfig, pretrain
from rnnkit.tokens import UNK_ID


def tiny_model(bidirectional=True, layers=1, **options) -> TextClassifier:
    config = ClassifierConfig(
        cell="lstm",
        embedding_dim=5,
        hidden_size=4,
        num_layers=layers,
        bidirectional=bidirectional,
        pooling="max",
        dropout=0.0,
        **options,
    )
    return TextClassifier(config, vocab_size=12, num_classes=2)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_the_loss_is_the_next_and_previous_word_cross_entropy(bidirectional):
    torch.manual_seed(0)
    model = tiny_model(bidirectional).eval()
    decoder = NextWordDecoder(hidden_size=4, vocab_size=9, dropout=0.0)  # ids 9-11 -> <unk>
    texts = [[4, 10, 5, 6], [7, 3], [2, 8, 11]]
    lengths = torch.tensor([len(t) for t in texts])
    ids = torch.zeros(3, 4, dtype=torch.long)
    for row, text in enumerate(texts):
        ids[row, : len(text)] = torch.tensor(text)
    outputs, _ = model.states(ids, lengths)
    loss, count = decoder.loss(outputs, ids, 2 if bidirectional else 1)

    terms = []
    for row, text in enumerate(texts):
        target = [w if w < 9 else UNK_ID for w in text]
        for t in range(len(text) - 1):  # h->_t predicts w_{t+1}
            logits = decoder.out(outputs[row, t, :4])
            terms.append(-F.log_softmax(logits, -1)[target[t + 1]])
        if bidirectional:
            for t in range(1, len(text)):  # h<-_t predicts w_{t-1}
                logits = decoder.out(outputs[row, t, 4:])
                terms.append(-F.log_softmax(logits, -1)[target[t - 1]])
    assert count == len(terms) == (12 if bidirectional else 6)
    torch.testing.assert_close(loss, torch.stack(terms).mean())


def test_the_forward_direction_never_sees_the_word_it_predicts():
    """Changing w_{t+1} leaves h->_t as it was; changing w_{t-1} leaves h<-_t."""
    torch.manual_seed(0)
    model = tiny_model().eval()
    ids = torch.tensor([[4, 5, 6, 7]])
    lengths = torch.tensor([4])
    changed = torch.tensor([[4, 5, 9, 7]])  # w_2 changes
    before, _ = model.states(ids, lengths)
    after, _ = model.states(changed, lengths)
    torch.testing.assert_close(before[0, :2, :4], after[0, :2, :4])  # h->_0, h->_1
    torch.testing.assert_close(before[0, 3:, 4:], after[0, 3:, 4:])  # h<-_3
    assert not torch.allclose(before[0, 2, :4], after[0, 2, :4])


def test_pretraining_lowers_the_language_model_loss_and_trains_only_the_encoder():
    torch.manual_seed(0)
    model = tiny_model()
    texts = [[2, 3, 4, 5, 6], [3, 4, 5, 6, 7], [4, 5, 6, 7, 8]] * 20
    head = model.head.weight.detach().clone()
    embedding = model.embedding.weight.detach().clone()
    config = PretrainConfig(pretrain_epochs=15, pretrain_lr=0.02)
    record = pretrain(model, texts, config, batch_size=12, seed=0)
    losses = record["loss_by_epoch"]
    assert len(losses) == 15 and record["steps"] == 75 and record["texts"] == 60
    assert losses[-1] < 0.5 * losses[0]
    assert torch.equal(model.head.weight, head)  # the classifier's head is not trained
    assert not torch.equal(model.embedding.weight, embedding)
    assert model.training  # left in the mode it came in


def test_a_second_bidirectional_layer_is_refused():
    from rnnkit.errors import InputError

    with pytest.raises(InputError, match="--layers 1"):
        pretrain(tiny_model(layers=2), [[2, 3, 4]], PretrainConfig(1.0), 4, 0)


# --- the command -------------------------------------------------------------------------------
TINY = ["--hidden", "4", "--embedding-dim", "4", "--max-steps", "2", "--no-progress"]


def write_texts(path, count=40):
    words = ["good", "bad", "film", "plot", "the", "a"]
    lines = [
        f"{'pos' if i % 2 else 'neg'}\t{words[i % 6]} {words[(i + 1) % 6]} film\n"
        for i in range(count)
    ]
    path.write_text("".join(lines), encoding="utf-8")
    return str(path)


def test_a_run_records_its_pretraining_and_a_resume_does_not_repeat_it(tmp_path):
    data = write_texts(tmp_path / "t.tsv")
    run = tmp_path / "run"
    argv = ["train", "classify", "--data", data, *TINY, "--threads", "1", "--out", str(run)]
    assert main([*argv, "--pretrain-epochs", "2"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["pretrain"]["pretrain_epochs"] == 2.0
    pretrained = config["pretrained"]
    assert pretrained["texts"] == 32  # the training part only (valid/test carved off)
    assert len(pretrained["loss_by_epoch"]) == 2
    assert main([*argv[:-4], "--max-steps", "4", "--resume", "--out", str(run)]) == 0
    assert json.loads((run / "config.json").read_text())["pretrained"] == pretrained


def test_pretraining_with_phrases_reads_the_training_sentences(tmp_path, monkeypatch):
    from rnnkit.tasks.classify import ClassifyData, prepare, pretraining_texts

    folder = tmp_path / "data" / "sst2"
    folder.mkdir(parents=True)
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        (folder / name).write_text(f"1\ta good film\n0\ta bad {name}\n", encoding="utf-8")
    (folder / "train_phrases.tsv").write_text("label\tsentence\n1\tgood\n0\tbad\n", "utf-8")
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("RNNKIT_OFFLINE", "1")
    data = ClassifyData(data="sst2", train_on="phrases")
    texts = pretraining_texts(data, prepare(data)).texts
    assert texts == ["a good film", "a bad train.tsv"]


def test_pretraining_an_audio_run_is_one_line_exit_2(tmp_path, capsys):
    soundfile = pytest.importorskip("soundfile")
    import numpy as np

    folder = tmp_path / "clips"
    for i in range(8):
        (folder / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
        wave = np.sin(np.arange(4000) * (0.05 + 0.01 * i)).astype("float32")
        soundfile.write(folder / "ab"[i % 2] / f"{i}.wav", wave, 8000)
    argv = ["train", "classify", "--data", str(folder), "--pretrain-epochs", "1", *TINY]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "audio runs have none" in lines[0]


def test_a_non_finite_language_model_loss_stops_with_one_clear_error(monkeypatch):
    from rnnkit.errors import InputError

    def nan_loss(self, outputs, ids, directions):
        return outputs.sum() * float("nan"), 1

    monkeypatch.setattr(NextWordDecoder, "loss", nan_loss)
    with pytest.raises(InputError, match="became nan at step 1; lower --pretrain-lr"):
        pretrain(tiny_model(), [[2, 3, 4]] * 4, PretrainConfig(1.0), 2, 0)
