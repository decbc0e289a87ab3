"""ONNX export and parity per task: every cell, uni- and bidirectional where the task allows it.

    python benchmarks/export.py                # writes benchmarks/results/export.json

For each configuration a model of a realistic size is built with random weights (parity does
not depend on training), exported with :func:`rnnkit.onnx_export.export_model`, and run in
onnxruntime and in PyTorch on the same inputs: a padded batch with variable lengths where the
task reads lengths, and other batch and time sizes than the export traced. Reported: the largest
absolute difference of the outputs (logits, forecasts; for translation the teacher-forced logits
of encoder and decoder graphs together), the export time and the graph size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rnnkit import onnx_export, onnxengine  # noqa: E402
from rnnkit.io import write_json  # noqa: E402
from rnnkit.models.classifier import ClassifierConfig, TextClassifier  # noqa: E402
from rnnkit.models.forecaster import Forecaster, ForecasterConfig  # noqa: E402
from rnnkit.models.lm import CharLM, LMConfig  # noqa: E402
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig  # noqa: E402

DEFAULT_OUT = Path(__file__).parent / "results" / "export.json"
CELLS = ("rnn", "lstm", "gru")


def padded(batch: int, steps: int, vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.randint(1, steps + 1, (batch,))
    lengths[0] = steps
    ids = torch.randint(4, vocab, (batch, steps))
    ids[torch.arange(steps) >= lengths.unsqueeze(1)] = 0
    return ids, lengths


def cases():
    """(task, description, model, inputs -> (pytorch output, onnxruntime output))."""
    for cell in CELLS:
        model = CharLM(LMConfig(cell=cell, hidden_size=512, num_layers=2, embedding_dim=64), 65)
        ids = torch.randint(0, 65, (4, 300))
        yield "lm", f"{cell}, 2x512", model, lambda m, g, ids=ids: (m(ids)[0], g(ids)[0])
    for cell, bidirectional in ((c, b) for c in CELLS for b in (False, True)):
        config = ClassifierConfig(cell=cell, bidirectional=bidirectional, hidden_size=150)
        model = TextClassifier(config, vocab_size=15000, num_classes=2)
        ids, lengths = padded(64, 50, 15000)
        yield (
            "classify",
            f"{cell}, {'bi' if bidirectional else 'uni'}, attention pooling",
            model,
            lambda m, g, ids=ids, lengths=lengths: (m(ids, lengths), g(ids, lengths)),
        )
    for cell, bidirectional, decoder in (
        (c, b, d) for c in CELLS for b in (False, True) for d in ("direct", "autoregressive")
    ):
        config = ForecasterConfig(cell=cell, bidirectional=bidirectional, decoder=decoder)
        model = Forecaster(config, input_size=7, output_size=1, horizon=24, target_inputs=[6])
        window = torch.randn(32, 168, 7)
        yield (
            "forecast",
            f"{cell}, {'bi' if bidirectional else 'uni'}, {decoder}",
            model,
            lambda m, g, window=window: (m(window), g(window)),
        )
    for cell in CELLS:
        config = Seq2SeqConfig(cell=cell, attention="scaled-dot", hidden_size=256)
        model = Seq2Seq(config, src_vocab_size=8000, tgt_vocab_size=6000)
        source, lengths = padded(16, 25, 8000)
        target = torch.randint(4, 6000, (16, 20))
        yield (
            "translate",
            f"{cell}, bi encoder, scaled-dot attention",
            model,
            lambda m, g, s=source, n=lengths, t=target: (m(s, n, t), g(s, n, t)),
        )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    rows = []
    folder = Path(tempfile.mkdtemp(prefix="rnnkit-export-"))
    for task, description, model, run in cases():
        model.eval()
        path = folder / f"{task}.onnx"
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sidecar = onnx_export.export_model(task, model, path)
        seconds = time.perf_counter() - started
        graph = onnxengine.ADAPTERS[task](folder, sidecar, threads=1)
        with torch.no_grad():
            expected, got = run(model, graph)
        size = sum((folder / name).stat().st_size for name in sidecar["graphs"].values())
        rows.append(
            {
                "task": task,
                "model": description,
                "parameters": sum(p.numel() for p in model.parameters()),
                "max_abs_difference": float((expected - got).abs().max()),
                "export_s": round(seconds, 2),
                "graph_mb": round(size / 2**20, 2),
            }
        )
        print(f"{task:9s} {description:40s} {rows[-1]['max_abs_difference']:.2e}", file=sys.stderr)
    report = {
        "benchmark": "ONNX export: onnxruntime against PyTorch, per task and cell",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "torch": torch.__version__,
        "onnxruntime": __import__("onnxruntime").__version__,
        "onnx": __import__("onnx").__version__,
        "opset": onnx_export.OPSET,
        "rows": rows,
    }
    write_json(args.out, report)
    print(format_table(report))
    return report


def format_table(report: dict) -> str:
    lines = [
        "| task | model | parameters | max abs difference | export s | graph MB |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['task']} | {row['model']} | {row['parameters']:,} | "
            f"{row['max_abs_difference']:.1e} | {row['export_s']:.1f} | {row['graph_mb']:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
