"""The one place a study starts training: :func:`run_trial` calls the Python API.

The engine takes any function with :func:`run_trial`'s signature (a *runner*), so tests can give
it a fake that writes a run directory without training.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

# summary["stop_reason"] of a run that did not finish: stopped by the pruner, or by Ctrl-C/kill
STOPPED = "stopped by on_evaluate"
INTERRUPTED = "interrupted"
# the file a run directory must hold to be resumed
LAST = "last.safetensors"

Runner = Callable[..., dict]


def run_trial(
    task: str,
    options: Mapping[str, Any],
    out: Path,
    report: Callable[[dict], bool | None],
    resume: bool = False,
) -> dict:
    """Train ``task`` with ``options`` into the run directory ``out``; evaluate it if it finished.

    ``report`` gets every validation record and returns True to stop training (pruning).
    ``resume`` continues the run already in ``out`` from its own config.json (``options`` are
    then not passed: the run keeps the options it was started with).

    Returns ``{"summary": <rnnkit.train's summary>, "eval": <eval.json> or None}``; ``eval`` is
    None when training stopped early (pruned or interrupted), since such a run is not scored.
    Raises what :func:`rnnkit.train` raises (InputError, TrainingDiverged, ...).
    """
    from rnnkit import api

    summary = api.train(
        task, None if resume else dict(options), out, resume=resume, on_evaluate=report
    )
    finished = summary["stop_reason"] not in (STOPPED, INTERRUPTED)
    return {"summary": summary, "eval": api.evaluate(out) if finished else None}
