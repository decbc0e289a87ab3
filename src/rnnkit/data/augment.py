"""Augmenting audio for training only: speed perturbation of waveforms and SpecAugment's masking
of feature frames.

**Speed perturbation** (Ko et al. 2015) plays a clip ``x`` (N,) at ``α`` times its speed: the
samples are read as if recorded at ``α · sr`` and resampled to ``sr`` (soxr's filter), giving
``round(N / α)`` samples. Duration scales by ``1 / α`` and every frequency (pitch, formants) by
``α``, roughly what a different speaker's tempo and vocal-tract length do. Kaldi's recipes add
copies at 0.9 and 1.1 beside the original.

**SpecAugment's masking** (Park et al. 2019):
For each clip of a padded batch ``frames`` (B, T, F) with its own length ``L_b``, ``masks`` times:

- a **frequency mask**: ``f ~ U{0 .. freq_width}``, ``f_0 ~ U{0 .. F - f}``; features
  ``f_0 .. f_0 + f - 1`` of every frame are set to 0;
- a **time mask**: ``t ~ U{0 .. min(time_width, L_b)}``, ``t_0 ~ U{0 .. L_b - t}``; frames
  ``t_0 .. t_0 + t - 1`` are set to 0.

Features are normalised per clip (:mod:`rnnkit.data.features`), so 0 is each feature's mean over
the clip: a mask removes information without adding a value the clip never had. Masks stay within
a clip's own length, so the padding stays zero and ``lengths`` stay true. The draws come from the
generator given, a pure function of (seed, epoch, batch) in the classification task, so a resumed
run sees the same masks. Time warping, the third SpecAugment policy, is left out: Park et al.
found it the least useful and the costliest.
"""

from __future__ import annotations

import torch
from torch import Tensor


def spec_augment(
    frames: Tensor,
    lengths: Tensor,
    freq_width: int,
    time_width: int,
    masks: int,
    generator: torch.Generator,
) -> Tensor:
    """A masked copy of ``frames`` (B, T, F) (``lengths`` (B,)); widths 0 turn a kind off."""
    masked = frames.clone()
    batch, _, features = frames.shape

    def draw(high: int) -> int:  # U{0 .. high}
        return int(torch.randint(0, high + 1, (), generator=generator))

    for row in range(batch):
        length = int(lengths[row])
        for _ in range(masks):
            if freq_width > 0:
                width = draw(min(freq_width, features))
                start = draw(features - width)
                masked[row, :length, start : start + width] = 0.0
            if time_width > 0:
                width = draw(min(time_width, length))
                start = draw(length - width)
                masked[row, start : start + width, :] = 0.0
    return masked


def change_speed(waveform: Tensor, factor: float, sample_rate: int) -> Tensor:
    """``waveform`` (N,) played ``factor`` times as fast, at the same ``sample_rate``:
    (round(N / factor),) float32."""
    import numpy as np
    import soxr  # the [audio] extra, as for reading clips

    if factor == 1.0:
        return waveform
    faster = soxr.resample(waveform.numpy(), factor * sample_rate, sample_rate)
    return torch.from_numpy(np.ascontiguousarray(faster, dtype=np.float32))


def augment_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """The masks' random generator for batch ``index`` of ``epoch``: independent of the
    shuffling's (:func:`rnnkit.data.epoch_generator`) and a pure function of its arguments."""
    return torch.Generator().manual_seed(((seed * 1_000_003 + epoch) * 1_000_033 + index) ^ 0x5EC)
