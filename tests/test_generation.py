"""Generation's inner loop: the stepper computes the layers' equations (fp32 to 1e-5, bf16 and
int8 within their rounding), and batched sampling gives each row what batch-1 sampling gives with
that row's seed, drawn from the model's distribution."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnkit import sampling
from rnnkit.cli import main
from rnnkit.data.text import CharVocab
from rnnkit.layers import GRU, LSTM, RNN
from rnnkit.models.lm import CharLM, LMConfig
from rnnkit.stepper import LayerStepper
from rnnkit.tasks.lm import generate, generate_samples
from tests.conftest import TINY_LM

TOLERANCE = {"fp32": 1e-5, "bf16": 3e-2, "int8": 5e-2}  # largest |difference| in h or logits
LAYERS = {
    "rnn-tanh": lambda: RNN(5, 16, 2),
    "rnn-relu": lambda: RNN(5, 16, 2, nonlinearity="relu"),
    "lstm": lambda: LSTM(5, 16, 2),
    "gru": lambda: GRU(5, 16, 2),
    "gru-reset-before": lambda: GRU(5, 16, 2, reset_after=False),
    "lstm-no-bias": lambda: LSTM(5, 16, 2, bias=False),
}


@pytest.mark.parametrize(
    "kind,precision,batch", list(itertools.product(LAYERS, ("fp32", "bf16", "int8"), (1, 3)))
)
def test_stepper_computes_the_layer_step_by_step(kind, precision, batch):
    torch.manual_seed(0)
    layer = LAYERS[kind]().eval()
    x = torch.randn(6, batch, 5)
    with torch.no_grad():
        expected, _ = layer(x)  # (T, B, H)
    stepper = LayerStepper(layer, batch, precision)
    got = torch.stack([stepper.step(x[t]).clone() for t in range(6)])
    assert float((got - expected).abs().max()) <= TOLERANCE[precision]


@pytest.mark.parametrize("cell,embedding", list(itertools.product(("rnn", "lstm", "gru"), (0, 6))))
def test_lm_stepper_gives_the_models_logits_after_each_character(cell, embedding):
    torch.manual_seed(0)
    model = CharLM(LMConfig(cell=cell, hidden_size=12, num_layers=2, embedding_dim=embedding), 9)
    model.eval()
    ids = torch.randint(0, 9, (2, 8))
    stepper = model.stepper(batch=2)
    got = [stepper.read(ids[:, :3]).clone()] + [
        stepper.step(ids[:, t]).clone() for t in range(3, 8)
    ]
    expected, _ = model(ids)  # (B, T, V)
    for position, logits in zip(range(2, 8), got):
        assert float((logits - expected[:, position]).abs().max()) <= TOLERANCE["fp32"]


def test_lm_stepper_steps_a_variational_dropout_stack_of_layers():
    config = LMConfig(cell="lstm", hidden_size=12, num_layers=2, variational_dropout=True)
    model = CharLM(config.resolved(True), 9).eval()  # word level: an embedding of --hidden
    ids = torch.randint(0, 9, (2, 6))
    stepper = model.stepper(batch=2)
    stepper.read(ids[:, :2])
    got = [stepper.step(ids[:, t]).clone() for t in range(2, 6)]
    expected, _ = model(ids)
    assert float((torch.stack(got, 1) - expected[:, 2:]).abs().max()) <= TOLERANCE["fp32"]


def test_a_model_with_attention_steps_through_its_own_step():
    model = CharLM(LMConfig(cell="gru", hidden_size=8, num_layers=1, attention="dot"), 7).eval()
    ids = torch.randint(0, 7, (1, 6))
    stepper = model.stepper()
    stepper.read(ids[:, :2])
    got = [stepper.step(ids[:, t]).clone() for t in range(2, 6)]
    expected, _ = model(ids)
    assert float((torch.stack(got, 1) - expected[:, 2:]).abs().max()) <= TOLERANCE["fp32"]


@pytest.fixture
def tiny():
    torch.manual_seed(1)
    chars = list("abcdefgh")
    model = CharLM(LMConfig(cell="lstm", hidden_size=16, num_layers=2, embedding_dim=4), 8)
    return model.eval(), CharVocab(chars)


@pytest.mark.parametrize("top_k", [None, 3])
def test_each_row_of_a_batch_is_the_batch_1_sample_with_its_own_seed(tiny, top_k):
    model, vocab = tiny
    rows = generate_samples(model, vocab, "abc", 40, num_samples=4, top_k=top_k, seed=10)
    alone = ["".join(generate(model, vocab, "abc", 40, top_k=top_k, seed=10 + i)) for i in range(4)]
    assert rows == alone
    assert len(set(rows)) == 4  # and the rows are independent draws


def test_batched_first_characters_follow_the_models_distribution(tiny):
    model, vocab = tiny
    count = 4000
    rows = generate_samples(model, vocab, "ab", 1, num_samples=count, seed=0)
    frequencies = torch.bincount(torch.tensor([vocab.chars.index(r) for r in rows]), minlength=8)
    logits, _ = model(vocab.encode("ab").unsqueeze(0))
    probabilities = torch.softmax(logits[0, -1], dim=-1)
    error = (probabilities * (1 - probabilities) / count).sqrt()  # one standard error per char
    assert bool(((frequencies / count - probabilities).abs() <= 4 * error + 1e-3).all())


def test_sampler_draws_what_sample_draws_from_the_same_seed():
    logits = torch.randn(1, 30)
    for seed in range(50):
        sampler = sampling.Sampler(1, 30, temperature=0.7, top_p=0.9, seeds=[seed])
        expected = sampling.sample(logits, 0.7, None, 0.9, torch.Generator().manual_seed(seed))
        assert int(sampler(logits)[0]) == int(expected[0])


def test_banned_ids_are_never_drawn_however_likely():
    logits = torch.tensor([[9.0, 9.0, 0.0, 0.0]]).expand(3, -1)
    sampler = sampling.Sampler(3, 4, temperature=1.0, top_k=3, seeds=[0, 1, 2], banned=(0, 1))
    draws = {int(token) for _ in range(50) for token in sampler(logits)}
    assert draws <= {2, 3}


def test_a_token_without_probability_is_never_drawn_even_at_the_ends():
    weights = torch.tensor([[0.0, 1.0, 0.0, 2.0, 0.0]]).expand(4, -1).clone()
    uniforms = torch.tensor([[0.0], [1e-9], [0.5], [1.0 - 1e-7]])
    tokens = sampling._inverse_cdf(weights, uniforms, torch.empty(4, 1, dtype=torch.long))
    assert set(tokens[:, 0].tolist()) <= {1, 3}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from tests.conftest import TINY_TEXT

    folder = tmp_path_factory.mktemp("generation")
    corpus = folder / "corpus.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    assert main(["train", "lm", "--data", str(corpus), "--out", str(folder / "run"), *TINY_LM]) == 0
    return folder / "run"


def test_num_samples_prints_each_sample_equal_to_its_seeds_single_sample(run, capsys):
    capsys.readouterr()
    argv = ["sample", str(run), "--prime", "Fi", "--length", "30", "--seed", "5"]
    assert main([*argv, "--num-samples", "3"]) == 0
    batched = capsys.readouterr().out
    assert main(["sample", str(run), "--prime", "Fi", "--length", "30", "--seed", "6"]) == 0
    single = capsys.readouterr().out
    parts = batched.split("=== sample ")[1:]
    assert [p.split("\n", 1)[0] for p in parts] == [
        "1 (seed 5) ===",
        "2 (seed 6) ===",
        "3 (seed 7) ===",
    ]
    assert parts[1].split("\n", 1)[1] == single


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_sample_with_lower_precision_weights_writes_the_asked_length(run, capsys, precision):
    capsys.readouterr()
    argv = ["sample", str(run), "--prime", "F", "--length", "25", "--precision", precision]
    assert main(argv) == 0
    assert len(capsys.readouterr().out) == 1 + 25 + 1  # prime, the characters, a newline


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--num-samples", "0"], "--num-samples must be >= 1"),
        (["--engine", "onnxruntime", "--precision", "int8"], "needs --engine torch"),
    ],
)
def test_bad_sampling_options_are_one_line_and_exit_2(run, capsys, extra, message):
    assert main(["sample", str(run), "--length", "5", *extra]) == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_forecasting_steps_the_autoregressive_head_as_the_layer_computes_it(cell):
    from rnnkit.models.forecaster import Forecaster, ForecasterConfig

    config = ForecasterConfig(cell=cell, hidden_size=6, decoder="autoregressive", num_layers=2)
    config.attention = "additive"
    model = Forecaster(config, input_size=3, output_size=2, horizon=5, target_inputs=[0, 2]).eval()
    window = torch.randn(4, 9, 3)
    trained_path = model(window)  # with gradients: the layer, as in training
    with torch.no_grad():
        stepped = model(window)  # forecasting: the stepper
    assert float((stepped - trained_path.detach()).abs().max()) <= TOLERANCE["fp32"]


@pytest.mark.parametrize("cell,attention", [("lstm", "additive"), ("gru", "none"), ("rnn", "dot")])
def test_greedy_decoding_steps_the_decoder_as_the_model_step_computes_it(cell, attention):
    from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig

    config = Seq2SeqConfig(cell=cell, attention=attention, embedding_dim=6, hidden_size=8)
    model = Seq2Seq(config, src_vocab_size=15, tgt_vocab_size=13).eval()
    source, lengths = torch.randint(4, 15, (3, 6)), torch.tensor([6, 2, 4])
    tokens = torch.randint(4, 13, (4, 3))
    with torch.no_grad():
        memory = model.encode(source, lengths)
        state, stepper = model.initial_state(memory), model.decoder_stepper(memory)
        for step_tokens in tokens:
            attentional, state, weights = model.step(step_tokens, state, memory)
            logits, stepped_weights = stepper.step(step_tokens)
            assert float((logits - model.logits(attentional)).abs().max()) <= TOLERANCE["fp32"]
            if weights is not None:
                assert float((stepped_weights - weights).abs().max()) <= TOLERANCE["fp32"]
