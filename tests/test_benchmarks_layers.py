"""Smoke test of benchmarks/layers.py at a tiny size: the report is complete, no timing asserted."""

import json

from tests.benchmark_loader import load_benchmark


def test_tiny_run_writes_every_candidate_with_positive_throughput(tmp_path):
    bench = load_benchmark("layers")
    config = bench.BenchConfig(batch=4, seq_len=5, input_size=3, hidden_size=8, repeats=1, warmup=0)
    out = tmp_path / "layers.json"
    bench.run_benchmark(config, out, log=lambda line: None)

    report = json.loads(out.read_text())
    assert report["config"]["batch"] == 4
    assert report["tokens_per_step"] == 4 * 5
    assert report["torch_version"] and report["num_threads"] >= 1
    assert set(report["cells"]) == {"RNN", "LSTM", "GRU"}
    for results in report["cells"].values():
        assert set(results) == {"reference", "fused", "torch"}
        for result in results.values():
            assert len(result["raw_s"]) == 1
            assert result["tokens_per_s"] > 0
            assert result["ratio_to_torch"] > 0
        assert results["torch"]["ratio_to_torch"] == 1.0
    assert "| LSTM | reference |" in bench.format_table(report)
