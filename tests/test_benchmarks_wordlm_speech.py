"""Smoke tests of benchmarks/wordlm.py and benchmarks/speech.py on tiny data: records, no
retraining of a finished run, resuming an interrupted one, and the reports. No timing asserted;
the speech test makes a six-clip-per-speaker FSDD look-alike, never reading the real files."""

from __future__ import annotations

import json

import numpy as np
import pytest

import rnnkit
from rnnkit.api import parse_options
from tests.benchmark_loader import load_benchmark
from tests.test_audio import tone, write_wav
from tests.test_word_lm import CORPUS

TINY_WORDS = ["--tokenizer", "word", "--hidden", "8", "--layers", "1", "--batch-size", "4"]
TINY_WORDS += ["--seq-len", "8", "--eval-every", "3", "--warmup-steps", "0"]


def test_word_lm_target_runs_are_recorded_resumed_and_reported(tmp_path, monkeypatch, capsys):
    bench = load_benchmark("wordlm")
    monkeypatch.setattr(bench, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "results")
    corpus = tmp_path / "captions.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    arguments = ["--data", str(corpus), *TINY_WORDS, "--max-steps", "4"]
    interrupted = tmp_path / "runs" / "tiny-s1"  # stopped after 2 of its 4 steps
    options = parse_options("lm", [*arguments, "--no-progress", "--seed", "1", "--max-steps", "2"])
    rnnkit.train("lm", options, interrupted)
    record = bench.record("tiny", 1, arguments, threads=1)
    assert record["steps"] == 4 and (interrupted / "eval.json").is_file()
    assert 1 < record["kneser_ney_perplexity"] < record["unigram_perplexity"]
    assert (
        record["ratio_to_kneser_ney"] == record["test_perplexity"] / record["kneser_ney_perplexity"]
    )
    again = bench.record("tiny", 1, arguments, threads=1)  # eval.json exists: not trained again
    assert again["train_seconds"] == record["train_seconds"]
    for changed in (["--hidden", "9"], ["--dropout", "0.3"]):  # a changed recipe: refused, run kept
        with pytest.raises(SystemExit) as stopped:
            bench.record("tiny", 1, [*arguments, *changed], threads=1)
        assert stopped.value.code == 2 and (interrupted / "eval.json").is_file()
        assert "tiny-s1 was trained with other options" in capsys.readouterr().err
    other = bench.record("tiny", 1, arguments, threads=2)  # threads not compared, as at --resume
    assert other["train_seconds"] == record["train_seconds"]
    results = {"machine": {"date": "today"}, "target": {"recipe": "x", "runs": [record]}}
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "wordlm.json").write_text(json.dumps(results))
    text = bench.report()
    assert "| 1 | " in text and "Target (test perplexity <= 0.75 x Kneser-Ney" in text
    assert (tmp_path / "results" / "wordlm.md").read_text() == text


def test_word_lm_runs_of_several_names_are_all_kept(tmp_path, monkeypatch):
    """Two variants of the recipe (--name, options after --) recorded by processes one after
    the other or side by side: each run keeps its own record and its command in the report."""
    bench = load_benchmark("wordlm")
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "results")

    def fake_record(name, seed, arguments, threads):
        command = f"rnnkit train lm {' '.join(arguments)} --seed {seed} --out runs/{name}-s{seed}"
        numbers = dict(test_perplexity=30.0, valid_perplexity=31.0, kneser_ney_perplexity=32.0)
        numbers.update(unigram_perplexity=200.0, ratio_to_kneser_ney=30 / 32, steps=10)
        numbers.update(train_seconds=60.0, tokens_per_s=1000.0, parameters=5)
        run = f"runs/bench-wordlm/{name}-s{seed}"
        return {"seed": seed, "run": run, "command": command + " --threads 1", **numbers}

    monkeypatch.setattr(bench, "record", fake_record)
    bench.main(["target", "--seeds", "0", "--threads", "1"])
    bench.main(["target", "--seeds", "0", "--threads", "1", "--name", "big", "--", "--hidden", "9"])
    runs = json.loads((tmp_path / "results" / "wordlm.json").read_text())["target"]["runs"]
    assert sorted(r["run"].rsplit("/", 1)[-1] for r in runs) == ["big-s0", "multi30k-en-s0"]
    text = (tmp_path / "results" / "wordlm.md").read_text()
    assert (
        "python benchmarks/wordlm.py target --seeds 0 --threads 1 --name big -- --hidden 9" in text
    )
    assert "python benchmarks/wordlm.py target --seeds 0 --threads 1\n" in text


