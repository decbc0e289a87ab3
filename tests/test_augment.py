"""SpecAugment masking (rnnkit.data.augment) and its use in audio classification batches."""

import torch

from rnnkit.data.augment import augment_generator, spec_augment


def batch():
    frames = torch.randn(4, 30, 12) + 5.0  # (B, T, F); no true zeros
    lengths = torch.tensor([30, 20, 7, 1])
    for row, length in enumerate(lengths):
        frames[row, length:] = 0.0  # padding
    return frames, lengths


def test_masks_are_whole_bands_and_spans_within_each_clip_and_the_input_is_untouched():
    frames, lengths = batch()
    original = frames.clone()
    masked = spec_augment(frames, lengths, 4, 6, 2, torch.Generator().manual_seed(0))
    assert torch.equal(frames, original)
    for row, length in enumerate(lengths.tolist()):
        clip = masked[row, :length]
        zero = clip == 0
        zero_bands = zero.all(dim=0)  # (F,): masked features
        zero_frames = zero.all(dim=1)  # (T,): masked frames
        # every zero is in a masked band or a masked frame: nothing else changed
        assert torch.equal(zero, zero_bands[None, :] | zero_frames[:, None])
        unchanged = ~zero
        assert torch.equal(clip[unchanged], original[row, :length][unchanged])
        if length >= 20:  # a short clip may lose every frame, and then every band reads zero
            assert zero_bands.sum() <= 2 * 4 and zero_frames.sum() <= 2 * 6
            assert zero_bands.any() or zero_frames.any()
        assert torch.all(masked[row, length:] == 0)  # padding stays padding


def test_masks_vary_by_clip_and_batch_and_are_a_pure_function_of_the_generator():
    frames, lengths = batch()
    draw = lambda e, i: spec_augment(frames, lengths, 4, 6, 2, augment_generator(0, e, i))  # noqa: E731
    assert torch.equal(draw(1, 2), draw(1, 2))
    assert not torch.equal(draw(1, 2), draw(1, 3))
    assert not torch.equal(draw(1, 2), draw(2, 2))
    masked = spec_augment(frames, lengths, 4, 0, 1, torch.Generator().manual_seed(0))
    zero = masked[:, :7] == 0  # the first 7 frames of every clip but the last (one frame)
    assert zero[:3].all(dim=1).any() and not zero[:3].all(dim=2).any()  # bands only, no frames


def test_zero_widths_change_nothing():
    frames, lengths = batch()
    same = spec_augment(frames, lengths, 0, 0, 3, torch.Generator().manual_seed(0))
    assert torch.equal(same, frames)


def test_change_speed_scales_duration_by_one_over_the_factor_and_frequencies_by_it():
    import math

    from rnnkit.data.augment import change_speed

    rate = 8000
    tone = torch.sin(2 * math.pi * 500 * torch.arange(rate) / rate)  # 1 s at 500 Hz
    assert change_speed(tone, 1.0, rate) is tone  # factor 1: the clip itself
    for factor in (0.8, 0.9, 1.1, 1.25):
        faster = change_speed(tone, factor, rate)
        assert faster.dtype == torch.float32 and faster.shape == (round(rate / factor),)
        spectrum = torch.fft.rfft(faster * torch.hann_window(len(faster))).abs()
        peak = float(spectrum.argmax()) * rate / len(faster)  # Hz, one bin = rate / N
        assert abs(peak - 500 * factor) <= rate / len(faster)
