"""Language-model benchmarks: quality curve, sampling speed, training throughput.

    # 1. quality: train the documented recipe (10 minutes), then summarise its curve
    rnnkit train lm --config recipes/shakespeare.toml --out runs/shakespeare
    python benchmarks/lm.py quality --run runs/shakespeare

    # 2. batch-1 sampling speed of that model against a plain torch.nn.LSTM step loop
    python benchmarks/lm.py sampling --run runs/shakespeare

    # 3. training throughput of the recipe, fp32 against bf16, side by side
    python benchmarks/lm.py throughput --config recipes/shakespeare.toml

    # 3b. bf16 training throughput at several batch x seq-len shapes (equal characters per step)
    python benchmarks/lm.py shapes --hidden 640 --shapes 32x128 64x64

    # 3b'. the optimizer's update: AdamW's loop over parameters, foreach and fused kernels
    python benchmarks/lm.py optimizer --config recipes/shakespeare-640.toml

    # 3b''. dropout masks: torch's one random number per element against rnnkit's 16-bit masks
    python benchmarks/lm.py dropout --config recipes/shakespeare-640.toml

    # 3c. validation speed: the held-out stream read as one row against parallel warmed parts
    python benchmarks/lm.py evalspeed --run runs/shakespeare --streams 32 --warmup 512

    # 4. rnnkit runs against nanoGPT (benchmarks/nanogpt.py) at equal wall-clock: the validation
    #    curves on one plot and the best validation loss reached by 5 and 10 minutes
    python benchmarks/lm.py versus --run runs/shakespeare --nanogpt benchmarks/results/nanogpt.json

Each writes ``benchmarks/results/lm_<part>.json``. Candidates compared in one run alternate
within every repeat, and the medians of the repeats are reported.
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
import torch.nn.functional as F

RESULTS = Path(__file__).resolve().parent / "results"


def _machine() -> dict:
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "processor": platform.processor(),
        "date": time.strftime("%Y-%m-%d"),
    }


def _write(name: str, result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"lm_{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"wrote {path}", file=sys.stderr)


def quality(args: argparse.Namespace) -> None:
    """Summarise a finished run: the validation curve against wall-clock time."""
    run = Path(args.run)
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    config = json.loads((run / "config.json").read_text())
    best = min(history, key=lambda r: r["val_loss"])
    _write(
        "quality",
        {
            "run": str(run),
            "machine": _machine(),
            "config": config,
            "best_val_loss": best["val_loss"],
            "best_step": best["step"],
            "best_elapsed_s": best["elapsed_s"],
            "final_elapsed_s": history[-1]["elapsed_s"],
            "curve": [
                {k: r[k] for k in ("step", "elapsed_s", "train_loss", "val_loss", "items_per_s")}
                for r in history
            ],
        },
    )


MARKS_S = (300.0, 600.0)  # the 5- and 10-minute marks


def _best_by(curve: list[tuple[float, float]], seconds: float) -> float | None:
    """The lowest validation loss among the evaluations made by ``seconds`` (a 2% allowance for
    the evaluation that ends a budget), or None when there is none."""
    losses = [loss for at, loss in curve if at <= seconds * 1.02]
    return min(losses) if losses else None


def versus(args: argparse.Namespace) -> None:
    """rnnkit runs and nanoGPT runs side by side: validation loss against seconds of training.

    rnnkit's clock (``elapsed_s``) includes its evaluations; nanoGPT's (``train_seconds``)
    excludes them, which favours nanoGPT. rnnkit's validation loss scores the whole validation
    text as one stream; nanoGPT's is ``estimate_loss`` (random validation blocks), and its
    ``val_loss_full`` at the end scores every validation character once."""
    curves = {}
    for run in map(Path, args.run):
        if run.suffix == ".json":  # a summary written by ``quality``
            summary = json.loads(run.read_text())
            history, config = summary["curve"], summary["config"]
            label = f"rnnkit {Path(summary['run']).name} ({run.name})"
        else:
            lines = (run / "metrics.jsonl").read_text().splitlines()
            history = [json.loads(line) for line in lines]
            config, label = json.loads((run / "config.json").read_text()), f"rnnkit {run.name}"
        curves[label] = {
            "source": str(run),
            "clock": "elapsed_s (evaluations included)",
            "points": [(r["elapsed_s"], r["val_loss"]) for r in history],
            "train": config["train"],
            "model": config["model"],
        }
    for path in map(Path, args.nanogpt):
        result = json.loads(path.read_text())
        curves[f"nanoGPT {path.stem}"] = {
            "source": str(path),
            "command": result["command"],
            "clock": "train_seconds (evaluations excluded)",
            "points": [(p["train_seconds"], p["val_loss"]) for p in result["curve"]],
            "val_loss_full": result.get("final", {}).get("val_loss_full"),
            "config": result["config"],
            "parameters": result["parameters"],
        }
    for curve in curves.values():
        curve["best_by_s"] = {str(int(m)): _best_by(curve["points"], m) for m in MARKS_S}
    result = {"machine": _machine(), "marks_s": MARKS_S, "curves": curves}
    _write(args.name, result)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for label, curve in curves.items():
        seconds, losses = zip(*curve["points"], strict=True)
        axes.plot([t / 60 for t in seconds], losses, marker="o", markersize=3, label=label)
    for mark, goal in zip(MARKS_S, (1.47, 1.40), strict=True):
        axes.axhline(goal, color="grey", linestyle=":", linewidth=1)
        axes.axvline(mark / 60, color="grey", linestyle=":", linewidth=1)
    axes.set(xlabel="minutes of training", ylabel="validation loss (nats/char)", ylim=(1.3, 2.2))
    axes.set_title("tiny Shakespeare: rnnkit LSTM vs nanoGPT, same CPU")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(RESULTS / f"lm_{args.name}.png", dpi=120)


def _torch_baseline(model):
    """The same weights in torch.nn.Embedding / torch.nn.LSTM / torch.nn.Linear."""
    config = model.config
    kinds = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}
    rnn = kinds[config.cell](
        model.rnn.input_size, config.hidden_size, config.num_layers, batch_first=True
    )
    rnn.load_state_dict(model.rnn.state_dict())
    return rnn.eval()


@torch.inference_mode()
def _plain_loop(model, rnn, prime_ids, length, generator) -> None:
    """The seed's way: feed one character at a time through torch.nn.LSTM and sample."""
    logits = None
    state = None
    for token in prime_ids:
        out, state = rnn(model.embed(token.view(1, 1)), state)
        logits = model.head(out[:, -1])
    for _ in range(length):
        token = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)  # (1, 1)
        out, state = rnn(model.embed(token), state)
        logits = model.head(out[:, -1])


