"""Data-parallel training under torchrun: two gloo processes on tiny data, driven as users run
them (``torchrun --nproc-per-node 2 rnnkit train ...`` in a subprocess), against one process with
the same global batch."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.training.checkpoint import load_state, save_state
from rnnkit.training.distributed import Processes
from tests.conftest import TINY_LM, TINY_TEXT
from tests.test_classify_cli import rows, write_tsv

RNNKIT = str(Path(sys.executable).parent / "rnnkit")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
TOLERANCE = 1e-5  # max |w1 - w2| between one process and two: the sums run in another order
# 12 steps, checkpoints at 6 and 12; a constant learning rate, so that a run of 6 steps resumed
# to 12 is the run of 12 (a cosine schedule is sized by --max-steps)
LM = [*TINY_LM, "--threads", "1", "--dropout", "0", "--schedule", "constant"]
CLASSIFY = [
    "--hidden", "8", "--embedding-dim", "8", "--no-progress", "--threads", "1", "--lr", "0.02",
    "--dropout", "0", "--epochs", "3", "--eval-every", "2",
    # 48 training texts: batches of 47 rows (23 and 24 per process) and of 1 row (process 1
    # runs a stand-in row with weight 0)
    "--batch-size", "47",
    # SGD compares the gradients themselves: Adam divides each update by the gradient's own
    # running size, and on gradients that are zero but for rounding (the attention pooling's
    # query starts at 0) two processes' other order of summation grows to ~3e-4 in 6 steps
    "--optimizer", "sgd",
]  # fmt: skip


def rnnkit(*argv, processes: int = 1) -> subprocess.CompletedProcess:
    """``rnnkit ARGV``, alone or under torchrun with two processes."""
    launcher = [*TORCHRUN, RNNKIT] if processes == 2 else [RNNKIT]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [*launcher, *map(str, argv)], capture_output=True, text=True, env=env, timeout=300
    )


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, done.stderr
    return done


def error_lines(stderr: str) -> list[str]:
    """rnnkit's error lines (torchrun adds its banner, warnings and a summary)."""
    return [line for line in stderr.splitlines() if line.startswith("rnnkit: error:")]


def exit_codes(stderr: str) -> list[int]:
    """The exit code of each failed process, from torchrun's summary (``exitcode  : 1``)."""
    return [int(code) for code in re.findall(r"exitcode\s+:\s*(-?\d+)", stderr)]


def stopped_with(codes: list[int], code: int) -> bool:
    """Both processes failed, at least one with ``code`` by itself. torchrun's agent SIGTERMs the
    other workers as soon as one has exited with an error, so a process still shutting down its
    interpreter after the same agreed stop is reported as -15 (a race it decides, not rnnkit)."""
    return len(codes) == 2 and code in codes and set(codes) <= {code, -15}


def diverged_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "the training loss became" in line]


def largest_difference(a: Path, b: Path) -> float:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ddp")
    (folder / "corpus.txt").write_text(TINY_TEXT, encoding="utf-8")
    write_tsv(folder / "texts.tsv", rows(60))
    return folder


@pytest.fixture(scope="module")
def lm_runs(data) -> dict[str, Path]:
    """The same LM trained alone and by two processes (global batch 4: two streams each)."""
    runs = {n: data / f"lm{n}" for n in (1, 2)}
    for n, run in runs.items():
        ok(rnnkit("train", "lm", "--data", data / "corpus.txt", *LM, "--out", run, processes=n))
    return runs


@pytest.fixture(scope="module")
def halfway(data) -> Path:
    """A two-process LM run with dropout, stopped at its first checkpoint (step 6)."""
    run = data / "half"
    lm = [*LM, "--dropout", "0.3", "--max-steps", "6"]
    ok(rnnkit("train", "lm", "--data", data / "corpus.txt", *lm, "--out", run, processes=2))
    return run


def resumed_copy(halfway: Path, to: Path, damage=None) -> subprocess.CompletedProcess:
    """Resume a copy of the halfway run to step 12 under two processes, after ``damage(meta,
    tensors)`` edits its state file."""
    shutil.copytree(halfway, to)
    if damage is not None:
        tensors, meta = load_state(to / "last.safetensors")
        damage(meta, tensors)
        save_state(to / "last.safetensors", tensors, meta)
    return rnnkit("train", "lm", "--resume", "--out", to, "--max-steps", "12", processes=2)


@pytest.mark.parametrize(
    ("rows", "shares"), [(4, [(0, 2), (2, 4)]), (5, [(0, 2), (2, 5)]), (1, [None, (0, 1)])]
)
def test_each_process_takes_its_rows_of_the_global_batch(rows, shares):
    """Process r of 2 takes rows [r*B//2, (r+1)*B//2); an empty share is row 0, not counted."""
    batch = (torch.arange(rows), torch.arange(rows) * 10)
    for rank, share in enumerate(shares):
        rows_of_rank, counted = Processes(rank, 2, "gloo").share(batch)
        low, high = share or (0, 1)
        assert counted == (share is not None)
        assert torch.equal(rows_of_rank[0], batch[0][low:high])
        assert torch.equal(rows_of_rank[1], batch[1][low:high])


