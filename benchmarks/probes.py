"""Long-range probes: can RNN (tanh), LSTM and GRU carry information over T steps, and what does
the gradient that reaches each step look like?

Experiments (issue 12):

- adding at T = 50, 100, 200, 400 and copy memory at T = 50, 100, 200, for RNN (tanh), LSTM and
  GRU at equal parameter counts (the LSTM has 64 hidden units; the others the hidden size whose
  parameter count is nearest), seeds 0 and 1;
- ||dL/dh_t|| per step of the RNN beside the LSTM's (and the GRU's) at T = 200, at
  initialisation (``--log-grad-flow``: its step-0 record) and after training
  (``rnnkit diagnose``);
- a relu RNN on adding at T = 100 with and without gradient clipping: its loss curve, gradient
  norm and clip rate;
- (``--only long``, not part of the report's 45 minutes) copy memory at T = 100 solved: a GRU of
  128 units with chrono initialisation and lr 3e-3, for up to 20 minutes;
- copy memory at T = 100 for the LSTM and the GRU with chrono initialisation of the gate biases
  (``--chrono T + 20``, Tallec & Ollivier 2018): the same models and optimiser, only the biases
  changed so that the units start out keeping their state over 2 to T + 20 steps instead of
  about 2.

Every trial is one ``rnnkit train probe`` (stopped as soon as the validation set is solved at two
evaluations in a row, else at its time budget), then ``rnnkit evaluate`` (test set: 1,000 held-out
sequences) and ``rnnkit diagnose``. Records merge into ``benchmarks/results/probes.json`` after
every trial, and ``benchmarks/probes.md`` and its figures (``benchmarks/results/probes_*.png``) are
rewritten from it, so an interrupted session keeps what it finished; a rerun skips the trials
already recorded with the same options.

Usage::

    .venv/bin/python benchmarks/probes.py            # the report: at most ~45 minutes on 2 cores
    .venv/bin/python benchmarks/probes.py --only long --workers 1   # copy T=100 solved, <= 20 min
    .venv/bin/python benchmarks/probes.py --only adding relu
    .venv/bin/python benchmarks/probes.py --render   # rewrite probes.md and figures from the JSON
    .venv/bin/python benchmarks/probes.py --smoke --out /tmp/probes/probes.json   # tiny, for tests

Two trials run at a time (``--workers``), one thread each. Runs go to ``runs/bench-probes/<name>``
(replaced when rerun).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runs import relative  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CELLS = ("rnn", "lstm", "gru")
GROUPS = ("adding", "copy", "chrono", "relu", "long")
REPORT = GROUPS[:-1]  # the 45-minute report; "long" is one more run of up to 20 minutes
GATED = ("lstm", "gru")
CHRONO_SECONDS = 120  # as copy T=100 with the uniform initialisation: side by side
# Each trial's time budget in seconds, (group, T) -> s: at most 5,640 s in all, 47 minutes with
# two trials at a time, in fact about 35 as the trials that solve their probe stop early.
SECONDS = {("adding", 50): 60, ("adding", 100): 90, ("adding", 200): 150, ("adding", 400): 210,
           ("copy", 50): 90, ("copy", 100): 120, ("copy", 200): 120, ("relu", 100): 60,
           ("chrono", 100): CHRONO_SECONDS, ("long", 100): 1200}  # fmt: skip


def plan(smoke: bool = False) -> dict:
    """The sizes of the study: the full report's, or a tiny one that runs in seconds."""
    if smoke:
        return {
            "lengths": {"adding": (10,), "copy": (5,), "chrono": (5,)},
            "seeds": (0,),
            "lstm_hidden": 8,
            "sets": ["--valid-size", "20", "--test-size", "20", "--batch-size", "8"],
            "flow_length": 10,
            "relu_length": 10,
            "diagnose_batches": 1,
            "long": {"length": 5, "hidden": 8, "lr": "0.003", "seeds": (0,)},
        }
    return {
        "lengths": {"adding": (50, 100, 200, 400), "copy": (50, 100, 200), "chrono": (100,)},
        "seeds": (0, 1),
        "lstm_hidden": 64,
        "sets": ["--valid-size", "500", "--test-size", "1000", "--batch-size", "50"],
        "flow_length": 200,
        "relu_length": 100,
        "diagnose_batches": 4,
        # copy T = 100 solved: a GRU twice the report's size, chrono, a smaller learning rate
        "long": {"length": 100, "hidden": 128, "lr": "0.003", "seeds": (0,)},
    }


