"""The word-level language model: vocabulary with <unk> and <eos>, priming and sampling in words,
variational dropout, the registered corpora, and train -> evaluate (with baselines) -> sample."""

from __future__ import annotations

import json
import os

import pytest
import torch

from rnnkit.cli import main
from rnnkit.data.tokenize import Tokenizer
from rnnkit.data.words import WordVocab, split_lines
from rnnkit.errors import InputError
from rnnkit.models.lm import CharLM, LMConfig
from rnnkit.regularise import locked_dropout
from rnnkit.tasks.lm import CORPORA, LMData, generate, generate_ids, read_parts
from rnnkit.tokens import LINE_END, LINE_END_ID, PAD, PAD_ID, UNK, UNK_ID

TEXT = "The cat sat .\nthe dog sat .\n\nA cat ran !\n"
SENTENCES = [
    "a man is riding a bike .",
    "two dogs play in the snow .",
    "a woman is reading a book .",
    "the children are playing in the park .",
    "a man and a woman walk a dog .",
]
CORPUS = "\n".join(SENTENCES * 40) + "\n"  # 200 lines, ~1,600 words
TINY = ["--hidden", "16", "--layers", "1", "--batch-size", "4", "--seq-len", "8"]
TINY += ["--max-steps", "6", "--eval-every", "3", "--no-progress", "--warmup-steps", "0"]


def _vocab(min_freq=1, max_size=None) -> WordVocab:
    return WordVocab.build(TEXT, Tokenizer("word"), min_freq, max_size)


def test_vocabulary_has_pad_unk_eos_then_words_by_frequency():
    vocab = _vocab(min_freq=2)  # the, cat, sat and "." occur twice; dog, ran, a and ! once
    assert vocab.tokens == [PAD, UNK, LINE_END, ".", "cat", "sat", "the"]
    assert vocab.tokens[LINE_END_ID] == LINE_END and len(_vocab(max_size=2)) == 3 + 2


def test_every_line_ends_in_eos_rare_words_are_unk_and_blank_lines_are_skipped():
    vocab = _vocab(min_freq=2)
    ids = vocab.encode(TEXT).tolist()
    assert vocab.tokens[ids[0]] == "the" and ids.count(LINE_END_ID) == 3  # not 4: a blank line
    assert vocab.decode(ids) == "the cat sat .\nthe <unk> sat .\n<unk> cat <unk> <unk>\n"
    assert ids.count(UNK_ID) == 4


def test_a_prime_starts_a_line_and_its_unknown_words_become_unk():
    vocab = _vocab()
    assert vocab.decode(vocab.encode_prime("The zebra")) == "\nthe <unk>"
    assert vocab.encode_prime("").tolist() == [LINE_END_ID]  # an empty prime starts a new line
    assert vocab.encode_prime("cat\nsat").tolist()[1:] == [
        vocab.vocab["cat"],
        2,
        vocab.vocab["sat"],
    ]


def test_lines_are_split_in_order():
    text = "".join(f"{i}\n" for i in range(20))
    train, valid, test = split_lines(text, [0.1, 0.05])
    assert train.split() == [str(i) for i in range(17)]
    assert valid.split() == ["17", "18"] and test.split() == ["19"]


def test_word_sampling_only_emits_vocabulary_words():
    vocab = _vocab(min_freq=2)
    torch.manual_seed(0)
    model = CharLM(LMConfig(hidden_size=8, num_layers=1).resolved(True), len(vocab)).eval()
    with torch.no_grad():  # make <pad> and <unk> by far the likeliest tokens
        model.head.bias[[PAD_ID, UNK_ID]] = 50.0
    ids = list(generate_ids(model, vocab, "the zebra", 200, temperature=1.0, seed=1))
    assert len(ids) == 200 and not {PAD_ID, UNK_ID} & set(ids) and max(ids) < len(vocab)
    text = "".join(generate(model, vocab, "the zebra", 50, seed=1))
    assert set(text.split()) <= set(vocab.tokens) - {PAD, UNK}


