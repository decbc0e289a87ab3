"""Deep, bidirectional, variable-length recurrent layers: drop-in ``torch.nn.RNN/LSTM/GRU``.

A layer owns the parameters (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``,
``..._reverse``, exactly as ``torch.nn``) and runs them on one of two backends:

- ``reference``: rnnkit's cells (:mod:`rnnkit.cells`) in a Python time loop. The input projection
  ``x W_ih^T + b_ih`` is computed for all steps at once outside the loop; inside it only the
  recurrent product and the gate equations run. Steps are taken with ``unbind`` and joined with
  ``stack``, so backward allocates one gradient for the whole sequence, not one per step.
- ``fused``: PyTorch's fused kernels (``torch._VF.rnn_tanh/rnn_relu/lstm/gru``, the functions that
  ``torch.nn.RNN/LSTM/GRU`` call) on the same parameters.

``auto`` (the default) picks ``fused`` whenever it computes the same function, which is every
configuration except ``GRU(reset_after=False)``. ``compiled`` is an option for the reference
loop: the LSTM's elementwise gate equations run as one function with its derivatives written out,
compiled by ``torch.compile`` when a compiler works (:mod:`rnnkit.gates`); other cells run the
plain reference step. The choice is recorded in ``layer.last_backend``
and ``layer.last_backend_reason`` and logged at DEBUG level on the ``rnnkit.layers`` logger.

Regularisation (:mod:`rnnkit.regularise`; all off by default, and then the layer computes what
``torch.nn`` does):

- ``dropout`` between layers, with ``variational_dropout`` one mask per sequence (1, B, D*H) at
  every step instead of a fresh one per step and unit; the fused backend then runs one kernel call
  per layer with the mask applied between them;
- ``weight_dropout``: DropConnect on every ``W_hh``, one mask per forward pass, so all steps of a
  batch use the same dropped matrix; both backends run on the dropped matrices;
- ``zoneout`` (and ``zoneout_cell`` for an LSTM's c; the same rate when None): each state unit
  keeps its previous value with that probability at each step, and at evaluation the expectation
  ``z s_{t-1} + (1 - z) s~_t``. Fused kernels cannot mix states between steps, so the reference
  backend runs, and ``last_backend_reason`` says so.

Variable lengths (``lengths=`` or a ``PackedSequence`` input) follow PyTorch's packed semantics:
outputs past a sequence's end are zero, ``h_n`` is the state at each sequence's own last step, and
the reverse direction starts at each sequence's own last step.
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import _VF, Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.cells import GRUCell, LayerNormLSTMCell, LSTMCell, RNNCell
from rnnkit.regularise import check_rate, sequence_dropout, weight_drop, zoneout_states

__all__ = ["RNN", "LSTM", "LayerNormLSTM", "GRU", "BACKENDS"]

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "reference", "fused", "compiled")
State = tuple[Tensor, ...]  # (h,) for RNN and GRU, (h, c) for LSTM; each (B, H) inside the loop


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of ``x`` (T, B, ...) within its own length; padding stays in place.

    Applying it twice is the identity, so it also maps reversed outputs back.
    """
    if lengths is None:
        return x.flip(0)
    steps = torch.arange(x.shape[0], device=x.device).unsqueeze(1)  # (T, 1)
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)  # (T, B)
    index = index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(0, index)


