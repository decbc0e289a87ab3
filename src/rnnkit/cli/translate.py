"""``rnnkit translate RUN SENTENCE``: translate with a trained translation run.

Training, loading and evaluation are the translate task's (:mod:`rnnkit.tasks.translate`).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys

from rnnkit.cli import add_threads, set_threads
from rnnkit.errors import InputError


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
    command.add_argument(
        "--tune-length-penalty",
        metavar="ALPHAS",
        help="instead of translating: beam-decode the run's validation pairs with each "
        "comma-separated alpha (e.g. 0,0.5,1,1.5,2), print their sacreBLEU and keep the best "
        "in RUN/config.json, with --beam's beam if given (table: RUN/length_penalty.json)",
    )
    add_threads(command)
    command.set_defaults(handler=translate_command)


def parse_alphas(text: str) -> list[float]:
    """``"0,0.5,1"`` -> ``[0.0, 0.5, 1.0]``; anything else is an InputError."""
    alphas = []
    for part in text.split(","):
        try:
            alpha = float(part)
        except ValueError:
            alpha = math.nan
        if not math.isfinite(alpha) or alpha < 0:
            raise InputError(
                f"--tune-length-penalty: {part.strip()!r} is not a number >= 0 "
                "(expected comma-separated alphas, e.g. 0,0.5,1,1.5,2)"
            )
        alphas.append(alpha)
    return alphas


def tune_command(args: argparse.Namespace) -> int:
    from rnnkit.tasks.translate import SPEC

    if args.text is not None or args.input is not None:
        raise InputError("--tune-length-penalty decodes the run's validation pairs: give no text")
    alphas = parse_alphas(args.tune_length_penalty)
    result = SPEC.tune(args.run, alphas, args.beam)
    sys.stdout.write(
        f"length penalty on {result['data']} ({result['sentences']} sentences, beam "
        f"{result['beam']}):\n"
    )
    for row in result["results"]:
        chosen = "  <- kept" if row["length_penalty"] == result["best"] else ""
        sys.stdout.write(
            f"  alpha {row['length_penalty']:g}: BLEU {row['bleu']:.2f}, "
            f"{row['words_per_reference_word']:.3f} words per reference word{chosen}\n"
        )
    sys.stdout.flush()
    return 0


def _read_sentences(args: argparse.Namespace) -> list[str]:
    from rnnkit.data.pairs import read_lines, split_lines
    from rnnkit.data.text import normalise_newlines

    if args.text is not None and args.input is not None:
        raise InputError("give the sentence as an argument or --input FILE, not both")
    if args.text is not None:
        return split_lines(args.text, "the sentence argument")
    if args.input not in (None, "-"):
        return read_lines(args.input)
    if sys.stdin is None or sys.stdin.isatty():
        raise InputError("nothing to translate: give a sentence, --input FILE, or pipe lines in")
    text = sys.stdin.read().removeprefix("\ufeff")
    return split_lines(normalise_newlines(text), "standard input")


def translate_command(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from rnnkit import config as options
    from rnnkit import sampling
    from rnnkit.plots import plot_attention
    from rnnkit.tasks.translate import SPEC, DecodeConfig

    set_threads(args.threads)
    if args.tune_length_penalty is not None:
        return tune_command(args)
    if args.show_attention:
        from rnnkit.io import check_writable

        check_writable(args.show_attention, "--show-attention")
    loaded = SPEC.load(args.run)
    translator, decode = loaded.translator, loaded.decode
    sampled = args.temperature > 0 or args.top_k is not None or args.top_p is not None
    for name in ("beam", "length_penalty", "max_length_ratio", "max_length_offset"):
        if getattr(args, name) is not None:
            setattr(decode, name, getattr(args, name))
    if sampled and args.beam is None:
        decode.beam = 1  # sampling draws one translation: no beam
    decode = options.build(DecodeConfig, asdict(decode))  # the bounds of each option
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
        logging.getLogger(__name__).info("rnnkit: attention map written to %s", path)
    return 0
