"""Text to tokens to ids: a word (or character) tokenizer and a vocabulary, both stored with a run.

:class:`Tokenizer` turns a string into a list of tokens:

- ``word``: Unicode-normalised, HTML entities decoded (``&lt;`` -> ``<``), Penn-Treebank escapes
  undone (``-lrb-`` -> ``(``, ````` `` and ``''`` -> ``"``), optionally lowercased, then cut by one
  regular expression into words, numbers, PTB-style clitics (``do n't``, ``it 's``) and single
  punctuation marks. Already-tokenised text (SST) and raw text (SMS, captions) come out alike:
  "don't" and "do n't" both give ``["do", "n't"]``.
- ``char``: the same clean-up, then one token per character (spaces included).

:class:`Vocab` maps tokens to ids: special tokens first (``<pad>`` = 0, ``<unk>`` = 1, then any
others such as ``<bos>``/``<eos>``), then the tokens seen at least ``min_freq`` times, most frequent
first (ties in alphabetical order, so a vocabulary is a pure function of its texts).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.errors import InputError
from rnnkit.tokens import PAD, UNK

KINDS = ("word", "char")

# Penn Treebank escapes, as in SST: brackets become -lrb- etc., quotes become `` and ''.
_PTB_BRACKETS = {"lrb": "(", "rrb": ")", "lsb": "[", "rsb": "]", "lcb": "{", "rcb": "}"}
_PTB_BRACKET = re.compile(r"-(lrb|rrb|lsb|rsb|lcb|rcb)-", re.IGNORECASE)
_PTB_QUOTE = re.compile(r"``|''")

# One alternative per kind of token, tried in order at each position.
_WORD_TOKEN = re.compile(
    r"""
    [^\W_]+(?=n't\b)              # "do" of "don't": PTB splits the negation off
    | n't\b                       # the negation itself
    | '(?:s|re|ve|ll|d|m)\b       # clitics: 's 're 've 'll 'd 'm
    | [^\W_]+(?:\.[^\W_]+)*       # words and numbers, with inner dots (u.s, 3.5, www.x.com)
    | \S                          # any other visible character is a token of its own
    """,
    re.VERBOSE | re.IGNORECASE,
)


def normalise(text: str) -> str:
    """Unicode NFC, HTML entities decoded, Penn-Treebank escapes undone, curly quotes made plain."""
    text = unicodedata.normalize("NFC", html.unescape(text))
    text = _PTB_BRACKET.sub(lambda m: _PTB_BRACKETS[m.group(1).lower()], text)
    text = _PTB_QUOTE.sub('"', text)
    return (
        text.replace("\u2019", "'")
        .replace("\u2018", "'")
        .replace("\u201c", '"')
        .replace("\u201d", '"')
    )


@dataclass
class Tokenizer:
    """``tokenizer(text) -> list[str]``; ``kind`` is ``word`` or ``char``."""

    kind: str = "word"
    lowercase: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"--tokenizer must be one of {', '.join(KINDS)}, got {self.kind!r}")

    def __call__(self, text: str) -> list[str]:
        text = normalise(text)
        if self.lowercase:
            text = text.lower()
        if self.kind == "char":
            return list(" ".join(text.split()))  # runs of whitespace become one space
        return _WORD_TOKEN.findall(text)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Tokenizer:
        """The tokenizer :meth:`to_dict` described; ValueError when a value has the wrong type."""
        if not isinstance(data.get("kind", "word"), str):
            raise ValueError(f"tokenizer 'kind' must be a string, got {data['kind']!r}")
        if not isinstance(data.get("lowercase", True), bool):
            raise ValueError(f"tokenizer 'lowercase' must be true or false: {data['lowercase']!r}")
        return cls(**data)


class Vocab:
    """Token <-> id. ``tokens[0]`` is ``<pad>``, ``tokens[1]`` is ``<unk>``."""

    pad_id = 0
    unk_id = 1

    def __init__(self, tokens: Sequence[str]) -> None:
        if len(tokens) < 2 or tokens[0] != PAD or tokens[1] != UNK:
            raise ValueError(f"a vocabulary starts with {PAD!r}, {UNK!r}; got {list(tokens[:2])}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("a vocabulary cannot list a token twice")
        self.tokens = list(tokens)
        self.index = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = (),
    ) -> Vocab:
        """The tokens seen at least ``min_freq`` times (at most ``max_size`` of them, the most
        frequent), after ``<pad>``, ``<unk>`` and ``specials``."""
        if min_freq < 1:
            raise InputError(f"--min-freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < 1:
            raise InputError(f"--max-vocab must be >= 1, got {max_size}")
        counts = Counter(token for tokens in token_lists for token in tokens)
        head = [PAD, UNK, *(s for s in specials if s not in (PAD, UNK))]
        kept = sorted(
            (t for t, n in counts.items() if n >= min_freq and t not in head),
            key=lambda t: (-counts[t], t),
        )
        return cls(head + kept[:max_size])

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.index

    def __getitem__(self, token: str) -> int:
        return self.index.get(token, self.unk_id)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of ``tokens``; tokens outside the vocabulary become ``<unk>`` (1)."""
        return [self.index.get(token, self.unk_id) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[int(i)] for i in ids]

    def save(self, path: str | Path, tokenizer: Tokenizer | None = None) -> None:
        """Write ``{"type": "tokens", "tokenizer": {...}, "tokens": [...]}`` as JSON."""
        from rnnkit.io import write_json

        data: dict = {"type": "tokens"}
        if tokenizer is not None:
            data["tokenizer"] = tokenizer.to_dict()
        data["tokens"] = self.tokens
        write_json(path, data)

    @classmethod
    def load(cls, path: str | Path) -> tuple[Vocab, Tokenizer | None]:
        """Read a file written by :meth:`save`: (vocabulary, tokenizer or None)."""
        from rnnkit.io import read_json

        data = read_json(path, "vocabulary")
        if (
            not isinstance(data, dict)
            or data.get("type") != "tokens"
            or not isinstance(data.get("tokens"), list)
        ):
            raise InputError(f"{path}: not an rnnkit token vocabulary")
        if not all(isinstance(token, str) for token in data["tokens"]):
            raise InputError(f"{path}: key 'tokens' must list strings")
        if "tokenizer" in data and not isinstance(data["tokenizer"], dict):
            raise InputError(f"{path}: key 'tokenizer' must be an object")
        try:
            vocab = cls(data["tokens"])
            tokenizer = Tokenizer.from_dict(data["tokenizer"]) if "tokenizer" in data else None
        except (ValueError, TypeError) as error:
            raise InputError(f"{path}: not a valid vocabulary ({error})") from None
        return vocab, tokenizer


def read_word_vectors(path: str | Path, vocab: Vocab) -> tuple[Tensor, Tensor]:
    """Vectors for ``vocab`` from a GloVe-format text file (``word x_1 ... x_E`` per line; a
    word2vec ``count dim`` first line is skipped).

    Returns ``vectors`` (V, E) (zeros where missing) and ``found`` (V,) bool. A word missing as
    written is looked up lowercased. Raises InputError naming the file and line of a malformed
    line, or if no word of the vocabulary is in the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: word-vector file not found")
    wanted: dict[str, list[int]] = {}
    for i, token in enumerate(vocab.tokens[2:], start=2):
        wanted.setdefault(token, []).append(i)
    vectors: Tensor | None = None
    found = torch.zeros(len(vocab), dtype=torch.bool)
    exact = torch.zeros(len(vocab), dtype=torch.bool)
    dim = None
    with open(path, encoding="utf-8-sig", errors="strict") as handle:
        try:
            for number, line in enumerate(handle, start=1):
                fields = line.rstrip("\n").rstrip(" ").split(" ")
                if number == 1 and len(fields) == 2 and all(f.isdigit() for f in fields):
                    continue  # word2vec text header: "count dim"
                if dim is None:
                    dim = len(fields) - 1
                    if dim < 1:
                        raise InputError(f"{path}:{number}: expected a word and numbers")
                    vectors = torch.zeros(len(vocab), dim)
                if len(fields) < dim + 1:
                    raise InputError(
                        f"{path}:{number}: expected a word and {dim} numbers, found "
                        f"{len(fields) - 1} fields"
                    )
                word = " ".join(fields[:-dim])  # a few GloVe words contain spaces
                rows = wanted.get(word)
                is_exact = rows is not None
                if rows is None:
                    rows = wanted.get(word.lower())
                if rows is None:
                    continue
                try:
                    values = torch.tensor([float(x) for x in fields[-dim:]])
                except ValueError:
                    raise InputError(
                        f"{path}:{number}: expected {dim} numbers after the word {word!r}"
                    ) from None
                for row in rows:
                    if exact[row] or (found[row] and not is_exact):
                        continue  # the exact spelling wins over a lowercased match
                    vectors[row] = values
                    found[row] = True
                    exact[row] = is_exact
        except UnicodeDecodeError as error:
            raise InputError(f"{path}: not UTF-8 text ({error})") from None
    if vectors is None:
        raise InputError(f"{path}: the word-vector file is empty")
    if not bool(found.any()):
        raise InputError(f"{path}: none of the {len(vocab) - 2} vocabulary words has a vector")
    return vectors, found
