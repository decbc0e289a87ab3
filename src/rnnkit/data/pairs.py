"""Parallel text: two line-aligned files (line i of one translates line i of the other) -> batches.

- :func:`read_lines` reads one file of sentences, refusing empty lines and non-UTF-8 bytes;
- :func:`read_pairs` reads a source and a target file and checks they have the same number of lines;
- :class:`PairBatches` cuts token-id pairs into padded batches of sentences of similar length
  (less padding, so less wasted compute), in an order that is a pure function of (seed, epoch).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.data import epoch_generator
from rnnkit.data.text import normalise_newlines, read_text
from rnnkit.errors import InputError

POOL_BATCHES = 50  # sort by length within pools of this many batches, then shuffle the batches


def split_lines(text: str, what: str) -> list[str]:
    """The lines of ``text`` (one final newline allowed), each stripped; an empty line raises
    InputError naming ``what`` and the line number."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise InputError(f"{what}: no sentences (expected one sentence per line)")
    stripped = [line.strip() for line in lines]
    for number, line in enumerate(stripped, start=1):
        if not line:
            raise InputError(f"{what}: line {number} is empty; expected one sentence a line")
    return stripped


def read_lines(path: str | Path) -> list[str]:
    """Sentences of a UTF-8 file, one per line (``\\n``, ``\\r\\n`` or a lone ``\\r``);
    InputError for a missing, non-UTF-8 or empty file, or an empty line."""
    return split_lines(normalise_newlines(read_text(path)), str(path))


def read_pairs(source: str | Path, target: str | Path) -> tuple[list[str], list[str]]:
    """The sentences of two line-aligned files; InputError if their line counts differ."""
    source_lines, target_lines = read_lines(source), read_lines(target)
    if len(source_lines) != len(target_lines):
        raise InputError(
            f"{source} has {len(source_lines)} lines but {target} has {len(target_lines)}: "
            "parallel files must be line-aligned (line i of one translates line i of the other)"
        )
    return source_lines, target_lines


def pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    """Right-pad id lists into ``ids`` (B, T) int64 and ``lengths`` (B,) int64."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    ids = torch.full((len(sequences), int(lengths.max())), pad_id, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.as_tensor(sequence, dtype=torch.long)
    return ids, lengths


class PairBatches:
    """Batches of (source, target) id sequences; ``batches(epoch, index)`` is a pure function.

    Each epoch: shuffle the pairs (seeded by ``seed`` and ``epoch``), sort each pool of
    ``POOL_BATCHES * batch_size`` pairs by source length, cut the pools into batches and shuffle
    the batches. A batch is ``(source (B, S), source_lengths (B,), target (B, T),
    target_lengths (B,))``; the target ids are returned as given (with BOS/EOS if the caller
    added them).
    """

    def __init__(
        self,
        sources: Sequence[Sequence[int]],
        targets: Sequence[Sequence[int]],
        batch_size: int,
        pad_id: int,
        seed: int = 0,
    ) -> None:
        if len(sources) != len(targets):
            raise ValueError(f"{len(sources)} sources but {len(targets)} targets")
        if not sources:
            raise InputError("no training pairs left (check the files and --max-length)")
        if batch_size <= 0:
            raise InputError(f"--batch-size must be positive, got {batch_size}")
        self.sources, self.targets = list(sources), list(targets)
        self.batch_size, self.pad_id, self.seed = batch_size, pad_id, seed
        self._order_epoch: int | None = None
        self._order: list[list[int]] = []

    def __len__(self) -> int:
        return math.ceil(len(self.sources) / self.batch_size)

    def order(self, epoch: int) -> list[list[int]]:
        """The pair indices of every batch of ``epoch``, in the order they are served."""
        if self._order_epoch != epoch:
            generator = epoch_generator(self.seed, epoch)
            shuffled = torch.randperm(len(self.sources), generator=generator).tolist()
            pool = POOL_BATCHES * self.batch_size
            batches = []
            for start in range(0, len(shuffled), pool):
                chunk = sorted(shuffled[start : start + pool], key=lambda i: len(self.sources[i]))
                batches += [
                    chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)
                ]
            permutation = torch.randperm(len(batches), generator=generator).tolist()
            self._order = [batches[i] for i in permutation]
            self._order_epoch = epoch
        return self._order

    def __call__(self, epoch: int, index: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        members = self.order(epoch)[index]
        source, source_lengths = pad([self.sources[i] for i in members], self.pad_id)
        target, target_lengths = pad([self.targets[i] for i in members], self.pad_id)
        return source, source_lengths, target, target_lengths
