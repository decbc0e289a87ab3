"""What users run, driven as they run it (``rnnkit`` in a subprocess): seeds, resume from the run's
own config.json, help defaults against a real run's config.json, intermixed arguments, bad option
values and ``--version``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from rnnkit import tasks
from tests.conftest import TINY_LM

RNNKIT = [str(Path(sys.executable).parent / "rnnkit")]  # the console script users run
ROOT = Path(__file__).resolve().parents[1]


def rnnkit(*argv, cwd=None, check=True) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*RNNKIT, *map(str, argv)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )
    if check and done.returncode != 0:
        raise AssertionError(f"rnnkit {argv} failed ({done.returncode}): {done.stderr}")
    return done


def weights(run: Path) -> dict:
    return load_file(str(run / "model.safetensors"))


def labelled_texts(folder: Path) -> Path:
    """A 40-line TSV of two classes for a small classifier run."""
    lines = [
        f"{'pos' if i % 2 else 'neg'}\tthe {'good' if i % 2 else 'bad'} film {i % 5}\n"
        for i in range(40)
    ]
    data = folder / "texts.tsv"
    data.write_text("".join(lines), encoding="utf-8")
    return data


def lm_train(corpus, out, *extra):
    return rnnkit("train", "lm", "--data", corpus, *TINY_LM, "--threads", "1", "--out", out, *extra)


# --- seeds ----------
def test_same_seed_gives_identical_weights_and_losses(corpus, tmp_path):
    lm_train(corpus, tmp_path / "a", "--seed", "1", "--dropout", "0.2")
    lm_train(corpus, tmp_path / "b", "--seed", "1", "--dropout", "0.2")
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all((a[k] == b[k]).all() for k in a)  # bit for bit
    assert (tmp_path / "a/metrics.jsonl").read_text().count("val_loss") == 2
    losses = [
        [json.loads(line)["val_loss"] for line in (tmp_path / r / "metrics.jsonl").open()]
        for r in "ab"
    ]
    assert losses[0] == losses[1]


def test_another_seed_gives_other_initial_weights(corpus, tmp_path):
    lm_train(corpus, tmp_path / "a", "--seed", "1", "--max-steps", "1", "--lr", "1e-9")
    lm_train(corpus, tmp_path / "b", "--seed", "2", "--max-steps", "1", "--lr", "1e-9")
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(not (a[k] == b[k]).all() for k in a if a[k].numel() > 1)


def test_pretraining_follows_the_seed_and_a_bare_resume_does_not_repeat_it(tmp_path):
    """``rnnkit train classify --pretrain-epochs``: the same --seed pretrains to the same losses
    and weights, another seed does not, and ``--resume --out RUN`` alone (config.json holds the
    option) continues without pretraining again."""
    data = labelled_texts(tmp_path)
    options = ["--hidden", "4", "--embedding-dim", "4", "--max-steps", "2", "--no-progress"]
    options += ["--pretrain-epochs", "2", "--threads", "1"]
    said = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        said[name] = rnnkit(
            "train", "classify", "--data", data, *options, "--seed", seed, "--out", tmp_path / name
        )
    record = {
        r: json.loads((tmp_path / r / "config.json").read_text())["pretrained"] for r in "abc"
    }
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert record["a"]["loss_by_epoch"] == record["b"]["loss_by_epoch"]
    assert all((a[k] == b[k]).all() for k in a)
    assert record["a"]["loss_by_epoch"] != record["c"]["loss_by_epoch"]
    assert "pretraining epoch 2" in said["a"].stderr and "as a language model" in said["a"].stderr
    done = rnnkit("train", "classify", "--resume", "--out", tmp_path / "a", "--max-steps", "4")
    assert "pretraining epoch" not in done.stderr and "as a language model" not in done.stderr
    resumed = json.loads((tmp_path / "a" / "config.json").read_text())
    assert resumed["pretrained"] == record["a"]
    assert json.loads((tmp_path / "a" / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 4


RUNS = ("whole", "parts")


SMALL_CLASSIFIER = ["--hidden", "4", "--embedding-dim", "4", "--no-progress", "--threads", "1"]
SMALL_CLASSIFIER += ["--schedule", "constant", "--eval-every", "2"]


def classify_whole_and_resumed(tmp_path: Path, data: Path, options: list) -> dict:
    """Train 4 steps unbroken ("whole") and 2 steps then ``--resume --out RUN`` alone to 4
    ("parts"); the parts run's config.json."""
    for name, steps in zip(RUNS, (4, 2), strict=True):
        out = tmp_path / name
        rnnkit("train", "classify", "--data", data, *options, "--max-steps", steps, "--out", out)
    rnnkit("train", "classify", "--resume", "--out", tmp_path / "parts", "--max-steps", "4")
    return json.loads((tmp_path / "parts" / "config.json").read_text())


