"""The reliability audit (issue 16), one test per item: the exit code, the one-line message, and
that nothing saved is damaged. Most drive ``rnnkit.cli.main`` in this process; signals, locks and
resource limits need the ``rnnkit`` console script in a subprocess.

Exit codes: 0 done, 1 training failed or the disk is full, 2 bad input, 130 interrupted."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rnnkit.cli import build_parser, main
from tests.conftest import TINY_LM, TINY_TEXT

RNNKIT = str(Path(sys.executable).parent / "rnnkit")  # the console script users run
QUICK_LM = [*TINY_LM, "--threads", "1", "--no-tensorboard"]
QUICK_FORECAST = [
    "--hidden", "8", "--batch-size", "16", "--max-steps", "6", "--eval-every", "3",
    "--lookback", "24", "--horizon", "3", "--no-progress", "--threads", "1", "--no-tensorboard",
]  # fmt: skip
QUICK_CLASSIFY = [
    "--hidden", "8", "--embedding-dim", "8", "--max-steps", "6", "--eval-every", "3",
    "--no-progress", "--threads", "1", "--batch-size", "16", "--no-tensorboard",
]  # fmt: skip
QUICK_TRANSLATE = [
    "--src-vocab-size", "64", "--tgt-vocab-size", "64", "--hidden", "16", "--embedding-dim", "8",
    "--batch-size", "16", "--beam", "2", "--max-steps", "4", "--eval-every", "2",
    "--no-progress", "--threads", "1", "--no-tensorboard",
]  # fmt: skip


# --- helpers ------------------------------------------------------------------------------------
def cli(capsys, *argv) -> tuple[int, str, str]:
    """``rnnkit ARGV`` in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    """The single line an error prints (and no traceback)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in err
    return lines[0]


def script(*argv, check=False, **options) -> subprocess.CompletedProcess:
    """``rnnkit ARGV`` as users run it, in a subprocess."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [RNNKIT, *map(str, argv)], capture_output=True, text=True, env=env, timeout=300, **options
    )


def start(*argv) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [RNNKIT, *map(str, argv)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )


def catches_sigint(pid: int) -> bool:
    """Whether the process has installed a SIGINT handler (Linux: SigCgt in /proc/PID/status)."""
    status = Path(f"/proc/{pid}/status")
    if not status.is_file():  # not Linux: the delay alone
        return True
    for line in status.read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    return False


def wait_for(condition, process: subprocess.Popen | None = None, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"ended early: {process.stderr.read().decode()}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def digests(run: Path) -> dict[str, str]:
    """The sha256 of every file of a run (what 'nothing saved was damaged' compares)."""
    return {p.name: digest(p) for p in sorted(run.iterdir()) if p.is_file() and p.name != ".lock"}


def steps_logged(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").open()]


def write_series(path: Path, level: float = 10.0, rows: int = 120) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "value"])
        for i in range(rows):
            day, hour = divmod(i, 24)
            value = level + math.sin(2 * math.pi * i / 24)
            writer.writerow([f"2021-03-{1 + day:02d} {hour:02d}:00:00", f"{value:.4f}"])
    return path


