"""The Python API: train, load and evaluate runs of any task. The CLI is a thin shell over it.

    summary = rnnkit.train("forecast", {"hidden": 16, "max-steps": 50}, out="runs/sine")
    rnnkit.evaluate("runs/sine")["metrics"]["model"]["mse"]

Options are named as on the command line (``hidden``, ``max-steps``; field names such as
``hidden_size`` work too) with the types of a ``--config`` TOML file.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rnnkit import config as options
from rnnkit import tasks
from rnnkit.errors import InputError, check_interrupted

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed every generator that builds or trains a model (torch, Python, NumPy)."""
    import numpy as np
    import torch

    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def configure(task: str, config: Mapping[str, Any] | None = None, where: str = "") -> dict:
    """The checked option sections of a new run of ``task`` (what config.json will hold)."""
    return tasks.get(task).resolve(config or {}, where)


def _resumed(spec, run: Path, config: Mapping[str, Any], where: str) -> tuple[dict, dict]:
    """A run's stored sections, with the budget options in ``config`` applied, and its
    config.json; any other option that differs from the stored one is refused."""
    from rnnkit.training.run import load_run, started
    from rnnkit.training.trainer import BUDGET, RUNTIME

    stored = load_run(run, spec.name)
    if not started(run):
        raise InputError(
            f"{run}: nothing to resume (it stopped before its first checkpoint); start it again "
            "without --resume"
        )
    sections = spec.from_stored(stored, str(run / "config.json"))
    given = options.normalise(spec.classes, config, where)
    for section, values in given.items():
        for name, value in values.items():
            if name in BUDGET or name in RUNTIME:
                setattr(sections[section], name, value)
                continue
            before = getattr(sections[section], name)
            field = next(f for f in options.options_of(spec.classes[section]) if f.name == name)
            if spec.absolute(field, value) != before:  # a path is compared as an absolute one
                raise InputError(
                    f"--{options.flag_name(field)} {value} differs from the run's "
                    f"{before} ({run / 'config.json'}); at --resume only "
                    f"{', '.join('--' + b.replace('_', '-') for b in BUDGET)} may change"
                )
    for section, cls in spec.classes.items():  # the changed budget is checked like a new one
        sections[section] = options.build(cls, asdict(sections[section]))
    return sections, stored


def train(
    task: str,
    config: Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    *,
    resume: bool = False,
    on_evaluate: Callable[[dict], bool | None] | None = None,
    where: str = "",
) -> dict:
    """Train a run of ``task`` into ``out`` (default ``runs/<task>``) and return its summary.

    ``config`` holds options by flag name, typed as in TOML. Everything random is seeded from
    ``seed`` before the model is built. ``resume=True`` continues the run in ``out`` from its own
    config.json; ``config`` may then change only the budget (``max-steps``, ``epochs``,
    ``time-budget``, ``early-stopping``, ``eval-every``) and how the run executes (``threads``,
    ``progress``, ``tensorboard``). ``on_evaluate(record)`` sees every evaluation's record and
    stops training by returning True.

    Under torchrun every process calls this with the same arguments
    (:mod:`rnnkit.training.distributed`): they train one run together, process 0 writes it, and
    config.json records ``world_size`` and ``backend``. An error in any process is raised in all.

    Returns the trainer's summary plus ``out`` and ``parameters``. Raises :class:`InputError` for
    bad options or data and :class:`rnnkit.training.trainer.TrainingDiverged` for a NaN loss.
    """
    import torch

    from rnnkit.training import distributed
    from rnnkit.training.run import (
        check_new_run,
        check_sources,
        create_run,
        lock_run,
        record_sources,
    )
    from rnnkit.training.trainer import Trainer

    spec = tasks.get(task)
    run = Path(out or f"runs/{task}")
    config = config or {}
    processes = distributed.start()
    with contextlib.ExitStack() as held:
        with processes.together():  # every process checks and builds; one error stops all
            if resume:
                if run.is_dir() and processes.leads:  # (else load_run says there is no run)
                    held.enter_context(lock_run(run))  # before anything is read
                sections, stored = _resumed(spec, run, config, where)
                check_sources(
                    run,
                    stored,
                    hint="; resuming would train on other data: restore the file, or train a new "
                    "run",
                )
            else:
                sections = spec.resolve(config, where)
                check_new_run(run)  # before the data is read
            train_config = sections["train"]
            if train_config.threads:
                torch.set_num_threads(train_config.threads)
            seed_everything(train_config.seed)  # before anything random is built
            built = spec.build(sections, run, resume)
            parameters = sum(p.numel() for p in built.model.parameters())
        with processes.together():
            if not resume and processes.leads:
                held.enter_context(lock_run(run))  # the folder is made here, once all is checked
                record = {name: asdict(section) for name, section in sections.items()}
                sources = record_sources(spec.data_files(sections))
                built.save(run)  # the artifacts first: config.json, written last, marks a run
                create_run(
                    run,
                    {
                        "task": task,
                        **record,
                        "sizes": built.model.sizes,
                        **built.record,
                        "sources": sources,
                        "world_size": processes.world_size,
                        "backend": processes.backend,
                    },
                )
        # every process alike (the checks are the same), then the replicas are made together
        trainer = Trainer(built.task, train_config, run, on_evaluate)
        if resume:
            with processes.together():
                trainer.load_last()  # a damaged state is one line, before any other
        check_interrupted()  # a Ctrl-C that a library swallowed while loading: do not train
        logger.info("rnnkit: %s run %s: %s", task, run, built.describe)
        summary = trainer.fit(resume=resume)
    return {**summary, "out": str(run), "parameters": parameters}


