"""Run a trained run through its exported ONNX graph in onnxruntime (``--engine onnxruntime``).

Each task's graph is wrapped in an object that answers the calls the task's own evaluation and
generation code makes of its PyTorch model (``model(ids, state)``, ``model(ids, lengths)``,
``model(window)``, the seq2seq ``encode``/``initial_state``/``step``/``logits``), so
``rnnkit evaluate RUN --engine onnxruntime`` scores the graph with exactly the code that scores
the PyTorch model, and ``rnnkit sample RUN --engine onnxruntime`` draws through the same sampler.
Tensors cross into onnxruntime as NumPy arrays and come back as torch tensors.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnnkit.errors import InputError
from rnnkit.models.seq2seq import Memory

ENGINES = ("torch", "onnxruntime")
MEMORY = ("summary", "states", "source_lengths", "keys")  # the encoder outputs a decoder step reads


def check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise InputError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")


class Graph:
    """One ONNX graph in an onnxruntime session: ``graph(name=tensor, ...) -> [tensor, ...]`` in
    the graph's output order. Inputs left out take their defaults."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: shape-inference notes are not for users
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.output_names = [output.name for output in self.session.get_outputs()]

    def __call__(self, **inputs: Tensor) -> list[Tensor]:
        feeds = {name: value.detach().cpu().numpy() for name, value in inputs.items()}
        return [torch.from_numpy(array) for array in self.session.run(None, feeds)]


class _Inference:
    """What evaluation code asks of a model besides calling it: it is always in eval mode."""

    training = False

    def eval(self):
        return self

    def train(self, mode: bool = True):
        return self


class OnnxLM(_Inference):
    """``model(ids (B, T), state) -> (logits (B, T, V), state)``; ``state`` is the graph's own
    tuple of state tensors (None: fresh)."""

    def __init__(self, directory: Path, sidecar: dict, threads: int | None = None) -> None:
        self.graph = Graph(directory / sidecar["graphs"]["model"], threads)
        self.state_names = [spec["name"] for spec in sidecar["inputs"][1:]]
        self.vocab_size = sidecar["outputs"][0]["shape"][-1]

    def __call__(self, ids: Tensor, state: tuple[Tensor, ...] | None = None):
        feeds = dict(zip(self.state_names, state)) if state is not None else {}
        logits, *state = self.graph(ids=ids.to(torch.long), **feeds)
        return logits, tuple(state)

    def stepper(self, batch: int = 1, precision: str = "fp32") -> OnnxLMStepper:
        """Generation's inner loop through the graph (the same calls as
        :class:`rnnkit.models.lm.LMStepper`)."""
        if precision != "fp32":
            raise InputError(f"--precision {precision} needs --engine torch")
        return OnnxLMStepper(self)


class OnnxLMStepper:
    """``read(ids (B, T))`` and ``step(ids (B,))`` -> the next logits (B, V), state carried."""

    def __init__(self, model: OnnxLM) -> None:
        self.model = model
        self.state = None

    def read(self, ids: Tensor) -> Tensor:
        logits, self.state = self.model(ids, self.state)
        return logits[:, -1]

    def step(self, ids: Tensor) -> Tensor:
        return self.read(ids.unsqueeze(1))


