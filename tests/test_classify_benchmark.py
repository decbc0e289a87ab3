"""Smoke test of benchmarks/classify.py on tiny data: a run's record and the report; no timing
asserted."""

from __future__ import annotations

import json

from tests.benchmark_loader import load_benchmark


def test_tiny_comparison_run_is_recorded_and_reported(tmp_path, monkeypatch):
    bench = load_benchmark("classify")
    monkeypatch.setattr(bench, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "results")
    data = tmp_path / "d.tsv"
    data.write_text("".join(f"{i % 2}\t{'good' if i % 2 else 'bad'} film {i}\n" for i in range(40)))
    tiny = ["--data", str(data), "--hidden", "4", "--embedding-dim", "4", "--epochs", "1"]
    record = bench.train_and_evaluate("tiny", 0, [*tiny, "--eval-every", "1"])
    assert 0.0 <= record["test_accuracy"] <= 1.0
    assert record["parameters"] > 0 and record["inference_sentences_per_s"] > 0
    assert record["command"].startswith("rnnkit train classify --data")
    again = bench.train_and_evaluate("tiny", 0, [*tiny, "--eval-every", "1"])
    assert again["train_seconds"] == record["train_seconds"]  # done with these options: kept
    other = bench.train_and_evaluate("tiny", 0, tiny)  # another recipe: trained again
    assert other["command"] != record["command"]
    stored = json.loads((tmp_path / "runs" / "tiny-s0" / "config.json").read_text())
    assert stored["train"]["eval_every"] != 1

    bench.save_results({"compare": {"budget": "--epochs 1", "configs": {"tiny": [record]}}})
    bench.report()
    table = (tmp_path / "results" / "classify.md").read_text()
    assert "| tiny |" in table and "--epochs 1" in table
    assert json.loads((tmp_path / "results" / "classify.json").read_text())["compare"]


def test_adversarial_step_timing_writes_all_three_candidates(tmp_path, monkeypatch):
    bench = load_benchmark("classify")
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "results")
    data = tmp_path / "d.tsv"
    data.write_text("".join(f"{i % 2}\t{'good' if i % 2 else 'bad'} film {i}\n" for i in range(40)))
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(f'data = "{data}"\nhidden = 4\nembedding-dim = 4\nadversarial = 0.5\n')
    monkeypatch.setattr(
        "sys.argv",
        ["classify.py", "advspeed", "--config", str(recipe), "--steps", "2", "--repeats", "1"],
    )
    bench.main()
    result = json.loads((tmp_path / "results" / "classify_advspeed.json").read_text())
    assert set(result["ms_per_step"]) == {"plain", "adversarial", "adversarial_textbook"}
    assert all(ms > 0 for ms in result["ms_per_step"].values()) and result["epsilon"] == 0.5
    assert result["command"].endswith(f"--config {recipe}")


def test_a_char_ngram_run_is_timed_with_its_ngrams(tmp_path, monkeypatch):
    bench = load_benchmark("classify")
    monkeypatch.setattr(bench, "RUNS", tmp_path / "runs")
    data = tmp_path / "d.tsv"
    data.write_text("".join(f"{i % 2}\t{'good' if i % 2 else 'bad'} film {i}\n" for i in range(40)))
    tiny = ["--data", str(data), "--hidden", "4", "--embedding-dim", "4", "--epochs", "1"]
    record = bench.train_and_evaluate("tiny", 0, [*tiny, "--char-ngrams", "64"])
    assert record["model"]["char_ngrams"] == 64 and record["inference_sentences_per_s"] > 0
    out = tmp_path / "unseen.json"
    monkeypatch.setattr(
        "sys.argv", ["classify.py", "unseen", str(tmp_path / "runs" / "tiny-s0"), "--out", str(out)]
    )
    bench.main()
    counts = json.loads(out.read_text())["runs"]
    (row,) = counts.values()
    assert row["char_ngrams"] == 64 and row["texts_with_unseen_words"] + row["texts_without"] == 4
