"""The exceptions the CLI turns into one line: bad input (exit 2) and a full disk (exit 1); and
Ctrl-C before training handles it (exit 130), remembered in case a library swallows it."""

import signal

RETRY_S = 0.05  # how often a Ctrl-C that arrived during an import tries again
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
    :func:`check_interrupted` raises it again at the next point that checks.

    While a module is being imported it does not raise: an exception thrown into an extension
    module's initialisation can abort the whole process (torch's pybind11 code calls
    ``std::terminate``, exit status -6, with a C++ message instead of exit code 130). It tries
    again every ``RETRY_S`` seconds (SIGALRM) and raises once the import has finished."""
    global _interrupted
    _interrupted = True
    if _importing(frame) and hasattr(signal, "setitimer"):
        signal.signal(signal.SIGALRM, interrupt)
        signal.setitimer(signal.ITIMER_REAL, RETRY_S)
        return
    stop_retrying()
    raise KeyboardInterrupt


def _importing(frame) -> bool:
    """Whether ``frame`` runs inside an import (importlib's frames are on its stack)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def stop_retrying() -> None:
    """Cancel a pending retry of :func:`interrupt` (when the command ends)."""
    if hasattr(signal, "setitimer"):
        signal.setitimer(signal.ITIMER_REAL, 0)


def interrupted() -> bool:
    """Whether :func:`interrupt` ran (since :func:`forget_interrupt`)."""
    return _interrupted


def check_interrupted() -> None:
    """Raise KeyboardInterrupt if :func:`interrupt` ran and the interrupt was swallowed."""
    if _interrupted:
        stop_retrying()
        raise KeyboardInterrupt


def forget_interrupt() -> None:
    """Start afresh (each CLI command, when several run in one process)."""
    global _interrupted
    _interrupted = False
