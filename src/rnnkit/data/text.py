"""Character-level text: reading a corpus, the vocabulary, and batches for truncated BPTT.

Two ways to cut a training text into batches:

- :class:`StreamBatches` (default): the text is cut into B contiguous streams, read in chunks of
  T characters; chunk i+1 of stream b continues chunk i, so the hidden state is carried from chunk
  to chunk (and detached: truncated backpropagation through time).
- :class:`WindowBatches` (the seed's way): random windows of T+1 characters, shuffled each epoch,
  each starting from a fresh state.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from rnnkit.data import epoch_generator
from rnnkit.errors import InputError


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file, or raise InputError naming the file and the problem."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a text file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise InputError(
            f"{path}: not UTF-8 text (invalid byte 0x{raw[error.start]:02x} at line {line}, "
            f"byte {error.start}); convert it to UTF-8 first"
        ) from None
    if not text:
        raise InputError(f"{path}: file is empty")
    return text


class CharVocab:
    """The characters of a training text, in sorted order; id = position. (For generation it
    has the interface of :class:`rnnkit.data.words.WordVocab`: ``encode_prime``, ``spell``,
    ``never_sampled``.)"""

    level = "char"
    never_sampled: tuple[int, ...] = ()

    def __init__(self, chars: list[str]) -> None:
        self.chars = list(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str, what: str = "text") -> Tensor:
        """Ids (len(text),) as int64; characters outside the vocabulary raise InputError."""
        missing = sorted(set(text) - self.index.keys())
        if missing:
            shown = ", ".join(repr(c) for c in missing[:10])
            raise InputError(
                f"{what} has {len(missing)} character(s) that the model's vocabulary lacks: {shown}"
            )
        return torch.tensor([self.index[c] for c in text], dtype=torch.long)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def encode_prime(self, prime: str) -> Tensor:
        """The prime's ids; it must not be empty (the model needs a first character)."""
        if not prime:
            raise InputError("--prime must not be empty (the model needs a first character)")
        return self.encode(prime, what="--prime")

    def spell(self, token: int, previous: int | None = None) -> str:
        return self.chars[token]

    def save(self, path: str | Path) -> None:
        from rnnkit.io import write_json

        write_json(path, {"type": "char", "chars": self.chars})

    @classmethod
    def load(cls, path: str | Path) -> CharVocab:
        from rnnkit.io import read_json

        data = read_json(path, "vocabulary")
        if not isinstance(data, dict) or not isinstance(data.get("chars"), list):
            raise InputError(f"{path}: not an rnnkit character vocabulary")
        return cls(data["chars"])


def split_text(text: str, validation_fraction: float = 0.1) -> tuple[str, str]:
    """First (1 - f) for training, last f for validation (nanoGPT's convention)."""
    if not 0.0 < validation_fraction < 1.0:
        raise InputError(f"--valid-fraction must be in (0, 1), got {validation_fraction}")
    cut = int(len(text) * (1.0 - validation_fraction))
    return text[:cut], text[cut:]


class StreamBatches:
    """Batch b of chunk i: ``streams[:, i*T:(i+1)*T]`` and its targets shifted by one character.

    The streams are ``ids[offset : offset + B*L]`` viewed as (B, L), L = (len(ids) - T) // B; each
    epoch starts them at a different offset in [0, T) (drawn from the seed), so chunk borders move.
    """

    def __init__(self, ids: Tensor, batch_size: int, seq_len: int, seed: int = 0) -> None:
        self.stream_length = (len(ids) - seq_len) // batch_size
        if self.stream_length < seq_len:
            need = (batch_size + 1) * seq_len
            raise InputError(
                f"the training text ({len(ids)} characters) is shorter than one batch of "
                f"{batch_size} streams x {seq_len + 1} characters; need at least {need} characters "
                "or a smaller --batch-size/--seq-len"
            )
        self.ids, self.batch_size, self.seq_len, self.seed = ids, batch_size, seq_len, seed
        self.steps_per_epoch = self.stream_length // seq_len

    def __len__(self) -> int:
        return self.steps_per_epoch

    def __call__(self, epoch: int, index: int) -> tuple[Tensor, Tensor]:
        offset = 0
        if epoch > 0:
            offset = int(
                torch.randint(self.seq_len, (1,), generator=epoch_generator(self.seed, epoch))
            )
        span = self.batch_size * self.stream_length
        streams = self.ids[offset : offset + span].view(self.batch_size, self.stream_length)
        start = index * self.seq_len
        x = streams[:, start : start + self.seq_len]  # (B, T)
        # targets: the next character, which for the last position is the next chunk's first
        nxt = self.ids[offset + 1 : offset + 1 + span].view(self.batch_size, self.stream_length)
        y = nxt[:, start : start + self.seq_len]  # (B, T)
        return x, y


class WindowBatches:
    """Random windows of T+1 characters without overlap, shuffled each epoch; fresh state each."""

    def __init__(self, ids: Tensor, batch_size: int, seq_len: int, seed: int = 0) -> None:
        windows = (len(ids) - 1) // seq_len
        if windows < batch_size:
            raise InputError(
                f"the training text ({len(ids)} characters) is shorter than one batch of "
                f"{batch_size} windows x {seq_len + 1} characters; need at least "
                f"{batch_size * seq_len + 1} characters or a smaller --batch-size/--seq-len"
            )
        self.ids, self.batch_size, self.seq_len, self.seed = ids, batch_size, seq_len, seed
        self.starts = torch.arange(windows) * seq_len
        self.steps_per_epoch = windows // batch_size

    def __len__(self) -> int:
        return self.steps_per_epoch

    def __call__(self, epoch: int, index: int) -> tuple[Tensor, Tensor]:
        order = torch.randperm(len(self.starts), generator=epoch_generator(self.seed, epoch))
        chosen = self.starts[order[index * self.batch_size : (index + 1) * self.batch_size]]
        offsets = chosen.unsqueeze(1) + torch.arange(self.seq_len + 1)  # (B, T+1)
        window = self.ids[offsets]
        return window[:, :-1], window[:, 1:]