def sampling(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import rnnkit
    from rnnkit.tasks.lm import generate

    torch.set_num_threads(args.threads)
    loaded = rnnkit.load(args.run)
    model, vocab = loaded.model, loaded.vocab
    if model.attention is not None:
        raise SystemExit("the torch.nn baseline has no attention; benchmark a run without it")
    rnn = _torch_baseline(model)
    prime = vocab.encode(args.prime)
    times: dict[str, list[float]] = {"rnnkit": [], "torch.nn loop": []}
    for repeat in range(args.repeats + 1):  # the first round warms up
        for name in times:
            started = time.perf_counter()
            if name == "rnnkit":
                for _ in generate(
                    model, vocab, args.prime, args.length, temperature=1.0, seed=repeat
                ):
                    pass
            else:
                _plain_loop(model, rnn, prime, args.length, torch.Generator().manual_seed(repeat))
            if repeat:
                times[name].append(time.perf_counter() - started)
    rates = {name: args.length / statistics.median(t) for name, t in times.items()}
    _write(
        "sampling",
        {
            "run": args.run,
            "machine": _machine(),
            "length": args.length,
            "repeats": args.repeats,
            "chars_per_s": {k: round(v, 1) for k, v in rates.items()},
            "speedup": round(rates["rnnkit"] / rates["torch.nn loop"], 2),
            "seconds": times,
        },
    )


def _recipe_model(config: str, hidden: int | None = None):
    """The recipe's model (``hidden`` units instead of its own, when given) and the recipe."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    try:
        import tomllib
    except ModuleNotFoundError:
        import tomli as tomllib
    from rnnkit.models.lm import CharLM, LMConfig

    recipe = tomllib.loads(Path(config).read_text())
    model = CharLM(
        LMConfig(
            cell=recipe.get("cell", "lstm"),
            hidden_size=hidden or recipe["hidden"],
            num_layers=recipe["layers"],
            dropout=recipe.get("dropout", 0.0),
            embedding_dim=recipe.get("embedding-dim", 0),
        ),
        vocab_size=65,
    )
    return model, recipe


def _train_steps(model, optimizer, x, y, steps: int, bf16: bool) -> float:
    """Seconds for ``steps`` training steps (forward, backward, Adam) on the batch ``x``/``y``."""
    started = time.perf_counter()
    for _ in range(steps):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits, _ = model(x)
            loss = F.cross_entropy(logits.reshape(-1, 65).float(), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def throughput(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    model, recipe = _recipe_model(args.config)
    batch, steps = recipe["batch-size"], recipe["seq-len"]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 65, (batch, steps), generator=generator)
    y = torch.randint(0, 65, (batch, steps), generator=generator)
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for repeat in range(args.repeats + 1):
        for precision in times:
            seconds = _train_steps(model, optimizer, x, y, args.steps, precision == "bf16")
            if repeat:
                times[precision].append(seconds)
    rates = {p: args.steps * batch * steps / statistics.median(t) for p, t in times.items()}
    _write(
        "throughput",
        {
            "config": args.config,
            "machine": _machine(),
            "batch": batch,
            "seq_len": steps,
            "steps_per_repeat": args.steps,
            "repeats": args.repeats,
            "chars_per_s": {k: round(v, 1) for k, v in rates.items()},
            "bf16_over_fp32": round(rates["bf16"] / rates["fp32"], 2),
            "seconds": times,
        },
    )


def shapes(args: argparse.Namespace) -> None:
    """bf16 training throughput of the recipe's model at several batch x seq-len shapes (the
    same characters per step or not), alternating, median of the repeats."""
    torch.set_num_threads(args.threads)
    model, _ = _recipe_model(args.config, args.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    sizes = [tuple(int(n) for n in shape.split("x")) for shape in args.shapes]
    times: dict[str, list[float]] = {shape: [] for shape in args.shapes}
    for repeat in range(args.repeats + 1):
        for shape, (batch, steps) in zip(args.shapes, sizes, strict=True):
            x = torch.randint(0, 65, (batch, steps), generator=generator)
            y = torch.randint(0, 65, (batch, steps), generator=generator)
            seconds = _train_steps(model, optimizer, x, y, args.steps, bf16=True)
            if repeat:
                times[shape].append(seconds)
    rates = {
        shape: args.steps * batch * steps / statistics.median(times[shape])
        for shape, (batch, steps) in zip(args.shapes, sizes, strict=True)
    }
    first = args.shapes[0]
    _write(
        "shapes",
        {
            "config": args.config,
            "hidden": args.hidden,
            "machine": _machine(),
            "steps_per_repeat": args.steps,
            "repeats": args.repeats,
            "chars_per_s": {k: round(v, 1) for k, v in rates.items()},
            f"over_{first}": {k: round(v / rates[first], 2) for k, v in rates.items()},
            "seconds": times,
        },
    )


OPTIMIZER_KINDS = {  # torch.optim.AdamW's three implementations of the same update
    "loop": {"foreach": False, "fused": False},
    "foreach": {"foreach": True},
    "fused": {"fused": True},  # what rnnkit's build_optimizers picks on the CPU
}


def optimizer(args: argparse.Namespace) -> None:
    """The recipe's AdamW update alone (milliseconds a step) and whole bf16 training steps
    (characters/s) with each implementation, alternating, median of the repeats."""
    torch.set_num_threads(args.threads)
    model, recipe = _recipe_model(args.config)
    batch, steps = recipe["batch-size"], recipe["seq-len"]
    decay = recipe.get("weight-decay", 0.0)
    optimizers = {
        kind: torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=decay, **options)
        for kind, options in OPTIMIZER_KINDS.items()
    }
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 65, (batch, steps), generator=generator)
    y = torch.randint(0, 65, (batch, steps), generator=generator)
    update: dict[str, list[float]] = {kind: [] for kind in optimizers}
    training: dict[str, list[float]] = {kind: [] for kind in optimizers}
    for repeat in range(args.repeats + 1):
        for kind, adamw in optimizers.items():
            for p in model.parameters():
                p.grad = torch.randn(p.shape, generator=generator)
            started = time.perf_counter()
            for _ in range(args.updates):
                adamw.step()
            seconds = (time.perf_counter() - started) / args.updates
            trained = _train_steps(model, adamw, x, y, args.steps, bf16=True)
            if repeat:
                update[kind].append(seconds)
                training[kind].append(trained)
    rates = {k: args.steps * batch * steps / statistics.median(t) for k, t in training.items()}
    _write(
        "optimizer",
        {
            "config": args.config,
            "machine": _machine(),
            "parameters": sum(p.numel() for p in model.parameters()),
            "updates_per_repeat": args.updates,
            "steps_per_repeat": args.steps,
            "repeats": args.repeats,
            "update_ms": {k: round(1000 * statistics.median(t), 2) for k, t in update.items()},
            "train_chars_per_s": {k: round(v, 1) for k, v in rates.items()},
            "train_over_loop": {k: round(v / rates["loop"], 3) for k, v in rates.items()},
            "update_seconds": update,
            "train_seconds": training,
        },
    )


def dropout(args: argparse.Namespace) -> None:
    """Dropout on the recipe's (B, T, H) bf16 activations, forward and backward, milliseconds;
    and whole bf16 training steps (fused AdamW), characters/s: ``torch.nn.functional.dropout``
    against rnnkit's (:func:`rnnkit.regularise.dropout`), alternating, median of the repeats."""
    from unittest import mock

    from rnnkit import regularise

    torch.set_num_threads(args.threads)
    model, recipe = _recipe_model(args.config)
    batch, steps, p = recipe["batch-size"], recipe["seq-len"], recipe["dropout"]
    adamw = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 65, (batch, steps), generator=generator)
    y = torch.randint(0, 65, (batch, steps), generator=generator)
    activations = torch.randn(batch, steps, recipe["hidden"], dtype=torch.bfloat16)
    activations.requires_grad_(True)
    candidates = {
        "torch": lambda t, rate, training: F.dropout(t, rate, training),
        "rnnkit": regularise.dropout,
    }
    alone: dict[str, list[float]] = {name: [] for name in candidates}
    training: dict[str, list[float]] = {name: [] for name in candidates}
    for repeat in range(args.repeats + 1):
        for name, function in candidates.items():
            started = time.perf_counter()
            for _ in range(args.calls):
                function(activations, p, True).sum().backward()
            seconds = (time.perf_counter() - started) / args.calls
            with mock.patch.object(regularise, "dropout", function):
                trained = _train_steps(model, adamw, x, y, args.steps, bf16=True)
            if repeat:
                alone[name].append(seconds)
                training[name].append(trained)
    rates = {k: args.steps * batch * steps / statistics.median(t) for k, t in training.items()}
    _write(
        "dropout",
        {
            "config": args.config,
            "machine": _machine(),
            "shape": [batch, steps, recipe["hidden"]],
            "p": p,
            "calls_per_repeat": args.calls,
            "steps_per_repeat": args.steps,
            "repeats": args.repeats,
            "dropout_ms": {k: round(1000 * statistics.median(t), 2) for k, t in alone.items()},
            "train_chars_per_s": {k: round(v, 1) for k, v in rates.items()},
            "train_over_torch": {k: round(v / rates["torch"], 3) for k, v in rates.items()},
            "dropout_seconds": alone,
            "train_seconds": training,
        },
    )


