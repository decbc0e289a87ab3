"""A run directory: ``config.json`` says which task built it and how; every command reads it.

- config.json is written last when a run is created, after its artifacts (vocabulary, scaler,
  tokenizers, split): a folder with config.json has everything to rebuild the model.
- A run is *started* once it holds a checkpoint (``last.safetensors`` or ``model.safetensors``);
  a run that stopped before its first checkpoint may be created again in the same folder.
- ``config.json``'s ``sources`` holds the absolute path and sha256 of every file the user named
  that the run reads again (:func:`check_sources`).
- While a process trains a run it holds an OS lock on ``RUN/.lock`` (:func:`lock_run`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rnnkit.errors import InputError
from rnnkit.io import file_sha256, read_json, write_error, write_json

CONFIG = "config.json"
BEST = "model.safetensors"
LAST = "last.safetensors"
METRICS = "metrics.jsonl"
LOCK = ".lock"
SOURCES = "sources"


def started(run: str | Path) -> bool:
    """Whether ``run`` holds a checkpoint (a run that may be resumed or used)."""
    return (Path(run) / LAST).is_file() or (Path(run) / BEST).is_file()


def check_new_run(out: str | Path) -> None:
    """Refuse ``out`` for a new run: it holds a started run, or it cannot be created or written
    (checked before any data is read, so that nothing is built in vain)."""
    out = Path(out)
    if (out / CONFIG).exists() and started(out):
        raise InputError(
            f"{out} already holds a run; pass --resume to continue it or choose another --out"
        )
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"--out {out}: {existing} exists and is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: cannot create or write the run directory in {existing}")


def create_run(out: str | Path, config: dict[str, Any]) -> Path:
    """Make ``out`` a run directory holding ``config`` (refusing to overwrite a started run; a
    run that stopped before its first checkpoint is replaced)."""
    from rnnkit import __version__

    out = Path(out)
    check_new_run(out)
    write_json(out / CONFIG, {**config, "rnnkit_version": __version__})
    return out


def load_run(run: str | Path, task: str | None = None) -> dict[str, Any]:
    """Read a run's config.json, checking it is a run (of ``task``, when given)."""
    run = Path(run)
    if not run.is_dir():
        raise InputError(f"{run}: no such run directory")
    if not (run / CONFIG).is_file():
        raise InputError(
            f"{run}: not an rnnkit run (no {CONFIG}); give the --out of a training run"
        )
    config = read_json(run / CONFIG, "run configuration")
    if not isinstance(config, dict) or not isinstance(config.get("task"), str):
        raise InputError(f"{run / CONFIG}: not an rnnkit run configuration (no 'task')")
    if task is not None and config["task"] != task:
        raise InputError(f"{run}: is {a_run(config['task'])}, not {a_run(task)}")
    return config


def a_run(task: str) -> str:
    """``"an lm run"``, ``"a forecast run"``."""
    article = "an" if task == "lm" or task[:1] in tuple("aeiou") else "a"
    return f"{article} {task} run"


def stored(run: str | Path, config: Mapping[str, Any], *keys: str, kind: type | tuple = object):
    """``config[keys[0]][keys[1]]...``, or InputError naming config.json and the key when it is
    missing or not of ``kind``."""
    value: Any = config
    for depth, key in enumerate(keys):
        if not isinstance(value, Mapping) or key not in value:
            name = ".".join(keys[: depth + 1])
            raise InputError(f"{Path(run) / CONFIG}: has no key '{name}'; the file is damaged")
        value = value[key]
    wrong_bool = isinstance(value, bool) and kind in (int, float)
    if not isinstance(value, kind) or wrong_bool:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise InputError(
            f"{Path(run) / CONFIG}: key '{'.'.join(keys)}' should be {names}, got "
            f"{type(value).__name__}; the file is damaged"
        )
    return value


def stored_size(run: str | Path, config: Mapping[str, Any], name: str, default: int) -> int:
    """A size the model was built with (``config["sizes"][name]``); ``default`` for runs made
    before sizes were stored."""
    if "sizes" not in config:
        return default
    return stored(run, config, "sizes", name, kind=int)


def record_sources(files: Mapping[str, Path]) -> dict[str, dict[str, str]]:
    """``{option: {"path": absolute path, "sha256": ...}}`` of the files a run reads again."""
    return {
        name: {"path": os.path.abspath(path), "sha256": file_sha256(path)}
        for name, path in files.items()
    }


def check_sources(
    run: str | Path, config: Mapping[str, Any], names: tuple[str, ...] | None = None, hint=""
) -> None:
    """Refuse to read a run's own data again when a file (of options ``names``, default all)
    is missing or its sha256 differs from the one stored when the run was created. ``hint``
    ends the message (what the user can do instead)."""
    sources = config.get(SOURCES)
    if sources is None:
        return  # a run made before sources were stored
    stored(run, config, SOURCES, kind=dict)
    hint = hint or "; pass --data FILE to use another file on purpose"
    recorded = {
        name: (
            Path(stored(run, config, SOURCES, name, "path", kind=str)),
            stored(run, config, SOURCES, name, "sha256", kind=str),
        )
        for name in sources
    }
    for name, (path, digest) in recorded.items():
        if names is not None and name not in names:
            continue
        if not path.is_file():
            raise InputError(
                f"{path}: the run's --{name} file is missing (recorded in "
                f"{Path(run) / CONFIG}){hint}"
            )
        if file_sha256(path) != digest:
            raise InputError(
                f"{path}: the run's --{name} file changed since the run was created (its sha256 "
                f"differs from the one in {Path(run) / CONFIG}){hint}"
            )


@contextlib.contextmanager
def lock_run(run: str | Path) -> Iterator[None]:
    """Hold an exclusive OS lock on ``RUN/.lock`` (``fcntl.flock``, released when the process
    ends, even by kill -9) while training ``run``; InputError when another process holds it."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no lock
        yield
        return
    run = Path(run)
    path = run / LOCK
    try:
        run.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise write_error(path, error) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            process = f"process {holder}" if holder.isdigit() else "process"
            raise InputError(
                f"{run}: another rnnkit {process} is training this run (it holds {path}); "
                "wait for it to finish or stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def load_best_weights(run: str | Path, model) -> None:
    """Load a run's best weights (``model.safetensors``) into ``model``."""
    from rnnkit.training.checkpoint import load_model

    weights = Path(run) / BEST
    if not weights.is_file():
        raise InputError(f"{run}: has no trained weights yet (no {BEST})")
    load_model(weights, model)


def read_metrics(run: str | Path) -> list[dict[str, Any]]:
    """The trainer's evaluation records (``metrics.jsonl``), oldest first; [] when none."""
    path = Path(run) / METRICS
    if not path.is_file():
        return []
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: not the trainer's metrics ({error})") from None
