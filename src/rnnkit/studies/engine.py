"""Running a study on Optuna: trials in worker processes, each an ordinary rnnkit run directory.

The study directory DIR (``rnnkit study run STUDY.toml --out DIR``) holds

- ``study.db``: the Optuna study in SQLite, unless ``--storage`` names another Optuna RDB URL
  (``postgresql://...``), which lets workers on several machines share one study;
- ``study.json``: the study's name and file, so that ``report`` and ``status`` find it;
- ``trials/<number>/``: trial <number>'s run directory (config.json, metrics.jsonl, checkpoints,
  eval.json), to resume, evaluate or sample with the usual commands;
- ``report.md``, ``trials.csv`` and PNG figures (:mod:`rnnkit.studies.report`).

How trials are drawn:

- A grid study's sampler is Optuna's GridSampler over the grid options plus ``seed``: every
  (configuration, seed) is one trial.
- A search draws each configuration with TPE (``constant_liar``, for parallel workers) or random
  search while the seed is held at the first of ``seeds`` (PartialFixedSampler). Right after
  drawing, it enqueues the same configuration once for every other seed (``enqueue_trial``), so
  each configuration runs once per seed and the sampler learns from every seed's result.
  ``trials`` counts configurations: a search runs ``trials x len(seeds)`` trials.
- Workers take the next trial one at a time under a file lock (``DIR/.ask.lock``), so workers on
  one machine never draw the same grid point. Workers on several machines sharing a storage can,
  rarely, as Optuna documents for distributed grids; the report keeps the first result of a
  (configuration, seed).

Each trial's options are ``[base]``, its configuration and its seed, plus ``threads =
max(1, cores // workers)`` and ``progress = false`` unless the study sets them. A trial reports
its validation metric at every evaluation (``trial.report``), so a pruner can stop it; it ends

- COMPLETE with the validation metric of eval.json as its value;
- PRUNED when the pruner stopped it (not evaluated);
- FAIL with its one-line error in the user attribute ``error`` (the traceback is in
  ``trials/<number>/error.txt``); the other trials go on;
- FAIL and continued: a trial interrupted by Ctrl-C or ``kill`` saves its run and is re-queued
  (Optuna's RetryHeartbeatStaleTrialCallback: a WAITING copy with the same parameters and the
  attribute ``retry_history``). The copy takes over the run directory and resumes it from
  ``last.safetensors``, or starts it again when there is none. Trials left RUNNING by a process
  that died (SIGKILL, a crash) are found when ``study run`` starts again on the same machine (their
  process id is gone) or, on any machine, when their heartbeat is older than :data:`GRACE_S`.

COMPLETE trials are never trained again: rerunning ``study run`` on DIR only runs what is left.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import platform
import re
import shutil
import signal
import socket
import sys
import threading
import time
import traceback
import warnings
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rnnkit.errors import InputError
from rnnkit.io import read_json, write_json
from rnnkit.studies.spec import Range, StudySpec
from rnnkit.studies.trial import INTERRUPTED, LAST, STOPPED, Runner, run_trial

STUDY_DB = "study.db"
STUDY_JSON = "study.json"
TRIALS = "trials"
ASK_LOCK = ".ask.lock"
# Optuna heartbeats: a RUNNING trial whose worker has been silent this long is failed and re-queued
HEARTBEAT_S = 60
GRACE_S = 300

_TERMINATED = threading.Event()  # set when SIGTERM turned into a Ctrl-C


class TrialFailed(Exception):
    """A trial's training or evaluation raised; the message is its one-line error."""


def default_storage(out: str | Path) -> str:
    """The Optuna storage URL of a study directory: SQLite in ``DIR/study.db``."""
    return f"sqlite:///{(Path(out) / STUDY_DB).resolve()}"


