"""Text-classification benchmarks: the SST-2 and SMS-spam targets, and the seed's comparisons.

    # the targets: recipes/sst2.toml (phrase labels, 3 seeds), recipes/sst2-sentences.toml and
    # recipes/sms_spam.toml, each trained and evaluated
    python benchmarks/classify.py targets --seeds 0 1 2

    # side by side on SST-2, same budget and seeds: uni- vs bidirectional, RNN vs LSTM vs GRU,
    # last-state vs attention pooling
    python benchmarks/classify.py compare --seeds 0 1 2

    # rewrite benchmarks/results/classify.md from benchmarks/results/classify.json
    python benchmarks/classify.py report

    # the cost of a training step with --adversarial, side by side with a plain step and with
    # the textbook three-pass form, on the recipe's model and batches
    # (benchmarks/results/classify_advspeed.json)
    python benchmarks/classify.py advspeed --config recipes/sst2.toml

Every run goes through the command line (``rnnkit train classify`` then ``rnnkit evaluate``) with
one torch thread (``targets --threads N``: N), into ``runs/bench-classify/NAME-sSEED``; a run whose
``eval.json`` exists and whose config.json holds the same options is not trained again, so an
interrupted benchmark continues where it stopped. Training time is the
trainer's wall-clock (evaluations included); inference speed is sentences per second classifying
the whole test set in batches of 256 (after one warm-up pass).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runs import relative, trained_with  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
RUNS = ROOT / "runs" / "bench-classify"

TARGETS = {
    # issue 13: phrase-level training labels, 3 seeds >= RNTN's 85.4% (no pretrained vectors)
    "sst2": {"recipe": "recipes/sst2.toml", "accuracy": 0.854, "minutes": 8},
    # the first target, on the 6,920 training sentences alone
    "sst2_sentences": {"recipe": "recipes/sst2-sentences.toml", "accuracy": 0.827, "minutes": 10},
    "sms_spam": {"recipe": "recipes/sms_spam.toml", "accuracy": 0.985, "spam_f1": 0.94},
}

# One factor changes at a time against the bidirectional LSTM with last-state pooling.
COMPARE = {
    "lstm-uni-last": ["--cell", "lstm", "--no-bidirectional", "--pooling", "last"],
    "lstm-bi-last": ["--cell", "lstm", "--bidirectional", "--pooling", "last"],
    "gru-bi-last": ["--cell", "gru", "--bidirectional", "--pooling", "last"],
    "rnn-bi-last": ["--cell", "rnn", "--bidirectional", "--pooling", "last"],
    "lstm-bi-attention": ["--cell", "lstm", "--bidirectional", "--pooling", "attention"],
}
COMPARE_LABELS = {
    "lstm-uni-last": "LSTM, unidirectional, last state",
    "lstm-bi-last": "LSTM, bidirectional, last state",
    "gru-bi-last": "GRU, bidirectional, last state",
    "rnn-bi-last": "RNN (tanh), bidirectional, last state",
    "lstm-bi-attention": "LSTM, bidirectional, attention pooling",
}


def machine() -> dict:
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "note": "a 2-core machine shared with other jobs; each run records its torch threads",
    }


def load_results() -> dict:
    path = RESULTS / "classify.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def save_results(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "classify.json").write_text(json.dumps(results, indent=2) + "\n")


def test_part(run: Path):
    """A text run, loaded, and its test part."""
    import rnnkit
    from rnnkit.io import read_json
    from rnnkit.tasks.classify import ClassifyData, prepare

    loaded = rnnkit.load(run)
    config = loaded.config
    data = ClassifyData(**config["data"])
    split = read_json(run / "split.json") if config.get("split") else None
    return loaded, prepare(data, split, loaded.vocab, config["classes"]).test


def inference_speed(run: Path, repeats: int = 2) -> float:
    """Sentences per second classifying the run's test set (batches of 256, one thread)."""
    from rnnkit.tasks.classify import encode_texts, predict

    loaded, test = test_part(run)
    model = loaded.model
    ids = encode_texts(test, loaded.tokenizer, loaded.vocab, loaded.char_ngrams)
    predict(model, ids)  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        predict(model, ids)
    return repeats * len(ids) / (time.perf_counter() - started)


