"""``rnnkit train translate``, ``rnnkit translate`` and ``rnnkit evaluate`` end to end on tiny
line-aligned files, and one clear line with exit code 2 for every kind of bad input."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest

from rnnkit.cli import main

WORDS = ["ein", "zwei", "drei", "vier", "fünf", "sechs"]


def write_split(folder: Path, name: str, count: int, seed: int) -> tuple[Path, Path]:
    """``name.src`` (random words) and ``name.tgt`` (the same words reversed)."""
    rng = random.Random(seed)
    sources = [" ".join(rng.choices(WORDS, k=rng.randint(2, 5))) for _ in range(count)]
    targets = [" ".join(reversed(line.split())) for line in sources]
    paths = folder / f"{name}.src", folder / f"{name}.tgt"
    paths[0].write_text("\n".join(sources) + "\n", encoding="utf-8")
    paths[1].write_text("\n".join(targets) + "\n", encoding="utf-8")
    return paths


def file_options(folder: Path) -> list[str]:
    options = []
    for split, count, seed in (("train", 200, 0), ("valid", 20, 1), ("test", 20, 2)):
        source, target = write_split(folder, split, count, seed)
        options += [f"--{split}-src", str(source), f"--{split}-tgt", str(target)]
    return options


SMALL_MODEL = [
    "--src-vocab-size", "80", "--tgt-vocab-size", "80", "--hidden", "32",
    "--embedding-dim", "16", "--batch-size", "32", "--beam", "3", "--threads", "1",
    "--no-progress", "--no-tensorboard",
]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A translation run trained for a few steps (its quality does not matter here)."""
    folder = tmp_path_factory.mktemp("translate")
    out = folder / "run"
    argv = ["train", "translate", *file_options(folder), *SMALL_MODEL]
    code = main([*argv, "--max-steps", "20", "--eval-every", "10", "--out", str(out)])
    assert code == 0
    return out


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("rnnkit: error: ")
    return err[0]


def test_training_writes_a_run_with_its_tokenizers(run):
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "translate"
    assert set(config) >= {"data", "model", "decode", "train"}
    assert config["decode"]["beam"] == 3
    for name in ("model.safetensors", "source.tokenizer.json", "target.tokenizer.json"):
        assert (run / name).is_file(), name
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"val_loss", "val_perplexity"} <= set(metrics[-1])


