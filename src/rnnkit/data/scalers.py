"""Scalers: per-column maps of a series' values (..., C) to the model's scale and back.

:class:`StandardScaler` (``z = (x - mean) / std``), :class:`MinMaxScaler`
(``(x - min) / (max - min)``) and :class:`IdentityScaler` are fitted on the training rows only, so
that nothing of the validation and test rows leaks into training, and are stored with the run
(:meth:`Scaler.to_dict`, :func:`scaler_from_dict`). They transform numpy arrays and tensors alike.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from rnnkit.errors import InputError


class Scaler:
    """Maps values (…, C) to the model's scale and back; fitted on the training rows only."""

    kind = "none"

    def fit(self, values: np.ndarray) -> Scaler:
        return self

    def transform(self, values):
        return values

    def inverse_transform(self, values):
        return values

    @property
    def columns(self) -> int | None:
        """How many columns the scaler was fitted on (None: any)."""
        return None

    def to_dict(self) -> dict:
        return {"kind": self.kind}


class IdentityScaler(Scaler):
    """No scaling."""


class StandardScaler(Scaler):
    """``z = (x - mean) / std`` per column, with numpy's population std as Informer uses."""

    kind = "standard"

    def __init__(self, mean=None, std=None) -> None:
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.std = None if std is None else np.asarray(std, dtype=np.float64)

    def fit(self, values: np.ndarray) -> StandardScaler:
        self.mean = values.mean(axis=0)
        std = values.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)  # a constant column stays centred, not divided by 0
        return self

    def transform(self, values):
        return (values - _like(self.mean, values)) / _like(self.std, values)

    def inverse_transform(self, values):
        return values * _like(self.std, values) + _like(self.mean, values)

    @property
    def columns(self) -> int | None:
        return None if self.mean is None else len(self.mean)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "mean": self.mean.tolist(), "std": self.std.tolist()}


class MinMaxScaler(Scaler):
    """``(x - min) / (max - min)`` per column: the training rows span [0, 1]."""

    kind = "minmax"

    def __init__(self, minimum=None, maximum=None) -> None:
        self.minimum = None if minimum is None else np.asarray(minimum, dtype=np.float64)
        self.maximum = None if maximum is None else np.asarray(maximum, dtype=np.float64)

    def fit(self, values: np.ndarray) -> MinMaxScaler:
        self.minimum, self.maximum = values.min(axis=0), values.max(axis=0)
        return self

    @property
    def span(self) -> np.ndarray:
        span = self.maximum - self.minimum
        return np.where(span > 0, span, 1.0)

    def transform(self, values):
        return (values - _like(self.minimum, values)) / _like(self.span, values)

    def inverse_transform(self, values):
        return values * _like(self.span, values) + _like(self.minimum, values)

    @property
    def columns(self) -> int | None:
        return None if self.minimum is None else len(self.minimum)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "min": self.minimum.tolist(), "max": self.maximum.tolist()}


SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler, "none": IdentityScaler}


def _like(parameter: np.ndarray, values):
    """A scaler's per-column parameter as the same kind of array as ``values``."""
    if isinstance(values, Tensor):
        return torch.as_tensor(parameter, dtype=values.dtype, device=values.device)
    return parameter


def build_scaler(kind: str) -> Scaler:
    if kind not in SCALERS:
        raise InputError(f"--scaler must be one of {', '.join(SCALERS)}, got {kind!r}")
    return SCALERS[kind]()


def scaler_from_dict(data: dict, where: str | Path = "scaler.json") -> Scaler:
    """Rebuild a scaler saved with :meth:`Scaler.to_dict`; InputError naming ``where`` and the key
    when a parameter is missing or is not a list of finite numbers, one per column."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: not a scaler (expected a JSON object with 'kind')")
    kind = data.get("kind")
    keys = {"standard": ("mean", "std"), "minmax": ("min", "max"), "none": ()}
    if not isinstance(kind, str) or kind not in keys:
        raise InputError(
            f"{where}: unknown scaler kind {kind!r}; expected one of {', '.join(keys)}"
        )
    parameters = []
    for key in keys[kind]:
        values = data.get(key)
        if values is None:
            raise InputError(f"{where}: the {kind} scaler has no {key!r}")
        ok = (
            isinstance(values, list)
            and values
            and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in values
            )
        )
        if not ok:
            raise InputError(
                f"{where}: key {key!r} must be a list of finite numbers, got {values!r}"
            )
        parameters.append(values)
    if len({len(p) for p in parameters}) > 1:
        raise InputError(f"{where}: {' and '.join(keys[kind])} have different lengths")
    if kind == "standard" and any(v <= 0 for v in parameters[1]):
        raise InputError(f"{where}: key 'std' must be positive")
    return {"standard": StandardScaler, "minmax": MinMaxScaler, "none": IdentityScaler}[kind](
        *parameters
    )


def select(scaler: Scaler, columns: list[int]) -> Scaler:
    """The scaler restricted to some of its columns (e.g. the target columns of the outputs)."""
    if isinstance(scaler, StandardScaler):
        return StandardScaler(scaler.mean[columns], scaler.std[columns])
    if isinstance(scaler, MinMaxScaler):
        return MinMaxScaler(scaler.minimum[columns], scaler.maximum[columns])
    return scaler
