"""Regularisation of recurrent layers (issue 13): variational dropout, weight drop, zoneout and the
LayerNorm LSTM, each against a direct computation of its equations; eval mode; the options through
the models, config.json and the CLI; SST-2's phrase-level training set."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

import rnnkit
from rnnkit.cells import LayerNormLSTMCell, LSTMCell
from rnnkit.cli import main
from rnnkit.errors import InputError
from rnnkit.layers import GRU, LSTM, RNN, LayerNormLSTM
from rnnkit.regularise import bernoulli_mask, dropout, locked_dropout
from tests.conftest import TINY_LM
from tests.test_cli_truth import rnnkit as run_rnnkit

TOL = 1e-5  # float32 max abs difference unless stated
KINDS = {"rnn": RNN, "lstm": LSTM, "gru": GRU, "lnlstm": LayerNormLSTM}
STEPS, BATCH, INPUT, HIDDEN = 6, 3, 4, 5


def _inputs(seed: int = 0) -> torch.Tensor:
    return torch.randn(STEPS, BATCH, INPUT, generator=torch.Generator().manual_seed(seed))


def _twin(layer, **options):
    """A layer of the same kind and shape, with ``options``, holding ``layer``'s parameters."""
    twin = type(layer)(
        layer.input_size,
        layer.hidden_size,
        num_layers=layer.num_layers,
        bidirectional=layer.bidirectional,
        **options,
    )
    twin.load_state_dict(layer.state_dict())
    return twin


def _close(a, b, tol=TOL) -> bool:
    if isinstance(a, tuple):
        return all(_close(x, y, tol) for x, y in zip(a, b, strict=True))
    return (a - b).abs().max().item() <= tol


# --- dropout with a 16-bit mask on the CPU ----------------------------------------------------
@pytest.mark.parametrize("keep", [0.5, 0.85, 0.999])
def test_bernoulli_mask_keeps_each_of_the_four_parts_of_a_draw_at_its_rate(keep):
    """Each 64-bit draw gives four elements; every one of the four positions must be kept at the
    quantised rate q (a draw whose top bit were always 0 would keep its fourth part always)."""
    torch.manual_seed(0)
    mask, q = bernoulli_mask((4 * 50_000,), keep)
    assert q * 2**16 == round(keep * 2**16) and abs(q - keep) <= 2**-17
    for part in range(4):
        rate = mask[part::4].double().mean().item()
        assert abs(rate - q) < 5 * (q * (1 - q) / 50_000) ** 0.5 + 1e-9, (part, rate)


def test_bernoulli_mask_is_seeded_by_torch_and_fresh_at_every_call():
    torch.manual_seed(3)
    first, _ = bernoulli_mask((5, 7), 0.5)
    second, _ = bernoulli_mask((5, 7), 0.5)
    torch.manual_seed(3)
    again, _ = bernoulli_mask((5, 7), 0.5)
    assert first.shape == (5, 7) and torch.equal(first, again) and not torch.equal(first, second)


