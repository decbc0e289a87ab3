"""What the word-LM, speech and translation benchmarks share: one run trained through the API
unless it is finished with the options asked for (an interrupted one is resumed, exactly, from
its own last.safetensors; one trained with other options stops it), then evaluated; the record
of how it went; and the machine it ran on."""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def machine(threads: int) -> dict:
    return {
        "torch": torch.__version__,
        "threads": threads,
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
    }


def relative(text: str | Path) -> str:
    """Paths inside the repository written relative to its root."""
    return str(text).replace(str(ROOT) + "/", "")


def trained_with(task: str, run: Path, options: dict) -> bool:
    """Whether RUN's config.json, read as rnnkit reads a run to resume it, holds ``options`` as
    they resolve now (a changed recipe or thread count means the run is not the one asked for)."""
    from rnnkit import tasks
    from rnnkit.training.run import load_run

    spec = tasks.get(task)
    stored = spec.from_stored(load_run(run, task), str(run / "config.json"))
    return stored == spec.resolve(options)


# config.json sections that a run's own tools rewrite after training: `rnnkit translate
# --tune-length-penalty` keeps the chosen length penalty in "decode"
REWRITTEN = ("decode",)


def same_run(task: str, run: Path, options: dict) -> bool:
    """Whether RUN was trained with ``options`` in everything that ``--resume`` refuses to
    change: its budget and how it ran (threads, progress display) are not compared, nor the
    sections in ``REWRITTEN``."""
    from dataclasses import asdict

    from rnnkit import tasks
    from rnnkit.training.run import load_run
    from rnnkit.training.trainer import BUDGET, RUNTIME

    spec = tasks.get(task)
    ignored = set(BUDGET) | set(RUNTIME)

    def compared(sections: dict) -> dict:
        return {
            name: {k: v for k, v in asdict(section).items() if k not in ignored}
            for name, section in sections.items()
            if name not in REWRITTEN
        }

    stored = spec.from_stored(load_run(run, task), str(run / "config.json"))
    return compared(stored) == compared(spec.resolve(options))


def train_and_evaluate(task: str, run: Path, arguments: list[str], threads: int = 1) -> dict:
    """Train ``rnnkit train TASK ARGUMENTS --out RUN`` unless RUN/eval.json exists (resuming a
    run that has a config.json but no eval.json), evaluate it, and return what every report
    needs: the command, eval.json, the curve's best and last records and the parameter count.
    A RUN trained with other options (:func:`same_run`: a changed recipe) stops the benchmark
    with a message: a report never describes a run its command would not make, and a finished
    run is not deleted."""
    import rnnkit
    from rnnkit.api import parse_options
    from rnnkit.training.trainer import BUDGET, RUNTIME

    extra = ["--threads", str(threads), "--no-progress", "--no-tensorboard"]
    command = ["rnnkit", "train", task, *arguments, "--out", str(run), *extra]
    options = parse_options(task, [*arguments, *extra])
    if (run / "config.json").is_file() and not same_run(task, run, options):
        print(
            f"{relative(run)} was trained with other options than `{relative(' '.join(command))}`"
            " (a changed recipe?); move it away to train it again, or give the options it had",
            file=sys.stderr,
        )
        raise SystemExit(2)
    if not (run / "eval.json").is_file():
        print(f"== {' '.join(command)}", file=sys.stderr, flush=True)
        resume = (run / "last.safetensors").is_file()
        if resume:  # only the budget and how it runs may change (the recipe's budget may have)
            options = {k: v for k, v in options.items() if k in BUDGET + RUNTIME}
        summary = rnnkit.train(task, options, run, resume=resume)
        if summary["stop_reason"] == "interrupted":  # Ctrl-C or SIGTERM: stop, record nothing
            raise KeyboardInterrupt(f"{run}: interrupted; the same command resumes it")
        rnnkit.evaluate(run)
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    best = min(history, key=lambda record: record["val_loss"])
    return {
        "run": relative(run),
        "command": relative(" ".join(command)),
        "eval": json.loads((run / "eval.json").read_text()),
        "best": best,
        "last": history[-1],
        "parameters": sum(p.numel() for p in rnnkit.load(run).model.parameters()),
    }


def load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def save(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")


def update(path: Path, change) -> dict:
    """Read ``path`` afresh, apply ``change(results)`` and write it back, holding a lock, so that
    benchmark processes running side by side add their records without losing each other's."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = load(path)
        change(results)
        save(path, results)
    return results
