"""Tasks: what each kind of run trains on, and how it is built, loaded and scored.

Each module here defines one :class:`rnnkit.tasks.spec.TaskSpec` as ``SPEC``; this registry is the
one list of them that the CLI, the Python API and studies read.
"""

from __future__ import annotations

from importlib import import_module

from rnnkit.errors import InputError

# task name -> module defining SPEC
TASKS = {
    "lm": "rnnkit.tasks.lm",
    "forecast": "rnnkit.tasks.forecast",
    "classify": "rnnkit.tasks.classify",
    "translate": "rnnkit.tasks.translate",
    "probe": "rnnkit.tasks.probe",
}


def get(name: str):
    """The :class:`~rnnkit.tasks.spec.TaskSpec` of task ``name``."""
    if name not in TASKS:
        raise InputError(f"unknown task {name!r}; expected one of {', '.join(TASKS)}")
    return import_module(TASKS[name]).SPEC


def names() -> list[str]:
    """Every registered task."""
    return list(TASKS)