def test_dropout_scales_kept_elements_by_the_inverse_keep_rate_and_passes_gradients_so():
    x = torch.randn(64, 33, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(1)
    y = dropout(x, 0.3, training=True)
    torch.manual_seed(1)
    mask, q = bernoulli_mask(x.shape, 0.7)
    torch.testing.assert_close(y, x * mask / q)
    assert torch.equal(y == 0, ~mask) and 0.2 < (y == 0).double().mean().item() < 0.4
    y.sum().backward()
    torch.testing.assert_close(x.grad, mask.double() / q)
    assert dropout(x, 0.3, training=False) is x and dropout(x, 0.0, training=True) is x
    half = torch.ones(8, dtype=torch.bfloat16)
    assert dropout(half, 0.5, training=True).dtype == torch.bfloat16


# --- variational (locked) dropout -------------------------------------------------------------
def test_locked_dropout_uses_one_mask_for_every_step_in_either_layout():
    for time_dim, shape in ((1, (3, 7, 50)), (0, (7, 3, 50))):
        dropped = locked_dropout(torch.ones(shape), 0.5, training=True, time_dim=time_dim)
        first = dropped.select(time_dim, 0).unsqueeze(time_dim)
        assert torch.equal(dropped, first.expand(shape))  # the same mask at every step
        assert set(dropped.unique().tolist()) <= {0.0, 2.0}  # m / (1 - p)


@pytest.mark.parametrize("backend", ["reference", "fused"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_variational_dropout_between_layers_is_one_mask_per_sequence(kind, backend):
    """Layer 1 reads layer 0's output times one (1, B, D*H) mask / (1 - p): the direct
    computation draws that mask with the same seed and runs the two layers one at a time."""
    torch.manual_seed(0)
    layer = KINDS[kind](INPUT, HIDDEN, num_layers=2, bidirectional=True, dropout=0.5)
    layer = _twin(layer, dropout=0.5, variational_dropout=True, backend=backend).train()
    x = _inputs()
    torch.manual_seed(7)
    output, _ = layer(x)
    torch.manual_seed(7)
    mask = torch.empty(1, BATCH, 2 * HIDDEN).bernoulli_(0.5) / 0.5  # drawn after layer 0 runs
    bottom = KINDS[kind](INPUT, HIDDEN, bidirectional=True)
    top = KINDS[kind](2 * HIDDEN, HIDDEN, bidirectional=True)
    for index, single in ((0, bottom), (1, top)):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            for suffix in ("", "_reverse"):
                value = getattr(layer, f"{name}_l{index}{suffix}")
                getattr(single, f"{name}_l0{suffix}").data.copy_(value)
    expected, _ = top(bottom(x)[0] * mask)
    assert _close(output, expected)
    assert layer.last_backend == backend


# --- weight-dropped recurrent matrices --------------------------------------------------------
@pytest.mark.parametrize("backend", ["reference", "fused"])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_weight_drop_uses_one_dropped_w_hh_for_every_step_of_a_pass(kind, backend):
    """The output equals the plain layer run with W_hh * M / (1 - p), one mask M per (layer,
    direction) drawn in that order with the same seed: every step used the same matrix."""
    torch.manual_seed(0)
    plain = KINDS[kind](INPUT, HIDDEN, num_layers=2, bidirectional=True).eval()
    layer = _twin(plain, weight_dropout=0.4, backend=backend).train()
    x, lengths = _inputs(), torch.tensor([6, 2, 4])
    torch.manual_seed(3)
    output, state = layer(x, lengths=lengths)
    torch.manual_seed(3)
    for names in plain._weight_names:
        weight_hh = getattr(plain, names[1])
        weight_hh.data.copy_(dropout(weight_hh.data, 0.4, training=True))
    expected, expected_state = plain(x, lengths=lengths)
    assert _close(output, expected) and _close(state, expected_state)
    assert layer.last_backend == backend


def test_weight_drop_draws_a_fresh_mask_for_each_forward_pass():
    layer = LSTM(INPUT, HIDDEN, weight_dropout=0.5).train()
    x = _inputs()
    assert not torch.equal(layer(x)[0], layer(x)[0])


def test_fused_backend_runs_weight_drop_and_variational_dropout_and_says_how():
    layer = LSTM(INPUT, HIDDEN, num_layers=2, dropout=0.3, variational_dropout=True)
    layer.weight_dropout = 0.3
    layer.train()(_inputs())
    assert layer.last_backend == "fused"
    assert "DropConnect" in layer.last_backend_reason
    assert "one call per layer" in layer.last_backend_reason


# --- zoneout ----------------------------------------------------------------------------------
def _direct_zoneout(layer, x, training: bool, rates):
    """A one-layer layer's recurrence written out: s_t = m s_{t-1} + (1 - m) s~_t (training,
    m ~ Bernoulli(z) per unit and step, h's mask drawn before c's) or z s_{t-1} + (1 - z) s~_t."""
    weight_ih, weight_hh, bias_ih, bias_hh = layer._weights(0)
    zeros = x.new_zeros(x.shape[1], layer.hidden_size)
    state = (zeros,) * layer.num_states
    outputs = []
    for x_t in x.unbind(0):
        new = layer._step(F.linear(x_t, weight_ih, bias_ih), state, weight_hh, bias_hh)
        mixed = []
        for n, old, z in zip(new, state, rates, strict=True):
            if training:
                keep = torch.empty_like(n).bernoulli_(z).bool()
                mixed.append(torch.where(keep, old, n))
            else:
                mixed.append(z * old + (1 - z) * n)
        state = tuple(mixed)
        outputs.append(state[0])
    return torch.stack(outputs), state


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(
    "kind, options, rates",
    [
        ("rnn", {"zoneout": 0.3}, (0.3,)),
        ("gru", {"zoneout": 0.3}, (0.3,)),
        ("lstm", {"zoneout": 0.3}, (0.3, 0.3)),  # one rate for h and c
        ("lstm", {"zoneout": 0.1, "zoneout_cell": 0.6}, (0.1, 0.6)),
    ],
)
def test_zoneout_follows_its_equations_in_training_and_its_expectation_in_eval(
    kind, options, rates, training
):
    torch.manual_seed(0)
    layer = KINDS[kind](INPUT, HIDDEN, **options).train(training)
    x = _inputs()
    torch.manual_seed(5)
    output, state = layer(x)
    torch.manual_seed(5)
    expected, expected_state = _direct_zoneout(layer, x, training, rates)
    assert _close(output, expected)
    assert _close(state if isinstance(state, tuple) else (state,), tuple(s for s in expected_state))
    assert layer.last_backend == "reference" and "zoneout" in layer.last_backend_reason


def test_zoneout_draws_a_new_mask_at_every_step_at_its_rate():
    """A unit that zoned out repeats its previous value exactly; which units did differs from
    step to step, and about z of them do (z = 0.5, 4 x 400 units: within 0.05)."""
    torch.manual_seed(0)
    layer = RNN(INPUT, 400, zoneout=0.5).train()
    output, _ = layer(torch.randn(5, 4, INPUT))  # (T, B, H)
    kept = output[1:] == output[:-1]  # (T-1, B, H)
    assert abs(kept.float().mean().item() - 0.5) < 0.05
    assert not torch.equal(kept[0], kept[1]) and not torch.equal(kept[1], kept[2])


def test_zoneout_in_step_matches_forward_in_eval():
    layer = LSTM(INPUT, HIDDEN, num_layers=2, zoneout=0.2, zoneout_cell=0.5).eval()
    x = _inputs()[:, :2]  # (T, 2, I)
    output, _ = layer(x)
    state, stepped = None, []
    for x_t in x.unbind(0):
        h, state = layer.step(x_t, state)
        stepped.append(h)
    assert _close(output, torch.stack(stepped))


# --- eval mode --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize(
    "options",
    [{"weight_dropout": 0.5}, {"variational_dropout": True, "dropout": 0.5}],
    ids=["weight-drop", "variational"],
)
def test_eval_mode_is_deterministic_and_is_the_unregularised_layer(kind, options):
    torch.manual_seed(0)
    plain = KINDS[kind](INPUT, HIDDEN, num_layers=2).eval()
    layer = _twin(plain, **options).eval()
    x, lengths = _inputs(), torch.tensor([6, 3, 5])
    first, second = layer(x, lengths=lengths), layer(x, lengths=lengths)
    assert torch.equal(first[0], second[0])
    assert _close(first[0], plain(x, lengths=lengths)[0], 0.0)


def test_defaults_change_nothing_and_keep_the_fused_kernel():
    torch.manual_seed(0)
    ours, theirs = rnnkit.LSTM(INPUT, HIDDEN, num_layers=2), torch.nn.LSTM(INPUT, HIDDEN, 2)
    theirs.load_state_dict(ours.state_dict())
    x = _inputs()
    assert _close(ours(x)[0], theirs(x)[0])
    assert ours.last_backend == "fused"
    assert ours.last_backend_reason == "auto: the fused kernel computes the same function"
    assert (ours.weight_dropout, ours.zoneout, ours.zoneout_cell) == (0.0, 0.0, None)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"weight_dropout": 1.0}, "weight_dropout must be in [0, 1), got 1.0"),
        ({"zoneout": -0.1}, "zoneout must be in [0, 1), got -0.1"),
    ],
)
def test_a_rate_outside_0_1_is_refused_by_the_layer(options, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace(")", r"\)")):
        GRU(INPUT, HIDDEN, **options)