def budget(group: str, length: int, smoke: bool) -> list[str]:
    """How long a trial may train: its time budget (a few steps for the smoke run)."""
    if smoke:
        return ["--max-steps", "6", "--eval-every", "3"]
    return ["--time-budget", f"{SECONDS[group, length]}s", "--eval-every", "100"]


def parameters(cell: str, hidden: int, probe: str) -> int:
    """The probe model's parameter count: G*H*(I + H + 2) for the layer, (H + 1)*O for the head."""
    inputs, outputs = (2, 1) if probe == "adding" else (10, 9)
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
    return gates * hidden * (inputs + hidden + 2) + (hidden + 1) * outputs


def matched_hidden(cell: str, probe: str, lstm_hidden: int) -> int:
    """The hidden size whose parameter count is nearest the LSTM's."""
    target = parameters("lstm", lstm_hidden, probe)
    return min(range(1, 8 * lstm_hidden), key=lambda h: abs(parameters(cell, h, probe) - target))


def experiments(smoke: bool = False) -> dict[str, dict]:
    """name -> {group, probe, length, cell, seed, hidden, args, stop_when_solved, budget_s}."""
    sizes = plan(smoke)
    common = ["--lr", "0.01", *sizes["sets"], "--no-progress", "--no-tensorboard", "--threads", "1"]
    found = {}
    for group, probe, cells in (("adding", "adding", CELLS), ("copy", "copy", CELLS),
                                ("chrono", "copy", GATED)):  # fmt: skip
        for length in sizes["lengths"][group]:
            for cell in cells:
                for seed in sizes["seeds"]:
                    hidden = matched_hidden(cell, probe, sizes["lstm_hidden"])
                    args = ["--task", probe, "--length", str(length), "--cell", cell]
                    args += ["--hidden", str(hidden), "--seed", str(seed), *common]
                    args += budget(group, length, smoke)
                    if probe == "adding" and length == sizes["flow_length"] and seed == 0:
                        args += ["--log-grad-flow", "5"]  # the step-0 curve: at initialisation
                    if group == "chrono":  # the biases for the whole sequence, T + 20 steps
                        args += ["--chrono", str(length + 20)]
                    found[f"{group}-T{length}-{cell}-s{seed}"] = {
                        "group": group,
                        "probe": probe,
                        "length": length,
                        "cell": cell,
                        "seed": seed,
                        "hidden": hidden,
                        "args": args,
                        "stop_when_solved": True,
                        "budget_s": SECONDS.get((group, length), 1),
                    }
    long = sizes["long"]
    for seed in long["seeds"]:
        args = ["--task", "copy", "--length", str(long["length"]), "--cell", "gru"]
        args += ["--hidden", str(long["hidden"]), "--seed", str(seed), "--lr", long["lr"]]
        args += [*common[2:], *budget("long", long["length"], smoke)]  # common less its lr
        args += ["--chrono", str(long["length"] + 20)]
        found[f"long-T{long['length']}-gru-s{seed}"] = {
            "group": "long",
            "probe": "copy",
            "length": long["length"],
            "cell": "gru",
            "seed": seed,
            "hidden": long["hidden"],
            "args": args,
            "stop_when_solved": True,
            "budget_s": SECONDS.get(("long", long["length"]), 1),
        }
    length = sizes["relu_length"]
    hidden = matched_hidden("rnn", "adding", sizes["lstm_hidden"])
    for clip in ("1.0", "none"):
        args = ["--task", "adding", "--length", str(length), "--cell", "rnn"]
        args += ["--nonlinearity", "relu", "--hidden", str(hidden), "--seed", "0", *common]
        # SGD: Adam divides each step by the gradient's running RMS, which tempers a spike by
        # itself; with SGD the step grows with the gradient, which is what clipping bounds
        args += ["--optimizer", "sgd", "--clip-norm", clip, *budget("relu", length, smoke)]
        found[f"relu-T{length}-clip-{clip}"] = {
            "group": "relu",
            "probe": "adding",
            "length": length,
            "cell": "rnn",
            "seed": 0,
            "hidden": hidden,
            "clip_norm": None if clip == "none" else float(clip),
            "args": args,
            "stop_when_solved": False,
            "budget_s": SECONDS.get(("relu", length), 1),
        }
    return found


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def run_trial(name: str, spec: dict, runs: str, diagnose_batches: int = 4) -> dict:
    """Train, evaluate and diagnose one trial in this process; return its record."""
    import torch

    import rnnkit
    from rnnkit.api import parse_options
    from rnnkit.training.trainer import TrainingDiverged

    torch.set_num_threads(1)
    out = Path(runs) / name
    if out.exists():
        shutil.rmtree(out)
    solved_in_a_row = 0

    def on_evaluate(record: dict) -> bool:
        nonlocal solved_in_a_row
        solved_in_a_row = solved_in_a_row + 1 if record["val_solved"] else 0
        return spec["stop_when_solved"] and solved_in_a_row >= 2

    started = time.perf_counter()
    try:
        options = parse_options("probe", spec["args"])
        stop = rnnkit.train("probe", options, out, on_evaluate=on_evaluate)["stop_reason"]
    except TrainingDiverged as error:
        stop = f"diverged: {str(error).split(';')[0]}"
    wall = time.perf_counter() - started
    history = read_lines(out / "metrics.jsonl")
    record = {
        **{k: spec[k] for k in ("group", "probe", "length", "cell", "seed", "hidden")},
        "clip_norm": spec.get("clip_norm", 1.0),
        "options": spec["args"],
        "commands": [
            f"rnnkit train probe {shlex.join(spec['args'])} --out {relative(out)}",
            f"rnnkit evaluate {relative(out)}",
            f"rnnkit diagnose {relative(out)}",
        ],
        "stop_reason": stop,
        "train_wall_s": round(wall, 1),
        "steps": history[-1]["step"] if history else 0,
        "curve": [
            {k: r[k] for k in ("step", "train_loss", "val_loss", "grad_norm", "clipped")}
            for r in history
        ],
        "solved": False,
        "test": None,
    }
    if not (out / "model.safetensors").is_file():  # diverged before its first evaluation
        return record
    result = rnnkit.evaluate(out)
    diagnosis = rnnkit.diagnose(out, batches=diagnose_batches)
    metric = result["metric"]
    fired = diagnosis["clipping"]["fired"]
    record.update(
        parameters=result["parameters"],
        metric=metric,
        test=result["model"][metric],
        accuracy=result["model"].get("accuracy"),
        baseline=result["baseline"][metric],
        solved=result["solved"],
        clip_share=fired["share"] if fired else None,
        grad_norm_max=fired["grad_norm_max"] if fired else None,
        first_to_last=diagnosis["first_to_last"],
    )
    flows = read_lines(out / "grad_flow.jsonl")
    if flows:
        record["grad_flow"] = {
            "initial": flows[0]["grad_norm_per_step"],
            "trained": diagnosis["grad_norm_per_step"],
        }
    return record