def train_and_evaluate(name: str, seed: int, arguments: list[str], threads: int = 1) -> dict:
    """Train one run through the API (unless done with the same options), evaluate it and collect
    its numbers; the record holds the equivalent ``rnnkit train`` command."""
    import rnnkit
    from rnnkit.api import parse_options

    run = RUNS / f"{name}-s{seed}"
    command = ["train", "classify", *arguments, "--seed", str(seed), "--out", str(run)]
    command += ["--threads", str(threads), "--no-progress", "--no-tensorboard"]
    options = parse_options("classify", [a for a in command[2:] if a not in ("--out", str(run))])
    done = (run / "eval.json").is_file() and trained_with("classify", run, options)
    if not done:
        if (run / "config.json").is_file():  # interrupted, or other options: train it again
            import shutil

            shutil.rmtree(run)
        print(f"== rnnkit {' '.join(command)}", file=sys.stderr, flush=True)
        rnnkit.train("classify", options, run)
        rnnkit.evaluate(run)
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    best = min(history, key=lambda r: r["val_loss"])
    result = json.loads((run / "eval.json").read_text())
    model = json.loads((run / "config.json").read_text())["model"]
    parameters = sum(p.numel() for p in rnnkit.load(run).model.parameters())
    record = {
        "seed": seed,
        "run": relative(run),
        "command": relative("rnnkit " + " ".join(command)),
        "test_accuracy": result["accuracy"],
        "test_macro_f1": result["macro_f1"],
        "test_per_class_f1": {k: v["f1"] for k, v in result["per_class"].items()},
        "dev_accuracy_at_best": best["val_accuracy"],
        "best_step": best["step"],
        "steps": history[-1]["step"],
        "train_seconds": history[-1]["elapsed_s"],
        "threads": threads,
        "parameters": parameters,
        "inference_sentences_per_s": round(inference_speed(run), 1),
        "model": model,
    }
    print(json.dumps({k: v for k, v in record.items() if k != "model"}), file=sys.stderr)
    return record


def targets(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    results = load_results()
    results["machine"] = machine()
    for name in args.datasets:
        recipe = TARGETS[name]["recipe"]
        runs = []
        for seed in args.seeds:
            arguments = ["--config", str(ROOT / recipe)]
            runs.append(train_and_evaluate(name, seed, arguments, args.threads))
            results.setdefault("targets", {})[name] = {"recipe": recipe, "runs": runs}
            save_results(results)
    report()


def compare(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    results = load_results()
    results["machine"] = machine()
    budget = ["--config", str(ROOT / "recipes/sst2-sentences.toml"), "--epochs", str(args.epochs)]
    budget += [*args.extra]
    section = results.setdefault("compare", {})
    section["budget"] = relative(" ".join(budget[2:]))
    for name in args.configs:
        runs = []
        for seed in args.seeds:
            runs.append(train_and_evaluate(name, seed, [*budget, *COMPARE[name]]))
            section.setdefault("configs", {})[name] = runs
            save_results(results)
    report()


def _mean_spread(values: list[float], scale: float = 100.0, digits: int = 2) -> str:
    mean = statistics.mean(values) * scale
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values) * scale:.{digits}f}"


def _row(label: str, runs: list[dict]) -> str:
    accuracy = _mean_spread([r["test_accuracy"] for r in runs])
    dev = _mean_spread([r["dev_accuracy_at_best"] for r in runs])
    seconds = statistics.mean(r["train_seconds"] for r in runs)
    speed = statistics.mean(r["inference_sentences_per_s"] for r in runs)
    return (
        f"| {label} | {accuracy} | {dev} | {seconds:.0f} | {runs[0]['parameters']:,} | "
        f"{speed:,.0f} | {len(runs)} |"
    )


HEADER = (
    "| model | test accuracy % (mean ± sd) | dev accuracy % (chosen checkpoint) | train s / seed | "
    "parameters | "
    "inference sentences/s | seeds |\n|---|---|---|---|---|---|---|"
)


def report(args: argparse.Namespace | None = None) -> None:
    """Write benchmarks/results/classify.md from classify.json."""
    results = load_results()
    lines = ["## Text classification (SST-2, SMS spam)", ""]
    lines.append(
        f"Measured {time.strftime('%Y-%m-%d')}, torch {results.get('machine', {}).get('torch')}, "
        "CPU, a 2-core machine shared with other training jobs (wall-clock times are therefore "
        "noisy and pessimistic); each command shows its torch threads (`--threads`). Test "
        "accuracy is that of the checkpoint with the lowest dev cross-entropy. Regenerate with "
        "the commands below; `python benchmarks/classify.py report` rewrites this section "
        "from `classify.json`."
    )
    lines.append("")
    target_runs = results.get("targets", {})
    if target_runs:
        lines += ["### Targets", "", "```", "python benchmarks/classify.py targets --seeds 0 1 2"]
        lines += ["```", ""]
        for section in target_runs.values():
            runs = section["runs"]
            lines.append(
                f"`{runs[0]['command']}` (seeds {', '.join(str(r['seed']) for r in runs)})"
            )
            lines.append("")
        lines += [HEADER]
        for name, section in target_runs.items():
            lines.append(_row(f"{name} ({section['recipe']})", section["runs"]))
        lines.append("")
        lines += _verdicts(target_runs)
        if results.get("notes", {}).get("targets"):
            lines += [results["notes"]["targets"], ""]
    compared = results.get("compare", {})
    if compared.get("configs"):
        lines += ["### Comparisons on SST-2 (same budget and seeds)", "", "```"]
        seeds = sorted({r["seed"] for runs in compared["configs"].values() for r in runs})
        lines.append(
            f"python benchmarks/classify.py compare --seeds {' '.join(map(str, seeds))} "
            f"--epochs {_budget_epochs(compared['budget'])}"
        )
        lines += ["```", "", f"Shared options: `{compared['budget']}`.", "", HEADER]
        for name, runs in compared["configs"].items():
            lines.append(_row(COMPARE_LABELS.get(name, name), runs))
        lines.append("")
        if results.get("notes", {}).get("compare"):
            lines += [results["notes"]["compare"], ""]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "classify.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _budget_epochs(budget: str) -> str:
    words = budget.split()
    return words[words.index("--epochs") + 1] if "--epochs" in words else "?"


