"""A real (tiny) study through rnnkit's Python API: ``pytest -m slow``.

Needs ``rnnkit.api`` (the task-API issue); a few seconds of training in all.
"""

import json

import pytest

from rnnkit.cli import main

pytestmark = pytest.mark.slow

STUDY = """
task = "forecast"
metric = "loss"
direction = "minimize"
seeds = [0, 1]
[base]
data = "synthetic:sine"
lookback = 20
horizon = 1
max-steps = 5
eval-every = 5
[grid]
hidden = [4, 8]
"""


def test_tiny_forecast_study_trains_evaluates_and_reports(tmp_path):
    path = tmp_path / "sine.toml"
    path.write_text(STUDY, encoding="utf-8")
    out = tmp_path / "study"
    assert main(["study", "run", str(path), "--out", str(out)]) == 0
    runs = sorted((out / "trials").iterdir())
    assert len(runs) == 4
    for run in runs:
        for name in ("config.json", "metrics.jsonl", "model.safetensors", "eval.json"):
            assert (run / name).is_file(), run / name
        assert "loss" in json.loads((run / "eval.json").read_text())["valid"]
    assert (out / "report.md").is_file() and (out / "trials.csv").is_file()
