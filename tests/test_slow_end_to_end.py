"""Slow end-to-end runs on the real data (``pytest -m slow``).

The default suite has fast versions of each: tests/test_lm_cli.py, test_forecast_cli.py.
"""

import json
import os
from pathlib import Path

import pytest

from rnnkit.cli import main

DATA = Path(os.environ.get("RNNKIT_DATA", "../shared/data"))
pytestmark = pytest.mark.slow


@pytest.mark.skipif(not (DATA / "tinyshakespeare").is_dir(), reason="needs $RNNKIT_DATA")
def test_language_model_learns_tiny_shakespeare(tmp_path, capsys):
    run = tmp_path / "run"
    args = [
        "train",
        "lm",
        "--data",
        "tinyshakespeare",
        "--out",
        str(run),
        "--hidden",
        "128",
        "--layers",
        "1",
        "--embedding-dim",
        "32",
        "--batch-size",
        "32",
        "--seq-len",
        "64",
        "--max-steps",
        "1000",
        "--eval-every",
        "500",
        "--lr",
        "0.005",
        "--no-progress",
    ]
    assert main(args) == 0
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["val_loss"] < 1.85  # uniform over 65 characters would be 4.17 nats
    capsys.readouterr()
    assert main(["sample", str(run), "--prime", "ROMEO:", "--length", "200", "--seed", "0"]) == 0
    assert len(capsys.readouterr().out) > 200


@pytest.mark.skipif(not (DATA / "ett").is_dir(), reason="needs $RNNKIT_DATA")
def test_forecaster_beats_the_naive_baseline_on_etth1(tmp_path):
    run = tmp_path / "run"
    args = [
        "train",
        "forecast",
        "--config",
        "recipes/etth1-lstm.toml",
        "--epochs",
        "3",
        "--out",
        str(run),
        "--no-progress",
    ]
    assert main(args) == 0
    assert main(["evaluate", str(run)]) == 0
    metrics = json.loads((run / "eval.json").read_text())["metrics"]
    assert metrics["model"]["mse"] < metrics["naive"]["mse"]
    assert metrics["model"]["mse"] < 0.114  # the published LSTMa figure at horizon 24
