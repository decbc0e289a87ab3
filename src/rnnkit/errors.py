"""The exceptions the CLI turns into one line: bad input (exit 2) and a full disk (exit 1); and
Ctrl-C before training handles it (exit 130), remembered in case a library swallows it."""

_interrupted = False  # a SIGINT or SIGTERM reached :func:`interrupt`


class InputError(ValueError):
    """A problem with what the user gave (a file, an option, a run directory), stated in one line.

    The message names the problem: which file, which line or column, what was expected.
    """


class StorageFull(RuntimeError):
    """The disk (or a file-size limit) ran out while writing a file; every file saved before is
    intact, because files are replaced only once they are complete. The CLI exits with code 1."""


def interrupt(signum=None, frame=None) -> None:
    """The CLI's SIGINT and SIGTERM handler outside training: remember the signal and raise
    KeyboardInterrupt. It is remembered because a library may swallow that KeyboardInterrupt
    (numpy's first ``import numpy.random`` does, inside a Cython module's initialisation), so
    :func:`check_interrupted` raises it again at the next point that checks."""
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def interrupted() -> bool:
    """Whether :func:`interrupt` ran (since :func:`forget_interrupt`)."""
    return _interrupted


def check_interrupted() -> None:
    """Raise KeyboardInterrupt if :func:`interrupt` ran and the interrupt was swallowed."""
    if _interrupted:
        raise KeyboardInterrupt


def forget_interrupt() -> None:
    """Start afresh (each CLI command, when several run in one process)."""
    global _interrupted
    _interrupted = False