def open_study(spec: StudySpec, out: str | Path, storage: str | None = None):
    """Create the study ``spec.name`` in ``storage`` (default ``DIR/study.db``), or load it when it
    exists, checking that it came from the same study file. Writes ``DIR/study.json``."""
    optuna = _optuna()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        study_name=spec.name,
        storage=open_storage(storage or default_storage(out)),
        direction=spec.direction,
        load_if_exists=True,
    )
    wanted = json.loads(json.dumps(spec.to_dict()))
    stored = study.user_attrs.get("spec")
    if stored is None:
        trials = out / TRIALS
        if trials.is_dir() and any(trials.iterdir()):
            raise InputError(
                f"{trials}: holds trials of another study (the storage has no study "
                f"{spec.name!r}); choose another --out"
            )
        study.set_user_attr("spec", wanted)
    elif stored != wanted:
        changed = sorted(k for k in wanted.keys() | stored.keys() if wanted.get(k) != stored.get(k))
        raise InputError(
            f"{out}: holds study {spec.name!r} from a different study file ({', '.join(changed)} "
            f"changed); restore the file or choose another --out"
        )
    write_json(out / STUDY_JSON, {"name": spec.name, "study_file": spec.path})
    return study


def load_study_dir(out: str | Path, storage: str | None = None):
    """The study of a study directory and its spec: ``(optuna.Study, StudySpec)``."""
    optuna = _optuna()
    out = Path(out)
    if not (out / STUDY_JSON).is_file():
        raise InputError(
            f"{out}: not a study directory (no {STUDY_JSON}); give a --out of study run"
        )
    info = read_json(out / STUDY_JSON, "study description")
    try:
        study = optuna.load_study(
            study_name=info["name"], storage=open_storage(storage or default_storage(out))
        )
    except KeyError:
        raise InputError(f"{out}: the storage holds no study {info['name']!r}") from None
    return study, StudySpec.from_dict(study.user_attrs["spec"], info.get("study_file", ""))


def open_storage(url: str):
    """Optuna RDB storage at ``url``, with heartbeats that re-queue trials of dead workers."""
    optuna = _optuna()
    from sqlalchemy.exc import SQLAlchemyError

    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    try:
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine,
            heartbeat_interval=HEARTBEAT_S,
            grace_period=GRACE_S,
            heartbeat_stale_trial_callback=_retry(),
        )
    except (ImportError, ValueError, SQLAlchemyError) as error:  # no driver, bad URL, no server
        shown = re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", url)  # not the password
        raise InputError(f"--storage {shown}: {one_line(error)}") from None


