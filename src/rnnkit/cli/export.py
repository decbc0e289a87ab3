"""``rnnkit export RUN --format onnx --out model.onnx``: a run's model as a graph that runs without
rnnkit or torch (:mod:`rnnkit.onnx_export`)."""

from __future__ import annotations

import argparse
import logging

from rnnkit.cli import add_threads, set_threads


def add_commands(commands) -> None:
    export = commands.add_parser(
        "export",
        help="export a run's model to ONNX",
        description="Write the run's best weights as an ONNX graph, a sidecar OUT.json (inputs, "
        "outputs, shapes, scaler, rnnkit version) and the vocabulary, tokenizer or scaler files "
        "beside it. Translation runs give two graphs: OUT (the encoder) and OUT's .decoder.onnx.",
    )
    export.add_argument("run", help="a run directory (the --out of rnnkit train)")
    export.add_argument("--format", default="onnx", help="onnx (the only format)")
    export.add_argument("--out", required=True, help="the graph's file name, ending in .onnx")
    add_threads(export)
    export.set_defaults(handler=export_command)


def export_command(args: argparse.Namespace) -> int:
    from rnnkit import api

    set_threads(args.threads)
    sidecar = api.export(args.run, args.out, args.format)
    graphs = ", ".join(sidecar["graphs"].values())
    logging.getLogger("rnnkit").info(
        "rnnkit: %s run %s -> %s (+ %s.json)", sidecar["task"], args.run, graphs, args.out
    )
    return 0
