"""Smoke tests of benchmarks/sampling.py and benchmarks/training.py at tiny sizes: every candidate
is reported with a positive rate; no time is asserted."""

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import sampling as sampling_benchmark  # noqa: E402
import training as training_benchmark  # noqa: E402


def test_sampling_benchmark_reports_every_candidate_and_the_bound(tmp_path):
    pytest.importorskip("onnxruntime")
    recipe = tmp_path / "tiny.toml"
    recipe.write_text("cell = 'lstm'\nhidden = 16\nlayers = 2\nembedding-dim = 4\n")
    out = tmp_path / "sampling.json"
    sampling_benchmark.main(
        ["--config", str(recipe), "--vocab", "12", "--length", "5", "--repeats", "1",
         "--prime", "ab", "--out", str(out)]
    )  # fmt: skip
    report = json.loads(out.read_text())
    names = [row["candidate"] for row in report["candidates"]]
    assert names == ["rnnkit fp32", "rnnkit bf16", "rnnkit int8", "onnxruntime", "eager loop"]
    assert all(
        row["chars_per_s"] > 0 and row["bound_chars_per_s"] > 0 for row in report["candidates"]
    )
    by_name = {row["candidate"]: row for row in report["candidates"]}
    assert by_name["rnnkit int8"]["bytes_per_step"] < by_name["rnnkit fp32"]["bytes_per_step"]


def test_training_benchmark_reports_the_five_candidates(tmp_path):
    config = training_benchmark.BenchConfig(
        batch=2, seq_len=3, input_size=3, hidden_size=4, repeats=1, warmup=1
    )
    report = training_benchmark.run(config, tmp_path / "training.json", log=lambda line: None)
    assert set(report["candidates"]) == {"reference", "compiled", "eager gates", "fused", "torch"}
    assert report["candidates"]["torch"]["ratio_to_torch"] == 1.0
    assert report["compiled"].startswith("requested: fused LSTM gate function")
