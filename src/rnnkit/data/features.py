"""Audio features on ``torch.stft``: log-mel energies and MFCCs, computed as librosa computes them.

From a mono waveform ``x`` (N,) at ``sample_rate`` (``n_fft`` = the window length rounded up to a
power of two, ``hop`` = ``hop_ms`` in samples):

1. the short-time Fourier transform, centred (``n_fft // 2`` zeros padded at each end), with a
   periodic Hann window of ``window_ms`` zero-padded to ``n_fft``:
   ``X[f, t] = Σ_n x[t·hop + n - n_fft/2] w[n] exp(-2πi f n / n_fft)``, f = 0 .. n_fft/2;
2. the power ``P = |X|²`` (n_fft/2 + 1, T);
3. mel energies ``M = W P`` (n_mels, T), with ``W`` the triangular filters of
   :func:`mel_filterbank` (Slaney's mel scale and area normalisation: ``librosa.filters.mel``'s
   defaults); a training copy under ``--vtlp`` reads each bin's frequency through
   :func:`vtlp_warp` first;
4. log-mel in decibels ``L = 10 log10(max(M, 1e-10))``, floored at ``max(L) - top_db``
   (``librosa.power_to_db(M, top_db=80)`` at the default ``--top-db 80``);
5. with ``--trim-db D``, leading and trailing silence cut: the frames before the first and after
   the last frame whose loudest band reaches ``max(L) - D`` are dropped (``librosa.effects.trim``
   on mel frames);
6. MFCCs: ``C = D L``, the orthonormal DCT-II over the mel axis, first ``n_mfcc`` rows
   (``librosa.feature.mfcc``);
7. each feature normalised over the utterance's frames: ``(z - mean_t z) / (std_t z + 1e-5)``.

Recordings differ in how much silence surrounds the word and how deep their noise floor is (FSDD,
medians per speaker: 0 to 11 frames of silence before the word and 0 to 8 after, a floor 47 to
72 dB below the peak; ``python benchmarks/speech.py silence``); ``--trim-db`` and a ``--top-db``
above every floor take those differences out of the features.

Returned as (T, F) frames, F = ``n_mels`` or ``n_mfcc``. tests/test_audio.py holds steps 1-4 and
6 against librosa's own functions.

Why not torchaudio: its wheels are built against one torch version each. The newest (2.11.0)
installs beside torch 2.13.0 without complaint but its compiled extension fails to load ("Could
not load this library: .../_torchaudio.abi3.so"), so ``import torchaudio`` fails. librosa installs
cleanly but pulls in numba, llvmlite and scikit-learn, so it stays a test-only dependency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnkit.config import option
from rnnkit.errors import InputError

FEATURES = ("logmel", "mfcc")
AMIN = 1e-10  # floor of the mel energies before the logarithm
SPEEDS = (0.5, 2.0)  # the speed-perturbation factors allowed
WARPS = (0.8, 1.25)  # the vocal-tract-length warp factors allowed
# VTLP's warp is linear up to this fraction of the Nyquist frequency (times min(α, 1) / α)
WARP_KNEE = 0.6


@dataclass
class FeatureConfig:
    """How a clip becomes frames of features (``rnnkit train classify`` options for audio data);
    stored in config.json."""

    features: str = option(
        "logmel",
        "audio features: logmel (log mel-band energies, dB) or mfcc (their cosine transform)",
        choices=FEATURES,
    )
    sample_rate: int = option(
        8000, "resample every clip to this rate (Hz); stereo is mixed to mono", min=1000
    )
    n_mels: int = option(40, "mel bands", min=1)
    n_mfcc: int = option(13, "cepstral coefficients kept (--features mfcc)", min=1)
    window_ms: float = option(25.0, "analysis window (milliseconds)", above=0)
    hop_ms: float = option(10.0, "hop between frames (milliseconds)", above=0)
    top_db: float = option(
        80.0,
        "dynamic range: log-mel energies are floored this many dB below the clip's loudest",
        above=0,
    )
    trim_db: float | None = option(
        None,
        "cut leading and trailing frames whose loudest mel band is more than this many dB "
        "below the clip's loudest (silence)",
        above=0,
        none="off",
    )
    freq_mask: int = option(
        0,
        "SpecAugment while training (Park et al. 2019): mask up to this many consecutive "
        "feature bands, --mask-count times per clip (0: off)",
        min=0,
    )
    time_mask: int = option(
        0, "SpecAugment while training: mask up to this many consecutive frames (0: off)", min=0
    )
    mask_count: int = option(2, "SpecAugment: masks of each kind per clip", min=1)
    speed_perturb: list[float] | None = option(
        None,
        "speed perturbation while training (Ko et al. 2015): every training clip is added "
        "once more per factor, resampled to play that many times as fast (tempo and pitch "
        "both change), e.g. 0.9,1.1",
        none="off",
    )
    vtlp: list[float] | None = option(
        None,
        "vocal tract length perturbation while training (Jaitly & Hinton 2013): every "
        "training clip is added once more per factor, its frequency axis stretched by that "
        "factor (formants move, tempo stays), e.g. 0.9,1.1",
        none="off",
    )
    test_speeds: list[float] | None = option(
        None,
        "test-time augmentation: validation, evaluate and classify average the class "
        "probabilities over a copy of each clip at each of these speeds (1: the clip as it "
        "is), e.g. 0.8,0.9,1,1.1,1.2",
        none="off",
    )

    def check(self) -> None:
        for name, factors, (low, high) in (
            ("--speed-perturb", self.speed_perturb, SPEEDS),
            ("--vtlp", self.vtlp, WARPS),
            ("--test-speeds", self.test_speeds, SPEEDS),
        ):
            if factors == []:
                raise InputError(f"{name}: give at least one factor (e.g. 0.9,1.1), or off")
            for factor in factors or ():
                if not low <= factor <= high:
                    raise InputError(
                        f"{name}: each factor must be between {low} and {high}, got {factor}"
                    )
        if self.features == "mfcc" and self.n_mfcc > self.n_mels:
            raise InputError(f"--n-mfcc ({self.n_mfcc}) must not exceed --n-mels ({self.n_mels})")

    @property
    def size(self) -> int:
        """Features per frame."""
        return self.n_mfcc if self.features == "mfcc" else self.n_mels

    @property
    def window(self) -> int:
        return max(1, round(self.sample_rate * self.window_ms / 1000))

    @property
    def hop(self) -> int:
        return max(1, round(self.sample_rate * self.hop_ms / 1000))

    @property
    def n_fft(self) -> int:
        return 1 << (self.window - 1).bit_length()  # the next power of two


def hz_to_mel(hz: Tensor) -> Tensor:
    """Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above
    (27 mels per factor 6.4); 1 kHz is 15 mels."""
    hz = torch.as_tensor(hz, dtype=torch.float64)
    linear = hz / (200.0 / 3)
    logarithmic = 15.0 + torch.log(hz.clamp_min(1e-12) / 1000.0) / (math.log(6.4) / 27.0)
    return torch.where(hz >= 1000.0, logarithmic, linear)


def mel_to_hz(mel: Tensor) -> Tensor:
    """The inverse of :func:`hz_to_mel`."""
    mel = torch.as_tensor(mel, dtype=torch.float64)
    linear = mel * (200.0 / 3)
    logarithmic = 1000.0 * torch.exp((math.log(6.4) / 27.0) * (mel - 15.0))
    return torch.where(mel >= 15.0, logarithmic, linear)


def vtlp_warp(frequencies: Tensor, factor: float, nyquist: float) -> Tensor:
    """Jaitly & Hinton's (2013) vocal-tract-length warp of ``frequencies`` (Hz) by ``factor`` α:
    ``f' = α f`` up to the knee ``f_k = F_hi min(α, 1) / α`` (``F_hi`` = ``WARP_KNEE`` of the
    Nyquist frequency ``S/2``), then the straight line from ``(f_k, α f_k)`` to ``(S/2, S/2)``, so
    that 0 and the Nyquist frequency stay where they are."""
    knee = WARP_KNEE * nyquist * min(factor, 1.0) / factor
    slope = (nyquist - factor * knee) / (nyquist - knee)
    return torch.where(
        frequencies <= knee, factor * frequencies, nyquist - slope * (nyquist - frequencies)
    )


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    warp: float = 1.0,
) -> Tensor:
    """Triangular filters W (n_mels, n_fft/2 + 1), float64.

    Filter m rises from the (m)th to the (m+1)th of ``n_mels + 2`` points equally spaced on the
    mel scale between ``fmin`` and ``fmax`` (default: half the sample rate) and falls to the
    (m+2)th, ``W[m, f] = max(0, min((f - f_m) / (f_{m+1} - f_m), (f_{m+2} - f) / (f_{m+2} -
    f_{m+1})))``, then is scaled by ``2 / (f_{m+2} - f_m)`` so that every filter has the same area.

    With ``warp`` α ≠ 1 each FFT bin's frequency f is read as :func:`vtlp_warp` (f, α): the
    filters see the spectrum of a vocal tract α times shorter (``W_α[m, f] = W[m, warp(f)]``).
    """
    fmax = sample_rate / 2 if fmax is None else fmax
    frequencies = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    if warp != 1.0:
        frequencies = vtlp_warp(frequencies, warp, sample_rate / 2)
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(fmin)), float(hz_to_mel(fmax)), n_mels + 2))
    widths = edges.diff()  # (n_mels + 1,)
    ramps = edges.unsqueeze(1) - frequencies.unsqueeze(0)  # (n_mels + 2, F)
    rising = -ramps[:-2] / widths[:-1].unsqueeze(1)
    falling = ramps[2:] / widths[1:].unsqueeze(1)
    weights = torch.minimum(rising, falling).clamp_min(0.0)  # (n_mels, F)
    return weights * (2.0 / (edges[2:] - edges[:-2])).unsqueeze(1)


def dct_matrix(n_out: int, n_in: int) -> Tensor:
    """The orthonormal DCT-II (n_out, n_in): ``D[k, m] = s_k cos(π k (2m + 1) / (2 n_in))``,
    ``s_0 = sqrt(1 / n_in)``, ``s_k = sqrt(2 / n_in)``."""
    k = torch.arange(n_out, dtype=torch.float64).unsqueeze(1)
    m = torch.arange(n_in, dtype=torch.float64).unsqueeze(0)
    matrix = torch.cos(math.pi * k * (2 * m + 1) / (2 * n_in)) * math.sqrt(2.0 / n_in)
    matrix[0] /= math.sqrt(2.0)
    return matrix


def power_spectrogram(waveform: Tensor, config: FeatureConfig) -> Tensor:
    """``|STFT|²`` (n_fft/2 + 1, T) of a mono waveform (N,), centred with zero padding."""
    window = torch.hann_window(config.window, periodic=True, dtype=torch.float64)
    spectrum = torch.stft(
        waveform.to(torch.float64),
        n_fft=config.n_fft,
        hop_length=config.hop,
        win_length=config.window,
        window=window,
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    return spectrum.abs() ** 2


def log_mel(waveform: Tensor, config: FeatureConfig, warp: float = 1.0) -> Tensor:
    """Log mel energies in dB (n_mels, T), floored ``top_db`` below the clip's loudest; with
    ``warp``, through the VTLP-warped filters of :func:`mel_filterbank`."""
    weights = mel_filterbank(config.sample_rate, config.n_fft, config.n_mels, warp=warp)
    energies = weights @ power_spectrogram(waveform, config)  # (n_mels, T)
    decibels = 10.0 * torch.log10(energies.clamp_min(AMIN))
    return decibels.clamp_min(float(decibels.max()) - config.top_db)


def loud_span(decibels: Tensor, trim_db: float) -> tuple[int, int]:
    """(first, last): the first and last frame of ``decibels`` (n_mels, T) whose loudest band is
    within ``trim_db`` of the loudest of all (the loudest frame is always one of them)."""
    loud = decibels.max(dim=0).values >= float(decibels.max()) - trim_db  # (T,)
    kept = torch.nonzero(loud).flatten()
    return int(kept[0]), int(kept[-1])


def trim_silence(decibels: Tensor, trim_db: float) -> Tensor:
    """``decibels`` (n_mels, T) without the leading and trailing frames whose loudest band is
    more than ``trim_db`` below the loudest of all (n_mels, T' <= T); at least one frame stays."""
    first, last = loud_span(decibels, trim_db)
    return decibels[:, first : last + 1]


def cepstra(decibels: Tensor, config: FeatureConfig) -> Tensor:
    """MFCCs (n_mfcc, T) of log-mel energies (n_mels, T): the orthonormal DCT-II over bands."""
    return dct_matrix(config.n_mfcc, config.n_mels) @ decibels


def mfcc(waveform: Tensor, config: FeatureConfig) -> Tensor:
    """MFCCs (n_mfcc, T): the orthonormal DCT-II of :func:`log_mel` over its mel axis."""
    return cepstra(log_mel(waveform, config), config)


def extract(waveform: Tensor, config: FeatureConfig, warp: float = 1.0) -> Tensor:
    """The model's input for one clip: frames (T, F) of log-mel or MFCC features, each feature
    normalised to zero mean and unit deviation over the clip, float32; silence trimmed first
    with ``trim_db``; ``warp``: VTLP's frequency warp (training copies only)."""
    decibels = log_mel(waveform, config, warp)  # (n_mels, T)
    if config.trim_db is not None:
        decibels = trim_silence(decibels, config.trim_db)
    raw = cepstra(decibels, config) if config.features == "mfcc" else decibels
    frames = raw.T  # (T, F)
    centred = frames - frames.mean(dim=0, keepdim=True)
    return (centred / (centred.std(dim=0, unbiased=False, keepdim=True) + 1e-5)).float()
