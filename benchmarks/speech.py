"""Spoken-digit benchmark (issue 11, Ex 7.3 speech): GRU and LSTM on the Free Spoken Digit Dataset.

    # the official split (takes 0-4 of every digit and speaker are the 300 test clips)
    python benchmarks/speech.py official --cells gru lstm --seeds 0

    # speaker-independent: train on five speakers, test on the sixth, all six folds
    python benchmarks/speech.py speakers --cells gru lstm --seeds 0

    # a variant: the recipe with options over it, recorded beside the recipe's runs
    python benchmarks/speech.py official --cells gru --variant ema -- --ema 0.999

    # rewrite benchmarks/results/speech.md from benchmarks/results/speech.json
    python benchmarks/speech.py report

    # per speaker: silence before and after the word, and the noise floor (no labels used)
    python benchmarks/speech.py silence

Every run is ``recipes/fsdd.toml`` with ``--cell`` (and ``--data fsdd:SPEAKER`` for a fold), in
``runs/bench-speech/NAME``; a finished run is not trained again and an interrupted one resumes.
Each record holds the test accuracy, the training time, the time per training step (batch size
over the measured clips per second) and the inference milliseconds per clip at batch size 1
(features, then model), the medians over the test clips. Targets: the official split >= 98.5%
for GRU and for LSTM; the speaker-independent mean >= 90%. Learning rate and batch size tuned on
validation per cell are ``studies/ex7_3_speech.toml``'s job (``rnnkit study run``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runs import ROOT, load, machine, train_and_evaluate, update  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
RUNS = ROOT / "runs" / "bench-speech"
RECIPE = "recipes/fsdd.toml"
TARGETS = {"official": 0.985, "speakers_mean": 0.90}
RECIPE_VARIANT = "recipe"


def speakers() -> list[str]:
    """The FSDD speakers, from the file names of the local copy."""
    from rnnkit.data import registry
    from rnnkit.data.audio import read_fsdd

    return sorted(set(read_fsdd(registry.locate_folder("fsdd"))[1]))


def inference_ms(run: Path, limit: int = 100) -> dict[str, float]:
    """Median milliseconds per test clip at batch size 1: reading and features, then the model
    (each once per ``--test-speeds`` copy, when the run has them)."""
    import rnnkit
    from rnnkit.data.audio import read_audio
    from rnnkit.io import read_json
    from rnnkit.tasks.classify import ClassifyData, clip_views, predict_views, prepare

    loaded = rnnkit.load(run)
    audio, config = loaded.audio, loaded.config
    split = read_json(run / "split.json") if config.get("split") else None
    test = prepare(ClassifyData(**config["data"]), split, None, config["classes"], audio).test
    features, model = [], []
    for path in test.paths[:limit]:
        started = time.perf_counter()
        views = clip_views([read_audio(path, audio.sample_rate)], audio)
        middle = time.perf_counter()
        predict_views(loaded.model, views).mean(dim=0)
        features.append(middle - started)
        model.append(time.perf_counter() - middle)
    return {
        "features_ms": 1000 * statistics.median(features),
        "model_ms": 1000 * statistics.median(model),
    }


def record(name: str, arguments: list[str], threads: int) -> dict:
    run = RUNS / name
    done = train_and_evaluate("classify", run, arguments, threads)
    result, last = done["eval"], done["last"]
    batch = json.loads((run / "config.json").read_text())["data"]["batch_size"]
    return {
        "run": done["run"],
        "command": done["command"],
        "test_accuracy": result["accuracy"],
        "valid_accuracy": result["valid"]["accuracy"],
        # with --test-speeds: the test accuracy of each speed's copies alone
        **(
            {"accuracy_by_speed": result["accuracy_by_speed"]}
            if "accuracy_by_speed" in result
            else {}
        ),
        "test_clips": result["examples"],
        "best_step": done["best"]["step"],
        "steps": last["step"],
        "train_seconds": last["elapsed_s"],
        "ms_per_step": 1000 * batch / last["items_per_s"],
        "parameters": done["parameters"],
        **inference_ms(run),
    }


def protocol(args: argparse.Namespace) -> None:
    """Train and evaluate every cell x seed (x held-out speaker) of a protocol, recording each
    run as it finishes."""
    torch.set_num_threads(args.threads)
    held_out = (args.speakers or speakers()) if args.command == "speakers" else [None]
    for cell in args.cells:
        for seed in args.seeds:
            for speaker in held_out:
                arguments = ["--config", str(ROOT / RECIPE), "--cell", cell, "--seed", str(seed)]
                arguments += args.extra
                name = cell if args.variant == RECIPE_VARIANT else f"{cell}-{args.variant}"
                if speaker is not None:
                    arguments += ["--data", f"fsdd:{speaker}"]
                    name += f"-{speaker}"
                done = {
                    "seed": seed,
                    "speaker": speaker,
                    "variant": args.variant,
                    **record(f"{name}-s{seed}", arguments, args.threads),
                }

                def add(results: dict, cell: str = cell, done: dict = done) -> None:
                    results["machine"] = machine(args.threads)
                    runs = results.setdefault(args.command, {}).setdefault(cell, [])
                    key = (done["seed"], done["speaker"], done["variant"])
                    runs[:] = [r for r in runs if _key(r) != key]
                    runs.append(done)

                update(RESULTS / "speech.json", add)
    report()


def _key(run: dict) -> tuple:
    return run["seed"], run["speaker"], run.get("variant", RECIPE_VARIANT)


def _groups(runs_by_cell: dict) -> dict[str, list[dict]]:
    """Runs by cell and variant: ``"gru"`` for the recipe's, ``"gru ema"`` for a variant's."""
    groups: dict[str, list[dict]] = {}
    for cell, runs in runs_by_cell.items():
        for run in runs:
            variant = run.get("variant", RECIPE_VARIANT)
            name = cell if variant == RECIPE_VARIANT else f"{cell} {variant}"
            groups.setdefault(name, []).append(run)
    return groups


def report(args: argparse.Namespace | None = None) -> str:
    """Write benchmarks/results/speech.md from speech.json; return its text."""
    results = load(RESULTS / "speech.json")
    info = results.get("machine", {})
    lines = ["## Spoken digits (FSDD)", ""]
    lines.append(
        f"Measured {info.get('date', '?')}, torch {info.get('torch', '?')}, "
        f"{info.get('threads', '?')} torch thread(s) on a shared 2-core CPU. Recipe "
        f"`{RECIPE}`; inference is per clip at batch size 1 (median over test clips)."
    )
    header = (
        "| cell | seed | test | test accuracy % | valid accuracy % | train s | ms/step | "
        "features ms/clip | model ms/clip | parameters |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    official_runs = _groups(results.get("official", {}))
    if official_runs:
        lines += ["", "### Official split (takes 0-4 are the test set)", "", header]
        for cell, runs in official_runs.items():
            lines += [_row(cell, r, "takes 0-4") for r in runs]
        lines.append("")
        for cell, runs in official_runs.items():
            accuracy = statistics.mean(r["test_accuracy"] for r in runs)
            met = "met" if accuracy >= TARGETS["official"] else "not met"
            lines.append(
                f"- {_title(cell)}: {100 * accuracy:.2f}% (mean of {len(runs)} seed(s)) against "
                f">= {100 * TARGETS['official']:.1f}%: {met}."
            )
    speaker_runs = _groups(results.get("speakers", {}))
    if speaker_runs:
        lines += ["", "### Speaker-independent (leave one speaker out, six folds)", "", header]
        for cell, runs in speaker_runs.items():
            lines += [_row(cell, r, r["speaker"]) for r in runs]
        lines.append("")
        every = len({r["speaker"] for runs in speaker_runs.values() for r in runs})
        for cell, runs in speaker_runs.items():
            lines.append(f"- {_title(cell)}: {_fold_summary(runs, every)}")
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "speech.md").write_text(text)
    print(text)
    return text


def _fold_summary(runs: list[dict], every: int) -> str:
    """The mean over folds of each fold's mean over its seeds, the weakest fold, and the
    verdict (only when all ``every`` folds ran)."""
    folds, seeds = _fold_means(runs, lambda r: r["test_accuracy"])
    mean = statistics.mean(folds.values())
    worst = min(folds, key=folds.get)
    verdict = "met" if mean >= TARGETS["speakers_mean"] else "not met"
    verdict = verdict if len(folds) == every else f"incomplete ({len(folds)} of {every} folds)"
    alone = ""
    if all("1" in r.get("accuracy_by_speed", {}) for r in runs):  # --test-speeds with 1
        plain, _ = _fold_means(runs, lambda r: r["accuracy_by_speed"]["1"])
        plain_mean = 100 * statistics.mean(plain.values())
        alone = f" (the clips alone, without the speed copies: {plain_mean:.2f}%)"
    return (
        f"mean {100 * mean:.2f}%{alone} over {len(folds)} fold(s) "
        f"({'-'.join(map(str, seeds))} seed(s) each, averaged within a fold), weakest fold "
        f"{100 * folds[worst]:.2f}% ({worst}), against a mean >= "
        f"{100 * TARGETS['speakers_mean']:.0f}%: {verdict}."
    )


def _fold_means(runs: list[dict], accuracy) -> tuple[dict[str, float], list[int]]:
    """Each held-out speaker's mean over its seeds of ``accuracy(run)``, and the seed counts."""
    by_speaker: dict[str, list[float]] = {}
    for r in runs:
        by_speaker.setdefault(r["speaker"], []).append(accuracy(r))
    folds = {speaker: statistics.mean(a) for speaker, a in by_speaker.items()}
    return folds, sorted({len(a) for a in by_speaker.values()})