def write_tsv(path: Path, count: int = 80, seed: int = 0) -> Path:
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        cue = rng.choice(["good", "great"] if i % 2 else ["bad", "dull"])
        lines.append(f"{'pos' if i % 2 else 'neg'}\tthe film was {cue}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_pairs(folder: Path, name: str, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = ["ein", "zwei", "drei", "vier", "fünf"]
    sources = [" ".join(rng.choices(words, k=rng.randint(2, 4))) for _ in range(count)]
    (folder / f"{name}.de").write_text("\n".join(sources) + "\n", encoding="utf-8")
    targets = "\n".join(" ".join(reversed(s.split())) for s in sources) + "\n"
    (folder / f"{name}.en").write_text(targets, encoding="utf-8")
    return [
        f"--{name}-src",
        str(folder / f"{name}.de"),
        f"--{name}-tgt",
        str(folder / f"{name}.en"),
    ]


def train_lm(capsys, corpus: Path, out: Path, *extra) -> int:
    return cli(capsys, "train", "lm", "--data", corpus, "--out", out, *QUICK_LM, *extra)[0]


# --- runs shared by the tests that only read them (copied before any damage) ---------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("runs")
    (folder / "corpus.txt").write_text(TINY_TEXT, encoding="utf-8")
    write_series(folder / "series.csv")
    write_tsv(folder / "texts.tsv")
    pairs = [*write_pairs(folder, "train", 60, 0), *write_pairs(folder, "valid", 10, 1)]
    pairs += write_pairs(folder, "test", 10, 2)
    commands = {
        "lm": ["train", "lm", "--data", folder / "corpus.txt", *QUICK_LM],
        "forecast": ["train", "forecast", "--data", folder / "series.csv", *QUICK_FORECAST],
        "classify": ["train", "classify", "--data", folder / "texts.tsv", *QUICK_CLASSIFY],
        "translate": ["train", "translate", *pairs, *QUICK_TRANSLATE],
    }
    result = {"folder": folder}
    for task, argv in commands.items():
        assert main([*map(str, argv), "--out", str(folder / task)]) == 0, task
        result[task] = folder / task
    return result


@pytest.fixture
def copy(runs, tmp_path):
    """``copy(task)``: a copy of a shared run that a test may damage."""

    def make(task: str) -> Path:
        return Path(shutil.copytree(runs[task], tmp_path / f"{task}-copy"))

    return make


# --- 1. data paths ----------------------------------------------------------------------------
def test_1_a_run_reads_its_own_data_file_from_any_directory_and_refuses_a_changed_one(
    tmp_path, monkeypatch, capsys
):
    here, elsewhere, run = tmp_path / "here", tmp_path / "elsewhere", tmp_path / "run"
    here.mkdir(), elsewhere.mkdir()
    write_series(here / "series.csv", level=10.0)
    write_series(elsewhere / "series.csv", level=1000.0)  # same name, other values
    monkeypatch.chdir(here)
    assert (
        cli(capsys, "train", "forecast", "--data", "series.csv", "--out", run, *QUICK_FORECAST)[0]
        == 0
    )
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["data"] == str(here / "series.csv")
    assert config["sources"]["data"] == {
        "path": str(here / "series.csv"),
        "sha256": digest(here / "series.csv"),
    }
    resumed = ["train", "forecast", "--resume", "--out", run, "--max-steps", "9"]
    assert cli(capsys, *resumed, "--data", "series.csv")[0] == 0  # the same file, named again
    forecast_here = cli(capsys, "forecast", run)[1]
    assert cli(capsys, "evaluate", run)[0] == 0
    monkeypatch.chdir(elsewhere)
    assert cli(capsys, "forecast", run)[1] == forecast_here  # the run's file, not ./series.csv

    saved = digests(run)
    write_series(here / "series.csv", level=12.0)  # the data changes after training
    for argv in (["forecast", run], ["evaluate", run]):
        code, out, err = cli(capsys, *argv)
        assert code == 2 and out == ""
        assert "series.csv: the run's --data file changed since the run was created" in one_line(
            err
        )
    assert digests(run) == saved  # eval.json was not overwritten
    assert cli(capsys, "forecast", run, "--input", here / "series.csv")[0] == 0  # named: used
    assert cli(capsys, "evaluate", run, "--data", here / "series.csv")[0] == 0
    (here / "series.csv").unlink()
    code, _, err = cli(capsys, "forecast", run)
    assert code == 2 and "the run's --data file is missing" in one_line(err)


# --- 2. frozen artifacts ----------------------------------------------------------------------
def test_2_resume_loads_the_stored_vocabulary_and_scaler_and_refuses_changed_data(
    runs, copy, tmp_path, capsys
):
    from rnnkit import tasks
    from rnnkit.training.run import load_run

    # the stored artifacts are what a resumed run uses, whatever today's files would give
    lm_run, forecast_run = copy("lm"), copy("forecast")
    vocab = json.loads((lm_run / "vocab.json").read_text())
    vocab["chars"].reverse()  # same characters, other ids: only a loaded vocabulary has these
    (lm_run / "vocab.json").write_text(json.dumps(vocab))
    scaler = json.loads((forecast_run / "scaler.json").read_text())
    scaler["mean"] = [m + 1.0 for m in scaler["mean"]]
    (forecast_run / "scaler.json").write_text(json.dumps(scaler))
    for task, run in (("lm", lm_run), ("forecast", forecast_run)):
        spec = tasks.get(task)
        sections = spec.from_stored(load_run(run), "config.json")
        built = spec.build(sections, run, resume=True)
        if task == "lm":
            assert built.task.vocab.chars == vocab["chars"]
        else:
            assert built.task.prepared.scaler.mean.tolist() == scaler["mean"]

    # after every z became Q, resuming refuses in one line and changes nothing
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    run = tmp_path / "run"
    assert train_lm(capsys, corpus, run) == 0
    saved = digests(run)
    corpus.write_text(TINY_TEXT.replace("z", "Q"), encoding="utf-8")
    code, _, err = cli(capsys, "train", "lm", "--resume", "--out", run, "--max-steps", "18")
    assert code == 2 and "corpus.txt: the run's --data file changed" in one_line(err)
    assert digests(run) == saved


# --- 3 and 4 are in test_cli_truth.py: test_toml_values_must_have_their_options_type and
# test_bad_option_values_are_one_line_and_exit_code_2 (--clip-norm 0) ----------------------------


# --- 5. unwritable places and a full disk -----------------------------------------------------
def test_5_evaluate_prints_the_metrics_before_writing_and_names_what_it_could_not_write(
    copy, capsys
):
    run = copy("lm")
    (run / "eval.json").mkdir()  # eval.json cannot be written (even by root)
    saved = digests(run)
    code, out, err = cli(capsys, "evaluate", run)
    assert code == 2
    assert json.loads(out)["bits_per_char"] > 0  # the metrics were printed first
    assert one_line(err).endswith("eval.json: cannot write here (Is a directory)")
    assert digests(run) == saved


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_5_evaluate_on_a_read_only_run_prints_the_metrics(copy, capsys):
    run = copy("lm")
    run.chmod(0o555)
    try:
        code, out, err = cli(capsys, "evaluate", run)
    finally:
        run.chmod(0o755)
    assert code == 2 and "loss" in json.loads(out)
    assert "eval.json: cannot write here (Permission denied)" in one_line(err)


def test_5_bad_output_places_are_one_line_and_exit_code_2(runs, tmp_path, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    missing = tmp_path / "missing" / "folder"
    cases = [
        (["train", "lm", "--data", runs["folder"] / "corpus.txt", *QUICK_LM],
         ["--out", a_file / "run"], "exists and is not a directory"),
        (["forecast", runs["forecast"]], ["--output", missing / "next.csv"], "does not exist"),
        (["forecast", runs["forecast"]], ["--plot", missing / "next.png"], "does not exist"),
        (["translate", runs["translate"], "ein zwei"], ["--show-attention", missing / "a.png"],
         "does not exist"),
    ]  # fmt: skip
    for argv, place, message in cases:
        code, out, err = cli(capsys, *argv, *place)
        assert code == 2 and out == "" and message in one_line(err), err
    assert not missing.parent.exists() and a_file.read_text() == "x"


def test_5_train_out_in_a_read_only_folder_is_one_line_before_the_data_is_read(
    runs, tmp_path, capsys, monkeypatch
):
    import rnnkit.training.run

    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    if os.geteuid() == 0:  # root may write anyway: the folder is read-only as far as rnnkit asks
        allowed = os.access
        monkeypatch.setattr(
            rnnkit.training.run.os, "access", lambda p, mode: Path(p) != folder and allowed(p, mode)
        )
    corpus = runs["folder"] / "corpus.txt"
    code, _, err = cli(capsys, "train", "lm", "--data", corpus, "--out", folder / "run", *QUICK_LM)
    assert code == 2 and "cannot create or write the run directory" in one_line(err)
    assert list(folder.iterdir()) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_5_a_full_disk_is_one_line_and_exit_code_1(runs, capsys):
    code, _, err = cli(capsys, "forecast", runs["forecast"], "--output", "/dev/full")
    assert code == 1 and "/dev/full: cannot write (No space left on device)" in one_line(err)


def test_5_a_full_disk_while_training_damages_nothing_and_logs_only_saved_steps(
    runs, tmp_path, capsys
):
    run = tmp_path / "run"
    assert train_lm(capsys, runs["folder"] / "corpus.txt", run) == 0  # steps 6 and 12
    saved = digests(run)

    def small_files_only():  # a file-size limit: writes beyond it fail as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    done = script(
        "train", "lm", "--resume", "--out", run, "--max-steps", "30", "-q",
        preexec_fn=small_files_only,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "cannot write (File too large); the files saved before are intact" in one_line(
        done.stderr
    )
    assert digests(run) == saved  # the checkpoints and the log of steps 6 and 12, untouched
    assert steps_logged(run) == [6, 12]


def test_5_a_resumed_run_drops_log_lines_of_steps_no_checkpoint_holds(runs, tmp_path, capsys):
    run = tmp_path / "run"
    assert train_lm(capsys, runs["folder"] / "corpus.txt", run) == 0
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as log:
        log.write('{"step": 15, "val_loss": 1.0}\n{"step": 1')  # a lost step, half a line
    assert cli(capsys, "train", "lm", "--resume", "--out", run, "--max-steps", "18")[0] == 0
    assert steps_logged(run) == [6, 12, 18]


# --- 6. one training per run ------------------------------------------------------------------
def test_6_a_second_training_of_a_run_is_refused_while_the_first_holds_its_lock(
    runs, tmp_path, capsys
):
    run = tmp_path / "run"
    assert train_lm(capsys, runs["folder"] / "corpus.txt", run) == 0
    first = start("train", "lm", "--resume", "--out", run, "--max-steps", "100000", "-q")
    try:
        wait_for(lambda: (run / ".lock").read_text().strip() == str(first.pid), first)
        code, _, err = cli(capsys, "train", "lm", "--resume", "--out", run, "--max-steps", "50")
        assert code == 2
        assert f"another rnnkit process {first.pid} is training this run" in one_line(err)
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=120)
    assert first.returncode == 130
    steps = steps_logged(run)
    assert steps == sorted(set(steps))  # no step logged twice


# --- 7. every option checked before anything is written ----------------------------------------
@pytest.mark.parametrize(
    "extra, message",
    [
        (["--momentum", "-0.5"], "--momentum must be >= 0, got -0.5"),
        (["--weight-decay", "-1"], "--weight-decay must be >= 0, got -1.0"),
        (["--step-size", "0"], "--step-size must be positive, got 0"),
        (["--schedule", "linear"], "--schedule must be one of constant, step, cosine, plateau"),
        (["--nonlinearity", "sigmoid"], "--nonlinearity must be one of tanh, relu"),
        (["--backend", "cuda"], "--backend must be one of auto, reference, fused"),
        (["--embedding-dim", "-1"], "--embedding-dim must be >= 0, got -1"),
        (["--optimizer", "sparseadam"], "--optimizer sparseadam goes with --sparse-embedding"),
        (["--dropout", "1"], "--dropout must be in [0, 1), got 1.0"),
    ],
)
def test_7_every_option_is_checked_before_anything_is_written(
    runs, tmp_path, capsys, extra, message
):
    corpus = runs["folder"] / "corpus.txt"
    code, _, err = cli(capsys, "train", "lm", "--data", corpus, "--out", tmp_path / "run", *extra)
    assert code == 2 and message in one_line(err)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sample", "{lm}", "--temperature", "nan"], "--temperature must be a finite number >= 0"),
        (["sample", "{lm}", "--temperature", "-1"], "--temperature must be a finite number >= 0"),
        (["sample", "{lm}", "--top-p", "0"], "--top-p must be in (0, 1]"),
        (["evaluate", "{lm}", "--threads", "0"], "--threads must be positive, got 0"),
        (["translate", "{translate}", "x", "--temperature", "inf"], "--temperature must be a"),
    ],
)
def test_7_options_of_the_commands_that_use_a_run_are_checked_first(runs, capsys, argv, message):
    argv = [a.format(**runs) for a in argv]
    saved = digests(Path(argv[1]))
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == "" and message in one_line(err)
    assert digests(Path(argv[1])) == saved


