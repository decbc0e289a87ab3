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
from rnnkit.config import option
from rnnkit.data.text import CharVocab, StreamBatches, WindowBatches, read_text, split_text
from rnnkit.errors import InputError
from rnnkit.io import write_json
from rnnkit.models.lm import CharLM, LMConfig
from rnnkit.tasks.spec import Built, TaskSpec
from rnnkit.training.run import load_best_weights, load_run

EVAL_CHUNK = 1024  # characters per forward pass when scoring a long stream


@dataclass
class LMData:
    """Where the text comes from and how it is cut into batches; stored in config.json."""

    data: str = option(
        "tinyshakespeare",
        "a registered dataset name (tinyshakespeare) or a path to a UTF-8 text file",
    )
    valid_fraction: float = option(
        0.1, "the last fraction of the text held out for validation", above=0, below=1
    )
    batch_size: int = option(64, "sequences per batch", min=1)
    seq_len: int = option(128, "characters per chunk of truncated BPTT", min=1)
    batching: str = option(
        "stream",
        "stream: B contiguous streams with the state carried between chunks; window: shuffled "
        "random windows, each from a fresh state (the seed's way)",
        choices=("stream", "window"),
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
        self.model = model
        self.vocab = vocab
        self.valid_ids = valid_ids
        self.data = data
        batches = StreamBatches if data.batching == "stream" else WindowBatches
        self.batches = batches(train_ids, data.batch_size, data.seq_len, seed)
        self.steps_per_epoch = len(self.batches)
        self.carries_state = data.batching == "stream"

    @classmethod
    def from_text(
        cls,
        text: str,
        model_config: LMConfig | dict,
        data: LMData,
        seed: int = 0,
        vocab: CharVocab | None = None,
    ) -> LanguageModelTask:
        """Split a text, build its vocabulary (unless a run's is given) and the model."""
        if isinstance(model_config, dict):
            model_config = LMConfig(**model_config)
        train_text, valid_text = split_text(text, data.valid_fraction)
        if len(valid_text) < 2:
            raise InputError(f"the validation split of {data.data} is empty; use a longer text")
        vocab = vocab or build_vocab(train_text, valid_text)
        model = CharLM(model_config, len(vocab))
        train_ids = vocab.encode(train_text, what=data.data)
        return cls(model, vocab, train_ids, vocab.encode(valid_text, what=data.data), data, seed)

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
def sample_ids(
    model,
    vocab: CharVocab,
    prime: str,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    num_samples: int = 1,
    precision: str = "fp32",
) -> Iterator[Tensor]:
    """Yield ``length`` steps of ``num_samples`` independent samples continuing ``prime``: token
    ids (N,), a buffer the next step overwrites. Sample i is seeded ``seed + i``, so it is the
    sample that batch-1 generation draws with that seed. ``model`` is a :class:`CharLM` or an
    engine's model with the same ``stepper(batch, precision)``."""
    sampling.check_options(temperature, top_k, top_p)
    if not prime:
        raise InputError("--prime must not be empty (the model needs a first character)")
    if num_samples < 1:
        raise InputError(f"--num-samples must be >= 1, got {num_samples}")
    ids = vocab.encode(prime, what="--prime").unsqueeze(0).expand(num_samples, -1)  # (N, T)
    seeds = [None if seed is None else seed + row for row in range(num_samples)]
    sampler = sampling.Sampler(num_samples, len(vocab), temperature, top_k, top_p, seeds)
    stepper = model.stepper(num_samples, precision)
    logits = stepper.read(ids)  # (N, V): read the prime at once
    for position in range(length):
        tokens = sampler(logits)  # (N,)
        yield tokens
        if position + 1 < length:
            logits = stepper.step(tokens)


def generate(model, vocab: CharVocab, prime: str, length: int, **options) -> Iterator[str]:
    """Yield ``length`` characters, one at a time, continuing ``prime``; ``options`` are
    :func:`sample_ids`' (``temperature``, ``top_k``, ``top_p``, ``seed``, ``precision``)."""
    for tokens in sample_ids(model, vocab, prime, length, **options):
        yield vocab.chars[int(tokens[0])]


def generate_samples(
    model, vocab: CharVocab, prime: str, length: int, num_samples: int, **options
) -> list[str]:
    """``num_samples`` continuations of ``prime``, generated as one batch; ``options`` are
    :func:`sample_ids`' (``temperature``, ``top_k``, ``top_p``, ``seed``, ``precision``)."""
    rows: list[list[str]] = [[] for _ in range(num_samples)]
    chars = vocab.chars
    for tokens in sample_ids(model, vocab, prime, length, num_samples=num_samples, **options):
        for row, token in zip(rows, tokens.tolist()):
            row.append(chars[token])
    return ["".join(row) for row in rows]


VOCAB = "vocab.json"


def read_corpus(data: str) -> str:
    """The text of a registered dataset or a file."""
    return read_text(resolve_text(data))


def build_vocab(train_text: str, valid_text: str) -> CharVocab:
    """The characters of the training text, plus rare ones that only occur in validation."""
    vocab = CharVocab.from_text(train_text)
    missing = set(valid_text) - set(vocab.chars)
    if missing:
        vocab = CharVocab.from_text(train_text + "".join(sorted(missing)))
    return vocab


@dataclass
class LoadedLM:
    """A trained language model with its vocabulary and configuration."""

    model: CharLM
    vocab: CharVocab
    config: dict


class LMSpec(TaskSpec):
    """``rnnkit train lm``: next-character prediction with truncated BPTT."""

    name = "lm"
    help = "character-level language model"
    description = "Train a character-level language model (RNN, LSTM or GRU) on a text."
    sections = {"data": LMData, "model": LMConfig}
    train_defaults = {
        "time_budget": 600.0,
        "eval_every": 500,
        "schedule": "cosine",
        "warmup_steps": 100,
    }
    unit = "nats/char"

    def build(self, config, run: Path, resume: bool) -> Built:
        data = config["data"]
        vocab = CharVocab.load(run / VOCAB) if resume else None  # a run's vocabulary is frozen
        task = LanguageModelTask.from_text(
            read_corpus(data.data), config["model"], data, config["train"].seed, vocab
        )
        model, vocab = task.model, task.vocab
        params = sum(p.numel() for p in model.parameters())
        return Built(
            task,
            model,
            f"{params:,} parameters, vocabulary {len(vocab)}, {task.steps_per_epoch} steps per "
            "epoch",
            save=lambda out: vocab.save(out / VOCAB),
        )

    def load(self, run) -> LoadedLM:
        config = load_run(run, self.name)
        vocab = CharVocab.load(Path(run) / VOCAB)
        sections = self.from_stored(config, str(Path(run) / "config.json"))
        model = CharLM(sections["model"], len(vocab))
        load_best_weights(run, model)
        model.eval()
        return LoadedLM(model, vocab, config)

    def evaluate(self, run, data: str | None = None) -> dict:
        loaded = self.load(run)
        if data:
            text, source = read_text(data), str(data)
        else:
            stored = self.from_stored(loaded.config, str(run))["data"]
            _, text = split_text(read_corpus(stored.data), stored.valid_fraction)
            source = f"{stored.data} (validation split, last {stored.valid_fraction:.0%})"
        ids = loaded.vocab.encode(text, what=source)
        if len(ids) < 2:
            raise InputError(f"{source}: needs at least 2 characters to score")
        metrics = bits(stream_loss(loaded.model, ids))
        result = {"data": source, "characters": len(ids) - 1, **metrics}
        if not data:
            result["valid"] = metrics  # the validation split is what a char LM is scored on
        write_json(Path(run) / "eval.json", result)
        return result


SPEC = LMSpec()
