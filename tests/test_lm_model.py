"""The language model: causality, attention memory, stream batches, generation."""

import pytest
import torch
import torch.nn.functional as F

from rnnkit.data.text import CharVocab, StreamBatches, WindowBatches
from rnnkit.errors import InputError
from rnnkit.models.lm import CharLM, LMConfig
from rnnkit.tasks.lm import generate, parallel_stream_loss, stream_loss


def _model(**kwargs):
    torch.manual_seed(0)
    config = dict(hidden_size=12, num_layers=2, dropout=0.0, embedding_dim=6)
    return CharLM(LMConfig(**{**config, **kwargs}), vocab_size=11).eval()


@pytest.mark.parametrize("attention", ["none", "dot", "general", "additive", "scaled-dot"])
def test_changing_a_later_character_never_changes_an_earlier_prediction(attention):
    model = _model(attention=attention, attention_window=4)
    ids = torch.randint(0, 11, (2, 10))
    changed = ids.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 11
    a, _ = model(ids)
    b, _ = model(changed)
    assert torch.allclose(a[:, :6], b[:, :6], atol=1e-6)
    assert not torch.allclose(a[:, 6:], b[:, 6:], atol=1e-4)


@pytest.mark.parametrize("attention", ["none", "additive"])
def test_one_step_at_a_time_equals_the_whole_sequence(attention):
    """The same attention (window and memory) at sampling time as in training."""
    model = _model(attention=attention, attention_window=3, cell="gru")
    ids = torch.randint(0, 11, (1, 9))
    whole, _ = model(ids)
    state, steps = None, []
    for t in range(9):
        logits, state = model(ids[:, t : t + 1], state)
        steps.append(logits)
    assert torch.allclose(whole, torch.cat(steps, dim=1), atol=1e-5)


def test_one_hot_input_when_no_embedding():
    model = _model(embedding_dim=0)
    assert model.embedding is None and model.rnn.input_size == 11
    assert model(torch.randint(0, 11, (2, 5)))[0].shape == (2, 5, 11)


def test_tied_weights_share_storage():
    model = _model(embedding_dim=12, tie_weights=True)
    assert model.head.weight is model.embedding.weight


def test_bidirectional_language_model_is_refused_with_the_reason():
    with pytest.raises(InputError, match="already seen character t\\+1"):
        _model(bidirectional=True)


def test_stream_batches_continue_each_other_and_targets_are_shifted():
    ids = torch.arange(1000)
    batches = StreamBatches(ids, batch_size=4, seq_len=10)
    x0, y0 = batches(0, 0)
    x1, _ = batches(0, 1)
    assert torch.equal(y0, x0 + 1)
    assert torch.equal(x1[:, 0], x0[:, -1] + 1)  # chunk 1 continues chunk 0 in every stream
    assert len(batches) == (1000 - 10) // 4 // 10
    assert batches(1, 0)[0][0, 0] != 0 or batches(2, 0)[0][0, 0] != 0  # epochs shift the offset


def test_window_batches_are_a_shuffled_pure_function_of_epoch_and_index():
    ids = torch.arange(500)
    batches = WindowBatches(ids, batch_size=3, seq_len=7, seed=1)
    x, y = batches(2, 1)
    assert torch.equal(y, x + 1) and x.shape == (3, 7)
    assert torch.equal(batches(2, 1)[0], x)
    assert not torch.equal(batches(3, 1)[0], x)


def test_stream_loss_of_uniform_model_is_log_vocab():
    model = _model()
    for p in model.head.parameters():
        torch.nn.init.zeros_(p)
    loss = stream_loss(model, torch.randint(0, 11, (300,)), chunk=64)
    assert loss == pytest.approx(torch.log(torch.tensor(11.0)).item(), abs=1e-5)


@pytest.mark.parametrize("attention", ["none", "general"])
def test_parallel_streams_score_each_part_after_its_warmup(attention):
    """The definition computed directly: part s is read from a_s - W, and only its own targets
    a_s .. a_{s+1}-1 count; every target is scored once (the shorter rows' padding is not)."""
    model = _model(attention=attention, attention_window=3, cell="gru")
    ids = torch.randint(0, 11, (203,))
    count, streams, warmup = 202, 4, 20
    bounds = [round(s * count / streams) for s in range(streams + 1)]
    total = 0.0
    for first, end in zip(bounds[:-1], bounds[1:], strict=True):
        start = max(0, first - warmup)
        with torch.no_grad():
            logits, _ = model(ids[start:end].unsqueeze(0))  # (1, T, V)
        skip = first - start
        total += float(F.cross_entropy(logits[0, skip:], ids[first + 1 : end + 1], reduction="sum"))
    got = parallel_stream_loss(model, ids, streams=streams, warmup=warmup, chunk=24)
    assert got == pytest.approx(total / count, abs=1e-6)


def test_parallel_streams_equal_one_stream_once_the_state_has_forgotten():
    model = _model()
    ids = torch.randint(0, 11, (1201,), generator=torch.Generator().manual_seed(0))
    one = stream_loss(model, ids, chunk=64)
    assert parallel_stream_loss(model, ids, streams=8, warmup=100) == pytest.approx(one, abs=1e-6)
    # without the warm-up, the parts' cold starts show (1.3e-4 here)
    cold = parallel_stream_loss(model, ids, streams=8, warmup=0)
    assert abs(cold - one) > 3e-5


def test_parallel_streams_of_a_short_text_fall_back_to_one_stream():
    model = _model()
    ids = torch.randint(0, 11, (50,))
    assert parallel_stream_loss(model, ids, streams=32, warmup=512) == stream_loss(model, ids)


def test_generation_yields_the_requested_length_from_the_vocabulary():
    vocab = CharVocab(list("abcdefghijk"))
    text = "".join(generate(_model(), vocab, "abc", 40, temperature=1.0, seed=0))
    assert len(text) == 40 and set(text) <= set(vocab.chars)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("attention", ["none", "general"])
def test_fast_step_equals_forward_on_one_character(cell, attention):
    model = _model(cell=cell, attention=attention, attention_window=3)
    ids = torch.randint(0, 11, (3, 6))
    _, state = model(ids[:, :5])
    expected, expected_state = model(ids[:, 5:], state)
    with torch.no_grad():
        got, got_state = model.step(ids[:, 5], state, model.input_table())
        plain, _ = model.step(ids[:, 5], state)
    assert torch.allclose(got, expected[:, 0], atol=1e-5)
    assert torch.allclose(plain, expected[:, 0], atol=1e-5)
    flat = [s for s in (got_state[0] if cell == "lstm" else (got_state[0],))]
    want = [s for s in (expected_state[0] if cell == "lstm" else (expected_state[0],))]
    for a, b in zip(flat, want, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
