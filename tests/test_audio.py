"""Audio input: reading WAV (8/16 kHz, mono/stereo, bad files), features against librosa, padding
invariance of the audio classifier, the folder, manifest and FSDD formats, the fsdd folder's
download, and train -> evaluate -> ``rnnkit classify RUN file.wav``.

Every clip is made here (``wave`` writes 16-bit PCM); the 3,000 real FSDD files are never read."""

from __future__ import annotations

import hashlib
import io
import json
import math
import tarfile
import urllib.request
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.data import registry
from rnnkit.data.audio import (
    fsdd_split,
    looks_like_manifest,
    read_audio,
    read_folder,
    read_fsdd,
    read_manifest,
)
from rnnkit.data.features import (
    FeatureConfig,
    dct_matrix,
    extract,
    hz_to_mel,
    log_mel,
    mel_filterbank,
    mel_to_hz,
    mfcc,
    trim_silence,
)
from rnnkit.errors import InputError
from rnnkit.models.classifier import ClassifierConfig, TextClassifier
from rnnkit.tasks.classify import pad_batch


def write_wav(path: Path, samples, rate: int = 8000) -> Path:
    """16-bit PCM; ``samples`` (N,) or (N, channels) in [-1, 1]."""
    samples = np.asarray(samples, dtype=np.float64)
    frames = samples if samples.ndim == 2 else samples[:, None]
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(frames.shape[1])
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes((np.clip(frames, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def tone(frequency: float, seconds: float, rate: int = 8000, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return 0.5 * np.sin(2 * math.pi * frequency * t + phase)


# --- reading ----------
def test_an_8_khz_mono_wav_reads_as_its_samples(tmp_path):
    samples = tone(440, 0.25)
    waveform = read_audio(write_wav(tmp_path / "a.wav", samples), 8000)
    assert waveform.dtype == torch.float32 and waveform.shape == (2000,)
    torch.testing.assert_close(
        waveform, torch.tensor(samples, dtype=torch.float32), atol=1e-4, rtol=0
    )


def test_a_16_khz_wav_is_resampled_to_the_models_rate(tmp_path):
    waveform = read_audio(write_wav(tmp_path / "a.wav", tone(440, 0.5, 16000), 16000), 8000)
    assert waveform.shape == (4000,)  # half the samples, the same half second
    expected = torch.tensor(tone(440, 0.5, 8000), dtype=torch.float32)
    middle = slice(200, 3800)  # away from the filter's edges; 440 Hz is far below 4 kHz
    torch.testing.assert_close(waveform[middle], expected[middle], atol=2e-3, rtol=0)


def test_stereo_is_mixed_to_mono(tmp_path):
    left, right = np.full(800, 0.5), np.full(800, -0.25)
    waveform = read_audio(write_wav(tmp_path / "s.wav", np.stack([left, right], 1)), 8000)
    torch.testing.assert_close(waveform, torch.full((800,), 0.125), atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"RIFF\x10\x00\x00\x00WAVEjunkjunk", "not readable audio"),
        (b"", "not readable audio"),
        (b"just some text, not sound\n", "not readable audio"),
        (None, "audio file not found"),
    ],
)
def test_a_file_that_is_not_audio_is_an_input_error_naming_it(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        read_audio(path, 8000)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_wav_without_samples_is_refused(tmp_path):
    with pytest.raises(InputError, match="holds no samples"):
        read_audio(write_wav(tmp_path / "empty.wav", np.zeros(0)), 8000)


# --- features ----------
def test_the_slaney_mel_scale_by_hand():
    assert float(hz_to_mel(1000.0)) == pytest.approx(15.0)  # the linear part ends at 1 kHz
    assert float(hz_to_mel(600.0)) == pytest.approx(9.0)  # 3 mels per 200 Hz
    assert float(hz_to_mel(6400.0)) == pytest.approx(42.0)  # 27 mels per factor 6.4
    hz = torch.tensor([0.0, 250.0, 999.0, 1000.0, 3000.0, 4000.0], dtype=torch.float64)
    torch.testing.assert_close(mel_to_hz(hz_to_mel(hz)), hz)


def test_the_dct_is_orthonormal():
    matrix = dct_matrix(12, 12)
    torch.testing.assert_close(matrix @ matrix.T, torch.eye(12, dtype=torch.float64))


def test_mel_filterbank_equals_librosas():
    librosa = pytest.importorskip("librosa")
    for rate, n_fft, n_mels in [(8000, 256, 40), (16000, 512, 64), (8000, 512, 23)]:
        ours = mel_filterbank(rate, n_fft, n_mels).numpy()
        theirs = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels, dtype=np.float64)
        np.testing.assert_allclose(ours, theirs, atol=1e-7, rtol=0)  # weights are up to ~0.02


@pytest.mark.parametrize("seconds", [0.05, 0.44])
def test_log_mel_and_mfcc_equal_librosas(seconds):
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(0)
    samples = rng.standard_normal(int(8000 * seconds)) * np.linspace(0.01, 1, int(8000 * seconds))
    config = FeatureConfig()
    stft = dict(n_fft=256, hop_length=80, win_length=200, window="hann", center=True)
    stft.update(pad_mode="constant", n_mels=40)
    power = librosa.feature.melspectrogram(y=samples, sr=8000, power=2.0, **stft)
    theirs = librosa.power_to_db(power, top_db=80.0)
    ours = log_mel(torch.from_numpy(samples), config).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-3, rtol=0)  # decibels
    theirs = librosa.feature.mfcc(y=samples, sr=8000, n_mfcc=13, **stft)
    ours = mfcc(torch.from_numpy(samples), FeatureConfig(features="mfcc")).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-3, rtol=0)