def run_study(
    spec: StudySpec,
    out: str | Path,
    workers: int = 1,
    storage: str | None = None,
    runner: Runner = run_trial,
) -> dict[str, Any]:
    """Run what is left of the study in ``out``; return ``{"counts": progress(study, spec),
    "interrupted": True after Ctrl-C or SIGTERM, "seconds": this sitting's wall-clock}``.

    ``workers`` trials run at once: one worker runs in this process; more are spawned processes,
    each training with ``max(1, cores // workers)`` threads. ``runner`` trains and evaluates one
    trial (:func:`rnnkit.studies.trial.run_trial`; a picklable top-level function when
    ``workers > 1``). Raises InputError when a trial shows the study file to be wrong (its
    metric missing from eval.json); failing trials are only counted.
    """
    if workers < 1:
        raise InputError(f"--workers: expected at least 1, got {workers}")
    out = Path(out)
    url = storage or default_storage(out)
    study = open_study(spec, out, url)
    study.set_user_attr("halt", None)
    for number in recover_interrupted(study):
        say(f"trial {number} was left running by a process that is gone: it will run again")
    threads = max(1, available_cores() // workers)
    started, started_before = time.time(), _started_trials(study)
    interrupted = False
    try:
        with _sigterm_as_interrupt():
            seed = len(study.get_trials(deepcopy=False))  # a new sampler seed every sitting
            if workers == 1:
                work(spec, out, url, seed, threads, runner)
            else:
                _run_workers(spec, out, url, seed, workers, threads, runner)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if _started_trials(study) > started_before:  # this sitting ran trials
            _record_sitting(study, started, workers)
    halt = study.user_attrs.get("halt")
    if halt:
        raise InputError(halt)
    return {
        "counts": progress(study, spec),
        "interrupted": interrupted,
        "seconds": time.time() - started,
    }


def work(spec: StudySpec, out: Path, storage: str, seed: int, threads: int, runner: Runner) -> None:
    """One worker: run trials one after another until none is left to start. ``seed`` seeds a
    search's sampler (see :func:`make_sampler`)."""
    optuna = _optuna()
    # a study prints one line per trial, not the trainer's line per evaluation
    logging.getLogger("rnnkit.training").setLevel(logging.WARNING)
    study = optuna.load_study(
        study_name=spec.name,
        storage=open_storage(storage),
        sampler=make_sampler(spec, seed),
        pruner=make_pruner(spec),
    )
    lock = AskLock(out / ASK_LOCK)
    objective = Objective(spec, out, threads, runner, lock)
    while True:
        lock.acquire()  # released by the objective once its trial has its parameters
        try:
            if study.user_attrs.get("halt") or not startable(study, spec):
                return
            study.optimize(objective, n_trials=1, catch=(TrialFailed,))
        finally:
            lock.release()


class Objective:
    """Optuna's objective: draw one trial's options, train and evaluate it, return its metric."""

    def __init__(
        self, spec: StudySpec, out: Path, threads: int, runner: Runner, lock: AskLock
    ) -> None:
        self.spec = spec
        self.out = out
        self.threads = threads
        self.runner = runner
        self.lock = lock

    def __call__(self, trial) -> float:
        spec = self.spec
        for key, value in attempt_attributes(self.threads).items():
            trial.set_user_attr(key, value)
        params = self.suggest(trial)
        frozen = _frozen(trial)
        if spec.search is not None and _is_drawn(frozen):
            for seed in spec.seeds[1:]:
                trial.study.enqueue_trial({**params, "seed": seed})
        self.lock.release()  # the trial has its parameters: other workers may draw theirs

        name = f"trial {trial.number} [{describe(params)}]"
        options = {"threads": self.threads, "progress": False, **spec.base, **params}
        run_dir, resume = prepare_run_dir(
            self.out, trial.number, frozen.system_attrs.get("retry_history", [])
        )
        report, rates = self.reporter(trial)
        try:
            result = self.runner(spec.task, options, run_dir, report, resume)
        except KeyboardInterrupt:
            self.requeue(trial, name)
            raise
        except Exception as error:
            message = one_line(error)
            trial.set_user_attr("error", message)
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
            say(f"{name}: failed: {message}")
            raise TrialFailed(message) from error
        return self.finish(trial, name, result, rates)

    def reporter(self, trial):
        """The ``on_evaluate`` callback of a trial: it records the validation curve (continuing
        an interrupted attempt's) and reports the metric to the pruner; True prunes. Also returns
        the list it collects the records' items/s in."""
        metric = self.spec.metric
        curve = [list(point) for point in trial.user_attrs.get("curve", [])]
        rates: list[float] = []

        def report(record: dict) -> bool:
            if "items_per_s" in record:
                rates.append(float(record["items_per_s"]))
            value = record.get(f"val_{metric}")
            if value is None:
                return False
            step = int(record["step"])
            curve[:] = [p for p in curve if p[0] < step] + [[step, record.get("elapsed_s"), value]]
            trial.set_user_attr("curve", curve)
            trial.report(float(value), step)
            return trial.should_prune()

        return report, rates

    def finish(self, trial, name: str, result: dict, rates: list[float]) -> float:
        """Record a trained trial; its value, or TrialPruned, or KeyboardInterrupt after
        re-queueing an interrupted one."""
        spec = self.spec
        summary = result["summary"]
        for key, value in trial_attributes(summary, rates).items():
            trial.set_user_attr(key, value)
        if summary["stop_reason"] == INTERRUPTED:
            self.requeue(trial, name)
            raise KeyboardInterrupt
        if summary["stop_reason"] == STOPPED:
            say(f"{name}: pruned at step {summary['steps']}")
            raise _optuna().TrialPruned(f"pruned at step {summary['steps']}")
        evaluation = result["eval"] or {}
        valid = evaluation.get("valid", {})
        if spec.metric not in valid:
            message = (
                f"{spec.path or spec.name}: key 'metric': {spec.metric!r} is not a validation "
                f"metric of a {spec.task} run (eval.json has {', '.join(valid) or 'none'})"
            )
            trial.set_user_attr("error", message)
            trial.study.set_user_attr("halt", message)
            raise InputError(message)
        trial.set_user_attr("metrics", flatten(evaluation))
        value = float(valid[spec.metric])
        say(f"{name}: {spec.metric} {value:.4g} ({summary['elapsed_s']:.0f}s)")
        return value

    def suggest(self, trial) -> dict[str, Any]:
        """The trial's configuration and seed, drawn by the study's sampler."""
        spec = self.spec
        if spec.grid is not None:
            space = {**spec.grid, "seed": list(spec.seeds)}
            return {name: trial.suggest_categorical(name, values) for name, values in space.items()}
        params = {}
        for name, domain in spec.search.space.items():
            if not isinstance(domain, Range):
                params[name] = trial.suggest_categorical(name, domain)
            elif domain.integer:
                params[name] = trial.suggest_int(
                    name, domain.low, domain.high, step=domain.step or 1, log=domain.log
                )
            else:
                params[name] = trial.suggest_float(
                    name, domain.low, domain.high, step=domain.step, log=domain.log
                )
        params["seed"] = trial.suggest_categorical("seed", list(spec.seeds))
        return params

    def requeue(self, trial, name: str) -> None:
        """Queue a copy of an interrupted trial, which will resume its run directory."""
        with _sigint_ignored():  # a second Ctrl-C must not cut this bookkeeping short
            _retry()(trial.study, _frozen(trial))
        say(f"{name}: interrupted; it continues when the study is run again")


def make_sampler(spec: StudySpec, seed: int = 0):
    """GridSampler over the grid plus ``seed``; or TPE/random search with the seed held at
    ``seeds[0]``. ``seed`` seeds a search's sampler: :func:`run_study` gives each worker of each
    sitting its own (trials so far + worker index), so that neither parallel workers nor a
    continued study draw the same sequence again. The grid's order must be the same in every
    worker (GridSampler maps trial numbers to points), so it is always shuffled with seed 0."""
    samplers = _optuna().samplers
    if spec.grid is not None:
        return samplers.GridSampler({**spec.grid, "seed": list(spec.seeds)}, seed=0)
    if spec.search.sampler == "tpe":
        base = samplers.TPESampler(seed=seed, constant_liar=True)
    else:
        base = samplers.RandomSampler(seed=seed)
    return samplers.PartialFixedSampler({"seed": spec.seeds[0]}, base)


def make_pruner(spec: StudySpec):
    """The study file's pruner. ``median``: MedianPruner once the first configuration's seeds
    have completed (``n_startup_trials = len(seeds)``); ``hyperband``: HyperbandPruner with its
    defaults, the resource being the training step; none: NopPruner."""
    pruners = _optuna().pruners
    if spec.pruner == "median":
        return pruners.MedianPruner(n_startup_trials=len(spec.seeds))
    if spec.pruner == "hyperband":
        return pruners.HyperbandPruner()
    return pruners.NopPruner()


def startable(study, spec: StudySpec) -> bool:
    """Whether a trial is left to start: a queued one, an undrawn grid point, or (in a search)
    a configuration not drawn yet."""
    trials = study.get_trials(deepcopy=False)
    if any(t.state.name == "WAITING" for t in trials):
        return True
    if spec.grid is not None:
        drawn = {t.system_attrs["grid_id"] for t in trials if "grid_id" in t.system_attrs}
        return len(drawn) < spec.total_trials
    return sum(_is_drawn(t) for t in trials) < spec.search.trials


def progress(study, spec: StudySpec) -> dict[str, Any]:
    """Trials by state (``complete``, ``failed``, ``pruned``, ``running``, ``waiting``,
    ``interrupted`` = failed and continued by a copy, ``to start``) and ``best``:
    ``{"number", "value", "params"}`` of the best complete trial, or None."""
    counts = Counter(trial_states(study.get_trials(deepcopy=False)).values())
    started = sum(counts.values()) - counts["interrupted"]
    counts["to start"] = max(0, spec.total_trials - started)
    best = None
    if counts["complete"]:
        trial = study.best_trial
        best = {"number": trial.number, "value": trial.value, "params": trial.params}
    states = ("complete", "failed", "pruned", "running", "waiting", "interrupted", "to start")
    return {**{state: counts[state] for state in states}, "best": best}


def trial_states(trials) -> dict[int, str]:
    """Trial number -> ``complete``, ``failed``, ``pruned``, ``running``, ``waiting``, or
    ``interrupted`` for a failed trial that a copy continues."""
    continued = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    names = {"FAIL": "failed"}
    return {
        t.number: "interrupted"
        if t.number in continued
        else names.get(t.state.name, t.state.name.lower())
        for t in trials
    }


def recover_interrupted(study) -> list[int]:
    """Fail and re-queue the RUNNING trials of this machine whose process is gone; their numbers."""
    host = socket.gethostname()
    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(_optuna().trial.TrialState.RUNNING,)):
        attrs = trial.user_attrs
        if attrs.get("host") != host or _alive(attrs.get("pid")):
            continue
        try:
            study.tell(trial.number, state=_optuna().trial.TrialState.FAIL)
        except (ValueError, RuntimeError):  # another process got there first
            continue
        _retry()(study, trial)
        recovered.append(trial.number)
    return recovered


