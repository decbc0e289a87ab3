"""The character-level language-model task: its data, batches, loss, metrics and generation.

What the trainer (:mod:`rnnkit.training.trainer`) needs from a task is here and nothing else; the
trainer, checkpoints and sampler are shared with every other task.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit import sampling
from rnnkit.data.text import CharVocab, StreamBatches, WindowBatches, split_text
from rnnkit.errors import InputError
from rnnkit.models.lm import CharLM, LMConfig

EVAL_CHUNK = 1024  # characters per forward pass when scoring a long stream


@dataclass
class LMData:
    """Where the text comes from and how it is cut into batches; stored in config.json."""

    data: str = "tinyshakespeare"
    valid_fraction: float = 0.1
    batch_size: int = 64
    seq_len: int = 128
    batching: str = "stream"  # stream: contiguous streams, state carried; window: the seed's way

    def check(self) -> None:
        if self.batching not in ("stream", "window"):
            raise InputError(f"--batching must be stream or window, got {self.batching!r}")
        if self.batch_size <= 0 or self.seq_len <= 0:
            raise InputError(
                f"--batch-size and --seq-len must be positive, got {self.batch_size} and "
                f"{self.seq_len}"
            )


def resolve_text(data: str) -> Path:
    """A registered dataset name or a path to a text file."""
    from rnnkit.data import registry

    if registry.is_registered(data):
        return registry.locate(data)
    return Path(data)


def bits(nats: float) -> dict[str, float]:
    """Loss in nats/char, bits/char and perplexity."""
    return {
        "loss": nats,
        "bits_per_char": nats / math.log(2),
        "perplexity": math.exp(min(nats, 700)),
    }


class LanguageModelTask:
    """Next-character prediction with truncated BPTT."""

    def __init__(
        self,
        model: CharLM,
        vocab: CharVocab,
        train_ids: Tensor,
        valid_ids: Tensor,
        data: LMData,
        seed: int = 0,
    ) -> None:
        data.check()
        self.model = model
        self.vocab = vocab
        self.valid_ids = valid_ids
        self.data = data
        batches = StreamBatches if data.batching == "stream" else WindowBatches
        self.batches = batches(train_ids, data.batch_size, data.seq_len, seed)
        self.steps_per_epoch = len(self.batches)
        self.carries_state = data.batching == "stream"

    @classmethod
    def from_text(cls, text: str, model_config: dict, data: LMData, seed: int = 0):
        """Build vocabulary, split and model from a training text."""
        train_text, valid_text = split_text(text, data.valid_fraction)
        if len(valid_text) < 2:
            raise InputError(f"the validation split of {data.data} is empty; use a longer text")
        vocab = CharVocab.from_text(train_text)
        missing = set(valid_text) - set(vocab.chars)
        if missing:  # rare characters that only occur in the validation split
            vocab = CharVocab.from_text(train_text + "".join(sorted(missing)))
        model = CharLM(LMConfig(vocab_size=len(vocab), **model_config))
        return cls(model, vocab, vocab.encode(train_text), vocab.encode(valid_text), data, seed)

    def batch(self, epoch: int, index: int) -> tuple[Tensor, Tensor]:
        return self.batches(epoch, index)

    def training_loss(self, batch, carry):
        x, y = batch  # (B, T) each
        logits, state = self.model(x, carry if self.carries_state else None)  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1))
        carry = CharLM.detach_state(state) if self.carries_state else None
        return loss, carry, y.numel()

    def evaluate(self) -> dict[str, float]:
        return bits(stream_loss(self.model, self.valid_ids))


@torch.no_grad()
def stream_loss(model: CharLM, ids: Tensor, chunk: int = EVAL_CHUNK) -> float:
    """Mean next-character loss (nats) over ``ids`` read as one stream with the state carried."""
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    for start in range(0, len(ids) - 1, chunk):
        x = ids[start : start + chunk].unsqueeze(0)  # (1, T)
        y = ids[start + 1 : start + chunk + 1].unsqueeze(0)
        x = x[:, : y.shape[1]]
        logits, state = model(x, state)
        total += float(F.cross_entropy(logits[0].float(), y[0], reduction="sum"))
        count += y.numel()
    model.train(was_training)
    return total / count


@torch.inference_mode()
def generate(
    model: CharLM,
    vocab: CharVocab,
    prime: str,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
) -> Iterator[str]:
    """Yield ``length`` characters, one at a time, continuing ``prime``."""
    sampling.check_options(temperature, top_k, top_p)
    if not prime:
        raise InputError("--prime must not be empty (the model needs a first character)")
    ids = vocab.encode(prime, what="--prime")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    model.eval()
    logits, state = model(ids.unsqueeze(0))  # (1, T, V): read the prime at once
    last = logits[:, -1]  # (1, V)
    table = model.input_table()
    for _ in range(length):
        token = sampling.sample(last, temperature, top_k, top_p, generator)  # (1,)
        yield vocab.chars[int(token)]
        last, state = model.step(token, state, table)