@pytest.mark.parametrize("top_db", [40.0, 60.0])
def test_the_dynamic_range_floor_equals_librosas_top_db(top_db):
    librosa = pytest.importorskip("librosa")
    samples = tone(700, 0.3) * np.linspace(1e-4, 1, 2400)  # a 80 dB rise: the floor cuts in
    stft = dict(n_fft=256, hop_length=80, win_length=200, window="hann", center=True)
    power = librosa.feature.melspectrogram(
        y=samples, sr=8000, power=2.0, pad_mode="constant", n_mels=40, **stft
    )
    theirs = librosa.power_to_db(power, top_db=top_db)
    ours = log_mel(torch.from_numpy(samples), FeatureConfig(top_db=top_db)).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-3, rtol=0)
    assert ours.min() == pytest.approx(ours.max() - top_db)


def test_trimming_drops_the_quiet_frames_at_either_end_only():
    decibels = torch.tensor(
        [
            [-90.0, -50.0, -10.0, -80.0, -5.0, -45.0, -95.0],  # band 0
            [-92.0, -60.0, -30.0, -85.0, 0.0, -70.0, -99.0],
        ]  # band 1: the loudest, 0 dB
    )  # (n_mels 2, T 7)
    assert torch.equal(trim_silence(decibels, 50.0), decibels[:, 1:6])  # -50 and -45 reach -50
    assert torch.equal(trim_silence(decibels, 20.0), decibels[:, 2:5])  # the quiet middle stays
    assert torch.equal(trim_silence(decibels, 1.0), decibels[:, 4:5])  # at least one frame
    assert torch.equal(trim_silence(decibels, 200.0), decibels)


def test_trimmed_features_of_a_clip_in_silence_match_the_clip_alone():
    rng = np.random.default_rng(0)
    word = tone(500, 0.3) * np.hanning(2400) ** 0.2
    quiet = lambda n: 1e-4 * rng.standard_normal(n)  # noqa: E731 (-80 dB)
    padded = np.concatenate([quiet(1600), word, quiet(2400)])
    config = FeatureConfig(trim_db=40.0)
    alone = extract(torch.tensor(word), config)
    trimmed = extract(torch.tensor(padded), config)
    untrimmed = extract(torch.tensor(padded), FeatureConfig())
    assert untrimmed.shape == (81, 40)  # 6,400 samples: 1 + 6400 // 80
    assert abs(len(trimmed) - len(alone)) <= 2 and len(alone) <= 31
    assert trimmed.shape[1] == 40