def test_7_a_run_that_stopped_before_its_first_checkpoint_starts_again_without_resume(
    runs, tmp_path, capsys
):
    corpus, run = runs["folder"] / "corpus.txt", tmp_path / "run"
    diverge = ["--lr", "1e38", "--clip-norm", "none", "--optimizer", "sgd"]
    assert train_lm(capsys, corpus, run, *diverge) == 1  # NaN before the checkpoint at step 6
    assert (run / "config.json").is_file() and not (run / "last.safetensors").exists()
    code, _, err = cli(capsys, "train", "lm", "--resume", "--out", run)
    assert code == 2 and "start it again without --resume" in one_line(err)
    assert train_lm(capsys, corpus, run) == 0  # no circle: the folder is reused
    assert steps_logged(run) == [6, 12]


# --- 8. damaged run files ---------------------------------------------------------------------
def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _nan_weights(path: Path) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path))
    name = sorted(tensors)[0]
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    save_file(tensors, str(path))


DAMAGES = {
    "config.json without a section": (
        "lm", "config.json", lambda p: _edit_json(p, lambda c: c.pop("model")),
        ["sample", "{run}"], "config.json: has no 'model' section",
    ),
    "config.json with a wrong type": (
        "lm", "config.json", lambda p: _edit_json(p, lambda c: c["model"].update(hidden_size="16")),
        ["sample", "{run}"], "config.json: key 'model.hidden_size': expected a whole number",
    ),
    "config.json without its sizes": (
        "forecast", "config.json", lambda p: _edit_json(p, lambda c: c["sizes"].pop("horizon")),
        ["forecast", "{run}"], "config.json: has no key 'sizes.horizon'",
    ),
    "config.json with a wrong series": (
        "forecast", "config.json", lambda p: _edit_json(p, lambda c: c["series"].update(columns=5)),
        ["forecast", "{run}"], "config.json: key 'series.columns' should be list, got int",
    ),
    "config.json with wrong classes": (
        "classify", "config.json", lambda p: _edit_json(p, lambda c: c.update(classes="pos")),
        ["classify", "{run}", "good"], "config.json: key 'classes' should be list, got str",
    ),
    "a shortened vocab.json": (
        "lm", "vocab.json", lambda p: _edit_json(p, lambda v: v["chars"].pop()),
        ["sample", "{run}"], "vocab.json: has {n} characters, but the model was trained with",
    ),
    "a cut vocab.json": (
        "classify", "vocab.json", lambda p: p.write_bytes(p.read_bytes()[:40]),
        ["classify", "{run}", "good"], "vocab.json: vocabulary is not valid JSON",
    ),
    "a scaler.json without mean": (
        "forecast", "scaler.json", lambda p: _edit_json(p, lambda s: s.pop("mean")),
        ["forecast", "{run}"], "scaler.json: the standard scaler has no 'mean'",
    ),
    "NaN weights at sampling": (
        "lm", "model.safetensors", _nan_weights,
        ["sample", "{run}"], "model.safetensors: tensor '",
    ),
    "a damaged resume state": (
        "lm", "last.safetensors", lambda p: p.write_bytes(p.read_bytes()[:100]),
        ["train", "lm", "--resume", "--out", "{run}"], "last.safetensors: not a readable",
    ),
    "a cut tokenizer": (
        "translate", "source.tokenizer.json", lambda p: p.write_bytes(p.read_bytes()[:200]),
        ["translate", "{run}", "ein"], "source.tokenizer.json: not a tokenizers JSON file",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(DAMAGES))
def test_8_a_damaged_run_file_is_one_line_naming_the_file_and_the_key(copy, capsys, case):
    task, name, damage, argv, message = DAMAGES[case]
    run = copy(task)
    chars = (
        len(json.loads((run / "vocab.json").read_text()).get("chars", [])) if task == "lm" else 0
    )
    damage(run / name)
    code, out, err = cli(capsys, *[a.format(run=run) for a in argv])
    assert code == 2 and out == ""
    assert str(run / message.format(n=chars - 1)) in one_line(err)


# --- 9. signals -------------------------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_9_an_interrupted_training_saves_its_state_and_exits_130(runs, tmp_path, signum):
    from rnnkit.training.checkpoint import load_state

    run = tmp_path / "run"
    corpus = runs["folder"] / "corpus.txt"
    process = start(
        "train", "lm", "--data", corpus, "--out", run, *QUICK_LM, "--max-steps", "99999"
    )
    wait_for(lambda: (run / "metrics.jsonl").is_file(), process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    err = err.decode()
    assert process.returncode == 130 and "Traceback" not in err
    assert f"state saved, continue with --resume --out {run}" in err
    _, meta = load_state(run / "last.safetensors")
    assert meta["progress"]["step"] >= steps_logged(run)[-1] > 0


@pytest.mark.parametrize("delay", [0.3, 1.0])
def test_9_ctrl_c_during_start_up_exits_130_without_a_traceback(runs, tmp_path, delay):
    corpus = runs["folder"] / "corpus.txt"
    argv = ["--data", corpus, "--out", tmp_path / "run", *QUICK_LM, "--max-steps", "99999"]
    process = start("train", "lm", *argv)
    # From when Python catches SIGINT: before that (a loaded machine may take longer than the
    # delay to exec the interpreter) Ctrl-C ends any program by the default action, no rnnkit
    # code involved, and the exit status is -2, not rnnkit's.
    wait_for(lambda: catches_sigint(process.pid), process)
    time.sleep(delay)  # while torch loads and the data is read
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert b"Traceback" not in err


def test_9_a_ctrl_c_that_a_library_swallowed_still_stops_before_training(
    runs, tmp_path, monkeypatch, capsys
):
    """numpy's first ``import numpy.random`` can swallow the KeyboardInterrupt of a Ctrl-C (in a
    Cython module's initialisation): the CLI remembers the signal and does not train."""
    import contextlib

    def swallowing():
        with contextlib.suppress(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)

    run, corpus = interrupted_while_reading(runs, tmp_path, monkeypatch, capsys, swallowing)
    assert not (run / "last.safetensors").exists()
    monkeypatch.undo()  # started again, without --resume
    assert cli(capsys, "train", "lm", "--data", corpus, "--out", run, *QUICK_LM)[0] == 0


def interrupted_while_reading(runs, tmp_path, monkeypatch, capsys, before) -> tuple[Path, Path]:
    """``rnnkit train lm`` with ``before()`` called as the data is read: it must stop with
    exit code 130 and one line, before training; returns (the run, the corpus)."""
    from rnnkit.tasks import lm

    original = lm.read_parts

    def reading(*args, **kwargs):
        before()
        return original(*args, **kwargs)

    monkeypatch.setattr(lm, "read_parts", reading)
    run = tmp_path / "run"
    corpus = runs["folder"] / "corpus.txt"
    code, _, err = cli(capsys, "train", "lm", "--data", corpus, "--out", run, *QUICK_LM)
    assert code == 130 and one_line(err) == "rnnkit: interrupted"
    assert not (run / "metrics.jsonl").exists()
    return run, corpus


def test_9_a_ctrl_c_during_an_import_lets_the_import_finish_then_stops(
    runs, tmp_path, monkeypatch, capsys
):
    """KeyboardInterrupt thrown into an extension module's initialisation can abort Python
    (torch's pybind11 code calls std::terminate: exit status -6, a C++ message, no 130): a Ctrl-C
    during an import is acted on once the import has finished."""
    (tmp_path / "module_being_loaded.py").write_text(
        "import signal\nsignal.raise_signal(signal.SIGINT)\nFINISHED = True\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "module_being_loaded", raising=False)
    slept = []

    def importing():
        import module_being_loaded  # noqa: F401

        time.sleep(2.0)  # the retry (every errors.RETRY_S seconds) stops the command here
        slept.append(True)

    interrupted_while_reading(runs, tmp_path, monkeypatch, capsys, importing)
    assert sys.modules["module_being_loaded"].FINISHED and not slept
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL  # restored


# --- 10. divergence ---------------------------------------------------------------------------
def test_10_divergence_names_only_the_checkpoints_that_exist(runs, tmp_path, capsys):
    corpus = runs["folder"] / "corpus.txt"
    diverge = ["--lr", "1e38", "--clip-norm", "none", "--optimizer", "sgd"]
    for eval_every in ("6", "1"):  # diverging before the first checkpoint, then after it
        run = tmp_path / f"every-{eval_every}"
        code, _, err = cli(
            capsys, "train", "lm", "--data", corpus, "--out", run, *QUICK_LM, *diverge,
            "--eval-every", eval_every, "-q",
        )  # fmt: skip
        line = one_line(err)
        assert code == 1 and "the training loss became" in line
        for name in ("last.safetensors", "model.safetensors"):
            assert (name in line) == (run / name).is_file(), line
        if eval_every == "6":
            assert "nothing was saved; start it again without --resume" in line
        else:
            assert "The state of step 1 is kept in" in line


# --- 11. permissions and encodings ------------------------------------------------------------
def test_11_run_files_are_created_with_the_users_umask(runs, tmp_path, capsys):
    previous = os.umask(0o027)
    try:
        assert train_lm(capsys, runs["folder"] / "corpus.txt", tmp_path / "run") == 0
        assert cli(capsys, "evaluate", tmp_path / "run")[0] == 0
    finally:
        os.umask(previous)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "run").iterdir()}
    assert "config.json" in modes and "last.safetensors" in modes and "eval.json" in modes
    assert set(modes.values()) == {0o640}, modes  # not 0600


def test_11_every_reader_strips_a_utf8_bom(tmp_path):
    from rnnkit.config import read_toml
    from rnnkit.data.labeled import read_labeled
    from rnnkit.data.pairs import read_pairs
    from rnnkit.data.series import read_csv
    from rnnkit.data.tokenize import Vocab, read_word_vectors
    from rnnkit.io import read_json
    from rnnkit.tasks.lm import read_corpus

    bom = "\ufeff"
    files = {
        "text.txt": "abc\n",
        "texts.tsv": "pos\tgood\nneg\tbad\n",
        "texts.csv": "label,text\npos,good\nneg,bad\n",
        "pairs.de": "ein\nzwei\n",
        "pairs.en": "one\ntwo\n",
        "series.csv": "date,value\n2021-01-01,1\n2021-01-02,2\n",
        "vectors.txt": "good 0.5 1.0\n",
        "recipe.toml": "hidden = 8\n",
        "run.json": '{"chars": ["a"]}',
    }
    for name, text in files.items():
        (tmp_path / name).write_text(bom + text, encoding="utf-8")
    assert read_corpus(str(tmp_path / "text.txt")) == "abc\n"  # the LM vocabulary's source
    assert read_labeled(tmp_path / "texts.tsv").labels == ["pos", "neg"]
    assert read_labeled(tmp_path / "texts.csv").labels == ["pos", "neg"]
    assert read_pairs(tmp_path / "pairs.de", tmp_path / "pairs.en") == (
        ["ein", "zwei"],
        ["one", "two"],
    )
    assert read_csv(tmp_path / "series.csv").time_column == "date"
    _, found = read_word_vectors(tmp_path / "vectors.txt", Vocab(["<pad>", "<unk>", "good"]))
    assert bool(found[2])
    assert read_toml(tmp_path / "recipe.toml") == {"hidden": 8}
    assert read_json(tmp_path / "run.json") == {"chars": ["a"]}


# --- 12. messages -----------------------------------------------------------------------------
def test_12_messages_say_what_is_wrong_with_what_the_user_gave(runs, tmp_path, capsys):
    short = write_series(tmp_path / "short.csv", rows=10)
    odd_text = tmp_path / "odd.txt"
    odd_text.write_text("First @ Citizen", encoding="utf-8")
    tsv = tmp_path / "bad.tsv"  # BOM, CRLF, a blank line: the bad row is on line 5
    tsv.write_bytes(b"\xef\xbb\xbfpos\tgood\r\nneg\tbad\r\n\r\npos\tfine\r\nneg\r\n")
    cases = [
        (["train", "translate", "--hidden", "0"], "error: --hidden must be positive and even"),
        (["train", "translate", "--src-vocab-size", "10"], "--src-vocab-size must be >= 64"),
        (["evaluate", runs["forecast"], "--data", short], f"{short}"),
        (["evaluate", runs["lm"], "--data", odd_text], f"{odd_text} has 1 character(s)"),
        (["evaluate", runs["classify"], "--data", tsv], f"{tsv}:5: malformed row"),
        (["sample"], "rnnkit: error: sample: the following arguments are required: run"),
        (["translate", runs["lm"], "ein"], f"{runs['lm']}: is an lm run, not a translate run"),
    ]  # fmt: skip
    for argv, message in cases:
        code, _, err = cli(capsys, *argv)
        line = one_line(err)
        assert code == 2 and message in line, line
        assert "rnnkit: error: rnnkit" not in line
    assert "series.csv" not in cli(capsys, "evaluate", runs["forecast"], "--data", short)[2]


def test_12_lone_carriage_returns_end_lines(tmp_path):
    from rnnkit.data.labeled import read_labeled
    from rnnkit.data.pairs import read_pairs

    (tmp_path / "a.tsv").write_bytes(b"pos\tgood\rneg\tbad\rpos\tfine\r")
    (tmp_path / "p.de").write_bytes(b"ein\rzwei\r")
    (tmp_path / "p.en").write_bytes(b"one\r\ntwo\r\n")
    texts = read_labeled(tmp_path / "a.tsv")
    assert texts.labels == ["pos", "neg", "pos"] and texts.lines == [1, 2, 3]
    assert read_pairs(tmp_path / "p.de", tmp_path / "p.en") == (["ein", "zwei"], ["one", "two"])


def test_12_evaluate_with_data_writes_its_own_file_beside_the_runs_eval_json(copy, capsys):
    run = copy("lm")
    assert cli(capsys, "evaluate", run)[0] == 0
    own = (run / "eval.json").read_bytes()
    other = run.parent / "other text.txt"
    other.write_text(TINY_TEXT[:500], encoding="utf-8")
    assert cli(capsys, "evaluate", run, "--data", other)[0] == 0
    assert (run / "eval.json").read_bytes() == own
    assert json.loads((run / "eval-other_text.json").read_text())["data"] == str(other)


# --- 13. conveniences -------------------------------------------------------------------------
def test_13_data_list_says_where_each_dataset_is_found_or_would_come_from(
    tmp_path, monkeypatch, capsys
):
    from rnnkit.data import registry

    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_text("x")
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    code, out, _ = cli(capsys, "data", "list")
    assert code == 0
    assert f"input.txt: found at {tmp_path / 'tinyshakespeare' / 'input.txt'}" in out
    assert (
        f"ETTh1.csv: not found; would download {registry.DATASETS['ett'].files['ETTh1.csv'].url}"
        in out
    )
    assert all(f"{name}: " in out for name in registry.DATASETS)


@pytest.mark.parametrize(
    "argv, suggestion",
    [
        (["train", "lm", "--data", "tinyshakespear"], "did you mean 'tinyshakespeare'?"),
        (["train", "forecast", "--data", "etth1"], "did you mean 'ett:ETTh1'?"),
        (["train", "forecast", "--data", "ett:ETTh3"], "did you mean 'ETTh2.csv'?"),
        (["train", "classify", "--data", "sst"], "did you mean 'sst2'?"),
        (["train", "translate", "--data", "multi31k"], "did you mean 'multi30k'?"),
    ],
)
def test_13_a_dataset_typo_gets_a_did_you_mean(tmp_path, monkeypatch, capsys, argv, suggestion):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, *argv, "--out", tmp_path / "run")
    assert code == 2 and one_line(err).endswith(suggestion)


