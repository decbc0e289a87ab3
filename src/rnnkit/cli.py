"""Command-line interface: a thin shell over the Python API."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rnnkit`` console script."""
    print("rnnkit: no commands yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
