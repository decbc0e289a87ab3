"""Batch-1 sampling speed against a tight eager loop and the memory-bandwidth bound, in one run.

    python benchmarks/sampling.py --run runs/shakespeare          # a trained run (and its loss)
    python benchmarks/sampling.py --config recipes/shakespeare.toml   # its shape, random weights

Candidates, each generating ``--length`` characters one at a time from the same prime, 1 thread,
alternating within every repeat (the order rotates), median of the repeats:

- ``rnnkit fp32`` / ``bf16`` / ``int8``: :func:`rnnkit.tasks.lm.sample_ids` with that
  ``precision`` (:class:`rnnkit.stepper.LayerStepper`);
- ``onnxruntime``: the same sampler stepping the run's exported ONNX graph;
- ``eager loop``: a plain hand-written eager torch loop of the same shape (layer 0's input
  projection looked up, ``F.linear`` and the gate equations on fresh tensors, softmax and
  ``torch.multinomial``): what a careful user writes by hand.

The bound: a step must read every weight matrix once (layer 0: W_hh and one table row; later
layers: W_ih and W_hh; the head), so characters/s <= copy bandwidth / bytes per step. The copy
bandwidth is measured in the same run, STREAM-style (bytes read + written per second by
``dst.copy_(src)``), on a buffer the size of the fp32 weights (it stays in the last-level cache,
as the weights do) and on a 256 MB buffer (main memory). With ``--run`` the validation loss of
each precision is measured too: the first ``--loss-chars`` characters of the validation split,
fed through the stepper as 16 parallel streams.

Writes ``benchmarks/results/sampling.json`` (or ``--out``) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

RESULTS = Path(__file__).resolve().parent / "results"
PRECISIONS = ("fp32", "bf16", "int8")


def load_model(args):
    """(model, vocab, validation ids or None): a trained run, or the recipe's shape at random."""
    import rnnkit
    from rnnkit.data.text import CharVocab

    if args.run:
        loaded = rnnkit.load(args.run)
        valid = None
        if args.loss_chars:
            from rnnkit.data.text import split_text
            from rnnkit.tasks.lm import read_corpus

            data = loaded.config["data"]
            _, text = split_text(read_corpus(data["data"]), data["valid_fraction"])
            valid = loaded.vocab.encode(text[: args.loss_chars + 1])
        return loaded.model, loaded.vocab, valid
    try:
        import tomllib
    except ModuleNotFoundError:
        import tomli as tomllib
    from rnnkit.models.lm import CharLM, LMConfig

    recipe = tomllib.loads(Path(args.config).read_text())
    config = LMConfig(
        cell=recipe.get("cell", "lstm"),
        hidden_size=recipe["hidden"],
        num_layers=recipe["layers"],
        embedding_dim=recipe.get("embedding-dim", 0),
    )
    pool = args.prime + "\n " + string.ascii_letters + string.digits + string.punctuation
    chars = list(dict.fromkeys(pool))[: args.vocab]  # the prime's characters first
    torch.manual_seed(0)
    return CharLM(config, len(chars)).eval(), CharVocab(chars), None


def weight_bytes(model, precision: str) -> int:
    """Bytes one step reads: every matrix once, one table row for layer 0, the biases."""
    rnn, head = model.rnn, model.head
    gates = rnn.num_gates * rnn.hidden_size
    matrix = {"fp32": 4, "bf16": 2, "int8": 1}[precision]
    vector = 2 if precision == "bf16" else 4
    elements = gates * rnn.hidden_size + head.weight.numel()  # layer 0's W_hh, the head
    elements += (rnn.num_layers - 1) * gates * 2 * rnn.hidden_size  # later layers' W_ih, W_hh
    biases = gates * rnn.num_layers + head.weight.shape[0]
    return elements * matrix + biases * vector + gates * 4  # + the table row (fp32)


