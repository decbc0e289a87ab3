"""Attention and cell comparison for translation, side by side with the same budget.

Configurations (same sizes, same data, same subword tokenizers, same seed and training options):

- GRU with no attention (the final encoder state only), additive, general and scaled-dot attention;
- LSTM with scaled-dot attention (against the GRU with scaled-dot: GRU vs LSTM).

Each is trained by the shared trainer for the same number of optimizer steps (``--steps``; the
fair budget on a shared machine, where a wall-clock budget would depend on the other jobs) or the
same wall-clock time (``--time-budget``), then scored on the test set: perplexity, sacreBLEU
(greedy and beam), training time and decoding speed in sentences per second.

Usage::

    .venv/bin/python benchmarks/translate.py --steps 300 --threads 1      # Multi30k De->En
    .venv/bin/python benchmarks/translate.py --configs gru-none,gru-additive --steps 50
    .venv/bin/python benchmarks/translate.py --train-src a.de --train-tgt a.en ...  # own files

Writes ``runs/translate_compare.json`` (``--out``) and prints a markdown table; the numbers in
``benchmarks/results/translate.{md,json}`` come from this script.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from rnnkit.data.pairs import read_pairs
from rnnkit.data.subword import SubwordTokenizer
from rnnkit.models.seq2seq import Seq2SeqConfig
from rnnkit.tasks.translate import (
    DecodeConfig,
    TranslateData,
    TranslationTask,
    describe_model,
    evaluate_translator,
)
from rnnkit.training.trainer import TrainConfig, Trainer

CONFIGS = {
    "gru-none": {"cell": "gru", "attention": "none"},
    "gru-additive": {"cell": "gru", "attention": "additive"},
    "gru-general": {"cell": "gru", "attention": "general"},
    "gru-scaled-dot": {"cell": "gru", "attention": "scaled-dot"},
    "lstm-scaled-dot": {"cell": "lstm", "attention": "scaled-dot"},
}
DEFAULT_OUT = Path("runs") / "translate_compare.json"  # merged into results/translate.json by hand


def compare(
    data: TranslateData,
    model: dict,
    train: TrainConfig,
    decode: DecodeConfig,
    configs: list[str],
    work_dir: Path,
    test_limit: int | None = None,
    log=print,
) -> dict:
    """Train and score every configuration; returns the report (also the JSON written)."""
    train_sources, train_targets = read_pairs(*data.files("train"))
    tokenizers = (
        SubwordTokenizer.train(train_sources, data.src_vocab_size),
        SubwordTokenizer.train(train_targets, data.tgt_vocab_size),
    )
    test_sources, test_references = read_pairs(*data.files("test"))
    if test_limit:
        test_sources, test_references = test_sources[:test_limit], test_references[:test_limit]
    rows = {}
    for name in configs:
        torch.manual_seed(train.seed)  # every configuration starts from the same seed
        config = Seq2SeqConfig(**{**model, **CONFIGS[name]})
        task = TranslationTask.build(data, config, train.seed, tokenizers)
        trainer = Trainer(task, replace(train), work_dir / name)
        started = time.perf_counter()
        summary = trainer.fit()
        train_seconds = time.perf_counter() - started
        task.model.load_state_dict(_best_weights(work_dir / name))
        scores = evaluate_translator(task.translator, test_sources, test_references, decode)
        beam = f"beam{decode.beam}" if decode.beam > 1 else "greedy"
        rows[name] = {
            "parameters": describe_model(task.model)["parameters"],
            "steps": summary["steps"],
            "epochs": round(summary["steps"] / task.steps_per_epoch, 2),
            "train_seconds": round(train_seconds, 1),
            "best_val_loss": round(summary["best_val_loss"], 4),
            "test_perplexity": round(scores["perplexity"], 2),
            "bleu_greedy": scores["greedy"]["bleu"],
            "bleu_beam": scores[beam]["bleu"],
            "bleu_beam_lowercase": scores[beam]["bleu_lowercase"],
            "greedy_sentences_per_s": scores["greedy"]["sentences_per_s"],
            "beam_sentences_per_s": scores[beam]["sentences_per_s"],
            "signature": scores["greedy"]["signature"],
        }
        log(f"{name}: {json.dumps(rows[name])}")
    return {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s), shared with other jobs",
        "data": asdict(data),
        "model": model,
        "train": asdict(train),
        "decode": asdict(decode),
        "test_sentences": len(test_sources),
        "results": rows,
    }


def _best_weights(run: Path) -> dict:
    from rnnkit.training.checkpoint import load_state

    tensors, _ = load_state(run / "model.safetensors")
    return tensors


def format_table(report: dict) -> str:
    """The comparison as a markdown table."""
    beam = report["decode"]["beam"]
    lines = [
        f"| config | params | steps (epochs) | train s | test ppl | BLEU greedy | BLEU beam {beam} "
        "| greedy sent/s | beam sent/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in report["results"].items():
        lines.append(
            f"| {name} | {row['parameters'] / 1e6:.2f}M | {row['steps']} ({row['epochs']}) "
            f"| {row['train_seconds']:.0f} | {row['test_perplexity']:.1f} "
            f"| {row['bleu_greedy']:.1f} | {row['bleu_beam']:.1f} "
            f"| {row['greedy_sentences_per_s']:.0f} | {row['beam_sentences_per_s']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated subset")
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps per config")
    parser.add_argument("--time-budget", type=float, help="seconds per config instead of steps")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--embedding-dim", type=int, default=256)
    parser.add_argument("--src-vocab-size", type=int, default=8000)
    parser.add_argument("--tgt-vocab-size", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--test-limit", type=int, help="score only the first N test sentences")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    for split in ("train", "valid", "test"):
        for side in ("src", "tgt"):
            parser.add_argument(f"--{split}-{side}", help="your own line-aligned files")
    parser.add_argument("--work-dir", help="where the runs go (default: a temporary folder)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="the JSON report")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    configs = [c for c in args.configs.split(",") if c]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown config(s) {unknown}; expected some of {', '.join(CONFIGS)}")
    files = {
        f"{split}_{side}": getattr(args, f"{split}_{side}")
        for split in ("train", "valid", "test")
        for side in ("src", "tgt")
    }
    data = TranslateData(
        **files,
        src_vocab_size=args.src_vocab_size,
        tgt_vocab_size=args.tgt_vocab_size,
        batch_size=args.batch_size,
        label_smoothing=0.1,
    )
    data.check()
    model = {"embedding_dim": args.embedding_dim, "hidden_size": args.hidden, "dropout": 0.3}
    train = TrainConfig(
        lr=args.lr,
        schedule="cosine",
        warmup_steps=min(200, args.steps // 10),
        max_steps=None if args.time_budget else args.steps,
        time_budget=args.time_budget,
        eval_every=max(1, min(500, args.steps // 2)),
        threads=args.threads,
        seed=args.seed,
        progress=False,
        tensorboard=False,
    )
    decode = DecodeConfig(beam=args.beam)
    with tempfile.TemporaryDirectory() as temporary:
        work_dir = Path(args.work_dir or temporary)
        report = compare(data, model, train, decode, configs, work_dir, args.test_limit)
    report["command"] = " ".join([".venv/bin/python benchmarks/translate.py", *argv])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(format_table(report))
    return report


if __name__ == "__main__":
    main()