def prepare_run_dir(out: Path, number: int, retry_history: list[int]) -> tuple[Path, bool]:
    """Trial ``number``'s run directory and whether to resume it.

    A continued trial takes over the directory of its last attempt; a directory with
    ``last.safetensors`` is resumed, one without (killed before its first checkpoint) is cleared.
    """
    run_dir = out / TRIALS / str(number)
    if retry_history and not run_dir.exists():
        previous = out / TRIALS / str(retry_history[-1])
        if previous.is_dir():
            previous.rename(run_dir)
    if (run_dir / LAST).is_file():
        return run_dir, True
    if run_dir.exists():
        shutil.rmtree(run_dir)
    return run_dir, False


def attempt_attributes(threads: int) -> dict[str, Any]:
    """Who runs a trial: ``host`` and ``pid`` (to find trials of dead processes), ``machine``
    and ``threads`` (for the report)."""
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "machine": machine(),
        "threads": threads,
    }


def trial_attributes(summary: dict[str, Any], rates: list[float]) -> dict[str, Any]:
    """What the report needs from rnnkit.train's summary; ``rates`` are the records' items/s."""
    return {
        "steps": summary.get("steps"),
        "train_seconds": summary.get("elapsed_s"),
        "stop_reason": summary.get("stop_reason"),
        "parameters": summary.get("parameters"),
        "items_per_s": round(sum(rates) / len(rates), 1) if rates else None,
    }


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The numeric leaves of a nested dict with dotted names: ``{"test": {"accuracy": 0.8}}`` ->
    ``{"test.accuracy": 0.8}``. Strings, booleans and lists are left out."""
    flat: dict[str, float] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[f"{prefix}{key}"] = value
    return flat


def describe(params: dict[str, Any]) -> str:
    """``hidden=64 bidirectional=true seed=1``: options as they are written in TOML."""
    return " ".join(f"{key}={toml_value(value)}" for key, value in params.items())


def toml_value(value: Any) -> str:
    """A value as TOML writes it (``true``, ``3e-3``, ``"lstm"`` without the quotes)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def one_line(error: BaseException) -> str:
    """An error as one line: InputError's message; otherwise ``Type: message``."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else ""
    if isinstance(error, InputError):
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def machine() -> str:
    """The CPU model and core count, e.g. ``AMD EPYC, 2 cores``."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cores"