def copy_bandwidth(size_bytes: int, repeats: int) -> float:
    """STREAM-style copy bandwidth (bytes read + written per second), median of ``repeats``."""
    source = torch.rand(max(size_bytes // 4, 1))
    target = torch.empty_like(source)
    target.copy_(source)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        target.copy_(source)
        times.append(time.perf_counter() - started)
    return 2 * source.numel() * 4 / statistics.median(times)


@torch.inference_mode()
def eager_loop(model, prime, length: int, generator: torch.Generator) -> None:
    """The tight hand-written loop: LSTM equations on fresh tensors, layer 0 looked up."""
    rnn, layers = model.rnn, model.rnn.num_layers
    table = model.input_table()  # (V, 4H): x W_ih^T + b_ih of every character
    weights = [rnn._weights(layer) for layer in range(layers)]
    logits, (state, _) = model(prime.unsqueeze(0))  # read the prime at once
    h, c = list(state[0].unbind(0)), list(state[1].unbind(0))
    last = logits[:, -1]  # (1, V)
    for _ in range(length):
        token = torch.multinomial(torch.softmax(last, dim=-1), 1, generator=generator)[0]
        x = None
        for layer, (weight_ih, weight_hh, bias_ih, bias_hh) in enumerate(weights):
            projected = table[token] if layer == 0 else F.linear(x, weight_ih, bias_ih)
            gates = projected + F.linear(h[layer], weight_hh, bias_hh)  # (1, 4H)
            i, f, g, o = gates.chunk(4, dim=1)
            c[layer] = torch.sigmoid(f) * c[layer] + torch.sigmoid(i) * torch.tanh(g)
            h[layer] = torch.sigmoid(o) * torch.tanh(c[layer])
            x = h[layer]
        last = model.head(x)


def rnnkit_sampler(model, vocab, prime_text: str, length: int, seed: int, precision: str):
    from rnnkit.tasks.lm import sample_ids

    for tokens in sample_ids(model, vocab, prime_text, length, 1.0, None, None, seed, 1, precision):
        int(tokens[0])  # what a caller does with each token: read it


@torch.no_grad()
def stepper_loss(model, ids: torch.Tensor, precision: str, streams: int = 16) -> float:
    """Mean next-character loss (nats) of ``ids`` cut into ``streams`` parallel streams, each
    fed through the stepper one character at a time from a fresh state."""
    length = (len(ids) - 1) // streams
    x = ids[: streams * length].view(streams, length)  # (S, L)
    y = ids[1 : streams * length + 1].view(streams, length)
    stepper = model.stepper(streams, precision)
    logits = stepper.read(x[:, :1])
    total = float(F.cross_entropy(logits, y[:, 0], reduction="sum"))
    for t in range(1, length):
        logits = stepper.step(x[:, t])
        total += float(F.cross_entropy(logits, y[:, t], reduction="sum"))
    return total / (streams * length)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="a trained lm run (else --config's shape, random weights)")
    parser.add_argument("--config", default="recipes/shakespeare.toml")
    parser.add_argument("--vocab", type=int, default=65, help="vocabulary size without --run")
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--prime", default="ROMEO:")
    parser.add_argument("--loss-chars", type=int, default=16000)
    parser.add_argument("--no-onnx", action="store_true", help="leave onnxruntime out")
    parser.add_argument("--out", type=Path, default=RESULTS / "sampling.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model, vocab, valid = load_model(args)
    if model.config.cell != "lstm" or model.attention is not None:
        raise SystemExit("the eager loop is an LSTM without attention; benchmark such a model")
    prime = vocab.encode(args.prime)

    candidates = {
        p: (lambda s, p=p: rnnkit_sampler(model, vocab, args.prime, args.length, s, p))
        for p in PRECISIONS
    }
    candidates = {f"rnnkit {name}": run for name, run in candidates.items()}
    if not args.no_onnx:
        from rnnkit import onnx_export, onnxengine

        folder = tempfile.mkdtemp(prefix="rnnkit-sampling-")
        sidecar = onnx_export.export_model("lm", model, Path(folder) / "lm.onnx")
        graph = onnxengine.OnnxLM(Path(folder), sidecar, threads=1)
        candidates["onnxruntime"] = lambda s: rnnkit_sampler(
            graph, vocab, args.prime, args.length, s, "fp32"
        )
    candidates["eager loop"] = lambda s: eager_loop(
        model, prime, args.length, torch.Generator().manual_seed(s)
    )

    names = list(candidates)
    times: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(args.repeats + 1):  # the first round warms up
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order:
            started = time.perf_counter()
            candidates[name](repeat)
            if repeat:
                times[name].append(time.perf_counter() - started)
    rates = {name: args.length / statistics.median(t) for name, t in times.items()}

    fp32_bytes = weight_bytes(model, "fp32")
    cache = copy_bandwidth(fp32_bytes, 50)
    memory = copy_bandwidth(256 * 2**20, 5)
    bound = {p: cache / weight_bytes(model, p) for p in PRECISIONS}
    rows = []
    for name in names:
        precision = name.split()[-1] if name.startswith("rnnkit") else "fp32"
        rows.append(
            {
                "candidate": name,
                "chars_per_s": round(rates[name], 1),
                "ratio_to_eager_loop": round(rates[name] / rates["eager loop"], 3),
                "bytes_per_step": weight_bytes(model, precision),
                "bound_chars_per_s": round(bound[precision], 1),
                "fraction_of_bound": round(rates[name] / bound[precision], 3),
            }
        )
    losses = None
    if valid is not None:
        losses = {p: round(stepper_loss(model, valid, p), 5) for p in PRECISIONS}
    report = {
        "benchmark": "batch-1 sampling: rnnkit's sampler, a tight eager loop, the bandwidth bound",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "processor": platform.processor(),
            "load_average_1min": __import__("os").getloadavg()[0],
        },
        "model": {
            "run": args.run,
            "config": None if args.run else args.config,
            "cell": model.config.cell,
            "layers": model.config.num_layers,
            "hidden": model.config.hidden_size,
            "vocab": model.vocab_size,
            "parameters": sum(p.numel() for p in model.parameters()),
        },
        "length": args.length,
        "repeats": args.repeats,
        "copy_bandwidth_gb_s": {
            "weights_sized_buffer": round(cache / 1e9, 2),
            "256MB_buffer": round(memory / 1e9, 2),
        },
        "candidates": rows,
        "validation_loss_nats": losses,
        "validation_chars": None if valid is None else len(valid) - 1,
        "seconds": times,
    }
    from rnnkit.io import write_json

    write_json(args.out, report)
    print(format_table(report))
    print(f"wrote {args.out}", file=sys.stderr)
    return report


def format_table(report: dict) -> str:
    lines = [
        "| candidate | characters/s | vs eager loop | bytes read per step | bound (chars/s) "
        "| of the bound |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in report["candidates"]:
        lines.append(
            f"| {row['candidate']} | {row['chars_per_s']:,.0f} | {row['ratio_to_eager_loop']:.2f}x "
            f"| {row['bytes_per_step'] / 1e6:.2f} MB | {row['bound_chars_per_s']:,.0f} "
            f"| {row['fraction_of_bound']:.0%} |"
        )
    bandwidth = report["copy_bandwidth_gb_s"]
    lines.append(
        f"\nCopy bandwidth: {bandwidth['weights_sized_buffer']} GB/s on a weights-sized buffer, "
        f"{bandwidth['256MB_buffer']} GB/s on 256 MB."
    )
    if report["validation_loss_nats"]:
        losses = report["validation_loss_nats"]
        shown = ", ".join(
            f"{p} {loss:.4f} ({loss - losses['fp32']:+.4f})" for p, loss in losses.items()
        )
        lines.append(f"Validation loss (nats/char): {shown}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
