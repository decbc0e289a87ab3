"""``rnnkit train <task>``: one generic command per registered task, with options made from the
task's configuration dataclasses and help that shows the default that applies to that task."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rnnkit import config as options
from rnnkit import tasks

logger = logging.getLogger(__name__)


def add_commands(commands) -> None:
    train = commands.add_parser("train", help="train a model")
    subparsers = train.add_subparsers(dest="task", required=True, parser_class=type(train))
    for name in tasks.names():
        add_task_parser(subparsers, tasks.get(name))


def add_task_parser(subparsers, spec) -> argparse.ArgumentParser:
    """``rnnkit train <spec.name>`` with one flag per option of every section."""
    parser = subparsers.add_parser(spec.name, help=spec.help, description=spec.description)
    parser.add_argument("--config", help="a TOML file with any of these options; flags override it")
    parser.add_argument("--out", help=f"the run directory to create (default runs/{spec.name})")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its own config.json (only the budget options "
        "may change)",
    )
    options.add_arguments(parser, spec)
    parser.set_defaults(handler=run_training, spec=spec)
    return parser


def run_training(args: argparse.Namespace) -> int:
    """Train through :func:`rnnkit.api.train`; one line on how it ended; the exit code (0 done,
    1 diverged, 130 interrupted: the state is saved and ``--resume`` continues it)."""
    from rnnkit import api
    from rnnkit.cli import say
    from rnnkit.training import distributed
    from rnnkit.training.trainer import TrainingDiverged, describe_stop

    spec = args.spec
    out = Path(args.out or f"runs/{spec.name}")
    where = f"{args.config}: " if args.config else ""
    given = options.given(args, spec)
    if getattr(args, "quiet", False):
        given["progress"] = False
    try:
        summary = api.train(spec.name, given, out, resume=args.resume, where=where)
    except TrainingDiverged as error:
        say(f"rnnkit: {error}")
        return 1
    finally:
        distributed.finish()  # under torchrun: leave the process group
    line = describe_stop(summary, out, spec.unit)
    if summary["stop_reason"] == "interrupted":
        say(line)  # even with --quiet: the exit code alone does not say why
        return 130
    logger.info("%s; next: rnnkit evaluate %s", line, out)
    return 0
