"""Smoke test of benchmarks/forecast.py: the sine experiment end to end and the report it writes."""

import json

from tests.benchmark_loader import load_benchmark


def test_sine_experiment_is_recorded_with_its_commands(tmp_path, monkeypatch):
    bench = load_benchmark("forecast")
    monkeypatch.chdir(bench.ROOT)  # the recipes are named relative to the repository
    spec = bench.experiments((24,))["sine"]
    record = bench.run_experiment("sine", spec, tmp_path / "runs", log=lambda line: None)
    assert record["windows"] == 50 and record["lookback"] == 20
    assert record["commands"][0].startswith("rnnkit train forecast --config recipes/sine.toml")
    assert record["metrics"]["model"]["mse_original"] < record["metrics"]["naive"]["mse_original"]
    out = tmp_path / "forecast.json"
    bench.write_report({"sine": record}, out, log=lambda line: None)
    assert json.loads(out.read_text())["results"]["sine"]["windows"] == 50
    markdown = out.with_suffix(".md").read_text()
    assert "### The seed's noisy sine wave" in markdown and "| naive (last value) |" in markdown


def test_long_horizon_section_averages_seeds_beside_the_anchors():
    bench = load_benchmark("forecast")
    names = [n for n, s in bench.experiments((24,)).items() if s["group"] == "long"]
    assert len(names) == len(bench.LONG_HORIZONS) * len(bench.LONG_SEEDS)

    def record(mse):
        metrics = {"model": {"mse": mse}, "naive": {"mse": 0.1}}
        return {"metrics": metrics, "windows": 2785, "train_wall_s": 100.0}

    results = {f"etth1-seg-h96-s{s}": record(m) for s, m in enumerate((0.050, 0.052, 0.054))}
    lines = bench.render_long(results)
    row = next(line for line in lines if line.startswith("| 96 |"))
    # mean 0.052, sample sd 0.002, 3 seeds; anchors 0.053 0.059 0.056; 0.052 / 0.053 = 0.98x;
    # the target at 96 is 1.05 x 0.053 = 0.05565
    expected = "**0.0520 ± 0.0020** (0.0500, 0.0520, 0.0540) | 0.053 | 0.059 | 0.056 | 0.100 | "
    assert expected + "0.98x | <= 0.05565 (best + 5%): met | 100 s |" in row
    assert bench.long_target(720, 0.0801) == "< 0.080 (NLinear): not met"
    assert not any(line.startswith("| 192 |") for line in lines)
