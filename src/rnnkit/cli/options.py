"""Command-line options built from the configuration dataclasses, plus ``--config FILE.toml``.

Each dataclass field becomes one option whose help comes from :data:`HELP`. A TOML file given with
``--config`` sets the same options by their flag names (``hidden = 512`` or ``clip-norm = 1.0``);
flags given on the command line override it.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any

from rnnkit.errors import InputError

HELP = {
    # training (rnnkit.training.trainer.TrainConfig)
    "optimizer": "sgd (with momentum), adam, adamw, rmsprop, or sparseadam (SparseAdam for a "
    "sparse embedding, Adam for the rest)",
    "lr": "base learning rate",
    "weight_decay": "L2 weight decay (decoupled for adamw)",
    "momentum": "momentum for sgd and rmsprop",
    "clip_norm": "clip the global gradient norm to this value ('none' to disable)",
    "clip_value": "clip each gradient element to [-v, v] instead of clipping the norm",
    "schedule": "learning-rate schedule: constant, step, cosine (with warm-up), plateau",
    "warmup_steps": "linear warm-up steps before the schedule",
    "step_size": "steps between decays of the step schedule",
    "gamma": "decay factor of the step and plateau schedules",
    "plateau_patience": "evaluations without improvement before the plateau schedule decays",
    "min_lr_factor": "final learning rate of the cosine schedule, as a fraction of --lr",
    "max_steps": "stop after this many optimizer steps",
    "epochs": "stop after this many passes over the training data (fractions allowed)",
    "time_budget": "stop after this much wall-clock time, e.g. 90s, 10m, 1h",
    "eval_every": "evaluate on the validation data and save checkpoints every N steps",
    "early_stopping": "stop after N evaluations without a better validation loss",
    "precision": "fp32, or bf16 (bfloat16 autocast on the CPU)",
    "seed": "random seed: the same seed and options repeat a run exactly",
    "threads": "torch CPU threads (default: torch's choice)",
    "progress": "show a progress bar",
    "tensorboard": "write TensorBoard logs to RUN/tb when the tensorboard extra is installed",
    # language model (rnnkit.models.lm.LMConfig, rnnkit.tasks.lm.LMData)
    "data": "a registered dataset name (tinyshakespeare) or a path to a UTF-8 text file",
    "valid_fraction": "the last fraction of the text held out for validation",
    "batch_size": "sequences per batch",
    "seq_len": "characters per chunk of truncated BPTT",
    "batching": "stream: B contiguous streams with the state carried between chunks; "
    "window: shuffled random windows, each from a fresh state (the seed's way)",
    "cell": "recurrent cell: rnn, lstm or gru",
    "hidden_size": "hidden units per layer",
    "num_layers": "stacked recurrent layers",
    "dropout": "dropout between layers and before the output layer",
    "embedding_dim": "embedding size; 0 feeds one-hot characters (as the seed does)",
    "sparse_embedding": "sparse embedding gradients (use with --optimizer sparseadam)",
    "attention": "causal attention over the layer's own past states: none, dot, general, "
    "additive, scaled-dot",
    "attention_window": "how many past states (including the current one) attention sees",
    "tie_weights": "share the embedding and output weights (needs --embedding-dim = --hidden)",
    "bidirectional": "bidirectional layers (refused for language models, which must not see "
    "the future)",
    "nonlinearity": "tanh or relu, for --cell rnn",
    "backend": "auto (fused PyTorch kernels when they compute the same thing), reference "
    "(rnnkit's cells in a Python loop) or fused",
    # translation (rnnkit.tasks.translate.TranslateData, DecodeConfig; rnnkit.models.seq2seq)
    "src": "source language (multi30k: de or en); with your own files, a label for them",
    "tgt": "target language (multi30k: en or de); with your own files, a label for them",
    "train_src": "training source sentences, one per line (line-aligned with --train-tgt)",
    "train_tgt": "training target sentences, one per line",
    "valid_src": "validation source sentences, one per line",
    "valid_tgt": "validation target sentences, one per line",
    "test_src": "test source sentences for rnnkit evaluate (optional)",
    "test_tgt": "test target sentences for rnnkit evaluate (optional)",
    "src_vocab_size": "source subword (BPE) vocabulary size, learned on the training split",
    "tgt_vocab_size": "target subword (BPE) vocabulary size, learned on the training split",
    "max_length": "leave out training pairs with more subwords than this on either side",
    "teacher_forcing": "probability of feeding the reference token (else the model's own "
    "prediction) at each decoder step in training",
    "label_smoothing": "label smoothing of the training cross-entropy (0 disables)",
    "beam": "beam size for decoding; 1 is greedy",
    "length_penalty": "beam search length normalisation alpha: scores / ((5 + len) / 6) ** alpha",
    "max_length_ratio": "longest translation, in target subwords per source subword",
    "max_length_offset": "plus this many subwords",
    # forecasting (rnnkit.tasks.forecast.ForecastData, rnnkit.models.forecaster.ForecasterConfig)
    "time_column": "the timestamp column: a name, auto (the first column when it is called "
    "date, time, month, ...) or none",
    "target": "the column to forecast (empty: the last numeric column)",
    "features": "S: the target alone; M: all numeric columns in and out; MS: all columns in, "
    "the target out",
    "lookback": "past steps the model reads (L)",
    "horizon": "future steps it forecasts (H)",
    "split": "auto (Informer's borders for ETT, else 0.7,0.1,0.2), informer, or fractions "
    "train,validation,test in time order",
    "scaler": "standard, minmax or none; fitted on the training rows only",
    "fill": "missing values and timestamp gaps: none (an error), interpolate or ffill",
    "season": "seasonal period in steps for the seasonal-naive baseline (0: from the frequency, "
    "24 for hourly data)",
    "decoder": "direct (one linear map to all H steps) or autoregressive (a recurrent decoder fed "
    "its own predictions)",
    "window_norm": "last: forecast the change from each window's last value; mean: from its "
    "mean; none: the raw window",
    # classification (rnnkit.tasks.classify.ClassifyData, rnnkit.models.classifier)
    "valid": "validation file (same format as --data); none: a stratified share of --data",
    "test": "test file for rnnkit evaluate; none: a stratified share of --data",
    "text_column": "the text column: 0-based index or header name; guessed when not given",
    "label_column": "the label column: 0-based index or header name; guessed when not given",
    "header": "whether the first row is a header: auto, yes or no",
    "delimiter": "field separator: auto (by extension), tab, comma, semicolon, pipe or a character",
    "tokenizer": "word (lowercased words and punctuation; SST's -lrb-/-rrb- undone) or char",
    "lowercase": "lowercase the text before tokenizing",
    "min_freq": "words seen fewer times in training become <unk>",
    "max_vocab": "keep at most this many of the most frequent words",
    "test_fraction": "share of each class held out for testing when --test is not given",
    "split_seed": "seed of the stratified split (kept fixed across training seeds)",
    "embeddings": "a GloVe-format text file of word vectors to start the embedding from",
    "pooling": "how the states become one vector: last (h_n of each direction), mean, max, "
    "or attention (a learned query attends over the states)",
    "embedding_dropout": "dropout on the word embeddings",
    "word_dropout": "probability of replacing a word by <unk> while training",
    "freeze_embeddings": "keep the embedding fixed (with --embeddings)",
}

FLAGS = {"hidden_size": "hidden", "num_layers": "layers"}


def parse_duration(text: str) -> float:
    """'90', '90s', '10m', '1.5h' -> seconds."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", str(text))
    if not match:
        raise argparse.ArgumentTypeError(f"expected a duration like 90s, 10m or 1h, got {text!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def _optional(kind):
    def parse(text: str):
        if str(text).lower() in ("none", "off", ""):
            return None
        return kind(text)

    parse.__name__ = kind.__name__
    return parse


def add_dataclass_options(
    parser: argparse.ArgumentParser, cls, skip: tuple[str, ...] = (), title: str | None = None
) -> None:
    """Add one ``--flag`` per field of dataclass ``cls`` (dest = the field's name)."""
    group = parser.add_argument_group(title or cls.__name__)
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        flag = "--" + FLAGS.get(field.name, field.name).replace("_", "-")
        hint = hints[field.name]
        optional = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
        base = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
        default = field.default
        help_text = HELP.get(field.name, "") + f" (default: {default})"
        if base is bool:
            group.add_argument(
                flag,
                dest=field.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
            continue
        kind = parse_duration if field.name == "time_budget" else base
        group.add_argument(
            flag,
            dest=field.name,
            type=_optional(kind) if optional else kind,
            default=None,
            metavar=base.__name__.upper(),
            help=help_text,
        )


def build(cls, args: argparse.Namespace, **fixed: Any):
    """An instance of dataclass ``cls`` from parsed options (unset ones keep their defaults)."""
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(cls)
        if getattr(args, f.name, None) is not None
    }
    values.update(fixed)
    return cls(**values)


def apply_config_file(parser: argparse.ArgumentParser, path: str | None) -> None:
    """Use a TOML file's keys as the parser's defaults, so explicit flags still win."""
    if not path:
        return
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    file = Path(path)
    try:
        table = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{file}: config file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{file}: not valid TOML ({error})") from None
    known = {}
    for action in parser._actions:
        for option in action.option_strings:
            known[option.lstrip("-").replace("-", "_")] = action
    defaults = {}
    for key, value in table.items():
        action = known.get(key.replace("-", "_")) or known.get(FLAGS.get(key.replace("-", "_"), ""))
        if action is None or action.dest in ("help", "config"):
            raise InputError(f"{file}: unknown option {key!r}")
        if action.type is not None and isinstance(value, str):
            try:
                value = action.type(value)
            except (ValueError, argparse.ArgumentTypeError) as error:
                raise InputError(f"{file}: option {key!r}: {error}") from None
        defaults[action.dest] = value
    parser.set_defaults(**defaults)