class OnnxClassifier(_Inference):
    """``model(ids (B, T), lengths (B,)) -> logits (B, C)``; audio: ``model(frames (B, T, F),
    lengths)``."""

    def __init__(self, directory: Path, sidecar: dict, threads: int | None = None) -> None:
        self.graph = Graph(directory / sidecar["graphs"]["model"], threads)
        self.num_classes = sidecar["outputs"][0]["shape"][-1]
        self.audio = sidecar["inputs"][0]["name"] == "frames"
        self.config = None

    def __call__(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        lengths = lengths.to(torch.long)
        if self.audio:
            return self.graph(frames=inputs.to(torch.float32), lengths=lengths)[0]
        return self.graph(ids=inputs.to(torch.long), lengths=lengths)[0]


class OnnxForecaster(_Inference):
    """``model(window (B, L, Cin)) -> forecast (B, H, Cout)``, scaled units."""

    def __init__(self, directory: Path, sidecar: dict, threads: int | None = None) -> None:
        self.graph = Graph(directory / sidecar["graphs"]["model"], threads)

    def __call__(self, window: Tensor) -> Tensor:
        return self.graph(window=window.float())[0]


@dataclass
class OnnxMemory(Memory):
    """The encoder graph's outputs: :class:`Memory` plus the source lengths and the decoder's
    first state, repeated with the rest for beam search."""

    lengths: Tensor | None = None  # (B,)
    first: tuple[Tensor, ...] = ()  # the decoder's first state, each (B, H)

    def repeat(self, times: int) -> OnnxMemory:
        base = super().repeat(times)
        return OnnxMemory(
            **{f.name: getattr(base, f.name) for f in fields(Memory)},
            lengths=self.lengths.repeat_interleave(times, dim=0),
            first=tuple(s.repeat_interleave(times, dim=0) for s in self.first),
        )


class OnnxSeq2Seq(_Inference):
    """The seq2seq calls of greedy and beam search, teacher-forced scoring included. A decoder
    step returns the logits where the PyTorch model returns h~, and :meth:`logits` passes them
    on; the state is the graph's own tuple (h[, c], feed)."""

    def __init__(self, directory: Path, sidecar: dict, threads: int | None = None) -> None:
        self.encoder = Graph(directory / sidecar["graphs"]["encoder"], threads)
        self.decoder = Graph(directory / sidecar["graphs"]["decoder"], threads)
        self.encoder_outputs = [spec["name"] for spec in sidecar["encoder"]["outputs"]]
        decoder_inputs = [spec["name"] for spec in sidecar["decoder"]["inputs"]]
        self.state_names = [name for name in decoder_inputs if name in ("h", "c", "feed")]
        self.memory_names = [name for name in decoder_inputs if name in MEMORY]
        self.attention = "keys" in decoder_inputs
        self.tgt_vocab_size = sidecar["decoder"]["outputs"][0]["shape"][-1]

    def encode(self, source: Tensor, source_lengths: Tensor) -> OnnxMemory:
        outputs = dict(
            zip(
                self.encoder_outputs, self.encoder(source_ids=source, source_lengths=source_lengths)
            )
        )
        mask = torch.arange(source.shape[1]).unsqueeze(0) < source_lengths.unsqueeze(1)
        return OnnxMemory(
            outputs["states"],
            mask,
            outputs["summary"],
            outputs.get("keys"),
            lengths=source_lengths.to(torch.long),
            first=tuple(outputs[name] for name in self.state_names),
        )

    def initial_state(self, memory: OnnxMemory) -> tuple[Tensor, ...]:
        return memory.first

    def step(self, tokens: Tensor, state: tuple[Tensor, ...], memory: OnnxMemory):
        feeds = dict(zip(self.state_names, state))
        encoded = {"summary": memory.summary, "states": memory.states, "keys": memory.keys}
        encoded["source_lengths"] = memory.lengths
        feeds.update({name: encoded[name] for name in self.memory_names})
        logits, *rest = self.decoder(tokens=tokens.to(torch.long), **feeds)
        state = tuple(rest[: len(self.state_names)])
        weights = rest[len(self.state_names)] if self.attention else None
        return logits, state, weights

    def logits(self, step_output: Tensor) -> Tensor:
        return step_output

    def decoder_stepper(self, memory: OnnxMemory) -> OnnxDecoderStepper:
        return OnnxDecoderStepper(self, memory)

    def __call__(self, source: Tensor, source_lengths: Tensor, target_in: Tensor) -> Tensor:
        """Teacher-forced logits (B, T, V) for ``target_in`` (B, T)."""
        memory = self.encode(source, source_lengths)
        state, logits = self.initial_state(memory), []
        for t in range(target_in.shape[1]):
            step_logits, state, _ = self.step(target_in[:, t], state, memory)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)


class OnnxDecoderStepper:
    """``step(tokens (B,)) -> (logits (B, V), weights (B, S) or None)``, the state carried (the
    calls of :class:`rnnkit.models.seq2seq.DecoderStepper`)."""

    def __init__(self, model: OnnxSeq2Seq, memory: OnnxMemory) -> None:
        self.model, self.memory = model, memory
        self.state = model.initial_state(memory)

    def step(self, tokens: Tensor) -> tuple[Tensor, Tensor | None]:
        logits, self.state, weights = self.model.step(tokens, self.state, self.memory)
        return logits, weights


ADAPTERS = {
    "lm": OnnxLM,
    "classify": OnnxClassifier,
    "forecast": OnnxForecaster,
    "translate": OnnxSeq2Seq,
}


def through_onnxruntime(loaded: Any, run: str | Path, task: str, threads: int | None = None):
    """``loaded`` (a run loaded by its task) with its model replaced by the run's graph, exported
    now to a temporary folder and run in onnxruntime."""
    from rnnkit.onnx_export import export_onnx

    with tempfile.TemporaryDirectory(prefix="rnnkit-onnx-") as folder:
        out = Path(folder) / "model.onnx"
        sidecar = export_onnx(run, loaded, task, out)
        model = ADAPTERS[task](out.parent, sidecar, threads)  # the sessions hold the graphs
    if task == "translate":
        loaded.translator.model = model
    else:
        loaded.model = model
    return loaded
