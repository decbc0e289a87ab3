"""A run directory: ``config.json`` says which task built it and how; every command reads it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rnnkit.errors import InputError
from rnnkit.io import read_json, write_json

CONFIG = "config.json"
BEST = "model.safetensors"
METRICS = "metrics.jsonl"


def create_run(out: str | Path, config: dict[str, Any]) -> Path:
    """Make ``out`` a run directory holding ``config`` (refusing to overwrite another run)."""
    from rnnkit import __version__

    out = Path(out)
    if (out / CONFIG).exists():
        raise InputError(
            f"{out} already holds a run; pass --resume to continue it or choose another --out"
        )
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    write_json(out / CONFIG, {**config, "rnnkit_version": __version__})
    return out


def load_run(run: str | Path, task: str | None = None) -> dict[str, Any]:
    """Read a run's config.json, checking it is a run (of ``task``, when given)."""
    run = Path(run)
    if not run.is_dir():
        raise InputError(f"{run}: no such run directory")
    if not (run / CONFIG).is_file():
        raise InputError(
            f"{run}: not an rnnkit run (no {CONFIG}); give the --out of a training run"
        )
    config = read_json(run / CONFIG, "run configuration")
    if not isinstance(config, dict) or "task" not in config:
        raise InputError(f"{run / CONFIG}: not an rnnkit run configuration (no 'task')")
    if task is not None and config["task"] != task:
        raise InputError(f"{run}: is a {config['task']} run, not a {task} run")
    return config


def load_best_weights(run: str | Path, model) -> None:
    """Load a run's best weights (``model.safetensors``) into ``model``."""
    from rnnkit.training.checkpoint import load_model

    weights = Path(run) / BEST
    if not weights.is_file():
        raise InputError(f"{run}: has no trained weights yet (no {BEST})")
    load_model(weights, model)


def read_metrics(run: str | Path) -> list[dict[str, Any]]:
    """The trainer's evaluation records (``metrics.jsonl``), oldest first; [] when none."""
    path = Path(run) / METRICS
    if not path.is_file():
        return []
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: not the trainer's metrics ({error})") from None
