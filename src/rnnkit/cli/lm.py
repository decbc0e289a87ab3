"""``rnnkit sample RUN``: generate text from a trained language-model run.

Training, loading and evaluation are the lm task's (:mod:`rnnkit.tasks.lm`).
"""

from __future__ import annotations

import argparse
import sys

from rnnkit.cli import add_engine_argument, add_threads, set_threads
from rnnkit.errors import InputError


def add_commands(commands) -> None:
    sample = commands.add_parser(
        "sample",
        help="generate text from a language-model run",
        description="Print --prime and the --length tokens the model continues it with: "
        "characters, or words for a run trained with --tokenizer word (prime words it does not "
        "know read as <unk>).",
    )
    sample.add_argument("run", help="a language-model run directory")
    sample.add_argument("--prime", default="\n", help="text to start from (default: a newline)")
    sample.add_argument(
        "--length",
        type=int,
        default=1000,
        help="tokens (characters or words) to generate (default: 1000)",
    )
    sample.add_argument(
        "--temperature",
        type=float,
        default=0.8,
        help="below 1 is more conservative, above 1 more random, 0 is greedy (default: 0.8)",
    )
    sample.add_argument(
        "--top-k", type=int, default=None, help="sample among the k likeliest (default: all)"
    )
    sample.add_argument(
        "--top-p",
        type=float,
        default=None,
        help="sample among the likeliest tokens covering probability p (default: 1, all)",
    )
    sample.add_argument(
        "--seed", type=int, default=None, help="repeatable sampling (default: a random seed)"
    )
    add_threads(sample)
    sample.add_argument(
        "--num-samples",
        type=int,
        default=1,
        help="independent samples generated as one batch; sample i is seeded --seed + i",
    )
    sample.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "bf16", "int8"),
        help="weights while sampling: fp32, bf16, or int8 (dynamic quantization)",
    )
    add_engine_argument(sample)
    sample.set_defaults(handler=sample_command)


def sample_command(args: argparse.Namespace) -> int:
    from rnnkit import api, sampling
    from rnnkit.tasks.lm import generate, generate_samples

    set_threads(args.threads)
    if args.length < 0:
        raise InputError(f"--length must be >= 0, got {args.length}")
    try:  # the options first: nothing is printed when one is wrong
        sampling.check_options(args.temperature, args.top_k, args.top_p)
    except ValueError as error:
        raise InputError(str(error)) from None
    if args.engine != "torch" and args.precision != "fp32":
        raise InputError(f"--precision {args.precision} needs --engine torch")
    task = api.task_of(args.run)
    if task != "lm":
        raise InputError(f"{args.run}: is a {task} run, not an lm run")
    loaded = api.load(args.run, args.engine)
    options = {
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "seed": args.seed,
        "precision": args.precision,
    }
    try:
        if args.num_samples == 1:  # streamed as it is drawn
            stream = generate(loaded.model, loaded.vocab, args.prime, args.length, **options)
            sys.stdout.write(args.prime)
            for piece in stream:
                sys.stdout.write(piece)
                sys.stdout.flush()
            sys.stdout.write("\n")
            return 0
        samples = generate_samples(
            loaded.model, loaded.vocab, args.prime, args.length, args.num_samples, **options
        )
    except ValueError as error:
        if isinstance(error, InputError):
            raise
        raise InputError(str(error)) from None
    for index, text in enumerate(samples):
        seed = "" if args.seed is None else f" (seed {args.seed + index})"
        sys.stdout.write(f"=== sample {index + 1}{seed} ===\n{args.prime}{text}\n")
    return 0
