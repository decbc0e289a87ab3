"""Generation's inner loop: a unidirectional recurrent layer stepped one time step at a time for a
fixed batch, with every buffer allocated once.

:meth:`rnnkit.layers.RNN.step` (and LSTM's, GRU's) is the readable version of one step: the
cells' equations on fresh tensors. :class:`LayerStepper` computes the same equations for
generation, where one step of a small batch is a few matrix-vector products and the time goes into
reading the weights and into Python:

- every matrix product writes into a preallocated buffer (``out=``), and the gate functions run
  in place on slices of it; nothing is allocated per step (except int8's quantized products);
- an LSTM's or RNN's two products ``x W_ih^T + h W_hh^T`` are one product of ``[x; h]`` with
  ``[W_ih | W_hh]`` and one bias ``b_ih + b_hh``; an LSTM's gate rows are reordered to i, f, o, g
  so that one ``sigmoid_`` covers three gates;
- layer 0 can read its input projection from a table: ``inputs`` (V, I) gives the input vector
  of each token id, and ``ids`` select rows of ``inputs W_ih^T + b_ih (+ b_hh)`` (V, G*H)
  instead of multiplying;
- ``precision``: ``fp32``; ``bf16`` (weights stored in bfloat16, half the bytes to read; the gate
  equations stay in float32); ``int8`` (``torch.ao`` dynamic quantization of each matrix: a
  quarter of the bytes; activations quantized per step).
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

PRECISIONS = ("fp32", "bf16", "int8")


class Projection:
    """``x W^T (+ b)`` for a fixed batch, written into (or added to) a float32 buffer."""

    def __init__(self, weight: Tensor, bias: Tensor | None, batch: int, precision: str) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.precision = precision
        weight = weight.detach().float().contiguous()  # (N, K)
        bias = None if bias is None else bias.detach().float().contiguous()
        rows, columns = weight.shape
        if precision == "int8":
            linear = nn.Linear(columns, rows, bias=bias is not None)
            with torch.no_grad():
                linear.weight.copy_(weight)
                if bias is not None:
                    linear.bias.copy_(bias)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.ao's deprecation notices
                quantized = torch.ao.quantization.quantize_dynamic(
                    nn.Sequential(linear), {nn.Linear}, dtype=torch.qint8
                )
            self.linear = quantized[0]
            return
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        self.weight = weight.to(dtype)  # (N, K): a row per output, read once per step
        self.bias = None if bias is None else bias.to(dtype)
        # one row in fp32: a matrix-vector product (bf16's addmv is 4x slower than its addmm)
        self.vector = batch == 1 and precision == "fp32"
        if precision == "bf16":
            self.input = torch.empty(batch, columns, dtype=dtype)
            self.output = torch.empty(batch, rows, dtype=dtype)

    def _product(self, x: Tensor, out: Tensor) -> None:
        """out = x W^T + b, all in the weights' dtype."""
        if self.vector:
            if self.bias is None:
                torch.mv(self.weight, x[0], out=out[0])
            else:
                torch.addmv(self.bias, self.weight, x[0], out=out[0])
        elif self.bias is None:
            torch.mm(x, self.weight.t(), out=out)
        else:
            torch.addmm(self.bias, x, self.weight.t(), out=out)

    def into(self, out: Tensor, x: Tensor) -> Tensor:
        """out (B, N) = x (B, K) W^T + b."""
        if self.precision == "int8":
            out.copy_(self.linear(x))
        elif self.precision == "bf16":
            self.input.copy_(x)
            self._product(self.input, self.output)
            out.copy_(self.output)
        else:
            self._product(x, out)
        return out

    def add_to(self, out: Tensor, x: Tensor) -> Tensor:
        """out (B, N) += x (B, K) W^T + b."""
        if self.precision == "int8":
            out.add_(self.linear(x))
        elif self.precision == "bf16":
            self.input.copy_(x)
            self._product(self.input, self.output)
            out.add_(self.output)
        elif self.vector:
            torch.addmv(out[0], self.weight, x[0], out=out[0])
            if self.bias is not None:
                out.add_(self.bias)
        else:
            out.addmm_(x, self.weight.t())
            if self.bias is not None:
                out.add_(self.bias)
        return out


def _lstm_rows(tensor: Tensor, hidden: int) -> Tensor:
    """Gate blocks i, f, g, o -> i, f, o, g (rows of a weight or bias, or columns of a table)."""
    i, f, g, o = tensor.split(hidden, dim=0)
    return torch.cat([i, f, o, g], dim=0)


def _units(module: nn.Module) -> list[tuple[nn.Module, int]]:
    """(module, layer index) of every layer to step, bottom first: a layer's layers, a stack's
    one-layer layers (``module.layers``), or a cell."""
    if isinstance(module, nn.Module) and hasattr(module, "layers"):
        return [unit for layer in module.layers for unit in _units(layer)]
    return [(module, index) for index in range(getattr(module, "num_layers", 1))]


