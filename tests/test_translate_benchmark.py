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
