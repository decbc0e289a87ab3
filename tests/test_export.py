"""ONNX export: every task's graph computes what the PyTorch model computes (<= 1e-4) in
onnxruntime, for every cell, uni- and bidirectional where the task allows it, and variable lengths;
the sidecar describes the graph; ``--engine onnxruntime`` scores and samples through it."""

from __future__ import annotations

import itertools
import json
import warnings

import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import rnnkit  # noqa: E402
from rnnkit import (
    onnx_export,  # noqa: E402
    onnxengine,  # noqa: E402
)
from rnnkit.cli import main  # noqa: E402
from rnnkit.layers import GRU, LSTM, RNN  # noqa: E402
from rnnkit.models.classifier import ClassifierConfig, TextClassifier  # noqa: E402
from rnnkit.models.forecaster import Forecaster, ForecasterConfig  # noqa: E402
from rnnkit.models.lm import CharLM, LMConfig  # noqa: E402
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig, beam_search, greedy  # noqa: E402
from rnnkit.tasks.classify import pad_batch  # noqa: E402
from tests.conftest import TINY_LM  # noqa: E402

TOLERANCE = 1e-4  # largest absolute difference allowed between onnxruntime and PyTorch
CELLS = ("rnn", "lstm", "gru")


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def padded(batch: int, steps: int, lengths: list[int], vocab: int) -> torch.Tensor:
    """Random ids (B, T) in [4, vocab) with 0 past each row's length."""
    ids = torch.randint(4, vocab, (batch, steps))
    ids[torch.arange(steps) >= torch.tensor(lengths).unsqueeze(1)] = 0
    return ids


def max_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return float((a - b).abs().max())


