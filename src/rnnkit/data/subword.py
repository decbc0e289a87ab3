"""Subword tokenizer: byte-pair encoding learned on the training split, stored as JSON with a run.

Built on HuggingFace ``tokenizers`` (the ``translate`` extra; imported only when used). Text is
NFC-normalised and split on whitespace with the Metaspace scheme: every word starts with "▁", so
decoding puts the spaces back exactly where they were and the output needs no detokenizer;
punctuation is split off into pieces of its own (without "▁", so it re-attaches on decoding).
Merges are learned from the training sentences only, so nothing is downloaded and the validation
and test sets stay unseen.

Special ids are fixed: ``<pad>`` 0, ``<unk>`` 1, ``<s>`` 2 (begin), ``</s>`` 3 (end).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from rnnkit.errors import InputError
from rnnkit.tokens import SPECIALS, UNK


def _require_tokenizers():
    try:
        import tokenizers
    except ImportError:
        raise InputError(
            "translation needs the tokenizers library: pip install 'rnnkit[translate]'"
        ) from None
    return tokenizers


class SubwordTokenizer:
    """Text <-> subword ids. Build with :meth:`train` or :meth:`load`."""

    def __init__(self, tokenizer) -> None:
        self._tokenizer = tokenizer
        for token, expected in zip(SPECIALS, range(4), strict=True):
            if tokenizer.token_to_id(token) != expected:
                raise InputError(f"tokenizer: special token {token} must have id {expected}")

    @classmethod
    def train(
        cls,
        sentences: Iterable[str],
        vocab_size: int = 8000,
        flag: str = "the subword vocabulary size",
        min_frequency: int = 2,
    ) -> SubwordTokenizer:
        """Learn BPE merges from ``sentences`` until the vocabulary has ``vocab_size`` entries;
        ``flag`` names the option in messages (``--src-vocab-size``)."""
        if vocab_size < 64:
            raise InputError(f"{flag} must be at least 64, got {vocab_size}")
        tk = _require_tokenizers()
        tokenizer = tk.Tokenizer(tk.models.BPE(unk_token=UNK))
        tokenizer.normalizer = tk.normalizers.NFC()
        # "▁word" pieces first, then punctuation split off (",", ".") so that "bushes." and
        # "bushes" share a piece; the Metaspace decoder still re-attaches it exactly
        tokenizer.pre_tokenizer = tk.pre_tokenizers.Sequence(
            [
                tk.pre_tokenizers.Metaspace(prepend_scheme="always"),
                tk.pre_tokenizers.Punctuation("isolated"),
            ]
        )
        tokenizer.decoder = tk.decoders.Metaspace(prepend_scheme="always")
        trainer = tk.trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(SPECIALS),
            show_progress=False,
        )
        tokenizer.train_from_iterator(list(sentences), trainer=trainer)
        return cls(tokenizer)

    @classmethod
    def load(cls, path: str | Path) -> SubwordTokenizer:
        """Read a tokenizer written by :meth:`save`."""
        tk = _require_tokenizers()
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: tokenizer not found")
        try:
            tokenizer = tk.Tokenizer.from_file(str(path))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:  # a bare Exception, or a Rust panic, for a bad file
            reason = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
            raise InputError(f"{path}: not a tokenizers JSON file ({reason})") from None
        return cls(tokenizer)

    def save(self, path: str | Path) -> None:
        """Write the tokenizer (vocabulary, merges, normaliser and decoder) as one JSON file."""
        from rnnkit.io import write_bytes

        write_bytes(path, self._tokenizer.to_str().encode("utf-8"))

    def __len__(self) -> int:
        return self._tokenizer.get_vocab_size()

    def encode(self, sentences: Sequence[str]) -> list[list[int]]:
        """Subword ids of each sentence, without BOS/EOS."""
        return [e.ids for e in self._tokenizer.encode_batch(list(sentences))]

    def tokens(self, sentence: str) -> list[str]:
        """The subword strings of one sentence (for attention-map labels)."""
        return self._tokenizer.encode(sentence).tokens

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``; special tokens are dropped."""
        return self._tokenizer.decode([int(i) for i in ids], skip_special_tokens=True)

    def id_to_token(self, index: int) -> str:
        return self._tokenizer.id_to_token(int(index))