def test_zoneout_cell_needs_a_cell_state():
    with pytest.raises(ValueError, match="zoneout_cell needs a cell state"):
        GRU(INPUT, HIDDEN, zoneout_cell=0.2)


# --- the LayerNorm LSTM -----------------------------------------------------------------------
def _layer_norm(a: torch.Tensor, gain, shift=0.0, eps=1e-5) -> torch.Tensor:
    """Written out: (a - mean) / sqrt(biased variance + eps) * gain + shift over the last dim."""
    mean = a.mean(-1, keepdim=True)
    variance = ((a - mean) ** 2).mean(-1, keepdim=True)
    return (a - mean) / torch.sqrt(variance + eps) * gain + shift


def test_layer_norm_lstm_cell_follows_its_equations():
    torch.manual_seed(0)
    cell = LayerNormLSTMCell(INPUT, HIDDEN)
    with torch.no_grad():
        for parameter in (cell.layer_norm_ih, cell.layer_norm_hh, cell.layer_norm_cell_weight):
            parameter.uniform_(0.5, 1.5)
        cell.layer_norm_cell_bias.uniform_(-0.5, 0.5)
    x, h, c = torch.randn(BATCH, INPUT), torch.randn(BATCH, HIDDEN), torch.randn(BATCH, HIDDEN)
    h_next, c_next = cell(x, (h, c))

    def per_gate(a, gain):  # each of the four gate blocks normalised on its own
        blocks = zip(a.chunk(4, dim=1), gain.chunk(4), strict=True)
        return torch.cat([_layer_norm(block, g) for block, g in blocks], dim=1)

    pre = (
        per_gate(x @ cell.weight_ih.T, cell.layer_norm_ih)
        + cell.bias_ih
        + per_gate(h @ cell.weight_hh.T, cell.layer_norm_hh)
        + cell.bias_hh
    )
    i, f, g, o = pre.chunk(4, dim=1)
    c_expected = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    normalised = _layer_norm(c_expected, cell.layer_norm_cell_weight, cell.layer_norm_cell_bias)
    h_expected = torch.sigmoid(o) * torch.tanh(normalised)
    assert _close(c_next, c_expected) and _close(h_next, h_expected)