class LayerGraph(torch.nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.layer = onnx_export.ExportedLayer(layer)

    def forward(self, x, lengths):
        output, state = self.layer(x, lengths=lengths)
        return output, state[0] if isinstance(state, tuple) else state


LAYER_CASES = [
    (kind, bidirectional, bias)
    for kind in ("rnn-tanh", "rnn-relu", "lstm", "gru", "gru-reset-before")
    for bidirectional in (False, True)
    for bias in (True, False)
]


@pytest.mark.parametrize("kind,bidirectional,bias", LAYER_CASES)
def test_a_layer_is_one_onnx_operator_per_layer_with_packed_lengths(
    tmp_path, kind, bidirectional, bias
):
    import onnx

    options = {"rnn-relu": {"nonlinearity": "relu"}, "gru-reset-before": {"reset_after": False}}
    cls = {"rnn": RNN, "lstm": LSTM, "gru": GRU}[kind.split("-")[0]]
    layer = cls(
        4, 6, 2, bias=bias, bidirectional=bidirectional, batch_first=True, **options.get(kind, {})
    )
    inputs = [
        onnx_export._io("x", "float32", ["batch", "steps", 4]),
        onnx_export._io("lengths", "int64", ["batch"]),
    ]
    outputs = [onnx_export._io("y", "float32", ["batch", "steps", 6 * (1 + bidirectional)])]
    outputs.append(onnx_export._io("h_n", "float32", [2 * (1 + bidirectional), "batch", 6]))
    path = tmp_path / "layer.onnx"
    example = (torch.randn(2, 3, 4), torch.tensor([3, 2]))
    onnx_export._export_graph(LayerGraph(layer), example, inputs, outputs, path)
    operators = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert operators.count(cls.__name__) == 2  # one per layer, both directions in it
    x, lengths = torch.randn(4, 7, 4), torch.tensor([7, 5, 1, 3])  # other sizes than traced
    y, h_n = onnxengine.Graph(path)(x=x, lengths=lengths)
    expected_y, expected_state = layer(x, lengths=lengths)
    expected_h = expected_state[0] if isinstance(expected_state, tuple) else expected_state
    assert max_difference(y, expected_y) <= TOLERANCE
    assert max_difference(h_n, expected_h) <= TOLERANCE
    assert float(y[2, 1:].abs().max()) == 0.0  # past a row's length the output is zero


@pytest.mark.parametrize("cell,attention", list(itertools.product(CELLS, ("none", "dot"))))
def test_lm_graph_matches_pytorch_and_carries_its_state(tmp_path, cell, attention):
    config = LMConfig(cell=cell, hidden_size=8, num_layers=2, embedding_dim=5, attention=attention)
    config.attention_window = 4
    model = CharLM(config, vocab_size=11).eval()
    graph = onnxengine.OnnxLM(tmp_path, onnx_export.export_model("lm", model, tmp_path / "lm.onnx"))
    first, second = torch.randint(0, 11, (3, 6)), torch.randint(0, 11, (3, 2))
    expected, state = model(first)
    logits, onnx_state = graph(first)  # no state inputs: their defaults, a fresh state
    assert max_difference(logits, expected) <= TOLERANCE
    expected_next, _ = model(second, state)
    logits_next, _ = graph(second, onnx_state)  # the returned state, fed back
    assert max_difference(logits_next, expected_next) <= TOLERANCE


def test_lm_graph_of_a_variational_dropout_stack_matches_pytorch(tmp_path):
    config = LMConfig(cell="gru", hidden_size=8, num_layers=2, variational_dropout=True)
    model = CharLM(config.resolved(True), vocab_size=11).eval()
    graph = onnxengine.OnnxLM(tmp_path, onnx_export.export_model("lm", model, tmp_path / "a.onnx"))
    ids = torch.randint(0, 11, (3, 6))
    assert max_difference(graph(ids)[0], model(ids)[0]) <= TOLERANCE


def test_lm_state_fed_as_zeros_is_a_fresh_state(tmp_path):
    model = CharLM(LMConfig(cell="lstm", hidden_size=8, num_layers=2), vocab_size=7).eval()
    graph = onnxengine.OnnxLM(tmp_path, onnx_export.export_model("lm", model, tmp_path / "lm.onnx"))
    ids = torch.randint(0, 7, (2, 5))
    zeros = (torch.zeros(2, 2, 8), torch.zeros(2, 2, 8))
    assert max_difference(graph(ids, zeros)[0], graph(ids)[0]) == 0.0


CLASSIFIER_CASES = [
    (cell, bidirectional, pooling)
    for cell in CELLS
    for bidirectional in (False, True)
    for pooling in ("last", "mean", "max", "attention")
]


@pytest.mark.parametrize("cell,bidirectional,pooling", CLASSIFIER_CASES)
def test_classifier_graph_matches_pytorch_on_variable_lengths(
    tmp_path, cell, bidirectional, pooling
):
    config = ClassifierConfig(
        cell=cell, embedding_dim=6, hidden_size=5, bidirectional=bidirectional, pooling=pooling
    )
    config.num_layers = 2
    model = TextClassifier(config, vocab_size=20, num_classes=3).eval()
    sidecar = onnx_export.export_model("classify", model, tmp_path / "c.onnx")
    graph = onnxengine.OnnxClassifier(tmp_path, sidecar)
    lengths = [7, 2, 5, 1]
    ids = padded(4, 7, lengths, 20)
    assert (
        max_difference(graph(ids, torch.tensor(lengths)), model(ids, torch.tensor(lengths)))
        <= TOLERANCE
    )


@pytest.mark.parametrize(
    "cell,bidirectional,decoder",
    list(itertools.product(CELLS, (False, True), ("direct", "autoregressive"))),
)
def test_forecaster_graph_matches_pytorch(tmp_path, cell, bidirectional, decoder):
    config = ForecasterConfig(
        cell=cell, hidden_size=6, bidirectional=bidirectional, decoder=decoder, attention="general"
    )
    model = Forecaster(config, input_size=3, output_size=2, horizon=4, target_inputs=[0, 2]).eval()
    sidecar = onnx_export.export_model("forecast", model, tmp_path / "f.onnx")
    graph = onnxengine.OnnxForecaster(tmp_path, sidecar)
    window = torch.randn(5, 9, 3)  # another batch and lookback than traced
    assert max_difference(graph(window), model(window)) <= TOLERANCE


@pytest.mark.parametrize("cell", CELLS)
def test_segment_forecaster_graph_matches_pytorch(tmp_path, cell):
    config = ForecasterConfig(cell=cell, hidden_size=6, segment=3, window_norm="revin")
    model = Forecaster(config, input_size=3, output_size=2, horizon=4, target_inputs=[0, 2]).eval()
    sidecar = onnx_export.export_model("forecast", model, tmp_path / "f.onnx")
    graph = onnxengine.OnnxForecaster(tmp_path, sidecar)
    window = torch.randn(5, 9, 3)  # another batch and lookback than traced
    assert max_difference(graph(window), model(window)) <= TOLERANCE


@pytest.mark.parametrize(
    "cell,attention", list(itertools.product(CELLS, ("none", "dot", "additive")))
)
def test_translation_graphs_match_pytorch_in_scoring_greedy_and_beam_search(
    tmp_path, cell, attention
):
    config = Seq2SeqConfig(cell=cell, attention=attention, embedding_dim=6, hidden_size=8)
    config.num_layers = 2
    model = Seq2Seq(config, src_vocab_size=15, tgt_vocab_size=13).eval()
    sidecar = onnx_export.export_model("translate", model, tmp_path / "t.onnx")
    graph = onnxengine.OnnxSeq2Seq(tmp_path, sidecar)
    lengths = torch.tensor([6, 2, 4])
    source = padded(3, 6, lengths.tolist(), 15)
    target = torch.randint(4, 13, (3, 5))
    target[:, 0] = 2
    assert (
        max_difference(graph(source, lengths, target), model(source, lengths, target)) <= TOLERANCE
    )
    for decode in (greedy, lambda m, s, n: beam_search(m, s, n, beam_size=3)):
        expected, got = decode(model, source, lengths), decode(graph, source, lengths)
        assert [h.ids for h in got] == [h.ids for h in expected]
        assert max(abs(a.score - b.score) for a, b in zip(got, expected)) <= TOLERANCE


# --- runs, the CLI and the sidecar ---------------------------------------------------------------
@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    from tests.conftest import TINY_TEXT

    folder = tmp_path_factory.mktemp("export-lm")
    corpus = folder / "corpus.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    run = folder / "run"
    assert main(["train", "lm", "--data", str(corpus), "--out", str(run), *TINY_LM]) == 0
    return run


def test_export_writes_the_graph_its_sidecar_and_the_vocabulary(lm_run, tmp_path, capsys):
    import onnx

    import rnnkit

    out = tmp_path / "deploy" / "model.onnx"
    assert main(["export", str(lm_run), "--format", "onnx", "--out", str(out)]) == 0
    sidecar = json.loads((tmp_path / "deploy" / "model.onnx.json").read_text())
    assert sidecar["task"] == "lm" and sidecar["rnnkit_version"] == rnnkit.__version__
    graph = onnx.load(str(out)).graph
    assert [value.name for value in graph.input] == [spec["name"] for spec in sidecar["inputs"]]
    assert [value.name for value in graph.output] == [spec["name"] for spec in sidecar["outputs"]]
    assert sidecar["inputs"][0] == {
        **sidecar["inputs"][0],
        "dtype": "int64",
        "shape": ["batch", "steps"],
    }
    vocab = json.loads((out.parent / sidecar["files"]["vocab"]).read_text())
    assert vocab == json.loads((lm_run / "vocab.json").read_text())


def test_evaluate_through_onnxruntime_gives_the_pytorch_loss(lm_run, capsys):
    assert main(["evaluate", str(lm_run)]) == 0
    torch_result = json.loads((lm_run / "eval.json").read_text())
    assert main(["evaluate", str(lm_run), "--engine", "onnxruntime"]) == 0
    onnx_result = json.loads((lm_run / "eval.onnxruntime.json").read_text())
    assert onnx_result["engine"] == "onnxruntime"
    assert onnx_result["loss"] == pytest.approx(torch_result["loss"], abs=TOLERANCE)
    assert json.loads((lm_run / "eval.json").read_text()) == torch_result  # left as it was


def test_sample_through_onnxruntime_draws_the_same_text(lm_run, capsys):
    texts = []
    for engine in ("torch", "onnxruntime"):
        capsys.readouterr()
        argv = ["sample", str(lm_run), "--length", "60", "--seed", "4", "--engine", engine]
        assert main(argv) == 0
        texts.append(capsys.readouterr().out)
    assert texts[0] == texts[1]


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--out", "model.txt"], "expected a file name ending in .onnx"),
        (["--out", "m.onnx", "--format", "tflite"], "--format must be one of onnx"),
    ],
)
def test_bad_export_options_are_one_line_and_exit_2(lm_run, tmp_path, capsys, argv, message):
    argv = [a if not a.endswith(("onnx", ".txt")) else str(tmp_path / a) for a in argv]
    assert main(["export", str(lm_run), *argv]) == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]