def _title(group: str) -> str:
    """``"gru ema"`` -> ``"GRU (ema)"``."""
    cell, _, variant = group.partition(" ")
    return cell.upper() + (f" ({variant})" if variant else "")


def _row(cell: str, r: dict, test: str) -> str:
    return (
        f"| {cell} | {r['seed']} | {test} | {100 * r['test_accuracy']:.2f} | "
        f"{100 * r['valid_accuracy']:.2f} | {r['train_seconds']:.0f} | {r['ms_per_step']:.1f} | "
        f"{r['features_ms']:.2f} | {r['model_ms']:.2f} | {r['parameters']:,} |"
    )


def silence(args: argparse.Namespace | None = None, quiet_db: float = 30.0) -> dict:
    """Per speaker, over all its clips (medians): frames (10 ms) before the first and after the
    last frame within ``quiet_db`` of the clip's loudest mel energy, and the noise floor, the
    5th percentile of the clip's log-mel energies, in dB below its loudest. Written to
    results/speech_silence.json; the reason for ``--trim-db`` and ``--top-db``."""
    from rnnkit.data import registry
    from rnnkit.data.audio import read_audio, read_fsdd
    from rnnkit.data.features import FeatureConfig, log_mel, loud_span

    torch.set_num_threads(1)
    config = FeatureConfig(top_db=200.0)  # no floor: the recording's own
    clips, who, _ = read_fsdd(registry.locate_folder("fsdd"))
    measured: dict[str, list[tuple[float, float, float]]] = {}
    for path, speaker in zip(clips.paths, who):
        decibels = log_mel(read_audio(path, config.sample_rate), config)  # (n_mels, T)
        first, last = loud_span(decibels, quiet_db)
        lead, trail = first, decibels.shape[1] - 1 - last
        floor = float(torch.quantile(decibels.flatten(), 0.05) - decibels.max())
        measured.setdefault(speaker, []).append((lead, trail, floor))
    table = {
        speaker: {
            "clips": len(rows),
            "lead_frames": statistics.median(r[0] for r in rows),
            "trail_frames": statistics.median(r[1] for r in rows),
            "floor_db": round(statistics.median(r[2] for r in rows), 1),
        }
        for speaker, rows in sorted(measured.items())
    }
    (RESULTS / "speech_silence.json").write_text(json.dumps(table, indent=1) + "\n")
    print("speaker    clips  lead  trail  floor dB (median per clip)")
    for speaker, row in table.items():
        print(
            f"{speaker:10s} {row['clips']:5d} {row['lead_frames']:5.0f} {row['trail_frames']:6.0f}"
            f"  {row['floor_db']:8.1f}"
        )
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("official", "the official split"),
        ("speakers", "leave one speaker out, every fold"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--cells", nargs="+", default=["gru", "lstm"])
        command.add_argument("--seeds", type=int, nargs="+", default=[0])
        command.add_argument("--threads", type=int, default=2)
        command.add_argument(
            "--variant",
            default=RECIPE_VARIANT,
            help="record the runs under this name (runs/bench-speech/CELL-VARIANT-sSEED)",
        )
        command.add_argument("extra", nargs="*", help="options over the recipe's (after --)")
        if name == "speakers":
            command.add_argument("--speakers", nargs="+", help="default: all six")
        command.set_defaults(handler=protocol)
    commands.add_parser("report", help="rewrite speech.md").set_defaults(handler=report)
    commands.add_parser("silence", help="silence and noise floor per speaker").set_defaults(
        handler=silence
    )
    args = parser.parse_args(argv)
    args.handler(args)


if __name__ == "__main__":
    main()