def test_a_study_under_torchrun_is_refused_in_one_line(monkeypatch, capsys, tmp_path):
    from rnnkit.cli import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["study", "run", str(tmp_path / "study.toml")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "start it without torchrun" in error[0]


def test_lm_two_processes_train_the_weights_of_one_with_the_same_global_batch(lm_runs):
    assert largest_difference(lm_runs[1], lm_runs[2]) <= TOLERANCE


def test_classify_two_processes_train_the_weights_of_one_with_the_same_global_batch(data):
    texts = data / "texts.tsv"
    for n in (1, 2):
        run = data / f"classify{n}"
        ok(rnnkit("train", "classify", "--data", texts, *CLASSIFY, "--out", run, processes=n))
    assert largest_difference(data / "classify1", data / "classify2") <= TOLERANCE


def test_config_records_the_processes_and_the_backend(lm_runs):
    two = json.loads((lm_runs[2] / "config.json").read_text())
    one = json.loads((lm_runs[1] / "config.json").read_text())
    assert (two["world_size"], two["backend"]) == (2, "gloo")
    assert (one["world_size"], one["backend"]) == (1, None)


def test_only_process_0_writes_the_run_and_logs_the_global_batch(lm_runs):
    for run in lm_runs.values():
        records = [json.loads(line) for line in (run / "metrics.jsonl").open()]
        assert [r["step"] for r in records] == [6, 12]  # one line per evaluation, not two
    one, two = (
        [json.loads(line) for line in (r / "metrics.jsonl").open()] for r in lm_runs.values()
    )
    for a, b in zip(one, two):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-5)
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-5)


def test_one_process_evaluates_and_samples_a_two_process_run(lm_runs):
    assert all(
        not k.startswith("module.") for k in load_file(str(lm_runs[2] / "model.safetensors"))
    )
    evaluated = ok(rnnkit("evaluate", lm_runs[2]))
    assert json.loads(evaluated.stdout)["loss"] > 0
    sampled = ok(rnnkit("sample", lm_runs[2], "--prime", "First", "--length", "20", "--seed", "0"))
    assert sampled.stdout.startswith("First")


def test_resume_under_two_processes_continues_exactly(data, halfway):
    whole = data / "whole"
    lm = [*LM, "--dropout", "0.3"]  # each process's dropout masks come from its own RNG state
    ok(rnnkit("train", "lm", "--data", data / "corpus.txt", *lm, "--out", whole, processes=2))
    ok(resumed_copy(halfway, data / "resumed"))
    assert largest_difference(whole, data / "resumed") == 0.0  # bit for bit
    wa, wb = (load_file(str(r / "last.safetensors")) for r in (whole, data / "resumed"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)  # and both processes' carried states


def test_resume_with_another_number_of_processes_is_one_line(halfway, tmp_path):
    shutil.copytree(halfway, tmp_path / "run")
    done = rnnkit("train", "lm", "--resume", "--out", tmp_path / "run", "--max-steps", "12")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"rnnkit: error: {tmp_path / 'run' / 'last.safetensors'}: the run was trained by 2 "
        "process(es), this job has 1; resume it under torchrun with 2 processes "
        "(--nproc-per-node 2)"
    ]


def test_a_nan_in_one_process_stops_both_with_one_line(halfway, tmp_path):
    def nan_carry_of_process_1(meta, tensors):
        for key in tensors:
            if key.startswith("p1.carry."):
                tensors[key] = torch.full_like(tensors[key], float("nan"))

    done = resumed_copy(halfway, tmp_path / "run", nan_carry_of_process_1)
    assert done.returncode != 0  # torchrun's exit code is 1 whatever its processes' codes
    assert stopped_with(exit_codes(done.stderr), 1), done.stderr
    lines = diverged_lines(done.stderr)
    assert len(lines) == 1 and "the training loss became nan at step 7" in lines[0], done.stderr


def test_an_error_in_one_process_stops_both_with_its_message(halfway, tmp_path):
    def drop_rng_of_process_1(meta, tensors):
        meta["other_processes"][0]["torch_rng"] = {"__tensor__": "gone"}

    done = resumed_copy(halfway, tmp_path / "run", drop_rng_of_process_1)
    assert done.returncode != 0
    assert stopped_with(exit_codes(done.stderr), 2), done.stderr  # bad input
    lines = error_lines(done.stderr)
    assert lines == [
        f"rnnkit: error: {tmp_path / 'run' / 'last.safetensors'}: the checkpoint has no 'gone'; "
        "the file is damaged"
    ], done.stderr


def test_benchmark_compares_one_and_two_processes_and_writes_its_table(data, tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import ddp as benchmark

    tiny = tmp_path / "tiny.toml"
    tiny.write_text("hidden = 8\nlayers = 1\nbatch-size = 4\nseq-len = 8\nwarmup-steps = 0\n")
    out = tmp_path / "ddp.json"
    argv = ["--config", str(tiny), "--time-budget", "1s", "--eval-every", "5"]
    where = ["--runs", str(tmp_path / "runs"), "--out", str(out)]
    benchmark.main([*argv, *where, "--", "--data", str(data / "corpus.txt")])
    report = json.loads(out.read_text())
    assert [r["world_size"] for r in report["results"].values()] == [1, 2]
    assert all(r["steps"] > 0 and r["chars_per_s"] > 0 for r in report["results"].values())
    assert "| 2 processes x 1 thread |" in capsys.readouterr().out
