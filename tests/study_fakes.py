"""Fake trial runners for the study tests: run directories written without training.

A fake has :func:`rnnkit.studies.trial.run_trial`'s signature. Its validation accuracy is a known
function of the options, ``accuracy(config)``; ``hidden = 3`` is refused with an InputError. Every
call appends a line to ``DIR/calls.jsonl`` (DIR = the study directory), so a test can tell which
trials were trained and whether they resumed. The fakes are top-level functions of an importable
module, so that spawned worker processes can unpickle them.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from rnnkit.errors import InputError

STEPS = (5, 10)


def accuracy(config: dict) -> float:
    """0.5 + hidden / 1000 + seed / 100, plus 0.02 when bidirectional."""
    return (
        0.5 + config["hidden"] / 1000 + config["seed"] / 100 + 0.02 * config.get("bidirectional", 0)
    )


def grid_table(**overrides) -> dict:
    """A small grid study: hidden 8 or 16 x bidirectional, seeds 0 and 1 (8 trials)."""
    table = {
        "task": "classify",
        "metric": "accuracy",
        "direction": "maximize",
        "seeds": [0, 1],
        "base": {"data": "tiny"},
        "grid": {"hidden": [8, 16], "bidirectional": [False, True]},
    }
    return {**table, **overrides}


def calls(study_dir: Path) -> list[dict]:
    """The fake's calls in a study directory, in order."""
    path = Path(study_dir) / "calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def fake_runner(task, options, out, report, resume=False) -> dict:
    """Train nothing: write config.json, report two evaluations, write the checkpoints and
    eval.json; return the summary and eval.json as run_trial does."""
    out = Path(out)
    config = json.loads((out / "config.json").read_text()) if resume else dict(options)
    _log(out, config, resume)
    if config["hidden"] == 3:
        raise InputError("--hidden 3: too small for this model")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config))
    value = accuracy(config)
    for step in STEPS:
        record = {"step": step, "elapsed_s": step / 10, "items_per_s": 100.0}
        if report({**record, "val_loss": 1 - value, "val_accuracy": value}):
            return {"summary": _summary("stopped by on_evaluate", step, config), "eval": None}
        (out / "last.safetensors").write_text(str(step))
    evaluation = {
        "valid": {"loss": 1 - accuracy(config), "accuracy": accuracy(config)},
        "test": {"accuracy": accuracy(config) - 0.01, "confusion": [[1, 0], [0, 1]]},
    }
    (out / "eval.json").write_text(json.dumps(evaluation))
    return {"summary": _summary("reached the step limit", STEPS[-1], config), "eval": evaluation}


def interrupted_once_runner(task, options, out, report, resume=False) -> dict:
    """The fake, but the first attempt of hidden=16, bidirectional, seed 0 is stopped by Ctrl-C
    after its first checkpoint (the trainer saves and returns "interrupted")."""
    if not resume and _is_victim(options):
        _log(Path(out), dict(options), resume)
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "config.json").write_text(json.dumps(dict(options)))
        (Path(out) / "last.safetensors").write_text("5")
        return {"summary": _summary("interrupted", 5, options), "eval": None}
    return fake_runner(task, options, out, report, resume)


def killed_once_runner(task, options, out, report, resume=False) -> dict:
    """The fake, but the process is killed (SIGKILL) during the first attempt of the trial that
    :func:`interrupted_once_runner` interrupts, after its first checkpoint."""
    if not resume and _is_victim(options):
        _log(Path(out), dict(options), resume)
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "config.json").write_text(json.dumps(dict(options)))
        (Path(out) / "last.safetensors").write_text("5")
        os.kill(os.getpid(), signal.SIGKILL)
    return fake_runner(task, options, out, report, resume)


def waiting_runner(task, options, out, report, resume=False) -> dict:
    """The fake, but each trial first waits (up to 30 s) until two processes have started one,
    so a study with two workers must run two trials at once to go on."""
    started = Path(out).parent.parent / f"started-{os.getpid()}"
    started.touch()
    deadline = time.monotonic() + 30
    while len(list(started.parent.glob("started-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return fake_runner(task, options, out, report, resume)


def no_metric_runner(task, options, out, report, resume=False) -> dict:
    """The fake, with an eval.json whose validation metrics lack ``accuracy``."""
    result = fake_runner(task, options, out, report, resume)
    result["eval"]["valid"].pop("accuracy")
    return result


def _is_victim(options) -> bool:
    return options["hidden"] == 16 and options["bidirectional"] and options["seed"] == 0


def _summary(stop_reason: str, steps: int, config: dict) -> dict:
    return {
        "stop_reason": stop_reason,
        "steps": steps,
        "elapsed_s": 1.0,
        "parameters": 10 * config["hidden"],
        "best_val_loss": 0.5,
        "best_step": steps,
        "best": {},
        "last": {},
    }


def _log(out: Path, config: dict, resume: bool) -> None:
    line = {"trial": int(out.name), "resume": resume, **config}
    with open(out.parent.parent / "calls.jsonl", "a") as handle:
        handle.write(json.dumps(line) + "\n")


def third_call_interrupted_runner(task, options, out, report, resume=False) -> dict:
    """The fake, but the third trial a study directory sees is stopped by Ctrl-C before its
    first checkpoint."""
    if len(calls(Path(out).parent.parent)) == 2:
        _log(Path(out), dict(options), resume)
        raise KeyboardInterrupt
    return fake_runner(task, options, out, report, resume)
