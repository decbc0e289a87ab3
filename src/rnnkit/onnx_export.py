"""Export a trained run to ONNX: ``rnnkit export RUN --format onnx --out model.onnx``.

What is exported, per task (``B`` batch, ``T`` steps; every batch and time size is dynamic):

- ``lm``: ``ids`` (B, T) int64 -> ``logits`` (B, T, V), ``h_n`` (L, B, H) [, ``c_n`` for an
  LSTM] [, ``memory_out`` (B, M, H) with attention]. The state inputs ``h_0`` [, ``c_0``]
  [, ``memory`` (B, M, H)] are optional: left out, they default to a fresh state (zeros; an empty
  memory), which is also what zeros fed in mean. Feeding each call the state the last one
  returned generates step by step.
- ``classify``: ``ids`` (B, T) int64, ``lengths`` (B,) int64 -> ``logits`` (B, C). A run trained
  with ``--char-ngrams`` reads ``ids`` (B, T, W): each token's id, then its character n-grams'
  buckets padded with 0 (the sidecar's ``char_ngrams`` says how they are made). A run trained
  on audio reads ``frames`` (B, T, F) float32 in place of ``ids``: the clips' features, computed as
  the sidecar's ``audio`` options say (:mod:`rnnkit.data.features`); with ``test_speeds`` among
  them, rnnkit's prediction is the mean of the softmax over a copy of the clip at each speed.
- ``forecast``: ``window`` (B, L, C_in) float32 in the scaled units -> ``forecast`` (B, H, C_out)
  in the same units (the sidecar holds the scaler).
- ``translate``: two graphs. ``model.onnx``, the encoder: ``source_ids`` (B, S) int64,
  ``source_lengths`` (B,) -> ``states`` (B, S, H), ``summary`` (B, H), the decoder's first state
  ``h`` (B, H) [, ``c``] and ``feed`` (B, H) = 0 [, ``keys`` (B, S, D') with attention]. And
  ``model.decoder.onnx``, one decoder step: ``tokens`` (B,) int64, the state ``h`` [, ``c``],
  ``feed``, and the encoder's outputs -> ``logits`` (B, V), the next ``h`` [, ``c``], ``feed``
  [, ``weights`` (B, S) with attention].

The recurrent layers become ONNX's own ``RNN``/``LSTM``/``GRU`` operators, one node per layer
(both directions in one), with ``sequence_lens`` for padded batches. They compute what rnnkit's
layers compute, packed semantics included (outputs past a row's length are zero, the final state
is the state at the row's last step, the reverse direction starts there), and
``GRU(reset_after=False)`` is ONNX's ``linear_before_reset=0``, so every cell exports as one
operator whatever backend trained it. Gate order differs (ONNX: LSTM i, o, f, c; GRU z, r, h) and
is rearranged in the graph's constant weights.

The exporter is torch's TorchScript-based one (``dynamo=False``): the layers reach it as one custom
op, ``rnnkit::recurrent``, whose ONNX symbolic emits those operators. ``torch.export`` (the
``dynamo=True`` exporter) cannot express a packed, variable-length batch and takes seconds per
graph; this path takes a fraction of a second.

Beside the graph, ``model.onnx.json`` (the sidecar) holds what a user needs without rnnkit: the
inputs and outputs with their shapes, the vocabulary or tokenizer files (copied next to the
graph), the scaler, and the rnnkit version.
"""

from __future__ import annotations

import copy
import io
import shutil
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.cells import LayerNormLSTMCell
from rnnkit.data import ngrams
from rnnkit.errors import InputError
from rnnkit.io import write_json
from rnnkit.layers import GRU, LSTM, RNN, LayerNormLSTM

OPSET = 17
FORMATS = ("onnx",)
LAYERS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
# ONNX gate blocks as indices into torch.nn's: LSTM i,o,f,c <- i,f,g,o; GRU z,r,h <- r,z,n
GATE_ORDER = {"rnn": [0], "lstm": [0, 3, 1, 2], "gru": [1, 0, 2]}


