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

__all__ = ["RNNCell", "LSTMCell", "GRUCell"]


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


class LSTMCell(_CellBase):
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
        gx = F.linear(input, self.weight_ih, self.bias_ih)
        h, c = self.recurrence(gx, hx, self.weight_hh, self.bias_hh)
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


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
