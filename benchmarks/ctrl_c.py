"""Ctrl-C while rnnkit starts up: how often each SIGINT handler ends the process cleanly.

A child Python installs a handler, then imports what ``rnnkit train`` imports (torch, numpy,
rnnkit's parser); the parent sends SIGINT after a random delay in [LO, HI] seconds. Two handlers,
side by side on the same delays:

- ``raise``: raise KeyboardInterrupt at once (what rnnkit did until 2026-11-27);
- ``rnnkit``: :func:`rnnkit.errors.interrupt`, which waits until no import is in progress.

A clean end is exit code 130 with no traceback. Raising inside torch's pybind11 initialisation
aborts the process (exit status -6); raising inside numpy's leaves it half imported. Exit code 0
means the Ctrl-C was lost: the imports take about 1.3 s, longer than any delay, so the signal
came during them, and a library caught the KeyboardInterrupt and carried on
(``results/ctrl_c.json`` was written while this end was still labelled "finished before the
signal").

    python benchmarks/ctrl_c.py --trials 300 --low 0.15 --high 0.4
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

CHILD = """
import signal, sys
if sys.argv[1] == "raise":
    def handler(signum, frame):
        raise KeyboardInterrupt
else:
    from rnnkit.errors import interrupt as handler
signal.signal(signal.SIGINT, handler)
print("ready", flush=True)
try:
    import torch, numpy, rnnkit.cli
    from rnnkit.errors import check_interrupted
    rnnkit.cli.build_parser()
    check_interrupted()  # both: a swallowed Ctrl-C still stops here
except KeyboardInterrupt:
    sys.exit(130)
"""


def trial(handler: str, delay: float) -> str:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, handler], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    child.stdout.readline()  # the handler is installed
    time.sleep(delay)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=120)
    if child.returncode == 130 and b"Traceback" not in err:
        return "130, clean"
    if child.returncode == 0:
        return "0, Ctrl-C lost (ran to the end)"
    return f"{child.returncode}, " + ("traceback" if b"Traceback" in err else "no traceback")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--low", type=float, default=0.15, help="shortest delay (s)")
    parser.add_argument("--high", type=float, default=0.4, help="longest delay (s)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/ctrl_c.json")
    args = parser.parse_args()
    delays = [random.Random(i).uniform(args.low, args.high) for i in range(args.trials)]
    results = {}
    for handler in ("raise", "rnnkit"):
        with ThreadPoolExecutor(args.workers) as pool:
            ends = list(pool.map(trial, [handler] * len(delays), delays))
        results[handler] = dict(collections.Counter(ends).most_common())
        print(handler, results[handler], flush=True)
    record = {"trials": args.trials, "delay_s": [args.low, args.high], "ends": results}
    with open(args.out, "w") as f:
        json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
