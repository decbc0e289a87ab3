"""The one trainer: every task supplies a model, its batches, its loss and its metrics.

A task is any object with

- ``model``: the ``nn.Module`` to train;
- ``steps_per_epoch``: how many batches make one pass over the training data;
- ``batch(epoch, index)``: the ``index``-th batch of ``epoch``, a pure function of its arguments
  (and the task's seed), so that a resumed run sees exactly the batches it would have seen;
- ``training_loss(batch, carry) -> (loss, carry, count)``: the mean loss of one batch, the state to
  carry into the next batch (``None`` when nothing is carried; detached tensors for truncated BPTT)
  and how many items (characters, tokens, windows) the loss averaged over. The trainer resets the
  carry to ``None`` at the start of every epoch;
- ``evaluate() -> dict``: validation metrics, at least ``{"loss": float}``.

The loop is visible in :meth:`Trainer.fit`: set the learning rate, compute the loss (under bf16
autocast if asked), backpropagate, clip, step; every ``eval_every`` steps evaluate, log, keep the
best weights and save the state for resuming. Files in the run directory:

- ``model.safetensors``: the best weights by validation loss (with ``--ema``, the best moving
  average of the weights, :mod:`rnnkit.training.averaging`, which is what is evaluated);
- ``last.safetensors``: everything needed to resume exactly (weights, their moving average,
  optimizer, schedule, step, carried state, RNG states, timers), one file written atomically;
- ``metrics.jsonl``: one JSON line per evaluation, written once the checkpoints of that step are
  saved, so the log never claims a step that no checkpoint holds; besides the losses, the
  pre-clip global gradient norm of the steps since the previous line (``grad_norm``: their mean,
  ``grad_norm_max``) and the share of them in which clipping fired (``clipped``);
  ``loss.png``: the curves (needs matplotlib);
- ``grad_flow.jsonl`` with ``--log-grad-flow N``: ||dL/dh_t|| for every step t of the model's
  first recurrent layer on one fixed training batch (:func:`rnnkit.diagnostics.gradient_per_step`),
  before the first step and every N evaluations (after that step's checkpoints, as
  ``metrics.jsonl``);
- ``tb/``: TensorBoard logs when the ``tensorboard`` extra is installed.

Ctrl-C (SIGINT) and SIGTERM ask the loop to stop after the current step and save the state; a
second one stops at once (the files saved before stay intact: every file is replaced atomically).

Under torchrun the same loop runs in every process (:mod:`rnnkit.training.distributed`): each
takes its share of the global batch and trains the model through DistributedDataParallel;
process 0 evaluates, decides and writes the files, and every process's carried state and RNG
states go into ``last.safetensors``, so ``--resume`` with as many processes continues exactly.
The losses and item counts in ``metrics.jsonl`` are those of the global batches.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from rnnkit import diagnostics
from rnnkit.config import option
from rnnkit.errors import InputError
from rnnkit.io import append_line, write_bytes
from rnnkit.plots import plot_losses
from rnnkit.training import distributed
from rnnkit.training.averaging import WeightAverage
from rnnkit.training.checkpoint import flatten, load_state, save_model, save_state, unflatten
from rnnkit.training.optim import OPTIMIZERS, SCHEDULES, Schedule, build_optimizers
from rnnkit.training.run import BEST, LAST, METRICS

logger = logging.getLogger(__name__)

GRAD_FLOW = "grad_flow.jsonl"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
KEEP = ("best", "last")  # --keep: which weights model.safetensors holds


class Task(Protocol):
    model: nn.Module
    steps_per_epoch: int

    def batch(self, epoch: int, index: int) -> Any: ...

    def training_loss(self, batch: Any, carry: Any) -> tuple[Tensor, Any, int]: ...

    def evaluate(self) -> dict[str, float]: ...


@dataclass
class TrainConfig:
    """How to train; every field is an option of ``rnnkit train`` (``--clip-norm`` etc.). A task
    may change the defaults (:attr:`rnnkit.tasks.TaskSpec.train_defaults`)."""

    optimizer: str = option(
        "adam",
        "sgd (with momentum), adam, adamw, rmsprop, or sparseadam (SparseAdam for a sparse "
        "embedding, Adam for the rest)",
        choices=OPTIMIZERS,
    )
    lr: float = option(2e-3, "base learning rate", above=0)
    weight_decay: float = option(0.0, "L2 weight decay (decoupled for adamw)", min=0)
    momentum: float = option(0.9, "momentum for sgd and rmsprop", min=0)
    clip_norm: float | None = option(
        1.0, "clip the global gradient norm to this value ('none' to disable)", above=0
    )
    clip_value: float | None = option(
        None, "clip each gradient element to [-v, v] instead of clipping the norm", above=0
    )
    schedule: str = option(
        "constant",
        "learning-rate schedule: constant, step, cosine (sized by the run's budget: --max-steps, "
        "--epochs or --time-budget, whichever ends it), plateau",
        choices=SCHEDULES,
    )
    warmup_steps: int = option(
        0, "linear warm-up steps before the schedule (at most 10% of the run)", min=0
    )
    step_size: int = option(1000, "steps between decays of the step schedule", min=1)
    gamma: float = option(0.5, "decay factor of the step and plateau schedules", above=0)
    plateau_patience: int = option(
        2, "evaluations without improvement before the plateau schedule decays", min=1
    )
    min_lr_factor: float = option(
        0.05, "final learning rate of the cosine schedule, as a fraction of --lr", min=0
    )
    max_steps: int | None = option(None, "stop after this many optimizer steps", min=1)
    epochs: float | None = option(
        None, "stop after this many passes over the training data (fractions allowed)", above=0
    )
    time_budget: float | None = option(
        None,
        "stop after this much wall-clock time, e.g. 90s, 10m, 1h",
        above=0,
        duration=True,
    )
    eval_every: int | None = option(
        None,
        "evaluate on the validation data and save checkpoints every N steps",
        min=1,
        none="once per epoch",
    )
    early_stopping: int | None = option(
        None, "stop after N evaluations without a better validation loss", min=1
    )
    keep: str = option(
        "best",
        "the weights model.safetensors holds (what evaluate and predictions use): best (the "
        "lowest validation loss) or last (the latest evaluated, for when validation cannot see "
        "what the test changes, e.g. a new speaker)",
        choices=KEEP,
    )
    log_grad_flow: int | None = option(
        None,
        "before the first step and every N evaluations, record ||dL/dh_t|| for every step t of "
        "the first recurrent layer on one fixed training batch (RUN/grad_flow.jsonl)",
        min=1,
        none="off",
    )
    ema: float = option(
        0.0,
        "evaluate and keep an exponential moving average of the weights with this decay (e.g. "
        "0.999: about the last 1,000 steps) instead of the last weights; 0: off",
        min=0,
    )
    precision: str = option(
        "fp32", "fp32, or bf16 (bfloat16 autocast on the CPU)", choices=("fp32", "bf16")
    )
    seed: int = option(0, "random seed: the same seed and options repeat a run exactly")
    threads: int | None = option(None, "torch CPU threads", min=1, none="torch's choice")
    progress: bool = option(True, "show a progress bar")
    tensorboard: bool = option(
        True, "write TensorBoard logs to RUN/tb when the tensorboard extra is installed"
    )

    def check(self) -> None:
        """Raise InputError for contradictory or impossible options."""
        if self.max_steps is None and self.epochs is None and self.time_budget is None:
            raise InputError("give at least one of --max-steps, --epochs or --time-budget")
        if self.clip_norm is not None and self.clip_value is not None:
            raise InputError("--clip-norm and --clip-value contradict each other: give one")
        if not 0.0 <= self.ema < 1.0:
            raise InputError(f"--ema must be in [0, 1) (e.g. 0.999; 0 is off), got {self.ema}")


# The options that may change when a run is resumed: how long it goes on, and how it runs.
BUDGET = ("max_steps", "epochs", "time_budget", "early_stopping", "eval_every")
RUNTIME = ("threads", "progress", "tensorboard", "log_grad_flow")


@dataclass
class Progress:
    """What the loop knows about itself; saved in ``last.safetensors``."""

    step: int = 0
    elapsed: float = 0.0  # seconds of training wall-clock before this process
    items: int = 0
    best_loss: float = math.inf
    best_step: int = -1
    evaluations_without_improvement: int = 0
    history: list[dict] = field(default_factory=list)


@dataclass
class Interval:
    """What the steps since the last evaluation add up to (reported in its record)."""

    loss: float = 0.0  # summed over items
    items: int = 0
    seconds: float = 0.0
    steps: int = 0
    grad_norm: float = 0.0  # summed over steps
    grad_norm_max: float = 0.0
    clipped: int = 0  # steps in which clipping fired

    def add(self, loss: float, count: int, seconds: float, norm: float, clipped: bool) -> None:
        self.loss += loss * count
        self.items += count
        self.seconds += seconds
        self.steps += 1
        self.grad_norm += norm
        self.grad_norm_max = max(self.grad_norm_max, norm)
        self.clipped += clipped

    def record(self) -> dict[str, float]:
        steps = max(self.steps, 1)
        return {
            "train_loss": round(self.loss / max(self.items, 1), 6),
            "items_per_s": round(self.items / max(self.seconds, 1e-9), 1),
            "grad_norm": self.grad_norm / steps,
            "grad_norm_max": self.grad_norm_max,
            "clipped": self.clipped / steps,
        }


class TrainingDiverged(RuntimeError):
    """The loss became NaN or Inf; the last good checkpoint was kept."""


class Trainer:
    """Trains ``task.model`` according to ``config``, writing into ``run_dir``."""

    def __init__(
        self,
        task: Task,
        config: TrainConfig,
        run_dir: str | Path,
        on_evaluate: Callable[[dict], bool | None] | None = None,
    ) -> None:
        config.check()
        self.on_evaluate = on_evaluate  # called with each evaluation's record; True stops
        self.task = task
        self.config = config
        self.run_dir = Path(run_dir)
        self.model = task.model
        self.optimizers = build_optimizers(
            self.model, config.optimizer, config.lr, config.weight_decay, config.momentum
        )
        self.schedule = Schedule(
            config.schedule,
            warmup_steps=config.warmup_steps,
            step_size=config.step_size,
            gamma=config.gamma,
            patience=config.plateau_patience,
            min_factor=config.min_lr_factor,
        )
        self.progress = Progress()
        # --ema: the weights that are evaluated and kept (rnnkit.training.averaging)
        self.average = WeightAverage(self.model, config.ema) if config.ema else None
        self.carry: Any = None
        self.stop_reason: str | None = None
        self._signalled = False
        self._writer = None
        self.saved_step = 0  # the step last.safetensors holds
        self.restored = False  # whether load_last() ran
        if config.log_grad_flow:
            diagnostics.find_recurrent_layer(self.model)  # refuse before training starts
        self.processes = distributed.start(next(self.model.parameters()).device)
        if not self.processes.alone:
            rows = distributed.rows_of(task.batch(0, 0))
            if rows < self.processes.world_size:
                raise InputError(
                    f"--batch-size {rows} is smaller than the {self.processes.world_size} "
                    "processes: each process needs at least one row of the global batch"
                )
        # the module that training calls: DistributedDataParallel's replica under torchrun
        self.replica = self.processes.replicate(self.model)

    # --- the bounds of a run ----------------------------------------------------------------------
    @property
    def eval_every(self) -> int:
        """Steps between evaluations: the option, or once per epoch when it is not set."""
        return self.config.eval_every or self.task.steps_per_epoch

    @property
    def total_steps(self) -> int | None:
        bounds = []
        if self.config.max_steps is not None:
            bounds.append(self.config.max_steps)
        if self.config.epochs is not None:
            bounds.append(max(1, round(self.config.epochs * self.task.steps_per_epoch)))
        return min(bounds) if bounds else None

    def fraction_done(self, elapsed: float) -> float:
        """Progress in [0, 1] through whichever bound ends the run first."""
        fractions = []
        if self.total_steps:
            fractions.append(self.progress.step / self.total_steps)
        if self.config.time_budget:
            fractions.append(elapsed / self.config.time_budget)
        return max(fractions) if fractions else 0.0

    def request_stop(self, reason: str = "interrupted") -> None:
        """Ask the loop to save and stop after the current step (Ctrl-C does this)."""
        self.stop_reason = reason

    def _on_signal(self, signum, frame) -> None:
        """Ctrl-C or SIGTERM: stop after this step and save; the second one: stop now."""
        if self._signalled:
            raise KeyboardInterrupt
        self._signalled = True
        self.request_stop()

    def _install_signal_handlers(self) -> dict:
        previous = {}
        for signum in STOP_SIGNALS:
            with contextlib.suppress(ValueError):  # not the main thread: signals stay as they are
                previous[signum] = signal.signal(signum, self._on_signal)
        return previous

    # --- the loop ---------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train until a bound is reached, the run is interrupted, or early stopping; return a
        summary. Raises :class:`TrainingDiverged` if the loss becomes NaN or Inf."""
        config = self.config
        if config.threads:
            torch.set_num_threads(config.threads)
        leads = self.processes.leads
        if resume:
            if not self.restored:
                self.load_last()
            if leads:
                self._trim_logs()
        else:  # each process draws its own dropout masks
            torch.manual_seed(config.seed + self.processes.rank)
            random.seed(config.seed + self.processes.rank)
        if leads:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        previous_handlers = self._install_signal_handlers()
        bar = self._progress_bar()
        started = time.perf_counter()
        elapsed_before = self.progress.elapsed
        interval = Interval()
        evaluated_at = self.progress.step if resume else -1
        if config.log_grad_flow and not resume:
            with self.processes.together():
                if leads:
                    self.log_grad_flow(first=True)  # at initialisation
        try:
            while True:
                elapsed = elapsed_before + time.perf_counter() - started
                # under torchrun: process 0's clock (the schedule and the budget read it) and
                # the first process's reason to stop (a signal) hold for all
                elapsed, self.stop_reason = self.processes.synchronise(elapsed, self.stop_reason)
                if self.total_steps is not None and self.progress.step >= self.total_steps:
                    self.stop_reason = self.stop_reason or "reached the step limit"
                if config.time_budget is not None and elapsed >= config.time_budget:
                    self.stop_reason = self.stop_reason or "reached the time budget"
                if self.stop_reason:
                    break
                step_started = time.perf_counter()
                loss, count, norm, clipped = self._train_step(elapsed)
                interval.add(loss, count, time.perf_counter() - step_started, norm, clipped)
                self.progress.items += count
                self._advance_bar(bar, elapsed_before + time.perf_counter() - started)
                if self.progress.step % self.eval_every == 0:
                    elapsed = elapsed_before + time.perf_counter() - started
                    self._evaluate_and_save(interval, elapsed, bar)
                    evaluated_at = self.progress.step
                    interval = Interval()
            if self.stop_reason != "interrupted" and evaluated_at != self.progress.step:
                elapsed = elapsed_before + time.perf_counter() - started
                self._evaluate_and_save(interval, elapsed, bar)
            self.progress.elapsed = elapsed_before + time.perf_counter() - started
            self.save_last()
        finally:
            for signum, handler in previous_handlers.items():
                signal.signal(signum, handler)
            if bar is not None:
                bar.close()
            if self._writer is not None:
                self._writer.close()
        if leads:
            self.plot()
        return self.summary()

    def _train_step(self, elapsed: float) -> tuple[float, int, float, bool]:
        """One optimizer step; returns the loss, its item count, the global gradient norm
        before clipping and whether clipping changed the gradient."""
        config = self.config
        epoch, index = divmod(self.progress.step, self.task.steps_per_epoch)
        if index == 0:
            self.carry = None
        lr = config.lr * self.schedule.factor(self.progress.step, self.fraction_done(elapsed))
        self.optimizers.set_lr(lr)
        self.model.train()
        with self.processes.together():  # an error in any process's batch stops them all
            batch, counted = self.processes.share(self.task.batch(epoch, index))
            with (
                torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.precision == "bf16"),
                training_through(self.task, self.replica),
            ):
                loss, carry, count = self.task.training_loss(batch, self.carry)
        count = count if counted else 0
        # the global batch's mean loss and items; each process's loss weighted so that the
        # gradients DistributedDataParallel averages are those of that mean (see distributed)
        value, total = self.processes.mean(float(loss.detach()), count)
        if total != count * self.processes.world_size:
            loss = loss * (count * self.processes.world_size / max(total, 1))
        if not math.isfinite(value):
            raise TrainingDiverged(self._diverged_message(value))
        self.optimizers.zero_grad()
        loss.backward()
        params = [p for p in self.model.parameters() if p.grad is not None]
        if config.clip_norm is not None:
            norm = clip_grad_norm(params, config.clip_norm)
            clipped = norm > config.clip_norm
        else:
            norm = global_grad_norm(params)
            clipped = False
            if config.clip_value is not None:
                clipped = largest_gradient(params) > config.clip_value
                nn.utils.clip_grad_value_(params, config.clip_value)
        self.optimizers.step()
        if self.average is not None:
            self.average.update(self.progress.step)
        self.carry = carry
        self.progress.step += 1
        return value, total, norm, clipped

    def _diverged_message(self, value: float) -> str:
        """Why training stopped, naming only the checkpoints that exist."""
        line = (
            f"the training loss became {value} at step {self.progress.step + 1}; training stopped"
        )
        last, best = self.run_dir / LAST, self.run_dir / BEST
        if last.is_file():
            line += (
                f". The state of step {self.saved_step} is kept in {last} (continue from it "
                "with --resume)"
            )
            if best.is_file():
                line += f" and the best weights in {best}"
        elif best.is_file():
            line += f". The best weights are kept in {best}"
        else:
            line += (
                f" before its first checkpoint (step {self.eval_every}), so nothing was saved; "
                "start it again without --resume"
            )
        return line + "; try a lower --lr or a smaller --clip-norm"

    def _evaluate(self, interval: Interval, elapsed: float) -> tuple[dict, bool]:
        """Validate; the evaluation's record and whether ``on_evaluate`` asks to stop."""
        self.model.eval()
        with torch.no_grad():
            metrics = self.task.evaluate()
        record = {
            "step": self.progress.step,
            "epoch": round(self.progress.step / self.task.steps_per_epoch, 4),
            "elapsed_s": round(elapsed, 2),
            "lr": self.optimizers.param_groups[0]["lr"],
            **interval.record(),
            **{f"val_{k}": v for k, v in metrics.items()},
        }
        return record, bool(self.on_evaluate is not None and self.on_evaluate(record))

    def _evaluate_and_save(self, interval: Interval, elapsed: float, bar) -> None:
        with self._evaluated_weights():
            self._evaluate_and_keep(interval, elapsed)
        self.save_last()
        with self.processes.together():
            if self.processes.leads:
                self._log(self.progress.history[-1], bar)

    def _evaluated_weights(self):
        """The moving average swapped into the model with --ema, else the model as it is."""
        return self.average.swapped_in() if self.average is not None else contextlib.nullcontext()

    def _evaluate_and_keep(self, interval: Interval, elapsed: float) -> None:
        """Evaluate, decide whether to stop, and save the weights if they are the best yet."""
        leads = self.processes.leads
        with self.processes.together():  # process 0 evaluates and decides for all
            decided = self._evaluate(interval, elapsed) if leads else None
        record, stop = self.processes.broadcast(decided)
        validation = float(record["val_loss"])
        self.schedule.observe(validation)
        self.progress.history.append(record)
        if stop:
            self.stop_reason = "stopped by on_evaluate"
        improved = validation < self.progress.best_loss
        if improved:
            self.progress.best_loss = validation
            self.progress.best_step = self.progress.step
            self.progress.evaluations_without_improvement = 0
        else:
            self.progress.evaluations_without_improvement += 1
            patience = self.config.early_stopping
            if patience and self.progress.evaluations_without_improvement >= patience:
                self.stop_reason = f"early stopping: no improvement in {patience} evaluations"
        self.progress.elapsed = elapsed
        with self.processes.together():
            if (improved or self.config.keep == "last") and leads:
                save_model(
                    self.run_dir / BEST,
                    self.model,
                    {"step": self.progress.step, "val_loss": validation},
                )

    def _log(self, record: dict, bar) -> None:
        """Report an evaluation whose checkpoints are saved: metrics.jsonl, TensorBoard, the
        gradient flow, the progress bar or a log line."""
        # the log lines last: metrics.jsonl (and grad_flow.jsonl) never hold a step that no
        # checkpoint holds
        append_line(self.run_dir / METRICS, json.dumps(record))
        self._log_tensorboard(record)
        every = self.config.log_grad_flow
        if every and len(self.progress.history) % every == 0:
            self.log_grad_flow()
        train_loss, rate = record["train_loss"], record["items_per_s"]
        validation = record["val_loss"]
        if bar is not None:
            bar.set_postfix(
                loss=f"{train_loss:.3f}", val=f"{validation:.3f}", rate=f"{rate:,.0f}/s"
            )
        else:
            logger.info("step %d: train %.4f val %.4f", self.progress.step, train_loss, validation)

    def log_grad_flow(self, first: bool = False) -> None:
        """Append ||dL/dh_t|| per step on the first training batch to ``grad_flow.jsonl``
        (``first``: start the file anew, dropping the lines of an attempt that stopped before its
        first checkpoint). The model runs in eval mode and draws no random numbers, so the run
        goes on as without it."""
        task = self.task
        flow = diagnostics.gradient_per_step(
            self.model, lambda batch: task.training_loss(batch, None)[0], [task.batch(0, 0)]
        )
        record = {"step": self.progress.step, "loss": flow["loss"]}
        record["grad_norm_per_step"] = flow["grad_norm_per_step"]
        line = json.dumps(record)
        if first:
            write_bytes(self.run_dir / GRAD_FLOW, (line + "\n").encode("utf-8"))
        else:
            append_line(self.run_dir / GRAD_FLOW, line)

    # --- state ----------------------------------------------------------------------------------
    def save_last(self) -> None:
        """Write everything needed to resume exactly, in one atomic file: the model, optimizer,
        schedule and progress that all processes share, and each process's own state (process 0's
        beside them, the others' in ``other_processes``)."""
        states = self.processes.gather(self._own_state())
        with self.processes.together():
            if self.processes.leads:
                tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
                if self.average is not None:
                    tensors.update(self.average.state_tensors())
                meta = {
                    "progress": asdict(self.progress),
                    "optimizers": flatten(self.optimizers.state_dict(), tensors, "optim"),
                    "schedule": self.schedule.state_dict(),
                    **flatten_own_state(states[0], tensors, ""),
                }
                if len(states) > 1:
                    meta["other_processes"] = [
                        flatten_own_state(state, tensors, f"p{rank}.")
                        for rank, state in enumerate(states[1:], start=1)
                    ]
                save_state(self.run_dir / LAST, tensors, meta)
        self.saved_step = self.progress.step

    def _own_state(self) -> dict[str, Any]:
        """What differs between the processes of a run: the carried state and the RNG states."""
        return {
            "carry": self.carry,
            "torch_rng": torch.get_rng_state(),
            "python_rng": random.getstate(),
        }

    def load_last(self) -> None:
        """Restore the state written by :meth:`save_last`; a damaged file is one InputError
        naming it."""
        path = self.run_dir / LAST
        if not path.is_file():
            raise InputError(
                f"{self.run_dir}: nothing to resume (no {LAST}); start without --resume"
            )
        tensors, meta = load_state(path)
        try:
            model_state = {
                k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")
            }
            self.model.load_state_dict(model_state)
            if self.average is not None:
                self.average.load_state_tensors(tensors)
            self.optimizers.load_state_dict(unflatten(meta["optimizers"], tensors))
            self.schedule.load_state_dict(meta["schedule"])
            own = self._stored_own_state(path, meta)
            self.carry = unflatten(own["carry"], tensors)
            torch.set_rng_state(unflatten(own["torch_rng"], tensors))
            random.setstate(unflatten(own["python_rng"], tensors))
            self.progress = Progress(**meta["progress"])
        except InputError:  # (a ValueError) already names the file and the problem
            raise
        except KeyError as error:
            raise InputError(
                f"{path}: the checkpoint has no {error}; the file is damaged"
            ) from None
        except (TypeError, ValueError, RuntimeError, IndexError, AttributeError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
            raise InputError(f"{path}: the checkpoint is damaged ({first})") from None
        self.saved_step = self.progress.step
        self.restored = True

    def _stored_own_state(self, path: Path, meta: dict) -> dict:
        """This process's part of a state file; a run trained by another number of processes is
        refused (their streams and random states are not this job's)."""
        others = meta.get("other_processes", [])
        trained_by = len(others) + 1
        if trained_by != self.processes.world_size:
            launch = (
                "with one process (without torchrun)"
                if trained_by == 1
                else f"under torchrun with {trained_by} processes (--nproc-per-node {trained_by})"
            )
            raise InputError(
                f"{path}: the run was trained by {trained_by} process(es), this job has "
                f"{self.processes.world_size}; resume it {launch}"
            )
        return meta if self.processes.leads else others[self.processes.rank - 1]

    def _trim_logs(self) -> None:
        """Drop metrics.jsonl and grad_flow.jsonl lines (of older versions, or cut short) for
        steps the checkpoint does not hold, so that a resumed run does not log a step twice."""
        for path in (self.run_dir / METRICS, self.run_dir / GRAD_FLOW):
            if not path.is_file():
                continue
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            kept = []
            for line in lines:
                try:
                    step = json.loads(line)["step"]
                except (ValueError, KeyError, TypeError):
                    continue
                if isinstance(step, int) and step <= self.progress.step:
                    kept.append(line)
            if kept != lines:
                write_bytes(path, "".join(line + "\n" for line in kept).encode("utf-8"))

    # --- reporting ------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        last = self.progress.history[-1] if self.progress.history else {}
        best = next((r for r in self.progress.history if r["step"] == self.progress.best_step), {})
        return {
            "best": best,
            "stop_reason": self.stop_reason,
            "steps": self.progress.step,
            "elapsed_s": round(self.progress.elapsed, 1),
            "best_val_loss": self.progress.best_loss,
            "best_step": self.progress.best_step,
            "last": last,
        }

    def _progress_bar(self):
        if not self.config.progress or not self.processes.leads:
            return None
        import sys

        from tqdm import tqdm

        interval = 1.0 if sys.stderr.isatty() else 30.0  # a log file gets a line every 30 s
        if self.total_steps is not None:
            return tqdm(
                total=self.total_steps,
                initial=self.progress.step,
                unit="step",
                dynamic_ncols=True,
                mininterval=interval,
            )
        return tqdm(
            total=round(self.config.time_budget),
            initial=round(self.progress.elapsed),
            unit="s",
            dynamic_ncols=True,
            mininterval=interval,
            bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt}s [{elapsed}<{remaining}{postfix}]",
        )

    def _advance_bar(self, bar, elapsed: float) -> None:
        if bar is None:
            return
        if self.total_steps is not None:
            bar.update(1)
        else:
            bar.update(min(elapsed, bar.total) - bar.n)

    def _log_tensorboard(self, record: dict) -> None:
        if not self.config.tensorboard:
            return
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # the [tensorboard] extra is not installed
                self.config.tensorboard = False
                return
            self._writer = SummaryWriter(str(self.run_dir / "tb"))
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)):
                self._writer.add_scalar(key, value, record["step"])

    def plot(self) -> Path | None:
        """Draw ``loss.png`` from the metrics (train and validation loss against steps and time)."""
        return plot_losses(self.progress.history, self.run_dir / "loss.png")


