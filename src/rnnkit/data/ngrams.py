"""Character n-grams of words, hashed into a fixed number of buckets (fastText's subword units).

Bojanowski et al. (2017) represent a word by its own vector plus one vector for each of its
character n-grams: the word is written between boundary marks, ``<where>``, and its n-grams of
3 to 5 characters (``<wh``, ``whe``, ..., ``re>``, ``<whe``, ...) are hashed into B buckets

    bucket(g) = 1 + FNV-1a(g) mod B    (0 is kept for padding)

so that a word never seen in training (``unwatchable``) still gets a vector from the pieces it
shares with words that were (``un``, ``watch``, ``able``). The hash is FNV-1a over the UTF-8
bytes, 32 bits, as fastText's: stable across processes and machines (Python's ``hash`` of a
string is not), so a run's buckets are the same when it is loaded again.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

SIZES = (3, 4, 5)  # n-gram lengths, in characters, boundary marks included
BEGIN, END = "<", ">"

_FNV_OFFSET, _FNV_PRIME, _MASK = 2166136261, 16777619, 0xFFFFFFFF


def fnv1a(text: str) -> int:
    """32-bit FNV-1a hash of the UTF-8 bytes of ``text``."""
    value = _FNV_OFFSET
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * _FNV_PRIME) & _MASK
    return value


def char_ngrams(word: str, sizes: Sequence[int] = SIZES) -> list[str]:
    """The n-grams of ``<word>`` of each length in ``sizes``, shortest first, in order of
    position; the whole marked word is not one of them (it has its own vector)."""
    marked = BEGIN + word + END
    return [
        marked[start : start + n]
        for n in sizes
        for start in range(len(marked) - n + 1)
        if n < len(marked)
    ]


def ngram_buckets(word: str, buckets: int, sizes: Sequence[int] = SIZES) -> list[int]:
    """Bucket ids, in 1..buckets, of ``word``'s n-grams (:func:`char_ngrams`), repeats kept."""
    if buckets < 1:
        raise ValueError(f"buckets must be >= 1, got {buckets}")
    return [1 + fnv1a(gram) % buckets for gram in char_ngrams(word, sizes)]


@lru_cache(maxsize=1 << 17)
def _cached(word: str, buckets: int) -> tuple[int, ...]:
    return tuple(ngram_buckets(word, buckets))


def with_ngrams(tokens: Sequence[str], ids: Sequence[int], buckets: int) -> list[list[int]]:
    """Each token as ``[word id, bucket, bucket, ...]`` (what a ``--char-ngrams`` classifier
    reads): its id in the vocabulary, ``<unk>``'s for an unknown word, then its n-grams'
    buckets, which an unknown word has as well."""
    return [[i, *_cached(token, buckets)] for token, i in zip(tokens, ids, strict=True)]