def require_onnx() -> None:
    """Raise InputError when onnx or onnxruntime is missing."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise InputError(
            "ONNX export needs the onnx and onnxruntime packages: pip install 'rnnkit[export]'"
        ) from None


# --- the recurrent layer as one custom op ---------------------------------------------------------
def cell_name(layer: nn.Module) -> str:
    return {RNN: "rnn", LSTM: "lstm", GRU: "gru"}[type(layer)]


@torch.library.custom_op("rnnkit::recurrent", mutates_args=())
def recurrent(
    x: Tensor,
    lengths: Tensor,
    h0: Tensor,
    c0: Tensor,
    weights: list[Tensor],
    cell: str,
    num_layers: int,
    bidirectional: bool,
    nonlinearity: str,
    reset_after: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """An rnnkit layer on time-major ``x`` (T, B, I) with ``lengths`` (B,) and state (L*D, B, H):
    returns output (T, B, D*H), h_n and c_n (a copy of h_n for RNN and GRU). Only the exporter
    calls it; torch runs it with a layer rebuilt from ``weights``."""
    extra = {"rnn": {"nonlinearity": nonlinearity}, "gru": {"reset_after": reset_after}}
    layer = LAYERS[cell](
        x.shape[-1],
        h0.shape[-1],
        num_layers,
        bias=len(weights) == 4 * num_layers * (2 if bidirectional else 1),
        bidirectional=bidirectional,
        **extra.get(cell, {}),
    )
    names = [name for group in layer._weight_names for name in group]
    for name, weight in zip(names, weights, strict=True):
        layer._parameters[name] = nn.Parameter(weight, requires_grad=False)
    hx = (h0, c0) if cell == "lstm" else h0
    output, state = layer(x, hx, lengths=lengths)
    h_n, c_n = state if cell == "lstm" else (state, state)
    return output.clone(), h_n.clone(), c_n.clone()


def _recurrent_symbolic(
    g, x, lengths, h0, c0, weights, cell, num_layers, bidirectional, nonlinearity, reset_after
):
    """ONNX nodes for :func:`recurrent`: one RNN/LSTM/GRU operator per layer."""
    from torch.onnx import symbolic_helper as helper

    cell = helper._maybe_get_const(cell, "s")
    num_layers = helper._maybe_get_const(num_layers, "i")
    bidirectional = bool(helper._maybe_get_const(bidirectional, "b"))
    nonlinearity = helper._maybe_get_const(nonlinearity, "s")
    reset_after = bool(helper._maybe_get_const(reset_after, "b"))
    flat = helper._unpack_list(weights)
    directions = 2 if bidirectional else 1
    per_direction = len(flat) // (num_layers * directions)  # 4 with biases, 2 without
    order = g.op("Constant", value_t=torch.tensor(GATE_ORDER[cell]))
    gates = len(GATE_ORDER[cell])

    def const(values):
        return g.op("Constant", value_t=torch.tensor(values))

    def reorder(weight):
        """(G*H, X) or (G*H,) in torch's gate order -> (1, G*H, X) or (1, G*H) in ONNX's."""
        blocks = g.op("Reshape", weight, const([gates, -1]))  # (G, H*X)
        blocks = g.op("Gather", blocks, order, axis_i=0)
        shape = g.op("Shape", weight)
        return g.op("Unsqueeze", g.op("Reshape", blocks, shape), const([0]))

    lengths32 = g.op("Cast", lengths, to_i=6)  # int32, as ONNX's sequence_lens wants
    hidden = None
    layer_input, finals_h, finals_c = x, [], []
    for layer in range(num_layers):
        w, r, b = [], [], []
        for direction in range(directions):
            group = flat[(layer * directions + direction) * per_direction :][:per_direction]
            w.append(reorder(group[0]))
            r.append(reorder(group[1]))
            if per_direction == 4:
                b.append(g.op("Concat", reorder(group[2]), reorder(group[3]), axis_i=1))
        W = g.op("Concat", *w, axis_i=0)  # (D, G*H, I)
        R = g.op("Concat", *r, axis_i=0)  # (D, G*H, H)
        if hidden is None:
            hidden = helper._get_tensor_sizes(flat[1])[1]
        B = g.op("Concat", *b, axis_i=0) if b else None  # (D, 2*G*H)
        if B is None:
            zeros = g.op("ConstantOfShape", const([directions, 2 * gates * hidden]))
            B = g.op("Cast", zeros, to_i=1)
        start = const([layer * directions])
        end = const([(layer + 1) * directions])
        h_init = g.op("Slice", h0, start, end, const([0]))  # (D, B, H)
        attributes = {
            "hidden_size_i": hidden,
            "direction_s": "bidirectional" if bidirectional else "forward",
        }
        inputs = [layer_input, W, R, B, lengths32, h_init]
        if cell == "lstm":
            inputs.append(g.op("Slice", c0, start, end, const([0])))
            y, y_h, y_c = g.op("LSTM", *inputs, outputs=3, **attributes)
            finals_c.append(y_c)
        elif cell == "gru":
            y, y_h = g.op(
                "GRU", *inputs, linear_before_reset_i=int(reset_after), outputs=2, **attributes
            )
        else:
            activation = "Tanh" if nonlinearity == "tanh" else "Relu"
            y, y_h = g.op(
                "RNN", *inputs, activations_s=[activation] * directions, outputs=2, **attributes
            )
        finals_h.append(y_h)
        y = g.op("Transpose", y, perm_i=[0, 2, 1, 3])  # (T, D, B, H) -> (T, B, D, H)
        layer_input = g.op("Reshape", y, const([0, 0, -1]))  # (T, B, D*H)
    h_n = g.op("Concat", *finals_h, axis_i=0)  # (L*D, B, H)
    c_n = g.op("Concat", *finals_c, axis_i=0) if finals_c else g.op("Identity", h_n)
    return layer_input, h_n, c_n


torch.onnx.register_custom_op_symbolic("rnnkit::recurrent", _recurrent_symbolic, OPSET)


class ExportedLayer(nn.Module):
    """Stands in for an rnnkit layer while exporting: the same ``forward(input, hx, lengths)``,
    computed by :func:`recurrent` (one ONNX operator per layer in the graph)."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer
        self.cell = cell_name(layer)

    def forward(self, input: Tensor, hx=None, lengths: Tensor | None = None):
        layer = self.layer
        x = input.transpose(0, 1) if layer.batch_first else input  # (T, B, I)
        ones = torch.ones_like(x[:, :, 0], dtype=torch.long)  # (T, B)
        if lengths is None:
            lengths = ones.sum(0)  # (B,): every row is full
        if hx is None:
            zeros = torch.zeros_like(ones[0], dtype=x.dtype)  # (B,)
            rows = layer.num_layers * layer.num_directions
            h0 = zeros.view(1, -1, 1).expand(rows, -1, layer.hidden_size)  # (L*D, B, H)
            hx = (h0, h0) if self.cell == "lstm" else h0
        h0, c0 = hx if self.cell == "lstm" else (hx, hx)
        output, h_n, c_n = recurrent(
            x,
            lengths.to(torch.long),
            h0,
            c0,
            layer._flat_weights(),
            self.cell,
            layer.num_layers,
            layer.bidirectional,
            getattr(layer, "nonlinearity", "tanh"),
            getattr(layer, "reset_after", True),
        )
        if layer.batch_first:
            output = output.transpose(0, 1)
        return output, ((h_n, c_n) if self.cell == "lstm" else h_n)