def unsupported(module: nn.Module) -> str | None:
    """Why :class:`LayerStepper` cannot step ``module`` (then step it with its own ``step``), or
    None when it can: it computes the plain RNN, LSTM and GRU equations only."""
    for unit, _ in _units(module):
        if type(unit).__name__.removesuffix("Cell") not in ("RNN", "LSTM", "GRU"):
            return f"no preallocated stepper for {type(unit).__name__}"
        if getattr(unit, "zoneout", 0) or getattr(unit, "zoneout_cell", None):
            return "no preallocated stepper mixes states as zoneout does"
    return None


def _weights(module: nn.Module, index: int) -> list[Tensor | None]:
    """[W_ih, W_hh, b_ih, b_hh] of layer ``index`` of a layer, or of a cell (index 0)."""
    if hasattr(module, "_weights"):
        weight_ih, weight_hh, *biases = module._weights(index)
        return [weight_ih, weight_hh, *(biases or [None, None])]
    return [module.weight_ih, module.weight_hh, module.bias_ih, module.bias_hh]


class LayerStepper:
    """Steps a unidirectional rnnkit ``RNN``/``LSTM``/``GRU`` (any number of layers), a stack of
    them (a module whose ``layers`` are one-layer layers), or one ``RNNCell``/``LSTMCell``/
    ``GRUCell``, for ``batch`` rows. ``inputs`` (V, I): the table of
    layer 0's input vectors by token id (an embedding, or the identity for one-hot inputs); then
    :meth:`step` takes ``ids`` (B,) instead of ``x``.

    ``step`` returns the top layer's h (B, H), a buffer that the next step overwrites."""

    def __init__(
        self,
        layer: nn.Module,
        batch: int,
        precision: str = "fp32",
        inputs: Tensor | None = None,
    ) -> None:
        reason = unsupported(layer)
        if reason:
            raise ValueError(reason)
        units = _units(layer)
        first = units[0][0]
        if any(getattr(unit, "bidirectional", False) for unit, _ in units):
            raise ValueError("a bidirectional layer needs the whole sequence; it cannot step")
        self.kind = type(first).__name__.removesuffix("Cell")  # RNN, LSTM or GRU
        self.nonlinearity = getattr(first, "nonlinearity", "tanh")
        self.reset_after = getattr(first, "reset_after", True)
        self.hidden = first.hidden_size
        self.num_layers = len(units)
        self.batch = batch
        self.table = None
        self.layers = []
        with torch.no_grad():
            for index, (unit, unit_index) in enumerate(units):
                weights = [
                    None if w is None else w.detach().float() for w in _weights(unit, unit_index)
                ]
                weight_ih, weight_hh, bias_ih, bias_hh = weights
                from_table = index == 0 and inputs is not None
                if from_table:
                    table = inputs.detach().float() @ weight_ih.t()  # (V, G*H)
                    if bias_ih is not None:
                        table += bias_ih
                self.layers.append(
                    self._build(weight_ih, weight_hh, bias_ih, bias_hh, precision, from_table)
                )
                if from_table:
                    self.table = self._table(table, bias_hh)
        self.tokens = torch.zeros(batch, dtype=torch.long)

    def _build(self, weight_ih, weight_hh, bias_ih, bias_hh, precision, from_table) -> dict:
        batch, hidden = self.batch, self.hidden
        buffers = {"h": torch.zeros(batch, hidden)}
        if self.kind == "GRU":
            buffers["gx"] = torch.zeros(batch, 3 * hidden)
            if not from_table:
                buffers["ih"] = Projection(weight_ih, bias_ih, batch, precision)
            if self.reset_after:
                buffers["gh"] = torch.zeros(batch, 3 * hidden)
                buffers["hh"] = Projection(weight_hh, bias_hh, batch, precision)
            else:
                split = 2 * hidden
                bias_rz = None if bias_hh is None else bias_hh[:split]
                bias_n = None if bias_hh is None else bias_hh[split:]
                buffers["gh"] = torch.zeros(batch, split)
                buffers["gh_n"] = torch.zeros(batch, hidden)
                buffers["reset_h"] = torch.zeros(batch, hidden)
                buffers["hh_rz"] = Projection(weight_hh[:split], bias_rz, batch, precision)
                buffers["hh_n"] = Projection(weight_hh[split:], bias_n, batch, precision)
            return buffers
        if self.kind == "LSTM":
            weight_ih, weight_hh = _lstm_rows(weight_ih, hidden), _lstm_rows(weight_hh, hidden)
            bias_ih = None if bias_ih is None else _lstm_rows(bias_ih, hidden)
            bias_hh = None if bias_hh is None else _lstm_rows(bias_hh, hidden)
            buffers["c"] = torch.zeros(batch, hidden)
            buffers["tanh_c"] = torch.zeros(batch, hidden)
        buffers["gates"] = torch.zeros(batch, weight_hh.shape[0])
        if from_table:  # b_ih is in the table, b_hh joins it there
            buffers["hh"] = Projection(weight_hh, None, batch, precision)
            return buffers
        bias = None
        if bias_ih is not None:
            bias = bias_ih + bias_hh
        buffers["xh"] = torch.zeros(batch, weight_ih.shape[1] + hidden)  # [x; h]
        buffers["xh_w"] = Projection(torch.cat([weight_ih, weight_hh], 1), bias, batch, precision)
        return buffers

    def _table(self, table: Tensor, bias_hh: Tensor | None) -> Tensor:
        """Layer 0's input projection by token id, in the order and with the biases the step adds
        no more (LSTM and RNN: b_hh folded in; GRU keeps b_hh in its recurrent product)."""
        if self.kind == "LSTM":
            table = _lstm_rows(table.t(), self.hidden).t()
            bias_hh = None if bias_hh is None else _lstm_rows(bias_hh, self.hidden)
        if self.kind != "GRU" and bias_hh is not None:
            table = table + bias_hh
        return table.contiguous()

    # --- state --------------------------------------------------------------------------------
    def set_state(self, state) -> None:
        """Load a layer-format state: h (L, B, H), or (h, c) for an LSTM; None is zeros. (A cell's
        state (B, H) is its one layer's: pass ``h.unsqueeze(0)``.)"""
        h, c = state if isinstance(state, tuple) else (state, None)
        for index, buffers in enumerate(self.layers):
            for name, value in (("h", h), ("c", c)):
                if name not in buffers:
                    continue
                if value is None:
                    buffers[name].zero_()
                else:
                    buffers[name].copy_(value[index])

    def state(self):
        """The current state in the layer's format (copies)."""
        h = torch.stack([buffers["h"] for buffers in self.layers])  # (L, B, H)
        if self.kind == "LSTM":
            return h, torch.stack([buffers["c"] for buffers in self.layers])
        return h

    # --- one step -------------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, x: Tensor | None = None, ids: Tensor | None = None) -> Tensor:
        """One step of every layer from ``x`` (B, I) or, with a table, ``ids`` (B,)."""
        for index, buffers in enumerate(self.layers):
            if self.kind == "GRU":
                self._gru(buffers, x, ids if index == 0 else None)
            else:
                self._gated(buffers, x, ids if index == 0 else None)
            x = buffers["h"]
        return x

    def _input_projection(self, buffers: dict, x: Tensor | None, ids: Tensor | None) -> Tensor:
        """Layer input and recurrent products summed into ``gates`` (LSTM, RNN)."""
        gates = buffers["gates"]
        if ids is not None:
            torch.index_select(self.table, 0, ids, out=gates)  # (B, G*H) lookup
            return buffers["hh"].add_to(gates, buffers["h"])
        xh, size = buffers["xh"], buffers["xh"].shape[1] - self.hidden
        xh[:, :size].copy_(x)
        xh[:, size:].copy_(buffers["h"])
        return buffers["xh_w"].into(gates, xh)

    def _gated(self, buffers: dict, x: Tensor | None, ids: Tensor | None) -> None:
        gates, h, hidden = self._input_projection(buffers, x, ids), buffers["h"], self.hidden
        if self.kind == "RNN":
            gates.tanh_() if self.nonlinearity == "tanh" else gates.relu_()
            h.copy_(gates)
            return
        gates[:, : 3 * hidden].sigmoid_()  # i, f, o
        gates[:, 3 * hidden :].tanh_()  # g
        input_gate, forget_gate = gates[:, :hidden], gates[:, hidden : 2 * hidden]
        output_gate, candidate = gates[:, 2 * hidden : 3 * hidden], gates[:, 3 * hidden :]
        c = buffers["c"]
        c.mul_(forget_gate).addcmul_(input_gate, candidate)  # c' = f c + i g
        torch.tanh(c, out=buffers["tanh_c"])
        torch.mul(output_gate, buffers["tanh_c"], out=h)  # h' = o tanh(c')

    def _gru(self, buffers: dict, x: Tensor | None, ids: Tensor | None) -> None:
        gx, gh, h, hidden = buffers["gx"], buffers["gh"], buffers["h"], self.hidden
        if ids is not None:
            torch.index_select(self.table, 0, ids, out=gx)
        else:
            buffers["ih"].into(gx, x)
        if self.reset_after:
            buffers["hh"].into(gh, h)
            rz = gx[:, : 2 * hidden].add_(gh[:, : 2 * hidden]).sigmoid_()  # r, z
            n = gx[:, 2 * hidden :].addcmul_(rz[:, :hidden], gh[:, 2 * hidden :]).tanh_()
        else:
            buffers["hh_rz"].into(gh, h)
            rz = gx[:, : 2 * hidden].add_(gh).sigmoid_()
            torch.mul(rz[:, :hidden], h, out=buffers["reset_h"])  # r * h
            buffers["hh_n"].into(buffers["gh_n"], buffers["reset_h"])
            n = gx[:, 2 * hidden :].add_(buffers["gh_n"]).tanh_()
        h.sub_(n).mul_(rz[:, hidden:]).add_(n)  # h' = n + z (h - n)
