"""An exponential moving average of the weights (Polyak averaging): the model a run evaluates
and keeps when ``--ema DECAY`` is given.

After every optimizer step t (counted from 0) each parameter's average moves towards it:

    theta_avg <- d_t * theta_avg + (1 - d_t) * theta,     d_t = min(d, (1 + t) / (10 + t))

starting from the initial weights. The ramp ``(1 + t) / (10 + t)`` (TensorFlow's
``ExponentialMovingAverage(num_updates=t)``) keeps the first evaluations from being dominated by
the random initialisation; after about ``10 / (1 - d)`` steps the decay is ``d`` itself, an
average over the last ``~1 / (1 - d)`` steps. Averaged weights sit in a flatter part of the loss
than the last iterate; AWD-LSTM's averaged SGD (Merity et al. 2017) and checkpoint averaging in
translation rely on the same effect.

Training always steps the raw weights; evaluation swaps the averages in (:meth:`swapped_in`) and
back. Only parameters are averaged (rnnkit's models hold no buffers that training changes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn

PREFIX = "ema."
RAMP = 10.0


class WeightAverage:
    """The moving average of ``model``'s parameters with decay ``decay`` in (0, 1)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the average's decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.named = dict(model.named_parameters())  # tied weights appear once
        self.average = {name: p.detach().clone() for name, p in self.named.items()}

    def decay_at(self, step: int) -> float:
        """d_t: the ramp for the first steps, then the decay itself."""
        return min(self.decay, (1.0 + step) / (RAMP + step))

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Move the averages towards the current weights after optimizer step ``step``."""
        weight = 1.0 - self.decay_at(step)
        averages = list(self.average.values())
        current = [self.named[name].detach() for name in self.average]
        torch._foreach_lerp_(averages, current, weight)  # avg += w * (theta - avg)

    @contextlib.contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The model holds the averaged weights inside the block, its own ones again after."""
        with torch.no_grad():
            kept = {name: p.detach().clone() for name, p in self.named.items()}
            for name, p in self.named.items():
                p.copy_(self.average[name])
        try:
            yield
        finally:
            with torch.no_grad():
                for name, p in self.named.items():
                    p.copy_(kept[name])

    def state_tensors(self) -> dict[str, Tensor]:
        """The averages under ``ema.<parameter name>``, for ``last.safetensors``."""
        return {PREFIX + name: average for name, average in self.average.items()}

    def load_state_tensors(self, tensors: dict[str, Tensor]) -> None:
        """Restore :meth:`state_tensors`; KeyError names a missing average."""
        with torch.no_grad():
            for name, average in self.average.items():
                average.copy_(tensors[PREFIX + name])
