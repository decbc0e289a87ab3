"""``rnnkit classify RUN TEXT...`` (or ``RUN FILE.wav...`` for an audio run): label texts or clips
with a trained classification run.

Training, loading and evaluation are the classify task's (:mod:`rnnkit.tasks.classify`).
"""

from __future__ import annotations

import argparse
import sys

from rnnkit.cli import add_threads, set_threads
from rnnkit.errors import InputError


def add_commands(commands) -> None:
    classify = commands.add_parser(
        "classify",
        help="label texts or audio files with a classification run",
        description="Print the predicted label and its probability for each text (or, for a run "
        "trained on audio, each audio file): those given as arguments, or one per line of --file "
        "or of stdin.",
    )
    classify.add_argument("run", help="a classification run directory")
    classify.add_argument(
        "texts", nargs="*", help="texts or audio files to classify (none, or '-': read stdin)"
    )
    classify.add_argument("--file", help="classify each line of this file (a text or a path)")
    classify.add_argument(
        "--explain",
        action="store_true",
        help="show each token with its attention weight (runs trained with --pooling attention)",
    )
    classify.add_argument(
        "--all", action="store_true", help="print every class's probability, not just the best"
    )
    add_threads(classify)
    classify.set_defaults(handler=classify_command)


# --- rnnkit classify ----------------------------------------------------------------------------
def _read_inputs(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """(texts, where each came from) from the arguments, --file or stdin."""
    if args.file and args.texts:
        raise InputError("give texts as arguments or --file, not both")
    from rnnkit.data.text import normalise_newlines, read_text

    if args.file:
        text = read_text(args.file)
        source = args.file
    elif not args.texts or args.texts == ["-"]:
        text = sys.stdin.read().removeprefix("\ufeff")
        source = "<stdin>"
    else:
        return list(args.texts), [f"text {i}" for i in range(1, len(args.texts) + 1)]
    lines = normalise_newlines(text).split("\n")  # numbered as an editor numbers them
    if lines[-1] == "":
        lines.pop()
    if not lines:
        raise InputError(f"{source}: no texts to classify")
    return lines, [f"{source}:{i}" for i in range(1, len(lines) + 1)]


def classify_command(args: argparse.Namespace) -> int:
    from rnnkit.tasks.classify import SPEC, predict, token_inputs

    set_threads(args.threads)
    loaded = SPEC.load(args.run)
    if loaded.audio is not None:
        return _classify_clips(args, loaded)
    model, vocab, tokenizer = loaded.model, loaded.vocab, loaded.tokenizer
    if args.explain and model.config.pooling != "attention":
        raise InputError(
            f"--explain shows attention weights, but {args.run} was trained with "
            f"--pooling {model.config.pooling}; train with --pooling attention"
        )
    texts, places = _read_inputs(args)
    tokens = []
    for text, place in zip(texts, places):
        pieces = tokenizer(text)
        if not pieces:
            raise InputError(f"{place}: empty text; nothing to classify")
        tokens.append(pieces)
    probabilities, weights = predict(
        model,
        [token_inputs(t, vocab, loaded.char_ngrams) for t in tokens],
        attention=args.explain,
    )
    for row, pieces in enumerate(tokens):
        _print_prediction(loaded, probabilities[row], args.all)
        if args.explain:
            _print_explanation(pieces, weights[row], vocab)
    sys.stdout.flush()
    return 0


def _classify_clips(args: argparse.Namespace, loaded) -> int:
    """One line per audio file: its label and probability (every class's with --all)."""
    from rnnkit.data.audio import read_audio
    from rnnkit.tasks.classify import clip_views, predict_views

    if args.explain:
        raise InputError(f"--explain shows a text's attention weights; {args.run} is audio")
    paths, _ = _read_inputs(args)
    audio = loaded.audio
    waveforms = [read_audio(path, audio.sample_rate) for path in paths]
    probabilities = predict_views(loaded.model, clip_views(waveforms, audio)).mean(dim=0)
    for row in range(len(paths)):
        _print_prediction(loaded, probabilities[row], args.all)
    sys.stdout.flush()
    return 0


def _print_prediction(loaded, probabilities, every: bool) -> None:
    """``label<TAB>probability``, or every class so, likeliest first."""
    classes = loaded.config["classes"]
    ranked = probabilities.argsort(descending=True).tolist() if every else [probabilities.argmax()]
    fields = [f"{loaded.display(classes[int(k)])}\t{probabilities[k]:.4f}" for k in ranked]
    print("\t".join(fields))


def _print_explanation(tokens: list[str], weights: list[float], vocab) -> None:
    """One line per token: its weight, a bar as long as the weight, and the token."""
    largest = max(weights)
    for token, weight in zip(tokens, weights):
        bar = "#" * round(20 * weight / largest) if largest > 0 else ""
        unknown = "  (unknown word)" if token not in vocab else ""
        print(f"  {weight:.3f} {bar:<20} {token}{unknown}")