class _RecurrentLayer(nn.Module):
    """Shared machinery; subclasses give the gate count, the fused kernel and one step."""

    num_gates: int = 1
    num_states: int = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        backend: str = "auto",
        variational_dropout: bool = False,
        weight_dropout: float = 0.0,
        zoneout: float = 0.0,
        zoneout_cell: float | None = None,
    ) -> None:
        super().__init__()
        if input_size <= 0 or hidden_size <= 0 or num_layers <= 0:
            raise ValueError(
                "input_size, hidden_size and num_layers must be positive, got "
                f"{input_size}, {hidden_size} and {num_layers}"
            )
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must be in [0, 1], got {dropout}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.backend = backend
        self.variational_dropout = bool(variational_dropout)
        self.weight_dropout = check_rate("weight_dropout", weight_dropout)
        self.zoneout = check_rate("zoneout", zoneout)
        if zoneout_cell is not None and self.num_states == 1:
            raise ValueError(
                f"zoneout_cell needs a cell state (an LSTM), not {type(self).__name__}"
            )
        self.zoneout_cell = (
            None if zoneout_cell is None else check_rate("zoneout_cell", zoneout_cell)
        )
        self.last_backend: str | None = None
        self.last_backend_reason: str | None = None
        directions = 2 if bidirectional else 1
        gates = self.num_gates * hidden_size
        self._weight_names: list[list[str]] = []  # torch.nn's flat order: layer, direction
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = {"weight_ih": (gates, layer_input), "weight_hh": (gates, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(gates,), bias_hh=(gates,))
                names = []
                for kind, shape in shapes.items():
                    self.register_parameter(kind + suffix, nn.Parameter(torch.empty(shape)))
                    names.append(kind + suffix)
                self._weight_names.append(names)
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def reset_parameters(self) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) for every parameter, as ``torch.nn`` does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def _weights(self, index: int) -> list[Tensor]:
        return [getattr(self, name) for name in self._weight_names[index]]

    # --- subclass hooks -------------------------------------------------------------------------
    def _step(self, gx: Tensor, state: State, weight_hh: Tensor, bias_hh: Tensor | None) -> State:
        raise NotImplementedError

    def _fused_kernel(self):
        raise NotImplementedError

    def _compiled_step(self):
        """The compiled backend's step and how it runs (the plain step unless overridden)."""
        return self._step, "the reference step (no fused gate function for this cell)"

    def _fused_unavailable(self) -> str | None:
        """Why the fused kernel would compute something else, or None if it computes the same."""
        if any(self.zoneout_rates()):
            return "zoneout mixes each step's state with the previous one; no fused kernel does"
        return None

    def _fused_notes(self) -> str:
        """How the fused backend runs the regularisation (for ``last_backend_reason``)."""
        notes = []
        if self.training and self.weight_dropout > 0:
            notes.append("on W_hh under this pass's DropConnect mask")
        if self.training and self.variational_dropout and self.dropout > 0:
            notes.append("one call per layer, a locked dropout mask between them")
        return "".join(f"; {note}" for note in notes)

    def _project(self, x: Tensor, index: int, weight_ih: Tensor, bias_ih: Tensor | None) -> Tensor:
        """The input half ``x W_ih^T + b_ih`` (..., G*H) of (layer, direction) ``index``."""
        return F.linear(x, weight_ih, bias_ih)

    def _step_of(self, index: int):
        """A step for (layer, direction) ``index`` when its cell has parameters beyond the
        weights (bound to them), or None: :meth:`_step` serves every index."""
        return None

    # --- regularisation -------------------------------------------------------------------------
    def zoneout_rates(self) -> tuple[float, ...]:
        """Zoneout probability of each state: (h,) or (h, c)."""
        cell = self.zoneout if self.zoneout_cell is None else self.zoneout_cell
        return (self.zoneout, cell)[: self.num_states]

    def _zone(self, new: State, old: State) -> State:
        """Zoneout of one step's new state against the old one (the identity when off)."""
        return zoneout_states(new, old, self.zoneout_rates(), self.training)

    def _between_layers(self, x: Tensor) -> Tensor:
        """Dropout on the (T, B, D*H) output of one layer before the next reads it."""
        return sequence_dropout(
            x, self.dropout, self.training, self.variational_dropout, time_dim=0
        )

    def _drawn_weights(self) -> list[list[Tensor]]:
        """Every (layer, direction)'s ``[W_ih, W_hh(, b_ih, b_hh)]`` for one forward pass, with
        ``W_hh`` under one fresh DropConnect mask each when training with ``weight_dropout``."""
        groups = [self._weights(index) for index in range(len(self._weight_names))]
        if not (self.training and self.weight_dropout > 0):
            return groups
        return [
            [weight_ih, weight_drop(weight_hh, self.weight_dropout, True), *biases]
            for weight_ih, weight_hh, *biases in groups
        ]

    # --- input handling -------------------------------------------------------------------------
    def _shape_error(self, what: str, expected: tuple, got: tuple) -> ValueError:
        return ValueError(f"{type(self).__name__}: expected {what} of shape {expected}, got {got}")

    def _check_input(self, input: Tensor) -> None:
        layout = (
            "(batch, seq_len, input_size)" if self.batch_first else "(seq_len, batch, input_size)"
        )
        if input.dim() not in (2, 3) or input.shape[-1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__}: expected input of shape {layout} with input_size="
                f"{self.input_size} (or unbatched (seq_len, {self.input_size})), "
                f"got {tuple(input.shape)}"
            )
        if input.shape[-2 if input.dim() == 2 else 0] == 0:
            raise ValueError(
                f"{type(self).__name__}: input has no time steps: {tuple(input.shape)}"
            )

    def _initial_state(self, hx, batch: int, like: Tensor, unbatched: bool) -> State:
        """Validate ``hx`` and return it as a tuple of (L*D, B, H) tensors (zeros when None)."""
        expected = (self.num_layers * self.num_directions, batch, self.hidden_size)
        if hx is None:
            zeros = like.new_zeros(expected)
            return (zeros,) * self.num_states
        states = tuple(hx) if self.num_states > 1 else (hx,)
        if len(states) != self.num_states or not all(isinstance(s, Tensor) for s in states):
            raise ValueError(f"{type(self).__name__}: expected hx as a tuple (h_0, c_0)")
        shown = expected[::2] if unbatched else expected
        checked = []
        for state in states:
            if unbatched:
                if state.dim() != 2:
                    raise self._shape_error("hx for unbatched input", shown, tuple(state.shape))
                state = state.unsqueeze(1)
            if tuple(state.shape) != expected:
                raise self._shape_error("hx", shown, tuple(state.shape))
            checked.append(state)
        return tuple(checked)

    def _check_lengths(self, lengths, batch: int, steps: int, device) -> Tensor:
        lengths = torch.as_tensor(lengths)
        if lengths.dim() != 1 or lengths.shape[0] != batch:
            raise self._shape_error("lengths", (batch,), tuple(lengths.shape))
        if lengths.is_floating_point() or lengths.is_complex():
            raise ValueError(
                f"{type(self).__name__}: lengths must be integers, got {lengths.dtype}"
            )
        if len(lengths) and (int(lengths.min()) < 1 or int(lengths.max()) > steps):
            raise ValueError(
                f"{type(self).__name__}: lengths must lie in [1, {steps}] (the sequence length), "
                f"got min {int(lengths.min())} and max {int(lengths.max())}"
            )
        return lengths.to(device=device, dtype=torch.long)

    def choose_backend(self) -> tuple[str, str]:
        """The backend the next call will use, and why."""
        unavailable = self._fused_unavailable()
        if self.backend == "reference":
            return "reference", "requested"
        if self.backend == "compiled":
            return "compiled", f"requested: {self._compiled_step()[1]}"
        if self.backend == "fused":
            if unavailable:
                raise ValueError(
                    f"{type(self).__name__}: backend='fused' unavailable: {unavailable}"
                )
            return "fused", "requested" + self._fused_notes()
        if unavailable:
            return "reference", f"auto: {unavailable}"
        return "fused", "auto: the fused kernel computes the same function" + self._fused_notes()

    # --- forward ---------------------------------------------------------------------------------
    def forward(self, input, hx=None, lengths=None):
        """Run the layer.

        Args:
            input: (T, B, I), or (B, T, I) with ``batch_first``, or unbatched (T, I), or a
                ``PackedSequence``.
            hx: initial state (L*D, B, H) (a tuple ``(h_0, c_0)`` for LSTM); zeros when None.
            lengths: (B,) integer lengths for a padded batch; None means every sequence is full.

        Returns:
            ``output`` (T, B, D*H) (same layout and packing as the input) and ``h_n`` (L*D, B, H)
            (``(h_n, c_n)`` for LSTM).
        """
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise ValueError(
                    f"{type(self).__name__}: give lengths or a PackedSequence, not both"
                )
            packed_input = input
            input, lengths = pad_packed_sequence(input)  # (T, B, I), original batch order
            batch_first = False
        else:
            batch_first = self.batch_first
        self._check_input(input)
        unbatched = input.dim() == 2
        if unbatched:
            if lengths is not None:
                raise ValueError(f"{type(self).__name__}: lengths need a batched input")
            input = input.unsqueeze(1)  # (T, 1, I)
        elif batch_first:
            input = input.transpose(0, 1)  # (T, B, I)
        steps, batch = input.shape[0], input.shape[1]
        state = self._initial_state(hx, batch, input, unbatched)
        if lengths is not None:
            lengths = self._check_lengths(lengths, batch, steps, input.device)
            if bool((lengths == steps).all()):
                lengths = None  # nothing is padded: the plain path computes the same thing

        backend, reason = self.choose_backend()
        if (backend, reason) != (self.last_backend, self.last_backend_reason):
            logger.debug("%s: backend %s (%s)", type(self).__name__, backend, reason)
        self.last_backend, self.last_backend_reason = backend, reason
        weights = self._drawn_weights()  # W_hh dropped once for every step of this pass
        if backend == "fused":
            # (T, B, D*H), (L*D, B, H)
            output, final = self._run_fused(input, state, lengths, weights)
        else:
            step = self._compiled_step()[0] if backend == "compiled" else None
            output, final = self._run_reference(input, state, lengths, step, weights)

        if packed:
            sorted_output = output.index_select(1, packed_input.sorted_indices)
            data = pack_padded_sequence(
                sorted_output,
                _lengths_from_batch_sizes(packed_input.batch_sizes),
                enforce_sorted=True,
            ).data
            output = PackedSequence(
                data,
                packed_input.batch_sizes,
                packed_input.sorted_indices,
                packed_input.unsorted_indices,
            )
        elif unbatched:
            output = output.squeeze(1)
            final = tuple(s.squeeze(1) for s in final)
        elif batch_first:
            output = output.transpose(0, 1)
        return output, (final if self.num_states > 1 else final[0])

    def _run_reference(
        self, x: Tensor, state: State, lengths: Tensor | None, step, weights: list[list[Tensor]]
    ) -> tuple[Tensor, State]:
        """Every layer through the time loop on ``weights`` (:meth:`_drawn_weights`); ``step``
        replaces each layer's step (the compiled backend's) unless None."""
        steps = x.shape[0]
        mask = None
        if lengths is not None:
            mask = torch.arange(steps, device=x.device).unsqueeze(1) < lengths  # (T, B)
        finals: list[State] = []
        layer_input = x  # (T, B, I)
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                weight_ih, weight_hh, *biases = weights[index]
                bias_ih, bias_hh = biases if biases else (None, None)
                source = layer_input if direction == 0 else reverse_padded(layer_input, lengths)
                gx = self._project(source, index, weight_ih, bias_ih)  # (T, B, G*H): every step
                initial = tuple(s[index] for s in state)
                scan = (gx, initial, weight_hh, bias_hh, mask)
                index_step = step or self._step_of(index)
                # the plain call otherwise: diagnostics wrap _scan with this signature
                output, final = (
                    self._scan(*scan) if index_step is None else self._scan(*scan, index_step)
                )
                if direction == 1:
                    output = reverse_padded(output, lengths)
                outputs.append(output)
                finals.append(final)
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = self._between_layers(layer_input)
        final_states = tuple(torch.stack([f[k] for f in finals]) for k in range(self.num_states))
        return layer_input, final_states

    def _scan(
        self, gx: Tensor, state: State, weight_hh: Tensor, bias_hh: Tensor | None, mask, step=None
    ) -> tuple[Tensor, State]:
        """Run the recurrence over the (T, B, G*H) input projections; returns (T, B, H), state.
        ``step`` replaces :meth:`_step` (the compiled backend's)."""
        step = step or self._step
        outputs = []
        if mask is None:
            for gx_t in gx.unbind(0):
                state = self._zone(step(gx_t, state, weight_hh, bias_hh), state)
                outputs.append(state[0])
        else:
            for gx_t, valid in zip(gx.unbind(0), mask.unsqueeze(-1).unbind(0), strict=True):
                new = self._zone(step(gx_t, state, weight_hh, bias_hh), state)
                # a finished sequence keeps its state and outputs zeros
                state = tuple(torch.where(valid, n, s) for n, s in zip(new, state, strict=True))
                outputs.append(new[0] * valid)
        return torch.stack(outputs), state

    def project_input(self, input: Tensor) -> Tensor:
        """Layer 0's input projection ``x W_ih^T + b_ih`` (..., G*H), for :meth:`step`."""
        weight_ih, _, *biases = self._weights(0)
        return self._project(input, 0, weight_ih, biases[0] if biases else None)

    def step(self, input: Tensor, hx=None, projected: bool = False):
        """One time step through every layer with the cells' equations (generation's inner loop).

        ``input`` (B, I), or (B, G*H) already projected by :meth:`project_input` when
        ``projected``; ``hx`` as in :meth:`forward`. Returns ``output`` (B, H) and the new state.
        Unidirectional only (a reverse direction needs the whole sequence); no dropout, no checks;
        zoneout as in :meth:`forward` (its expectation outside training).
        """
        if self.bidirectional:
            raise ValueError(
                f"{type(self).__name__}.step: a bidirectional layer needs the whole "
                "sequence; use forward"
            )
        state = self._initial_state(hx, input.shape[0], input, unbatched=False)
        x, finals = input, []
        for layer in range(self.num_layers):
            weight_ih, weight_hh, *biases = self._weights(layer)
            bias_ih, bias_hh = biases if biases else (None, None)
            gx = x if (projected and layer == 0) else self._project(x, layer, weight_ih, bias_ih)
            old = tuple(s[layer] for s in state)
            new = self._zone((self._step_of(layer) or self._step)(gx, old, weight_hh, bias_hh), old)
            finals.append(new)
            x = new[0]
        final = tuple(torch.stack([f[k] for f in finals]) for k in range(self.num_states))
        return x, (final if self.num_states > 1 else final[0])

    def _flat_weights(self) -> list[Tensor]:
        return [w for index in range(len(self._weight_names)) for w in self._weights(index)]

    def _run_fused(
        self, x: Tensor, state: State, lengths: Tensor | None, weights: list[list[Tensor]]
    ) -> tuple[Tensor, State]:
        """The fused kernel on ``weights`` (:meth:`_drawn_weights`): one call for every layer,
        or, with variational dropout in training, one call per layer with the locked mask
        applied between them."""
        if not (self.variational_dropout and self.training and self.dropout > 0):
            flat = [w for group in weights for w in group]
            return self._fused_call(x, state, lengths, flat, self.num_layers, self.dropout)
        directions, finals = self.num_directions, []
        for layer in range(self.num_layers):
            if layer > 0:
                x = self._between_layers(x)
            rows = slice(layer * directions, (layer + 1) * directions)
            flat = [w for group in weights[rows] for w in group]
            x, final = self._fused_call(x, tuple(s[rows] for s in state), lengths, flat, 1, 0.0)
            finals.append(final)
        return x, tuple(torch.cat([f[k] for f in finals]) for k in range(self.num_states))

    def _fused_call(
        self,
        x: Tensor,
        state: State,
        lengths: Tensor | None,
        flat_weights: list[Tensor],
        num_layers: int,
        dropout: float,
    ) -> tuple[Tensor, State]:
        """One call of the fused kernel: (T, B, I) -> (T, B, D*H), state (num_layers*D, B, H)."""
        kernel = self._fused_kernel()
        hx = state if self.num_states > 1 else state[0]
        common = (flat_weights, self.bias, num_layers, dropout, self.training, self.bidirectional)
        if lengths is None:
            result = kernel(x, hx, *common, False)
            return result[0], tuple(result[1:])
        packed = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        order, unorder = packed.sorted_indices, packed.unsorted_indices
        hx = tuple(s.index_select(1, order) for s in state)
        result = kernel(
            packed.data, packed.batch_sizes, hx if self.num_states > 1 else hx[0], *common
        )
        output, _ = pad_packed_sequence(
            PackedSequence(result[0], packed.batch_sizes, order, unorder), total_length=x.shape[0]
        )
        return output, tuple(s.index_select(1, unorder) for s in result[1:])

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        defaults = dict(
            num_layers=1,
            bias=True,
            batch_first=False,
            dropout=0.0,
            bidirectional=False,
            backend="auto",
            variational_dropout=False,
            weight_dropout=0.0,
            zoneout=0.0,
            zoneout_cell=None,
        )
        for name, default in defaults.items():
            value = getattr(self, name)
            if value != default:
                text += f", {name}={value!r}"
        return text


