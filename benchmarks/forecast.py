"""Forecasting benchmarks: univariate ETTh1 against the published Informer table, RNN vs LSTM vs
GRU, and the seed's noisy sine wave.

Every experiment is one ``rnnkit train forecast`` command followed by ``rnnkit evaluate``; the
numbers are read back from the run's ``eval.json``, where the model and the baselines (naive,
seasonal naive, training mean) are scored side by side on the same test windows. Results are merged
into ``benchmarks/results/forecast.json`` after every experiment and ``forecast.md`` is rewritten
from it, so an interrupted session keeps what it finished.

Usage::

    .venv/bin/python benchmarks/forecast.py                      # everything (about 20 minutes)
    .venv/bin/python benchmarks/forecast.py --only sine
    .venv/bin/python benchmarks/forecast.py --only etth1 --horizons 24 48
    .venv/bin/python benchmarks/forecast.py --only cells         # RNN, LSTM, GRU at horizon 24
    .venv/bin/python benchmarks/forecast.py --only long          # SegRNN, 96-720, 3 seeds (2 h)

Runs go to ``runs/bench-forecast/<name>`` under the repository (replaced when rerun); one thread.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
HORIZONS = (24, 48, 168, 336, 720)
# Informer (Zhou et al., AAAI 2021), Table 1 as updated in its repository in March 2021:
# univariate ETTh1, MSE / MAE on z-scored test windows.
PUBLISHED = {
    24: {"Informer": (0.098, 0.247), "LSTMa": (0.114, 0.272)},
    48: {"Informer": (0.158, 0.319), "LSTMa": (0.193, 0.358)},
    168: {"Informer": (0.183, 0.346), "LSTMa": (0.236, 0.392)},
    336: {"Informer": (0.222, 0.387), "LSTMa": (0.590, 0.698)},
    720: {"Informer": (0.269, 0.435), "LSTMa": (0.683, 0.768)},
}
# The strongest published anchors at long horizons, univariate ETTh1 MSE (lookback 336 for NLinear
# and DLinear, 512 for PatchTST/64; Nie et al., ICLR 2023, Table 3). They are reported with
# drop_last=True, so they skip some test windows; rnnkit scores every window.
LONG_HORIZONS = (96, 192, 336, 720)
LONG_SEEDS = (0, 1, 2)
ANCHORS = {
    "NLinear": {96: 0.053, 192: 0.069, 336: 0.081, 720: 0.080},
    "PatchTST/64": {96: 0.059, 192: 0.074, 336: 0.076, 720: 0.087},
    "DLinear": {96: 0.056, 192: 0.071, 336: 0.098, 720: 0.189},
}
BUDGET_S = 600.0  # the limit: each horizon trained in at most 10 minutes


def experiments(horizons: tuple[int, ...]) -> dict[str, dict]:
    """name -> {group, train options}; every command starts from a recipe."""
    etth1 = ["--config", "recipes/etth1-lstm.toml"]
    found = {}
    for horizon in horizons:
        found[f"etth1-lstm-h{horizon}"] = {
            "group": "etth1",
            "horizon": horizon,
            "args": [*etth1, "--horizon", str(horizon)],
        }
    for cell in ("rnn", "gru"):  # the LSTM at horizon 24 is the etth1 run above
        found[f"etth1-{cell}-h24"] = {
            "group": "cells",
            "horizon": 24,
            "args": [*etth1, "--horizon", "24", "--cell", cell],
        }
    found["etth1-lstm-h24-raw"] = {
        "group": "cells",
        "horizon": 24,
        "args": [*etth1, "--horizon", "24", "--window-norm", "none"],
    }
    for horizon in LONG_HORIZONS:
        for seed in LONG_SEEDS:
            found[f"etth1-seg-h{horizon}-s{seed}"] = {
                "group": "long",
                "horizon": horizon,
                "args": ["--config", "recipes/etth1-s.toml", "--horizon", str(horizon),
                         "--seed", str(seed)],
            }  # fmt: skip
    found["sine"] = {"group": "sine", "horizon": 1, "args": ["--config", "recipes/sine.toml"]}
    return found


def run_experiment(name: str, spec: dict, runs: Path, log: Callable[[str], None]) -> dict:
    """Train and evaluate one experiment in-process; return its record."""
    import torch

    import rnnkit
    from rnnkit.api import parse_options

    torch.set_num_threads(1)
    out = runs / name
    if out.exists():
        shutil.rmtree(out)
    train = ["train", "forecast", *spec["args"], "--out", str(out), "--no-progress"]
    evaluate = ["evaluate", str(out)]
    log(f"$ rnnkit {shlex.join(train)}")
    started = time.perf_counter()
    rnnkit.train("forecast", parse_options("forecast", [*spec["args"], "--no-progress"]), out)
    wall = time.perf_counter() - started
    log(f"$ rnnkit {shlex.join(evaluate)}")
    rnnkit.evaluate(out)
    result = json.loads((out / "eval.json").read_text())
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    best = min(history, key=lambda record: record["val_loss"])
    config = json.loads((out / "config.json").read_text())
    return {
        "group": spec["group"],
        "commands": [f"rnnkit {shlex.join(train)}", f"rnnkit {shlex.join(evaluate)}"],
        "cell": config["model"]["cell"],
        "window_norm": config["model"]["window_norm"],
        "lookback": result["lookback"],
        "horizon": result["horizon"],
        "parameters": result["parameters"],
        "windows": result["windows"],
        "train_wall_s": round(wall, 1),
        "train_loop_s": history[-1]["elapsed_s"],
        "steps": history[-1]["step"],
        "epochs": history[-1]["epoch"],
        "best_step": best["step"],
        "best_val_mse": best["val_loss"],
        "metrics": result["metrics"],
    }


def fmt(pair: dict | None, keys=("mse", "mae")) -> str:
    return "n/a" if pair is None else " / ".join(f"{pair[k]:.3f}" for k in keys)


def beats(ours: dict, published: tuple[float, float]) -> bool:
    return ours["mse"] < published[0] and ours["mae"] < published[1]


def render(report: dict) -> str:
    """The markdown section for benchmarks/RESULTS.md."""
    results = report["results"]
    lines = [
        "## Forecasting",
        "",
        f"Measured {report['date']} on {report['machine']}, torch {report['torch']}, "
        "1 thread, machine shared with other jobs (so wall-clock times are pessimistic). "
        "Produced by `.venv/bin/python benchmarks/forecast.py`; raw numbers in "
        "`benchmarks/results/forecast.json`.",
        "",
    ]
    etth1 = [results[f"etth1-lstm-h{h}"] for h in HORIZONS if f"etth1-lstm-h{h}" in results]
    if etth1:
        first = etth1[0]
        lines += [
            "### Univariate ETTh1 against the published table",
            "",
            "Target OT, features S, Informer's borders (train rows [0, 8640), validation "
            "[8640-L, 11520), test [11520-L, 14400)), z-scored with the mean and std of the "
            "training rows' OT; MSE / MAE on the z-scored values of **every** test window (no "
            f"dropped batch). rnnkit: {first['cell'].upper()}, {first['parameters']:,} parameters "
            f"at H=24, lookback L = {first['lookback']} (one week), hidden 64, one layer, "
            "direct multi-horizon head, `--window-norm last` (the network forecasts the change "
            "from the last observed value), Adam 1e-3, batch 32, best epoch by validation MSE "
            "(early stopping after 5 epochs without improvement, at most 30 epochs or 10 "
            "minutes). Published columns: Informer (AAAI 2021) Table 1 as updated in its "
            "repository in March 2021.",
            "",
            "| horizon | test windows | rnnkit LSTM | Informer | LSTMa | naive (last value) | "
            "seasonal naive (24 h) | train time | beats LSTMa | beats Informer |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for record in etth1:
            horizon, metrics = record["horizon"], record["metrics"]
            published = PUBLISHED[horizon]
            lines.append(
                f"| {horizon} | {record['windows']} | **{fmt(metrics['model'])}** | "
                f"{published['Informer'][0]:.3f} / {published['Informer'][1]:.3f} | "
                f"{published['LSTMa'][0]:.3f} / {published['LSTMa'][1]:.3f} | "
                f"{fmt(metrics['naive'])} | {fmt(metrics['seasonal_naive'])} | "
                f"{record['train_wall_s']:.0f} s ({record['epochs']:.0f} epochs) | "
                f"{'yes' if beats(metrics['model'], published['LSTMa']) else 'no'} | "
                f"{'yes' if beats(metrics['model'], published['Informer']) else 'no'} |"
            )
        met = all(
            beats(r["metrics"]["model"], PUBLISHED[r["horizon"]][column])
            for r in etth1
            for column in ("Informer", "LSTMa")
        )
        in_budget = all(r["train_wall_s"] <= BUDGET_S for r in etth1)
        naive_beats_informer = all(
            beats(r["metrics"]["naive"], PUBLISHED[r["horizon"]]["Informer"]) for r in etth1
        )
        lines += [
            "",
            f"Target (beat both published columns at every horizon, each horizon trained in at "
            f"most 10 minutes): **{'met' if met and in_budget else 'not met'}** for the "
            f"horizons run ({', '.join(str(r['horizon']) for r in etth1)}). "
            + (
                "Note that the naive last-value forecast, scored on the same windows, also "
                "beats the published Informer numbers at every horizon run: on this target "
                "the published table is a weak bar, and the baseline columns are the fairer "
                "comparison."
                if naive_beats_informer
                else ""
            ),
            "",
            "Commands (one per horizon):",
            "",
            "```bash",
            *[r["commands"][0] for r in etth1],
            "rnnkit evaluate runs/bench-forecast/etth1-lstm-h24   # and so on for each run",
            "```",
            "",
        ]
    cells = [
        results[name]
        for name in ("etth1-rnn-h24", "etth1-lstm-h24", "etth1-gru-h24", "etth1-lstm-h24-raw")
        if name in results
    ]
    shift = report.get("etth1_level")
    if cells:
        lines += [
            "### RNN vs LSTM vs GRU, univariate ETTh1, horizon 24",
            "",
            "Same recipe and lookback as above, one seed (0). The last row drops the "
            "window normalisation (`--window-norm none`): the network then has to "
            "reproduce the level itself"
            + (
                f", and the test months lie low: only {shift['train_share_below']:.0%} of the "
                f"training rows are colder than their mean OT ({shift['test_mean']:.2f} °C, "
                f"z = {shift['test_mean_z']:.2f})."
                if shift
                else "."
            )
            + " One seed each: differences between the cells this small may be within "
            "seed-to-seed variation, which was not measured.",
            "",
            "| model | window norm | parameters | test MSE / MAE | MAE (°C, original units) | "
            "naive MSE / MAE | train time |",
            "|---|---|---|---|---|---|---|",
        ]
        for record in cells:
            metrics = record["metrics"]
            lines.append(
                f"| {record['cell'].upper()} | {record['window_norm']} | "
                f"{record['parameters']:,} | {fmt(metrics['model'])} | "
                f"{metrics['model']['mae_original']:.3f} | {fmt(metrics['naive'])} | "
                f"{record['train_wall_s']:.0f} s |"
            )
        raw = results.get("etth1-lstm-h24-raw")
        if raw and raw["metrics"]["model"]["mse"] > raw["metrics"]["naive"]["mse"]:
            lines += [
                "",
                "Without the window normalisation the LSTM is worse than the naive forecast"
                + (
                    " (though still below both published columns at this horizon)."
                    if all(beats(raw["metrics"]["model"], p) for p in PUBLISHED[24].values())
                    else "."
                ),
            ]
        lines += ["", "```bash", *[r["commands"][0] for r in cells], "```", ""]
    lines += render_long(results)
    if "sine" in results:
        record = results["sine"]
        metrics = record["metrics"]
        ratio = metrics["model"]["mse_original"] / metrics["naive"]["mse_original"]
        lines += [
            "### The seed's noisy sine wave",
            "",
            "`synthetic:sine`: x_i = sin(i/10) + U(-0.2, 0.2), 200 points (noise seed 0). "
            "Trained on the first 150 points; tested one step ahead on each of the last 50 "
            f"({record['windows']} windows; their inputs may reach back into the first 150). "
            f"GRU, hidden 16, lookback {record['lookback']}, {record['parameters']:,} "
            "parameters. The noise alone gives an MSE of 0.4^2/12 = 0.0133 for a perfect "
            "model.",
            "",
            "| forecast | test MSE (original units) | test MAE |",
            "|---|---|---|",
            f"| rnnkit GRU | **{metrics['model']['mse_original']:.4f}** | "
            f"{metrics['model']['mae_original']:.4f} |",
            f"| naive (last value) | {metrics['naive']['mse_original']:.4f} | "
            f"{metrics['naive']['mae_original']:.4f} |",
            f"| training mean | {metrics['train_mean']['mse_original']:.4f} | "
            f"{metrics['train_mean']['mae_original']:.4f} |",
            "",
            f"The model's MSE is {ratio:.2f} of the naive forecast's.",
            "",
            "```bash",
            *record["commands"],
            "```",
            "",
        ]
    return "\n".join(lines)


def long_target(horizon: int, mean: float) -> str:
    """Issue 13's target at ``horizon``: beat NLinear at 336 and 720, within 5% of the best anchor
    at 96 and 192; the verdict for a mean test MSE."""
    if horizon in (336, 720):
        goal = ANCHORS["NLinear"][horizon]
        return f"< {goal:.3f} (NLinear): {'met' if mean < goal else 'not met'}"
    goal = 1.05 * min(anchor[horizon] for anchor in ANCHORS.values())
    return f"<= {goal:.5f} (best + 5%): {'met' if mean <= goal else 'not met'}"


def render_long(results: dict) -> list[str]:
    """The long-horizon section: SegRNN's mean and spread over seeds beside the anchors."""
    rows = []
    for horizon in LONG_HORIZONS:
        prefix = f"etth1-seg-h{horizon}-s"
        runs = [r for n, r in sorted(results.items()) if n.startswith(prefix)]
        if not runs:
            continue
        mse = [r["metrics"]["model"]["mse"] for r in runs]
        mean = sum(mse) / len(mse)
        spread = (sum((m - mean) ** 2 for m in mse) / (len(mse) - 1)) ** 0.5 if len(mse) > 1 else 0
        best = min(anchor[horizon] for anchor in ANCHORS.values())
        anchors = " | ".join(f"{anchor[horizon]:.3f}" for anchor in ANCHORS.values())
        naive = runs[0]["metrics"]["naive"]["mse"]
        each = ", ".join(f"{m:.4f}" for m in mse)
        rows.append(
            f"| {horizon} | {runs[0]['windows']} | **{mean:.4f} ± {spread:.4f}** ({each}) | "
            f"{anchors} | {naive:.3f} | {mean / best:.2f}x | {long_target(horizon, mean)} | "
            f"{sum(r['train_wall_s'] for r in runs) / len(runs):.0f} s |"
        )
    if not rows:
        return []
    return [
        "### Univariate ETTh1, long horizons: SegRNN against NLinear, PatchTST and DLinear",
        "",
        "`recipes/etth1-s.toml` (GRU over 48-hour segments of a 336-hour lookback, parallel "
        "segment-wise output, each window read as the change from its last value); test MSE "
        "on the z-scored values of every test window, mean ± sd over seeds (each seed's value). "
        "The anchors skip some test windows (drop_last).",
        "",
        "| horizon | test windows | rnnkit SegRNN | " + " | ".join(ANCHORS) + " | naive | "
        "vs best anchor | target | train time |",
        "|---|---|---|" + "---|" * len(ANCHORS) + "---|---|---|---|",
        *rows,
        "",
        "```bash",
        ".venv/bin/python benchmarks/forecast.py --only long",
        "```",
        "",
    ]


