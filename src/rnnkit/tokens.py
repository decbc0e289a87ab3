"""The special tokens and their ids, the same in every vocabulary rnnkit builds.

Word vocabularies (:mod:`rnnkit.data.tokenize`) start with ``<pad>``, ``<unk>``; subword
vocabularies (:mod:`rnnkit.data.subword`) with ``<pad>``, ``<unk>``, ``<s>``, ``</s>``.
So padding is always id 0 and an unknown token id 1, and a model needs no vocabulary to know them.
Word-level language models (:mod:`rnnkit.data.words`) end every line with ``<eos>`` (id 2), the
Penn Treebank convention.
"""

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)
LINE_END, LINE_END_ID = "<eos>", 2