def _lengths_from_batch_sizes(batch_sizes: Tensor) -> Tensor:
    """Sorted lengths (B,) of a packed batch from its per-step batch sizes (T,)."""
    batch = int(batch_sizes[0])
    return (batch_sizes.unsqueeze(0) > torch.arange(batch).unsqueeze(1)).sum(1)


class RNN(_RecurrentLayer):
    """Elman RNN layer: :class:`rnnkit.cells.RNNCell` over time. See :class:`_RecurrentLayer`."""

    num_gates = 1

    def __init__(self, *args, nonlinearity: str = "tanh", **kwargs) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(*args, **kwargs)

    def _step(self, gx, state, weight_hh, bias_hh):
        return (RNNCell.recurrence(gx, state[0], weight_hh, bias_hh, self.nonlinearity),)

    def _fused_kernel(self):
        return _VF.rnn_tanh if self.nonlinearity == "tanh" else _VF.rnn_relu

    def extra_repr(self) -> str:
        extra = "" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity!r}"
        return super().extra_repr() + extra


class LSTM(_RecurrentLayer):
    """LSTM layer: :class:`rnnkit.cells.LSTMCell` over time; ``hx`` and ``h_n`` are ``(h, c)``."""

    num_gates = 4
    num_states = 2

    def _step(self, gx, state, weight_hh, bias_hh):
        return LSTMCell.recurrence(gx, state, weight_hh, bias_hh)

    def _compiled_step(self):
        from rnnkit import gates

        return gates.lstm_step, gates.status()

    def _fused_kernel(self):
        return _VF.lstm


