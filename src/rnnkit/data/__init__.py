"""Data: files become batches."""

import torch


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The random generator of one epoch's shuffling: a pure function of the seed and the epoch,
    so that ``batch(epoch, index)`` is too and a resumed run sees the same batches."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)