def test_layer_norm_lstm_cell_passes_gradcheck_in_float64():
    torch.manual_seed(0)
    cell = LayerNormLSTMCell(3, 4).double()
    with torch.no_grad():
        cell.layer_norm_cell_bias.uniform_(-0.5, 0.5)  # a non-trivial shift
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    c = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    parameters = tuple(cell.parameters())

    def run(x, h, c, *weights):
        values = dict(zip([name for name, _ in cell.named_parameters()], weights, strict=True))
        return torch.func.functional_call(cell, values, (x, (h, c)))

    assert gradcheck(run, (x, h, c, *parameters), eps=1e-6, atol=1e-5)


def test_layer_norm_lstm_layer_passes_gradcheck_in_float64():
    torch.manual_seed(0)
    layer = LayerNormLSTM(3, 4, num_layers=2, bidirectional=True).double()
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 2])
    assert gradcheck(lambda x: layer(x, lengths=lengths)[0], (x,), eps=1e-6, atol=1e-5)


def test_layer_norm_lstm_layer_runs_its_cell_step_by_step():
    torch.manual_seed(0)
    layer = LayerNormLSTM(INPUT, HIDDEN)
    with torch.no_grad():
        layer.layer_norm_hh_l0.uniform_(0.5, 1.5)
    cell = LayerNormLSTMCell(INPUT, HIDDEN)
    for name, _ in cell.named_parameters():
        getattr(cell, name).data.copy_(getattr(layer, f"{name}_l0"))
    x = _inputs()
    output, (h_n, c_n) = layer(x)
    state = None
    for t, x_t in enumerate(x.unbind(0)):
        state = cell(x_t, state)
        assert _close(output[t], state[0])
    assert _close(h_n[0], state[0]) and _close(c_n[0], state[1])
    assert layer.last_backend == "reference" and "layer normalisation" in layer.last_backend_reason


def test_layer_norm_lstm_starts_as_an_lstm_with_unit_gains():
    layer = LayerNormLSTM(INPUT, HIDDEN, num_layers=2, bidirectional=True)
    names = dict(layer.named_parameters())
    assert torch.equal(names["layer_norm_ih_l1_reverse"], torch.ones(4 * HIDDEN))
    assert torch.equal(names["layer_norm_cell_bias_l0"], torch.zeros(HIDDEN))
    assert set(LSTM(INPUT, HIDDEN, 2, bidirectional=True).state_dict()) < set(names)
    assert LayerNormLSTMCell.gate_names == LSTMCell.gate_names


