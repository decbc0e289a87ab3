"""``rnnkit train translate``, ``rnnkit translate`` and ``rnnkit evaluate`` for translation runs.

A run holds ``config.json`` (sections data, model, decode, train), the two subword tokenizers
(``source.tokenizer.json``, ``target.tokenizer.json``) and the weights (``model.safetensors``).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from rnnkit.cli import common, options
from rnnkit.errors import InputError
from rnnkit.models.seq2seq import Seq2SeqConfig
from rnnkit.tasks.translate import DecodeConfig, TranslateData
from rnnkit.training.trainer import TrainConfig

TASK = "translate"
VOCAB_FIELDS = ("src_vocab_size", "tgt_vocab_size")
DEFAULT_TRAIN = {
    "time_budget": 3600.0,
    "eval_every": 500,
    "lr": 1e-3,
    "schedule": "cosine",
    "warmup_steps": 200,
}
# fields whose shared help text (written for the language model) reads differently here
TRANSLATE_HELP = {
    "data": "multi30k (registered; --src/--tgt de or en), or leave it and give your own files "
    "with --train-src --train-tgt --valid-src --valid-tgt",
    "batch_size": "sentence pairs per batch",
    "attention": "decoder attention over the encoder states: none (final encoder state only, a "
    "baseline), dot, general, additive (Bahdanau), scaled-dot",
    "hidden_size": "decoder units; each direction of the bidirectional encoder has half",
    "num_layers": "stacked encoder layers (the decoder has one)",
    "dropout": "dropout on embeddings, encoder states and before the output layer",
    "embedding_dim": "source and target embedding size",
}


def add_train_parser(tasks) -> None:
    parser = tasks.add_parser(
        TASK,
        help="sequence-to-sequence translation with attention",
        description="Train an RNN encoder-decoder with attention on parallel sentences "
        "(Multi30k, or any line-aligned files).",
    )
    common.add_run_arguments(parser, TASK)
    options.add_dataclass_options(parser, TranslateData, title="data")
    options.add_dataclass_options(parser, Seq2SeqConfig, skip=VOCAB_FIELDS, title="model")
    options.add_dataclass_options(
        parser, DecodeConfig, title="decoding (defaults for rnnkit translate and evaluate)"
    )
    options.add_dataclass_options(parser, TrainConfig, title="training")
    for action in parser._actions:
        if action.dest in TRANSLATE_HELP:
            default = action.help.rsplit(" (default:", 1)[-1]
            action.help = f"{TRANSLATE_HELP[action.dest]} (default:{default}"
    parser.set_defaults(handler=train, parser=parser, **DEFAULT_TRAIN)


def add_commands(commands) -> None:
    command = commands.add_parser(
        "translate",
        help="translate sentences with a translation run",
        description="Translate one sentence, or many (one per line) from a file or standard "
        "input; prints one translation per line.",
    )
    command.add_argument("run", help="a translation run directory")
    command.add_argument(
        "text", nargs="?", help="the sentence to translate (several: one per line)"
    )
    command.add_argument(
        "--input", help="a file with one sentence per line ('-': standard input, the default)"
    )
    command.add_argument("--beam", type=int, help="beam size; 1 is greedy (default: the run's)")
    command.add_argument(
        "--length-penalty", type=float, help="beam search length normalisation alpha"
    )
    command.add_argument("--max-length-ratio", type=float, help="max output tokens per source")
    command.add_argument("--max-length-offset", type=int, help="plus this many tokens")
    command.add_argument(
        "--temperature",
        type=float,
        default=0.0,
        help="sample each token (needs --beam 1): 0 is greedy, 1 the model's distribution",
    )
    command.add_argument("--top-k", type=int, help="sample among the k likeliest tokens")
    command.add_argument("--top-p", type=float, help="sample among tokens covering probability p")
    command.add_argument("--seed", type=int, help="repeatable sampling")
    command.add_argument(
        "--show-attention", metavar="PNG", help="draw the attention map of the sentence here"
    )
    command.add_argument("--threads", type=int, help="torch CPU threads")
    command.set_defaults(handler=translate_command)


def train(args: argparse.Namespace) -> int:
    from rnnkit.data.subword import SubwordTokenizer
    from rnnkit.tasks.translate import (
        SOURCE_TOKENIZER,
        TARGET_TOKENIZER,
        TranslationTask,
        describe_model,
    )
    from rnnkit.training.run import create_run, load_run

    out = Path(args.out or "runs/translate")
    train_config = options.build(TrainConfig, args)
    train_config.check()
    tokenizers = None
    if args.resume:
        stored = load_run(out, TASK)
        data = TranslateData(**stored["data"])
        model_config = {k: v for k, v in stored["model"].items() if k not in VOCAB_FIELDS}
        decode = DecodeConfig(**stored["decode"])
        tokenizers = (
            SubwordTokenizer.load(out / SOURCE_TOKENIZER),
            SubwordTokenizer.load(out / TARGET_TOKENIZER),
        )
    else:
        if (out / "config.json").exists():
            raise InputError(
                f"{out} already holds a run; pass --resume to continue it or choose another --out"
            )
        data = options.build(TranslateData, args)
        data.check()
        if data.uses_files:  # record where the pairs really come from
            data.data = "files"
        fixed = dict.fromkeys(VOCAB_FIELDS, 1)
        model_config = asdict(options.build(Seq2SeqConfig, args, **fixed))
        Seq2SeqConfig(**model_config).check()
        for name in VOCAB_FIELDS:
            model_config.pop(name)
        decode = options.build(DecodeConfig, args)
        decode.check()
    if train_config.threads:
        import torch

        torch.set_num_threads(train_config.threads)
    task = TranslationTask.build(data, model_config, train_config.seed, tokenizers)
    if not args.resume:
        create_run(
            out,
            {
                "task": TASK,
                "data": asdict(data),
                "model": task.model.config_dict(),
                "decode": asdict(decode),
                "train": asdict(train_config),
            },
        )
        task.translator.source.save(out / SOURCE_TOKENIZER)
        task.translator.target.save(out / TARGET_TOKENIZER)
    model = describe_model(task.model)
    left_out = f", {task.left_out} long pairs left out" if task.left_out else ""
    print(
        f"rnnkit: {TASK} run {out}: {model['parameters']:,} parameters, vocabularies "
        f"{model['src_vocab_size']} / {model['tgt_vocab_size']}, "
        f"{task.steps_per_epoch} steps per epoch{left_out}",
        file=sys.stderr,
    )
    return common.fit(task, train_config, out, args.resume, "nats/token")


def load(run: str | Path):
    """(translator, config) of a translation run, with its best weights."""
    from rnnkit.data.subword import SubwordTokenizer
    from rnnkit.models.seq2seq import Seq2Seq
    from rnnkit.tasks.translate import SOURCE_TOKENIZER, TARGET_TOKENIZER, Translator
    from rnnkit.training.run import load_best_weights, load_run

    config = load_run(run, TASK)
    run = Path(run)
    model = Seq2Seq(Seq2SeqConfig(**config["model"]))
    load_best_weights(run, model)
    model.eval()
    translator = Translator(
        model,
        SubwordTokenizer.load(run / SOURCE_TOKENIZER),
        SubwordTokenizer.load(run / TARGET_TOKENIZER),
    )
    return translator, config


def _read_sentences(args: argparse.Namespace) -> list[str]:
    from rnnkit.data.pairs import read_lines, split_lines

    if args.text is not None and args.input is not None:
        raise InputError("give the sentence as an argument or --input FILE, not both")
    if args.text is not None:
        return split_lines(args.text, "the sentence argument")
    if args.input not in (None, "-"):
        return read_lines(args.input)
    if sys.stdin is None or sys.stdin.isatty():
        raise InputError("nothing to translate: give a sentence, --input FILE, or pipe lines in")
    return split_lines(sys.stdin.read().replace("\r\n", "\n"), "standard input")


def translate_command(args: argparse.Namespace) -> int:
    from rnnkit import sampling
    from rnnkit.plots import plot_attention

    translator, config = load(args.run)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    decode = DecodeConfig(**config["decode"])
    sampled = args.temperature > 0 or args.top_k is not None or args.top_p is not None
    for name in ("beam", "length_penalty", "max_length_ratio", "max_length_offset"):
        if getattr(args, name) is not None:
            setattr(decode, name, getattr(args, name))
    if sampled and args.beam is None:
        decode.beam = 1  # sampling draws one translation: no beam
    decode.check()
    try:
        sampling.check_options(args.temperature, args.top_k, args.top_p)
    except ValueError as error:
        raise InputError(str(error)) from None
    sentences = _read_sentences(args)
    if args.show_attention and len(sentences) != 1:
        raise InputError(
            f"--show-attention draws the map of one sentence; got {len(sentences)} sentences"
        )
    translations = translator.translate(
        sentences,
        decode.beam,
        decode.length_penalty,
        decode.max_length_ratio,
        decode.max_length_offset,
        args.temperature,
        args.top_k,
        args.top_p,
        args.seed,
    )
    for translation in translations:
        sys.stdout.write(translation.text + "\n")
    sys.stdout.flush()
    if args.show_attention:
        path = plot_attention(translations[0], args.show_attention)
        print(f"rnnkit: attention map written to {path}", file=sys.stderr)
    return 0


def evaluate(args: argparse.Namespace, config: dict) -> int:
    """Test perplexity and sacreBLEU (greedy and beam) into RUN/eval.json."""
    from rnnkit.data.pairs import read_pairs
    from rnnkit.io import write_json
    from rnnkit.tasks.translate import evaluate_translator

    translator, config = load(args.run)
    threads = config.get("train", {}).get("threads")
    if threads:  # score with the run's own thread budget
        import torch

        torch.set_num_threads(threads)
    data = TranslateData(**config["data"])
    if args.data:
        files = Path(f"{args.data}.{data.src}"), Path(f"{args.data}.{data.tgt}")
        described = f"{files[0]} -> {files[1]}"
    else:
        files = data.files("test")
        if files is None:
            raise InputError(
                f"{args.run}: the run has no test files; pass --data PREFIX to score "
                f"PREFIX.{data.src} against PREFIX.{data.tgt}"
            )
        described = data.describe("test")
    sources, references = read_pairs(*files)
    decode = DecodeConfig(**config["decode"])
    result = {
        "data": described,
        **evaluate_translator(translator, sources, references, decode, Path(args.run) / "test"),
    }
    write_json(Path(args.run) / "eval.json", result)
    print(json.dumps(result, indent=2))
    return 0
