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

from rnnkit.cells import GRUCell, LSTMCell, RNNCell

__all__ = ["RNN", "LSTM", "GRU", "BACKENDS"]

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
        return None

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
            return "fused", "requested"
        if unavailable:
            return "reference", f"auto: {unavailable}"
        return "fused", "auto: the fused kernel computes the same function"

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
        if backend == "fused":
            output, final = self._run_fused(input, state, lengths)  # (T, B, D*H), (L*D, B, H)
        else:
            step = self._compiled_step()[0] if backend == "compiled" else None
            output, final = self._run_reference(input, state, lengths, step)

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
        self, x: Tensor, state: State, lengths: Tensor | None, step=None
    ) -> tuple[Tensor, State]:
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
                weight_ih, weight_hh, *biases = self._weights(index)
                bias_ih, bias_hh = biases if biases else (None, None)
                source = layer_input if direction == 0 else reverse_padded(layer_input, lengths)
                gx = F.linear(source, weight_ih, bias_ih)  # (T, B, G*H): all steps at once
                initial = tuple(s[index] for s in state)
                scan = (gx, initial, weight_hh, bias_hh, mask)
                # the plain call unless compiled: diagnostics wrap _scan with this signature
                output, final = self._scan(*scan) if step is None else self._scan(*scan, step)
                if direction == 1:
                    output = reverse_padded(output, lengths)
                outputs.append(output)
                finals.append(final)
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
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
                state = step(gx_t, state, weight_hh, bias_hh)
                outputs.append(state[0])
        else:
            for gx_t, valid in zip(gx.unbind(0), mask.unsqueeze(-1).unbind(0), strict=True):
                new = step(gx_t, state, weight_hh, bias_hh)
                # a finished sequence keeps its state and outputs zeros
                state = tuple(torch.where(valid, n, s) for n, s in zip(new, state, strict=True))
                outputs.append(new[0] * valid)
        return torch.stack(outputs), state

    def project_input(self, input: Tensor) -> Tensor:
        """Layer 0's input projection ``x W_ih^T + b_ih`` (..., G*H), for :meth:`step`."""
        weight_ih, _, *biases = self._weights(0)
        return F.linear(input, weight_ih, biases[0] if biases else None)

    def step(self, input: Tensor, hx=None, projected: bool = False):
        """One time step through every layer with the cells' equations (generation's inner loop).

        ``input`` (B, I), or (B, G*H) already projected by :meth:`project_input` when
        ``projected``; ``hx`` as in :meth:`forward`. Returns ``output`` (B, H) and the new state.
        Unidirectional only (a reverse direction needs the whole sequence); no dropout, no checks.
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
            gx = x if (projected and layer == 0) else F.linear(x, weight_ih, bias_ih)
            new = self._step(gx, tuple(s[layer] for s in state), weight_hh, bias_hh)
            finals.append(new)
            x = new[0]
        final = tuple(torch.stack([f[k] for f in finals]) for k in range(self.num_states))
        return x, (final if self.num_states > 1 else final[0])

    def _flat_weights(self) -> list[Tensor]:
        return [w for index in range(len(self._weight_names)) for w in self._weights(index)]

    def _run_fused(self, x: Tensor, state: State, lengths: Tensor | None) -> tuple[Tensor, State]:
        kernel = self._fused_kernel()
        hx = state if self.num_states > 1 else state[0]
        common = (
            self._flat_weights(),
            self.bias,
            self.num_layers,
            self.dropout,
            self.training,
            self.bidirectional,
        )
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
        return None

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.reset_after else ", reset_after=False")
