"""Language-model pretraining of a text classifier's embedding and recurrent layer on its own
training text, before it learns the labels (Dai & Le 2015, "Semi-supervised Sequence Learning").

The classifier's recurrent layer reads each sentence as it will when classifying; a linear
decoder ``W`` (V', H), dropped afterwards, turns every state into a distribution over the next
word (forward direction) or the previous word (backward direction, as in ELMo):

    L = -(1/N) [ sum_t log p(w_{t+1} | h->_t) + sum_t log p(w_{t-1} | h<-_t) ],
    p(. | h) = softmax(W dropout(h) + b)

where N counts the predicted words. One decoder serves both directions. Only the ``V'`` most
frequent words of the vocabulary are predicted (``--pretrain-vocab``); rarer ones are predicted as
``<unk>``, which keeps the softmax cheap while every word still gets an input embedding. The
classifier's own word dropout and embedding dropout act while pretraining too.

Only one layer may be bidirectional here: in a second bidirectional layer the backward state at
``t`` reads the first layer's forward state at ``t``, which has seen ``w_{t-1}``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.config import option
from rnnkit.data import epoch_generator
from rnnkit.errors import InputError, check_interrupted
from rnnkit.models.classifier import TextClassifier
from rnnkit.tokens import PAD_ID, UNK_ID

logger = logging.getLogger(__name__)

SHUFFLE_OFFSET = 1_000  # pretraining epochs shuffle with other generators than training's


@dataclass
class PretrainConfig:
    """``rnnkit train classify`` pretraining options (texts only)."""

    pretrain_epochs: float = option(
        0.0,
        "epochs of language-model pretraining of the embedding and recurrent layer on the "
        "training sentences before classification (Dai & Le 2015); 0: none",
        min=0,
    )
    pretrain_lr: float = option(2e-3, "learning rate of the pretraining (Adam)", above=0)
    pretrain_vocab: int = option(
        10_000, "the most frequent words the pretraining predicts (the rest as <unk>)", min=3
    )


def check_pretrainable(model: TextClassifier) -> None:
    """Raise InputError where the language-model objective cannot apply to ``model``."""
    if model.embedding is None:
        raise InputError("--pretrain-epochs pretrains on texts; audio runs have none")
    if model.ngrams is not None:
        raise InputError("--pretrain-epochs does not support --char-ngrams (yet)")
    if model.config.bidirectional and model.config.num_layers > 1:
        raise InputError(
            "--pretrain-epochs needs --layers 1 with a bidirectional model: a second "
            "bidirectional layer lets each direction see the word it is to predict"
        )


class NextWordDecoder(nn.Module):
    """``W dropout(h) + b`` over the ``V'`` most frequent words, with both directions' targets."""

    def __init__(self, hidden_size: int, vocab_size: int, dropout: float) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, vocab_size)

    def loss(self, outputs: Tensor, ids: Tensor, directions: int) -> tuple[Tensor, int]:
        """Mean cross-entropy of the next (and previous) words and how many were predicted;
        ``outputs`` (B, T, D*H) of the layer on ``ids`` (B, T), padded with 0."""
        hidden = outputs.shape[-1] // directions
        targets = ids.masked_fill(ids >= self.vocab_size, UNK_ID)  # (B, T)
        states = [outputs[:, :-1, :hidden]]  # h->_t, t < T-1, predicts w_{t+1}
        wanted = [targets[:, 1:]]  # padding (0) there is ignored
        if directions == 2:
            states.append(outputs[:, 1:, hidden:])  # h<-_t, t >= 1, predicts w_{t-1}
            # positions past a row's end have no state: their target is ignored
            wanted.append(targets[:, :-1].masked_fill(ids[:, 1:] == PAD_ID, PAD_ID))
        h = torch.cat([s.reshape(-1, hidden) for s in states])  # (N', H)
        y = torch.cat([w.reshape(-1) for w in wanted])  # (N',)
        keep = y != PAD_ID
        logits = self.out(self.dropout(h[keep]))  # (N, V')
        return F.cross_entropy(logits.float(), y[keep]), int(keep.sum())


def pretrain(
    model: TextClassifier,
    texts: list[list[int]],
    config: PretrainConfig,
    batch_size: int,
    seed: int,
    clip_norm: float | None = 1.0,
) -> dict:
    """Train ``model``'s embedding and recurrent layer as a language model on ``texts`` (token
    ids) for ``config.pretrain_epochs`` epochs; return what the run records (the loss of each
    epoch, nats per word, the steps and seconds)."""
    from rnnkit.tasks.classify import pad_batch
    from rnnkit.training.optim import build_optimizers, sparse_parameters
    from rnnkit.training.trainer import clip_grad_norm

    check_pretrainable(model)
    texts = [t for t in texts if len(t) > 1]  # a one-word text has nothing to predict
    if not texts:
        raise InputError("--pretrain-epochs: no training text has two or more words")
    directions = 2 if model.config.bidirectional else 1
    vocab = min(config.pretrain_vocab, model.vocab_size)
    decoder = NextWordDecoder(model.config.hidden_size, vocab, model.config.dropout)
    both = nn.ModuleList([model, decoder])
    sparse = bool(sparse_parameters(model))
    optimizers = build_optimizers(both, "sparseadam" if sparse else "adam", config.pretrain_lr)
    params = [p for p in both.parameters() if p.requires_grad]
    steps_per_epoch = math.ceil(len(texts) / batch_size)
    total = math.ceil(config.pretrain_epochs * steps_per_epoch)
    losses, started = [], time.perf_counter()
    was_training = model.training
    both.train()
    step, epoch = 0, 0
    while step < total:
        order = torch.randperm(len(texts), generator=epoch_generator(seed, SHUFFLE_OFFSET + epoch))
        summed, count = 0.0, 0
        for index in range(steps_per_epoch):
            if step >= total:
                break
            rows = order[index * batch_size : (index + 1) * batch_size].tolist()
            ids, lengths = pad_batch([texts[r] for r in rows])  # (B, T), (B,)
            outputs, _ = model.states(ids, lengths)  # (B, T, D*H)
            loss, n = decoder.loss(outputs, ids, directions)
            if not torch.isfinite(loss):
                raise InputError(
                    f"--pretrain-epochs: the language-model loss became {loss.item()} at "
                    f"step {step + 1}; lower --pretrain-lr"
                )
            optimizers.zero_grad()
            loss.backward()
            if clip_norm:
                clip_grad_norm(params, clip_norm)
            optimizers.step()
            summed, count = summed + loss.item() * n, count + n
            step += 1
            check_interrupted()
        epoch += 1
        losses.append(round(summed / count, 4))
        logger.info(
            "rnnkit: pretraining epoch %d: %.3f nats per word (perplexity %.1f), %.0f s",
            epoch,
            losses[-1],
            math.exp(losses[-1]),
            time.perf_counter() - started,
        )
    model.train(was_training)
    return {
        "texts": len(texts),
        "steps": step,
        "loss_by_epoch": losses,
        "seconds": round(time.perf_counter() - started, 1),
    }
