"""``rnnkit``: the command line, a thin shell over the Python API (:mod:`rnnkit.api`).

    rnnkit train TASK [options] --out RUN     train a model (tasks: see ``rnnkit train --help``)
    rnnkit evaluate RUN [options]             score a run on its test/validation data
    rnnkit diagnose RUN [options]             gradient per time step, gates, recurrent spectra
    rnnkit sample | forecast | classify | translate RUN ...   use a trained run
    rnnkit data list                          the registered datasets and where each is found
    rnnkit export RUN --out model.onnx        the model as an ONNX graph

Every problem with what the user gave is an :class:`rnnkit.errors.InputError`: it is printed as
one line on stderr and the exit code is 2. A full disk is exit code 1 (as a failed training is),
Ctrl-C or SIGTERM exit code 130. Options and positional arguments may come in any order, and
``-v``/``-q`` may follow the command.

Under torchrun (``torchrun --nproc-per-node N $(which rnnkit) train ...``) process 0 speaks for
all: the other processes print no messages, and an error in any of them reaches process 0
(:mod:`rnnkit.training.distributed`), which prints its one line; every process exits with the
same code.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import signal
import sys
from importlib import import_module

from rnnkit.errors import (
    InputError,
    StorageFull,
    check_interrupted,
    forget_interrupt,
    interrupt,
    interrupted,
    stop_retrying,
)

# modules that add their own commands (add_commands(commands)): sample, forecast, ..., data
COMMANDS = (
    "rnnkit.cli.lm",
    "rnnkit.cli.forecast",
    "rnnkit.cli.classify",
    "rnnkit.cli.translate",
    "rnnkit.cli.export",
    "rnnkit.cli.study",
    "rnnkit.cli.diagnose",
    "rnnkit.cli.data",
)
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class Parser(argparse.ArgumentParser):
    """argparse with two changes: a usage error is one line and exit code 2 like every other bad
    input, and options and positionals may be intermixed (``rnnkit classify RUN --all "text"``)."""

    _intermixing = False

    def error(self, message: str) -> None:
        command = self.prog.removeprefix("rnnkit").strip()  # main prints "rnnkit: error: "
        raise InputError(f"{command}: {message}" if command else message)

    def parse_known_args(self, args=None, namespace=None):
        has_commands = any(isinstance(a, argparse._SubParsersAction) for a in self._actions)
        if has_commands or self._intermixing:
            return super().parse_known_args(args, namespace)
        self._intermixing = True  # parse_known_intermixed_args calls back into this method
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def add_verbosity(parser: argparse.ArgumentParser, default=argparse.SUPPRESS) -> None:
    """``-v``/``-q`` on ``parser``; on a command's parser they default to SUPPRESS, so that
    ``rnnkit -v train ...`` and ``rnnkit train ... -v`` mean the same."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v", "--verbose", action="store_true", default=default, help="log rnnkit's debug messages"
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default,
        help="print only results and errors: no progress bar, no status lines",
    )


def add_threads(parser: argparse.ArgumentParser) -> None:
    """``--threads N`` of the commands that compute."""
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")


def _commands_of(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every command parser under ``parser`` (``train``, ``train lm``, ``sample``, ...)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in dict.fromkeys(action.choices.values()):
                found += [command, *_commands_of(command)]
    return found


def build_parser() -> argparse.ArgumentParser:
    from rnnkit import __version__
    from rnnkit.cli import train

    parser = Parser(prog="rnnkit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    add_verbosity(parser, default=False)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    train.add_commands(commands)
    for module in COMMANDS:
        import_module(module).add_commands(commands)
    evaluate = commands.add_parser(
        "evaluate",
        help="evaluate a run; writes RUN/eval.json",
        description="Score a run's best weights on its own test data and write RUN/eval.json, "
        "or on --data FILE and write RUN/eval-FILE.json. The metrics are printed first.",
    )
    evaluate.add_argument("run", help="a run directory (the --out of rnnkit train)")
    evaluate.add_argument("--data", help="evaluate on this data instead of the run's own split")
    add_threads(evaluate)
    add_engine_argument(evaluate)
    evaluate.set_defaults(handler=_evaluate)
    for command in _commands_of(parser):
        add_verbosity(command)
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

    def report(result: dict) -> None:  # before any file is written: a failed write loses nothing
        try:
            print(json.dumps(result, indent=2), flush=True)
        except BrokenPipeError:  # `rnnkit evaluate RUN | head`: eval.json is still written
            _silence_stdout()

    api.evaluate(args.run, args.data, report=report, engine=args.engine)
    return EXIT_OK


def _silence_stdout() -> None:
    """Send what is left of stdout to /dev/null once its reader has gone (a closed pipe)."""
    import contextlib
    import os

    with contextlib.suppress(OSError, ValueError):  # stdout already closed or not a file
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class _Stderr(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is at the time (tests replace it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging(verbose: bool = False, quiet: bool = False) -> None:
    """rnnkit's messages on stderr: info lines by default, debug with ``-v``, warnings only with
    ``-q``. Other libraries' loggers stay at their own levels (no debug floods with ``-v``)."""
    logger = logging.getLogger("rnnkit")
    logger.handlers = [h for h in logger.handlers if not isinstance(h, _Stderr)]
    handler = _Stderr()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    from rnnkit.training import distributed

    if not distributed.leads():  # under torchrun, process 0 speaks for all
        logger.setLevel(logging.ERROR)


def say(line: str) -> None:
    """Print one line on stderr (under torchrun, only process 0 does)."""
    from rnnkit.training import distributed

    if distributed.leads():
        print(line, file=sys.stderr)


def _handle(signum: int, handler):
    """Install a signal handler (only the main thread may); return the previous one."""
    try:
        return signal.signal(signum, handler)
    except (ValueError, TypeError):  # not the main thread, or no handler to restore
        return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rnnkit`` console script; returns the exit code: 0 done, 1 training
    failed (or the disk is full), 2 bad input, 130 interrupted."""
    argv = sys.argv[1:] if argv is None else argv
    forget_interrupt()
    # SIGTERM (batch schedulers, ``timeout``) outside training stops as Ctrl-C does; both are
    # remembered, so one swallowed while a library loads still stops the command (the trainer
    # installs its own handlers while it trains)
    previous = {signum: _handle(signum, interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
    if hasattr(signal, "SIGALRM"):  # interrupt() retries by SIGALRM after an import
        previous[signal.SIGALRM] = signal.getsignal(signal.SIGALRM)
    try:
        args = build_parser().parse_args(argv)
        configure_logging(args.verbose, args.quiet)
        code = args.handler(args)
        check_interrupted()
        return code
    except InputError as error:
        say(f"rnnkit: error: {error}")
        return EXIT_BAD_INPUT
    except StorageFull as error:
        say(f"rnnkit: error: {error}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        say("rnnkit: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `rnnkit sample RUN | head`
        _silence_stdout()
        return EXIT_OK
    except OSError as error:  # a file the layers above did not name: still one line
        where = f"{error.filename}: " if error.filename else ""
        say(f"rnnkit: error: {where}{error.strerror or error}")
        full = error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        return EXIT_FAILED if full else EXIT_BAD_INPUT
    except Exception:
        if interrupted():  # what broke after a Ctrl-C that a library swallowed (a half import)
            stop_retrying()
            print("rnnkit: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        raise
    finally:
        stop_retrying()
        for signum, handler in previous.items():
            _handle(signum, handler)


if __name__ == "__main__":
    sys.exit(main())
