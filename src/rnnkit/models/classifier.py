"""Text classifier: embedding -> (bi)directional recurrent layers -> pooling -> linear head.

The input is a padded batch of token ids (B, T) with the true length of each row (B,). The
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
``dropout`` acts between recurrent layers and on the pooled vector before the head.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from rnnkit import attention as attention_lib
from rnnkit.errors import InputError
from rnnkit.layers import GRU, LSTM, RNN
from rnnkit.tokens import PAD_ID, UNK_ID

CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
POOLINGS = ("last", "mean", "max", "attention")


@dataclass
class ClassifierConfig:
    """The model's shape; stored in the run's config.json."""

    vocab_size: int
    num_classes: int
    cell: str = "lstm"
    embedding_dim: int = 300
    hidden_size: int = 150
    num_layers: int = 1
    bidirectional: bool = True
    pooling: str = "attention"
    attention: str = "additive"
    dropout: float = 0.5
    embedding_dropout: float = 0.0
    word_dropout: float = 0.0
    freeze_embeddings: bool = False
    sparse_embedding: bool = False
    nonlinearity: str = "tanh"
    backend: str = "auto"

    def check(self) -> None:
        """Raise InputError for impossible options."""
        if self.cell not in CELLS:
            raise InputError(f"--cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.pooling not in POOLINGS:
            raise InputError(
                f"--pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}"
            )
        if self.attention not in attention_lib.KINDS:
            kinds = ", ".join(attention_lib.KINDS)
            raise InputError(f"--attention must be one of {kinds}, got {self.attention!r}")
        if self.nonlinearity not in ("tanh", "relu"):
            raise InputError(f"--nonlinearity must be tanh or relu, got {self.nonlinearity!r}")
        for name in ("vocab_size", "embedding_dim", "hidden_size", "num_layers"):
            if getattr(self, name) <= 0:
                flag = {"hidden_size": "hidden", "num_layers": "layers"}.get(name, name)
                raise InputError(
                    f"--{flag.replace('_', '-')} must be positive, got {getattr(self, name)}"
                )
        if self.sparse_embedding and self.freeze_embeddings:
            raise InputError("--sparse-embedding and --freeze-embeddings contradict each other")
        if self.num_classes < 2:
            raise InputError(f"a classifier needs at least 2 classes, got {self.num_classes}")
        for name in ("dropout", "embedding_dropout", "word_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise InputError(
                    f"--{name.replace('_', '-')} must be in [0, 1), got {getattr(self, name)}"
                )

    @property
    def output_size(self) -> int:
        """Size of the pooled vector: hidden size times the number of directions."""
        return self.hidden_size * (2 if self.bidirectional else 1)


class TextClassifier(nn.Module):
    """``forward(ids (B, T), lengths (B,)) -> logits (B, C)``."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        config.check()
        self.config = config
        self.embedding = nn.Embedding(
            config.vocab_size,
            config.embedding_dim,
            padding_idx=PAD_ID,
            sparse=config.sparse_embedding,  # only the rows of a batch's words get gradients
        )
        # U(-0.25, 0.25), as Kim (2014) initialises words without pretrained vectors
        nn.init.uniform_(self.embedding.weight, -0.25, 0.25)
        with torch.no_grad():
            self.embedding.weight[PAD_ID].zero_()
        self.embedding.weight.requires_grad_(not config.freeze_embeddings)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        extra = {"nonlinearity": config.nonlinearity} if config.cell == "rnn" else {}
        self.rnn = CELLS[config.cell](
            config.embedding_dim,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            bidirectional=config.bidirectional,
            batch_first=True,
            backend=config.backend,
            **extra,
        )
        size = config.output_size
        if config.pooling == "attention":
            self.query = nn.Parameter(torch.randn(size) / size**0.5)  # q
            self.attention = attention_lib.build(config.attention, size, size)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(size, config.num_classes)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        pooled, _ = self.encode(ids, lengths)
        return self.head(self.dropout(pooled))  # (B, C)

    def encode(self, ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor | None]:
        """The pooled vector (B, D*H) and, for attention pooling, the weights (B, T)."""
        lengths = lengths.to(torch.long)
        steps = ids.shape[1]
        if self.training and self.config.word_dropout > 0:
            dropped = torch.rand(ids.shape, device=ids.device) < self.config.word_dropout
            ids = ids.masked_fill(dropped & (ids != PAD_ID), UNK_ID)
        x = self.embedding_dropout(self.embedding(ids))  # (B, T, E)
        outputs, state = self.rnn(x, lengths=lengths)  # (B, T, D*H), (L*D, B, H)
        mask = attention_lib.lengths_to_mask(lengths, steps)  # (B, T), True on real tokens
        pooling = self.config.pooling
        if pooling == "last":
            h_n = state[0] if isinstance(state, tuple) else state  # LSTM: (h_n, c_n)
            directions = 2 if self.config.bidirectional else 1
            top = h_n[-directions:]  # (D, B, H): the top layer's directions
            return top.transpose(0, 1).reshape(ids.shape[0], -1), None  # (B, D*H)
        if pooling == "mean":
            total = (outputs * mask.unsqueeze(-1)).sum(dim=1)  # (B, D*H)
            return total / lengths.unsqueeze(1).to(outputs.dtype), None
        if pooling == "max":
            hidden = outputs.masked_fill(~mask.unsqueeze(-1), float("-inf"))
            return hidden.max(dim=1).values, None  # (B, D*H)
        query = self.query.expand(ids.shape[0], 1, -1)  # (B, 1, D*H)
        context, weights = self.attention(query, outputs, mask=mask)  # (B, 1, D*H), (B, 1, T)
        return context.squeeze(1), weights.squeeze(1)

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

    def config_dict(self) -> dict:
        return asdict(self.config)
