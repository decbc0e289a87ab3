"""Word-level text for language models: lines of words, each ending in ``<eos>``, and a vocabulary
with ``<unk>`` for the words it leaves out.

The Penn Treebank convention of word-level language modelling (Mikolov et al. 2010): a text is
read line by line; each line's words (the :class:`~rnnkit.data.tokenize.Tokenizer`'s ``word``
tokens, lowercased by default) are followed by ``<eos>``, and the lines are joined into one
stream of ids that is cut into batches like a character stream (:mod:`rnnkit.data.text`). Blank
lines give no tokens (not even ``<eos>``). The vocabulary keeps the training words seen at least
``min_freq`` times, at most ``max_size`` of the most frequent; every other word, in training and
in held-out text alike, becomes ``<unk>``, so the model learns what to predict for a rare word.

A language model's vocabulary (:class:`WordVocab` here, :class:`~rnnkit.data.text.CharVocab` for
characters) also tells the generator how to start and how to print: ``encode_prime(text)`` gives
the ids to read before sampling, ``spell(id, previous)`` the text to print for a sampled id, and
``never_sampled`` the ids a sample must not be (``<pad>``, ``<unk>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.data.tokenize import Tokenizer, Vocab
from rnnkit.errors import InputError
from rnnkit.tokens import LINE_END, LINE_END_ID, PAD_ID, UNK_ID


def split_lines(text: str, held_out: Sequence[float]) -> list[str]:
    """``[rest, part_1, part_2, ...]``: the last lines of ``text`` cut into parts of
    ``held_out[k]`` of its lines each, in order, after the first lines (the rest) for training.

    ``split_lines(text, [0.05, 0.05])`` is 90% training, then 5% validation, then 5% test."""
    lines = text.splitlines(keepends=True)
    if any(f <= 0 for f in held_out) or sum(held_out) >= 1:
        raise InputError(f"held-out fractions must be positive and sum below 1, got {held_out}")
    sizes = [int(len(lines) * f) for f in held_out]
    start = len(lines) - sum(sizes)
    parts = ["".join(lines[:start])]
    for size in sizes:
        parts.append("".join(lines[start : start + size]))
        start += size
    return parts


def line_tokens(text: str, tokenizer: Tokenizer) -> list[list[str]]:
    """Each non-blank line's tokens followed by ``<eos>``."""
    lines = (tokenizer(line) for line in text.splitlines())
    return [[*tokens, LINE_END] for tokens in lines if tokens]


class WordVocab:
    """Words <-> ids: ``<pad>`` 0, ``<unk>`` 1, ``<eos>`` 2, then the words, most frequent first.

    ``<pad>`` is never in a language model's stream; it stays so that every rnnkit vocabulary
    starts alike (:mod:`rnnkit.tokens`)."""

    level = "word"
    never_sampled = (PAD_ID, UNK_ID)

    def __init__(self, vocab: Vocab, tokenizer: Tokenizer) -> None:
        if len(vocab) <= LINE_END_ID or vocab.tokens[LINE_END_ID] != LINE_END:
            raise ValueError(f"a word-LM vocabulary has {LINE_END!r} at id {LINE_END_ID}")
        self.vocab, self.tokenizer = vocab, tokenizer

    @classmethod
    def build(
        cls, text: str, tokenizer: Tokenizer, min_freq: int = 1, max_size: int | None = None
    ) -> WordVocab:
        """The vocabulary of a training text (``max_size`` counts the words, not the specials)."""
        lines = line_tokens(text, tokenizer)
        return cls(Vocab.build(lines, min_freq, max_size, specials=(LINE_END,)), tokenizer)

    @property
    def tokens(self) -> list[str]:
        return self.vocab.tokens

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, text: str, what: str = "text") -> Tensor:
        """Ids (N,) of every line's words and its ``<eos>``; unknown words are ``<unk>``."""
        ids = [i for tokens in line_tokens(text, self.tokenizer) for i in self.vocab.encode(tokens)]
        if not ids:
            raise InputError(f"{what} has no words")
        return torch.tensor(ids, dtype=torch.long)

    def encode_prime(self, prime: str) -> Tensor:
        """What the model reads before sampling: ``<eos>`` (a line starts), then the prime's
        words, with ``<eos>`` after each line the prime ends with a newline. Words outside the
        vocabulary are ``<unk>``; an empty prime starts a new line."""
        ids = [LINE_END_ID]
        lines = prime.split("\n")
        for number, line in enumerate(lines):
            ids += self.vocab.encode(self.tokenizer(line))
            if number < len(lines) - 1 and ids[-1] != LINE_END_ID:
                ids.append(LINE_END_ID)
        return torch.tensor(ids, dtype=torch.long)

    def spell(self, token: int, previous: int | None = None) -> str:
        """The text printed for ``token`` after ``previous``: ``<eos>`` is a newline, a word
        is preceded by a space unless it starts a line."""
        if token == LINE_END_ID:
            return "\n"
        space = "" if previous in (None, LINE_END_ID) else " "
        return space + self.vocab.tokens[token]

    def decode(self, ids) -> str:
        """Ids as text: words separated by spaces, a newline for each ``<eos>``."""
        ids = [int(i) for i in ids]
        return "".join(self.spell(t, p) for t, p in zip(ids, [None, *ids]))

    def save(self, path: str | Path) -> None:
        self.vocab.save(path, self.tokenizer)

    @classmethod
    def load(cls, path: str | Path) -> WordVocab:
        vocab, tokenizer = Vocab.load(path)
        try:
            return cls(vocab, tokenizer or Tokenizer())
        except ValueError:
            raise InputError(f"{path}: not an rnnkit word language-model vocabulary") from None