def test_13_every_command_that_computes_takes_threads_quiet_and_verbose():
    from rnnkit.cli import _commands_of

    computes_nothing = {"rnnkit train", "rnnkit data", "rnnkit data list"}
    # a study's trials get cores // --workers threads each; report and status train nothing
    computes_nothing |= {"rnnkit study", "rnnkit study run", "rnnkit study report"}
    computes_nothing |= {"rnnkit study status"}
    commands = _commands_of(build_parser())
    assert len(commands) == 19  # with train probe, study run|report|status, diagnose and export
    for command in commands:
        flags = {flag for action in command._actions for flag in action.option_strings}
        assert {"-v", "--verbose", "-q", "--quiet"} <= flags, command.prog
        if command.prog not in computes_nothing:
            assert "--threads" in flags, command.prog


def test_13_quiet_prints_only_results_and_verbose_may_follow_the_command(runs, tmp_path, capsys):
    import logging

    corpus = runs["folder"] / "corpus.txt"
    code, out, err = cli(capsys, "train", "lm", "--data", corpus, "--out", tmp_path / "run",
                         *QUICK_LM, "--progress", "--quiet")  # fmt: skip
    assert code == 0 and out == "" and err == ""
    code, out, err = cli(capsys, "evaluate", tmp_path / "run", "-q")
    assert code == 0 and json.loads(out)["loss"] > 0 and err == ""
    code, out, err = cli(capsys, "evaluate", tmp_path / "run", "-v")  # after the command
    assert code == 0 and json.loads(out)["loss"] > 0
    assert logging.getLogger("rnnkit").getEffectiveLevel() == logging.DEBUG
    for library in ("matplotlib", "PIL", "urllib3", "filelock"):  # no third-party debug flood
        assert logging.getLogger(library).getEffectiveLevel() > logging.DEBUG
    assert "findfont" not in err