def test_adversarial_training_follows_a_bare_resume(tmp_path):
    """``rnnkit train classify --adversarial``: ``--resume --out RUN`` alone (config.json holds
    the option) goes on training adversarially, ending where an unbroken run ends."""
    data = labelled_texts(tmp_path)
    plain = SMALL_CLASSIFIER
    config = classify_whole_and_resumed(tmp_path, data, [*plain, "--adversarial", "1.0"])
    assert config["model"]["adversarial"] == 1.0
    # the same run without the option ends elsewhere
    rnnkit(
        "train", "classify", "--data", data, *plain, "--max-steps", 4, "--out", tmp_path / "plain"
    )
    whole, parts, other = (
        load_file(str(tmp_path / run / "last.safetensors")) for run in (*RUNS, "plain")
    )
    assert all((whole[k] == parts[k]).all() for k in whole)
    assert not all((whole[k] == other[k]).all() for k in whole)


def test_char_ngrams_follow_a_bare_resume_and_reach_rnnkit_classify(tmp_path):
    """``--char-ngrams``: ``--resume --out RUN`` alone goes on with the n-gram vectors, ending
    where an unbroken run ends; ``rnnkit classify`` reads words the run never saw."""
    data = labelled_texts(tmp_path)
    options = [*SMALL_CLASSIFIER, "--char-ngrams", "64", "--word-dropout", "0.3", "--seed", "3"]
    config = classify_whole_and_resumed(tmp_path, data, options)
    assert config["model"]["char_ngrams"] == 64
    whole, parts = (load_file(str(tmp_path / run / "last.safetensors")) for run in RUNS)
    assert "model.ngrams.weight" in whole
    assert all((whole[k] == parts[k]).all() for k in whole)
    done = rnnkit("classify", tmp_path / "parts", "the goodest film", "baddish")
    labels = [line.split("\t")[0] for line in done.stdout.splitlines()]
    assert len(labels) == 2 and set(labels) <= {"pos", "neg"}


# --- resume ----------
def test_resume_from_out_alone_extends_a_run_bit_for_bit(corpus, tmp_path):
    """--resume --out RUN reads the run's own config.json; a constant-lr run extended from 20 to
    40 steps ends exactly where a 40-step run ends."""
    common = ["--cell", "gru", "--hidden", "32", "--layers", "1", "--schedule", "constant"]
    common += ["--dropout", "0.3", "--eval-every", "10"]
    lm_train(corpus, tmp_path / "whole", *common, "--max-steps", "40")
    lm_train(corpus, tmp_path / "parts", *common, "--max-steps", "20")
    rnnkit("train", "lm", "--resume", "--out", tmp_path / "parts", "--max-steps", "40")
    whole, parts = weights(tmp_path / "whole"), weights(tmp_path / "parts")
    assert all((whole[k] == parts[k]).all() for k in whole)
    config = json.loads((tmp_path / "parts/config.json").read_text())
    assert config["model"]["hidden_size"] == 32 and config["model"]["cell"] == "gru"