def available_cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def say(message: str) -> None:
    """One line of progress on stderr (workers are processes: flushed at once)."""
    print(message, file=sys.stderr, flush=True)


class AskLock:
    """An exclusive lock on a file (POSIX ``flock``) held while a worker draws its next trial;
    a no-op where ``fcntl`` is missing. Releasing a lock not held does nothing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = None

    def acquire(self) -> None:
        self._handle = open(self.path, "a")  # noqa: SIM115 - held across calls
        with contextlib.suppress(ImportError):
            import fcntl

            fcntl.flock(self._handle, fcntl.LOCK_EX)

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file drops the lock
            self._handle = None


def _run_workers(
    spec: StudySpec, out: Path, url: str, seed: int, workers: int, threads: int, runner: Runner
) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=_worker_main,
            args=(spec, out, url, seed + index, threads, runner),
            name=f"rnnkit-study-worker-{index}",
        )
        for index in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        if _TERMINATED.is_set():  # Ctrl-C reaches the workers by itself; SIGTERM does not
            for process in processes:
                if process.is_alive():
                    process.terminate()
        for process in processes:
            process.join()  # each saves its run and re-queues its trial
        raise
    for process in processes:
        if process.exitcode not in (0, 2):
            say(f"{process.name} exited with code {process.exitcode}")


def _worker_main(
    spec: StudySpec, out: Path, url: str, seed: int, threads: int, runner: Runner
) -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        work(spec, out, url, seed, threads, runner)
    except KeyboardInterrupt:
        pass
    except InputError:  # the study is halted; the parent reports why
        sys.exit(2)


def _on_sigterm(signum, frame) -> None:
    """``kill`` behaves as Ctrl-C: the trainer saves its run and the trial is re-queued. The
    current SIGINT handler is called directly (the trainer's while it trains), since SIGINT
    itself may be ignored (a job started in the background)."""
    _TERMINATED.set()
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_as_interrupt():
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _sigint_ignored():
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _record_sitting(study, started: float, workers: int) -> None:
    """Add this ``study run``'s wall-clock to the study's ``sittings`` (for the report)."""
    sittings = list(study.user_attrs.get("sittings", []))
    sittings.append(
        {
            "started": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(time.time() - started, 1),
            "workers": workers,
            "machine": machine(),
        }
    )
    study.set_user_attr("sittings", sittings)


def _started_trials(study) -> int:
    return sum(t.state.name != "WAITING" for t in study.get_trials(deepcopy=False))


def _frozen(trial):
    """The stored state (a FrozenTrial) of a running trial."""
    return next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)


def _is_drawn(trial) -> bool:
    """Whether the sampler drew this trial's configuration (not an enqueued seed, not a copy)."""
    return "fixed_params" not in trial.system_attrs and "failed_trial" not in trial.system_attrs


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _retry():
    """Optuna's callback that re-queues a failed trial as a WAITING copy (same parameters,
    intermediate values and attributes; ``retry_history`` lists the attempts)."""
    optuna = _optuna()
    return optuna.storages.RetryHeartbeatStaleTrialCallback(inherit_intermediate_values=True)


def _optuna():
    """optuna, quiet: rnnkit prints one line per trial itself."""
    try:
        import optuna
    except ModuleNotFoundError:
        raise InputError("studies need optuna: pip install 'rnnkit[study]'") from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna
