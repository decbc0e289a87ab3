"""The long-range probes: can a recurrent model carry information over T steps at all?

The sequences (:mod:`rnnkit.data.probes`) are generated on the fly: training batch (epoch, index)
from the run's seed, the validation and test sets from fixed seeds that no training stream uses,
so every cell and every seed is scored on the same held-out sequences. The data never ends; an
epoch is :data:`EPOCH_BATCHES` fresh batches (the unit of ``--epochs`` and of the default
evaluation interval).

Losses and baselines, on the same sequences:

- **adding**: the mean squared error of the predicted sum. The baseline predicts 1, the mean of a
  sum of two U[0, 1) values, whatever the input: its MSE is the target's variance, 2/12 = 0.167.
- **copy**: the cross-entropy per step over all T + 20 steps (nats). The memoryless baseline knows
  where the copy starts but not what to copy: blank with probability 1 for the first T + 10
  steps, each of the 8 data symbols with probability 1/8 for the last 10, so its cross-entropy is
  10 ln 8 / (T + 20).

Both baselines are computed on the test (or validation) targets. A run has **solved** the probe
when its test MSE is below 0.01 (adding) or its cross-entropy is below 1% of the baseline's
(copy); eval.json says so, true or false.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.config import option
from rnnkit.data.probes import CATEGORIES, COPIED, PROBES, SYMBOLS, generator, probe_batch
from rnnkit.errors import InputError
from rnnkit.io import write_json
from rnnkit.models.probe import ProbeModel, ProbeModelConfig
from rnnkit.tasks.spec import Built, TaskSpec
from rnnkit.training.run import load_best_weights, load_run

EPOCH_BATCHES = 100
EVAL_BATCH = 250  # sequences per forward pass when scoring
SOLVED_MSE = 0.01  # adding: solved below this test MSE
SOLVED_SHARE = 0.01  # copy: solved below this share of the baseline's cross-entropy


@dataclass
class ProbeData:
    """Which probe, how long, and how many sequences; stored in config.json."""

    probe: str = option(
        "adding",
        "adding (the sum of two marked values among T) or copy (repeat 10 symbols after a "
        "delay of T steps)",
        flag="task",
        choices=PROBES,
    )
    length: int = option(
        100, "T: the adding sequence's length, or the copy task's delay (T + 20 steps)", min=2
    )
    batch_size: int = option(50, "sequences per training batch", min=1)
    valid_size: int = option(1000, "validation sequences (from a fixed seed)", min=1)
    test_size: int = option(1000, "test sequences for rnnkit evaluate (from a fixed seed)", min=1)


def build_model(data: ProbeData, config: ProbeModelConfig) -> ProbeModel:
    """adding: 2 input channels, one output from h_T; copy: one-hot symbols in, logits over
    blank and the 8 data symbols at every step."""
    if data.probe == "adding":
        return ProbeModel(config, 2, 1, per_step=False)
    return ProbeModel(config, CATEGORIES, SYMBOLS + 1, per_step=True)


def predict(model: ProbeModel, probe: str, x: Tensor) -> Tensor:
    """adding: x (B, T, 2) -> sums (B,); copy: symbols (B, T+20) -> logits (B, T+20, 9)."""
    if probe == "adding":
        return model(x)[:, 0].float()  # (B,)
    return model(F.one_hot(x, CATEGORIES).float()).float()  # (B, T+20, 9)


def probe_loss(probe: str, prediction: Tensor, y: Tensor) -> Tensor:
    """adding: MSE; copy: the mean cross-entropy per step (nats)."""
    if probe == "adding":
        return F.mse_loss(prediction, y)
    return F.cross_entropy(prediction.reshape(-1, prediction.shape[-1]), y.reshape(-1))


def baseline_loss(probe: str, y: Tensor) -> float:
    """The loss of the predictor that carries nothing across the delay, on targets ``y``."""
    if probe == "adding":
        return float((y.double() - 1.0).pow(2).mean())  # predicts 1 = E[y]
    steps = y.shape[1]
    log_p = torch.full((steps, SYMBOLS + 1), -math.inf, dtype=torch.float64)  # (T+20, 9)
    log_p[: steps - COPIED, 0] = 0.0  # blank, certainly
    log_p[steps - COPIED :, 1:] = -math.log(SYMBOLS)  # one of the 8 symbols, uniformly
    chosen = log_p.gather(1, y.t())  # (T+20, B): log p of each target
    return float(-chosen.mean())


def solved(probe: str, loss: float, baseline: float) -> bool:
    """adding: MSE < 0.01; copy: cross-entropy < 1% of the baseline's."""
    if probe == "adding":
        return loss < SOLVED_MSE
    return loss < SOLVED_SHARE * baseline


