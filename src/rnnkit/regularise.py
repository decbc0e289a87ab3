"""Regularisation of recurrent networks: the masks, written once for every layer and model.

- :func:`locked_dropout`, variational dropout (Gal & Ghahramani 2016): one Bernoulli mask per
  sequence, the same at every time step, ``x_t * m / (1 - p)`` with ``m ~ Bernoulli(1 - p)``
  of shape (B, F);
- :func:`weight_drop`, DropConnect on a recurrent matrix (Wan et al. 2013; Merity et al. 2017,
  AWD-LSTM): ``W_hh * M / (1 - p)`` with one mask ``M ~ Bernoulli(1 - p)`` of W_hh's shape per
  forward pass, so every step of every sequence of a batch uses the same dropped matrix;
- :func:`zoneout` (Krueger et al. 2016): each unit of the state keeps its previous value with
  probability z, ``s_t = m * s_{t-1} + (1 - m) * s~_t`` with ``m ~ Bernoulli(z)`` drawn afresh at
  every step; at evaluation the expectation ``s_t = z * s_{t-1} + (1 - z) * s~_t``.

Dropout-type masks (the first two) scale by ``1 / (1 - p)`` so that evaluation, which uses no
mask, computes the expectation: an evaluated model is the unregularised one.

:func:`dropout` is plain dropout (a fresh mask per element) with a faster mask on the CPU, where
``torch.nn.functional.dropout`` draws one random number per element: :func:`bernoulli_mask` cuts
16-bit uniforms out of 64-bit draws, four elements per draw, so the keep probability is a
multiple of 2^-16 (0.8500061 for p = 0.15), and scales by the inverse of that probability.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "bernoulli_mask",
    "check_rate",
    "dropout",
    "locked_dropout",
    "sequence_dropout",
    "weight_drop",
    "zoneout",
    "zoneout_states",
]


def check_rate(name: str, value: float) -> float:
    """``value`` as a float when it is a probability in [0, 1); ValueError naming ``name``."""
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return float(value)


MASK_BITS = 16  # bits of randomness per element of a CPU dropout mask


def bernoulli_mask(shape: torch.Size | tuple[int, ...], keep: float) -> tuple[Tensor, float]:
    """A boolean CPU mask of ``shape``, each element True with probability ``q``, and ``q``: the
    keep probability ``keep`` rounded to a multiple of ``2^-16``. Element i is True when its
    16-bit uniform integer ``u_i`` in [-2^15, 2^15) is below ``round(keep * 2^16) - 2^15``;
    the integers are the four 16-bit parts of 64-bit draws from the default generator."""
    count = math.prod(shape)
    levels = 1 << MASK_BITS
    threshold = round(keep * levels)
    draws = torch.empty((count + 3) // 4, dtype=torch.int64).random_(-(1 << 63), None)
    uniform = draws.view(torch.int16)[:count].view(shape)  # u_i in [-2^15, 2^15)
    return uniform < threshold - levels // 2, threshold / levels


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """``x * m / q`` with ``m ~ Bernoulli(q)`` drawn for every element, ``q`` = 1 - p (on the
    CPU, rounded to a multiple of 2^-16: :func:`bernoulli_mask`); ``x`` outside training or at
    ``p = 0``. On other devices, ``torch.nn.functional.dropout`` (a fused kernel there)."""
    if not training or p == 0:
        return x
    if x.device.type != "cpu":
        return F.dropout(x, p, training=True)
    mask, keep = bernoulli_mask(x.shape, 1.0 - p)
    scaled = mask.to(x.dtype).mul_(1.0 / keep)  # m / q in x's dtype: backward is one product
    return x * scaled


def locked_dropout(x: Tensor, p: float, training: bool, time_dim: int = 1) -> Tensor:
    """Variational dropout of ``x``: one mask per sequence, shared by every step along
    ``time_dim``. ``x`` (B, T, F) with ``time_dim=1`` (mask (B, 1, F)), or (T, B, F) with
    ``time_dim=0`` (mask (1, B, F)). The identity outside training or at ``p = 0``."""
    if not training or p == 0:
        return x
    shape = list(x.shape)
    shape[time_dim] = 1
    mask = x.new_empty(shape).bernoulli_(1 - p) / (1 - p)  # constant over time
    return x * mask


def sequence_dropout(
    x: Tensor, p: float, training: bool, variational: bool, time_dim: int = 1
) -> Tensor:
    """Dropout on a batch of sequences: :func:`locked_dropout` when ``variational``, else a
    fresh mask per element (:func:`dropout`)."""
    if variational:
        return locked_dropout(x, p, training, time_dim)
    return dropout(x, p, training)


def weight_drop(weight: Tensor, p: float, training: bool) -> Tensor:
    """DropConnect: ``weight * M / (1 - p)`` with one fresh mask M of the weight's shape, or the
    weight itself outside training or at ``p = 0``. Called once per forward pass."""
    return dropout(weight, p, training)


def zoneout(new: Tensor, old: Tensor, rate: float, training: bool) -> Tensor:
    """One step of zoneout: ``m * old + (1 - m) * new`` with a fresh ``m ~ Bernoulli(rate)`` of
    ``new``'s shape in training, ``rate * old + (1 - rate) * new`` otherwise; ``new`` at 0."""
    if rate == 0:
        return new
    if not training:
        return torch.lerp(new, old, rate)  # (1 - z) new + z old
    keep = torch.empty_like(new).bernoulli_(rate).bool()  # m: units that keep their old value
    return torch.where(keep, old, new)


def zoneout_states(
    new: tuple[Tensor, ...], old: tuple[Tensor, ...], rates: tuple[float, ...], training: bool
) -> tuple[Tensor, ...]:
    """:func:`zoneout` of each state, ``(h,)`` or ``(h, c)``, at its own rate."""
    if not any(rates):
        return new
    return tuple(zoneout(n, o, z, training) for n, o, z in zip(new, old, rates, strict=True))
