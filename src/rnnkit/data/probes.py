"""Long-range probes: sequences generated from a seed, whose target depends on inputs T steps back.

**Adding** (Hochreiter & Schmidhuber 1997, in the protocol of Arjovsky et al. 2016): T steps of
two channels, ``x[:, t, 0]`` uniform in [0, 1) and ``x[:, t, 1]`` a marker, 1 at exactly two
steps (one in the first half [0, T/2), one in the second [T/2, T)) and 0 elsewhere. The target is
the sum of the two marked values, ``y = sum_t x[:, t, 0] * x[:, t, 1]``, in [0, 2).

**Copy memory** (Arjovsky et al. 2016): symbols 0 = blank, 1..8 = data, 9 = delimiter. The input
is 10 data symbols drawn uniformly from 1..8, T - 1 blanks, the delimiter, 10 blanks: T + 20
steps, the delimiter T steps after the last data symbol. The target is blank for the first T + 10
steps and then the 10 data symbols, in order: the model must hold them over T steps.

Every generator takes a ``torch.Generator``; :func:`generator` derives one from a purpose and
numbers, so that training batches are a pure function of (run seed, batch number) and the
validation and test sets of fixed seeds that no training stream uses.
"""

from __future__ import annotations

import hashlib

import torch
from torch import Tensor

PROBES = ("adding", "copy")
BLANK, DELIMITER = 0, 9
SYMBOLS = 8  # data symbols 1..8
CATEGORIES = 10  # blank, 8 symbols, delimiter: the copy task's input alphabet
COPIED = 10  # data symbols per copy sequence


def generator(purpose: str, *numbers: int) -> torch.Generator:
    """A random generator seeded by a hash of ``purpose`` ("train", "valid", "test") and
    ``numbers``: streams of different purposes or numbers never share a seed by construction."""
    key = ":".join([purpose, *map(str, numbers)]).encode()
    seed = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1
    return torch.Generator().manual_seed(seed)


def adding_batch(count: int, length: int, random: torch.Generator) -> tuple[Tensor, Tensor]:
    """``count`` adding sequences of ``length`` T >= 2: inputs (B, T, 2) float32 (values,
    markers) and targets (B,) float32, the sum of the two marked values."""
    if length < 2:
        raise ValueError(f"the adding problem needs length >= 2 (two markers), got {length}")
    values = torch.rand(count, length, generator=random)  # (B, T)
    half = length // 2
    first = torch.randint(0, half, (count,), generator=random)  # (B,)
    second = torch.randint(half, length, (count,), generator=random)  # (B,)
    markers = torch.zeros(count, length)  # (B, T)
    rows = torch.arange(count)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    targets = values[rows, first] + values[rows, second]  # (B,)
    return torch.stack([values, markers], dim=-1), targets  # (B, T, 2), (B,)


def copy_batch(count: int, length: int, random: torch.Generator) -> tuple[Tensor, Tensor]:
    """``count`` copy-memory sequences with delay ``length`` T >= 1: input symbols and target
    symbols, both (B, T + 20) int64."""
    if length < 1:
        raise ValueError(f"the copy task needs length >= 1, got {length}")
    data = torch.randint(1, SYMBOLS + 1, (count, COPIED), generator=random)  # (B, 10)
    steps = length + 2 * COPIED
    inputs = torch.full((count, steps), BLANK, dtype=torch.long)  # (B, T+20)
    inputs[:, :COPIED] = data
    inputs[:, COPIED + length - 1] = DELIMITER
    targets = torch.full((count, steps), BLANK, dtype=torch.long)  # (B, T+20)
    targets[:, -COPIED:] = data
    return inputs, targets


def probe_batch(
    probe: str, count: int, length: int, random: torch.Generator
) -> tuple[Tensor, Tensor]:
    """A batch of ``probe`` ("adding" or "copy"): inputs and targets as above."""
    if probe == "adding":
        return adding_batch(count, length, random)
    if probe == "copy":
        return copy_batch(count, length, random)
    raise ValueError(f"unknown probe {probe!r}; expected one of {', '.join(PROBES)}")