def flatten_own_state(state: dict[str, Any], tensors: dict[str, Tensor], prefix: str) -> dict:
    """One process's carried state and RNG states, flattened into ``tensors`` for a state file."""
    return {
        "carry": flatten(state["carry"], tensors, f"{prefix}carry"),
        "torch_rng": flatten(state["torch_rng"], tensors, f"{prefix}rng"),
        "python_rng": flatten(state["python_rng"], tensors, f"{prefix}pyrng"),
    }


@contextlib.contextmanager
def training_through(task: Task, replica: nn.Module):
    """``task.model`` is ``replica`` (DistributedDataParallel's, under torchrun) while the task
    computes a training loss, so that its backward pass averages the gradients; the task's own
    module everywhere else (evaluation, checkpoints: their keys have no ``module.`` prefix)."""
    model = task.model
    task.model = replica
    try:
        yield
    finally:
        task.model = model


def describe_stop(summary: dict[str, Any], run_dir: str | Path, unit: str = "") -> str:
    """One line for the user: why training stopped, the best result, how to resume."""
    line = (
        f"rnnkit: {summary['stop_reason']} after {summary['steps']} steps "
        f"({summary['elapsed_s']:.0f}s)"
    )
    if summary["best_step"] >= 0:
        extra = ", ".join(
            f"{k[4:].replace('_', ' ')} {v:.4g}"
            for k, v in summary["best"].items()
            if k.startswith("val_") and k != "val_loss" and isinstance(v, float)
        )
        line += f"; best validation loss {summary['best_val_loss']:.4f} {unit}".rstrip()
        line += f" ({extra})" if extra else ""
        line += f" at step {summary['best_step']}"
    if summary["stop_reason"] == "interrupted":
        line += f"; state saved, continue with --resume --out {run_dir}"
    return line


