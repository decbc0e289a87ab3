"""Smoke test of benchmarks/probes.py: every kind of trial end to end at tiny sizes, the report
and figures it writes, skipping what is recorded; and the full study's plan without running it."""

import json

from tests.benchmark_loader import load_benchmark


def test_full_plan_matches_parameter_counts_and_fits_about_45_minutes_on_two_workers():
    bench = load_benchmark("probes")
    everything = bench.experiments()
    (long,) = [spec for spec in everything.values() if spec["group"] == "long"]
    assert long["cell"] == "gru" and long["hidden"] == 128 and long["budget_s"] == 1200
    assert "--chrono" in long["args"] and long["args"].count("--lr") == 1
    trials = {name: spec for name, spec in everything.items() if spec["group"] != "long"}
    # adding, copy, relu with and without clipping, copy T=100 with chrono for LSTM and GRU
    assert len(trials) == 4 * 3 * 2 + 3 * 3 * 2 + 2 + 2 * 2
    for spec in trials.values():
        lstm = bench.parameters("lstm", 64, spec["probe"])
        assert abs(bench.parameters(spec["cell"], spec["hidden"], spec["probe"]) / lstm - 1) < 0.02
    # "about 45 minutes": the caps add to 47 on two workers; solved trials stop early
    assert sum(spec["budget_s"] for spec in trials.values()) / 2 <= 47 * 60
    logged = [name for name, spec in trials.items() if "--log-grad-flow" in spec["args"]]
    assert sorted(logged) == [f"adding-T200-{cell}-s0" for cell in ("gru", "lstm", "rnn")]


def test_smoke_study_writes_the_report_and_skips_recorded_trials(tmp_path, capsys):
    bench = load_benchmark("probes")
    out = tmp_path / "results" / "probes.json"
    argv = ["--smoke", "--workers", "1", "--out", str(out), "--runs", str(tmp_path / "runs")]
    assert bench.main(argv) == 0
    results = json.loads(out.read_text())["results"]
    assert len(results) == 10
    for record in results.values():
        assert record["parameters"] == bench.parameters(
            record["cell"], record["hidden"], record["probe"]
        )
        assert record["commands"][0].startswith("rnnkit train probe --task ")
    assert results["copy-T5-lstm-s0"]["metric"] == "cross_entropy"
    chrono = results["chrono-T5-gru-s0"]
    assert chrono["probe"] == "copy" and chrono["options"][-2:] == ["--chrono", "25"]
    flow = results["adding-T10-rnn-s0"]["grad_flow"]
    assert len(flow["initial"]) == len(flow["trained"]) == 10
    clipped, free = results["relu-T10-clip-1.0"], results["relu-T10-clip-none"]
    assert free["clip_norm"] is None and free["clip_share"] == 0.0 and clipped["clip_share"] > 0
    markdown = (tmp_path / "probes.md").read_text()
    headings = ["## Adding", "## Copy memory", "## Copy memory with chrono", "## The gradient"]
    for heading in [*headings, "## ReLU RNN"]:
        assert heading in markdown
    assert "(results/probes_grad_flow_T10.png)" in markdown
    assert (tmp_path / "results" / "probes_grad_flow_T10.png").is_file()
    assert (tmp_path / "results" / "probes_relu_clipping.png").is_file()
    capsys.readouterr()
    assert bench.main(argv) == 0  # everything recorded with the same options: nothing reruns
    assert "0 trials to run, 10 recorded" in capsys.readouterr().out
    assert bench.main([*argv, "--only", "long"]) == 0  # the long copy run, only when asked
    results = json.loads(out.read_text())["results"]
    assert len(results) == 11 and results["long-T5-gru-s0"]["hidden"] == 8
    assert "## Copy memory solved" in (tmp_path / "probes.md").read_text()