# --- the report --------------------------------------------------------------------------------
def fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}g}"


def trials(results: dict, group: str, length: int, cell: str) -> list[dict]:
    return sorted(
        (
            r
            for r in results.values()
            if r["group"] == group and r["length"] == length and r["cell"] == cell
        ),
        key=lambda r: r["seed"],
    )


def probe_table(results: dict, group: str) -> list[str]:
    copy = group in ("copy", "chrono", "long")
    metric = "cross-entropy (nats/step)" if copy else "MSE"
    lines = [
        f"| T | cell | hidden | parameters | test {metric}, per seed | baseline | "
        + ("copied symbols right | " if copy else "")
        + "solved | steps | train time | g_1 / g_T |",
        "|---|---|---|---|---|---|" + ("---|" if copy else "") + "---|---|---|---|",
    ]
    lengths = sorted({r["length"] for r in results.values() if r["group"] == group})
    for length in lengths:
        for cell in CELLS:
            found = trials(results, group, length, cell)
            if not found:
                continue
            first = found[0]
            row = [
                str(length),
                "RNN (tanh)" if cell == "rnn" else cell.upper(),
                str(first["hidden"]),
                f"{first.get('parameters', 0):,}",
                " / ".join(
                    ("**" if r["solved"] else "")
                    + fmt(r["test"], 3)
                    + ("**" if r["solved"] else "")
                    for r in found
                ),  # fmt: skip
                fmt(first.get("baseline"), 3),
            ]
            if copy:
                row.append(" / ".join(fmt(r.get("accuracy"), 2) for r in found))
            row += [
                f"{sum(r['solved'] for r in found)}/{len(found)}",
                " / ".join(str(r["steps"]) for r in found),
                " / ".join(f"{r['train_wall_s']:.0f} s" for r in found),
                " / ".join(fmt(r.get("first_to_last"), 2) for r in found),
            ]
            lines.append("| " + " | ".join(row) + " |")
    return lines


def solved_count(results: dict, probe: str, length: int, cell: str) -> tuple[int, int]:
    found = trials(results, probe, length, cell)
    return sum(r["solved"] for r in found), len(found)


def targets(results: dict) -> list[str]:
    """The issue's targets, each stated as met or not with its numbers."""
    lines = []

    def solved_by_gates(claim: str, probe: str, length: int, every: bool) -> None:
        if not trials(results, probe, length, "lstm"):
            return
        counts = [(cell, *solved_count(results, probe, length, cell)) for cell in ("lstm", "gru")]
        if every:  # both cells, every seed
            met = all(total and solved == total for _, solved, total in counts)
        else:  # either cell, any seed
            met = any(solved for _, solved, _ in counts)
        said = ", ".join(f"{cell.upper()} {solved}/{total}" for cell, solved, total in counts)
        lines.append(f"- {claim}: **{'met' if met else 'not met'}** ({said}).")

    solved_by_gates(
        "LSTM and GRU solve adding at T = 200 (test MSE < 0.01, every seed)", "adding", 200, True
    )
    solved_by_gates("LSTM or GRU solves adding at T = 400", "adding", 400, False)
    rnn = [r for r in results.values() if r["group"] == "adding" and r["cell"] == "rnn"]
    long_rnn = [r for r in rnn if r["length"] >= 200 and r["test"] is not None]
    if long_rnn:
        ratios = ", ".join(
            f"T={r['length']} s{r['seed']}: {r['test'] / r['baseline']:.2f}" for r in long_rnn
        )
        near = all(r["test"] > 0.5 * r["baseline"] for r in long_rnn)
        lines.append(
            f"- The tanh RNN stays near the adding baseline at T >= 200 (test MSE / baseline "
            f"above 0.5): **{'met' if near else 'not met'}** ({ratios})."
        )
    flows = {r["cell"]: r for r in results.values() if r.get("grad_flow")}
    if "rnn" in flows and "lstm" in flows:
        rnn_ratio, lstm_ratio = (
            flow_ratio(flows[c]["grad_flow"]["trained"]) for c in ("rnn", "lstm")
        )
        lines.append(
            f"- At T = {flows['rnn']['length']} after training, g_1 / g_T is {fmt(rnn_ratio, 2)} "
            f"for the RNN and {fmt(lstm_ratio, 2)} for the LSTM "
            f"(at initialisation: {fmt(flow_ratio(flows['rnn']['grad_flow']['initial']), 2)} and "
            f"{fmt(flow_ratio(flows['lstm']['grad_flow']['initial']), 2)})."
        )
    copies = {"copy": "uniform initialisation", "chrono": "chrono", "long": "GRU-128 chrono"}
    if any(trials(results, group, 100, cell) for group in copies for cell in GATED):
        counts = {
            (group, cell): solved_count(results, group, 100, cell)
            for group in copies
            for cell in GATED
            if trials(results, group, 100, cell)
        }
        met = any(solved for solved, _ in counts.values())
        said = "; ".join(
            f"{what}: "
            + ", ".join(
                f"{cell.upper()} {counts[group, cell][0]}/{counts[group, cell][1]}"
                for cell in GATED
                if (group, cell) in counts
            )  # fmt: skip
            for group, what in copies.items()
            if any(key[0] == group for key in counts)
        )
        lines.append(
            "- LSTM or GRU solves copy at T = 100 (cross-entropy < 1% of the baseline's): "
            f"**{'met' if met else 'not met'}** ({said})."
        )
    return lines


def flow_ratio(values: list[float]) -> float:
    return values[0] / values[-1] if values and values[-1] > 0 else math.nan


def draw_figures(results: dict, folder: Path) -> dict[str, Path]:
    """The gradient-per-step figure and the relu clipping figure; name -> path (drawn ones)."""
    from rnnkit.plots import plot_gradient_per_step, pyplot, save

    drawn = {}
    flows = {r["cell"]: r for r in results.values() if r.get("grad_flow")}
    if flows:
        length = next(iter(flows.values()))["length"]
        curves = {}
        for cell in CELLS:
            if cell in flows:
                label = "RNN (tanh)" if cell == "rnn" else cell.upper()
                curves[f"{label}, initial"] = flows[cell]["grad_flow"]["initial"]
                curves[f"{label}, trained"] = flows[cell]["grad_flow"]["trained"]
        path = folder / f"probes_grad_flow_T{length}.png"
        title = f"adding, T = {length}: ||dL/dh_t|| per step, seed 0"
        if plot_gradient_per_step(curves, path, title):
            drawn["grad_flow"] = path
    relu = sorted(
        (r for r in results.values() if r["group"] == "relu"), key=lambda r: str(r["clip_norm"])
    )
    plt = pyplot("probes_relu_clipping.png") if relu else None
    if plt is not None:
        figure, axes = plt.subplots(1, 3, figsize=(14, 3.8))
        for record in relu:
            label = f"clip-norm {record['clip_norm']}" if record["clip_norm"] else "no clipping"
            steps = [c["step"] for c in record["curve"]]
            axes[0].semilogy(steps, [c["val_loss"] for c in record["curve"]], label=label)
            axes[1].semilogy(steps, [c["grad_norm"] for c in record["curve"]], label=label)
            axes[2].plot(steps, [c["clipped"] for c in record["curve"]], label=label)
        for axis, what in zip(axes, ("validation MSE", "mean pre-clip gradient norm", "clip rate")):
            axis.set_xlabel("step")
            axis.set_ylabel(what)
            axis.grid(alpha=0.3)
        axes[0].axhline(1 / 6, color="0.5", linestyle="--", linewidth=1, label="baseline 1/6")
        axes[0].legend()
        figure.suptitle(f"relu RNN on adding, T = {relu[0]['length']}")
        path = folder / "probes_relu_clipping.png"
        drawn["relu"] = save(figure, path, dpi=90)
    return drawn


def render(report: dict, markdown: Path, figures: dict[str, Path]) -> str:
    results = report["results"]

    def link(path) -> str:
        return os.path.relpath(path, markdown.parent)

    lstm = [r for r in results.values() if r["cell"] == "lstm" and r["group"] != "relu"]
    lines = [
        "# Long-range probes: seeing vanishing gradients",
        "",
        f"Measured {report['date']} on {report['machine']}, torch {report['torch']}, "
        f"{report['workers']} trials at a time with one thread each. Produced by "
        "`.venv/bin/python benchmarks/probes.py` (resumable); raw numbers in "
        f"`{link(report['json'])}`.",
        "",
        "Adding (Hochreiter & Schmidhuber 1997, Arjovsky et al. 2016's protocol): T steps of a "
        "value in [0, 1) and a marker, two markers (one per half); predict the sum of the two "
        "marked values; the baseline predicts 1 (MSE 1/6 = 0.167); solved: test MSE < 0.01. "
        "Copy memory: 10 symbols from 8, T - 1 blanks, a delimiter, 10 blanks; reproduce the 10 "
        "symbols at the end; the memoryless baseline's cross-entropy is 10 ln 8 / (T + 20) per "
        "step; solved: below 1% of it. One recurrent layer and a linear read-out, equal "
        "parameter counts (LSTM "
        + (f"{lstm[0]['hidden']} hidden units" if lstm else "64 hidden units")
        + ", RNN and GRU the nearest count), Adam lr 1e-2, global-norm clipping at 1, batches "
        "of 50 fresh sequences; each trial stops when its 500 validation sequences are solved "
        "at two evaluations in a row (every 100 steps), else at its time budget ("
        + "; ".join(
            f"{group}: " + ", ".join(f"T={t} {s} s" for (g, t), s in SECONDS.items() if g == group)
            for group in GROUPS
        )
        + "). Test: 1,000 held-out sequences. g_1 / g_T: ||dL/dh_t|| at the first step over "
        "the last (`rnnkit diagnose`: best weights, 4 training batches); per seed where two are "
        "given.",
        "",
    ]
    if report.get("smoke"):
        lines += ["**Smoke run: tiny sizes and a few steps; these numbers mean nothing.**", ""]
    lines += ["## Targets", "", *targets(results), ""]
    chrono = (
        "The same LSTM and GRU, optimiser and data as above; only the gate biases start "
        "differently (`--chrono T + 20`, Tallec & Ollivier 2018): the LSTM's forget bias and the "
        "GRU's update bias drawn per unit from log U[1, T + 19] (the LSTM's input bias is its "
        "negative), so at initialisation the units keep their state on time scales spread over "
        "2 to T + 20 steps; with torch.nn's uniform initialisation the gates start near 1/2 and "
        "a state halves at every step. g_1 / g_T is measured on the trained model."
    )
    long = (
        "`--only long`, outside the 45-minute report: a GRU of 128 units (about 2.7 times the "
        "parameters above) with chrono initialisation and Adam at lr 3e-3, up to 20 minutes, "
        "stopped once the validation set is solved at two evaluations in a row."
    )
    sections = [
        ("adding", "Adding", None),
        ("copy", "Copy memory", None),
        ("chrono", "Copy memory with chrono initialisation", chrono),
        ("long", "Copy memory solved: a larger GRU, longer", long),
    ]
    for group, title, text in sections:
        if any(r["group"] == group for r in results.values()):
            lines += [f"## {title}", "", *([text, ""] if text else [])]
            lines += [*probe_table(results, group), ""]
    if "grad_flow" in figures:
        lines += [
            "## The gradient per step",
            "",
            "||dL/dh_t|| for every step t of the adding problem, seed 0, at initialisation "
            "(the `--log-grad-flow` record at step 0: the first training batch) and after "
            "training (`rnnkit diagnose`: best weights, the first 4 training batches), log "
            "scale.",
            "",
            f"![gradient per step]({link(figures['grad_flow'])})",
            "",
        ]
    relu = [r for r in results.values() if r["group"] == "relu"]
    if relu:
        lines += [
            "## ReLU RNN with and without clipping",
            "",
            "A relu RNN (the RNN's hidden size) on adding, trained with SGD (momentum 0.9, lr "
            "1e-2) rather than Adam: Adam divides each step by the gradient's running RMS, which "
            "tempers a gradient spike by itself, whereas an SGD step grows with the gradient, "
            "which is what clipping bounds (Pascanu et al. 2013). Clip rate: the share of steps "
            "in which clipping fired (0 without clipping: the unclipped run's gradient norms "
            "are in the last column and the figure).",
            "",
            "| clipping | stopped | steps | test MSE | clip rate | largest gradient norm |",
            "|---|---|---|---|---|---|",
        ]
        for r in sorted(relu, key=lambda r: str(r["clip_norm"])):
            clip = f"--clip-norm {r['clip_norm']}" if r["clip_norm"] else "none"
            lines.append(
                f"| {clip} | {r['stop_reason']} | {r['steps']} | {fmt(r['test'])} | "
                f"{fmt(r.get('clip_share'), 2)} | {fmt(r.get('grad_norm_max'), 3)} |"
            )
        if "relu" in figures:
            lines += ["", f"![relu RNN and clipping]({link(figures['relu'])})"]
        lines.append("")
    examples = {}
    for r in results.values():
        examples.setdefault(r["group"], r["commands"])
    lines += ["## Commands", "", "One trial of each kind (the others differ in their options):", ""]
    lines += ["```bash", *[c for commands in examples.values() for c in commands], "```", ""]
    return "\n".join(lines)