def _scores(result: dict, keys: list[str]) -> list[float]:
    """The numbers at dotted ``keys`` of an evaluation result."""
    values = []
    for key in keys:
        value = result
        for part in key.split("."):
            value = value[part]
        values.append(value)
    return values


def _evaluate_both(run, capsys) -> tuple[dict, dict]:
    assert main(["evaluate", str(run)]) == 0
    assert main(["evaluate", str(run), "--engine", "onnxruntime"]) == 0
    capsys.readouterr()
    return (
        json.loads((run / "eval.json").read_text()),
        json.loads((run / "eval.onnxruntime.json").read_text()),
    )


def test_classify_evaluated_through_onnxruntime_scores_as_pytorch(tmp_path, capsys):
    from tests.test_classify_cli import TINY, rows, write_tsv

    data = write_tsv(tmp_path / "train.tsv", rows(120))
    run = tmp_path / "run"
    argv = ["train", "classify", "--data", data, "--out", str(run), *TINY, "--epochs", "1"]
    assert main([*argv, "--bidirectional", "--pooling", "attention"]) == 0
    expected, got = _evaluate_both(run, capsys)
    keys = ["loss", "accuracy", "macro_f1", "valid.loss"]
    assert _scores(got, keys) == pytest.approx(_scores(expected, keys), abs=TOLERANCE)
    assert got["confusion"] == expected["confusion"]