def _verdicts(target_runs: dict) -> list[str]:
    lines = []
    for name, label in (("sst2", "SST-2, phrase labels"), ("sst2_sentences", "SST-2, sentences")):
        if name not in target_runs:
            continue
        runs = target_runs[name]["runs"]
        accuracy = statistics.mean(r["test_accuracy"] for r in runs)
        minutes = max(r["train_seconds"] for r in runs) / 60
        threads = max(r.get("threads", 1) for r in runs)
        goal = TARGETS[name]["accuracy"]
        met = "met" if accuracy >= goal else f"not met: {100 * (goal - accuracy):.2f} points short"
        each = ", ".join(f"{100 * r['test_accuracy']:.2f}" for r in runs)
        lines.append(
            f"- {label} (`{TARGETS[name]['recipe']}`): mean test accuracy {100 * accuracy:.2f}% "
            f"over {len(runs)} seeds ({each}) against the {100 * goal:.1f}% target ({met}); "
            f"longest training {minutes:.1f} min on {threads} thread{'s' * (threads > 1)} "
            f"(target < {TARGETS[name]['minutes']} min per seed)."
        )
    if "sms_spam" in target_runs:
        runs = target_runs["sms_spam"]["runs"]
        accuracy = statistics.mean(r["test_accuracy"] for r in runs)
        spam_f1 = statistics.mean(r["test_per_class_f1"]["spam"] for r in runs)
        ok = (
            accuracy >= TARGETS["sms_spam"]["accuracy"]
            and spam_f1 >= TARGETS["sms_spam"]["spam_f1"]
        )
        lines.append(
            f"- SMS spam (stratified 80/10/10 split, split seed 0, stored in each run's "
            f"split.json): test accuracy {100 * accuracy:.2f}% and spam F1 {spam_f1:.3f} (mean of "
            f"{len(runs)} seed(s)) against >= 98.5% and >= 0.94: {'met' if ok else 'not met'}."
        )
    return [*lines, ""]


def textbook_adversarial_loss(task, batch) -> torch.Tensor:
    """``L(x) + L(x + r)`` as it is usually written: ``dL/dx`` by a backward pass that keeps the
    graph, then the caller's backward pass through both losses (three backward passes a step;
    the task hands the first pass's weight gradients on instead, two)."""
    import torch.nn.functional as F

    from rnnkit.tasks.classify import adversarial_shift

    ids, lengths, labels = batch
    x = task.model.inputs(ids)  # (B, T, E)
    loss = F.cross_entropy(task.model.classify(x, lengths).float(), labels)
    (gradient,) = torch.autograd.grad(loss, x, retain_graph=True)
    shifted = x + adversarial_shift(gradient, task.adversarial)
    return loss + F.cross_entropy(task.model.classify(shifted, lengths).float(), labels)