def test_features_are_frames_normalised_per_clip():
    frames = extract(torch.tensor(tone(500, 0.3) + 0.1), FeatureConfig(features="mfcc"))
    assert frames.shape == (31, 13)  # 2400 samples, hop 80, centred: 1 + 2400 // 80
    torch.testing.assert_close(frames.mean(0), torch.zeros(13), atol=1e-5, rtol=0)
    assert bool(((frames.std(0, unbiased=False) - 1).abs() < 1e-3).all())


# --- the model ----------
@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_padding_never_changes_an_audio_prediction(pooling, cell):
    torch.manual_seed(0)
    config = ClassifierConfig(cell=cell, hidden_size=6, num_layers=2, pooling=pooling, dropout=0)
    model = TextClassifier(config, 0, 3, feature_size=5).eval()
    clip, others = torch.randn(7, 5), [torch.randn(12, 5), torch.randn(3, 5)]
    alone = torch.softmax(model(*pad_batch([clip])), dim=-1)[0]
    frames, lengths = pad_batch([others[0], clip, others[1]])  # (3, 12, 5)
    assert frames.shape == (3, 12, 5) and lengths.tolist() == [12, 7, 3]
    batched = torch.softmax(model(frames, lengths), dim=-1)[1]
    torch.testing.assert_close(batched, alone, atol=1e-6, rtol=0)
    assert model.embedding is None and model.sizes["feature_size"] == 5


# --- where clips come from ----------
def test_a_folder_has_one_subfolder_of_clips_per_label(tmp_path):
    for label, count in (("yes", 2), ("no", 3)):
        for i in range(count):
            write_wav(tmp_path / "set" / label / f"{i}.wav", tone(300, 0.1))
    (tmp_path / "set" / "no" / "notes.txt").write_text("not audio")
    clips = read_folder(tmp_path / "set")
    assert clips.labels == ["no"] * 3 + ["yes"] * 2
    assert clips.names() == ["no/0.wav", "no/1.wav", "no/2.wav", "yes/0.wav", "yes/1.wav"]
    with pytest.raises(InputError, match="no audio files"):
        read_folder(tmp_path / "set" / "no")


@pytest.mark.parametrize("suffix, separator", [(".tsv", "\t"), (".csv", ",")])
def test_a_manifest_names_clips_relative_to_itself(tmp_path, suffix, separator):
    write_wav(tmp_path / "clips" / "a.wav", tone(300, 0.1))
    manifest = tmp_path / f"list{suffix}"
    manifest.write_text(f"path{separator}label\nclips/a.wav{separator}cat\n")
    assert looks_like_manifest(manifest)
    clips = read_manifest(manifest)
    assert clips.paths == [tmp_path / "clips" / "a.wav"] and clips.labels == ["cat"]
    manifest.write_text(f"cat{separator}clips/a.wav\n")  # no header: the audio column is found
    assert read_manifest(manifest).labels == ["cat"]
    text = tmp_path / f"texts{suffix}"
    text.write_text(f"label{separator}text\npos{separator}send me the song.wav\n")
    assert not looks_like_manifest(text)  # a text that ends like a file name is still a text
    manifest.write_text(f"path{separator}label\nclips/a.txt{separator}cat\n")
    with pytest.raises(InputError, match="'clips/a.txt' is not an audio file name"):
        read_manifest(manifest)