def _not_exportable(module: nn.Module) -> str | None:
    """Why ONNX's RNN/LSTM/GRU operators cannot compute ``module``, or None."""
    if isinstance(module, (LayerNormLSTM, LayerNormLSTMCell)):
        return "normalises inside the recurrence (--cell lnlstm), which ONNX's LSTM cannot"
    if any(getattr(module, "zoneout_rates", lambda: ())()):
        return "mixes states across steps (--zoneout), which ONNX's operators cannot"
    return None


def exportable(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode whose rnnkit layers are :class:`ExportedLayer`\\ s."""
    for name, module in model.named_modules():
        refusal = _not_exportable(module)
        if refusal:
            raise InputError(f"no ONNX export for this model: {name or 'the model'} {refusal}")
    model = copy.deepcopy(model).eval()
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) in (RNN, LSTM, GRU):
                setattr(module, name, ExportedLayer(child))
    return model


# --- the graphs, one wrapper per task ----------------------------------------------------------
class LMGraph(nn.Module):
    """``(ids, h_0[, c_0][, memory]) -> (logits, h_n[, c_n][, memory_out])``; the state inputs
    may have batch 1 (they are broadcast), which is how the defaults stand in for them."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = exportable(model)
        self.lstm = model.config.cell == "lstm"
        self.attention = model.attention is not None

    def forward(self, ids: Tensor, *state: Tensor):
        batch = ids.shape[0]
        states = [s.expand(s.shape[0], batch, s.shape[2]) for s in state[: 1 + self.lstm]]
        rnn_state = tuple(states) if self.lstm else states[0]
        memory = None
        if self.attention:
            memory = state[-1]
            memory = memory.expand(batch, memory.shape[1], memory.shape[2])  # (B, M, H)
        logits, (rnn_state, memory) = self.model(ids, (rnn_state, memory))
        outputs = [logits, *(rnn_state if self.lstm else (rnn_state,))]
        return tuple(outputs + ([memory] if self.attention else []))


class ClassifierGraph(nn.Module):
    """``(ids, lengths) -> logits``, or ``(frames, lengths) -> logits`` for audio."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = exportable(model)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        return self.model(ids, lengths)  # (B, C)


class ForecasterGraph(nn.Module):
    """``window -> forecast``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = exportable(model)

    def forward(self, window: Tensor) -> Tensor:
        return self.model(window)  # (B, H, Cout)


class EncoderGraph(nn.Module):
    """``(source_ids, source_lengths) -> (states, summary, h[, c], feed[, keys])``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = exportable(model)

    def forward(self, source: Tensor, source_lengths: Tensor):
        memory = self.model.encode(source, source_lengths)
        rnn_state, feed = self.model.initial_state(memory)
        rnn_state = tuple(rnn_state) if isinstance(rnn_state, tuple) else (rnn_state,)
        keys = () if memory.keys is None else (memory.keys,)
        return (memory.states, memory.summary, *rnn_state, feed, *keys)


class DecoderGraph(nn.Module):
    """One decoder step: ``(tokens, h[, c], feed, summary[, states, source_lengths, keys]) ->
    (logits, h[, c], feed[, weights])``; the encoder's states enter only with attention."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = exportable(model)
        self.lstm = model.num_states == 2
        self.attention = model.attention is not None

    def forward(self, tokens: Tensor, *inputs: Tensor):
        from rnnkit.attention import lengths_to_mask
        from rnnkit.models.seq2seq import Memory

        count = 2 if self.lstm else 1
        rnn_state = tuple(inputs[:count]) if self.lstm else inputs[0]
        feed, summary = inputs[count : count + 2]
        if self.attention:
            states, source_lengths, keys = inputs[count + 2 :]
            mask = lengths_to_mask(source_lengths, states.shape[1])  # (B, S)
        else:  # the context is the summary: nothing else of the encoder is read
            states, mask, keys = summary.unsqueeze(1), None, None
        memory = Memory(states, mask, summary, keys)
        attentional, (rnn_state, feed), weights = self.model.step(tokens, (rnn_state, feed), memory)
        logits = self.model.logits(attentional)  # (B, V)
        rnn_state = rnn_state if self.lstm else (rnn_state,)
        return (logits, *rnn_state, feed, *(() if weights is None else (weights,)))


# --- export ---------------------------------------------------------------------------------------
def _io(name: str, dtype: str, shape: list, doc: str = "") -> dict:
    return {"name": name, "dtype": dtype, "shape": shape, **({"doc": doc} if doc else {})}


def _export_graph(
    module: nn.Module,
    args: tuple[Tensor, ...],
    inputs: list[dict],
    outputs: list[dict],
    path: Path,
    optional: dict[str, Tensor] | None = None,
) -> None:
    """Trace ``module`` on ``args`` and write the ONNX graph to ``path``; every symbolic dimension
    (a string in a shape) is dynamic. ``optional`` maps an input name to its default value.
    Inputs the graph does not read are removed from ``inputs``."""
    import onnx

    dynamic = {
        spec["name"]: {
            axis: size for axis, size in enumerate(spec["shape"]) if isinstance(size, str)
        }
        for spec in inputs + outputs
    }
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings: the tests check parity
        torch.onnx.export(
            module,
            args,
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=[spec["name"] for spec in inputs],
            output_names=[spec["name"] for spec in outputs],
            dynamic_axes=dynamic,
            do_constant_folding=True,
        )
    graph = onnx.load_from_string(buffer.getvalue())
    kept = {value.name for value in graph.graph.input}
    inputs[:] = [spec for spec in inputs if spec["name"] in kept]  # the tracer drops unused ones
    for name, default in (optional or {}).items():
        # an initializer named like an input is that input's default (ONNX IR >= 4)
        graph.graph.initializer.append(onnx.numpy_helper.from_array(default.numpy(), name))
    onnx.checker.check_model(graph)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(graph, str(path))


def export_onnx(run: str | Path, loaded: Any, task: str, out: str | Path) -> dict:
    """Write the model of ``run`` (``loaded`` by its task) to ``out``, the vocabulary, tokenizer
    or scaler files beside it, and the sidecar ``out + ".json"``; return the sidecar."""
    from rnnkit import __version__

    require_onnx()
    out = Path(out)
    if out.suffix != ".onnx":
        raise InputError(f"--out {out}: expected a file name ending in .onnx")
    if task not in GRAPHS:
        raise InputError(f"no ONNX export for task {task!r}")
    if out.parent.exists() and not out.parent.is_dir():
        raise InputError(f"--out {out}: {out.parent} is not a directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    sidecar = {
        "format": "onnx",
        "opset": OPSET,
        "task": task,
        "rnnkit_version": __version__,
        "torch_version": torch.__version__.split("+")[0],
        **export_model(task, loaded.model, out),
        **ARTIFACTS[task](Path(run), loaded, out),
    }
    write_json(f"{out}.json", sidecar)
    return sidecar


def export_model(task: str, model: nn.Module, out: str | Path) -> dict:
    """Write ``model`` (a ``task`` model) as ONNX to ``out`` (and, for translation, the decoder
    beside it); return the sidecar's graph part: graph files, inputs and outputs."""
    return GRAPHS[task](model, Path(out))


def _copy_beside(out: Path, source: Path, name: str) -> str:
    """Copy a run's artifact next to the graph as ``<stem>.<name>``; return the new file's name."""
    target = out.with_name(f"{out.stem}.{name}")
    shutil.copyfile(source, target)
    return target.name


def _lm_graph(model: nn.Module, out: Path) -> dict:
    layers, hidden = model.config.num_layers, model.config.hidden_size
    lstm, attention = model.config.cell == "lstm", model.attention is not None
    state_names = ["h_0", "c_0"] if lstm else ["h_0"]
    inputs = [_io("ids", "int64", ["batch", "steps"], "character ids (the vocabulary file)")]
    outputs = [_io("logits", "float32", ["batch", "steps", model.vocab_size])]
    optional = {}
    for name in state_names:
        doc = "recurrent state; optional: left out, a fresh state (zeros)"
        inputs.append(_io(name, "float32", [layers, "batch", hidden], doc))
        outputs.append(_io(name.replace("_0", "_n"), "float32", [layers, "batch", hidden]))
        optional[name] = torch.zeros(layers, 1, hidden)
    example = [torch.zeros(2, 3, dtype=torch.long)]
    example += [torch.zeros(layers, 2, hidden)] * len(state_names)
    if attention:
        doc = "the last attention-window - 1 hidden states; optional: left out, none"
        inputs.append(_io("memory", "float32", ["batch", "memory", hidden], doc))
        outputs.append(_io("memory_out", "float32", ["batch", "memory_out", hidden]))
        optional["memory"] = torch.zeros(1, 0, hidden)
        example.append(torch.zeros(2, 2, hidden))
    _export_graph(LMGraph(model), tuple(example), inputs, outputs, out, optional)
    return {"graphs": {"model": out.name}, "inputs": inputs, "outputs": outputs}


def _lm_artifacts(run: Path, loaded, out: Path) -> dict:
    vocab = loaded.vocab
    if vocab.level == "char":
        tokens = {"level": "char", "chars": vocab.chars}
    else:  # words: the tokenizer, <eos> ends a line, <pad> and <unk> are never sampled
        tokens = {"level": vocab.level, "tokens": vocab.tokens, **vocab.tokenizer.to_dict()}
    return {
        "files": {"vocab": _copy_beside(out, run / "vocab.json", "vocab.json")},
        "vocab": {**tokens, "never_sampled": list(vocab.never_sampled)},
        "usage": "feed ids (B, T); sample the next id from softmax(logits[:, -1]); feed it with "
        "the returned state as the next call's state inputs",
    }


def _classifier_graph(model: nn.Module, out: Path) -> dict:
    size = model.feature_size  # None for texts
    if model.ngrams is not None:  # each token's id, then its n-grams' buckets
        doc = "each token's id, then its character n-grams' buckets (the sidecar's char_ngrams)"
        first = _io("ids", "int64", ["batch", "steps", "width"], doc + ", padded with 0")
        example = (torch.tensor([[[4, 1, 2], [5, 3, 0], [6, 0, 0]]] * 2), torch.tensor([3, 2]))
    elif size is None:
        first = _io("ids", "int64", ["batch", "steps"], "token ids, padded with 0 (<pad>)")
        example = (torch.ones(2, 3, dtype=torch.long), torch.tensor([3, 2]))
    else:
        doc = "feature frames of each clip (the sidecar's audio options), padded with zeros"
        first = _io("frames", "float32", ["batch", "steps", size], doc)
        example = (torch.zeros(2, 3, size), torch.tensor([3, 2]))
    inputs = [first, _io("lengths", "int64", ["batch"], "each row's number of real steps, >= 1")]
    outputs = [_io("logits", "float32", ["batch", model.num_classes], "softmax gives p(class)")]
    _export_graph(ClassifierGraph(model), example, inputs, outputs, out)
    return {"graphs": {"model": out.name}, "inputs": inputs, "outputs": outputs}


def _classifier_artifacts(run: Path, loaded, out: Path) -> dict:
    classes = {
        "classes": loaded.config["classes"],
        "label_names": loaded.config.get("label_names", {}),
    }
    if loaded.audio is not None:  # how a clip becomes frames, in place of a vocabulary
        return {"audio": asdict(loaded.audio), **classes}
    artifacts = {
        "files": {"vocab": _copy_beside(out, run / "vocab.json", "vocab.json")},
        "tokenizer": loaded.tokenizer.to_dict(),
        **classes,
    }
    if loaded.char_ngrams:  # how each token's n-gram buckets are made (rnnkit.data.ngrams)
        artifacts["char_ngrams"] = {
            "buckets": loaded.char_ngrams,
            "sizes": list(ngrams.SIZES),
            "marks": [ngrams.BEGIN, ngrams.END],
            "bucket": "1 + FNV-1a-32(UTF-8 bytes of the n-gram) mod buckets; 0 is padding",
            "token": "[id in the vocabulary (<unk> if absent), bucket of each n-gram of "
            "'<' + word + '>' of each size, shortest first, left to right; the whole marked "
            "word excluded]",
        }
    return artifacts


def _forecaster_graph(model: nn.Module, out: Path) -> dict:
    inputs = [_io("window", "float32", ["batch", "lookback", model.input_size], "scaled rows")]
    outputs = [_io("forecast", "float32", ["batch", model.horizon, model.output_size], "scaled")]
    lookback = 2 * model.config.segment or 5  # whole segments for SegRNN
    example = (torch.zeros(2, lookback, model.input_size),)
    _export_graph(ForecasterGraph(model), example, inputs, outputs, out)
    return {"graphs": {"model": out.name}, "inputs": inputs, "outputs": outputs}


def _forecaster_artifacts(run: Path, loaded, out: Path) -> dict:
    series = loaded.config["series"]
    return {
        "files": {"scaler": _copy_beside(out, run / "scaler.json", "scaler.json")},
        "scaler": loaded.scaler.to_dict(),
        "lookback": loaded.config["data"]["lookback"],
        "columns": {"inputs": series["inputs"], "targets": series["targets"]},
        "usage": "scale the last `lookback` rows of the input columns with the scaler (standard: "
        "z = (x - mean) / std per column), run, and unscale the forecast with the targets' "
        "entries",
    }


def _translator_graph(model: nn.Module, out: Path) -> dict:
    hidden, lstm = model.config.hidden_size, model.num_states == 2
    attention = model.attention is not None
    state = ["h", "c"] if lstm else ["h"]
    source = [
        _io("source_ids", "int64", ["batch", "source"], "ids of x_1 .. x_m </s>, 0-padded"),
        _io("source_lengths", "int64", ["batch"], "each row's number of real ids, >= 1"),
    ]
    states = _io("states", "float32", ["batch", "source", hidden], "encoder states")
    summary = _io("summary", "float32", ["batch", hidden], "[h_fwd; h_bwd] of the last layer")
    first = [_io(name, "float32", ["batch", hidden], "decoder state") for name in state]
    first.append(_io("feed", "float32", ["batch", hidden], "h~ of the previous step"))
    keys = _io("keys", "float32", ["batch", "source", "key_size"], "the states, projected")
    encoder_out = [states, summary, *first, *([keys] if attention else [])]
    example_source = (torch.tensor([[5, 6, 3], [5, 3, 0]]), torch.tensor([3, 2]))
    _export_graph(EncoderGraph(model), example_source, source, encoder_out, out)

    tokens = _io("tokens", "int64", ["batch"], "the previous token (<s> = 2 at the first step)")
    decoder_in = [tokens, *first, summary, *([states, source[1], keys] if attention else [])]
    decoder_out = [_io("logits", "float32", ["batch", model.tgt_vocab_size])]
    decoder_out += [_io(f"{spec['name']}_next", "float32", ["batch", hidden]) for spec in first]
    if attention:
        decoder_out.append(_io("weights", "float32", ["batch", "source"], "attention weights"))
    with torch.no_grad():
        values = dict(
            zip([spec["name"] for spec in encoder_out], EncoderGraph(model)(*example_source))
        )
    values["source_lengths"] = example_source[1]
    example = (torch.tensor([2, 2]), *(values[spec["name"]] for spec in decoder_in[1:]))
    decoder = out.with_name(f"{out.stem}.decoder.onnx")
    _export_graph(DecoderGraph(model), example, decoder_in, decoder_out, decoder)
    return {
        "graphs": {"encoder": out.name, "decoder": decoder.name},
        "encoder": {"inputs": source, "outputs": encoder_out},
        "decoder": {"inputs": decoder_in, "outputs": decoder_out},
    }


def _translator_artifacts(run: Path, loaded, out: Path) -> dict:
    return {
        "files": {
            "source_tokenizer": _copy_beside(out, run / "source.tokenizer.json", "source.json"),
            "target_tokenizer": _copy_beside(out, run / "target.tokenizer.json", "target.json"),
        },
        "special_ids": {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3},
        "decode": loaded.config.get("decode", {}),
        "usage": "run the encoder; feed the decoder <s> with the encoder's h[, c] and feed, then "
        "each step the token it chose and its *_next outputs, until </s>",
    }


GRAPHS = {
    "lm": _lm_graph,
    "classify": _classifier_graph,
    "forecast": _forecaster_graph,
    "translate": _translator_graph,
}
ARTIFACTS = {
    "lm": _lm_artifacts,
    "classify": _classifier_artifacts,
    "forecast": _forecaster_artifacts,
    "translate": _translator_artifacts,
}