def test_evaluate_writes_perplexity_and_sacrebleu_for_greedy_and_beam(run, capsys):
    assert main(["evaluate", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["sentences"] == 20
    assert result["perplexity"] > 1.0
    for search, beam in (("greedy", 1), ("beam3", 3)):
        assert result[search]["beam"] == beam
        assert 0.0 <= result[search]["bleu"] <= 100.0
        assert "tok:13a" in result[search]["signature"]
        assert "case:mixed" in result[search]["signature"]
        assert "case:lc" in result[search]["signature_lowercase"]
        lines = (run / f"test.{search}.txt").read_text(encoding="utf-8").splitlines()
        assert len(lines) == 20


def test_translate_prints_one_line_per_input_line(run, tmp_path, capsys, monkeypatch):
    assert main(["translate", str(run), "ein zwei drei"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    lines = tmp_path / "in.txt"
    lines.write_text("ein zwei\ndrei vier fünf\nsechs ein\n", encoding="utf-8")
    assert main(["translate", str(run), "--input", str(lines), "--beam", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    monkeypatch.setattr("sys.stdin", io.StringIO("ein zwei\ndrei vier\n"))
    assert main(["translate", str(run), "--temperature", "0.8", "--top-k", "3", "--seed", "0"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_translate_draws_the_attention_map(run, tmp_path, capsys):
    png = tmp_path / "attention.png"
    assert main(["translate", str(run), "ein zwei drei", "--show-attention", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tune_length_penalty_keeps_the_best_alpha_on_validation(run, tmp_path, capsys):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert main(["translate", str(copy), "--tune-length-penalty", "0,1,2"]) == 0
    out = capsys.readouterr().out.splitlines()
    table = json.loads((copy / "length_penalty.json").read_text())
    assert table["sentences"] == 20 and table["beam"] == 3 and table["before"] == 1.0
    assert "valid.src" in table["data"]
    rows = table["results"]
    assert [row["length_penalty"] for row in rows] == [0.0, 1.0, 2.0]
    best = max(rows, key=lambda row: (row["bleu"], -row["length_penalty"]))
    assert table["best"] == best["length_penalty"]
    assert len(out) == 4 and out[1 + rows.index(best)].endswith("<- kept")
    assert (
        json.loads((copy / "config.json").read_text())["decode"]["length_penalty"]
        == best["length_penalty"]
    )
    assert main(["evaluate", str(copy)]) == 0  # evaluate decodes with the kept alpha
    assert (
        json.loads((copy / "eval.json").read_text())["beam3"]["length_penalty"]
        == best["length_penalty"]
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--tune-length-penalty", "0,x"], "'x' is not a number >= 0"),
        (["--tune-length-penalty", "-1"], "'-1' is not a number >= 0"),
        (["--tune-length-penalty", "1", "--beam", "1"], "the beam must be >= 2"),
        (["ein", "--tune-length-penalty", "1"], "give no text"),
    ],
)
def test_bad_tuning_input_is_one_line_and_exit_code_2(run, argv, expected, capsys):
    assert main(["translate", str(run), *argv]) == 2
    assert expected in error_line(capsys)
    assert not (run / "length_penalty.json").exists()


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        ("empty line", "train.src: line 3 is empty"),
        ("misaligned", "train.src has 200 lines but"),
        ("pair", "unknown language pair fr-en for multi30k"),
        ("same", "unknown language pair de-de"),
        ("missing valid", "--valid-tgt is missing"),
    ],
)
def test_bad_training_input_is_one_line_and_exit_code_2(problem, expected, tmp_path, capsys):
    argv = ["train", "translate", *SMALL_MODEL, "--max-steps", "1", "--out", str(tmp_path / "r")]
    files = file_options(tmp_path)
    if problem == "empty line":
        source = tmp_path / "train.src"
        lines = source.read_text(encoding="utf-8").splitlines()
        lines[2] = "   "
        source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif problem == "misaligned":
        target = tmp_path / "train.tgt"
        target.write_text(target.read_text(encoding="utf-8") + "eins\n", encoding="utf-8")
    elif problem == "pair":
        files = ["--data", "multi30k", "--src", "fr", "--tgt", "en"]
    elif problem == "same":
        files = ["--src", "de", "--tgt", "de"]
    elif problem == "missing valid":
        files = files[: files.index("--valid-tgt")]
    assert main([*argv, *files]) == 2
    assert expected in error_line(capsys)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["ein\n\nzwei"], "the sentence argument: line 2 is empty"),
        (["ein", "--beam", "3", "--temperature", "0.5"], "sampling options"),
        (["ein\nzwei", "--show-attention", "x.png"], "one sentence; got 2"),
        (["ein", "--beam", "0"], "--beam must be positive"),
        (["ein", "--top-p", "1.5"], "--top-p must be in (0, 1]"),
    ],
)
def test_bad_translate_input_is_one_line_and_exit_code_2(run, argv, expected, capsys):
    assert main(["translate", str(run), *argv]) == 2
    assert expected in error_line(capsys)


def test_translate_refuses_a_run_of_another_task(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"task": "lm"}))
    assert main(["translate", str(tmp_path), "ein"]) == 2
    assert "is an lm run, not a translate run" in error_line(capsys)


def test_multi30k_files_are_line_aligned():
    from rnnkit.data.pairs import read_pairs
    from rnnkit.data.registry import data_home

    if data_home() is None or not (data_home() / "multi30k" / "val.de").is_file():
        pytest.skip("Multi30k is not in $RNNKIT_DATA")
    from rnnkit.tasks.translate import TranslateData

    data = TranslateData(data="multi30k", src="de", tgt="en")
    sources, targets = read_pairs(*data.files("valid"))
    assert len(sources) == len(targets) == 1014


def test_diagnose_the_bidirectional_encoder(run, capsys):
    assert main(["diagnose", str(run), "--batches", "1"]) == 0
    result = json.loads((run / "diagnostics.json").read_text())
    assert result["task"] == "translate" and result["layer"] == "encoder"
    assert result["cell"] == "gru" and set(result["gate_saturation"]) == {"reset", "update"}
    weights = {row["weight"] for row in result["recurrent_weights"]}
    assert weights == {"encoder.weight_hh_l0", "encoder.weight_hh_l0_reverse", "cell.weight_hh"}
    assert "W_hh: largest spectral radius" in capsys.readouterr().out
