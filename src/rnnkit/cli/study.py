"""``rnnkit study``: many trainings compared, as one resumable, parallel command on Optuna.

    rnnkit study run STUDY.toml --out DIR [--workers N] [--storage URL]
    rnnkit study report DIR [--storage URL]     trials.csv, report.md and figures in DIR
    rnnkit study status DIR [--storage URL]     trials by state and the best so far

Running the same ``study run`` again continues an interrupted study: complete trials are kept,
interrupted ones resume from their last checkpoint. The study file's format is in
:mod:`rnnkit.studies.spec`; the engine in :mod:`rnnkit.studies.engine`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnkit.errors import InputError

STORAGE_HELP = (
    "an Optuna RDB storage URL (default: sqlite:///DIR/study.db); give every machine the same "
    "one (postgresql://...) to run a study's workers on several machines"
)


def add_commands(commands) -> None:
    """Add ``rnnkit study run|report|status`` to the top-level subcommands."""
    study = commands.add_parser(
        "study", help="run, report and inspect a study (many trainings compared, on Optuna)"
    )
    actions = study.add_subparsers(dest="study_command", required=True, parser_class=type(study))
    run = actions.add_parser("run", help="run (or continue) the trials of a study file")
    run.add_argument("file", help="the study file (TOML; see rnnkit.studies.spec)")
    run.add_argument("--out", help="the study directory (default runs/studies/<name>)")
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        help="trials run at once, each in its own process with cores // N threads (default 1)",
    )
    run.add_argument("--storage", help=STORAGE_HELP)
    run.set_defaults(handler=_run)
    for name, handler, text in (
        ("report", _report, "write trials.csv, report.md and the figures into DIR"),
        ("status", _status, "trials by state and the best so far"),
    ):
        command = actions.add_parser(name, help=text)
        command.add_argument("dir", help="a study directory (the --out of rnnkit study run)")
        command.add_argument("--storage", help=STORAGE_HELP)
        command.set_defaults(handler=handler)


def _run(args: argparse.Namespace) -> int:
    from rnnkit.studies import engine, trial
    from rnnkit.studies.report import write_report
    from rnnkit.studies.spec import load_spec
    from rnnkit.training import distributed

    if distributed.launched():
        raise InputError(
            "rnnkit study run trains each trial in one process: start it without torchrun "
            "(--workers N runs N trials at once; several machines share a study with --storage URL)"
        )
    spec = load_spec(args.file)
    out = Path(args.out or Path("runs", "studies", spec.name))
    engine.say(
        f"study {spec.name}: {spec.total_trials} trials ({spec.configurations} configurations x "
        f"{len(spec.seeds)} seeds), {args.workers} worker(s), in {out}"
    )
    result = engine.run_study(spec, out, args.workers, args.storage, runner=trial.run_trial)
    counts = result["counts"]
    line = (
        f"study {spec.name}: {counts['complete']} completed, {counts['failed']} failed, "
        f"{counts['pruned']} pruned ({result['seconds'] / 60:.1f} min)"
    )
    left = counts["to start"] + counts["running"] + counts["waiting"]
    if left:
        line += f"; {left} trials left: run the same command again to continue"
        engine.say(line)
    else:
        study, spec = engine.load_study_dir(out, args.storage)
        engine.say(f"{line}; report: {write_report(study, spec, out)}")
    return 130 if result["interrupted"] else 0


def _report(args: argparse.Namespace) -> int:
    from rnnkit.studies.engine import load_study_dir
    from rnnkit.studies.report import write_report

    study, spec = load_study_dir(args.dir, args.storage)
    print(write_report(study, spec, args.dir))
    return 0


def _status(args: argparse.Namespace) -> int:
    from rnnkit.studies.engine import describe, load_study_dir, progress
    from rnnkit.studies.report import configurations, trial_rows

    study, spec = load_study_dir(args.dir, args.storage)
    counts = progress(study, spec)
    states = ("complete", "failed", "pruned", "running", "waiting", "to start")
    print(
        f"study {spec.name} ({spec.task}, {spec.direction} {spec.metric}): "
        f"{spec.total_trials} trials"
    )
    line = ", ".join(f"{state} {counts[state]}" for state in states)
    if counts["interrupted"]:
        line += f" (interrupted and continued: {counts['interrupted']})"
    print(f"  {line}")
    best = counts["best"]
    if best is not None:
        print(
            f"  best trial: {best['number']}, {spec.metric} {best['value']:.4g} "
            f"[{describe(best['params'])}]"
        )
        config = configurations(trial_rows(study, spec), spec)[0]
        mean, sd = config.mean_sd()
        spread = "" if sd is None else f" ± {sd:.2g}"
        print(
            f"  best configuration: {spec.metric} {mean:.4g}{spread} over "
            f"{len(config.by_seed)} seed(s) [{describe(config.options)}]"
        )
    return 0
