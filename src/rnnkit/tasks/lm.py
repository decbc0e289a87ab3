"""The language-model task, over characters or words: its data, batches, loss, metrics,
baselines and generation.

``--tokenizer char`` (the default) reads a text as characters; ``--tokenizer word`` as lines of
words, each ending in ``<eos>``, with rare words as ``<unk>`` (:mod:`rnnkit.data.words`). Either
way the text becomes one stream of ids, cut into batches for truncated BPTT, and a held-out text
is scored as one stream with the state carried (during training as parallel parts, each warmed
by the text before it: :func:`parallel_stream_loss`).

Where the text comes from: a file, or a registered corpus (:data:`CORPORA`). A text without its
own split is cut into its first ``1 - f`` for training and its last ``f`` for validation
(``--valid-fraction``; characters at char level, lines at word level). ``rnnkit evaluate`` scores
the corpus's test part when it has one and the validation part otherwise, and beside the model
the count-based baselines of :mod:`rnnkit.models.ngram` (a unigram model and interpolated
Kneser-Ney), fitted on the same training tokens with the same vocabulary.

What the trainer (:mod:`rnnkit.training.trainer`) needs from a task is here and nothing else; the
trainer, checkpoints and sampler are shared with every other task.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit import sampling
from rnnkit.config import option
from rnnkit.data.text import CharVocab, StreamBatches, WindowBatches, read_text, split_text
from rnnkit.data.tokenize import Tokenizer
from rnnkit.data.words import WordVocab, split_lines
from rnnkit.errors import InputError
from rnnkit.models.lm import CharLM, LMConfig
from rnnkit.models.ngram import KneserNey, Unigram
from rnnkit.tasks.spec import Built, Scored, TaskSpec
from rnnkit.tokens import UNK_ID
from rnnkit.training.run import check_sources, load_best_weights, load_run, stored_size

logger = logging.getLogger(__name__)

EVAL_CHUNK = 1024  # tokens per forward pass when scoring a long stream
EVAL_STREAMS = 32  # validation during training reads the stream as this many parallel parts
EVAL_WARMUP = 512  # tokens each part reads before its own, unscored (parallel_stream_loss)
IGNORED = -100  # a target that is not scored
Vocabulary = CharVocab | WordVocab


@dataclass(frozen=True)
class Corpus:
    """A registered text with its own split: a dataset's file for each part, or (with
    ``held_out``) one file whose last lines are cut into validation and test parts."""

    dataset: str
    files: dict[str, str]  # part (train, valid, test) -> file of the dataset
    held_out: tuple[float, ...] = ()  # shares of the lines for validation and test


# Texts that come with their split. Multi30k's English captions stand in for a word-level corpus
# such as PTB, which is not in the data here; tiny Shakespeare has no split, so its lines are cut
# 90/5/5 (its plain name keeps nanoGPT's 90/10 character split, without a test part).
CORPORA = {
    "multi30k-en": Corpus(
        "multi30k", {"train": "train.en", "valid": "val.en", "test": "test_2016_flickr.en"}
    ),
    "tinyshakespeare-words": Corpus("tinyshakespeare", {"train": "input.txt"}, (0.05, 0.05)),
}


@dataclass
class LMData:
    """Where the text comes from and how it is cut into tokens and batches; stored in
    config.json."""

    data: str = option(
        "tinyshakespeare",
        "a registered corpus (tinyshakespeare, tinyshakespeare-words, multi30k-en) or a path to a "
        "UTF-8 text file",
        path=True,
    )
    tokenizer: str = option(
        "char",
        "char: every character is a token; word: lowercased words and punctuation, every line "
        "ending in <eos>",
        choices=("char", "word"),
    )
    lowercase: bool = option(True, "lowercase the words (--tokenizer word)")
    min_freq: int = option(
        2, "words seen fewer times in training become <unk> (--tokenizer word)", min=1
    )
    max_vocab: int | None = option(
        None,
        "keep at most this many of the most frequent words (--tokenizer word)",
        min=1,
        none="all",
    )
    valid_fraction: float = option(
        0.1,
        "the last fraction of a text without its own split held out for validation (of its "
        "characters, or of its lines at --tokenizer word)",
        above=0,
        below=1,
    )
    ngram_order: int = option(
        3, "order of the Kneser-Ney baseline that rnnkit evaluate scores beside the model", min=1
    )
    batch_size: int = option(64, "sequences per batch", min=1)
    seq_len: int = option(128, "tokens per chunk of truncated BPTT", min=1)
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
    if not Path(data).exists():
        raise InputError(
            f"{data}: file not found, and not a registered dataset or corpus (see rnnkit data "
            f"list; corpora: {', '.join(CORPORA)})"
            + registry.did_you_mean(Path(data).name, [*registry.DATASETS, *CORPORA])
        )
    return Path(data)


def bits(nats: float, level: str = "char") -> dict[str, float]:
    """Loss in nats per token, bits per token (``bits_per_char`` or ``bits_per_word``) and
    perplexity ``exp(loss)``."""
    return {
        "loss": nats,
        f"bits_per_{level}": nats / math.log(2),
        "perplexity": math.exp(min(nats, 700)),
    }


def read_parts(data: LMData) -> dict[str, str]:
    """The texts of the parts (train, valid and, for some corpora, test) of ``data.data``."""
    from rnnkit.data import registry

    corpus = CORPORA.get(data.data)
    if corpus is None:
        text = read_corpus(data.data)
        if data.tokenizer == "word":
            train, valid = split_lines(text, [data.valid_fraction])
        else:
            train, valid = split_text(text, data.valid_fraction)
        return {"train": train, "valid": valid}
    texts = {
        part: read_text(registry.locate(corpus.dataset, name))
        for part, name in corpus.files.items()
    }
    if corpus.held_out:
        return dict(zip(("train", "valid", "test"), split_lines(texts["train"], corpus.held_out)))
    return texts


def part_name(data: LMData, part: str) -> str:
    """Where a part comes from, for eval.json and messages."""
    corpus = CORPORA.get(data.data)
    if corpus is None:
        unit = "lines" if data.tokenizer == "word" else "text"
        if part == "train":
            return f"{data.data} (first {1 - data.valid_fraction:.0%} of the {unit})"
        return f"{data.data} (validation split, last {data.valid_fraction:.0%} of the {unit})"
    if not corpus.held_out:
        return f"{data.data} ({corpus.files[part]})"
    valid, test = corpus.held_out
    share = {"train": 1 - valid - test, "valid": valid, "test": test}[part]
    return f"{data.data} ({part} part, {share:.0%} of the lines of {corpus.files['train']})"


def make_vocab(data: LMData, parts: dict[str, str]) -> Vocabulary:
    """Words: those of the training text (rare ones are ``<unk>``). Characters: those of the
    training text, plus rare ones that only occur in the held-out parts."""
    if data.tokenizer == "word":
        tokenizer = Tokenizer("word", data.lowercase)
        return WordVocab.build(parts["train"], tokenizer, data.min_freq, data.max_vocab)
    return build_vocab(parts["train"], "".join(t for p, t in parts.items() if p != "train"))


class LanguageModelTask:
    """Next-token prediction with truncated BPTT."""

    def __init__(
        self,
        model: CharLM,
        vocab: Vocabulary,
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
    def from_parts(
        cls,
        parts: dict[str, str],
        model_config: LMConfig | dict,
        data: LMData,
        seed: int = 0,
        vocab: Vocabulary | None = None,
    ) -> LanguageModelTask:
        """Build the vocabulary of the training part (unless a run's is given) and the model."""
        if isinstance(model_config, dict):
            model_config = LMConfig(**model_config)
        vocab = vocab or make_vocab(data, parts)
        model = CharLM(model_config.resolved(vocab.level == "word"), len(vocab))
        train_ids = vocab.encode(parts["train"], what=part_name(data, "train"))
        valid_ids = vocab.encode(parts["valid"], what=part_name(data, "valid"))
        if len(valid_ids) < 2:
            raise InputError(f"the validation split of {data.data} is empty; use a longer text")
        return cls(model, vocab, train_ids, valid_ids, data, seed)

    @classmethod
    def from_text(
        cls,
        text: str,
        model_config: LMConfig | dict,
        data: LMData,
        seed: int = 0,
        vocab: Vocabulary | None = None,
    ) -> LanguageModelTask:
        """Split one text into training and validation parts, then :meth:`from_parts`."""
        if data.tokenizer == "word":
            train, valid = split_lines(text, [data.valid_fraction])
        else:
            train, valid = split_text(text, data.valid_fraction)
        return cls.from_parts({"train": train, "valid": valid}, model_config, data, seed, vocab)

    def batch(self, epoch: int, index: int) -> tuple[Tensor, Tensor]:
        return self.batches(epoch, index)

    def training_loss(self, batch, carry):
        x, y = batch  # (B, T) each
        logits, state = self.model(x, carry if self.carries_state else None)  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1))
        carry = CharLM.detach_state(state) if self.carries_state else None
        return loss, carry, y.numel()

    def evaluate(self) -> dict[str, float]:
        return bits(parallel_stream_loss(self.model, self.valid_ids), self.vocab.level)