def test_word_level_embedding_defaults_to_the_hidden_size_and_may_be_tied():
    assert LMConfig(hidden_size=32).resolved(word_level=True).embedding_dim == 32
    assert LMConfig(hidden_size=32).resolved(word_level=False).embedding_dim == 0  # one-hot
    model = CharLM(LMConfig(hidden_size=8, tie_weights=True).resolved(True), 20)
    assert model.head.weight is model.embedding.weight
    with pytest.raises(InputError, match="--tie-weights needs --embedding-dim equal to --hidden"):
        LMConfig(hidden_size=8, tie_weights=True).resolved(word_level=False)


def test_variational_dropout_uses_one_mask_for_every_step():
    torch.manual_seed(0)
    dropped = locked_dropout(torch.ones(3, 7, 50), 0.5, training=True)  # (B, T, F)
    assert torch.equal(dropped, dropped[:, :1].expand_as(dropped))  # the same at every step
    assert set(dropped.unique().tolist()) == {0.0, 2.0}  # kept units scaled by 1 / (1 - p)
    assert torch.equal(
        locked_dropout(torch.ones(2, 3, 4), 0.5, training=False), torch.ones(2, 3, 4)
    )


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_variational_stack_steps_as_it_runs_whole_sequences(cell):
    torch.manual_seed(0)
    config = LMConfig(cell=cell, hidden_size=8, num_layers=2, embedding_dim=5, dropout=0.5)
    model = CharLM(LMConfig(**{**config.__dict__, "variational_dropout": True}), 11).eval()
    ids = torch.randint(0, 11, (2, 6))
    whole, _ = model(ids)
    state, steps = None, []
    with torch.no_grad():
        for t in range(6):
            logits, state = model.step(ids[:, t], state)
            steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, dim=1), whole, atol=1e-5, rtol=0)


def test_registered_corpora_have_their_own_parts():
    if not os.environ.get("RNNKIT_DATA"):
        pytest.skip("needs $RNNKIT_DATA")
    parts = read_parts(LMData(data="multi30k-en"))
    assert [len(parts[p].splitlines()) for p in ("train", "valid", "test")] == [29000, 1014, 1000]
    shakespeare = read_parts(LMData(data="tinyshakespeare-words"))
    lines = [len(shakespeare[p].splitlines()) for p in ("train", "valid", "test")]
    assert sum(lines) == 40000 and lines[1] == lines[2] == 2000
    assert set(CORPORA) == {"multi30k-en", "tinyshakespeare-words"}


def test_train_evaluate_and_sample_a_word_model(tmp_path, capsys):
    corpus = tmp_path / "captions.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    run = tmp_path / "run"
    options = ["--data", str(corpus), "--tokenizer", "word", "--tie-weights", *TINY]
    assert main(["train", "lm", *options, "--variational-dropout", "--out", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["embedding_dim"] is None  # stored as given; resolved to --hidden
    assert json.loads((run / "vocab.json").read_text())["tokens"][:3] == [PAD, UNK, LINE_END]
    assert main(["evaluate", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["tokens"] > 0 and result["valid"]["perplexity"] == result["perplexity"]
    kneser_ney = result["baselines"]["kneser_ney"]
    assert (
        kneser_ney["order"] == 3
        and 1 < kneser_ney["perplexity"] < result["baselines"]["unigram"]["perplexity"]
    )
    capsys.readouterr()
    assert main(["sample", str(run), "--prime", "A zebra", "--length", "30", "--seed", "0"]) == 0
    words = capsys.readouterr().out.split()
    assert words[:2] == ["A", "zebra"] and len(words) >= 2 + 30 - 30 // 2  # some are <eos>
    vocabulary = set(json.loads((run / "vocab.json").read_text())["tokens"]) - {PAD, UNK}
    assert set(words[2:]) <= vocabulary


def test_tie_weights_needs_an_embedding_at_char_level(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    out = tmp_path / "run"
    code = main(["train", "lm", "--data", str(corpus), "--tie-weights", *TINY, "--out", str(out)])
    assert code == 2 and not out.exists()
    assert "--tie-weights needs --embedding-dim equal to --hidden (16), got 0" in (
        capsys.readouterr().err
    )
