"""The arithmetic of a study report: mean and spread over seeds, and paired differences with a
95% Student-t interval.

For pairs (a_i, b_i), i = 1..n, measured on equal seeds, the differences d_i = b_i - a_i give

    mean  = (1/n) sum d_i
    sd    = sqrt( sum (d_i - mean)^2 / (n - 1) )
    half  = t_{0.975, n-1} * sd / sqrt(n)          the 95% interval is mean +- half
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# t_{0.975, df} for df = 1..30 (two-sided 95%), from the standard table
# fmt: off
T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)
# fmt: on
Z975 = 1.959964


def t_quantile_975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom: the table up to 30, then
    the Cornish-Fisher expansion z + (z^3 + z)/(4 df) + (5z^5 + 16z^3 + 3z)/(96 df^2), which is
    within 2e-4 of the exact value there."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df}")
    if df <= len(T975):
        return T975[df - 1]
    z = Z975
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (divisor n - 1); the sd is None for one value."""
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = sum(values) / n
    if n == 1:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


@dataclass(frozen=True)
class Difference:
    """A paired comparison: mean of b - a, the half-width of its 95% interval (None for one
    pair) and the number of pairs."""

    mean: float
    half_width: float | None
    n: int

    @property
    def low(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width

    @property
    def excludes_zero(self) -> bool:
        """Whether the 95% interval lies wholly on one side of zero."""
        return self.half_width is not None and (self.low > 0 or self.high < 0)


def paired_difference(pairs: Sequence[tuple[float, float]]) -> Difference:
    """The mean of b - a over ``pairs`` of (a, b) with its 95% Student-t interval."""
    differences = [b - a for a, b in pairs]
    mean, sd = mean_sd(differences)
    n = len(differences)
    half = None if sd is None else t_quantile_975(n - 1) * sd / math.sqrt(n)
    return Difference(mean, half, n)