def test_speech_official_and_speaker_folds_are_recorded_and_reported(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    for digit, frequency in (("0", 300), ("1", 1800)):
        for speaker in ("ann", "bob"):
            for take in range(7):
                samples = tone(frequency, 0.1 + 0.02 * take, phase=rng.uniform(0, 6))
                write_wav(
                    tmp_path / "data" / "fsdd" / "recordings" / f"{digit}_{speaker}_{take}.wav",
                    samples,
                )
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path / "data"))
    recipe = tmp_path / "tiny.toml"
    recipe.write_text('data = "fsdd"\nhidden = 4\nlayers = 1\nepochs = 2\nbatch-size = 8\n')
    bench = load_benchmark("speech")
    monkeypatch.setattr(bench, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(bench, "RECIPE", str(recipe))
    bench.main(["official", "--cells", "gru", "--threads", "1"])
    bench.main(["speakers", "--cells", "gru", "--threads", "1"])
    results = json.loads((tmp_path / "results" / "speech.json").read_text())
    official = results["official"]["gru"][0]
    assert official["test_clips"] == 20  # takes 0-4 of 2 digits x 2 speakers
    assert official["ms_per_step"] > 0 and official["model_ms"] > 0 and official["features_ms"] > 0
    folds = results["speakers"]["gru"]
    assert sorted(r["speaker"] for r in folds) == ["ann", "bob"]
    assert all(r["test_clips"] == 14 for r in folds)
    text = (tmp_path / "results" / "speech.md").read_text()
    assert "### Official split" in text
    assert "- GRU: mean " in text and "over 2 fold(s) (1 seed(s) each" in text
    assert "weakest fold" in text and "incomplete" not in text
    bench.main(
        ["official", "--cells", "gru", "--threads", "1", "--variant", "wide", "--"]
        + ["--hidden", "6"]
    )
    official = json.loads((tmp_path / "results" / "speech.json").read_text())["official"]["gru"]
    assert [r.get("variant", "recipe") for r in official] == ["recipe", "wide"]
    config = json.loads((tmp_path / "runs" / "gru-wide-s0" / "config.json").read_text())
    assert config["model"]["hidden_size"] == 6
    text = (tmp_path / "results" / "speech.md").read_text()
    assert "- GRU: " in text and "- GRU (wide): " in text and "| gru wide | 0 |" in text
    bench.main(
        ["speakers", "--cells", "gru", "--threads", "1", "--variant", "tta", "--"]
        + ["--test-speeds", "0.9,1,1.1"]
    )
    folds = json.loads((tmp_path / "results" / "speech.json").read_text())["speakers"]["gru"]
    tta = [r for r in folds if r.get("variant") == "tta"]
    assert len(tta) == 2 and all(list(r["accuracy_by_speed"]) == ["0.9", "1", "1.1"] for r in tta)
    alone = sum(r["accuracy_by_speed"]["1"] for r in tta) / 2
    text = (tmp_path / "results" / "speech.md").read_text()
    assert f"(the clips alone, without the speed copies: {100 * alone:.2f}%)" in text


def test_speech_silence_measures_each_speakers_silence_and_noise_floor(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    for take in range(3):
        word = tone(500, 0.3, phase=rng.uniform(0, 6))
        quiet = 1e-4 * rng.standard_normal(800)  # 0.1 s at about -70 dB: 10 frames
        folder = tmp_path / "data" / "fsdd" / "recordings"
        write_wav(folder / f"0_ann_{take}.wav", np.concatenate([quiet, word]))
        write_wav(folder / f"0_bob_{take}.wav", word + 3e-2 * rng.standard_normal(len(word)))
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path / "data"))
    bench = load_benchmark("speech")
    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    table = bench.silence()
    assert table == json.loads((tmp_path / "speech_silence.json").read_text())
    ann, bob = table["ann"], table["bob"]
    assert ann["clips"] == bob["clips"] == 3
    assert 8 <= ann["lead_frames"] <= 11 and bob["lead_frames"] == 0 and bob["trail_frames"] == 0
    assert ann["floor_db"] < -50 < bob["floor_db"]  # bob's noise is 30 dB below his tone


def test_an_interrupted_benchmark_run_is_not_evaluated_or_recorded(tmp_path, monkeypatch):
    """SIGTERM or Ctrl-C stops the trainer gracefully; the benchmark must then stop too, not
    score the half-trained run as if it had finished."""
    import pytest

    import rnnkit

    runs = load_benchmark("runs")
    evaluated = []
    monkeypatch.setattr(rnnkit, "train", lambda *a, **k: {"stop_reason": "interrupted"})
    monkeypatch.setattr(rnnkit, "evaluate", lambda run: evaluated.append(run))
    with pytest.raises(KeyboardInterrupt, match="the same command resumes it"):
        runs.train_and_evaluate("lm", tmp_path / "run", ["--data", "tiny"])
    assert evaluated == []