def global_grad_norm(parameters) -> float:
    """The 2-norm of all the parameters' gradients together, sparse ones (a sparse embedding's)
    included."""
    params = [p for p in parameters if p.grad is not None]
    if not params:
        return 0.0
    if not any(p.grad.is_sparse for p in params):
        return float(nn.utils.get_total_norm([p.grad for p in params]))
    squares = []
    for p in params:
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()  # duplicate indices would be counted twice
            squares.append(p.grad._values().float().pow(2).sum())
        else:
            squares.append(p.grad.float().pow(2).sum())
    return float(torch.stack(squares).sum().sqrt())


def largest_gradient(parameters) -> float:
    """max |g| over every gradient element (what ``--clip-value`` compares)."""
    values = [p.grad._values() if p.grad.is_sparse else p.grad for p in parameters]
    return max((float(v.abs().max()) for v in values if v.numel()), default=0.0)


def clip_grad_norm(parameters, max_norm: float) -> float:
    """``nn.utils.clip_grad_norm_`` that also handles sparse gradients (a sparse embedding's);
    returns the norm before clipping."""
    params = [p for p in parameters if p.grad is not None]
    if not any(p.grad.is_sparse for p in params):
        return float(nn.utils.clip_grad_norm_(params, max_norm))
    total = global_grad_norm(params)
    scale = max_norm / (total + 1e-6)
    if scale < 1.0:
        for p in params:
            p.grad.mul_(scale)
    return total
