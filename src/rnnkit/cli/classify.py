"""``rnnkit train classify``, ``rnnkit classify`` and ``rnnkit evaluate`` for classification runs.

A run directory holds ``config.json`` (data, model, training options, the classes), ``vocab.json``
(tokenizer and vocabulary), ``split.json`` when a stratified split was made, and the trainer's
files (``model.safetensors`` = the best weights by validation loss).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from rnnkit.cli import common, options
from rnnkit.errors import InputError
from rnnkit.models.classifier import ClassifierConfig
from rnnkit.tasks.classify import ClassifyData
from rnnkit.training.trainer import TrainConfig

TASK = "classify"
DEFAULT_TRAIN = {"epochs": 10.0, "eval_every": 100, "lr": 1e-3}

# Options whose shared help text (options.HELP) is written for another task.
_LOCAL_HELP = {
    "data": "sst2, sms_spam, or a TSV/CSV training file with a label and a text column",
    "valid_fraction": "share of each class held out for validation when --valid is not given",
    "embedding_dim": "word (or character) embedding size; taken from --embeddings when given",
    "attention": "score of the attention pooling: additive, general, dot or scaled-dot",
    "bidirectional": "read the text in both directions (--no-bidirectional: left to right only)",
    "dropout": "dropout on the pooled vector before the output layer, and between layers",
}


def add_train_parser(tasks) -> None:
    parser = tasks.add_parser(
        TASK,
        help="text classifier (sentiment, spam, any labels)",
        description="Train a (bidirectional) RNN, LSTM or GRU text classifier on labelled texts.",
    )
    common.add_run_arguments(parser, TASK)
    options.add_dataclass_options(parser, ClassifyData, title="data")
    options.add_dataclass_options(
        parser, ClassifierConfig, skip=("vocab_size", "num_classes"), title="model"
    )
    options.add_dataclass_options(parser, TrainConfig, title="training")
    defaults = {**asdict(ClassifyData()), **asdict(ClassifierConfig(1, 2)), **DEFAULT_TRAIN}
    for action in parser._actions:
        if action.dest in _LOCAL_HELP:
            action.help = f"{_LOCAL_HELP[action.dest]} (default: {defaults[action.dest]})"
        elif action.dest in DEFAULT_TRAIN:
            action.help = (
                action.help.rsplit(" (default:", 1)[0] + f" (default: {defaults[action.dest]})"
            )
    parser.set_defaults(handler=train, parser=parser, **DEFAULT_TRAIN)


def add_commands(commands) -> None:
    classify = commands.add_parser(
        "classify",
        help="label texts with a classification run",
        description="Print the predicted label and its probability for each text: the texts "
        "given as arguments, or one text per line of --file or of stdin.",
    )
    classify.add_argument("run", help="a classification run directory")
    classify.add_argument("texts", nargs="*", help="texts to classify (none, or '-': read stdin)")
    classify.add_argument("--file", help="classify each line of this file")
    classify.add_argument(
        "--explain",
        action="store_true",
        help="show each token with its attention weight (runs trained with --pooling attention)",
    )
    classify.add_argument(
        "--all", action="store_true", help="print every class's probability, not just the best"
    )
    classify.set_defaults(handler=classify_command)


# --- training -----------------------------------------------------------------------------------
def _model_options(args: argparse.Namespace) -> dict:
    config = options.build(ClassifierConfig, args, vocab_size=1, num_classes=2)
    values = asdict(config)
    del values["vocab_size"], values["num_classes"]
    return values


def train(args: argparse.Namespace) -> int:
    from rnnkit.data.tokenize import Vocab, read_word_vectors
    from rnnkit.io import read_json, write_json
    from rnnkit.models.classifier import TextClassifier
    from rnnkit.tasks.classify import ClassificationTask, prepare
    from rnnkit.training.run import create_run, load_run

    out = Path(args.out or "runs/classify")
    train_config = options.build(TrainConfig, args)
    train_config.check()
    if args.resume:
        stored = load_run(out, TASK)
        data = ClassifyData(**stored["data"])
        vocab, _ = Vocab.load(out / "vocab.json")
        split = read_json(out / "split.json", "stored split") if stored.get("split") else None
        prepared = prepare(data, split, vocab, stored["classes"])
        model = TextClassifier(ClassifierConfig(**stored["model"]))
    else:
        data = options.build(ClassifyData, args)
        data.check()
        model_options = _model_options(args)
        prepared = prepare(data)
        vectors = None
        if data.embeddings:
            vectors, found = read_word_vectors(data.embeddings, prepared.vocab)
            if args.embedding_dim is not None and args.embedding_dim != vectors.shape[1]:
                raise InputError(
                    f"{data.embeddings}: the vectors have {vectors.shape[1]} dimensions but "
                    f"--embedding-dim is {args.embedding_dim}; drop --embedding-dim"
                )
            model_options["embedding_dim"] = vectors.shape[1]
        config = ClassifierConfig(len(prepared.vocab), len(prepared.classes), **model_options)
        model = TextClassifier(config)
        if vectors is not None:
            model.load_word_vectors(vectors, found)
            print(
                f"rnnkit: {data.embeddings}: vectors for {int(found.sum()):,} of "
                f"{len(prepared.vocab) - 2:,} words; the others start random",
                file=sys.stderr,
            )
        create_run(
            out,
            {
                "task": TASK,
                "data": asdict(data),
                "model": model.config_dict(),
                "train": asdict(train_config),
                "classes": prepared.classes,
                "label_names": prepared.label_names,
                "split": prepared.split is not None,
            },
        )
        prepared.vocab.save(out / "vocab.json", prepared.tokenizer)
        if prepared.split is not None:
            write_json(out / "split.json", prepared.split)
    task = ClassificationTask.from_prepared(model, prepared, data.batch_size, train_config.seed)
    params = sum(p.numel() for p in model.parameters())
    sizes = f"{len(prepared.train)}/{len(prepared.valid)}/{len(prepared.test)}"
    print(
        f"rnnkit: {TASK} run {out}: {params:,} parameters, vocabulary {len(prepared.vocab):,}, "
        f"{len(prepared.classes)} classes, train/valid/test {sizes}, "
        f"{task.steps_per_epoch} steps per epoch",
        file=sys.stderr,
    )
    return common.fit(task, train_config, out, args.resume, "nats")


# --- loading a run ------------------------------------------------------------------------------
def load(run: str | Path):
    """(model, vocab, tokenizer, config) of a classification run, with its best weights."""
    from rnnkit.data.tokenize import Tokenizer, Vocab
    from rnnkit.models.classifier import TextClassifier
    from rnnkit.training.run import load_best_weights, load_run

    config = load_run(run, TASK)
    vocab, tokenizer = Vocab.load(Path(run) / "vocab.json")
    if tokenizer is None:
        data = config["data"]
        tokenizer = Tokenizer(data.get("tokenizer", "word"), data.get("lowercase", True))
    model = TextClassifier(ClassifierConfig(**config["model"]))
    load_best_weights(run, model)
    model.eval()
    return model, vocab, tokenizer, config


def _display(config: dict, label: str) -> str:
    return config.get("label_names", {}).get(label, label)


# --- rnnkit classify ----------------------------------------------------------------------------
def _read_inputs(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """(texts, where each came from) from the arguments, --file or stdin."""
    if args.file and args.texts:
        raise InputError("give texts as arguments or --file, not both")
    if args.file:
        from rnnkit.data.text import read_text

        lines = read_text(args.file).splitlines()
        source = args.file
    elif not args.texts or args.texts == ["-"]:
        lines = sys.stdin.read().splitlines()
        source = "<stdin>"
    else:
        return list(args.texts), [f"text {i}" for i in range(1, len(args.texts) + 1)]
    if not lines:
        raise InputError(f"{source}: no texts to classify")
    return lines, [f"{source}:{i}" for i in range(1, len(lines) + 1)]


def classify_command(args: argparse.Namespace) -> int:
    from rnnkit.tasks.classify import predict

    model, vocab, tokenizer, config = load(args.run)
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
        model, [vocab.encode(t) for t in tokens], attention=args.explain
    )
    classes = config["classes"]
    for row, pieces in enumerate(tokens):
        best = int(probabilities[row].argmax())
        if args.all:
            ranked = probabilities[row].argsort(descending=True).tolist()
            fields = [
                f"{_display(config, classes[k])}\t{probabilities[row, k]:.4f}" for k in ranked
            ]
            print("\t".join(fields))
        else:
            print(f"{_display(config, classes[best])}\t{probabilities[row, best]:.4f}")
        if args.explain:
            _print_explanation(pieces, weights[row], vocab)
    sys.stdout.flush()
    return 0


def _print_explanation(tokens: list[str], weights: list[float], vocab) -> None:
    """One line per token: its weight, a bar as long as the weight, and the token."""
    largest = max(weights)
    for token, weight in zip(tokens, weights):
        bar = "#" * round(20 * weight / largest) if largest > 0 else ""
        unknown = "  (unknown word)" if token not in vocab else ""
        print(f"  {weight:.3f} {bar:<20} {token}{unknown}")


# --- rnnkit evaluate ----------------------------------------------------------------------------
def evaluate(args: argparse.Namespace, config: dict) -> int:
    from rnnkit.data import registry
    from rnnkit.data.labeled import encode_labels, read_labeled
    from rnnkit.io import read_json, write_json
    from rnnkit.plots import plot_confusion
    from rnnkit.tasks.classify import encode_texts, predict, prepare, scores

    run = Path(args.run)
    model, vocab, tokenizer, config = load(run)
    classes = config["classes"]
    data = ClassifyData(**config["data"])
    result: dict = {}
    if args.data and not registry.is_registered(args.data):
        parts = {
            "test": read_labeled(
                args.data, data.text_column, data.label_column, data.header, data.delimiter
            )
        }
    else:
        if args.data:
            data = ClassifyData(**{**asdict(data), "data": args.data, "valid": None, "test": None})
        split = None
        if config.get("split") and not args.data:
            split = read_json(run / "split.json", "stored split")
        prepared = prepare(data, split, vocab, classes)
        parts = {"test": prepared.test, "valid": prepared.valid}
    for name, part in parts.items():
        ids, labels = encode_texts(part, tokenizer, vocab), encode_labels(part, classes)
        probabilities, _ = predict(model, ids)
        metrics = scores(probabilities, labels, classes)
        if name == "valid":
            result["valid"] = {"examples": len(part)}
            result["valid"].update({k: metrics[k] for k in ("loss", "accuracy", "macro_f1")})
            continue
        result = {
            "data": args.data or data.data,
            "part": "all rows of --data" if len(parts) == 1 else "test",
            "examples": len(part),
            **metrics,
            "classes": classes,
            "label_names": config.get("label_names", {}),
            **result,
        }
    write_json(run / "eval.json", result)
    names = [_display(config, c) for c in classes]
    # without matplotlib, plots.pyplot logs the one line that says so
    plot_confusion(result["confusion"], names, run / "confusion.png", f"{result['data']}: test")
    print(json.dumps(result, indent=2))
    return 0
