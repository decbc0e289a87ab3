"""The translation task: parallel data, subword tokenizers, batches, loss, metrics and decoding.

What the trainer (:mod:`rnnkit.training.trainer`) needs is :class:`TranslationTask`; what the CLI
and the benchmark need to translate and score is :class:`Translator`, :func:`score_bleu` and
:func:`evaluate_translator`.

A target sequence is ``<s> y_1 .. y_n </s>``: the decoder reads ``<s> y_1 .. y_n`` and predicts
``y_1 .. y_n </s>``. A source sequence is ``x_1 .. x_m </s>``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.config import option, validate
from rnnkit.data.pairs import PairBatches, pad, read_pairs
from rnnkit.data.subword import SubwordTokenizer
from rnnkit.errors import InputError
from rnnkit.io import write_bytes, write_json
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig, beam_search, greedy
from rnnkit.tasks.spec import Built, Scored, TaskSpec
from rnnkit.tokens import BOS_ID, EOS_ID, PAD_ID
from rnnkit.training.run import check_sources, load_best_weights, load_run, stored_size

MULTI30K = "multi30k"
MULTI30K_LANGUAGES = ("de", "en")
MULTI30K_SPLITS = {"train": "train", "valid": "val", "test": "test_2016_flickr"}
SOURCE_TOKENIZER, TARGET_TOKENIZER = "source.tokenizer.json", "target.tokenizer.json"
# the validation table of ``rnnkit translate RUN --tune-length-penalty``
LENGTH_PENALTY = "length_penalty.json"
EVAL_BATCH = 128  # sentences per batch when scoring or decoding
SIDES = ("src", "tgt")


@dataclass
class TranslateData:
    """Where the pairs come from, how they are tokenized and batched; stored in config.json."""

    data: str = option(
        MULTI30K,
        "multi30k (registered; --src/--tgt de or en), or leave it and give your own files with "
        "--train-src --train-tgt --valid-src --valid-tgt",
    )
    src: str = option(
        "de", "source language (multi30k: de or en); with your own files, a label for them"
    )
    tgt: str = option(
        "en", "target language (multi30k: en or de); with your own files, a label for them"
    )
    train_src: str | None = option(
        None, "training source sentences, one per line (line-aligned with --train-tgt)", path=True
    )
    train_tgt: str | None = option(None, "training target sentences, one per line", path=True)
    valid_src: str | None = option(None, "validation source sentences, one per line", path=True)
    valid_tgt: str | None = option(None, "validation target sentences, one per line", path=True)
    test_src: str | None = option(
        None, "test source sentences for rnnkit evaluate (optional)", path=True
    )
    test_tgt: str | None = option(
        None, "test target sentences for rnnkit evaluate (optional)", path=True
    )
    src_vocab_size: int = option(
        8000, "source subword (BPE) vocabulary size, learned on the training split", min=64
    )
    tgt_vocab_size: int = option(
        8000, "target subword (BPE) vocabulary size, learned on the training split", min=64
    )
    batch_size: int = option(64, "sentence pairs per batch", min=1)
    max_length: int = option(
        100, "leave out training pairs with more subwords than this on either side", min=1
    )
    teacher_forcing: float = option(
        1.0,
        "probability of feeding the reference token (else the model's own prediction) at each "
        "decoder step in training",
        above=0,
    )
    label_smoothing: float = option(
        0.0, "label smoothing of the training cross-entropy (0 disables)", min=0, below=1
    )

    @property
    def uses_files(self) -> bool:
        return any(getattr(self, f"{split}_{side}") for split in MULTI30K_SPLITS for side in SIDES)

    def check(self) -> None:
        if self.uses_files:
            for split in ("train", "valid"):
                for side in SIDES:
                    if not getattr(self, f"{split}_{side}"):
                        raise InputError(
                            f"--{split}-{side} is missing: with your own files give --train-src, "
                            "--train-tgt, --valid-src and --valid-tgt (--test-src/--test-tgt "
                            "optional)"
                        )
            if bool(self.test_src) != bool(self.test_tgt):
                raise InputError("give both --test-src and --test-tgt, or neither")
        elif self.data != MULTI30K:
            from rnnkit.data.registry import did_you_mean

            raise InputError(
                f"--data {self.data!r}: unknown parallel dataset; expected {MULTI30K}, or your "
                "own line-aligned files with --train-src --train-tgt --valid-src --valid-tgt"
                + did_you_mean(self.data, [MULTI30K])
            )
        else:
            pair = f"{self.src}-{self.tgt}"
            if (
                self.src not in MULTI30K_LANGUAGES
                or self.tgt not in MULTI30K_LANGUAGES
                or self.src == self.tgt
            ):
                raise InputError(
                    f"unknown language pair {pair} for {MULTI30K}: expected de-en or en-de "
                    "(--src de --tgt en)"
                )
        if not 0.0 < self.teacher_forcing <= 1.0:
            raise InputError(f"--teacher-forcing must be in (0, 1], got {self.teacher_forcing}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise InputError(f"--label-smoothing must be in [0, 1), got {self.label_smoothing}")
        for name in ("batch_size", "max_length"):
            if getattr(self, name) <= 0:
                raise InputError(f"--{name.replace('_', '-')} must be positive")

    def files(self, split: str) -> tuple[Path, Path] | None:
        """(source file, target file) of ``split`` (train, valid or test), or None if absent."""
        if self.uses_files:
            source, target = getattr(self, f"{split}_src"), getattr(self, f"{split}_tgt")
            return (Path(source), Path(target)) if source and target else None
        from rnnkit.data.registry import locate

        name = MULTI30K_SPLITS[split]
        return locate(MULTI30K, f"{name}.{self.src}"), locate(MULTI30K, f"{name}.{self.tgt}")

    def describe(self, split: str) -> str:
        if self.uses_files:
            files = self.files(split)
            return "none" if files is None else f"{files[0]} -> {files[1]}"
        return f"{MULTI30K} {MULTI30K_SPLITS[split]} {self.src}->{self.tgt}"


@dataclass
class DecodeConfig:
    """How ``rnnkit translate`` and ``rnnkit evaluate`` decode; stored in config.json."""

    beam: int = option(5, "beam size for decoding; 1 is greedy", min=1)
    length_penalty: float = option(
        1.0, "beam search length normalisation alpha: scores / ((5 + len) / 6) ** alpha", min=0
    )
    max_length_ratio: float = option(
        1.5, "longest translation, in target subwords per source subword", min=0
    )
    max_length_offset: int = option(10, "plus this many subwords", min=0)


@dataclass
class Translation:
    """One translated sentence with what produced it."""

    text: str
    ids: list[int]
    score: float  # total log-probability of ``ids``
    attention: Tensor | None  # (len(ids), source length) or None
    source_tokens: list[str]
    target_tokens: list[str]


class Translator:
    """A model and its two tokenizers: sentences in, sentences out."""

    def __init__(self, model: Seq2Seq, source: SubwordTokenizer, target: SubwordTokenizer) -> None:
        self.model = model
        self.source = source
        self.target = target

    def encode_sources(self, sentences: Sequence[str]) -> list[list[int]]:
        return [ids + [EOS_ID] for ids in self.source.encode(sentences)]

    def encode_targets(self, sentences: Sequence[str]) -> list[list[int]]:
        return [[BOS_ID, *ids, EOS_ID] for ids in self.target.encode(sentences)]

    def translate(
        self,
        sentences: Sequence[str],
        beam: int = 1,
        length_penalty: float = 1.0,
        max_length_ratio: float = 1.5,
        max_length_offset: int = 10,
        temperature: float = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        batch_size: int = EVAL_BATCH,
    ) -> list[Translation]:
        """Translate ``sentences``; beam search when ``beam`` > 1, else greedy or sampled
        (``temperature`` > 0) decoding through the shared sampler."""
        if beam > 1 and (temperature > 0 or top_k is not None or top_p is not None):
            raise InputError(
                "--beam > 1 searches for the likeliest translation; sampling options "
                "(--temperature > 0, --top-k, --top-p) need --beam 1"
            )
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        sources = self.encode_sources(sentences)
        order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
        results: list[Translation | None] = [None] * len(sources)
        self.model.eval()
        for start in range(0, len(order), batch_size):
            members = order[start : start + batch_size]
            ids, lengths = pad([sources[i] for i in members], PAD_ID)
            if beam > 1:
                hypotheses = beam_search(
                    self.model,
                    ids,
                    lengths,
                    beam,
                    length_penalty,
                    max_length_ratio,
                    max_length_offset,
                )
            else:
                hypotheses = greedy(
                    self.model,
                    ids,
                    lengths,
                    max_length_ratio,
                    max_length_offset,
                    temperature,
                    top_k,
                    top_p,
                    generator,
                )
            for index, hypothesis in zip(members, hypotheses, strict=True):
                results[index] = Translation(
                    text=self.target.decode(hypothesis.ids),
                    ids=hypothesis.ids,
                    score=hypothesis.score,
                    attention=hypothesis.attention,
                    source_tokens=[self.source.id_to_token(i) for i in sources[index]],
                    target_tokens=[self.target.id_to_token(i) for i in hypothesis.ids],
                )
        return results

    @torch.no_grad()
    def loss(
        self, sources: Sequence[Sequence[int]], targets: Sequence[Sequence[int]]
    ) -> tuple[float, int]:
        """Teacher-forced cross-entropy: (total nats, target tokens) over id pairs."""
        was_training = self.model.training
        self.model.eval()
        order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
        total, count = 0.0, 0
        for start in range(0, len(order), EVAL_BATCH):
            members = order[start : start + EVAL_BATCH]
            source, source_lengths = pad([sources[i] for i in members], PAD_ID)
            target, _ = pad([targets[i] for i in members], PAD_ID)
            logits = self.model(source, source_lengths, target[:, :-1])  # (B, T, V)
            gold = target[:, 1:]
            total += float(
                F.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]).float(),
                    gold.reshape(-1),
                    ignore_index=PAD_ID,
                    reduction="sum",
                )
            )
            count += int((gold != PAD_ID).sum())
        self.model.train(was_training)
        return total, count


def loss_metrics(total: float, count: int) -> dict[str, float]:
    """Mean token cross-entropy (nats) and perplexity."""
    loss = total / max(count, 1)
    return {"loss": loss, "perplexity": math.exp(min(loss, 700.0))}


class TranslationTask:
    """Teacher-forced next-token prediction on parallel sentences, for the trainer."""

    def __init__(
        self,
        translator: Translator,
        train: tuple[list[list[int]], list[list[int]]],
        valid: tuple[list[list[int]], list[list[int]]],
        data: TranslateData,
        seed: int = 0,
    ) -> None:
        self.translator = translator
        self.model = translator.model
        self.data = data
        self.valid = valid
        self.batches = PairBatches(train[0], train[1], data.batch_size, PAD_ID, seed)
        self.steps_per_epoch = len(self.batches)
        self.left_out = 0  # training pairs longer than data.max_length

    @classmethod
    def build(
        cls,
        data: TranslateData,
        model_config: Seq2SeqConfig,
        seed: int = 0,
        tokenizers: tuple[SubwordTokenizer, SubwordTokenizer] | None = None,
    ) -> TranslationTask:
        """Read the data, learn the tokenizers from the training split (unless given), build the
        model."""
        train_sources, train_targets = read_pairs(*data.files("train"))
        valid_sources, valid_targets = read_pairs(*data.files("valid"))
        if tokenizers is None:
            tokenizers = (
                SubwordTokenizer.train(train_sources, data.src_vocab_size, "--src-vocab-size"),
                SubwordTokenizer.train(train_targets, data.tgt_vocab_size, "--tgt-vocab-size"),
            )
        source, target = tokenizers
        translator = Translator(Seq2Seq(model_config, len(source), len(target)), source, target)
        train_ids = (
            translator.encode_sources(train_sources),
            translator.encode_targets(train_targets),
        )
        kept = [
            i
            for i, (s, t) in enumerate(zip(*train_ids, strict=True))
            if len(s) <= data.max_length and len(t) <= data.max_length + 1
        ]
        train_ids = ([train_ids[0][i] for i in kept], [train_ids[1][i] for i in kept])
        valid_ids = (
            translator.encode_sources(valid_sources),
            translator.encode_targets(valid_targets),
        )
        task = cls(translator, train_ids, valid_ids, data, seed)
        task.left_out = len(train_sources) - len(kept)
        return task

    def batch(self, epoch: int, index: int):
        return self.batches(epoch, index)

    def training_loss(self, batch, carry):
        source, source_lengths, target, _ = batch  # (B, S), (B,), (B, T+1), (B,)
        logits = self.model(
            source, source_lengths, target[:, :-1], teacher_forcing=self.data.teacher_forcing
        )  # (B, T, V)
        gold = target[:, 1:]  # (B, T)
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(),
            gold.reshape(-1),
            ignore_index=PAD_ID,
            label_smoothing=self.data.label_smoothing,
        )
        return loss, None, int((gold != PAD_ID).sum())

    def evaluate(self) -> dict[str, float]:
        return loss_metrics(*self.translator.loss(*self.valid))


def score_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> dict:
    """Corpus BLEU with sacrebleu on detokenized text: its default 13a tokenizer, cased (the
    standard score), and lowercased (closest to the lowercased, tokenized protocol of older RNN
    papers). Each with its signature string."""
    from sacrebleu.metrics import BLEU

    cased, lowercased = BLEU(), BLEU(lowercase=True)
    return {
        "bleu": round(cased.corpus_score(list(hypotheses), [list(references)]).score, 2),
        "signature": str(cased.get_signature()),
        "bleu_lowercase": round(
            lowercased.corpus_score(list(hypotheses), [list(references)]).score, 2
        ),
        "signature_lowercase": str(lowercased.get_signature()),
    }


def evaluate_translator(
    translator: Translator,
    sources: Sequence[str],
    references: Sequence[str],
    decode: DecodeConfig,
    hypotheses: dict[str, list[str]] | None = None,
) -> dict:
    """Perplexity and BLEU of greedy and beam-search decoding (and their speed) on a test set.

    With ``hypotheses``, the translations of each search go there (``"greedy"``, ``"beam5"``).
    """
    validate(decode)
    total, count = translator.loss(
        translator.encode_sources(sources), translator.encode_targets(references)
    )
    result = {"sentences": len(sources), "target_tokens": count, **loss_metrics(total, count)}
    searches = {"greedy": 1} | ({f"beam{decode.beam}": decode.beam} if decode.beam > 1 else {})
    for name, beam in searches.items():
        started = time.perf_counter()
        translations = translator.translate(
            sources,
            beam,
            decode.length_penalty,
            decode.max_length_ratio,
            decode.max_length_offset,
        )
        seconds = time.perf_counter() - started
        texts = [t.text for t in translations]
        result[name] = {
            "beam": beam,
            "length_penalty": decode.length_penalty if beam > 1 else None,
            **score_bleu(texts, references),
            "seconds": round(seconds, 2),
            "sentences_per_s": round(len(sources) / seconds, 1),
        }
        if hypotheses is not None:
            hypotheses[name] = texts
    return result


def tune_length_penalty(
    translator: Translator,
    sources: Sequence[str],
    references: Sequence[str],
    decode: DecodeConfig,
    alphas: Sequence[float],
) -> dict:
    """Beam-search sacreBLEU on (validation) pairs for each length-normalisation alpha.

    The beam score of a hypothesis y is log p(y | x) / ((5 + |y|) / 6) ** alpha (Wu et al. 2016):
    alpha = 0 ranks by total log-probability, which favours short translations; larger alphas
    favour longer ones. ``best`` is the alpha with the highest BLEU (the smallest on a tie).
    """
    validate(decode)
    if decode.beam < 2:
        raise InputError("the length penalty only changes beam search: the beam must be >= 2")
    rows = []
    for alpha in alphas:
        started = time.perf_counter()
        translations = translator.translate(
            sources, decode.beam, alpha, decode.max_length_ratio, decode.max_length_offset
        )
        texts = [t.text for t in translations]
        bleu = score_bleu(texts, references)
        rows.append(
            {
                "length_penalty": alpha,
                "bleu": bleu["bleu"],
                "bleu_lowercase": bleu["bleu_lowercase"],
                "words_per_reference_word": round(
                    sum(len(t.split()) for t in texts)
                    / max(1, sum(len(r.split()) for r in references)),
                    4,
                ),
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
    best = max(rows, key=lambda row: (row["bleu"], -row["length_penalty"]))
    return {
        "beam": decode.beam,
        "sentences": len(sources),
        "results": rows,
        "best": best["length_penalty"],
        "signature": bleu["signature"],
    }


def describe_model(model: Seq2Seq) -> dict:
    """Parameter count and shape, for logs and benchmark tables."""
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        **model.sizes,
        **asdict(model.config),
    }


@dataclass
class LoadedTranslator:
    """A trained translation model with its tokenizers (``translator``) and configuration."""

    translator: Translator
    config: dict

    @property
    def model(self) -> Seq2Seq:
        return self.translator.model

    @property
    def decode(self) -> DecodeConfig:
        return DecodeConfig(**self.config["decode"])


class TranslateSpec(TaskSpec):
    """``rnnkit train translate``: an RNN encoder-decoder with attention on parallel sentences."""

    name = "translate"
    help = "sequence-to-sequence translation with attention"
    description = (
        "Train an RNN encoder-decoder with attention on parallel sentences (Multi30k, or any "
        "line-aligned files)."
    )
    sections = {"data": TranslateData, "model": Seq2SeqConfig, "decode": DecodeConfig}
    train_defaults = {
        "time_budget": 3600.0,
        "eval_every": 500,
        "lr": 1e-3,
        "schedule": "cosine",
        "warmup_steps": 200,
    }
    unit = "nats/token"

    def resolve(self, values, where: str = ""):
        config = super().resolve(values, where)
        if config["data"].uses_files:  # record where the pairs really come from
            config["data"].data = "files"
        return config

    def build(self, config, run: Path, resume: bool) -> Built:
        data = config["data"]
        tokenizers = None
        if resume:
            tokenizers = (
                SubwordTokenizer.load(run / SOURCE_TOKENIZER),
                SubwordTokenizer.load(run / TARGET_TOKENIZER),
            )
        task = TranslationTask.build(data, config["model"], config["train"].seed, tokenizers)

        def save(out: Path) -> None:
            task.translator.source.save(out / SOURCE_TOKENIZER)
            task.translator.target.save(out / TARGET_TOKENIZER)

        model = describe_model(task.model)
        left_out = f", {task.left_out} long pairs left out" if task.left_out else ""
        return Built(
            task,
            task.model,
            f"{model['parameters']:,} parameters, vocabularies {model['src_vocab_size']} / "
            f"{model['tgt_vocab_size']}, {task.steps_per_epoch} steps per epoch{left_out}",
            save=save,
        )

    def load(self, run) -> LoadedTranslator:
        config = load_run(run, self.name)
        run = Path(run)
        source = SubwordTokenizer.load(run / SOURCE_TOKENIZER)
        target = SubwordTokenizer.load(run / TARGET_TOKENIZER)
        for tokenizer, file, key in (
            (source, SOURCE_TOKENIZER, "src_vocab_size"),
            (target, TARGET_TOKENIZER, "tgt_vocab_size"),
        ):
            size = stored_size(run, config, key, len(tokenizer))
            if size != len(tokenizer):
                raise InputError(
                    f"{run / file}: has {len(tokenizer)} subwords, but the model was trained "
                    f"with {size} (config.json 'sizes.{key}'); the file is damaged"
                )
        sections = self.from_stored(config, str(run / "config.json"))
        model = Seq2Seq(sections["model"], len(source), len(target))
        load_best_weights(run, model)
        model.eval()
        config = {**config, "decode": asdict(sections["decode"]), "data": asdict(sections["data"])}
        return LoadedTranslator(Translator(model, source, target), config)

    def tune(self, run: str | Path, alphas: Sequence[float], beam: int | None = None) -> dict:
        """Choose the beam search's length penalty on the run's validation pairs: decode them
        once per alpha, keep the best in RUN/config.json (``rnnkit evaluate`` and ``rnnkit
        translate`` then use it) and write the table to RUN/length_penalty.json."""
        loaded = self.load(run)
        run = Path(run)
        decode = loaded.decode
        if beam is not None:
            decode.beam = beam
        stored = TranslateData(**loaded.config["data"])
        names = ("valid-src", "valid-tgt")
        check_sources(run, loaded.config, names, "; the length penalty is tuned on them")
        sources, references = read_pairs(*stored.files("valid"))
        result = {
            "data": stored.describe("valid"),
            **tune_length_penalty(loaded.translator, sources, references, decode, alphas),
        }
        result["before"] = loaded.config["decode"]["length_penalty"]
        config = json.loads((run / "config.json").read_text(encoding="utf-8"))
        config["decode"] = {
            **config["decode"],
            "beam": decode.beam,
            "length_penalty": result["best"],
        }
        write_json(run / LENGTH_PENALTY, result)
        write_json(run / "config.json", config)
        return result

    def score(self, run: Path, data: str | None = None) -> Scored:
        """Test perplexity and sacreBLEU (greedy and beam), and the translations."""
        loaded = self.load(run)
        threads = loaded.config.get("train", {}).get("threads")
        if threads:  # score with the run's own thread budget
            torch.set_num_threads(threads)
        stored = TranslateData(**loaded.config["data"])
        if data:
            files = Path(f"{data}.{stored.src}"), Path(f"{data}.{stored.tgt}")
            described = f"{files[0]} -> {files[1]}"
        else:
            files = stored.files("test")
            if files is None:
                raise InputError(
                    f"{run}: the run has no test files; pass --data PREFIX to score "
                    f"PREFIX.{stored.src} against PREFIX.{stored.tgt}"
                )
            names = ("test-src", "test-tgt", "valid-src", "valid-tgt")
            check_sources(run, loaded.config, names, "; pass --data PREFIX to score other files")
            described = stored.describe("test")
        sources, references = read_pairs(*files)
        hypotheses: dict[str, list[str]] = {}
        result = {
            "data": described,
            **evaluate_translator(
                loaded.translator, sources, references, loaded.decode, hypotheses
            ),
        }
        if not data:
            valid = read_pairs(*stored.files("valid"))
            translator = loaded.translator
            result["valid"] = loss_metrics(
                *translator.loss(
                    translator.encode_sources(valid[0]), translator.encode_targets(valid[1])
                )
            )

        def writer(texts: list[str]):
            return lambda path: write_bytes(path, "".join(t + "\n" for t in texts).encode())

        # test.greedy.txt, test.beam5.txt (test-NAME.greedy.txt for --data NAME)
        return Scored(result, {f"test.{k}.txt": writer(v) for k, v in hypotheses.items()})


SPEC = TranslateSpec()
