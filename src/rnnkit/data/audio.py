"""Labelled audio clips: where they come from, and reading one as a mono waveform at a given rate.

Three sources give a :class:`LabeledClips` (paths and labels):

- a folder with one subfolder of audio files per label (``digits/7/a.wav`` is a ``7``; the
  ImageFolder convention), read by :func:`read_folder`;
- a TSV/CSV manifest with a path column and a label column (paths relative to the manifest's
  folder), read by :func:`read_manifest` through :func:`rnnkit.data.labeled.read_labeled`;
- the Free Spoken Digit Dataset, whose file names ``{digit}_{speaker}_{index}.wav`` carry the
  label, the speaker and the take (:func:`read_fsdd`, :func:`fsdd_split`).

:func:`read_audio` reads WAV, FLAC, OGG or AIFF with ``soundfile`` (libsndfile), averages the
channels to mono and resamples with ``soxr`` (the ``[audio]`` extra). Every problem is an
:class:`~rnnkit.errors.InputError` naming the file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.errors import InputError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")
PATH_NAMES = ("path", "file", "filename", "file_name", "audio", "wav", "clip")  # manifest headers
FSDD_NAME = re.compile(r"(\d)_([A-Za-z]+)_(\d+)\.wav")
FSDD_TEST_TAKES = 5  # the official split: takes 0-4 of every digit and speaker are the test set


def is_audio_path(text: str | Path) -> bool:
    """Whether a file name has an audio file's suffix."""
    return str(text).lower().endswith(AUDIO_SUFFIXES)


def _names_audio(field: str) -> bool:
    """Whether a manifest field looks like an audio path (a text that merely ends in ".wav"
    has spaces)."""
    return is_audio_path(field) and " " not in field


@dataclass
class LabeledClips:
    """Parallel lists: the clip at ``paths[i]`` has label ``labels[i]``; names are kept relative
    to ``root`` (what a stored split records)."""

    paths: list[Path]
    labels: list[str]
    root: Path
    source: str

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, indices: Sequence[int]) -> LabeledClips:
        return LabeledClips(
            [self.paths[i] for i in indices],
            [self.labels[i] for i in indices],
            self.root,
            self.source,
        )

    def names(self) -> list[str]:
        """Each clip's path relative to ``root``, with forward slashes."""
        return [path.relative_to(self.root).as_posix() for path in self.paths]

    def where(self, index: int) -> str:
        return str(self.paths[index])


def read_folder(root: str | Path) -> LabeledClips:
    """Every audio file under ``root/<label>/`` (at any depth), labelled by its subfolder."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder")
    paths, labels = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and is_audio_path(p)):
            paths.append(path)
            labels.append(folder.name)
    if not paths:
        raise InputError(
            f"{root}: no audio files ({', '.join(AUDIO_SUFFIXES)}) in subfolders; expected one "
            "subfolder of clips per label"
        )
    return LabeledClips(paths, labels, root, str(root))


def read_manifest(
    path: str | Path,
    path_column: str | None = None,
    label_column: str | None = None,
    header: str = "auto",
    delimiter: str = "auto",
) -> LabeledClips:
    """A TSV/CSV file of (audio path, label) rows; relative paths are from the file's folder.

    Without ``path_column``, the path column is the header's column named like one
    (:data:`PATH_NAMES`), else the first row's field that names an audio file."""
    from rnnkit.data.labeled import read_labeled

    if path_column is None:
        head, first = _first_fields(path)
        named = [i for i, name in enumerate(head) if name.lower() in PATH_NAMES]
        audio = [i for i, field in enumerate(first) if _names_audio(field)]
        path_column = head[named[0]] if named else str(audio[0]) if audio else None
    rows = read_labeled(path, path_column, label_column, header, delimiter)
    root = Path(path).parent
    paths = []
    for row, name in enumerate(rows.texts):
        clip = root / name
        if not is_audio_path(clip):
            raise InputError(f"{rows.where(row)}: {name!r} is not an audio file name")
        paths.append(clip)
    return LabeledClips(paths, rows.labels, root, str(path))


def _first_fields(path: str | Path) -> tuple[list[str], list[str]]:
    """The fields of a file's first line and of its first line that is not a header (the
    second, when the first names no audio file); a guess for choosing columns."""
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        lines = [handle.readline() for _ in range(2)]
    head, second = (re.split(r"[\t,;|]", line.strip()) for line in lines)
    head, second = [f.strip().strip('"') for f in head], [f.strip().strip('"') for f in second]
    return head, head if any(_names_audio(f) for f in head) else second


def looks_like_manifest(path: str | Path) -> bool:
    """Whether a TSV/CSV file lists audio files: a field of its first row (after any header)
    is a path (no spaces) with an audio file's suffix."""
    if not Path(path).is_file():
        return False
    return any(_names_audio(field) for field in _first_fields(path)[1])


def read_fsdd(root: str | Path) -> tuple[LabeledClips, list[str], list[int]]:
    """FSDD's recordings folder: the clips labelled by digit, each one's speaker and take."""
    root = Path(root)
    paths, labels, speakers, takes = [], [], [], []
    for path in sorted(root.glob("*.wav")):
        match = FSDD_NAME.fullmatch(path.name)
        if match is None:
            raise InputError(f"{path}: not an FSDD file name ({{digit}}_{{speaker}}_{{take}}.wav)")
        paths.append(path)
        labels.append(match.group(1))
        speakers.append(match.group(2))
        takes.append(int(match.group(3)))
    if not paths:
        raise InputError(f"{root}: no FSDD recordings (*.wav)")
    return LabeledClips(paths, labels, root, str(root)), speakers, takes


def fsdd_split(
    speakers: list[str], takes: list[int], test_speaker: str | None = None
) -> tuple[list[int], list[int]]:
    """(training rows, test rows): takes 0-4 are the test set (the official split), or, with
    ``test_speaker``, that speaker's clips are (the speaker-independent split)."""
    if test_speaker is None:
        test = [i for i, take in enumerate(takes) if take < FSDD_TEST_TAKES]
    else:
        if test_speaker not in speakers:
            known = ", ".join(sorted(set(speakers)))
            raise InputError(f"fsdd has no speaker {test_speaker!r}; expected one of {known}")
        test = [i for i, speaker in enumerate(speakers) if speaker == test_speaker]
    held = set(test)
    return [i for i in range(len(takes)) if i not in held], test


def read_audio(path: str | Path, sample_rate: int) -> Tensor:
    """The clip at ``path`` as a mono float32 waveform (N,) at ``sample_rate``: channels
    averaged, then resampled with soxr's high-quality filter if the file's rate differs."""
    try:
        import numpy as np
        import soundfile
        import soxr
    except ImportError as error:
        raise InputError(
            f"reading audio needs the [audio] extra ({error.name} is missing): "
            "pip install 'rnnkit[audio]'"
        ) from None
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: audio file not found")
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)  # (N, C)
    except (RuntimeError, ValueError) as error:  # soundfile's errors are RuntimeErrors
        reason = str(error).split(": ", 1)[-1]  # drop libsndfile's "Error opening 'path'"
        raise InputError(f"{path}: not readable audio ({reason})") from None
    if samples.shape[0] == 0:
        raise InputError(f"{path}: the audio file holds no samples")
    mono = samples.mean(axis=1)  # (N,)
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate)
    return torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32))