def load(run: str | Path, engine: str = "torch") -> Any:
    """A trained run with its best weights: ``.model``, ``.config`` and the task's artifacts.

    ``engine="onnxruntime"``: ``.model`` is the run's exported ONNX graph in onnxruntime, answering
    the calls the task's evaluation and generation make (:mod:`rnnkit.onnxengine`)."""
    from rnnkit import onnxengine

    onnxengine.check_engine(engine)
    task = task_of(run)
    loaded = tasks.get(task).load(run)
    if engine == "onnxruntime":
        loaded = onnxengine.through_onnxruntime(loaded, run, task)
    return loaded


def evaluate(
    run: str | Path,
    data: str | None = None,
    report: Callable[[dict], None] | None = None,
    engine: str = "torch",
) -> dict:
    """Score a run's best weights on its own test data, write ``RUN/eval.json`` and return it;
    ``result["valid"]`` holds the validation metrics. With ``data``, score that file or dataset
    and write ``RUN/eval-NAME.json``. ``report(result)`` sees the result before any file is
    written (the CLI prints it, so that a run folder that cannot be written loses nothing).

    The run's own data files are checked against the sha256 stored with the run; a missing or
    changed file is an InputError (pass ``data`` to score another file on purpose).
    ``engine="onnxruntime"`` scores the exported graph with the same code and writes
    ``RUN/eval.onnxruntime.json`` instead (eval.json stays the PyTorch model's)."""
    from rnnkit import onnxengine
    from rnnkit.io import write_json

    onnxengine.check_engine(engine)
    spec = tasks.get(task_of(run))
    if engine == "torch":
        return spec.evaluate(run, data, report)
    spec = copy.copy(spec)  # the same spec, whose load hands over the graph
    spec.load = lambda run: load(run, engine)
    written = Path(run) / "eval.json"
    before = written.read_bytes() if written.is_file() else None
    try:
        result = {**spec.evaluate(run, data), "engine": engine}
    finally:  # eval.json stays the PyTorch model's
        if before is None:
            written.unlink(missing_ok=True)
        else:
            written.write_bytes(before)
    if report is not None:
        report(result)
    write_json(Path(run) / f"eval.{engine}.json", result)
    return result


def export(run: str | Path, out: str | Path, format: str = "onnx") -> dict:
    """Export a run's model to ``out`` (:mod:`rnnkit.onnx_export`); returns the sidecar written
    beside it (``out + ".json"``)."""
    from rnnkit.onnx_export import FORMATS, export_onnx

    if format not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    task = task_of(run)
    return export_onnx(run, tasks.get(task).load(run), task, out)


def diagnose(
    run: str | Path,
    data: str | None = None,
    batches: int = 4,
    report: Callable[[dict], None] | None = None,
) -> dict:
    """How a run's recurrent layer passes gradient back through time: ||dL/dh_t|| per step on
    its first ``batches`` training batches (of ``data`` instead, when given), gate saturation,
    the spectra of its recurrent weights and how often clipping fired. ``report(result)`` sees
    the result before any file is written; then writes ``RUN/diagnostics.json`` and its figures
    and returns the JSON (:meth:`TaskSpec.diagnose`). The run's own data files are checked
    against the sha256 stored with the run, as for :func:`evaluate`."""
    if batches < 1:
        raise InputError(f"--batches must be positive, got {batches}")
    return tasks.get(task_of(run)).diagnose(run, data, batches, report)


def task_of(run: str | Path) -> str:
    """The task that trained ``run`` (from its config.json)."""
    from rnnkit.training.run import load_run

    return load_run(run)["task"]


def parse_options(task: str, argv: list[str]) -> dict:
    """Options written as ``rnnkit train TASK`` arguments (``["--hidden", "64", "--config",
    "recipe.toml"]``) as the dict :func:`train` takes: what benchmarks use to record the
    commands they run."""
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:
            raise InputError(message)

    spec = tasks.get(task)
    parser = Parser(prog=f"rnnkit train {task}")
    parser.add_argument("--config")
    options.add_arguments(parser, spec)
    return options.given(parser.parse_args(argv), spec)