class LayerNormLSTM(_RecurrentLayer):
    """LSTM layer with layer normalisation: :class:`rnnkit.cells.LayerNormLSTMCell` over time.

    Besides ``torch.nn.LSTM``'s parameters, each layer and direction has the gains
    ``layer_norm_ih_l{k}``, ``layer_norm_hh_l{k}`` (4H) and the cell state's normalisation
    ``layer_norm_cell_weight_l{k}``, ``layer_norm_cell_bias_l{k}`` (H) (suffix ``_reverse`` for
    the backward direction). The normalised input half of the gates is computed for every step at
    once, as the plain layers compute ``x W_ih^T + b_ih``. No fused kernel normalises inside the
    recurrence, so ``auto`` runs the reference backend and says why.
    """

    num_gates = 4
    num_states = 2
    _norm_kinds = {
        "layer_norm_ih": (4, 1.0),  # (size in units of H, initial value)
        "layer_norm_hh": (4, 1.0),
        "layer_norm_cell_weight": (1, 1.0),
        "layer_norm_cell_bias": (1, 0.0),
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._norm_names: list[list[str]] = []  # per (layer, direction), in _norm_kinds' order
        for names in self._weight_names:
            suffix = names[0].removeprefix("weight_ih")
            group = []
            for kind, (size, value) in self._norm_kinds.items():
                tensor = torch.full((size * self.hidden_size,), value)
                self.register_parameter(kind + suffix, nn.Parameter(tensor))
                group.append(kind + suffix)
            self._norm_names.append(group)

    def reset_parameters(self) -> None:
        """The weights and biases as ``torch.nn.LSTM``'s; gains 1 and shifts 0, as LN starts."""
        super().reset_parameters()
        for group in getattr(self, "_norm_names", []):
            for name, (_, value) in zip(group, self._norm_kinds.values(), strict=True):
                nn.init.constant_(getattr(self, name), value)

    def _norms(self, index: int) -> list[Tensor]:
        return [getattr(self, name) for name in self._norm_names[index]]

    def _project(self, x, index, weight_ih, bias_ih):
        return LayerNormLSTMCell.project(x, weight_ih, bias_ih, self._norms(index)[0])

    def _step_of(self, index: int):
        _, gain_hh, cell_weight, cell_bias = self._norms(index)

        def step(gx, state, weight_hh, bias_hh):
            return LayerNormLSTMCell.recurrence(
                gx, state, weight_hh, bias_hh, gain_hh, cell_weight, cell_bias
            )

        return step

    def _step(self, gx, state, weight_hh, bias_hh):
        raise TypeError("LayerNormLSTM steps through _step_of(index): each layer has its norms")

    def _compiled_step(self):
        return None, "the reference step (no fused gate function for a layer-normalised LSTM)"

    def _fused_kernel(self):
        raise NotImplementedError("no fused kernel normalises inside the recurrence")

    def _fused_unavailable(self) -> str | None:
        return super()._fused_unavailable() or (
            "layer normalisation inside the recurrence has no fused kernel in PyTorch"
        )


class GRU(_RecurrentLayer):
    """GRU layer: :class:`rnnkit.cells.GRUCell` over time (``reset_after`` as in the cell)."""

    num_gates = 3

    def __init__(self, *args, reset_after: bool = True, **kwargs) -> None:
        self.reset_after = reset_after
        super().__init__(*args, **kwargs)

    def _step(self, gx, state, weight_hh, bias_hh):
        return (GRUCell.recurrence(gx, state[0], weight_hh, bias_hh, self.reset_after),)

    def _fused_kernel(self):
        return _VF.gru

    def _fused_unavailable(self) -> str | None:
        if not self.reset_after:
            return "reset_after=False (the original GRU) has no fused kernel in PyTorch"
        return super()._fused_unavailable()

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.reset_after else ", reset_after=False")