def test_fsdd_names_give_the_official_and_the_speaker_independent_splits(tmp_path):
    for digit in range(2):
        for speaker in ("ann", "bob"):
            for take in (0, 4, 5, 49):
                (tmp_path / f"{digit}_{speaker}_{take}.wav").write_bytes(b"")
    clips, speakers, takes = read_fsdd(tmp_path)
    assert len(clips) == 16 and set(clips.labels) == {"0", "1"}
    train, test = fsdd_split(speakers, takes)
    assert {takes[i] for i in test} == {0, 4} and {takes[i] for i in train} == {5, 49}
    train, test = fsdd_split(speakers, takes, "bob")
    assert {speakers[i] for i in test} == {"bob"} and {speakers[i] for i in train} == {"ann"}
    with pytest.raises(InputError, match="no speaker 'cy'; expected one of ann, bob"):
        fsdd_split(speakers, takes, "cy")


def test_the_fsdd_folder_downloads_checked_by_its_content(tmp_path, monkeypatch):
    files = {"0_ann_0.wav": b"zero", "1_ann_0.wav": b"one"}
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, data in {**files, "README.md": b"readme"}.items():
            folder = "repo-abc/recordings/" if name.endswith(".wav") else "repo-abc/"
            info = tarfile.TarInfo(folder + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    body = archive.getvalue()
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: io.BytesIO(body))
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RNNKIT_DATA", raising=False)
    monkeypatch.delenv("RNNKIT_OFFLINE", raising=False)
    good = hashlib.sha256(b"zero" + b"one").hexdigest()
    remote = registry.FOLDERS["fsdd"]
    fields = dict(remote.__dict__, member="repo-abc/recordings", sha256="0" * 64, count=2)
    monkeypatch.setitem(registry.FOLDERS, "fsdd", registry.RemoteFolder(**fields))
    with pytest.raises(InputError, match="checksum mismatch"):
        registry.locate_folder("fsdd")
    assert not (tmp_path / "cache" / "fsdd" / "recordings").exists()
    fields["sha256"] = good
    monkeypatch.setitem(registry.FOLDERS, "fsdd", registry.RemoteFolder(**fields))
    folder = registry.locate_folder("fsdd")
    assert folder == tmp_path / "cache" / "fsdd" / "recordings"
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)
    assert list((tmp_path / "cache" / "fsdd").iterdir()) == [folder]  # no temporary left


def test_offline_without_the_fsdd_folder_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("RNNKIT_OFFLINE", "1")
    with pytest.raises(InputError, match=r"put its 3000 files at .*data/fsdd/recordings"):
        registry.locate_folder("fsdd")


# --- train, evaluate, classify ----------
@pytest.fixture
def tones(tmp_path) -> Path:
    """A folder of 16 clips: low tones (300 Hz) and high tones (1,800 Hz) of varied length."""
    rng = np.random.default_rng(0)
    for label, frequency in (("low", 300), ("high", 1800)):
        for i in range(8):
            samples = tone(frequency, 0.1 + 0.04 * i, phase=rng.uniform(0, 6))
            write_wav(
                tmp_path / "tones" / label / f"{i}.wav",
                samples + 0.01 * rng.standard_normal(len(samples)),
            )
    return tmp_path / "tones"


