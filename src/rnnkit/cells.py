"""Recurrent cells written from their equations.

Each cell has the parameters of its ``torch.nn`` counterpart (names, shapes and gate order), so a
``state_dict`` moves between the two. The equations live in one static method per cell,
``recurrence``, which takes the input projection ``x_t W_ih^T + b_ih`` already computed: a cell
computes it for one step, a layer (:mod:`rnnkit.layers`) computes it for every step at once outside
its time loop and then calls the same ``recurrence``.

Symbols: ``x_t`` input (B, I); ``h`` previous hidden state (B, H); ``c`` previous cell state (B, H);
``gx`` input projection (B, G*H) with G gates; ``W_hh`` recurrent weights (G*H, H); ``b_hh`` (G*H).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["RNNCell", "LSTMCell", "LayerNormLSTMCell", "GRUCell"]

LAYER_NORM_EPS = 1e-5  # the epsilon of every layer normalisation in the cells


def _check_cell_input(input: Tensor, input_size: int, hx: Tensor | None, hidden_size: int) -> bool:
    """Validate shapes; return True when the input is unbatched (1-D)."""
    if input.dim() not in (1, 2) or input.shape[-1] != input_size:
        raise ValueError(
            f"expected input of shape (batch, {input_size}) or ({input_size},), "
            f"got {tuple(input.shape)}"
        )
    if hx is not None:
        expected = (*input.shape[:-1], hidden_size)
        if tuple(hx.shape) != expected:
            raise ValueError(f"expected state of shape {expected}, got {tuple(hx.shape)}")
    return input.dim() == 1


class _CellBase(nn.Module):
    """Parameters ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh`` (G*H)."""

    num_gates: int = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        if input_size <= 0 or hidden_size <= 0:
            raise ValueError(
                f"input_size and hidden_size must be positive, got {input_size} and {hidden_size}"
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        gates = self.num_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gates, input_size))
        self.weight_hh = nn.Parameter(torch.empty(gates, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(gates))
            self.bias_hh = nn.Parameter(torch.empty(gates))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) for every parameter, as ``torch.nn`` does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"


class RNNCell(_CellBase):
    r"""Elman cell.

    .. math::
        h' = \phi(x_t W_{ih}^T + b_{ih} + h W_{hh}^T + b_{hh}),\ \phi = \tanh \text{ or relu}

    Input (B, I) or (I,), state (B, H) or (H,); returns h' of the state's shape.
    """

    num_gates = 1
    gate_names = ("hidden",)

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh"
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias)

    @staticmethod
    def recurrence(
        gx: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None, nonlinearity: str = "tanh"
    ) -> Tensor:
        """One step from the input projection ``gx`` (B, H): returns h' (B, H)."""
        pre = gx + F.linear(h, weight_hh, bias_hh)
        return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        unbatched = _check_cell_input(input, self.input_size, hx, self.hidden_size)
        if unbatched:
            input = input.unsqueeze(0)
            hx = None if hx is None else hx.unsqueeze(0)
        if hx is None:
            hx = input.new_zeros(input.shape[0], self.hidden_size)
        gx = F.linear(input, self.weight_ih, self.bias_ih)
        h = self.recurrence(gx, hx, self.weight_hh, self.bias_hh, self.nonlinearity)
        return h.squeeze(0) if unbatched else h

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"


