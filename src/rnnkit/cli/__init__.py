"""``rnnkit``: the command line, a thin shell over the Python API (:mod:`rnnkit.api`).

    rnnkit train TASK [options] --out RUN     train a model (tasks: see ``rnnkit train --help``)
    rnnkit evaluate RUN [options]             score a run on its test/validation data
    rnnkit diagnose RUN [options]             gradient per time step, gates, recurrent spectra
    rnnkit sample | forecast | classify | translate RUN ...   use a trained run
    rnnkit export RUN --out model.onnx        the model as an ONNX graph

Every problem with what the user gave is an :class:`rnnkit.errors.InputError`: it is printed as
one line on stderr and the exit code is 2. Options and positional arguments may come in any order.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from importlib import import_module

from rnnkit.errors import InputError

# modules that add a task's own commands (add_commands(commands)): sample, forecast, ...
COMMANDS = (
    "rnnkit.cli.lm",
    "rnnkit.cli.forecast",
    "rnnkit.cli.classify",
    "rnnkit.cli.translate",
    "rnnkit.cli.export",
    "rnnkit.cli.study",
    "rnnkit.cli.diagnose",
)


class Parser(argparse.ArgumentParser):
    """argparse with two changes: a usage error is one line and exit code 2 like every other bad
    input, and options and positionals may be intermixed (``rnnkit classify RUN --all "text"``)."""

    _intermixing = False

    def error(self, message: str) -> None:
        raise InputError(f"{self.prog}: {message}")

    def parse_known_args(self, args=None, namespace=None):
        has_commands = any(isinstance(a, argparse._SubParsersAction) for a in self._actions)
        if has_commands or self._intermixing:
            return super().parse_known_args(args, namespace)
        self._intermixing = True  # parse_known_intermixed_args calls back into this method
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def build_parser() -> argparse.ArgumentParser:
    from rnnkit import __version__
    from rnnkit.cli import train

    parser = Parser(prog="rnnkit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    train.add_commands(commands)
    for module in COMMANDS:
        import_module(module).add_commands(commands)
    evaluate = commands.add_parser("evaluate", help="evaluate a run; writes RUN/eval.json")
    evaluate.add_argument("run", help="a run directory (the --out of rnnkit train)")
    evaluate.add_argument("--data", help="evaluate on this data instead of the run's own split")
    evaluate.add_argument("--threads", type=int, help="torch CPU threads")
    add_engine_argument(evaluate)
    evaluate.set_defaults(handler=_evaluate)
    return parser


def add_engine_argument(parser: argparse.ArgumentParser) -> None:
    """``--engine torch|onnxruntime`` of the commands that can run the exported graph."""
    parser.add_argument(
        "--engine",
        default="torch",
        choices=("torch", "onnxruntime"),
        help="torch, or onnxruntime: export the run to ONNX and run the graph (needs the "
        "[export] extra; eval results go to eval.onnxruntime.json)",
    )


def set_threads(threads: int | None) -> None:
    """``--threads N`` of the commands that compute."""
    if threads is None:
        return
    if threads < 1:
        raise InputError(f"--threads must be positive, got {threads}")
    import torch

    torch.set_num_threads(threads)


def _evaluate(args: argparse.Namespace) -> int:
    from rnnkit import api

    set_threads(args.threads)
    result = api.evaluate(args.run, args.data, args.engine)
    print(json.dumps(result, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rnnkit`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
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
