"""Smoke test: the language-model benchmark script runs end to end on a tiny run."""

import json
import sys
from pathlib import Path

from rnnkit.cli import main
from tests.conftest import TINY_LM

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import lm as lm_benchmark  # noqa: E402


def test_quality_and_sampling_parts_write_their_results(corpus, tmp_path, monkeypatch):
    run = tmp_path / "run"
    assert main(["train", "lm", "--data", str(corpus), "--out", str(run), *TINY_LM]) == 0
    monkeypatch.setattr(lm_benchmark, "RESULTS", tmp_path / "results")
    lm_benchmark.main(["quality", "--run", str(run)])
    lm_benchmark.main(
        ["sampling", "--run", str(run), "--length", "20", "--repeats", "1", "--prime", "First"]
    )
    quality = json.loads((tmp_path / "results" / "lm_quality.json").read_text())
    sampling = json.loads((tmp_path / "results" / "lm_sampling.json").read_text())
    assert quality["best_val_loss"] == min(r["val_loss"] for r in quality["curve"])
    assert set(sampling["chars_per_s"]) == {"rnnkit", "torch.nn loop"}
    assert all(rate > 0 for rate in sampling["chars_per_s"].values())
    argv = ["evalspeed", "--run", str(run), "--streams", "4", "--warmup", "8"]
    lm_benchmark.main([*argv, "--repeats", "2", "--threads", "1"])
    speed = json.loads((tmp_path / "results" / "lm_evalspeed.json").read_text())
    assert set(speed["val_loss"]) == {"one stream", "4 streams"}
    assert len(speed["seconds"]["4 streams"]) == 2 and speed["speedup"] > 0
    assert abs(speed["difference"]) < 0.5  # a tiny model forgets little in 8 tokens


def test_throughput_part_compares_fp32_and_bf16(tmp_path, monkeypatch):
    config = tmp_path / "tiny.toml"
    config.write_text("hidden = 8\nlayers = 1\nbatch-size = 2\nseq-len = 4\n")
    monkeypatch.setattr(lm_benchmark, "RESULTS", tmp_path / "results")
    lm_benchmark.main(
        ["throughput", "--config", str(config), "--steps", "1", "--repeats", "1", "--threads", "1"]
    )
    result = json.loads((tmp_path / "results" / "lm_throughput.json").read_text())
    assert set(result["chars_per_s"]) == {"fp32", "bf16"}


def test_shapes_part_times_each_shape_and_its_ratio_to_the_first(tmp_path, monkeypatch):
    config = tmp_path / "tiny.toml"
    config.write_text("hidden = 8\nlayers = 1\nbatch-size = 2\nseq-len = 4\n")
    monkeypatch.setattr(lm_benchmark, "RESULTS", tmp_path / "results")
    argv = ["shapes", "--config", str(config), "--hidden", "6", "--shapes", "2x4", "4x2"]
    lm_benchmark.main([*argv, "--steps", "1", "--repeats", "2", "--threads", "1"])
    result = json.loads((tmp_path / "results" / "lm_shapes.json").read_text())
    assert set(result["chars_per_s"]) == {"2x4", "4x2"} and result["hidden"] == 6
    assert result["over_2x4"]["2x4"] == 1.0 and len(result["seconds"]["4x2"]) == 2
    assert all(rate > 0 for rate in result["chars_per_s"].values())
