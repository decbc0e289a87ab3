"""Fused gate functions for the reference time loop (``backend="compiled"``).

An LSTM step of the reference backend (:meth:`rnnkit.cells.LSTMCell.recurrence`) is a matrix
product and then about ten elementwise operations, each a pass over (B, 4H) or (B, H) memory and
each a node that autograd records and later differentiates one by one. Here the elementwise part
is one autograd function with the derivatives written out:

.. math::
    [i, f, g, o] = \\sigma, \\sigma, \\tanh, \\sigma \\text{ of the gates};\\quad
    c' = f c + i g;\\quad h' = o \\tanh(c')

    \\delta c = \\delta c' + \\delta h'\\, o\\, (1 - \\tanh^2 c'),\\quad
    \\delta i = \\delta c\\, g\\, i (1 - i),\\quad \\delta f = \\delta c\\, c\\, f (1 - f)

    \\delta g = \\delta c\\, i\\, (1 - g^2),\\quad \\delta o = \\delta h' \\tanh(c')\\, o (1 - o),
    \\quad \\delta c_{prev} = \\delta c\\, f

and its forward and backward arithmetic are each compiled by ``torch.compile`` (inductor: one
C++ loop per function) when a compiler works, or run eagerly otherwise. :func:`status` says which,
and the layer records it in ``last_backend_reason``. The plain reference backend stays the
readable definition; this one must compute the same numbers (checked by the tests).
"""

from __future__ import annotations

import torch
from torch import Tensor

_compiled: dict[str, object] = {}
_status: str | None = None


def _lstm_forward(gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(B, 4H) gate pre-activations and c (B, H) -> activations (B, 4H), c', tanh(c'), h'."""
    i, f, g, o = gates.chunk(4, dim=1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_next = f * c + i * g
    tanh_c = torch.tanh(c_next)
    return torch.cat([i, f, g, o], dim=1), c_next, tanh_c, o * tanh_c


def _lstm_backward(
    activations: Tensor, c: Tensor, tanh_c: Tensor, grad_h: Tensor, grad_c_next: Tensor
) -> tuple[Tensor, Tensor]:
    """The gradients of the gate pre-activations (B, 4H) and of c (B, H) (module docstring)."""
    i, f, g, o = activations.chunk(4, dim=1)
    grad_c = grad_c_next + grad_h * o * (1 - tanh_c * tanh_c)
    grad_gates = torch.cat(
        [
            grad_c * g * i * (1 - i),
            grad_c * c * f * (1 - f),
            grad_c * i * (1 - g * g),
            grad_h * tanh_c * o * (1 - o),
        ],
        dim=1,
    )
    return grad_gates, grad_c * f


def status() -> str:
    """How the gate functions run: compiled by inductor, or eagerly and why."""
    _functions()
    return _status


def _functions():
    """The forward and backward arithmetic, compiled once when a compiler works."""
    global _status
    if _status is None:
        try:
            forward = torch.compile(_lstm_forward, dynamic=None)
            backward = torch.compile(_lstm_backward, dynamic=None)
            probe = torch.zeros(1, 4), torch.zeros(1, 1)
            outputs = forward(*probe)  # compiles now: a missing compiler fails here
            backward(outputs[0], probe[1], outputs[2], probe[1], probe[1])
            _compiled.update(forward=forward, backward=backward)
            _status = "fused LSTM gate function compiled by torch.compile (inductor)"
        except Exception as error:  # any compiler failure: the same arithmetic, eagerly
            _compiled.update(forward=_lstm_forward, backward=_lstm_backward)
            reason = str(error).strip().splitlines()[0][:120] if str(error).strip() else ""
            _status = (
                f"fused LSTM gate function, eager (torch.compile failed: "
                f"{type(error).__name__}{': ' + reason if reason else ''})"
            )
    return _compiled["forward"], _compiled["backward"]


class LSTMGates(torch.autograd.Function):
    """``(gates (B, 4H), c (B, H)) -> (h', c')`` with the derivatives of the module docstring;
    ``compiled=False`` runs the arithmetic eagerly even where a compiler works."""

    @staticmethod
    def forward(ctx, gates: Tensor, c: Tensor, compiled: bool = True) -> tuple[Tensor, Tensor]:
        forward, _ = _functions() if compiled else (_lstm_forward, _lstm_backward)
        activations, c_next, tanh_c, h_next = forward(gates, c)
        ctx.save_for_backward(activations, c, tanh_c)
        ctx.compiled = compiled
        return h_next, c_next

    @staticmethod
    def backward(ctx, grad_h: Tensor, grad_c_next: Tensor):
        _, backward = _functions() if ctx.compiled else (_lstm_forward, _lstm_backward)
        activations, c, tanh_c = ctx.saved_tensors
        return (*backward(activations, c, tanh_c, grad_h, grad_c_next), None)


def lstm_step(
    gx: Tensor,
    state: tuple[Tensor, Tensor],
    weight_hh: Tensor,
    bias_hh: Tensor | None,
    compiled: bool = True,
) -> tuple[Tensor, Tensor]:
    """:meth:`rnnkit.cells.LSTMCell.recurrence` through :class:`LSTMGates`."""
    h, c = state
    if bias_hh is not None:
        gx = gx + bias_hh
    gates = torch.addmm(gx, h, weight_hh.t())  # (B, 4H)
    return LSTMGates.apply(gates, c, compiled)