# --- the models -------------------------------------------------------------------------------
REGULARISED = {"weight_dropout": 0.2, "zoneout": 0.1, "variational_dropout": True}


def _models(cell: str, **options):
    from rnnkit.models.classifier import ClassifierConfig, TextClassifier
    from rnnkit.models.forecaster import Forecaster, ForecasterConfig
    from rnnkit.models.lm import CharLM, LMConfig
    from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig

    small = {"cell": cell, "hidden_size": 8, "num_layers": 2, **options}
    return {
        "lm": CharLM(LMConfig(**small, embedding_dim=6), 11),
        "classify": TextClassifier(ClassifierConfig(**small, embedding_dim=6), 20, 2),
        "forecast": Forecaster(ForecasterConfig(**small, decoder="autoregressive"), 2, 1, 3),
        "translate": Seq2Seq(Seq2SeqConfig(**small, embedding_dim=6), 15, 13),
    }


@pytest.mark.parametrize("task", ["lm", "classify", "forecast", "translate"])
def test_every_task_passes_the_regularisation_to_its_recurrent_layer(task):
    model = _models("lstm", **REGULARISED, zoneout_cell=0.3)[task]
    layer = next(m for m in model.modules() if isinstance(m, LSTM))
    assert (layer.weight_dropout, layer.zoneout, layer.zoneout_cell) == (0.2, 0.1, 0.3)
    assert layer.variational_dropout


def test_every_task_trains_and_predicts_with_lnlstm_and_zoneout():
    from rnnkit.models.seq2seq import greedy

    models = _models("lnlstm", **REGULARISED)
    lm = models["lm"]
    lm(torch.randint(0, 11, (2, 5)))[0].sum().backward()
    stepper = lm.stepper(batch=2)  # falls back to the model's own step
    assert stepper.step(torch.tensor([1, 2])).shape == (2, 11)
    classifier = models["classify"]
    classifier(torch.randint(1, 20, (2, 5)), torch.tensor([5, 3])).sum().backward()
    forecaster = models["forecast"]
    forecaster(torch.randn(2, 7, 2)).sum().backward()
    with torch.no_grad():
        assert forecaster.eval()(torch.randn(2, 7, 2)).shape == (2, 3, 1)
    translator = models["translate"]
    source, lengths = torch.randint(4, 15, (2, 5)), torch.tensor([5, 4])
    translator(source, lengths, torch.randint(4, 13, (2, 4))).sum().backward()
    assert len(greedy(translator, source, lengths, max_length_offset=3)) == 2


def test_zoneout_cell_with_a_cell_without_one_is_refused_by_the_config():
    from rnnkit.models.classifier import ClassifierConfig

    with pytest.raises(InputError, match="--zoneout-cell needs a cell state"):
        rnnkit.config.validate(ClassifierConfig(cell="gru", zoneout_cell=0.2))


def test_onnx_export_refuses_what_its_operators_cannot_compute():
    from rnnkit.onnx_export import exportable

    for cell, options in (("lnlstm", {}), ("gru", {"zoneout": 0.1})):
        with pytest.raises(InputError, match="no ONNX export"):
            exportable(_models(cell, **options)["classify"])


def test_a_language_model_saved_as_a_stack_of_one_layer_layers_still_loads():
    """Runs saved before the layer did variational dropout itself stored rnn.layers.K.*_l0."""
    from rnnkit.models.lm import CharLM, LMConfig

    model = CharLM(LMConfig(hidden_size=8, num_layers=2, embedding_dim=6), 11)
    old = {}
    for key, value in model.state_dict().items():
        if key.startswith("rnn."):
            name, layer = key.removeprefix("rnn.").rsplit("_l", 1)
            key = f"rnn.layers.{layer}.{name}_l0"
        old[key] = value.clone() + 1
    fresh = CharLM(LMConfig(hidden_size=8, num_layers=2, embedding_dim=6), 11)
    fresh.load_state_dict(old)
    assert torch.equal(fresh.rnn.weight_hh_l1, model.rnn.weight_hh_l1 + 1)


