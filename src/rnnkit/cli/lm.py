"""``rnnkit train lm``, ``rnnkit sample`` and ``rnnkit evaluate`` for language-model runs."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from rnnkit.cli import common, options
from rnnkit.errors import InputError
from rnnkit.models.lm import LMConfig
from rnnkit.tasks.lm import LMData
from rnnkit.training.trainer import TrainConfig

TASK = "lm"
DEFAULT_TRAIN = {"time_budget": 600.0, "eval_every": 500, "schedule": "cosine", "warmup_steps": 100}


def add_train_parser(tasks) -> None:
    parser = tasks.add_parser(
        TASK,
        help="character-level language model",
        description="Train a character-level language model (RNN, LSTM or GRU) on a text.",
    )
    parser.add_argument("--config", help="a TOML file with any of these options; flags override it")
    parser.add_argument(
        "--out", required=False, help="the run directory to create (default runs/lm)"
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    options.add_dataclass_options(parser, LMData, title="data")
    options.add_dataclass_options(parser, LMConfig, skip=("vocab_size",), title="model")
    options.add_dataclass_options(parser, TrainConfig, title="training")
    parser.set_defaults(handler=train, parser=parser, **DEFAULT_TRAIN)


def add_commands(commands) -> None:
    sample = commands.add_parser("sample", help="generate text from a language-model run")
    sample.add_argument("run", help="a language-model run directory")
    sample.add_argument("--prime", default="\n", help="text to start from (default: a newline)")
    sample.add_argument("--length", type=int, default=1000, help="characters to generate")
    sample.add_argument(
        "--temperature",
        type=float,
        default=0.8,
        help="below 1 is more conservative, above 1 more random, 0 is greedy",
    )
    sample.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest")
    sample.add_argument(
        "--top-p",
        type=float,
        default=None,
        help="sample among the likeliest characters covering probability p",
    )
    sample.add_argument("--seed", type=int, default=None, help="repeatable sampling")
    sample.set_defaults(handler=sample_command)


def train(args: argparse.Namespace) -> int:
    from rnnkit.tasks.lm import LanguageModelTask
    from rnnkit.training.run import create_run, load_run

    out = Path(args.out or "runs/lm")
    train_config = options.build(TrainConfig, args)
    train_config.check()
    if args.resume:
        stored = load_run(out, TASK)
        data = LMData(**stored["data"])
        model_config = {k: v for k, v in stored["model"].items() if k != "vocab_size"}
    else:
        data = options.build(LMData, args)
        model_config = asdict(options.build(LMConfig, args, vocab_size=1))
        model_config.pop("vocab_size")
        LMConfig(vocab_size=1, **model_config).check()
        data.check()
    text = _read_corpus(data.data)
    task = LanguageModelTask.from_text(text, model_config, data, seed=train_config.seed)
    if not args.resume:
        create_run(
            out,
            {
                "task": TASK,
                "data": asdict(data),
                "model": task.model.config_dict(),
                "train": asdict(train_config),
            },
        )
        task.vocab.save(out / "vocab.json")
    params = sum(p.numel() for p in task.model.parameters())
    print(
        f"rnnkit: {TASK} run {out}: {params:,} parameters, vocabulary {len(task.vocab)}, "
        f"{task.steps_per_epoch} steps per epoch",
        file=sys.stderr,
    )
    return common.fit(task, train_config, out, args.resume, "nats/char")


def _read_corpus(data: str) -> str:
    from rnnkit.data.text import read_text
    from rnnkit.tasks.lm import resolve_text

    return read_text(resolve_text(data))


def load(run: str | Path):
    """(model, vocab, config) of a language-model run, with its best weights."""
    from rnnkit.data.text import CharVocab
    from rnnkit.models.lm import CharLM
    from rnnkit.training.run import load_best_weights, load_run

    config = load_run(run, TASK)
    vocab = CharVocab.load(Path(run) / "vocab.json")
    model = CharLM(LMConfig(**config["model"]))
    load_best_weights(run, model)
    model.eval()
    return model, vocab, config


def sample_command(args: argparse.Namespace) -> int:
    from rnnkit.tasks.lm import generate

    model, vocab, _ = load(args.run)
    if args.length < 0:
        raise InputError(f"--length must be >= 0, got {args.length}")
    try:
        stream = generate(
            model,
            vocab,
            args.prime,
            args.length,
            args.temperature,
            args.top_k,
            args.top_p,
            args.seed,
        )
        sys.stdout.write(args.prime)
        for char in stream:
            sys.stdout.write(char)
            sys.stdout.flush()
    except ValueError as error:
        if isinstance(error, InputError):
            raise
        raise InputError(str(error)) from None
    sys.stdout.write("\n")
    return 0


def evaluate(args: argparse.Namespace, config: dict) -> int:
    from rnnkit.data.text import read_text, split_text
    from rnnkit.io import write_json
    from rnnkit.tasks.lm import bits, stream_loss

    model, vocab, config = load(args.run)
    if args.data:
        text, source = read_text(args.data), str(args.data)
    else:
        data = LMData(**config["data"])
        _, text = split_text(_read_corpus(data.data), data.valid_fraction)
        source = f"{data.data} (validation split, last {data.valid_fraction:.0%})"
    ids = vocab.encode(text, what=source)
    if len(ids) < 2:
        raise InputError(f"{source}: needs at least 2 characters to score")
    result = {"data": source, "characters": len(ids) - 1, **bits(stream_loss(model, ids))}
    write_json(Path(args.run) / "eval.json", result)
    print(json.dumps(result, indent=2))
    return 0