def advspeed(args: argparse.Namespace) -> None:
    """Milliseconds per training step (forward and backward passes, no optimiser step) of the
    recipe's model on its first batches: plain, adversarial as rnnkit computes it, and the
    textbook form; the candidates alternate, each timed ``--repeats`` times, medians kept."""
    import tempfile

    from rnnkit import tasks
    from rnnkit.api import parse_options

    torch.set_num_threads(args.threads)
    spec = tasks.get("classify")
    sections = spec.resolve(parse_options("classify", ["--config", args.config, *args.extra]))
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as run:
        task = spec.build(sections, Path(run), False).task
    epsilon = task.adversarial or 0.3
    task.model.train()
    batches = [task.batch(0, i % task.steps_per_epoch) for i in range(args.steps)]

    def step(batch):  # the task's own loss, plain or adversarial as task.adversarial says
        return task.training_loss(batch, None)[0]

    candidates = {
        "plain": (0.0, step),
        "adversarial": (epsilon, step),
        "adversarial_textbook": (epsilon, lambda batch: textbook_adversarial_loss(task, batch)),
    }
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(args.repeats):
        for name, (eps, loss_of) in candidates.items():
            task.adversarial = eps
            started = time.perf_counter()
            for batch in batches:
                task.model.zero_grad(set_to_none=True)
                loss_of(batch).backward()
            times[name].append(1000 * (time.perf_counter() - started) / len(batches))
    medians = {name: statistics.median(t) for name, t in times.items()}
    result = {
        "command": "python benchmarks/classify.py advspeed "
        + " ".join(["--config", relative(args.config), *args.extra]),
        "machine": {**machine(), "threads": args.threads},
        "epsilon": epsilon,
        "steps": args.steps,
        "repeats": args.repeats,
        "ms_per_step": {name: round(m, 2) for name, m in medians.items()},
        "times_plain": {name: round(m / medians["plain"], 2) for name, m in medians.items()},
        "textbook_over_rnnkit": round(medians["adversarial_textbook"] / medians["adversarial"], 2),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else RESULTS / "classify_advspeed.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def _share(right: torch.Tensor, rows: torch.Tensor) -> float | None:
    """The share of ``rows`` (a mask) that are ``right``; None for no rows."""
    return float(right[rows].float().mean()) if rows.any() else None


def unseen(args: argparse.Namespace) -> None:
    """Test accuracy of each run on the test texts with a word outside its vocabulary (read as
    ``<unk>``) and on the others: where character n-grams (``--char-ngrams``) should help."""
    from rnnkit.data.labeled import encode_labels
    from rnnkit.tasks.classify import encode_texts, predict
    from rnnkit.tokens import UNK_ID

    torch.set_num_threads(args.threads)
    result = {"command": "python benchmarks/classify.py unseen " + " ".join(args.runs), "runs": {}}
    for run in map(Path, args.runs):
        loaded, test = test_part(run)
        words = encode_texts(test, loaded.tokenizer, loaded.vocab)  # ids alone
        inputs = encode_texts(test, loaded.tokenizer, loaded.vocab, loaded.char_ngrams)
        probabilities, _ = predict(loaded.model, inputs)  # (N, C)
        labels = torch.tensor(encode_labels(test, loaded.config["classes"]))
        right = probabilities.argmax(dim=1) == labels  # (N,)
        has = torch.tensor([UNK_ID in ids for ids in words])  # (N,)
        unknown = sum(ids.count(UNK_ID) for ids in words)
        result["runs"][relative(run)] = {
            "char_ngrams": loaded.char_ngrams,
            "words": sum(map(len, words)),
            "unseen_words": unknown,
            "texts_with_unseen_words": int(has.sum()),
            "accuracy_with_unseen_words": _share(right, has),
            "texts_without": int((~has).sum()),
            "accuracy_without": _share(right, ~has),
            "accuracy": float(right.float().mean()),
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else RESULTS / "classify_unseen.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_targets = commands.add_parser("targets", help="train the recipes and evaluate them")
    run_targets.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    run_targets.add_argument("--datasets", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    run_targets.add_argument(
        "--threads", type=int, default=1, help="torch threads per run (2: one run on both cores)"
    )
    run_targets.set_defaults(handler=targets)
    run_compare = commands.add_parser("compare", help="the seed's comparisons on SST-2")
    run_compare.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    run_compare.add_argument("--epochs", type=float, default=3.0, help="the budget of every run")
    run_compare.add_argument("--configs", nargs="+", default=list(COMPARE), choices=list(COMPARE))
    run_compare.add_argument("extra", nargs="*", help="more options for every run (after --)")
    run_compare.set_defaults(handler=compare)
    commands.add_parser("report", help="rewrite classify.md").set_defaults(handler=report)
    run_speed = commands.add_parser("advspeed", help="the cost of an adversarial training step")
    run_speed.add_argument("--config", default="recipes/sst2.toml")
    run_speed.add_argument("--steps", type=int, default=20, help="batches timed per repeat")
    run_speed.add_argument("--repeats", type=int, default=5)
    run_speed.add_argument("--threads", type=int, default=1)
    run_speed.add_argument("--out", help="default: benchmarks/results/classify_advspeed.json")
    run_speed.add_argument("extra", nargs="*", help="more options for the model (after --)")
    run_speed.set_defaults(handler=advspeed)
    run_unseen = commands.add_parser("unseen", help="accuracy on texts with unseen words")
    run_unseen.add_argument("runs", nargs="+", help="text classification runs")
    run_unseen.add_argument("--threads", type=int, default=1)
    run_unseen.add_argument("--out", help="default: benchmarks/results/classify_unseen.json")
    run_unseen.set_defaults(handler=unseen)
    args = parser.parse_args()
    args.handler(args)


if __name__ == "__main__":
    main()
