"""The reference LSTM's training step against torch.nn, plain and with ``backend="compiled"``.

    .venv/bin/python benchmarks/training.py              # layers.py's size: batch 256, seq 180,
                                                          # input 65, hidden 256
    .venv/bin/python benchmarks/training.py --threads 1 --repeats 8

Five candidates with the same weights and input run one training step each (forward + backward of
``output.sum()``, as in ``benchmarks/layers.py``): rnnkit's LSTM with ``backend="reference"``
(the readable loop), ``"compiled"`` (the same loop with the fused gate function of
:mod:`rnnkit.gates`, torch.compile'd when a compiler works: compilation happens in the warm-up),
``"eager gates"`` (the compiled backend with its gate function run eagerly: what compiling adds),
``"fused"`` and ``torch.nn.LSTM``. They alternate within each repeat, the order rotating, and the
medians are reported with their ratio to torch.nn, beside the ratio of the fastest steps (on a
shared machine the least disturbed step of each candidate). Writes
``benchmarks/results/training.json``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from layers import BenchConfig, _training_step, machine_info  # noqa: E402

import rnnkit  # noqa: E402
from rnnkit import gates  # noqa: E402
from rnnkit.io import write_json  # noqa: E402

CANDIDATES = ("reference", "compiled", "eager gates", "fused", "torch")
TARGET = ("compiled", 0.9)  # the target: the reference LSTM >= 0.9x torch.nn
DEFAULT_OUT = Path(__file__).parent / "results" / "training.json"


def build(config: BenchConfig) -> dict[str, torch.nn.Module]:
    torch.manual_seed(config.seed)
    baseline = torch.nn.LSTM(config.input_size, config.hidden_size)
    modules = {"torch": baseline}
    for backend in ("reference", "compiled", "fused"):
        layer = rnnkit.LSTM(config.input_size, config.hidden_size, backend=backend)
        layer.load_state_dict(baseline.state_dict())
        modules[backend] = layer
    modules["eager gates"] = EagerGates(config.input_size, config.hidden_size, backend="compiled")
    modules["eager gates"].load_state_dict(baseline.state_dict())
    return {name: modules[name] for name in CANDIDATES}


class EagerGates(rnnkit.LSTM):
    """The compiled backend with its fused gate function run eagerly: what compiling adds."""

    def _compiled_step(self):
        return partial(gates.lstm_step, compiled=False), "fused LSTM gate function, eager"


def run(config: BenchConfig, out: Path | None = DEFAULT_OUT, log=print) -> dict:
    modules = build(config)
    x = torch.randn(
        config.seq_len,
        config.batch,
        config.input_size,
        generator=torch.Generator().manual_seed(config.seed),
    )
    load_before = os.getloadavg()[0]
    for _ in range(config.warmup):
        for module in modules.values():
            _training_step(module, x)
    times: dict[str, list[float]] = {name: [] for name in CANDIDATES}
    for repeat in range(config.repeats):
        shift = repeat % len(CANDIDATES)
        for name in CANDIDATES[shift:] + CANDIDATES[:shift]:
            times[name].append(_training_step(modules[name], x))
        log(
            f"  repeat {repeat + 1}/{config.repeats}: "
            + ", ".join(f"{name} {times[name][-1]:.3f}s" for name in CANDIDATES)
        )
    tokens = config.batch * config.seq_len
    torch_median = statistics.median(times["torch"])
    results = {}
    for name in CANDIDATES:
        median = statistics.median(times[name])
        results[name] = {
            "median_s": median,
            "min_s": min(times[name]),
            "tokens_per_s": tokens / median,
            "ratio_to_torch": torch_median / median,
            "ratio_to_torch_of_minima": min(times["torch"]) / min(times[name]),
            "raw_s": times[name],
        }
    report = {
        "benchmark": "LSTM training step: reference, compiled, fused, torch.nn",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        **machine_info(),
        "config": asdict(config),
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "compiled": modules["compiled"].last_backend_reason,
        "target": {
            "candidate": TARGET[0],
            "ratio": TARGET[1],
            "met": results[TARGET[0]]["ratio_to_torch"] >= TARGET[1],
        },
        "candidates": results,
    }
    if out is not None:
        write_json(out, report)
    return report


def format_table(report: dict) -> str:
    lines = [
        "| candidate | tokens/s (median) | ratio to torch.nn (medians) | ratio (fastest steps) |",
        "|---|---:|---:|---:|",
    ]
    for name, result in report["candidates"].items():
        lines.append(
            f"| {name} | {result['tokens_per_s']:,.0f} | {result['ratio_to_torch']:.2f}x "
            f"| {result['ratio_to_torch_of_minima']:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="batch 32, seq 50, hidden 128")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    base = BenchConfig(batch=32, seq_len=50, hidden_size=128) if args.quick else BenchConfig()
    config = replace(base, repeats=args.repeats, warmup=args.warmup)
    report = run(config, args.out)
    print(
        f"\n{report['compiled']}; torch {report['torch_version']}, "
        f"{report['num_threads']} threads, load {report['load_average_1min']}\n"
    )
    print(format_table(report))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