# --- options, config.json and the CLI ---------------------------------------------------------
@pytest.mark.parametrize("task", ["lm", "classify", "forecast", "translate"])
def test_regularisation_options_appear_in_train_help(task):
    done = run_rnnkit("train", task, "--help")
    for flag in ("--variational-dropout", "--weight-dropout", "--zoneout", "--zoneout-cell"):
        assert flag in done.stdout, flag
    assert "lnlstm" in done.stdout


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--weight-dropout", "1"], "--weight-dropout must be in [0, 1), got 1.0"),
        (["--zoneout", "-0.5"], "--zoneout must be >= 0, got -0.5"),
        (["--zoneout-cell", "1.5"], "--zoneout-cell must be in [0, 1), got 1.5"),
        (["--cell", "gru", "--zoneout-cell", "0.1"], "--zoneout-cell needs a cell state"),
    ],
)
def test_bad_regularisation_values_are_one_line_and_exit_code_2(corpus, tmp_path, extra, message):
    done = run_rnnkit(
        "train", "lm", "--data", corpus, "--max-steps", "2", "--out", tmp_path / "run", *extra,
        check=False,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr


def test_regularisation_options_are_recorded_in_config_json(corpus, tmp_path):
    run = tmp_path / "run"
    options = ["--cell", "lnlstm", "--weight-dropout", "0.3", "--zoneout", "0.1"]
    argv = ["train", "lm", "--data", str(corpus), *TINY_LM, "--max-steps", "2", *options]
    assert main([*argv, "--variational-dropout", "--threads", "1", "--out", str(run)]) == 0
    model = json.loads((run / "config.json").read_text())["model"]
    assert model["cell"] == "lnlstm" and model["variational_dropout"] is True
    assert (model["weight_dropout"], model["zoneout"], model["zoneout_cell"]) == (0.3, 0.1, None)


# --- SST-2 phrases ------------------------------------------------------------------------------
@pytest.fixture
def fake_sst2(tmp_path, monkeypatch):
    """An sst2-like folder under $RNNKIT_DATA: sentence files and a phrase file with a header."""
    folder = tmp_path / "data" / "sst2"
    folder.mkdir(parents=True)
    sentences = [("1", "a good film"), ("0", "a bad film"), ("1", "great"), ("0", "dull")] * 3
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        text = "".join(f"{label}\t{text}\n" for label, text in sentences)
        (folder / name).write_text(text, encoding="utf-8")
    phrases = [("1", "good"), ("0", "bad"), ("1", "a good"), ("0", "bad film"), ("1", "fine")] * 4
    body = "".join(f"{label}\t{text}\n" for label, text in phrases)
    (folder / "train_phrases.tsv").write_text("label\tsentence\n" + body, encoding="utf-8")
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("RNNKIT_OFFLINE", "1")
    return folder


def test_train_on_phrases_trains_on_the_phrase_file_and_validates_on_sentences(fake_sst2):
    from rnnkit.tasks.classify import ClassifyData, prepare

    prepared = prepare(ClassifyData(data="sst2", train_on="phrases"))
    assert len(prepared.train.texts) == 20 and "fine" in prepared.train.texts
    assert "label" not in prepared.train.labels  # the header is not a row
    assert len(prepared.valid.texts) == len(prepared.test.texts) == 12
    sentences = prepare(ClassifyData(data="sst2"))
    assert len(sentences.train.texts) == 12


def test_train_on_is_recorded_in_config_json(fake_sst2, tmp_path):
    run = tmp_path / "run"
    tiny = ["--hidden", "4", "--embedding-dim", "4", "--max-steps", "2", "--no-progress"]
    argv = ["train", "classify", "--data", "sst2", "--train-on", "phrases", *tiny]
    assert main([*argv, "--threads", "1", "--out", str(run)]) == 0
    assert json.loads((run / "config.json").read_text())["data"]["train_on"] == "phrases"


def test_train_on_phrases_is_refused_in_one_line_without_a_phrase_file(tmp_path, capsys):
    data = tmp_path / "texts.tsv"
    data.write_text("pos\tgood\nneg\tbad\n" * 10, encoding="utf-8")
    argv = ["train", "classify", "--data", str(data), "--train-on", "phrases"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "has no phrase-level training file" in lines[0]