def test_13_sample_help_shows_its_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for default in ("(default: a newline)", "(default: 1000)", "(default: 0.8)", "(default: all)"):
        assert default in text


# --- fuzz: every reader and every run file, fed bad bytes -------------------------------------
def _random_bytes(seed: int, size: int = 400) -> bytes:
    rng = random.Random(seed)
    return b"\xff\xfe" + bytes(rng.randrange(256) for _ in range(size))  # never valid UTF-8


def _wrong_types(value):
    """Values of other JSON types than ``value``'s."""
    others = [[], {}, 7, "text", None, True, 1.5]
    return [v for v in others if type(v) is not type(value)][:3]


OPTION_SECTIONS = {"data", "model", "train", "decode"}  # one checker reads all their keys


def _json_variants(data) -> list:
    """Whole documents of the wrong type, then each top-level key (and each key of a section;
    three of an option section) given a value of the wrong type."""
    variants = [[], 5, "text", None]
    if isinstance(data, dict):
        for key, value in data.items():
            for wrong in _wrong_types(value):
                variants.append({**data, key: wrong})
            if isinstance(value, dict):
                inner_keys = list(value)[:3] if key in OPTION_SECTIONS else list(value)
                for inner in inner_keys:
                    for wrong in _wrong_types(value[inner])[:1]:
                        variants.append({**data, key: {**value, inner: wrong}})
    return variants


