"""Text classification through the CLI: train, classify, evaluate, and every bad input."""

from __future__ import annotations

import io
import json
import random

import pytest

from rnnkit.cli import main

POSITIVE = ["good", "great", "fine", "lovely", "superb"]
NEGATIVE = ["bad", "awful", "dull", "boring", "poor"]
FILLER = ["the", "film", "was", "a", "plot", "and"]
TINY = [
    "--hidden", "8", "--embedding-dim", "8", "--epochs", "8", "--eval-every", "10",
    "--no-progress", "--threads", "1", "--lr", "0.02", "--dropout", "0", "--batch-size", "16",
]  # fmt: skip


def rows(count: int, seed: int = 0) -> list[tuple[str, str]]:
    """Sentiment by one cue word among filler words: learnable in a few dozen steps."""
    generator = random.Random(seed)
    result = []
    for i in range(count):
        label = "pos" if i % 2 else "neg"
        words = generator.sample(FILLER, 3) + [generator.choice(POSITIVE if i % 2 else NEGATIVE)]
        generator.shuffle(words)
        result.append((label, " ".join(words)))
    return result


def write_tsv(path, data) -> str:
    path.write_text("".join(f"{label}\t{text}\n" for label, text in data), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run trained on a stratified split of one file, shared by the read-only tests."""
    folder = tmp_path_factory.mktemp("classify")
    data = write_tsv(folder / "train.tsv", rows(200))
    run = folder / "run"
    assert main(["train", "classify", "--data", data, "--out", str(run), *TINY]) == 0
    return run


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "expected an error message"
    return err[-1]


def test_training_writes_the_run_files_and_a_stratified_split(trained):
    for name in ["config.json", "vocab.json", "split.json", "model.safetensors", "metrics.jsonl"]:
        assert (trained / name).is_file(), name
    split = json.loads((trained / "split.json").read_text())
    assert (len(split["train"]), len(split["valid"]), len(split["test"])) == (160, 20, 20)
    assert not set(split["train"]) & (set(split["valid"]) | set(split["test"]))
    config = json.loads((trained / "config.json").read_text())
    assert config["classes"] == ["neg", "pos"]
    record = json.loads((trained / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"val_loss", "val_accuracy", "val_macro_f1"} <= record.keys()


def test_classify_prints_label_and_probability(trained, capsys):
    capsys.readouterr()
    assert main(["classify", str(trained), "a great film", "the plot was awful"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["pos", "neg"]
    assert all(0.5 < float(line.split("\t")[1]) <= 1.0 for line in lines)


def test_classify_reads_one_text_per_line_from_stdin(trained, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("superb\nboring film\nlovely plot\n"))
    capsys.readouterr()
    assert main(["classify", str(trained)]) == 0
    labels = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert labels == ["pos", "neg", "pos"]


def test_explain_lists_each_token_with_weights_summing_to_one(trained, capsys):
    capsys.readouterr()
    assert main(["classify", str(trained), "the film was dull", "--explain"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("neg\t")
    tokens = [line.split()[-1] for line in lines[1:]]
    weights = [float(line.split()[0]) for line in lines[1:]]
    assert tokens == ["the", "film", "was", "dull"]
    assert sum(weights) == pytest.approx(1.0, abs=2e-3)  # printed with 3 decimals


def test_evaluate_writes_metrics_and_confusion_plot(trained, capsys):
    assert main(["evaluate", str(trained)]) == 0
    result = json.loads((trained / "eval.json").read_text())
    assert result["examples"] == 20
    assert result["accuracy"] >= 0.9  # the cue word decides the label
    assert set(result["per_class"]) == {"neg", "pos"}
    assert sum(map(sum, result["confusion"])) == 20
    assert result["valid"]["examples"] == 20
    pytest.importorskip("matplotlib")
    assert (trained / "confusion.png").is_file()


def test_evaluate_on_another_file(trained, tmp_path):
    other = write_tsv(tmp_path / "other.tsv", rows(30, seed=5))
    assert main(["evaluate", str(trained), "--data", other]) == 0
    assert json.loads((trained / "eval-other.json").read_text())["examples"] == 30


def test_separate_valid_and_test_files_and_csv_columns_by_name(tmp_path):
    def write_csv(name, data):
        lines = ["id,sentiment,review"] + [f"{i},{lab},{txt}" for i, (lab, txt) in enumerate(data)]
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        return str(tmp_path / name)

    run = tmp_path / "run"
    args = ["--data", write_csv("train.csv", rows(60)), "--valid", write_csv("dev.csv", rows(10))]
    args += ["--test", write_csv("test.csv", rows(10, 3)), "--text-column", "review"]
    args += ["--label-column", "sentiment", "--pooling", "max", "--cell", "gru"]
    assert main(["train", "classify", *args, "--out", str(run), *TINY[:-4]]) == 0
    assert not (run / "split.json").exists()
    assert main(["evaluate", str(run)]) == 0
    assert json.loads((run / "eval.json").read_text())["examples"] == 10


# --- bad input: one line naming the file and line, exit code 2 ---------------------------------
def _train(tmp_path, data, *extra):
    return main(["train", "classify", "--data", data, "--out", str(tmp_path / "r"), *TINY, *extra])


def test_empty_text_names_file_and_line(tmp_path, capsys):
    data = write_tsv(tmp_path / "d.tsv", [*rows(4), ("pos", " ")])
    assert _train(tmp_path, data) == 2
    assert error_line(capsys).endswith("d.tsv:5: empty text (column 1)")


def test_malformed_row_names_file_and_line(tmp_path, capsys):
    path = tmp_path / "d.tsv"
    write_tsv(path, rows(4))
    path.write_text(path.read_text() + "pos\tgood\textra\n")
    assert _train(tmp_path, str(path)) == 2
    assert "d.tsv:5: malformed row: expected 2 tab-separated fields" in error_line(capsys)


def test_label_column_with_one_class_is_refused(tmp_path, capsys):
    data = write_tsv(tmp_path / "d.tsv", [("pos", "good film")] * 20)
    assert _train(tmp_path, data) == 2
    assert "d.tsv: the label column has only one class ('pos')" in error_line(capsys)


def test_unknown_label_in_validation_file_names_file_and_line(tmp_path, capsys):
    data = write_tsv(tmp_path / "d.tsv", rows(20))
    dev = write_tsv(tmp_path / "dev.tsv", [*rows(2), ("meh", "so so")])
    assert _train(tmp_path, data, "--valid", dev) == 2
    assert "dev.tsv:3: unknown label 'meh'" in error_line(capsys)


def test_unknown_label_at_evaluation_names_file_and_line(trained, tmp_path, capsys):
    other = write_tsv(tmp_path / "other.tsv", [*rows(3), ("neutral", "a film")])
    assert main(["evaluate", str(trained), "--data", other]) == 2
    assert "other.tsv:4: unknown label 'neutral'" in error_line(capsys)


def test_empty_text_to_classify_names_it(trained, capsys):
    assert main(["classify", str(trained), "good", "  "]) == 2
    assert error_line(capsys) == "rnnkit: error: text 2: empty text; nothing to classify"


def test_empty_line_in_a_file_to_classify_names_file_and_line(trained, tmp_path, capsys):
    path = tmp_path / "texts.txt"
    path.write_text("good\n\nbad\n")
    assert main(["classify", str(trained), "--file", str(path)]) == 2
    assert "texts.txt:2: empty text" in error_line(capsys)


def test_explain_needs_attention_pooling(tmp_path, capsys):
    data = write_tsv(tmp_path / "d.tsv", rows(40))
    assert _train(tmp_path, data, "--pooling", "mean") == 0
    assert main(["classify", str(tmp_path / "r"), "good", "--explain"]) == 2
    assert "trained with --pooling mean" in error_line(capsys)


def test_malformed_word_vectors_name_file_and_line(tmp_path, capsys):
    data = write_tsv(tmp_path / "d.tsv", rows(20))
    vectors = tmp_path / "glove.txt"
    vectors.write_text("good 0.1 0.2\nbad 0.3\n")
    assert _train(tmp_path, data, "--embeddings", str(vectors)) == 2
    assert "glove.txt:2: expected a word and 2 numbers" in error_line(capsys)


def test_word_vectors_set_the_embedding_size(tmp_path, capsys):
    data = write_tsv(tmp_path / "d.tsv", rows(40))
    vectors = tmp_path / "glove.txt"
    vectors.write_text("good 0.1 0.2 0.3\nbad 0.3 0.2 0.1\n")
    out = str(tmp_path / "r")
    args = ["--embeddings", str(vectors), "--epochs", "1", "--no-progress", "--hidden", "4"]
    assert main(["train", "classify", "--data", data, "--out", out, *args]) == 0
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["model"]["embedding_dim"] == 3
    assert "vectors for 2 of" in capsys.readouterr().err


def test_resume_continues_a_run(tmp_path):
    data = write_tsv(tmp_path / "d.tsv", rows(60))
    out = tmp_path / "r"
    base = ["train", "classify", "--data", data, "--out", str(out), *TINY[:6]]
    base += ["--eval-every", "3", "--no-progress", "--threads", "1"]
    assert main([*base, "--max-steps", "3"]) == 0
    assert main([*base, "--max-steps", "6", "--resume"]) == 0
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [3, 6]


def test_diagnose_a_bidirectional_classifier(trained, tmp_path, capsys):
    assert main(["diagnose", str(trained), "--batches", "2"]) == 0
    result = json.loads((trained / "diagnostics.json").read_text())
    assert result["layer"] == "rnn" and result["direction"] == "forward"
    assert result["steps"] == 4 and len(result["grad_norm_per_step"]) == 4  # 4 words a text
    assert result["sequences_per_step"] == [2 * 16] * 4  # two batches of 16 texts
    # another file is split afresh (the run's stored split names lines of its own file)
    other = write_tsv(tmp_path / "other.tsv", rows(60, seed=1))
    assert main(["diagnose", str(trained), "--data", other, "--batches", "1"]) == 0
    assert json.loads((trained / "diagnostics.json").read_text())["data"] == other


def test_adversarial_training_runs_and_is_refused_under_torchrun(tmp_path, capsys, monkeypatch):
    data = write_tsv(tmp_path / "d.tsv", rows(40))
    assert _train(tmp_path, data, "--adversarial", "1.0", "--max-steps", "3") == 0
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["model"]["adversarial"] == 1.0
    # the option reaches the loss: the logged training loss is L(x) + L(x + r), about twice
    # the plain run's (the same seed and batches)
    plain = tmp_path / "plain"
    argv = ["train", "classify", "--data", data, "--out", str(plain), *TINY, "--max-steps", "3"]
    assert main(argv) == 0
    losses = [
        json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["train_loss"]
        for run in (tmp_path / "r", plain)
    ]
    assert losses[0] > 1.5 * losses[1]
    monkeypatch.setattr("rnnkit.tasks.classify.launched", lambda: True)
    assert main(["train", "classify", "--data", data, "--out", str(tmp_path / "t"), *TINY,
                 "--adversarial", "1.0"]) == 2  # fmt: skip
    assert "--adversarial is not supported under torchrun" in error_line(capsys)
