"""The translation model, its decoding and its data: specifications on tiny synthetic pairs."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from rnnkit import sampling
from rnnkit.data.pairs import PairBatches, pad
from rnnkit.data.subword import SubwordTokenizer
from rnnkit.models.choices import ATTENTIONS as ATTENTION
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig, beam_search, greedy
from rnnkit.tasks.translate import Translator
from rnnkit.tokens import BOS_ID, EOS_ID, PAD_ID
from rnnkit.training.checkpoint import load_model, save_model

SYMBOLS = 8  # ids 4..11 are "words"; 0-3 are <pad> <unk> <s> </s>


def tiny_model(attention: str = "scaled-dot", cell: str = "gru", seed: int = 0) -> Seq2Seq:
    torch.manual_seed(seed)
    config = Seq2SeqConfig(
        cell=cell,
        attention=attention,
        embedding_dim=32,
        hidden_size=64,
        dropout=0.0,
    )
    return Seq2Seq(config, 4 + SYMBOLS, 4 + SYMBOLS)


def random_pairs(count: int, rng: random.Random, transform) -> tuple[list, list]:
    """Sources ``x </s>`` and targets ``<s> transform(x) </s>`` of 2-5 random symbols."""
    sources, targets = [], []
    for _ in range(count):
        words = [rng.randrange(4, 4 + SYMBOLS) for _ in range(rng.randint(2, 5))]
        sources.append([*words, EOS_ID])
        targets.append([BOS_ID, *transform(words), EOS_ID])
    return sources, targets


def random_batch(batch: int = 6, seed: int = 0):
    sources, _ = random_pairs(batch, random.Random(seed), lambda w: w)
    return pad(sources, PAD_ID)


def train_on(model: Seq2Seq, sources, targets, steps: int, lr: float = 1e-2) -> None:
    batches = PairBatches(sources, targets, batch_size=64, pad_id=PAD_ID, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        epoch, index = divmod(step, len(batches))
        source, source_lengths, target, _ = batches(epoch, index)
        logits = model(source, source_lengths, target[:, :-1])  # (B, T, V)
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), target[:, 1:].reshape(-1), ignore_index=PAD_ID
        )
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()


@pytest.mark.parametrize(
    ("name", "transform"), [("copy", lambda w: w), ("reverse", lambda w: w[::-1])]
)
def test_decoder_learns_to_copy_and_reverse_short_sequences(name, transform):
    torch.set_num_threads(1)
    rng = random.Random(1)
    model = tiny_model("scaled-dot")
    train_on(model, *random_pairs(2048, rng, transform), steps=150)
    sources, targets = random_pairs(100, rng, transform)
    ids, lengths = pad(sources, PAD_ID)
    hypotheses = greedy(model, ids, lengths)
    exact = sum(h.ids == t[1:] for h, t in zip(hypotheses, targets, strict=True)) / len(targets)
    # chance is 8^-n for n symbols: an untrained model gets about none right
    assert exact >= 0.85, f"{name}: only {exact:.0%} of 100 held-out sequences exactly right"


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("attention", ATTENTION)
def test_beam_size_one_equals_greedy(attention, cell):
    model = tiny_model(attention, cell, seed=3)
    ids, lengths = random_batch(batch=8, seed=2)
    greedy_out = greedy(model, ids, lengths)
    beam_out = beam_search(model, ids, lengths, beam_size=1)
    for g, b in zip(greedy_out, beam_out, strict=True):
        assert g.ids == b.ids
        assert g.score == pytest.approx(b.score, abs=1e-4)  # float32 vs float64 log-softmax


@pytest.mark.parametrize("attention", [a for a in ATTENTION if a != "none"])
def test_attention_weights_are_exactly_zero_on_padding(attention):
    model = tiny_model(attention)
    ids, lengths = random_batch(batch=6, seed=4)
    assert int(lengths.min()) < ids.shape[1], "the batch must contain padding"
    memory = model.encode(ids, lengths)
    state = model.initial_state(memory)
    tokens = torch.full((ids.shape[0],), BOS_ID)
    for _ in range(3):
        attentional, state, weights = model.step(tokens, state, memory)  # weights (B, S)
        for row, length in enumerate(lengths.tolist()):
            assert torch.all(weights[row, length:] == 0)
            assert float(weights[row].detach().sum()) == pytest.approx(1.0, abs=1e-6)
        tokens = model.logits(attentional).argmax(-1)


@pytest.mark.parametrize("attention", ATTENTION)
def test_a_sentence_translates_the_same_alone_and_in_a_padded_batch(attention):
    model = tiny_model(attention, seed=5)
    ids, lengths = random_batch(batch=6, seed=6)
    batched = beam_search(model, ids, lengths, beam_size=3)
    for row, length in enumerate(lengths.tolist()):
        alone = beam_search(model, ids[row : row + 1, :length], lengths[row : row + 1], 3)[0]
        assert alone.ids == batched[row].ids
        assert alone.score == pytest.approx(batched[row].score, abs=1e-4)


def test_output_stops_at_the_length_limit():
    model = tiny_model()
    ids, lengths = random_batch(batch=5, seed=7)
    for hypothesis, length in zip(
        greedy(model, ids, lengths, max_length_ratio=0.0, max_length_offset=2),
        lengths.tolist(),
        strict=True,
    ):
        assert 1 <= len(hypothesis.ids) <= 2, (length, hypothesis.ids)
    for hypothesis in beam_search(
        model, ids, lengths, 4, max_length_ratio=1.0, max_length_offset=0
    ):
        assert hypothesis.ids[-1] == EOS_ID


def test_greedy_draws_tokens_with_the_shared_sampler(monkeypatch):
    calls = []
    original = sampling.sample

    def spy(logits, *args, **kwargs):
        calls.append(logits.shape)
        return original(logits, *args, **kwargs)

    monkeypatch.setattr(sampling, "sample", spy)
    model = tiny_model()
    ids, lengths = random_batch(batch=4)
    first = greedy(model, ids, lengths, temperature=1.0, generator=torch.Generator().manual_seed(1))
    assert calls and all(shape == (4, 4 + SYMBOLS) for shape in calls)
    again = greedy(model, ids, lengths, temperature=1.0, generator=torch.Generator().manual_seed(1))
    assert [h.ids for h in first] == [h.ids for h in again]  # seeded sampling repeats


def test_teacher_forcing_below_one_gives_logits_and_gradients():
    model = tiny_model("additive", "lstm")
    ids, lengths = random_batch(batch=4)
    target = torch.cat([torch.full((4, 1), BOS_ID), ids], dim=1)
    logits = model(ids, lengths, target, teacher_forcing=0.5)
    assert logits.shape == (4, target.shape[1], 4 + SYMBOLS)
    logits.sum().backward()
    assert model.target_embedding.weight.grad is not None


def test_pair_batches_are_a_pure_function_of_epoch_and_index():
    sources, targets = random_pairs(103, random.Random(8), lambda w: w)
    first = PairBatches(sources, targets, batch_size=10, pad_id=PAD_ID, seed=3)
    second = PairBatches(sources, targets, batch_size=10, pad_id=PAD_ID, seed=3)
    assert len(first) == 11
    for index in (4, 0, 10):  # any order, a fresh object: the same batch
        for a, b in zip(first(1, index), second(1, index), strict=True):
            assert torch.equal(a, b)
    served = sorted(i for batch in first.order(2) for i in batch)
    assert served == list(range(103))  # every pair exactly once per epoch
    assert first.order(2) != first.order(3)


def test_subword_tokenizer_round_trips_and_survives_saving(tmp_path):
    sentences = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee!", "Ein Kind, lachend."]
    tokenizer = SubwordTokenizer.train(sentences * 5, vocab_size=100)
    ids = tokenizer.encode(sentences)
    assert [tokenizer.decode(i) for i in ids] == sentences
    tokenizer.save(tmp_path / "tok.json")
    assert SubwordTokenizer.load(tmp_path / "tok.json").encode(sentences) == ids
    assert tokenizer.tokens("Ein Mann.")[-1] == "."  # punctuation is a piece of its own


def test_checkpoint_translates_identically_after_reload(tmp_path):
    sentences = ["a b c", "c b a d", "d d a", "b a"]
    tokenizer = SubwordTokenizer.train(sentences * 3, vocab_size=64)
    config = Seq2SeqConfig(embedding_dim=16, hidden_size=32)
    torch.manual_seed(0)
    translator = Translator(Seq2Seq(config, len(tokenizer), len(tokenizer)), tokenizer, tokenizer)
    sources = translator.encode_sources(sentences)
    train_on(translator.model, sources, translator.encode_targets(sentences), steps=20)
    save_model(tmp_path / "model.safetensors", translator.model)
    tokenizer.save(tmp_path / "tok.json")

    torch.manual_seed(1)  # different initial weights: everything must come from the files
    reloaded_tokenizer = SubwordTokenizer.load(tmp_path / "tok.json")
    reloaded = Translator(
        Seq2Seq(config, len(tokenizer), len(tokenizer)), reloaded_tokenizer, reloaded_tokenizer
    )
    load_model(tmp_path / "model.safetensors", reloaded.model)
    for beam in (1, 3):
        before = translator.translate(sentences, beam=beam)
        after = reloaded.translate(sentences, beam=beam)
        assert [t.text for t in before] == [t.text for t in after]
        assert [t.score for t in before] == pytest.approx([t.score for t in after], abs=1e-6)