def test_a_char_ngram_classifier_exports_its_ngram_inputs_and_scores_as_pytorch(tmp_path, capsys):
    from rnnkit.data.ngrams import with_ngrams
    from tests.test_classify_cli import TINY, rows, write_tsv

    data = write_tsv(tmp_path / "train.tsv", rows(120))
    run = tmp_path / "run"
    argv = ["train", "classify", "--data", data, "--out", str(run), *TINY, "--epochs", "1"]
    assert main([*argv, "--char-ngrams", "300", "--pooling", "max"]) == 0
    expected, got = _evaluate_both(run, capsys)
    keys = ["loss", "accuracy", "macro_f1", "valid.loss"]
    assert _scores(got, keys) == pytest.approx(_scores(expected, keys), abs=TOLERANCE)
    out = tmp_path / "deploy" / "c.onnx"
    assert main(["export", str(run), "--out", str(out)]) == 0
    sidecar = json.loads(out.with_name("c.onnx.json").read_text())
    assert sidecar["inputs"][0]["shape"] == ["batch", "steps", "width"]
    assert sidecar["char_ngrams"]["buckets"] == 300 and sidecar["char_ngrams"]["sizes"] == [3, 4, 5]
    # a batch of words the run never saw, against PyTorch
    loaded = rnnkit.load(run)
    tokens = [["superbly", "the"], ["dullest"], ["a", "zzz", "plot"]]
    ids, lengths = pad_batch([with_ngrams(t, loaded.vocab.encode(t), 300) for t in tokens])
    graph = onnxengine.OnnxClassifier(out.parent, sidecar)
    assert max_difference(graph(ids, lengths), loaded.model(ids, lengths)) <= TOLERANCE


