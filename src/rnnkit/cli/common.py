"""What every ``rnnkit train <task>`` command shares: the run arguments and the training call."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_run_arguments(parser: argparse.ArgumentParser, task: str) -> None:
    """``--config``, ``--out`` and ``--resume``, the same for every task."""
    parser.add_argument("--config", help="a TOML file with any of these options; flags override it")
    parser.add_argument("--out", help=f"the run directory to create (default runs/{task})")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")


def fit(task, train_config, out: Path, resume: bool, unit: str) -> int:
    """Train ``task`` with the shared trainer; one line on how it ended; exit code."""
    from rnnkit.training.trainer import Trainer, TrainingDiverged, describe_stop

    trainer = Trainer(task, train_config, out)
    try:
        summary = trainer.fit(resume=resume)
    except TrainingDiverged as error:
        print(f"rnnkit: {error}", file=sys.stderr)
        return 1
    line = describe_stop(summary, out, unit)
    if summary["stop_reason"] != "interrupted":
        line += f"; next: rnnkit evaluate {out}"
    print(line, file=sys.stderr)
    return 0
