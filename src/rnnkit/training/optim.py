"""Optimizers and learning-rate schedules, by name.

Optimizers: ``sgd`` (with momentum), ``adam``, ``adamw``, ``rmsprop`` and ``sparseadam``. With
``sparseadam``, parameters that receive sparse gradients (``nn.Embedding(sparse=True)``) get
``torch.optim.SparseAdam`` and every other parameter gets ``torch.optim.Adam``; both step together.
Adam and AdamW use PyTorch's fused implementation (one kernel for every parameter's update,
``fused=True``) when every parameter is a floating-point tensor on the CPU or a CUDA device: the
same update as the loop over parameters, 4.5 times faster on two CPU threads for a 5 M-parameter
LSTM (``python benchmarks/lm.py optimizer``, benchmarks/RESULTS.md).

Schedules give the learning rate as ``base_lr * factor``:

- ``constant``: factor 1 (after the optional linear warm-up, which lasts ``warmup_steps`` or
  ``WARMUP_SHARE`` = 10% of the run, whichever is shorter);
- ``step``: factor ``gamma ** (step // step_size)``;
- ``cosine``: linear warm-up over ``warmup_steps``, then ``min_factor + (1 - min_factor) *
  (1 + cos(pi * progress)) / 2``, where ``progress`` in [0, 1] is the fraction of the run done
  (of ``max_steps``, of the epochs, or of the time budget, whichever the run is bounded by);
- ``plateau``: factor multiplied by ``gamma`` whenever the validation loss has not improved for
  ``patience`` evaluations (as ``torch.optim.lr_scheduler.ReduceLROnPlateau``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "sparseadam")
SCHEDULES = ("constant", "step", "cosine", "plateau")

WARMUP_SHARE = 0.1  # warm-up never lasts longer than this share of the run


class Optimizers:
    """One or two ``torch.optim`` optimizers that step, zero and save together."""

    def __init__(self, optimizers: list[torch.optim.Optimizer]) -> None:
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict]:
        return [group for opt in self.optimizers for group in opt.param_groups]

    def zero_grad(self) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)

    def step(self) -> None:
        for opt in self.optimizers:
            opt.step()

    def set_lr(self, lr: float) -> None:
        for group in self.param_groups:
            group["lr"] = lr

    def state_dict(self) -> list[dict]:
        return [opt.state_dict() for opt in self.optimizers]

    def load_state_dict(self, states: list[dict]) -> None:
        for opt, state in zip(self.optimizers, states, strict=True):
            opt.load_state_dict(state)


def sparse_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters of embeddings built with ``sparse=True``."""
    return [m.weight for m in model.modules() if isinstance(m, nn.Embedding) and m.sparse]


def fusable(params: list[nn.Parameter]) -> bool:
    """Whether ``torch.optim.Adam(W)(fused=True)`` takes these parameters: floating point, all on
    the CPU or all on CUDA devices."""
    kinds = {p.device.type for p in params}
    return (
        bool(params) and kinds in ({"cpu"}, {"cuda"}) and all(p.is_floating_point() for p in params)
    )


def build_optimizers(
    model: nn.Module,
    name: str,
    lr: float,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
) -> Optimizers:
    """The optimizer(s) called ``name`` over the model's trainable parameters."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    sparse = {id(p) for p in sparse_parameters(model)}
    params = [p for p in model.parameters() if p.requires_grad]
    dense = [p for p in params if id(p) not in sparse]
    if sparse and name != "sparseadam":
        raise ValueError(
            f"the model has sparse embeddings, which need --optimizer sparseadam, not {name}"
        )
    if name == "sgd":
        return Optimizers(
            [torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)]
        )
    if name == "adam":
        return Optimizers(
            [torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fusable(params))]
        )
    if name == "adamw":
        return Optimizers(
            [torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fusable(params))]
        )
    if name == "rmsprop":
        return Optimizers(
            [torch.optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)]
        )
    if not sparse:
        raise ValueError(
            "--optimizer sparseadam needs a model with a sparse embedding "
            "(it is what SparseAdam is for)"
        )
    optimizers = [torch.optim.SparseAdam([p for p in params if id(p) in sparse], lr=lr)]
    if dense:
        optimizers.append(
            torch.optim.Adam(dense, lr=lr, weight_decay=weight_decay, fused=fusable(dense))
        )
    return Optimizers(optimizers)


class Schedule:
    """Learning-rate factor as a function of the step, the run's progress and validation losses."""

    def __init__(
        self,
        name: str = "constant",
        warmup_steps: int = 0,
        step_size: int = 1000,
        gamma: float = 0.5,
        patience: int = 2,
        min_factor: float = 0.05,
    ) -> None:
        if name not in SCHEDULES:
            raise ValueError(f"unknown schedule {name!r}; expected one of {', '.join(SCHEDULES)}")
        self.name = name
        self.warmup_steps = warmup_steps
        self.step_size = step_size
        self.gamma = gamma
        self.patience = patience
        self.min_factor = min_factor
        # plateau state
        self.plateau_factor = 1.0
        self.best = math.inf
        self.bad_evaluations = 0

    def factor(self, step: int, progress: float) -> float:
        """The factor for optimizer step ``step`` (0-based) at ``progress`` in [0, 1]."""
        # linear warm-up; it ends after warmup_steps or a WARMUP_SHARE of the run, whichever is
        # first, so a short run is never mostly warm-up
        warmup = 1.0
        if self.warmup_steps > 0:
            warmup = min(1.0, max((step + 1) / self.warmup_steps, progress / WARMUP_SHARE))
        if self.name == "step":
            return warmup * self.gamma ** (step // self.step_size)
        if self.name == "cosine":
            progress = min(max(progress, 0.0), 1.0)
            cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
            return warmup * (self.min_factor + (1.0 - self.min_factor) * cosine)
        if self.name == "plateau":
            return warmup * self.plateau_factor
        return warmup

    def observe(self, validation_loss: float) -> None:
        """Record a validation loss (only ``plateau`` uses it)."""
        if validation_loss < self.best:
            self.best = validation_loss
            self.bad_evaluations = 0
            return
        self.bad_evaluations += 1
        if self.name == "plateau" and self.bad_evaluations > self.patience:
            self.plateau_factor *= self.gamma
            self.bad_evaluations = 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "plateau_factor": self.plateau_factor,
            "best": self.best,
            "bad_evaluations": self.bad_evaluations,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.plateau_factor = state["plateau_factor"]
        self.best = state["best"]
        self.bad_evaluations = state["bad_evaluations"]
