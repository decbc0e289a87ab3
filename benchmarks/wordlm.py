"""Word-level language-model benchmark (issue 11, Ex 7.2): the Multi30k target against Kneser-Ney.

    # the target: recipes/multi30k-en.toml (an LSTM, 15 minutes), trained and evaluated per seed
    python benchmarks/wordlm.py target --seeds 0 1

    # rewrite benchmarks/results/wordlm.md from benchmarks/results/wordlm.json
    python benchmarks/wordlm.py report

The target: the best LSTM's test perplexity on Multi30k's English test 2016 is at least 25%
below the interpolated Kneser-Ney trigram's, scored on the same tokens with the same vocabulary
(``rnnkit evaluate`` computes both), after at most 15 minutes of training. Runs go to
``runs/bench-wordlm/NAME-sSEED``; a finished run (eval.json) is not trained again and an
interrupted one resumes, so the command can be run again until it is done. The RNN-LSTM-GRU
comparison over layers and hidden sizes is ``studies/ex7_2.toml`` (``rnnkit study run``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runs import ROOT, load, machine, train_and_evaluate, update  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
RUNS = ROOT / "runs" / "bench-wordlm"
RECIPE = "recipes/multi30k-en.toml"
TARGET = {"below_kneser_ney": 0.25, "minutes": 15}


def record(name: str, seed: int, arguments: list[str], threads: int) -> dict:
    """One run's numbers: test perplexity beside its baselines, time and throughput."""
    done = train_and_evaluate(
        "lm", RUNS / f"{name}-s{seed}", [*arguments, "--seed", str(seed)], threads
    )
    result = done["eval"]
    kneser_ney = result["baselines"]["kneser_ney"]["perplexity"]
    return {
        "seed": seed,
        "run": done["run"],
        "command": done["command"],
        "test_perplexity": result["perplexity"],
        "valid_perplexity": result["valid"]["perplexity"],
        "kneser_ney_perplexity": kneser_ney,
        "unigram_perplexity": result["baselines"]["unigram"]["perplexity"],
        "ratio_to_kneser_ney": result["perplexity"] / kneser_ney,
        "test_tokens": result["tokens"],
        "unknown_rate": result["unknown_rate"],
        "best_step": done["best"]["step"],
        "steps": done["last"]["step"],
        "train_seconds": done["last"]["elapsed_s"],
        "tokens_per_s": statistics.median(r["items_per_s"] for r in [done["best"], done["last"]]),
        "parameters": done["parameters"],
    }


def target(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    arguments = ["--config", str(ROOT / RECIPE), *args.extra]
    for seed in args.seeds:
        done = record(args.name, seed, arguments, args.threads)

        def add(results: dict, done: dict = done) -> None:  # one record per run (name, seed)
            results["machine"] = machine(args.threads)
            runs = results.setdefault("target", {"recipe": RECIPE, "runs": []})["runs"]
            runs[:] = [r for r in runs if r["run"] != done["run"]]
            runs.append(done)

        update(RESULTS / "wordlm.json", add)
    report()


def report(args: argparse.Namespace | None = None) -> str:
    """Write benchmarks/results/wordlm.md from wordlm.json; return its text."""
    results = load(RESULTS / "wordlm.json")
    runs = results.get("target", {}).get("runs", [])
    lines = ["## Word-level language model (Multi30k English, test 2016)", ""]
    info = results.get("machine", {})
    lines.append(
        f"Measured {info.get('date', '?')}, torch {info.get('torch', '?')}, "
        f"{info.get('threads', '?')} torch thread(s) on a shared 2-core CPU. Perplexities are "
        "per word (with <eos>) on the 14,058 test tokens; the baselines are fitted on the same "
        "409,204 training tokens with the same vocabulary."
    )
    lines += [
        "",
        "```",
        *sorted(set(invocation(r) for r in runs)),
        "```",
        "",
    ]
    if not runs:
        lines.append("No runs yet.")
    else:
        lines += ["Each run trains as", "", "```"]
        lines += [r["command"] for r in runs]
        lines += [
            "```",
            "",
            "| run | seed | test ppl | valid ppl | KN-3 ppl | unigram ppl | test / KN | steps | "
            "train s | tokens/s | parameters |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in runs:
            lines.append(
                f"| {r['run'].rsplit('/', 1)[-1]} | {r['seed']} | {r['test_perplexity']:.2f} | "
                f"{r['valid_perplexity']:.2f} | "
                f"{r['kneser_ney_perplexity']:.2f} | {r['unigram_perplexity']:.1f} | "
                f"{r['ratio_to_kneser_ney']:.3f} | {r['steps']} | {r['train_seconds']:.0f} | "
                f"{r['tokens_per_s']:,.0f} | {r['parameters']:,} |"
            )
        best = min(runs, key=lambda r: r["test_perplexity"])
        goal = 1 - TARGET["below_kneser_ney"]
        minutes = best["train_seconds"] / 60
        met = best["ratio_to_kneser_ney"] <= goal and minutes <= TARGET["minutes"] + 0.5
        lines += [
            "",
            f"Target (test perplexity <= {goal:.2f} x Kneser-Ney within {TARGET['minutes']} "
            f"minutes): {'met' if met else 'not met'}; best {best['test_perplexity']:.2f} = "
            f"{best['ratio_to_kneser_ney']:.3f} x {best['kneser_ney_perplexity']:.2f} after "
            f"{minutes:.1f} minutes.",
        ]
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "wordlm.md").write_text(text)
    print(text)
    return text


def invocation(run: dict) -> str:
    """The benchmark command that trained a run: its name, seed, threads and the options over
    the recipe's (between ``--config RECIPE`` and ``--seed`` in the run's command)."""
    words = run["command"].split()  # rnnkit train lm [--config RECIPE] OPTIONS --seed ...
    start = words.index("--config") + 2 if "--config" in words else 3
    extra = words[start : words.index("--seed")]
    threads = words[words.index("--threads") + 1]
    name = run["run"].rsplit("/", 1)[-1].rsplit("-s", 1)[0]
    command = f"python benchmarks/wordlm.py target --seeds {run['seed']} --threads {threads}"
    if name != "multi30k-en":
        command += f" --name {name}"
    return command + (" -- " + " ".join(extra) if extra else "")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_target = commands.add_parser("target", help="train and evaluate the recipe per seed")
    run_target.add_argument("--seeds", type=int, nargs="+", default=[0])
    run_target.add_argument("--threads", type=int, default=2)
    run_target.add_argument("--name", default="multi30k-en", help="runs/bench-wordlm/NAME-sSEED")
    run_target.add_argument("extra", nargs="*", help="options over the recipe's (after --)")
    run_target.set_defaults(handler=target)
    commands.add_parser("report", help="rewrite wordlm.md").set_defaults(handler=report)
    args = parser.parse_args(argv)
    args.handler(args)


if __name__ == "__main__":
    main()
