"""Data-parallel training of the char-LM recipe: 1 process x 2 threads against 2 processes x 1
thread (torchrun, gloo), each for the same wall-clock budget.

    .venv/bin/python benchmarks/ddp.py          # recipes/shakespeare.toml, 3 minutes each
    .venv/bin/python benchmarks/ddp.py --time-budget 10m --eval-every 200

Both runs train the recipe with its global batch (``--batch-size`` is the global batch: 2
processes take half the streams each), one after the other, through the ``rnnkit`` command as a
user runs it. Reported for each: the optimizer steps and characters trained in the budget, the
throughput (characters per second of wall-clock, evaluations included, and the median rate of
the training steps alone), and the validation loss at the end of the budget and at its best.
Writes ``benchmarks/results/ddp.json`` and prints a markdown table. On a machine with two cores
expect no speed-up: the two processes share the cores that one process's two threads use, and
add an all-reduce of the gradients per step.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runs import machine, relative  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path(__file__).parent / "results" / "ddp.json"
RNNKIT = str(Path(sys.executable).parent / "rnnkit")
# (name, processes, threads per process)
SETUPS = (("1 process x 2 threads", 1, 2), ("2 processes x 1 thread", 2, 1))


def command(processes: int, threads: int, arguments: list[str], run: Path) -> list[str]:
    """``rnnkit train lm ARGUMENTS`` alone, or under torchrun with ``processes`` processes."""
    launcher = [RNNKIT]
    if processes > 1:
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        launcher = [*torchrun, "--nproc-per-node", str(processes), RNNKIT]
    own = ["--threads", str(threads), "--out", str(run), "--no-progress", "--no-tensorboard"]
    return [*launcher, "train", "lm", *arguments, *own]


def summarise(run: Path, config: dict) -> dict:
    """Steps, characters, throughput and validation losses of a finished run."""
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last = history[-1]
    data = config["data"]
    chars = last["step"] * data["batch_size"] * data["seq_len"]
    return {
        "steps": last["step"],
        "chars": chars,
        "elapsed_s": last["elapsed_s"],
        "chars_per_s": round(chars / last["elapsed_s"], 1),
        "step_chars_per_s": statistics.median(r["items_per_s"] for r in history),
        "final_val_loss": last["val_loss"],
        "best_val_loss": min(r["val_loss"] for r in history),
        "curve": [
            {k: r[k] for k in ("step", "elapsed_s", "train_loss", "val_loss")} for r in history
        ],
    }


def table(results: dict) -> str:
    lines = [
        "| setup | steps | chars/s (wall-clock) | chars/s (training steps) | final val loss "
        "| best val loss |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['steps']} | {r['chars_per_s']:,.0f} | {r['step_chars_per_s']:,.0f} "
            f"| {r['final_val_loss']:.4f} | {r['best_val_loss']:.4f} |"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict:
    runs = Path(args.runs)
    arguments = ["--config", str(args.config), "--time-budget", args.time_budget]
    arguments += ["--eval-every", str(args.eval_every), *args.extra]
    results, commands = {}, {}
    for name, processes, threads in SETUPS:
        out = runs / f"p{processes}_t{threads}"
        argv = command(processes, threads, arguments, out)
        commands[name] = relative(" ".join(argv))
        print(f"== {commands[name]}", file=sys.stderr, flush=True)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        done = subprocess.run(argv, env=env, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{name} failed ({done.returncode}):\n{done.stderr}")
        config = json.loads((out / "config.json").read_text())
        results[name] = {"world_size": config["world_size"], **summarise(out, config)}
    report = {
        "what": "the char-LM recipe for an equal wall-clock budget: 1 process x 2 threads "
        "against 2 processes x 1 thread (torchrun --standalone, gloo)",
        "config": relative(args.config),
        "time_budget": args.time_budget,
        "machine": {**machine(2), "cpus": os.cpu_count()},
        "date": datetime.date.today().isoformat(),
        "commands": commands,
        "results": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(results))
    print(f"wrote {out}", file=sys.stderr)
    return report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=ROOT / "recipes" / "shakespeare.toml", type=Path)
    parser.add_argument("--time-budget", default="3m", help="per setup (default 3m)")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--runs", default=ROOT / "runs" / "bench-ddp", type=Path)
    parser.add_argument("--out", default=DEFAULT_OUT, type=Path)
    parser.add_argument(
        "extra", nargs="*", help="more rnnkit train lm options, after --, e.g. -- --data FILE"
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