def test_resume_refuses_a_changed_model_option(corpus, tmp_path):
    lm_train(corpus, tmp_path / "run", "--max-steps", "2")
    done = rnnkit(
        "train", "lm", "--resume", "--out", tmp_path / "run", "--hidden", "64", check=False
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--hidden 64 differs from the run's 16" in done.stderr


# --- help defaults ----------
def shown_defaults(task: str) -> dict[str, str]:
    """Each option's dest -> the default its help shows."""
    from rnnkit.cli import build_parser

    parser = build_parser()
    train = next(a for a in parser._actions if a.dest == "command").choices["train"]
    task_parser = next(a for a in train._actions if a.dest == "task").choices[task]
    shown = {}
    for action in task_parser._actions:
        match = re.search(r"\(default: (.*)\)$", action.help or "", re.S)
        if match:
            shown[action.dest] = " ".join(match.group(1).split())
    return shown


def start_and_stop(task: str, out: Path) -> dict:
    """Start ``rnnkit train TASK --out OUT`` with no options; once config.json exists, stop it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RNNKIT_OFFLINE": "1"}
    process = subprocess.Popen(
        [*RNNKIT, "train", task, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    deadline = time.monotonic() + 240
    while not (out / "config.json").exists():
        if process.poll() is not None:
            error = process.stderr.read().decode()
            if "missing data file" in error and not os.environ.get("RNNKIT_DATA"):
                pytest.skip(f"{task}'s default dataset needs $RNNKIT_DATA (make test sets it)")
            raise AssertionError(f"{task} ended: {error}")
        assert time.monotonic() < deadline, f"{task}: no config.json after 240 s"
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=120)
    return json.loads((out / "config.json").read_text())


@pytest.mark.parametrize("task", tasks.names())
def test_help_shows_the_defaults_a_run_with_no_options_uses(task, tmp_path):
    from rnnkit.config import describe_default, options_of

    spec = tasks.get(task)
    config = start_and_stop(task, tmp_path / "run")
    shown = shown_defaults(task)
    checked = 0
    for section, cls in spec.classes.items():
        for field in options_of(cls):
            if task == "translate" and field.name == "data":
                continue  # with no files given the stored data is the dataset's name
            used = describe_default(field, config[section][field.name])
            assert shown[field.name] == used, f"{task} --{field.name}: help {shown[field.name]!r}"
            checked += 1
    assert checked >= 30


# --- the command line ----------
def test_options_and_positionals_may_be_intermixed(corpus, tmp_path):
    lm_train(corpus, tmp_path / "run")
    done = rnnkit("sample", "--length", "5", tmp_path / "run", "--seed", "1", "--prime", "F")
    assert len(done.stdout.rstrip("\n")) == 6


def test_version():
    assert rnnkit("--version").stdout.startswith("rnnkit 0.1.0")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--hidden", "0"], "--hidden must be positive, got 0"),
        (["--lr", "-1"], "--lr must be positive, got -1.0"),
        (["--dropout", "1.5"], "--dropout must be in [0, 1), got 1.5"),
        (["--clip-norm", "0"], "--clip-norm must be positive, got 0.0"),
        (["--optimizer", "lbfgs"], "--optimizer must be one of sgd, adam"),
        (["--embedding-dim", "8", "--sparse-embedding"], "--sparse-embedding needs --optimizer"),
        (["--threads", "0"], "--threads must be positive"),
        (["--batch-size", "-2"], "--batch-size must be positive"),
    ],
)
def test_bad_option_values_are_one_line_and_exit_code_2(corpus, tmp_path, extra, message):
    done = rnnkit(
        "train",
        "lm",
        "--data",
        corpus,
        "--max-steps",
        "2",
        "--out",
        tmp_path / "run",
        *extra,
        check=False,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr
    assert not (tmp_path / "run").exists()  # nothing is written before the options are checked


@pytest.mark.parametrize(
    "line, message",
    [
        ("lr = true", "option 'lr': expected a number, got True"),
        ('bidirectional = "false"', "option 'bidirectional': expected true or false"),
        ("hidden = 32.5", "option 'hidden': expected a whole number, got 32.5"),
        ("hidden = [1, 2]", "option 'hidden': expected a whole number"),
        ("max-steps = 2.7", "option 'max-steps': expected a whole number, got 2.7"),
        ("colour = 3", "unknown option 'colour'"),
    ],
)
def test_toml_values_must_have_their_options_type(corpus, tmp_path, line, message):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(f'data = "{corpus}"\n{line}\n', encoding="utf-8")
    done = rnnkit("train", "lm", "--config", recipe, "--out", tmp_path / "run", check=False)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"{recipe}: " in done.stderr and message in done.stderr
    assert not (tmp_path / "run").exists()  # nothing is written before the values are checked


def test_none_given_on_the_command_line_turns_an_option_off(corpus, tmp_path):
    """``--clip-norm none`` disables clipping; it is not taken for an option left out."""
    lm_train(corpus, tmp_path / "run", "--clip-norm", "none", "--threads", "none")
    config = json.loads((tmp_path / "run/config.json").read_text())
    assert config["train"]["clip_norm"] is None and config["train"]["threads"] is None
    records = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").open()]
    assert all(r["clipped"] == 0.0 for r in records)


def test_warm_up_ends_within_a_tenth_of_a_short_run(corpus, tmp_path):
    """--warmup-steps 100 in a 20-step run: warm-up lasts 10% of the run (2 steps), so the
    learning rate is the full --lr at the evaluations of steps 10 and 20 (it would be 0.1x and
    0.2x with 100 steps of warm-up)."""
    lm_train(corpus, tmp_path / "run", "--max-steps", "20", "--eval-every", "10",
             "--warmup-steps", "100", "--schedule", "constant", "--lr", "0.01")  # fmt: skip
    records = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").open()]
    assert [r["step"] for r in records] == [10, 20]
    assert all(r["lr"] == pytest.approx(0.01, rel=1e-12) for r in records)