def test_train_evaluate_and_classify_wav_files(tones, tmp_path, capsys):
    run = tmp_path / "run"
    options = ["--data", str(tones), "--features", "mfcc", "--hidden", "8", "--cell", "gru"]
    options += ["--valid-fraction", "0.25", "--test-fraction", "0.25", "--batch-size", "4"]
    options += ["--epochs", "4", "--lr", "0.02", "--no-progress", "--pooling", "mean"]
    assert main(["train", "classify", *options, "--out", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["inputs"] == "audio" and config["sizes"]["feature_size"] == 13
    assert not (run / "vocab.json").exists()
    split = json.loads((run / "split.json").read_text())
    assert len(split["test"]) == 4 and all(name.endswith(".wav") for name in split["test"])
    assert main(["evaluate", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["examples"] == 4 and result["valid"]["examples"] == 4
    capsys.readouterr()
    clips = [tones / "low" / "7.wav", tones / "high" / "7.wav"]
    assert main(["classify", str(run), *map(str, clips)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for line in lines:
        label, probability = line.split("\t")
        assert label in ("low", "high") and 0.5 <= float(probability) <= 1.0
    assert main(["classify", str(run), "--all", str(clips[0])]) == 0
    assert sorted(capsys.readouterr().out.split("\t")[::2]) == ["high", "low"]


def test_classifying_a_file_that_is_not_audio_is_one_line_and_exit_code_2(tones, tmp_path, capsys):
    run = tmp_path / "run"
    options = ["--data", str(tones), "--hidden", "4", "--epochs", "1", "--no-progress"]
    assert main(["train", "classify", *options, "--out", str(run)]) == 0
    bad = tmp_path / "notes.wav"
    bad.write_text("not a sound")
    capsys.readouterr()
    assert main(["classify", str(run), str(tones / "low" / "0.wav"), str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and f"{bad}: not readable audio" in captured.err


def test_spec_augment_masks_training_batches_only_and_is_stored_with_the_run(tones, tmp_path):
    from rnnkit.tasks.classify import ClassificationTask, ClassifyData, prepare

    audio = FeatureConfig(features="logmel", n_mels=16, freq_mask=3, time_mask=4, mask_count=2)
    prepared = prepare(ClassifyData(data=str(tones)), audio=audio)
    model = torch.nn.Linear(1, 1)  # the batches do not need a model
    masked = ClassificationTask.from_prepared(model, prepared, batch_size=4, seed=0)
    plain = ClassificationTask.from_prepared(
        model, prepare(ClassifyData(data=str(tones)), audio=FeatureConfig(n_mels=16)), 4, 0
    )
    frames, lengths, labels = masked.batch(0, 0)
    clean, clean_lengths, clean_labels = plain.batch(0, 0)
    assert torch.equal(lengths, clean_lengths) and torch.equal(labels, clean_labels)
    changed = frames != clean
    assert changed.any() and torch.all(frames[changed] == 0)  # masks, nothing else
    assert torch.equal(masked.batch(0, 0)[0], frames)  # a resumed run draws the same masks
    assert len(masked.valid_views) == 1 == len(plain.valid_views)
    assert all(torch.equal(a, b) for a, b in zip(masked.valid_views[0], plain.valid_views[0]))
    run = tmp_path / "run"
    options = ["--data", str(tones), "--hidden", "4", "--epochs", "1", "--no-progress"]
    options += ["--freq-mask", "3", "--time-mask", "4", "--batch-size", "4"]
    assert main(["train", "classify", *options, "--out", str(run)]) == 0
    stored = json.loads((run / "config.json").read_text())["audio"]
    assert (stored["freq_mask"], stored["time_mask"], stored["mask_count"]) == (3, 4, 2)


def test_speed_perturbation_and_vtlp_add_the_training_clips_per_factor_and_leave_validation(
    tones, tmp_path, capsys
):
    from rnnkit.data.augment import change_speed
    from rnnkit.tasks.classify import ClassificationTask, ClassifyData, prepare

    data = ClassifyData(data=str(tones))
    audio = FeatureConfig(n_mels=16, speed_perturb=[0.9, 1.1], vtlp=[1.15])
    prepared = prepare(data, audio=audio)
    model = torch.nn.Linear(1, 1)  # the batches do not need a model
    perturbed = ClassificationTask.from_prepared(model, prepared, batch_size=4, seed=0)
    plain = ClassificationTask.from_prepared(
        model, prepare(data, audio=FeatureConfig(n_mels=16)), 4, 0
    )
    n = len(plain.train_ids)
    assert (
        len(perturbed.train_ids) == 4 * n and perturbed.steps_per_epoch == 4 * plain.steps_per_epoch
    )
    assert perturbed.train_labels == plain.train_labels * 4
    assert all(torch.equal(a, b) for a, b in zip(perturbed.train_ids[:n], plain.train_ids))
    assert len(perturbed.valid_views) == 1
    assert all(torch.equal(a, b) for a, b in zip(perturbed.valid_views[0], plain.valid_views[0]))
    first = read_audio(prepared.train.paths[0], 8000)
    for copy, factor in enumerate((0.9, 1.1), start=1):
        expected = extract(change_speed(first, factor, 8000), audio)
        torch.testing.assert_close(perturbed.train_ids[copy * n], expected)
        assert len(expected) != len(plain.train_ids[0])  # a different duration
    warped = perturbed.train_ids[3 * n]
    torch.testing.assert_close(warped, extract(first, audio, 1.15))
    assert warped.shape == plain.train_ids[0].shape and not torch.equal(warped, plain.train_ids[0])
    run = tmp_path / "run"
    options = ["--data", str(tones), "--hidden", "4", "--epochs", "1", "--no-progress"]
    options += ["--speed-perturb", "0.9,1.1", "--vtlp", "0.9,1.1", "--batch-size", "4"]
    assert main(["train", "classify", *options, "--out", str(run)]) == 0
    stored = json.loads((run / "config.json").read_text())["audio"]
    assert stored["speed_perturb"] == [0.9, 1.1] and stored["vtlp"] == [0.9, 1.1]
    assert main(["evaluate", str(run)]) == 0
    capsys.readouterr()
    for option, value in (("--speed-perturb", "3"), ("--vtlp", "0.5"), ("--test-speeds", "0.1")):
        bad = ["train", "classify", "--data", str(tones), option, value]
        assert main([*bad, "--out", str(tmp_path / "bad")]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and f"{option}: each factor must be between" in error


def test_test_speeds_average_the_probabilities_over_copies_at_each_speed(tones, tmp_path, capsys):
    from rnnkit.data.augment import change_speed
    from rnnkit.tasks.classify import SPEC, ClassificationTask, ClassifyData, prepare

    speeds = [0.9, 1.0, 1.2]
    audio = FeatureConfig(n_mels=16, test_speeds=speeds)
    prepared = prepare(ClassifyData(data=str(tones)), audio=audio)
    task = ClassificationTask.from_prepared(torch.nn.Linear(1, 1), prepared, 4, 0)
    plain = ClassificationTask.from_prepared(
        torch.nn.Linear(1, 1),
        prepare(ClassifyData(data=str(tones)), audio=FeatureConfig(n_mels=16)),
        4,
        0,
    )
    assert len(task.train_ids) == len(plain.train_ids)  # training sees the clips as they are
    assert len(task.valid_views) == 3
    assert all(torch.equal(a, b) for a, b in zip(task.valid_views[1], plain.valid_views[0]))
    first = read_audio(prepared.valid.paths[0], 8000)
    torch.testing.assert_close(
        task.valid_views[2][0], extract(change_speed(first, 1.2, 8000), audio)
    )

    run = tmp_path / "run"
    options = ["--data", str(tones), "--hidden", "4", "--epochs", "2", "--no-progress"]
    options += ["--test-speeds", "0.9,1,1.2", "--batch-size", "4", "--n-mels", "16"]
    assert main(["train", "classify", *options, "--out", str(run)]) == 0
    assert json.loads((run / "config.json").read_text())["audio"]["test_speeds"] == speeds
    assert main(["evaluate", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert list(result["accuracy_by_speed"]) == ["0.9", "1", "1.2"]
    assert "accuracy_by_speed" not in result["valid"]
    loaded = SPEC.load(run)
    clip = tones / "high" / "5.wav"
    waveform = read_audio(clip, 8000)
    by_hand = torch.zeros(2)
    for factor in speeds:  # p = (1/V) Σ_v softmax(model(x_v)), each copy alone, unpadded
        frames = extract(change_speed(waveform, factor, 8000), audio)
        logits = loaded.model(frames[None], torch.tensor([len(frames)]))
        by_hand += torch.softmax(logits[0].detach(), dim=-1) / len(speeds)
    frames = extract(waveform, audio)
    single = torch.softmax(loaded.model(frames[None], torch.tensor([len(frames)]))[0].detach(), -1)
    # the copies change the answer (by 7e-3 here), by more than the 1e-4 compared below
    assert not torch.allclose(by_hand, single, rtol=0, atol=1e-3)
    capsys.readouterr()
    assert main(["classify", str(run), "--all", str(clip)]) == 0
    fields = capsys.readouterr().out.split()
    printed = {fields[i]: float(fields[i + 1]) for i in range(0, len(fields), 2)}
    classes = json.loads((run / "config.json").read_text())["classes"]
    for k, name in enumerate(classes):
        assert printed[name] == pytest.approx(float(by_hand[k]), abs=1e-4)


def test_vtlp_warps_frequencies_below_the_knee_by_the_factor_and_keeps_the_ends():
    from rnnkit.data.features import WARP_KNEE, mel_filterbank, vtlp_warp

    nyquist = 4000.0
    f = torch.linspace(0, nyquist, 401, dtype=torch.float64)
    assert torch.equal(vtlp_warp(f, 1.0, nyquist), f)
    for alpha in (0.8, 0.9, 1.1, 1.25):
        warped = vtlp_warp(f, alpha, nyquist)
        knee = WARP_KNEE * nyquist * min(alpha, 1) / alpha
        low = f <= knee
        torch.testing.assert_close(warped[low], alpha * f[low])  # f' = α f below the knee
        assert float(warped[0]) == 0.0 and abs(float(warped[-1]) - nyquist) < 1e-9
        assert bool((warped.diff() > 0).all())  # monotonic: no band folds over
        # above the knee: on the straight line from (knee, α knee) to (nyquist, nyquist)
        line = alpha * knee + (f - knee) * (nyquist - alpha * knee) / (nyquist - knee)
        torch.testing.assert_close(warped[~low], line[~low])
    # the tone test below checks what the warped filters do
    plain, warped = mel_filterbank(8000, 256, 20), mel_filterbank(8000, 256, 20, warp=1.1)
    assert not torch.equal(plain, warped) and warped.shape == plain.shape


def test_a_tone_through_vtlp_lands_where_the_tone_times_the_factor_does():
    from rnnkit.data.features import log_mel

    rate, config = 8000, FeatureConfig(n_mels=40)

    def tone(hz):
        return torch.sin(2 * math.pi * hz * torch.arange(rate) / rate).float()

    for alpha in (0.9, 1.1):
        warped = log_mel(tone(1000), config, warp=alpha).mean(dim=1)  # (n_mels,)
        moved = log_mel(tone(1000 * alpha), config).mean(dim=1)
        assert int(warped.argmax()) == int(moved.argmax())
        assert int(warped.argmax()) != int(log_mel(tone(1000), config).mean(dim=1).argmax())


def test_speed_perturb_takes_a_list_of_numbers_from_toml_and_the_command_line():
    from rnnkit.config import from_text, options_of, typed
    from rnnkit.errors import InputError

    field = next(f for f in options_of(FeatureConfig) if f.name == "speed_perturb")
    assert typed(FeatureConfig, field, [0.9, 1], "") == [0.9, 1.0]
    assert from_text(FeatureConfig, field, "0.9,1.1") == [0.9, 1.1]
    assert from_text(FeatureConfig, field, "off") is None
    with pytest.raises(InputError, match="expected a list of numbers, got"):
        typed(FeatureConfig, field, ["fast"], "recipe.toml: ")
    with pytest.raises(ValueError):
        from_text(FeatureConfig, field, "0.9,fast")


def test_an_empty_speed_perturb_list_is_refused_in_one_line(tones, tmp_path, capsys):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(f'data = "{tones}"\nspeed-perturb = []\n')
    assert main(["train", "classify", "--config", str(recipe), "--out", str(tmp_path / "r")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--speed-perturb: give at least one factor" in error
    recipe.write_text(f'data = "{tones}"\nvtlp = []\n')
    assert main(["train", "classify", "--config", str(recipe), "--out", str(tmp_path / "r")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--vtlp: give at least one factor" in error