class _CellWithMemory(_CellBase):
    """A cell whose state is ``(h, c)``: ``forward`` checks shapes, batches a 1-D input, starts
    from zeros and calls :meth:`_advance` on (B, I) and ``(h, c)`` (B, H) each."""

    def _advance(self, input: Tensor, hx: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        unbatched = _check_cell_input(
            input, self.input_size, None if hx is None else hx[0], self.hidden_size
        )
        if hx is not None:
            _check_cell_input(input, self.input_size, hx[1], self.hidden_size)
        if unbatched:
            input = input.unsqueeze(0)
            hx = None if hx is None else (hx[0].unsqueeze(0), hx[1].unsqueeze(0))
        if hx is None:
            zeros = input.new_zeros(input.shape[0], self.hidden_size)
            hx = (zeros, zeros)
        h, c = self._advance(input, hx)
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class LSTMCell(_CellWithMemory):
    r"""Long short-term memory cell (Hochreiter & Schmidhuber 1997, with a forget gate).

    Gates in ``torch.nn``'s order i, f, g, o, stacked in ``weight_ih``/``weight_hh`` rows:

    .. math::
        [i, f, g, o] = x_t W_{ih}^T + b_{ih} + h W_{hh}^T + b_{hh}

        i = \sigma(i),\ f = \sigma(f),\ g = \tanh(g),\ o = \sigma(o)

        c' = f \odot c + i \odot g

        h' = o \odot \tanh(c')

    Input (B, I) or (I,), state ``(h, c)`` each (B, H) or (H,); returns ``(h', c')``.
    """

    num_gates = 4
    gate_names = ("input", "forget", "candidate", "output")  # i, f, g, o: row blocks of W

    @staticmethod
    def gates(
        gx: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The activations i, f, g, o (B, H) each, from the input projection ``gx`` (B, 4H) and
        the previous state h (B, H)."""
        pre = gx + F.linear(h, weight_hh, bias_hh)  # (B, 4H)
        input_gate, forget_gate, candidate, output_gate = pre.chunk(4, dim=1)
        return (
            torch.sigmoid(input_gate),
            torch.sigmoid(forget_gate),
            torch.tanh(candidate),
            torch.sigmoid(output_gate),
        )

    @staticmethod
    def recurrence(
        gx: Tensor, state: tuple[Tensor, Tensor], weight_hh: Tensor, bias_hh: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """One step from the input projection ``gx`` (B, 4H): returns (h', c')."""
        h, c = state
        input_gate, forget_gate, candidate, output_gate = LSTMCell.gates(gx, h, weight_hh, bias_hh)
        c_next = forget_gate * c + input_gate * candidate
        h_next = output_gate * torch.tanh(c_next)
        return h_next, c_next

    def _advance(self, input: Tensor, hx: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        gx = F.linear(input, self.weight_ih, self.bias_ih)
        return self.recurrence(gx, hx, self.weight_hh, self.bias_hh)


def gate_norm(pre: Tensor, gain: Tensor, gates: int) -> Tensor:
    """Layer normalisation of each of the ``gates`` blocks of ``pre`` (..., G*H) separately,
    scaled by ``gain`` (G*H): ``(a - mean(a)) / sqrt(var(a) + eps) * gain`` over a block's H
    units (no shift: the cell's biases are the shift)."""
    blocks = pre.unflatten(-1, (gates, -1))  # (..., G, H)
    normalised = F.layer_norm(blocks, blocks.shape[-1:], eps=LAYER_NORM_EPS)
    return normalised.flatten(-2) * gain  # (..., G*H)


class LayerNormLSTMCell(_CellWithMemory):
    r"""LSTM cell with layer normalisation (Ba et al. 2016), gates in the order i, f, g, o.

    With :math:`\mathrm{LN}_\gamma(a) = \gamma \odot (a - \mu(a)) / \sqrt{\sigma^2(a) + \epsilon}`
    (statistics over the H units of one gate block, each of the four blocks separately):

    .. math::
        [i, f, g, o] = \mathrm{LN}_{\gamma_{ih}}(x_t W_{ih}^T) + b_{ih}
                     + \mathrm{LN}_{\gamma_{hh}}(h W_{hh}^T) + b_{hh}

        c' = \sigma(f) \odot c + \sigma(i) \odot \tanh(g)

        h' = \sigma(o) \odot \tanh(\mathrm{LN}_{\gamma_c}(c') + \beta_c)

    Ba et al. write one normalisation over all 4H pre-activations; normalising each gate block
    on its own (as TensorFlow's ``LayerNormBasicLSTMCell`` does) keeps one gate's scale from
    setting another's. The biases ``b_ih + b_hh`` are the shift of the two gate normalisations,
    so there is no separate one; the cell state carried to the next step is the unnormalised c'.

    Parameters: those of :class:`LSTMCell` plus ``layer_norm_ih`` and ``layer_norm_hh`` (4H, the
    gains, initialised to 1), ``layer_norm_cell_weight`` (H, 1) and ``layer_norm_cell_bias``
    (H, 0). Input (B, I) or (I,), state ``(h, c)`` each (B, H) or (H,); returns ``(h', c')``.
    """

    num_gates = 4
    gate_names = LSTMCell.gate_names

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias)
        self.layer_norm_ih = nn.Parameter(torch.ones(4 * hidden_size))
        self.layer_norm_hh = nn.Parameter(torch.ones(4 * hidden_size))
        self.layer_norm_cell_weight = nn.Parameter(torch.ones(hidden_size))
        self.layer_norm_cell_bias = nn.Parameter(torch.zeros(hidden_size))

    @staticmethod
    def project(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None, gain_ih: Tensor) -> Tensor:
        """The input half of the gates, ``LN(x W_ih^T) * gamma_ih + b_ih`` (..., 4H): it does not
        depend on the state, so a layer computes it for every step at once."""
        projected = gate_norm(F.linear(x, weight_ih), gain_ih, 4)
        return projected if bias_ih is None else projected + bias_ih

    @staticmethod
    def recurrence(
        gx: Tensor,
        state: tuple[Tensor, Tensor],
        weight_hh: Tensor,
        bias_hh: Tensor | None,
        gain_hh: Tensor,
        cell_weight: Tensor,
        cell_bias: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """One step from the normalised input half ``gx`` (B, 4H) (:meth:`project`): (h', c')."""
        h, c = state
        pre = gx + gate_norm(F.linear(h, weight_hh), gain_hh, 4)  # (B, 4H)
        if bias_hh is not None:
            pre = pre + bias_hh
        input_gate, forget_gate, candidate, output_gate = pre.chunk(4, dim=1)
        c_next = torch.sigmoid(forget_gate) * c + torch.sigmoid(input_gate) * torch.tanh(candidate)
        c_normalised = F.layer_norm(
            c_next, c_next.shape[-1:], cell_weight, cell_bias, eps=LAYER_NORM_EPS
        )
        h_next = torch.sigmoid(output_gate) * torch.tanh(c_normalised)
        return h_next, c_next

    def _advance(self, input: Tensor, hx: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        gx = self.project(input, self.weight_ih, self.bias_ih, self.layer_norm_ih)
        return self.recurrence(gx, hx, self.weight_hh, self.bias_hh, *self.norms())

    def norms(self) -> tuple[Tensor, Tensor, Tensor]:
        """The recurrence's normalisation parameters: gamma_hh, gamma_c, beta_c."""
        return self.layer_norm_hh, self.layer_norm_cell_weight, self.layer_norm_cell_bias

    def reset_parameters(self) -> None:
        """The weights and biases as :class:`LSTMCell`'s; gains 1 and shift 0, as LN starts."""
        super().reset_parameters()
        for name in ("layer_norm_ih", "layer_norm_hh", "layer_norm_cell_weight"):
            if hasattr(self, name):
                nn.init.ones_(getattr(self, name))
        if hasattr(self, "layer_norm_cell_bias"):
            nn.init.zeros_(self.layer_norm_cell_bias)


class GRUCell(_CellBase):
    r"""Gated recurrent unit (Cho et al. 2014). Gates in ``torch.nn``'s order r, z, n.

    With ``[r_x, z_x, n_x] = x_t W_{ih}^T + b_{ih}`` and ``W_{hr}, W_{hz}, W_{hn}`` the row blocks
    of ``W_{hh}``:

    .. math::
        r = \sigma(r_x + h W_{hr}^T + b_{hr}),\quad z = \sigma(z_x + h W_{hz}^T + b_{hz})

        n = \tanh(n_x + r \odot (h W_{hn}^T + b_{hn}))  \quad \text{reset_after=True (default)}

        n = \tanh(n_x + (r \odot h) W_{hn}^T + b_{hn})  \quad \text{reset_after=False}

        h' = (1 - z) \odot n + z \odot h

    ``reset_after=True`` is PyTorch's and cuDNN's form: the reset gate multiplies the recurrent
    product, so all three recurrent products are one matrix product. ``reset_after=False`` is the
    original paper's: the reset gate multiplies h before the product, which needs a second,
    sequential product each step; it has no fused kernel in PyTorch.

    Texts differ in the update gate's orientation: here (as in PyTorch and Keras) z weights the old
    state h; Cho et al. and many textbooks write ``h' = z * n + (1 - z) * h``, z weighting the
    candidate. The two are the same family of models with z <-> 1 - z (negate the z rows of the
    weights and biases to convert).

    Input (B, I) or (I,), state (B, H) or (H,); returns h'.
    """

    num_gates = 3
    gate_names = ("reset", "update", "candidate")  # r, z, n: row blocks of W

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, reset_after: bool = True
    ) -> None:
        self.reset_after = reset_after
        super().__init__(input_size, hidden_size, bias)

    @staticmethod
    def gates(
        gx: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None, reset_after: bool = True
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The activations r, z, n (B, H) each, from the input projection ``gx`` (B, 3H) and the
        previous state h (B, H)."""
        r_x, z_x, n_x = gx.chunk(3, dim=1)
        if reset_after:
            r_h, z_h, n_h = F.linear(h, weight_hh, bias_hh).chunk(3, dim=1)  # (B, H) each
            reset_gate = torch.sigmoid(r_x + r_h)
            update_gate = torch.sigmoid(z_x + z_h)
            candidate = torch.tanh(n_x + reset_gate * n_h)
        else:
            hidden = h.shape[1]
            b_rz = None if bias_hh is None else bias_hh[: 2 * hidden]
            b_n = None if bias_hh is None else bias_hh[2 * hidden :]
            r_h, z_h = F.linear(h, weight_hh[: 2 * hidden], b_rz).chunk(2, dim=1)
            reset_gate = torch.sigmoid(r_x + r_h)
            update_gate = torch.sigmoid(z_x + z_h)
            candidate = torch.tanh(n_x + F.linear(reset_gate * h, weight_hh[2 * hidden :], b_n))
        return reset_gate, update_gate, candidate

    @staticmethod
    def recurrence(
        gx: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None, reset_after: bool = True
    ) -> Tensor:
        """One step from the input projection ``gx`` (B, 3H): returns h' (B, H)."""
        _, update_gate, candidate = GRUCell.gates(gx, h, weight_hh, bias_hh, reset_after)
        return candidate + update_gate * (h - candidate)  # (1 - z) * n + z * h

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        unbatched = _check_cell_input(input, self.input_size, hx, self.hidden_size)
        if unbatched:
            input = input.unsqueeze(0)
            hx = None if hx is None else hx.unsqueeze(0)
        if hx is None:
            hx = input.new_zeros(input.shape[0], self.hidden_size)
        gx = F.linear(input, self.weight_ih, self.bias_ih)
        h = self.recurrence(gx, hx, self.weight_hh, self.bias_hh, self.reset_after)
        return h.squeeze(0) if unbatched else h

    def extra_repr(self) -> str:
        return super().extra_repr() + f", reset_after={self.reset_after}"