def _changed_keys(data, variant) -> list[str]:
    """The keys (``section`` or ``section.key``) where ``variant`` differs from ``data``."""
    if not isinstance(variant, dict):
        return []
    changed = []
    for key, value in data.items():
        if variant.get(key) == value:
            continue
        if isinstance(value, dict) and isinstance(variant.get(key), dict):
            changed += [f"{key}.{k}" for k in value if variant[key].get(k) != value[k]]
        else:
            changed.append(key)
    return changed


# run file -> the command that reads it; keys no command reads are left out
RUN_FILES = {
    "lm": {"config.json": ["evaluate"], "vocab.json": ["sample"], "model.safetensors": ["sample"],
           "last.safetensors": ["train", "lm", "--resume", "--out"]},
    "forecast": {"config.json": ["forecast"], "scaler.json": ["forecast"],
                 "model.safetensors": ["forecast"]},
    "classify": {"config.json": ["evaluate"], "vocab.json": ["classify", "good"],
                 "split.json": ["evaluate"]},
    "translate": {"config.json": ["evaluate"], "source.tokenizer.json": ["translate", "ein"],
                  "target.tokenizer.json": ["translate", "ein"]},
}  # fmt: skip
UNREAD = {"rnnkit_version", "label_names", "world_size", "backend"}  # what no command reads


