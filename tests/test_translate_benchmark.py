"""Smoke test of benchmarks/translate.py on tiny files: every configuration is trained, scored
and tabulated. No timing is asserted."""

import json
import random

from tests.benchmark_loader import load_benchmark


def test_tiny_comparison_reports_every_configuration(tmp_path, capsys):
    rng = random.Random(0)
    files = []
    for split, count in (("train", 64), ("valid", 8), ("test", 8)):
        sources = [" ".join(rng.choices("abcdef", k=rng.randint(2, 4))) for _ in range(count)]
        for side, lines in (("src", sources), ("tgt", [s[::-1] for s in sources])):
            path = tmp_path / f"{split}.{side}"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            files += [f"--{split}-{side}", str(path)]
    bench = load_benchmark("translate")
    out = tmp_path / "compare.json"
    argv = ["--steps", "2", "--hidden", "16", "--embedding-dim", "8", "--src-vocab-size", "64"]
    argv += ["--tgt-vocab-size", "64", "--batch-size", "16", "--beam", "2", "--out", str(out)]
    bench.main(argv + files)

    report = json.loads(out.read_text())
    assert set(report["results"]) == set(bench.CONFIGS)
    for row in report["results"].values():
        assert row["steps"] == 2
        assert row["test_perplexity"] > 1.0
        assert 0.0 <= row["bleu_greedy"] <= 100.0 and 0.0 <= row["bleu_beam"] <= 100.0
        assert row["greedy_sentences_per_s"] > 0 and row["parameters"] > 0
    assert report["test_sentences"] == 8
    assert "| gru-none |" in capsys.readouterr().out


def test_multi30k_target_trains_evaluates_tunes_and_reports(tmp_path, monkeypatch):
    """benchmarks/multi30k.py on a tiny recipe of line-aligned files: each seed is trained,
    evaluated, its length penalty tuned on validation, and the report states the verdict."""
    rng = random.Random(1)
    recipe = ["hidden = 16", "embedding-dim = 8", "src-vocab-size = 64", "tgt-vocab-size = 64"]
    recipe += ["batch-size = 16", "beam = 2", "max-steps = 3", "eval-every = 3"]
    for split, count in (("train", 64), ("valid", 8), ("test", 8)):
        sources = [" ".join(rng.choices("abcdef", k=rng.randint(2, 4))) for _ in range(count)]
        for side, lines in (("src", sources), ("tgt", [s[::-1] for s in sources])):
            path = tmp_path / f"{split}.{side}"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            recipe.append(f'{split}-{side} = "{path}"')
    (tmp_path / "tiny.toml").write_text("\n".join(recipe) + "\n")
    bench = load_benchmark("multi30k")
    monkeypatch.setattr(bench, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(bench, "RECIPE", str(tmp_path / "tiny.toml"))
    monkeypatch.setattr(bench, "ALPHAS", (0.0, 1.0))
    bench.main(["target", "--seeds", "0", "--threads", "1"])
    (record,) = json.loads((tmp_path / "results" / "multi30k.json").read_text())["target"]["runs"]
    assert record["steps"] == 3 and record["beam"] == 2 and record["recipe_length_penalty"] == 1.0
    assert set(record["valid_bleu_by_length_penalty"]) == {"0.0", "1.0"}
    valid = record["valid_bleu_by_length_penalty"]
    best = max([0.0, 1.0], key=lambda alpha: (valid[str(alpha)], -alpha))  # ties: the smaller
    assert record["tuned_length_penalty"] == best
    result = json.loads((tmp_path / "runs" / "multi30k-s0" / "eval.json").read_text())
    assert result["beam2"]["length_penalty"] == record["tuned_length_penalty"]
    assert result["beam2"]["bleu"] == record["tuned_beam_bleu"]
    text = (tmp_path / "results" / "multi30k.md").read_text()
    assert "not met" in text and "over 1 seed(s)" in text  # one seed is never the target
    # tuning rewrote the run's decode section: the same command uses the run, not refused
    bench.main(["target", "--seeds", "0", "--threads", "1"])
    (again,) = json.loads((tmp_path / "results" / "multi30k.json").read_text())["target"]["runs"]
    assert again["train_seconds"] == record["train_seconds"]