def etth1_level() -> dict | None:
    """How far the test months' OT lies from the training rows' (why window norm matters)."""
    from rnnkit.data.series import load_series
    from rnnkit.errors import InputError

    try:
        ot = load_series("ett:ETTh1", columns=["OT"]).values[:, 0]
    except InputError:
        return None
    train, test = ot[:8640], ot[11520:14400]
    return {
        "train_mean": float(train.mean()),
        "train_std": float(train.std()),
        "test_mean": float(test.mean()),
        "test_mean_z": float((test.mean() - train.mean()) / train.std()),
        "train_share_below": float((train < test.mean()).mean()),
    }


def write_report(
    results: dict, json_path: Path, log: Callable[[str], None], date: str | None = None
) -> None:
    import torch

    report = {
        "date": date or datetime.date.today().isoformat(),
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "etth1_level": etth1_level() if any("etth1" in name for name in results) else None,
        "results": results,
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    json_path.with_suffix(".md").write_text(render(report))
    log(f"wrote {json_path} and {json_path.with_suffix('.md')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=("etth1", "cells", "sine", "long"))
    parser.add_argument("--horizons", nargs="*", type=int, default=list(HORIZONS))
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-forecast"))
    parser.add_argument("--out", type=Path, default=RESULTS / "forecast.json")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite the markdown from the JSON"
    )
    args = parser.parse_args(argv)
    os.chdir(ROOT)  # the recipes are named relative to the repository
    os.environ.setdefault("RNNKIT_DATA", str(ROOT.parent / "shared" / "data"))
    groups = set(args.only or ("etth1", "cells", "sine"))
    previous = json.loads(args.out.read_text())["results"] if args.out.is_file() else {}
    if args.render:
        write_report(previous, args.out, print, json.loads(args.out.read_text())["date"])
        return 0
    for name, spec in experiments(tuple(args.horizons)).items():
        if spec["group"] not in groups:
            continue
        previous[name] = run_experiment(name, spec, args.runs, print)
        write_report(previous, args.out, print)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