def test_fuzz_run_files_with_bad_bytes_or_wrong_types_are_exit_code_2_without_traceback(
    runs, tmp_path, capsys
):
    checked = 0
    for task, files in RUN_FILES.items():
        run = Path(shutil.copytree(runs[task], tmp_path / task))
        for name, command in files.items():
            path = run / name
            original = path.read_bytes()
            argv = [*command[:1], run, *command[1:]] if command[0] != "train" else [*command, run]
            variants = {
                "random bytes": _random_bytes(len(name)),
                "cut": original[: len(original) // 2],
            }
            if name.endswith(".json"):
                data = json.loads(original)
                for variant in _json_variants(data):
                    changed = _changed_keys(data, variant)
                    if not set(changed) & UNREAD:
                        variants[f"{changed or type(variant).__name__}"] = json.dumps(
                            variant
                        ).encode()
            for what, variant in variants.items():
                path.write_bytes(variant)
                code, _, err = cli(capsys, *argv)  # an exception here is the traceback
                assert code == 2, f"{task} {name} {what}: exit {code} {err}"
                assert str(run) in one_line(err)
                checked += 1
            path.write_bytes(original)
    assert checked > 100


def test_fuzz_readers_with_bad_bytes_truncated_or_wrong_typed_files_exit_2_without_traceback(
    runs, tmp_path, capsys
):
    folder, out = runs["folder"], tmp_path / "never-made"
    good_tsv = folder / "texts.tsv"
    lines = (folder / "train.de").read_text(encoding="utf-8")
    vectors = "".join(f"w{i} " + " ".join("0.5" for _ in range(8)) + "\n" for i in range(20))
    readers = {  # name: (file, good content, command reading it)
        "lm text": ("c.txt", "é" * 3000, ["train", "lm", "--data", "{f}", *QUICK_LM]),
        "evaluate --data": ("e.txt", "é" * 100, ["evaluate", runs["lm"], "--data", "{f}"]),
        "series csv": ("s.csv", (folder / "series.csv").read_text(),
                       ["train", "forecast", "--data", "{f}", *QUICK_FORECAST]),
        "forecast --input": ("i.csv", (folder / "series.csv").read_text(),
                             ["forecast", runs["forecast"], "--input", "{f}"]),
        "labelled tsv": ("t.tsv", good_tsv.read_text(),
                         ["train", "classify", "--data", "{f}", *QUICK_CLASSIFY]),
        "classify --file": ("k.txt", "the film was good\n" + "é" * 10,
                            ["classify", runs["classify"], "--file", "{f}"]),
        "parallel text": ("p.de", lines, ["train", "translate", "--train-src", "{f}",
                          "--train-tgt", folder / "train.en", "--valid-src", folder / "valid.de",
                          "--valid-tgt", folder / "valid.en", *QUICK_TRANSLATE]),
        "translate --input": ("x.de", "ein zwei\n" + "é" * 10,
                              ["translate", runs["translate"], "--input", "{f}"]),
        "word vectors": ("v.txt", vectors, ["train", "classify", "--data", good_tsv,
                         "--embeddings", "{f}", *QUICK_CLASSIFY]),
        "toml recipe": ("r.toml", 'hidden = 8\ndata = "x.txt"\n',
                        ["train", "lm", "--config", "{f}"]),
    }  # fmt: skip
    wrong_toml = ["hidden = '8'", "lr = true", "data = 5", "max-steps = [1]", "[model]\nx = 1"]

    def truncated(raw: bytes) -> bytes:  # cut inside a character, a row, a field or a string
        if raw.endswith("é".encode()):
            return raw[:-1]
        for separator in (b"\t", b",", b'"'):
            if separator in raw:
                return raw[: raw.rindex(separator) + (separator == b",")]
        if raw.count(b"\n") > 5:
            return raw[: len(raw) // 2]
        return raw[: raw.rindex(b" ")]

    for name, (filename, good, command) in readers.items():
        path = tmp_path / filename
        raw = good.encode("utf-8")
        variants = [_random_bytes(len(name)), truncated(raw)]
        if name == "toml recipe":
            variants += [w.encode() for w in wrong_toml]
        if name == "series csv" or name == "forecast --input":
            variants.append(good.replace("\n2021-03-01 05", "\n2021-03-01 05,oops").encode())
        for variant in variants:
            path.write_bytes(variant)
            argv = [str(a).replace("{f}", str(path)) for a in command]
            code, _, err = cli(capsys, *argv, *(["--out", out] if argv[0] == "train" else []))
            assert code == 2, f"{name} {variant[:80]!r}: exit {code} {err}"
            one_line(err)
    assert not out.exists()
