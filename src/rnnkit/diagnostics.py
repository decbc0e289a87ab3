"""How a recurrent model passes gradient back through time, how saturated its gates are, and how
large its recurrent weights are: the measurements behind ``rnnkit diagnose`` and
``rnnkit train --log-grad-flow``.

**Gradient per step.** For a sequence x_1..x_T, a loss L and the states h_t of the last layer of a
recurrent layer (its forward direction), :func:`gradient_per_step` gives

    g_t = mean over batches and sequences b still running at step t of || dL/dh_t^(b) ||_2

(the norm over the H units; L is the batch's mean training loss). dL/dh_t is the *total*
derivative, taken by autograd: the tensors differentiated are the h_t that the recurrence itself
carries from step to step, so the gradient holds the part that reaches h_t through the layer's
output at t and the part that comes back through h_{t+1}, h_{t+2}, ...:

    dL/dh_t = (direct part at t) + (dh_{t+1}/dh_t)^T dL/dh_{t+1}

For a 1-unit linear recurrence h_t = w h_{t-1} + u x_t whose loss reads only h_T this is
|dL/dh_t| = |w|^(T-t) |dL/dh_T|. (The gradient of the layer's output tensor holds only the direct
part, which is zero for every t < T in such a model, so it is not what is measured.) To reach
those tensors the watched layer runs on its reference backend (rnnkit's cells in a time loop, the
same function as the fused kernel, which keeps its states to itself) while it is watched.

**Gate saturation.** At each step of the same layer the gate activations are computed again from
the step's input projection and previous state with the cells' own equations
(:meth:`rnnkit.cells.LSTMCell.gates`, :meth:`rnnkit.cells.GRUCell.gates`). A sigmoid gate's unit
is saturated below 0.05 or above 0.95: there its derivative sigma' = sigma (1 - sigma) is below
0.0475, a fifth of its largest value. Reported for the sigmoid gates (LSTM: input, forget, output;
GRU: reset, update) of the sequences still running.

**Recurrent weights.** For every W_hh (G*H, H) of every recurrent layer and cell, per gate block
(H, H): the spectral radius max |lambda_i| and the largest singular value sigma_max. For a linear
recurrence, sigma_max < 1 makes ||dh_T/dh_t|| <= sigma_max^(T-t) vanish; the spectral radius is
the rate it tends to over long spans.

**Clipping.** The share of training steps in which gradient clipping fired, from the trainer's
records (``clipped``: the share of the steps since the previous record).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.errors import InputError
from rnnkit.layers import GRU, LSTM, RNN

SATURATION_LOW, SATURATION_HIGH = 0.05, 0.95
HISTOGRAM_BINS = 20  # over [0, 1]: bins 0.05 wide, the first and last are the saturated ones
SIGMOID_GATES = ("input", "forget", "output", "reset", "update")
CELL_OF_LAYER = {RNN: RNNCell, LSTM: LSTMCell, GRU: GRUCell}


def cell_of(module: nn.Module) -> type | None:
    """The cell class whose equations ``module`` (an rnnkit layer or cell) runs, or None."""
    for layer, cell in CELL_OF_LAYER.items():
        if isinstance(module, (layer, cell)):
            return cell
    return None


def find_recurrent_layer(model: nn.Module, where: str = "the model") -> tuple[str, nn.Module]:
    """(name, layer) of the first rnnkit ``RNN``/``LSTM``/``GRU`` layer in ``model``: the one that
    reads the input sequence (an encoder, or a language model's layer). InputError when none."""
    for name, module in model.named_modules():
        if isinstance(module, tuple(CELL_OF_LAYER)):
            return name, module
    raise InputError(
        f"{where} has no recurrent layer (rnnkit.RNN, LSTM or GRU) whose steps can be diagnosed"
    )


# --- gate saturation -------------------------------------------------------------------------
@dataclass
class GateStatistics:
    """Counts over one gate's activations in [0, 1]: all, below 0.05, above 0.95, a histogram."""

    total: int = 0
    low: int = 0
    high: int = 0
    histogram: Tensor = field(default_factory=lambda: torch.zeros(HISTOGRAM_BINS, dtype=torch.long))

    def add(self, values: Tensor) -> None:
        values = values.detach().reshape(-1).double()
        self.total += values.numel()
        self.low += int((values < SATURATION_LOW).sum())
        self.high += int((values > SATURATION_HIGH).sum())
        self.histogram += torch.histc(values, HISTOGRAM_BINS, 0.0, 1.0).long()

    def summary(self) -> dict[str, Any]:
        total = max(self.total, 1)
        return {
            "saturated": (self.low + self.high) / total,
            "below": self.low / total,
            "above": self.high / total,
            "values": self.total,
            "histogram": self.histogram.tolist(),
        }


def gate_saturation(values: Tensor) -> dict[str, Any]:
    """Saturation of gate activations ``values`` (any shape, in [0, 1]): the shares below 0.05
    (``below``), above 0.95 (``above``) and either (``saturated``), and a histogram of
    :data:`HISTOGRAM_BINS` equal bins over [0, 1]."""
    statistics = GateStatistics()
    statistics.add(values)
    return statistics.summary()


# --- watching a layer's steps ----------------------------------------------------------------
class StepRecorder:
    """While active (``with recorder:``), the states h_t (B, H) that ``layer``'s last layer
    carries in its forward direction, the mask of sequences still running (T, B) and the sigmoid
    gates' statistics.

    The layer runs on its reference backend meanwhile; its ``_scan`` and ``_step`` are wrapped on
    the instance (the class is untouched) and restored on exit. :meth:`start` clears the states
    before each batch; when the layer runs twice for one loss, the last run is kept.
    """

    def __init__(self, layer: nn.Module) -> None:
        if not isinstance(layer, tuple(CELL_OF_LAYER)):
            raise TypeError(
                f"expected an rnnkit RNN, LSTM or GRU layer, got {type(layer).__name__}"
            )
        self.layer = layer
        self.cell = cell_of(layer)
        self.weight_hh = getattr(layer, f"weight_hh_l{layer.num_layers - 1}")
        self.states: list[Tensor] = []
        self.mask: Tensor | None = None
        self.gates = {
            name: GateStatistics() for name in self.cell.gate_names if name in SIGMOID_GATES
        }
        self._recording = False

    def start(self) -> None:
        self.states, self.mask = [], None

    def __enter__(self) -> StepRecorder:
        layer = self.layer
        self._backend = layer.backend
        layer.backend = "reference"
        scan, step = layer._scan, layer._step

        def watched_scan(gx, state, weight_hh, bias_hh, mask):
            self._recording = weight_hh is self.weight_hh
            if self._recording:
                self.states, self.mask = [], mask
            try:
                return scan(gx, state, weight_hh, bias_hh, mask)
            finally:
                self._recording = False

        def watched_step(gx, state, weight_hh, bias_hh):
            new = step(gx, state, weight_hh, bias_hh)
            if self._recording:
                self._record_gates(gx, state[0], weight_hh, bias_hh)
                self.states.append(new[0])  # h_t as the next step reads it
            return new

        layer._scan, layer._step = watched_scan, watched_step
        return self

    def __exit__(self, *exc) -> None:
        del self.layer._scan, self.layer._step
        self.layer.backend = self._backend

    @torch.no_grad()
    def _record_gates(self, gx: Tensor, h: Tensor, weight_hh: Tensor, bias_hh) -> None:
        if not self.gates:
            return
        extra = (self.layer.reset_after,) if self.cell is GRUCell else ()
        activations = self.cell.gates(gx, h, weight_hh, bias_hh, *extra)  # G x (B, H)
        running = None if self.mask is None else self.mask[len(self.states)]  # (B,)
        for name, values in zip(self.cell.gate_names, activations, strict=True):
            if name in self.gates:
                self.gates[name].add(values if running is None else values[running])


def gradient_per_step(
    model: nn.Module,
    loss_of: Callable[[Any], Tensor],
    batches: Iterable[Any],
    layer: nn.Module | None = None,
) -> dict[str, Any]:
    """g_t = ||dL/dh_t|| for every step t of ``layer``'s last layer (default: the model's first
    recurrent layer), averaged over ``batches`` and the sequences still running at t, with
    ``loss_of(batch)`` the scalar loss L; and the gates' saturation over the same steps.

    The model runs in eval mode (no dropout); no parameter's ``.grad`` is touched. Returns
    ``grad_norm_per_step`` (T,) (T: the longest sequence), ``sequences_per_step`` (T,),
    ``first_to_last`` (g_1 / g_T), ``loss`` (the mean over batches), ``gate_saturation`` (gate
    name -> :func:`gate_saturation`'s fields; empty for a plain RNN) and which layer was watched.
    """
    name = ""
    if layer is None:
        name, layer = find_recurrent_layer(model)
    recorder = StepRecorder(layer)
    sums: list[float] = []
    counts: list[int] = []
    losses = []
    was_training = model.training
    model.eval()
    try:
        with recorder, torch.enable_grad():
            for batch in batches:
                recorder.start()
                loss = loss_of(batch)
                if not recorder.states:
                    raise ValueError("the loss did not run the watched recurrent layer")
                grads = torch.autograd.grad(loss, recorder.states, allow_unused=True)
                for t, (h, grad) in enumerate(zip(recorder.states, grads, strict=True)):
                    norms = (  # (B,)
                        torch.zeros(h.shape[0], dtype=torch.float64)
                        if grad is None
                        else grad.detach().double().norm(dim=1)
                    )
                    if recorder.mask is not None:
                        norms = norms[recorder.mask[t]]
                    if t == len(sums):
                        sums.append(0.0)
                        counts.append(0)
                    sums[t] += float(norms.sum())
                    counts[t] += norms.numel()
                losses.append(float(loss.detach()))
    finally:
        model.train(was_training)
    if not losses:
        raise ValueError("no batches to diagnose")
    per_step = [s / c if c else 0.0 for s, c in zip(sums, counts, strict=True)]
    last = per_step[-1]
    return {
        "layer": name,
        "cell": recorder.cell.__name__.removesuffix("Cell").lower(),
        "layer_index": layer.num_layers - 1,
        "direction": "forward",
        "batches": len(losses),
        "steps": len(per_step),
        "loss": sum(losses) / len(losses),
        "grad_norm_per_step": per_step,
        "sequences_per_step": counts,
        "first_to_last": per_step[0] / last if last > 0 else math.nan,
        "gate_saturation": {g: stats.summary() for g, stats in recorder.gates.items()},
    }


# --- recurrent weights -----------------------------------------------------------------------
def recurrent_spectra(model: nn.Module) -> list[dict[str, Any]]:
    """For every W_hh of every rnnkit recurrent layer and cell in ``model``, per gate block
    (H, H): ``spectral_radius`` max |lambda_i| and ``largest_singular_value`` sigma_max."""
    rows = []
    for module_name, module in model.named_modules():
        cell = cell_of(module)
        if cell is None:
            continue
        for name, weight in module.named_parameters(recurse=False):
            if not name.startswith("weight_hh"):
                continue
            blocks = weight.detach().double().chunk(cell.num_gates, dim=0)  # G x (H, H)
            for gate, block in zip(cell.gate_names, blocks, strict=True):
                rows.append(
                    {
                        "weight": f"{module_name}.{name}" if module_name else name,
                        "gate": gate,
                        "spectral_radius": float(torch.linalg.eigvals(block).abs().max()),
                        "largest_singular_value": float(torch.linalg.matrix_norm(block, ord=2)),
                    }
                )
    return rows


# --- clipping ----------------------------------------------------------------------------------
def clip_share(records: list[dict]) -> dict[str, Any] | None:
    """From the trainer's records (``step``, ``clipped``, ``grad_norm``, ``grad_norm_max``): the
    share of all training steps in which clipping fired, each record weighing as many steps as
    it covers; None when the records do not hold it (a run from before it was recorded)."""
    if not records or any("clipped" not in r for r in records):
        return None
    steps, clipped, previous = 0, 0.0, 0
    for record in records:
        covered = record["step"] - previous
        previous = record["step"]
        steps += covered
        clipped += record["clipped"] * covered
    return {
        "share": clipped / steps if steps else 0.0,
        "steps": steps,
        "grad_norm_max": max(r["grad_norm_max"] for r in records),
        "grad_norm_last": records[-1]["grad_norm"],
    }