def test_an_audio_classifier_exports_reading_frames_and_scores_as_pytorch(tmp_path, capsys):
    from tests.test_audio import tone, write_wav

    for label, frequency in (("low", 300), ("high", 1800)):
        for i in range(6):
            write_wav(tmp_path / "clips" / label / f"{i}.wav", tone(frequency, 0.1 + 0.03 * i))
    run = tmp_path / "run"
    argv = ["train", "classify", "--data", str(tmp_path / "clips"), "--out", str(run)]
    argv += ["--hidden", "4", "--epochs", "1", "--no-progress", "--n-mels", "8"]
    assert main([*argv, "--bidirectional", "--test-speeds", "0.9,1,1.1"]) == 0
    expected, got = _evaluate_both(run, capsys)
    keys = ["loss", "accuracy", "valid.loss"]
    assert _scores(got, keys) == pytest.approx(_scores(expected, keys), abs=TOLERANCE)
    assert got["accuracy_by_speed"] == expected["accuracy_by_speed"]
    assert main(["export", str(run), "--out", str(tmp_path / "deploy" / "audio.onnx")]) == 0
    sidecar = json.loads((tmp_path / "deploy" / "audio.onnx.json").read_text())
    assert [(i["name"], i["shape"]) for i in sidecar["inputs"]] == [
        ("frames", ["batch", "steps", 8]),
        ("lengths", ["batch"]),
    ]
    assert sidecar["audio"]["n_mels"] == 8 and sidecar["audio"]["test_speeds"] == [0.9, 1, 1.1]
    assert "files" not in sidecar  # no vocabulary


def test_forecast_evaluated_through_onnxruntime_scores_as_pytorch(tmp_path, capsys):
    from tests.test_forecast_cli import train, write_hourly

    run = tmp_path / "run"
    hourly = write_hourly(tmp_path / "hourly.csv")
    extra = ["--target", "load", "--lookback", "24", "--horizon", "4", "--bidirectional"]
    assert train(hourly, run, *extra, "--decoder", "autoregressive", "--cell", "gru") == 0
    expected, got = _evaluate_both(run, capsys)
    keys = ["metrics.model.mse", "metrics.model.mae", "valid.loss"]
    assert _scores(got, keys) == pytest.approx(_scores(expected, keys), abs=TOLERANCE)


def test_translate_evaluated_through_onnxruntime_scores_as_pytorch(tmp_path, capsys):
    pytest.importorskip("tokenizers")
    pytest.importorskip("sacrebleu")
    from tests.test_translate_cli import SMALL_MODEL, file_options

    run = tmp_path / "run"
    argv = ["train", "translate", *file_options(tmp_path), *SMALL_MODEL, "--cell", "lstm"]
    assert main([*argv, "--max-steps", "20", "--eval-every", "10", "--out", str(run)]) == 0
    expected, got = _evaluate_both(run, capsys)
    keys = ["loss", "valid.loss", "greedy.bleu", "beam3.bleu"]
    assert _scores(got, keys) == pytest.approx(_scores(expected, keys), abs=TOLERANCE)


def test_readme_generation_with_plain_onnxruntime_runs(lm_run, tmp_path, capsys, monkeypatch):
    """README's example (no rnnkit, no torch) on a tiny run's export, primed with its own text."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    marker = "# generate with the exported language model, without rnnkit"
    code = readme[readme.index(marker) :].split("```", 1)[0].replace('"ROMEO:"', '"First"')
    assert main(["export", str(lm_run), "--out", str(tmp_path / "deploy" / "model.onnx")]) == 0
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert printed.startswith("First") and len(printed) == len("First") + 200 + 1


def test_word_lm_exports_its_tokens_and_samples_the_same_words(tmp_path, capsys):
    from tests.test_word_lm import CORPUS, TINY

    corpus = tmp_path / "captions.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    run = tmp_path / "run"
    argv = ["train", "lm", "--data", str(corpus), "--tokenizer", "word", *TINY, "--out", str(run)]
    assert main(argv) == 0
    assert main(["export", str(run), "--out", str(tmp_path / "word.onnx")]) == 0
    sidecar = json.loads((tmp_path / "word.onnx.json").read_text())
    stored = json.loads((run / "vocab.json").read_text())
    assert sidecar["vocab"]["level"] == "word" and sidecar["vocab"]["tokens"] == stored["tokens"]
    assert sidecar["vocab"]["never_sampled"] == [0, 1]  # <pad>, <unk>
    texts = []
    for engine in ("torch", "onnxruntime"):
        capsys.readouterr()
        sample = ["sample", str(run), "--prime", "a", "--length", "20", "--seed", "2"]
        assert main([*sample, "--engine", engine]) == 0
        texts.append(capsys.readouterr().out)
    assert texts[0] == texts[1]
