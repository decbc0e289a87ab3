"""Sequence classifier: embedding -> (bi)directional recurrent layers -> pooling -> linear head.

The input is a padded batch of token ids (B, T) with the true length of each row (B,), or, for
audio (``feature_size`` given), a padded batch of feature frames (B, T, F) with its lengths, which
go into the recurrent layers as they are (no embedding; ``embedding_dropout`` drops features). The
recurrent layers run with ``lengths=`` (packed semantics: padded positions output zero, ``h_n`` is
each row's own last state, the reverse direction starts at each row's own last token), and every
pooling ignores padding, so a text gets the same probabilities alone or inside a padded batch.

Poolings of the outputs ``h_1..h_n`` (B, T, D*H), D = 2 when bidirectional:

- ``last``: ``h_n`` of each direction of the top layer, concatenated (the forward direction's state
  after the last token, the backward direction's state after the first one);
- ``mean``: the average of ``h_1..h_n``;
- ``max``: the element-wise maximum over ``h_1..h_n``;
- ``attention``: ``sum_t a_t h_t`` with ``a = softmax_t(score(q, h_t))`` over the real tokens
  only, where ``q`` is a learned query vector; with the default ``additive`` score this is
  ``e_t = v^T tanh(W q + U h_t + b)``, the attention pooling of Yang et al. (2016). The weights
  ``a`` are what ``rnnkit classify --explain`` prints.

Regularisation: ``word_dropout`` replaces whole tokens by ``<unk>`` while training (so the model
learns what to do with words it has never seen), ``embedding_dropout`` drops embedding units,
``dropout`` acts between recurrent layers and on the pooled vector before the head. With
``variational_dropout`` the embedding dropout and the dropout between layers draw one mask per
sequence for every step; ``weight_dropout``, ``zoneout`` and ``--cell lnlstm`` are the recurrent
layer's (:mod:`rnnkit.regularise`). ``adversarial`` is adversarial training on the inputs the
recurrent layer reads (:meth:`TextClassifier.inputs`; the loss is the task's:
:func:`rnnkit.tasks.classify.adversarial_shift`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnkit import attention as attention_lib
from rnnkit.config import option, validate
from rnnkit.errors import InputError
from rnnkit.models.choices import (
    backend_option,
    cell_option,
    check_regularisation,
    nonlinearity_option,
    recurrent_layer,
    regularisation,
    variational_dropout_option,
    weight_dropout_option,
    zoneout_cell_option,
    zoneout_option,
)
from rnnkit.regularise import sequence_dropout
from rnnkit.tokens import PAD_ID, UNK_ID

POOLINGS = ("last", "mean", "max", "attention")


@dataclass
class ClassifierConfig:
    """The model's shape (``rnnkit train classify`` options); stored in the run's config.json. The
    vocabulary size and the number of classes come from the data and are passed to
    :class:`TextClassifier` itself."""

    cell: str = cell_option("lstm")
    embedding_dim: int = option(
        300, "word (or character) embedding size; taken from --embeddings when given", min=1
    )
    hidden_size: int = option(150, "hidden units per layer and direction", flag="hidden", min=1)
    num_layers: int = option(1, "stacked recurrent layers", flag="layers", min=1)
    bidirectional: bool = option(
        True, "read the text in both directions (--no-bidirectional: left to right only)"
    )
    pooling: str = option(
        "attention",
        "how the states become one vector: last (h_n of each direction), mean, max, or attention "
        "(a learned query attends over the states)",
        choices=POOLINGS,
    )
    attention: str = option(
        "additive",
        "score of the attention pooling: additive, general, dot or scaled-dot",
        choices=attention_lib.KINDS,
    )
    dropout: float = option(
        0.5,
        "dropout on the pooled vector before the output layer, and between layers",
        min=0,
        below=1,
    )
    embedding_dropout: float = option(0.0, "dropout on the word embeddings", min=0, below=1)
    word_dropout: float = option(
        0.0, "probability of replacing a word by <unk> while training", min=0, below=1
    )
    adversarial: float = option(
        0.0,
        "adversarial training (Miyato et al. 2017): also learn from each batch with its "
        "embedded words (or features) moved this far (L2 norm per text) along the loss's "
        "gradient; 0: off",
        min=0,
    )
    variational_dropout: bool = variational_dropout_option(
        "for the embeddings and between recurrent layers"
    )
    weight_dropout: float = weight_dropout_option()
    zoneout: float = zoneout_option()
    zoneout_cell: float | None = zoneout_cell_option()
    char_ngrams: int = option(
        0,
        "also build each word's vector from its character n-grams (3 to 5 letters, hashed into "
        "this many vectors; fastText, Bojanowski et al. 2017), so that rare and unseen words get "
        "vectors from their pieces; 0: off",
        min=0,
    )
    freeze_embeddings: bool = option(False, "keep the embedding fixed (with --embeddings)")
    sparse_embedding: bool = option(
        False, "sparse embedding gradients (use with --optimizer sparseadam)"
    )
    nonlinearity: str = nonlinearity_option()
    backend: str = backend_option()

    def check(self) -> None:
        """Raise InputError for contradictory options."""
        check_regularisation(self)
        if self.sparse_embedding and self.freeze_embeddings:
            raise InputError("--sparse-embedding and --freeze-embeddings contradict each other")

    @property
    def output_size(self) -> int:
        """Size of the pooled vector: hidden size times the number of directions."""
        return self.hidden_size * (2 if self.bidirectional else 1)


class TextClassifier(nn.Module):
    """``forward(ids (B, T), lengths (B,)) -> logits (B, C)``; with ``feature_size`` F,
    ``forward(features (B, T, F), lengths (B,))``."""

    def __init__(
        self,
        config: ClassifierConfig,
        vocab_size: int,
        num_classes: int,
        feature_size: int | None = None,
    ) -> None:
        super().__init__()
        validate(config)
        if num_classes < 2:
            raise InputError(f"a classifier needs at least 2 classes, got {num_classes}")
        self.config = config
        self.vocab_size, self.num_classes = vocab_size, num_classes
        self.feature_size = feature_size
        if feature_size is None:
            self.embedding = nn.Embedding(
                vocab_size,
                config.embedding_dim,
                padding_idx=PAD_ID,
                sparse=config.sparse_embedding,  # only the rows of a batch's words get gradients
            )
            # U(-0.25, 0.25), as Kim (2014) initialises words without pretrained vectors
            nn.init.uniform_(self.embedding.weight, -0.25, 0.25)
            with torch.no_grad():
                self.embedding.weight[PAD_ID].zero_()
            self.embedding.weight.requires_grad_(not config.freeze_embeddings)
        else:
            self.embedding = None
        self.ngrams = None
        if config.char_ngrams and feature_size is None:
            # one vector per bucket of character n-grams; row 0 is padding
            self.ngrams = nn.Embedding(
                config.char_ngrams + 1,
                config.embedding_dim,
                padding_idx=0,
                sparse=config.sparse_embedding,
            )
            nn.init.uniform_(self.ngrams.weight, -0.25, 0.25)
            with torch.no_grad():
                self.ngrams.weight[0].zero_()
        self.rnn = recurrent_layer(
            config.cell,
            config.embedding_dim if feature_size is None else feature_size,
            config.hidden_size,
            config.nonlinearity,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            bidirectional=config.bidirectional,
            batch_first=True,
            backend=config.backend,
            **regularisation(config),
        )
        size = config.output_size
        if config.pooling == "attention":
            self.query = nn.Parameter(torch.randn(size) / size**0.5)  # q
            self.attention = attention_lib.build(config.attention, size, size)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(size, num_classes)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        return self.classify(self.inputs(ids), lengths)

    def classify(self, x: Tensor, lengths: Tensor) -> Tensor:
        """Logits (B, C) from the recurrent layer's inputs x (B, T, E) (:meth:`inputs`)."""
        pooled, _ = self.pool(x, lengths)
        return self.head(self.dropout(pooled))  # (B, C)

    def encode(self, ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor | None]:
        """The pooled vector (B, D*H) and, for attention pooling, the weights (B, T)."""
        return self.pool(self.inputs(ids), lengths)

    def pool(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor | None]:
        """:meth:`encode` from the recurrent layer's inputs x (B, T, E)."""
        lengths = lengths.to(torch.long)
        batch, steps = x.shape[:2]
        outputs, state = self.run(x, lengths)  # (B, T, D*H), (L*D, B, H)
        mask = attention_lib.lengths_to_mask(lengths, steps)  # (B, T), True on real tokens
        pooling = self.config.pooling
        if pooling == "last":
            h_n = state[0] if isinstance(state, tuple) else state  # LSTM: (h_n, c_n)
            directions = 2 if self.config.bidirectional else 1
            top = h_n[-directions:]  # (D, B, H): the top layer's directions
            return top.transpose(0, 1).reshape(batch, -1), None  # (B, D*H)
        if pooling == "mean":
            total = (outputs * mask.unsqueeze(-1)).sum(dim=1)  # (B, D*H)
            return total / lengths.unsqueeze(1).to(outputs.dtype), None
        if pooling == "max":
            hidden = outputs.masked_fill(~mask.unsqueeze(-1), float("-inf"))
            return hidden.max(dim=1).values, None  # (B, D*H)
        query = self.query.expand(batch, 1, -1)  # (B, 1, D*H)
        context, weights = self.attention(query, outputs, mask=mask)  # (B, 1, D*H), (B, 1, T)
        return context.squeeze(1), weights.squeeze(1)

    def states(self, ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor | tuple]:
        """The top layer's outputs (B, T, D*H), zero past each row's length, and the final
        state; word dropout and embedding dropout act here while training."""
        return self.run(self.inputs(ids), lengths)

    def inputs(self, ids: Tensor) -> Tensor:
        """What the recurrent layer reads, before embedding dropout: the word vectors (B, T, E),
        with word dropout while training, or the audio features (B, T, F) as they are.

        With ``char_ngrams`` the ids are (B, T, 1 + G): each word's id, then the buckets of its
        G_t character n-grams (0 past them, :func:`rnnkit.data.ngrams.with_ngrams`), and a word's
        vector is the mean of its own and its n-grams' (fastText)::

            x_t = (e_w + sum_g z_g) / (1 + G_t)

        Word dropout replaces ``e_w`` by ``e_<unk>`` and keeps the n-grams, which is what an
        unseen word looks like at test time."""
        if self.embedding is None:
            return ids  # (B, T, F): audio features
        grams = None
        if self.ngrams is not None:
            if ids.dim() != 3:
                raise InputError(
                    "a --char-ngrams classifier reads ids (B, T, 1 + n-grams), got shape "
                    f"{tuple(ids.shape)}"
                )
            ids, grams = ids[..., 0], ids[..., 1:]  # (B, T), (B, T, G)
        if self.training and self.config.word_dropout > 0:
            dropped = torch.rand(ids.shape, device=ids.device) < self.config.word_dropout
            ids = ids.masked_fill(dropped & (ids != PAD_ID), UNK_ID)
        x = self.embedding(ids)  # (B, T, E)
        if grams is None:
            return x
        flat = grams.reshape(-1, grams.shape[-1])  # (B*T, G)
        real = flat != 0  # (B*T, G): the real n-grams, padding left out
        token, slot = real.nonzero(as_tuple=True)  # (N,)
        vectors = self.ngrams(flat[token, slot])  # (N, E): only these rows get gradients
        rows = token.unsqueeze(1).expand_as(vectors)  # (N, E): the token each n-gram adds to
        summed = x.new_zeros(flat.shape[0], x.shape[-1]).scatter_add(0, rows, vectors)  # (B*T, E)
        counts = real.sum(dim=-1, keepdim=True).to(x.dtype)  # (B*T, 1)
        return (x + summed.view_as(x)) / (1 + counts.view(*x.shape[:-1], 1))  # (B, T, E)

    def embedding_parameters(self) -> list[nn.Parameter]:
        """The weights before :meth:`inputs`' output: the word (and n-gram) vectors."""
        modules = [m for m in (self.embedding, self.ngrams) if m is not None]
        return [w for m in modules for w in m.parameters()]

    def run(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor | tuple]:
        """:meth:`states` from the inputs x (B, T, E): embedding dropout, then the layer."""
        return self.rnn(self.drop_embedded(x), lengths=lengths.to(torch.long))

    def drop_embedded(self, x: Tensor) -> Tensor:
        """``embedding_dropout`` on (B, T, E): one mask per sequence with variational dropout."""
        config = self.config
        return sequence_dropout(
            x, config.embedding_dropout, self.training, config.variational_dropout
        )

    def load_word_vectors(self, vectors: Tensor, found: Tensor) -> None:
        """Copy ``vectors[i]`` (V, E) into the embedding for every row where ``found[i]``."""
        if vectors.shape != self.embedding.weight.shape:
            raise InputError(
                f"word vectors of shape {tuple(vectors.shape)} do not fit the embedding "
                f"{tuple(self.embedding.weight.shape)}"
            )
        with torch.no_grad():
            self.embedding.weight[found] = vectors[found].to(self.embedding.weight.dtype)
            self.embedding.weight[PAD_ID].zero_()

    @property
    def sizes(self) -> dict[str, int]:
        """The sizes that come from the data (stored in config.json beside the options)."""
        sizes = {"vocab_size": self.vocab_size, "num_classes": self.num_classes}
        if self.feature_size is not None:
            sizes["feature_size"] = self.feature_size
        return sizes
