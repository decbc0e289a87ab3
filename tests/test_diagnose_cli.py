"""``rnnkit diagnose RUN`` as users run it (the console script in a subprocess): what it writes
for a trained run, and one line with exit code 2 for what cannot be diagnosed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import TINY_LM, TINY_TEXT
from tests.test_cli_truth import rnnkit as run_rnnkit


def rnnkit(*argv):
    return run_rnnkit(*argv, check=False)


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory) -> Path:
    """A 2-layer LSTM language model trained for 12 steps with clipping at 0.05."""
    folder = tmp_path_factory.mktemp("diagnose")
    corpus = folder / "corpus.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    run = folder / "run"
    done = rnnkit("train", "lm", "--data", corpus, *TINY_LM, "--layers", "2", "--cell", "lstm",
                  "--clip-norm", "0.05", "--threads", "1", "--out", run)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return run


def test_diagnose_writes_the_gradient_per_step_gates_spectra_and_clip_share(lm_run):
    done = rnnkit("diagnose", lm_run, "--batches", "2")
    assert done.returncode == 0, done.stderr
    result = json.loads((lm_run / "diagnostics.json").read_text())
    assert result["task"] == "lm" and result["layer"] == "rnn" and result["layer_index"] == 1
    assert result["batches"] == 2 and result["steps"] == 16  # --seq-len 16
    assert len(result["grad_norm_per_step"]) == 16 and min(result["grad_norm_per_step"]) > 0
    assert set(result["gate_saturation"]) == {"input", "forget", "output"}
    assert len(result["recurrent_weights"]) == 2 * 4  # two layers, four gate blocks each
    clipping = result["clipping"]
    assert clipping["clip_norm"] == 0.05 and clipping["fired"]["steps"] == 12
    assert 0 <= clipping["fired"]["share"] <= 1
    for figure in ("grad_norm_per_step.png", "gate_saturation.png"):
        assert (lm_run / figure).stat().st_size > 0
    assert "||dL/dh_t||: t=1" in done.stdout and "clipping (--clip-norm 0.05) fired" in done.stdout


def test_diagnose_reads_other_data_through_the_runs_vocabulary(lm_run, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text(TINY_TEXT[::-1], encoding="utf-8")  # the same characters
    done = rnnkit("diagnose", lm_run, "--data", other, "--batches", "1")
    assert done.returncode == 0, done.stderr
    assert json.loads((lm_run / "diagnostics.json").read_text())["data"] == str(other)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["diagnose", "{tmp}"], "not an rnnkit run (no config.json)"),
        (["diagnose", "{tmp}/missing"], "no such run directory"),
        (["diagnose", "{run}", "--batches", "0"], "--batches must be positive, got 0"),
        (["diagnose", "{run}", "--data", "{tmp}/none.txt"], "none.txt"),
    ],
)
def test_what_cannot_be_diagnosed_is_one_line_and_exit_code_2(lm_run, tmp_path, argv, message):
    argv = [a.format(tmp=tmp_path, run=lm_run) for a in argv]
    done = rnnkit(*argv)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr
