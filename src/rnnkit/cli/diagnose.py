"""``rnnkit diagnose RUN``: how a run's recurrent layer passes gradient back through time.

The measurements are :meth:`rnnkit.tasks.spec.TaskSpec.diagnose`'s (the same for every task);
this prints a summary of ``RUN/diagnostics.json``.
"""

from __future__ import annotations

import argparse

from rnnkit.cli import set_threads


def add_commands(commands) -> None:
    diagnose = commands.add_parser(
        "diagnose",
        help="gradient per time step, gate saturation and recurrent spectra of a run",
        description="Measure a run's best weights on its first --batches training batches: "
        "||dL/dh_t|| for every step t of its recurrent layer's last layer (autograd), the "
        "share of saturated gate units (LSTM, GRU), the spectral radius and largest singular "
        "value of every W_hh, and how often gradient clipping fired in training. Writes "
        "RUN/diagnostics.json, grad_norm_per_step.png and gate_saturation.png.",
    )
    diagnose.add_argument("run", help="a run directory of any task (the --out of rnnkit train)")
    diagnose.add_argument(
        "--data", help="use this data (as --data of rnnkit train) instead of the run's own"
    )
    diagnose.add_argument(
        "--batches", type=int, default=4, help="training batches to average over (default: 4)"
    )
    diagnose.add_argument("--threads", type=int, help="torch CPU threads")
    diagnose.set_defaults(handler=diagnose_command)


def diagnose_command(args: argparse.Namespace) -> int:
    from rnnkit import api

    set_threads(args.threads)
    result = api.diagnose(args.run, args.data, args.batches)
    for line in summary(result):
        print(line)
    return 0


def summary(result: dict) -> list[str]:
    """A few lines for the user from a diagnostics.json."""
    norms = result["grad_norm_per_step"]
    lines = [
        f"{result['run']}: {result['cell'].upper()} layer {result['layer']!r}, its last layer "
        f"(l{result['layer_index']}, forward direction), {result['batches']} batches of up to "
        f"{result['steps']} steps, loss {result['loss']:.4g}",
        f"||dL/dh_t||: t=1 {norms[0]:.3g}, t=T {norms[-1]:.3g}, ratio t=1/t=T "
        f"{result['first_to_last']:.3g}",
    ]
    if result["gate_saturation"]:
        shares = ", ".join(
            f"{gate} {s['saturated']:.1%}" for gate, s in result["gate_saturation"].items()
        )
        lines.append(f"gate units below 0.05 or above 0.95: {shares}")
    largest = max(result["recurrent_weights"], key=lambda row: row["largest_singular_value"])
    radius = max(row["spectral_radius"] for row in result["recurrent_weights"])
    lines.append(
        f"W_hh: largest spectral radius {radius:.3g}, largest singular value "
        f"{largest['largest_singular_value']:.3g} ({largest['weight']}, {largest['gate']})"
    )
    clipping, fired = result["clipping"], result["clipping"]["fired"]
    if clipping["clip_norm"] is None and clipping["clip_value"] is None:
        setting = "no clipping"
    elif clipping["clip_norm"] is not None:
        setting = f"--clip-norm {clipping['clip_norm']}"
    else:
        setting = f"--clip-value {clipping['clip_value']}"
    if fired is None:
        lines.append(f"clipping ({setting}): not recorded in metrics.jsonl")
    else:
        lines.append(
            f"clipping ({setting}) fired in {fired['share']:.1%} of {fired['steps']} steps; "
            f"largest gradient norm {fired['grad_norm_max']:.3g}"
        )
    lines.append(f"wrote {result['run']}/diagnostics.json and its figures")
    return lines
