"""The word/character tokenizer and the vocabulary shared by the text tasks."""

from __future__ import annotations

import pytest

from rnnkit.data.tokenize import Tokenizer, Vocab
from rnnkit.errors import InputError
from rnnkit.tokens import PAD, UNK


def test_word_tokenizer_lowercases_and_splits_punctuation():
    assert Tokenizer()("A stirring, funny film!") == ["a", "stirring", ",", "funny", "film", "!"]


def test_word_tokenizer_undoes_sst_bracket_and_quote_escapes():
    tokens = Tokenizer()("-LRB- really -rrb- ``yes''")
    assert tokens == ["(", "really", ")", '"', "yes", '"']


def test_raw_and_ptb_tokenised_contractions_give_the_same_tokens():
    tokenize = Tokenizer()
    assert tokenize("I don't think it's good") == tokenize("i do n't think it 's good")
    assert tokenize("can't") == ["ca", "n't"]


def test_word_tokenizer_decodes_html_entities():
    assert Tokenizer()("a &lt;b&gt; &amp; c") == ["a", "<", "b", ">", "&", "c"]


def test_word_tokenizer_keeps_accents_and_numbers():
    assert Tokenizer()("Crème brûlée for 3.50") == ["crème", "brûlée", "for", "3.50"]


def test_word_tokenizer_can_keep_case():
    assert Tokenizer(lowercase=False)("Ein Hund") == ["Ein", "Hund"]


def test_char_tokenizer_gives_characters_with_single_spaces():
    assert Tokenizer("char")("Hi  -lrb-x") == ["h", "i", " ", "(", "x"]


def test_unknown_tokenizer_kind_is_an_input_error():
    with pytest.raises(InputError, match="--tokenizer"):
        Tokenizer("bpe")


def test_vocab_puts_pad_then_unk_first_then_tokens_by_frequency():
    vocab = Vocab.build([["b", "a", "b"], ["c", "b", "a"]])
    assert vocab.tokens == [PAD, UNK, "b", "a", "c"]
    assert (vocab.pad_id, vocab.unk_id) == (0, 1)


def test_vocab_min_freq_maps_rare_tokens_to_unk():
    vocab = Vocab.build([["a", "a", "b"]], min_freq=2)
    assert vocab.tokens == [PAD, UNK, "a"]
    assert vocab.encode(["a", "b", "zzz"]) == [2, 1, 1]


def test_vocab_max_size_keeps_the_most_frequent():
    vocab = Vocab.build([["a", "a", "a", "b", "b", "c"]], max_size=2)
    assert vocab.tokens == [PAD, UNK, "a", "b"]


def test_vocab_extra_specials_follow_pad_and_unk():
    vocab = Vocab.build([["x"]], specials=("<bos>", "<eos>"))
    assert vocab.tokens == [PAD, UNK, "<bos>", "<eos>", "x"]


def test_vocab_and_tokenizer_round_trip_through_json(tmp_path):
    tokenizer = Tokenizer("char", lowercase=False)
    vocab = Vocab.build([list("hello")])
    vocab.save(tmp_path / "vocab.json", tokenizer)
    loaded, loaded_tokenizer = Vocab.load(tmp_path / "vocab.json")
    assert loaded.tokens == vocab.tokens
    assert loaded_tokenizer == tokenizer


def test_loading_a_file_that_is_not_a_vocabulary_names_it(tmp_path):
    path = tmp_path / "vocab.json"
    path.write_text('{"chars": ["a"]}')
    with pytest.raises(InputError, match="vocab.json: not an rnnkit token vocabulary"):
        Vocab.load(path)


def test_min_freq_below_one_is_an_input_error():
    with pytest.raises(InputError, match="--min-freq"):
        Vocab.build([["a"]], min_freq=0)