@torch.no_grad()
def stream_loss(model: CharLM, ids: Tensor, chunk: int = EVAL_CHUNK) -> float:
    """Mean next-token loss (nats) over ``ids`` read as one stream with the state carried."""
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


@torch.no_grad()
def parallel_stream_loss(
    model: CharLM,
    ids: Tensor,
    streams: int = EVAL_STREAMS,
    warmup: int = EVAL_WARMUP,
    chunk: int = 2 * EVAL_CHUNK,
) -> float:
    """:func:`stream_loss` computed as ``streams`` parallel streams, a batch instead of one row.

    The N targets are cut into S contiguous parts; part s (targets a_s .. a_{s+1}-1) is read from
    ``a_s - warmup`` so that its state has seen the ``warmup`` tokens before it, which are not
    scored again. Only the first part starts cold, as the one stream does. A recurrent state
    forgets what lies further back than that: on a 640-unit Shakespeare model, 32 streams warmed
    by 512 characters give the one-stream loss to 5e-9, 6.1 times faster (``benchmarks/lm.py
    evalspeed``; measured on characters only). With attention the warm-up covers at least the
    window.
    Each forward pass reads about ``chunk`` tokens in all, ``chunk // S`` per stream (B=S, T)."""
    count = len(ids) - 1
    if count < 1:
        raise ValueError("needs at least 2 tokens")
    if model.attention is not None:
        warmup = max(warmup, model.config.attention_window)
    streams = max(1, min(streams, count // max(warmup, 1)))  # each part at least warmup long
    if streams == 1:
        return stream_loss(model, ids, chunk)
    bounds = [round(s * count / streams) for s in range(streams + 1)]  # first target of each part
    starts = [max(0, bound - warmup) for bound in bounds[:-1]]
    steps = max(end - start for start, end in zip(starts, bounds[1:], strict=True))
    x = ids.new_zeros(streams, steps)  # (S, T); the shorter rows end in padding
    y = ids.new_full((streams, steps), IGNORED)  # targets; IGNORED where nothing is scored
    for row, (start, first, end) in enumerate(zip(starts, bounds[:-1], bounds[1:], strict=True)):
        x[row, : end - start] = ids[start:end]
        y[row, first - start : end - start] = ids[first + 1 : end + 1]
    was_training = model.training
    model.eval()
    total, state, width = 0.0, None, max(1, chunk // streams)
    for begin in range(0, steps, width):
        logits, state = model(x[:, begin : begin + width], state)  # (S, t, V)
        targets = y[:, begin : begin + width]
        total += float(
            F.cross_entropy(
                logits.flatten(0, 1).float(),
                targets.flatten(),
                reduction="sum",
                ignore_index=IGNORED,
            )
        )
    model.train(was_training)
    return total / count


@torch.inference_mode()
def sample_ids(
    model,
    vocab: Vocabulary,
    prime: str,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    num_samples: int = 1,
    precision: str = "fp32",
) -> Iterator[Tensor]:
    """Yield ``length`` steps of ``num_samples`` independent samples continuing ``prime``
    (characters, or words where one outside the vocabulary reads as ``<unk>``): token ids (N,), a
    buffer the next step overwrites. Sample i is seeded ``seed + i``, so it is the sample that
    batch-1 generation draws with that seed. The vocabulary's ``never_sampled`` ids (a word
    model's ``<pad>`` and ``<unk>``) are never drawn. ``model`` is a :class:`CharLM` or an
    engine's model with the same ``stepper(batch, precision)``."""
    sampling.check_options(temperature, top_k, top_p)
    if num_samples < 1:
        raise InputError(f"--num-samples must be >= 1, got {num_samples}")
    ids = vocab.encode_prime(prime).unsqueeze(0).expand(num_samples, -1)  # (N, T)
    seeds = [None if seed is None else seed + row for row in range(num_samples)]
    sampler = sampling.Sampler(
        num_samples, len(vocab), temperature, top_k, top_p, seeds, vocab.never_sampled
    )
    stepper = model.stepper(num_samples, precision)
    logits = stepper.read(ids)  # (N, V): read the prime at once
    for position in range(length):
        tokens = sampler(logits)  # (N,)
        yield tokens
        if position + 1 < length:
            logits = stepper.step(tokens)


def generate_ids(model, vocab: Vocabulary, prime: str, length: int, **options) -> Iterator[int]:
    """Yield the ids of ``length`` tokens of one sample (:func:`sample_ids` with one row)."""
    for tokens in sample_ids(model, vocab, prime, length, **options):
        yield int(tokens[0])


def generate(model, vocab: Vocabulary, prime: str, length: int, **options) -> Iterator[str]:
    """Yield the text of ``length`` tokens, one at a time, continuing ``prime``: characters, or
    words with their spaces (a newline for ``<eos>``). ``options``: :func:`sample_ids`'
    ``temperature``, ``top_k``, ``top_p``, ``seed`` and ``precision``."""
    for pieces in _spelled(sample_ids(model, vocab, prime, length, **options), vocab, prime):
        yield pieces[0]


def generate_samples(
    model, vocab: Vocabulary, prime: str, length: int, num_samples: int, **options
) -> list[str]:
    """The texts of ``num_samples`` continuations of ``prime``, generated as one batch;
    ``options`` as for :func:`generate`."""
    rows: list[list[str]] = [[] for _ in range(num_samples)]
    tokens = sample_ids(model, vocab, prime, length, num_samples=num_samples, **options)
    for pieces in _spelled(tokens, vocab, prime):
        for row, piece in zip(rows, pieces):
            row.append(piece)
    return ["".join(row) for row in rows]


def _spelled(tokens: Iterator[Tensor], vocab: Vocabulary, prime: str) -> Iterator[list[str]]:
    """Each step's tokens (N,) as the text each row prints for them."""
    previous = None
    for step in tokens:
        ids = step.tolist()
        if previous is None:  # the prime's last token precedes every row's first
            previous = [int(vocab.encode_prime(prime)[-1])] * len(ids)
        yield [vocab.spell(token, before) for token, before in zip(ids, previous)]
        previous = ids


def baselines(vocab_size: int, train: Tensor, ids: Tensor, order: int) -> dict[str, dict]:
    """The unigram and Kneser-Ney models fitted on ``train``, scored on ``ids`` as the neural
    model is (every token after the first, given those before it)."""
    train_list, ids_list = train.tolist(), ids.tolist()
    kneser_ney = KneserNey(vocab_size, order).fit(train_list)
    scored = {
        "unigram": {"smoothing": "add-one"},
        "kneser_ney": {"order": order, "discounts": [round(d, 4) for d in kneser_ney.discounts]},
    }
    models = {"unigram": Unigram(vocab_size).fit(train_list), "kneser_ney": kneser_ney}
    for name, model in models.items():
        nats = model.cross_entropy(ids_list)
        scored[name].update(loss=nats, perplexity=math.exp(min(nats, 700)))
    return scored


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


def load_vocab(path: Path, level: str) -> Vocabulary:
    return WordVocab.load(path) if level == "word" else CharVocab.load(path)


@dataclass
class LoadedLM:
    """A trained language model with its vocabulary and configuration."""

    model: CharLM
    vocab: Vocabulary
    config: dict
    data: LMData = field(default_factory=LMData)


class LMSpec(TaskSpec):
    """``rnnkit train lm``: next-token prediction (characters or words) with truncated BPTT."""

    name = "lm"
    help = "language model over characters or words"
    description = (
        "Train a character-level (default) or word-level (--tokenizer word) language model "
        "(RNN, LSTM or GRU) on a text."
    )
    sections = {"data": LMData, "model": LMConfig}
    train_defaults = {
        "time_budget": 600.0,
        "eval_every": 500,
        "schedule": "cosine",
        "warmup_steps": 100,
    }
    unit = "nats/token"

    def check(self, config) -> None:
        config["model"].resolved(config["data"].tokenizer == "word")  # tie/sparse vs. embedding
        super().check(config)

    def build(self, config, run: Path, resume: bool) -> Built:
        data = config["data"]
        # a run's vocabulary is frozen
        vocab = load_vocab(run / VOCAB, data.tokenizer) if resume else None
        parts = read_parts(data)
        task = LanguageModelTask.from_parts(
            parts, config["model"], data, config["train"].seed, vocab
        )
        model, vocab = task.model, task.vocab
        params = sum(p.numel() for p in model.parameters())
        unknown = ""
        if vocab.level == "word":
            share = float((task.batches.ids == UNK_ID).float().mean())
            unknown = f" ({share:.1%} of the training tokens are <unk>)"
        return Built(
            task,
            model,
            f"{params:,} parameters, vocabulary {len(vocab):,}{unknown}, "
            f"{len(task.batches.ids):,} training tokens, {task.steps_per_epoch} steps per epoch",
            save=lambda out: vocab.save(out / VOCAB),
        )

    def is_dataset(self, value: str) -> bool:
        from rnnkit.data import registry

        return registry.is_registered(value) or value in CORPORA

    def load(self, run) -> LoadedLM:
        config = load_run(run, self.name)
        sections = self.from_stored(config, str(Path(run) / "config.json"))
        data = sections["data"]
        vocab = load_vocab(Path(run) / VOCAB, data.tokenizer)
        size = stored_size(run, config, "vocab_size", len(vocab))
        if size != len(vocab):
            unit = "tokens" if vocab.level == "word" else "characters"
            raise InputError(
                f"{Path(run) / VOCAB}: has {len(vocab)} {unit}, but the model was trained "
                f"with {size} (config.json 'sizes.vocab_size'); the file is damaged"
            )
        model = CharLM(sections["model"].resolved(vocab.level == "word"), len(vocab))
        load_best_weights(run, model)
        model.eval()
        return LoadedLM(model, vocab, config, data)

    def score(self, run: Path, data: str | None = None) -> Scored:
        """Score the test part (or the validation part of a text without one, or ``data``) and,
        beside it, the unigram and Kneser-Ney baselines fitted on the run's training part, on the
        same tokens. The run's own files are checked against their stored sha256 first; with
        ``data``, a missing or changed training file only leaves the baselines out (the result's
        ``baselines_skipped`` says why)."""
        loaded = self.load(run)
        vocab, stored = loaded.vocab, loaded.data
        parts, skipped = None, None
        if data:
            text, source = read_text(data), str(data)
            try:  # the baselines are fitted on the run's own training part
                check_sources(run, loaded.config, hint="; restore it to score the baselines too")
                parts = read_parts(stored)
            except InputError as error:
                skipped = str(error)
                logger.warning("rnnkit: the n-gram baselines are left out: %s", skipped)
        else:
            check_sources(run, loaded.config)
            parts = read_parts(stored)
            scored = "test" if "test" in parts else "valid"
            text, source = parts[scored], part_name(stored, scored)
        ids = vocab.encode(text, what=source)
        if len(ids) < 2:
            raise InputError(f"{source}: needs at least 2 tokens to score")
        metrics = bits(stream_loss(loaded.model, ids), vocab.level)
        count = "tokens" if vocab.level == "word" else "characters"
        result: dict = {"data": source, count: len(ids) - 1, **metrics}
        if vocab.level == "word":
            result["unknown_rate"] = float((ids == UNK_ID).float().mean())
        if parts is not None:
            train = vocab.encode(parts["train"], what=part_name(stored, "train"))
            result["baselines"] = baselines(len(vocab), train, ids, stored.ngram_order)
        else:
            result["baselines_skipped"] = skipped
        if not data:
            valid = metrics
            if scored != "valid":
                valid_ids = vocab.encode(parts["valid"], what=part_name(stored, "valid"))
                valid = bits(stream_loss(loaded.model, valid_ids), vocab.level)
            result["valid"] = valid
        return Scored(result)


SPEC = LMSpec()