@torch.no_grad()
def score(model: ProbeModel, probe: str, x: Tensor, y: Tensor) -> dict[str, float]:
    """The model's loss beside the baseline's on every sequence of (x, y), whether that is
    solved, and (copy) the share of the copied symbols predicted right."""
    was_training = model.training
    model.eval()
    chunks = [x[start : start + EVAL_BATCH] for start in range(0, len(x), EVAL_BATCH)]
    prediction = torch.cat([predict(model, probe, chunk) for chunk in chunks])
    model.train(was_training)
    loss, baseline = float(probe_loss(probe, prediction, y)), baseline_loss(probe, y)
    metrics = {"loss": loss, "baseline": baseline}
    if probe == "copy":
        copied = prediction[:, -COPIED:].argmax(dim=-1) == y[:, -COPIED:]  # (B, 10)
        metrics["accuracy"] = float(copied.float().mean())
    metrics["solved"] = float(solved(probe, loss, baseline))
    return metrics


def held_out(data: ProbeData, part: str) -> tuple[Tensor, Tensor]:
    """The fixed validation or test sequences of ``data``'s probe and length."""
    count = data.valid_size if part == "valid" else data.test_size
    return probe_batch(data.probe, count, data.length, generator(part))


class ProbeTask:
    """Fresh batches from the run's seed; the loss is the probe's; validation on a fixed set."""

    def __init__(self, model: ProbeModel, data: ProbeData, seed: int = 0) -> None:
        self.model = model
        self.data = data
        self.seed = seed
        self.steps_per_epoch = EPOCH_BATCHES
        self.valid = held_out(data, "valid")

    def batch(self, epoch: int, index: int) -> tuple[Tensor, Tensor]:
        random = generator("train", self.seed, epoch, index)
        return probe_batch(self.data.probe, self.data.batch_size, self.data.length, random)

    def training_loss(self, batch, carry):
        x, y = batch
        prediction = predict(self.model, self.data.probe, x)
        return probe_loss(self.data.probe, prediction, y), None, y.shape[0]

    def evaluate(self) -> dict[str, float]:
        return score(self.model, self.data.probe, *self.valid)


@dataclass
class LoadedProbe:
    """A trained probe model with its configuration."""

    model: ProbeModel
    config: dict

    @property
    def data(self) -> ProbeData:
        return ProbeData(**self.config["data"])


class ProbeSpec(TaskSpec):
    """``rnnkit train probe``: the adding and copy-memory problems over T steps."""

    name = "probe"
    help = "long-range probes: the adding and copy-memory problems"
    description = (
        "Train an RNN, LSTM or GRU on a long-range probe: adding (the sum of two marked values "
        "among T) or copy memory (repeat 10 symbols after T steps). The sequences are "
        "generated from the seed; rnnkit evaluate scores the model beside the memoryless "
        "baseline and says whether the probe is solved."
    )
    sections = {"data": ProbeData, "model": ProbeModelConfig}
    # Adam at 1e-3 sat on the adding baseline for 1,300 steps at T=100 where 1e-2 solved it in
    # 900 (hidden 64, clipped at norm 1)
    train_defaults = {"time_budget": 600.0, "lr": 1e-2}

    def build(self, config, run: Path, resume: bool) -> Built:
        data = config["data"]
        model = build_model(data, config["model"])
        task = ProbeTask(model, data, config["train"].seed)
        parameters = sum(p.numel() for p in model.parameters())
        steps = data.length + (2 * COPIED if data.probe == "copy" else 0)
        return Built(
            task,
            model,
            f"{model.config.cell} {parameters:,} parameters; {data.probe} T={data.length} "
            f"({steps} steps per sequence), batches of {data.batch_size} generated from the "
            f"seed, validation on {data.valid_size} held-out sequences",
        )

    def load(self, run) -> LoadedProbe:
        config = load_run(run, self.name)
        sections = self.from_stored(config, str(Path(run) / "config.json"))
        sizes = config["sizes"]
        model = ProbeModel(
            sections["model"], sizes["input_size"], sizes["output_size"], sizes["per_step"]
        )
        load_best_weights(run, model)
        model.eval()
        return LoadedProbe(model, config)

    def evaluate(self, run, data: str | None = None) -> dict:
        if data is not None:
            raise InputError(
                f"{run}: a probe run generates its test sequences from a fixed seed; --data "
                "does not apply"
            )
        loaded = self.load(run)
        stored = loaded.data
        test = score(loaded.model, stored.probe, *held_out(stored, "test"))
        metric = "mse" if stored.probe == "adding" else "cross_entropy"
        threshold = (
            f"test MSE < {SOLVED_MSE}"
            if stored.probe == "adding"
            else f"test cross-entropy < {SOLVED_SHARE:.0%} of the baseline's "
            f"({SOLVED_SHARE * test['baseline']:.4g})"
        )
        model = {metric: test["loss"]}
        if "accuracy" in test:
            model["accuracy"] = test["accuracy"]
        result = {
            "task": stored.probe,
            "length": stored.length,
            "sequences": stored.test_size,
            "metric": metric,
            "model": model,
            "baseline": {metric: test["baseline"]},
            "solved": bool(test["solved"]),
            "solved_if": threshold,
            "parameters": sum(p.numel() for p in loaded.model.parameters()),
            "valid": score(loaded.model, stored.probe, *held_out(stored, "valid")),
        }
        write_json(Path(run) / "eval.json", result)
        return result


SPEC = ProbeSpec()
