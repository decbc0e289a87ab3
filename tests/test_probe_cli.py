"""``rnnkit train probe``, ``rnnkit evaluate`` and ``rnnkit diagnose`` on probe runs, as users run
them (the console script in a subprocess), and a tiny LSTM that really solves the adding problem."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import rnnkit
from tests.test_cli_truth import rnnkit as run_rnnkit

TINY = [
    "--hidden", "8", "--max-steps", "6", "--eval-every", "3", "--valid-size", "20",
    "--test-size", "20", "--batch-size", "8", "--no-progress", "--no-tensorboard",
    "--threads", "1",
]  # fmt: skip


def rnnkit_command(*argv):
    return run_rnnkit(*argv, check=False)


@pytest.fixture(scope="module")
def copy_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("probe") / "copy"
    done = rnnkit_command(
        "train", "probe", "--task", "copy", "--length", "5", *TINY, "--log-grad-flow", "1",
        "--out", run,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return run


def test_copy_run_is_scored_beside_the_memoryless_baseline(copy_run):
    done = rnnkit_command("evaluate", copy_run)
    assert done.returncode == 0, done.stderr
    result = json.loads((copy_run / "eval.json").read_text())
    assert result["task"] == "copy" and result["length"] == 5 and result["sequences"] == 20
    assert result["metric"] == "cross_entropy"
    assert result["baseline"]["cross_entropy"] == pytest.approx(10 * math.log(8) / 25, rel=1e-9)
    assert result["solved"] is False  # six steps cannot copy anything
    assert 0 <= result["model"]["accuracy"] <= 1
    assert result["parameters"] == 4 * 8 * (10 + 8 + 2) + (8 + 1) * 9  # LSTM, head to 9 symbols
    assert set(result["valid"]) == {"loss", "baseline", "accuracy", "solved"}


def test_copy_run_logs_the_gradient_flow_and_can_be_diagnosed(copy_run):
    flows = [json.loads(line) for line in (copy_run / "grad_flow.jsonl").open()]
    assert [f["step"] for f in flows] == [0, 3, 6]  # at the start and every evaluation
    assert all(len(f["grad_norm_per_step"]) == 25 for f in flows)  # T + 20 steps
    done = rnnkit_command("diagnose", copy_run, "--batches", "2")
    assert done.returncode == 0, done.stderr
    result = json.loads((copy_run / "diagnostics.json").read_text())
    assert result["task"] == "probe" and result["steps"] == 25
    assert result["sequences_per_step"] == [16] * 25  # two batches of 8
    assert (copy_run / "grad_norm_per_step.png").is_file()


def test_a_small_lstm_solves_adding_at_t10_and_eval_json_says_so(tmp_path):
    options = {"task": "adding", "length": 10, "hidden": 16, "max-steps": 600, "eval-every": 50,
               "valid-size": 200, "test-size": 200, "progress": False, "tensorboard": False,
               "threads": 1}  # fmt: skip
    summary = rnnkit.train(
        "probe", options, tmp_path / "run", on_evaluate=lambda r: r["val_solved"] == 1.0
    )
    assert summary["stop_reason"] == "stopped by on_evaluate" and summary["steps"] <= 400
    result = rnnkit.evaluate(tmp_path / "run")
    assert result["solved"] is True and result["model"]["mse"] < 0.01
    assert result["baseline"]["mse"] == pytest.approx(1 / 6, abs=0.04)  # 200 test sums


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "probe", "--task", "sum"], "--task must be one of adding, copy, got 'sum'"),
        (["train", "probe", "--length", "1"], "--length must be >= 2, got 1"),
        (["evaluate", "{run}", "--data", "x.csv"], "generates its test sequences"),
        (["diagnose", "{run}", "--data", "x.csv"], "generates its own data"),
        (["train", "probe", "--cell", "rnn", "--chrono", "50"], "--chrono 50 needs gates"),
        (["train", "probe", "--cell", "gru", "--chrono", "2"], "--chrono 2 needs gates"),
    ],
)
def test_bad_probe_input_is_one_line_and_exit_code_2(copy_run, tmp_path, argv, message):
    argv = [a.format(run=copy_run) for a in argv]
    if argv[0] == "train":
        argv += ["--max-steps", "2", "--out", str(tmp_path / "run")]
    done = rnnkit_command(*argv)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr
    assert not (tmp_path / "run").exists()


def test_chrono_from_the_command_line_sets_the_biases_and_survives_resume(tmp_path):
    """``--chrono`` through the console script: stored in config.json, the trained GRU's update
    biases start log-uniform, and ``--resume --out RUN`` alone rebuilds the same model."""
    from safetensors.torch import load_file

    run = tmp_path / "run"
    argv = ["train", "probe", "--task", "copy", "--length", "5", "--cell", "gru", *TINY]
    done = rnnkit_command(*argv, "--chrono", "25", "--lr", "1e-9", "--out", run)
    assert done.returncode == 0, done.stderr
    assert json.loads((run / "config.json").read_text())["model"]["chrono"] == 25
    weights = load_file(str(run / "last.safetensors"))
    hidden = 8
    update = [v for k, v in weights.items() if k.endswith("bias_hh_l0")][0][hidden : 2 * hidden]
    assert update.min() >= -1e-3 and update.max() <= math.log(24) + 1e-3  # lr 1e-9: as drawn
    resumed = rnnkit_command("train", "probe", "--resume", "--out", run, "--max-steps", "9")
    assert resumed.returncode == 0, resumed.stderr