def write_report(
    results: dict,
    json_path: Path,
    markdown: Path,
    log: Callable[[str], None],
    workers: int = 2,
    smoke: bool = False,
    date: str | None = None,
) -> None:
    import torch

    report = {
        "date": date or datetime.date.today().isoformat(),
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "workers": workers,
        "smoke": smoke,
        "json": str(json_path),
        "results": results,
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=1) + "\n")
    figures = draw_figures(results, json_path.parent)
    markdown.write_text(render(report, markdown, figures))
    log(f"wrote {json_path}, {markdown} and {len(figures)} figures")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=GROUPS)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench-probes")
    parser.add_argument("--out", type=Path, default=RESULTS / "probes.json")
    parser.add_argument("--markdown", type=Path, help="default: probes.md beside --out's folder")
    parser.add_argument("--workers", type=int, default=2, help="trials at a time (one thread each)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few steps each")
    parser.add_argument("--force", action="store_true", help="rerun trials already recorded")
    parser.add_argument("--render", action="store_true", help="only rewrite the report")
    args = parser.parse_args(argv)
    markdown = args.markdown or args.out.parent.parent / "probes.md"
    previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results = previous.get("results", {})
    if args.render:
        write_report(results, args.out, markdown, print, previous.get("workers", args.workers),
                     previous.get("smoke", False), previous.get("date"))  # fmt: skip
        return 0
    groups = set(args.only or REPORT)
    batches = plan(args.smoke)["diagnose_batches"]
    todo = [
        (name, spec)
        for name, spec in experiments(args.smoke).items()
        if spec["group"] in groups
        and (args.force or results.get(name, {}).get("options") != spec["args"])
    ]
    todo.sort(key=lambda item: -item[1]["budget_s"])  # longest first: the workers end together
    print(f"{len(todo)} trials to run, {len(results)} recorded")

    def finished(name: str, record: dict) -> None:
        results[name] = record
        print(f"{name}: {record['stop_reason']} after {record['steps']} steps; solved "
              f"{record['solved']}")  # fmt: skip
        write_report(results, args.out, markdown, print, args.workers, args.smoke)

    if args.workers == 1:
        for name, spec in todo:
            finished(name, run_trial(name, spec, str(args.runs), batches))
        return 0
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch threads
    with ProcessPoolExecutor(args.workers, mp_context=context) as pool:
        futures = {
            pool.submit(run_trial, name, spec, str(args.runs), batches): name for name, spec in todo
        }
        for future in as_completed(futures):
            try:
                finished(futures[future], future.result())
            except Exception as error:  # one failed trial must not lose the others
                print(f"{futures[future]}: failed: {error!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
