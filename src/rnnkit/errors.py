"""The one exception type for bad user input: the CLI prints its message and exits with code 2."""


class InputError(ValueError):
    """A problem with what the user gave (a file, an option, a run directory), stated in one line.

    The message names the problem: which file, which line or column, what was expected.
    """
