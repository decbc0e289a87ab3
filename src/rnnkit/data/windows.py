"""Chronological splits of a series' rows, and the (input, target) windows cut from them.

1. :func:`informer_split` or :func:`fraction_split` cut the rows chronologically into train,
   validation and test ranges. The validation and test ranges start ``lookback`` rows early so
   their first window's *input* may read the end of the previous part; every *target* row lies
   inside its own part.
2. :class:`Windows` cuts a row range into every (input, target) pair with stride 1: inputs are
   rows ``[s, s+L)``, targets rows ``[s+L, s+L+H)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rnnkit.errors import InputError


# --- splits ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Split:
    """Row ranges [start, end) of each part. ``valid`` and ``test`` start ``lookback`` rows before
    their own first target row; ``valid`` is None when no rows are held out for validation."""

    train: tuple[int, int]
    valid: tuple[int, int] | None
    test: tuple[int, int]
    kind: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, "train": self.train, "valid": self.valid, "test": self.test}


# Informer's borders for ETT (Zhou et al., 2021, data_loader.py): 12 months of training, 4 of
# validation, 4 of test, counted in 30-day months of hourly rows.
ETT_HOURLY_BORDERS = (12 * 30 * 24, 16 * 30 * 24, 20 * 30 * 24)  # 8640, 11520, 14400


def informer_split(rows: int, lookback: int, rows_per_hour: int = 1, source: str = "") -> Split:
    """ETT's split: train [0, 8640), validation [8640 - L, 11520), test [11520 - L, 14400) for
    hourly data; every border times 4 for the 15-minute files (``rows_per_hour=4``)."""
    train_end, valid_end, test_end = (b * rows_per_hour for b in ETT_HOURLY_BORDERS)
    if rows < test_end:
        raise InputError(
            f"{source}: the Informer split needs {test_end} rows, the file has {rows}; use "
            "--split 0.7,0.1,0.2"
        )
    if lookback > train_end:
        raise InputError(f"--lookback {lookback} is longer than the training part ({train_end})")
    return Split(
        (0, train_end),
        (train_end - lookback, valid_end),
        (valid_end - lookback, test_end),
        "informer",
    )


def parse_fractions(text: str) -> tuple[float, float, float]:
    """'0.7,0.1,0.2' -> (0.7, 0.1, 0.2): train, validation, test; they must sum to 1."""
    try:
        parts = tuple(float(p) for p in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or any(p < 0 for p in parts) or abs(sum(parts) - 1.0) > 1e-6:
        raise InputError(
            f"--split must be auto, informer, or three fractions train,validation,test summing "
            f"to 1 such as 0.7,0.1,0.2; got {text!r}"
        )
    if parts[0] <= 0 or parts[2] <= 0:
        raise InputError(f"--split {text}: the training and test fractions must be positive")
    return parts


def fraction_split(rows: int, lookback: int, fractions: tuple[float, float, float]) -> Split:
    """Train, validation and test as fractions of the rows in time order (Informer's
    ``Dataset_Custom``: train = int(N * f_train), test = int(N * f_test), validation the rest)."""
    train_rows = int(rows * fractions[0])
    test_rows = int(round(rows * fractions[2], 9))
    valid_rows = rows - train_rows - test_rows
    valid_end = train_rows + valid_rows
    valid = (max(train_rows - lookback, 0), valid_end) if fractions[1] > 0 else None
    return Split((0, train_rows), valid, (max(valid_end - lookback, 0), rows), "fractions")


# --- windows --------------------------------------------------------------------------------------
class Windows:
    """Every window of a row range with stride 1.

    Window ``k`` starts at row ``s = start + k``: its input is ``data[s : s+L, inputs]`` and its
    target ``data[s+L : s+L+H, targets]``, so the last window's target ends at row ``end - 1``.
    """

    def __init__(
        self,
        data: Tensor,
        rows: tuple[int, int],
        lookback: int,
        horizon: int,
        inputs: list[int],
        targets: list[int],
        what: str = "split",
    ) -> None:
        start, end = rows
        count = end - start - lookback - horizon + 1
        if count < 1:
            raise InputError(
                f"the {what} spans {end - start} rows (rows {start}..{end - 1}), fewer than "
                f"--lookback {lookback} + --horizon {horizon} = {lookback + horizon} for one "
                "window; use a shorter lookback or horizon, or more data"
            )
        self.data, self.lookback, self.horizon = data, lookback, horizon
        self.inputs, self.targets = list(inputs), list(targets)
        self.starts = torch.arange(start, start + count)  # (N,) first input row of each window

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def target_rows(self) -> tuple[int, int]:
        """[first, last + 1) of the rows any target of these windows reads."""
        return int(self.starts[0]) + self.lookback, int(
            self.starts[-1]
        ) + self.lookback + self.horizon

    def __getitem__(self, index) -> tuple[Tensor, Tensor]:
        """Windows ``index`` (int, slice or index tensor): x (B, L, Cin), y (B, H, Cout)."""
        starts = self.starts[index].reshape(-1)  # (B,)
        span = torch.arange(self.lookback + self.horizon)  # (L+H,)
        rows = self.data[starts.unsqueeze(1) + span]  # (B, L+H, C)
        x = rows[:, : self.lookback][:, :, self.inputs]  # (B, L, Cin)
        y = rows[:, self.lookback :][:, :, self.targets]  # (B, H, Cout)
        return x, y
