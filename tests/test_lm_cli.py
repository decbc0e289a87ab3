"""The language model through the CLI: train, sample, evaluate, config files and bad input."""

import json

import pytest

from rnnkit.cli import main
from tests.conftest import TINY_LM


def _train(corpus, out, *extra):
    return main(["train", "lm", "--data", str(corpus), "--out", str(out), *TINY_LM, *extra])


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "expected an error message"
    return err[-1]


def test_train_sample_evaluate_round_trip(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(corpus, run) == 0
    for name in [
        "config.json",
        "vocab.json",
        "model.safetensors",
        "last.safetensors",
        "metrics.jsonl",
        "loss.png",
    ]:
        assert (run / name).is_file(), name
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [6, 12]
    capsys.readouterr()
    assert main(["sample", str(run), "--prime", "First", "--length", "50", "--seed", "3"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("First") and len(text.rstrip("\n")) >= 55 - 1
    assert main(["evaluate", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["bits_per_char"] == pytest.approx(result["loss"] / 0.6931471805599453)
    assert result["characters"] > 0


def test_sampling_with_a_seed_is_repeatable(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    _train(corpus, run)
    outputs = []
    for _ in range(2):
        capsys.readouterr()
        main(["sample", str(run), "--length", "80", "--seed", "7", "--top-k", "5"])
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]


def test_config_file_sets_options_and_flags_override_it(corpus, tmp_path):
    config = tmp_path / "lm.toml"
    config.write_text('cell = "gru"\nlayers = 2\ndropout = 0.1\nbatching = "window"\n')
    run = tmp_path / "run"
    assert _train(corpus, run, "--config", str(config), "--layers", "1") == 0
    stored = json.loads((run / "config.json").read_text())
    assert stored["model"]["cell"] == "gru"
    assert stored["model"]["num_layers"] == 1  # the flag wins
    assert stored["model"]["dropout"] == 0.1
    assert stored["data"]["batching"] == "window"


@pytest.mark.parametrize(
    "setup,args,message",
    [
        (lambda p: None, [], "file not found"),
        (lambda p: p.write_text(""), [], "file is empty"),
        (
            lambda p: p.write_bytes(b"abc\n\xff\xfe bad"),
            [],
            "not UTF-8 text (invalid byte 0xff at line 2",
        ),
        (lambda p: p.write_text("abcdefghij" * 6), [], "shorter than one batch"),
        (lambda p: p.write_text("x" * 5000), ["--clip-value", "1"], "contradict"),
        (lambda p: p.write_text("x" * 5000), ["--bidirectional"], "cannot be bidirectional"),
        (lambda p: p.write_text("x" * 5000), ["--tie-weights"], "--tie-weights needs"),
        (lambda p: p.write_text("x" * 5000), ["--cell", "transformer"], "--cell must be one of"),
        (lambda p: p.write_text("x" * 5000), ["--time-budget", "soon"], "expected a duration"),
    ],
    ids=[
        "missing",
        "empty",
        "not-utf8",
        "too-short",
        "clip-both",
        "bidirectional",
        "tie",
        "cell",
        "duration",
    ],
)
def test_bad_training_input_is_one_line_and_exit_code_2(tmp_path, capsys, setup, args, message):
    data = tmp_path / "data.txt"
    setup(data)
    assert _train(data, tmp_path / "run", *args) == 2
    line = _error_line(capsys)
    assert message in line
    assert "Traceback" not in capsys.readouterr().err


def test_unknown_option_in_config_file_is_named(corpus, tmp_path, capsys):
    config = tmp_path / "lm.toml"
    config.write_text("hiden = 12\n")
    assert _train(corpus, tmp_path / "run", "--config", str(config)) == 2
    assert "unknown option 'hiden'" in _error_line(capsys)


def test_sampling_a_character_outside_the_vocabulary_names_it(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    _train(corpus, run)
    assert main(["sample", str(run), "--prime", "Zebra@", "--length", "5"]) == 2
    line = _error_line(capsys)
    assert "'@'" in line and "'Z'" in line and "vocabulary lacks" in line


def test_a_directory_that_is_not_a_run_is_refused(tmp_path, capsys):
    assert main(["sample", str(tmp_path)]) == 2
    assert "not an rnnkit run" in _error_line(capsys)
    assert main(["evaluate", str(tmp_path / "nowhere")]) == 2
    assert "no such run directory" in _error_line(capsys)


def test_an_existing_run_is_not_overwritten(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    _train(corpus, run)
    assert _train(corpus, run) == 2
    assert "already holds a run" in _error_line(capsys)


def test_a_pickle_is_never_loaded_as_weights(corpus, tmp_path, capsys):
    import pickle

    run = tmp_path / "run"
    _train(corpus, run)
    marker = tmp_path / "executed"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (run / "model.safetensors").write_bytes(pickle.dumps(Exploit()))
    assert main(["sample", str(run), "--length", "3"]) == 2
    assert "not a readable safetensors checkpoint" in _error_line(capsys)
    assert not marker.exists()
