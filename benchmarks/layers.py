"""Training-step throughput of rnnkit's layers against ``torch.nn``.

For each cell type (RNN, LSTM, GRU) three candidates with the same weights and the same input run
one training step (forward + backward of ``output.sum()``; no optimizer update, which costs the same
for all three):

- ``reference``: rnnkit's layer with ``backend="reference"`` (the cells in a Python time loop),
- ``fused``: rnnkit's layer with ``backend="fused"`` (PyTorch's fused kernel on rnnkit's
  parameters),
- ``torch``: ``torch.nn.RNN/LSTM/GRU`` itself.

Throughput is tokens per second, tokens = batch * sequence length. The machine these numbers come
from is shared and noisy, so after a warm-up the candidates alternate round-robin inside every
repeat (cycling through all six orders, so none always follows the same neighbour) and each
candidate's median over the repeats is reported: slow phases of the machine then hit every
candidate alike.

Usage::

    .venv/bin/python benchmarks/layers.py              # batch 256, seq 180, input 65, hidden 256
    .venv/bin/python benchmarks/layers.py --quick      # a small size, for a quick look
    .venv/bin/python benchmarks/layers.py --repeats 11 --out /tmp/layers.json
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn

import rnnkit
from rnnkit.io import write_json

CANDIDATES = ("reference", "fused", "torch")
CELLS = {"RNN": (rnnkit.RNN, nn.RNN), "LSTM": (rnnkit.LSTM, nn.LSTM), "GRU": (rnnkit.GRU, nn.GRU)}
# Minimum throughput as a fraction of torch.nn's, per (cell, candidate); None: reported only.
TARGETS = {
    ("RNN", "fused"): 0.95,
    ("LSTM", "fused"): 0.95,
    ("GRU", "fused"): 0.95,
    ("LSTM", "reference"): 0.7,
    ("GRU", "reference"): 0.7,
}
ORDERS = list(itertools.permutations(CANDIDATES))  # 6 orders
DEFAULT_OUT = Path(__file__).parent / "results" / "layers.json"


@dataclass
class BenchConfig:
    """Problem size and timing protocol."""

    batch: int = 256
    seq_len: int = 180
    input_size: int = 65
    hidden_size: int = 256
    repeats: int = 12  # two cycles through the 6 orders
    warmup: int = 2  # untimed steps per candidate before the first repeat
    seed: int = 0


QUICK = BenchConfig(batch=32, seq_len=50, hidden_size=128, repeats=6)


def _build(cell: str, config: BenchConfig) -> dict[str, nn.Module]:
    """The three candidates for one cell type, all with torch.nn's weights."""
    ours_cls, torch_cls = CELLS[cell]
    torch.manual_seed(config.seed)
    baseline = torch_cls(config.input_size, config.hidden_size)
    modules: dict[str, nn.Module] = {"torch": baseline}
    for backend in ("reference", "fused"):
        ours = ours_cls(config.input_size, config.hidden_size, backend=backend)
        ours.load_state_dict(baseline.state_dict())
        modules[backend] = ours
    return {name: modules[name] for name in CANDIDATES}


def _training_step(module: nn.Module, x: torch.Tensor) -> float:
    """Seconds for one forward + backward of ``output.sum()``."""
    module.zero_grad(set_to_none=True)
    start = time.perf_counter()
    output, _ = module(x)  # (T, B, H)
    output.sum().backward()
    return time.perf_counter() - start


def measure_cell(
    cell: str, config: BenchConfig, log: Callable[[str], None] = print
) -> dict[str, list[float]]:
    """Raw step times (seconds) per candidate for one cell type, alternating round-robin."""
    modules = _build(cell, config)
    generator = torch.Generator().manual_seed(config.seed)
    x = torch.randn(config.seq_len, config.batch, config.input_size, generator=generator)
    for _ in range(config.warmup):
        for module in modules.values():
            _training_step(module, x)
    times: dict[str, list[float]] = {name: [] for name in CANDIDATES}
    for repeat in range(config.repeats):
        # cycle through every order: a step can leave the allocator or the caches in a state that
        # helps or hurts the next one, so no candidate may always follow the same neighbour
        order = ORDERS[repeat % len(ORDERS)]
        for name in order:
            times[name].append(_training_step(modules[name], x))
        shown = ", ".join(f"{name} {times[name][-1]:.3f}s" for name in CANDIDATES)
        log(f"  {cell} repeat {repeat + 1}/{config.repeats}: {shown}")
    return times