def evalspeed(args: argparse.Namespace) -> None:
    """A run's validation loss read as one stream (batch 1, the state carried) and as parallel
    parts each warmed by the text before it (what training logs), alternating within each
    repeat: the seconds of each, their ratio and the difference of the two losses."""
    from rnnkit.tasks.lm import SPEC, parallel_stream_loss, read_parts, stream_loss

    torch.set_num_threads(args.threads)
    loaded = SPEC.load(args.run)
    ids = loaded.vocab.encode(read_parts(loaded.data)["valid"], what="valid")
    candidates = {
        "one stream": lambda: stream_loss(loaded.model, ids),
        f"{args.streams} streams": lambda: parallel_stream_loss(
            loaded.model, ids, streams=args.streams, warmup=args.warmup
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in candidates}
    losses: dict[str, float] = {}
    for _ in range(args.repeats):
        for name, score in candidates.items():
            started = time.perf_counter()
            losses[name] = score()
            times[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(t) for name, t in times.items()}
    one, parallel = candidates
    _write(
        "evalspeed",
        {
            "run": args.run,
            "machine": _machine(),
            "tokens": len(ids) - 1,
            "streams": args.streams,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "val_loss": losses,
            "difference": losses[parallel] - losses[one],
            "median_seconds": {k: round(v, 3) for k, v in medians.items()},
            "speedup": round(medians[one] / medians[parallel], 2),
            "seconds": times,
        },
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parts = parser.add_subparsers(dest="part", required=True)
    q = parts.add_parser("quality")
    q.add_argument("--run", default="runs/shakespeare")
    s = parts.add_parser("sampling")
    s.add_argument("--run", default="runs/shakespeare")
    s.add_argument("--length", type=int, default=2000)
    s.add_argument("--prime", default="ROMEO:")
    s.add_argument("--repeats", type=int, default=5)
    s.add_argument("--threads", type=int, default=1)
    t = parts.add_parser("throughput")
    t.add_argument("--config", default="recipes/shakespeare.toml")
    t.add_argument("--steps", type=int, default=5)
    t.add_argument("--repeats", type=int, default=5)
    t.add_argument("--threads", type=int, default=2)
    b = parts.add_parser("shapes")
    b.add_argument("--config", default="recipes/shakespeare.toml")
    b.add_argument("--hidden", type=int, default=None, help="units instead of the recipe's")
    b.add_argument("--shapes", nargs="+", default=["32x128", "64x64"], help="BATCHxSEQ_LEN")
    b.add_argument("--steps", type=int, default=3)
    b.add_argument("--repeats", type=int, default=5)
    b.add_argument("--threads", type=int, default=2)
    o = parts.add_parser("optimizer")
    o.add_argument("--config", default="recipes/shakespeare-640.toml")
    o.add_argument("--updates", type=int, default=20)
    o.add_argument("--steps", type=int, default=3)
    o.add_argument("--repeats", type=int, default=5)
    o.add_argument("--threads", type=int, default=2)
    d = parts.add_parser("dropout")
    d.add_argument("--config", default="recipes/shakespeare-640.toml")
    d.add_argument("--calls", type=int, default=10)
    d.add_argument("--steps", type=int, default=3)
    d.add_argument("--repeats", type=int, default=5)
    d.add_argument("--threads", type=int, default=2)
    e = parts.add_parser("evalspeed")
    e.add_argument("--run", default="runs/shakespeare")
    e.add_argument("--streams", type=int, default=32)
    e.add_argument("--warmup", type=int, default=512)
    e.add_argument("--repeats", type=int, default=3)
    e.add_argument("--threads", type=int, default=2)
    v = parts.add_parser("versus")
    v.add_argument(
        "--run", nargs="+", default=["runs/shakespeare"], help="rnnkit lm runs or lm_quality.json"
    )
    v.add_argument("--nanogpt", nargs="+", default=["benchmarks/results/nanogpt.json"])
    v.add_argument("--name", default="versus", help="writes lm_NAME.json and lm_NAME.png")
    args = parser.parse_args(argv)
    parts = {
        "quality": quality,
        "sampling": sampling,
        "throughput": throughput,
        "shapes": shapes,
        "optimizer": optimizer,
        "dropout": dropout,
        "evalspeed": evalspeed,
        "versus": versus,
    }
    parts[args.part](args)


if __name__ == "__main__":
    main()
