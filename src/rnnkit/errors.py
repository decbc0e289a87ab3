"""The exceptions the CLI turns into one line: bad input (exit 2) and a full disk (exit 1)."""


class InputError(ValueError):
    """A problem with what the user gave (a file, an option, a run directory), stated in one line.

    The message names the problem: which file, which line or column, what was expected.
    """


class StorageFull(RuntimeError):
    """The disk (or a file-size limit) ran out while writing a file; every file saved before is
    intact, because files are replaced only once they are complete. The CLI exits with code 1."""
