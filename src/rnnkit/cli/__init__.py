"""``rnnkit``: the command line, a thin shell over the Python API.

    rnnkit train TASK [options] --out RUN     train a model (tasks: see ``rnnkit train --help``)
    rnnkit sample RUN [options]               generate text from a language model
    rnnkit evaluate RUN [options]             score a run on its test/validation data

Every problem with what the user gave is an :class:`rnnkit.errors.InputError`: it is printed as
one line on stderr and the exit code is 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from importlib import import_module

from rnnkit.errors import InputError

# task name -> module with add_train_parser(tasks), evaluate(args, config) and, optionally,
# add_commands(commands) for the task's own commands (sample, forecast, classify, translate)
TASKS = {
    "lm": "rnnkit.cli.lm",
    "forecast": "rnnkit.cli.forecast",
    "classify": "rnnkit.cli.classify",
    "translate": "rnnkit.cli.translate",
}


def task_module(task: str):
    if task not in TASKS:
        raise InputError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return import_module(TASKS[task])


def available_tasks() -> list[str]:
    """The tasks whose CLI module is installed (all of them in a complete install)."""
    names = []
    for name, module in TASKS.items():
        try:
            import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:
                raise
            continue
        names.append(name)
    return names


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2 like every other bad input."""

    def error(self, message: str) -> None:
        raise InputError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rnnkit", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    train = commands.add_parser("train", help="train a model")
    tasks = train.add_subparsers(dest="task", required=True, parser_class=_Parser)
    names = available_tasks()
    for name in names:
        task_module(name).add_train_parser(tasks)
    for name in names:
        module = task_module(name)
        if hasattr(module, "add_commands"):
            module.add_commands(commands)
    evaluate = commands.add_parser("evaluate", help="evaluate a run; writes RUN/eval.json")
    evaluate.add_argument("run", help="a run directory (the --out of rnnkit train)")
    evaluate.add_argument("--data", help="evaluate on this data instead of the run's own split")
    evaluate.set_defaults(handler=_evaluate)
    from rnnkit.cli.study import add_commands as add_study_commands

    add_study_commands(commands)
    return parser


def _evaluate(args: argparse.Namespace) -> int:
    from rnnkit.training.run import load_run

    config = load_run(args.run)
    return task_module(config["task"]).evaluate(args, config)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rnnkit`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "config", None):  # a TOML file's values become defaults; flags win
            from rnnkit.cli.options import apply_config_file

            apply_config_file(args.parser, args.config)
            args = parser.parse_args(argv)
        logging.basicConfig(
            level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s"
        )
        return args.handler(args)
    except InputError as error:
        print(f"rnnkit: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `rnnkit sample RUN | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