def summarize(raw: dict[str, dict[str, list[float]]], config: BenchConfig) -> dict:
    """Medians, tokens/s, ratios to torch.nn and targets from the raw times."""
    tokens = config.batch * config.seq_len
    cells = {}
    for cell, times in raw.items():
        torch_median = statistics.median(times["torch"])
        cells[cell] = {}
        for name in CANDIDATES:
            median = statistics.median(times[name])
            target = TARGETS.get((cell, name))
            ratio = torch_median / median  # throughput ratio = inverse time ratio
            cells[cell][name] = {
                "median_s": median,
                "min_s": min(times[name]),
                "tokens_per_s": tokens / median,
                "ratio_to_torch": ratio,
                "target_ratio": target,
                "target_met": None if target is None else ratio >= target,
                "raw_s": times[name],
            }
    return cells


def _cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo (Linux), else platform's guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine_info() -> dict:
    """What the numbers depend on besides the code."""
    return {
        "torch_version": torch.__version__,
        "num_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }


def run_benchmark(
    config: BenchConfig,
    out: Path | None = DEFAULT_OUT,
    cells: tuple[str, ...] = tuple(CELLS),
    log: Callable[[str], None] = print,
) -> dict:
    """Measure every cell type, write the JSON report to ``out`` (if given) and return it."""
    load_before = os.getloadavg()
    raw = {}
    for cell in cells:
        log(f"{cell}: {config.warmup} warm-up + {config.repeats} repeats per candidate")
        raw[cell] = measure_cell(cell, config, log)
    report = {
        "benchmark": "layers: training-step throughput (forward + backward of output.sum())",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        **machine_info(),
        "config": asdict(config),
        # competition for the cores: 1-minute load average before the first step and after the
        # last; "after" includes the benchmark's own threads
        "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]},
        "tokens_per_step": config.batch * config.seq_len,
        "candidates": {
            "reference": "rnnkit layer, backend='reference'",
            "fused": "rnnkit layer, backend='fused'",
            "torch": "torch.nn layer",
        },
        "cells": summarize(raw, config),
    }
    if out is not None:
        write_json(out, report)
    return report


def format_table(report: dict) -> str:
    """A Markdown table: tokens/s, ratio to torch.nn, target and whether it is met."""
    lines = [
        "| cell | candidate | tokens/s | ratio to torch.nn | target | met |",
        "|------|-----------|---------:|------------------:|-------:|-----|",
    ]
    for cell, results in report["cells"].items():
        for name, result in results.items():
            target = result["target_ratio"]
            met = {None: "-", True: "yes", False: "no"}[result["target_met"]]
            lines.append(
                f"| {cell} | {name} | {result['tokens_per_s']:,.0f} | "
                f"{result['ratio_to_torch']:.2f}x | "
                f"{'-' if target is None else f'>= {target:.2f}x'} | {met} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, help="timed repeats per candidate (default 12)")
    parser.add_argument("--warmup", type=int, help="untimed steps per candidate (default 2)")
    parser.add_argument("--quick", action="store_true", help="batch 32, seq 50, hidden 128")
    parser.add_argument("--cells", nargs="+", choices=list(CELLS), default=list(CELLS))
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's default)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON report path")
    args = parser.parse_args(argv)
    config = replace(
        QUICK if args.quick else BenchConfig(),
        **{k: v for k, v in (("repeats", args.repeats), ("warmup", args.warmup)) if v is not None},
    )
    if config.repeats < 1 or config.warmup < 0:
        parser.error("--repeats must be at least 1 and --warmup at least 0")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    report = run_benchmark(config, args.out, tuple(args.cells))
    load = report["load_average_1min"]
    print(
        f"\ntorch {report['torch_version']}, {report['num_threads']} threads, "
        f"batch {config.batch}, seq {config.seq_len}, input {config.input_size}, "
        f"hidden {config.hidden_size}, float32, median of {config.repeats} repeats; "
        f"load average {load['before']:.2f} before, {load['after']:.2f} after\n"
    )
    print(format_table(report))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
