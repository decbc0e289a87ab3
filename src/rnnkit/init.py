"""Initialisations of a recurrent layer beyond ``torch.nn``'s uniform one.

Chrono initialisation (Tallec & Ollivier 2018, "Can recurrent neural networks warp time?") sets
the gate biases so that, at initialisation, the units keep their state for characteristic times
spread over ``[1, T_max]`` instead of about one step. With the uniform initialisation of
``torch.nn`` the forget gate starts near sigma(0) = 1/2, so a state decays like 2^-t and the
gradient from step T reaches step 1 scaled by about 2^-T: long-range dependencies are invisible
until training has found large biases by itself. Chrono draws, per unit,

.. math::
    b \\sim \\log\\, \\mathcal{U}([1, T_{max} - 1])

and sets, for an LSTM (``c' = f c + i g``): forget bias ``b_f = b``, input bias ``b_i = -b``;
for a GRU in rnnkit's and PyTorch's orientation (``h' = (1 - z) n + z h``, z keeps the old
state): update bias ``b_z = b``. A unit with ``sigma(b_f) = 1 - 1/tau`` forgets on a time scale
of ``tau = 1 + e^b``, so ``tau`` spreads uniformly over ``[2, T_max]``. The plain RNN has no gate
and cannot take it.

Each layer has two biases per gate, ``b_ih`` and ``b_hh``, which only ever appear as their sum:
the chrono value goes into ``b_hh`` and that gate's rows of ``b_ih`` become 0.
"""

from __future__ import annotations

import torch
from torch import nn

# Per cell: the gate blocks of the bias (in the layer's row order) that chrono sets, with the
# sign of the drawn value b. LSTM rows are i, f, g, o; GRU rows r, z, n.
CHRONO_GATES = {
    "LSTM": {0: -1.0, 1: 1.0},  # input -b, forget +b
    "LayerNormLSTM": {0: -1.0, 1: 1.0},
    "GRU": {1: 1.0},  # update +b
}


@torch.no_grad()
def chrono_init_(layer: nn.Module, t_max: float, generator: torch.Generator | None = None) -> None:
    """Chrono-initialise the gate biases of an rnnkit or ``torch.nn`` LSTM / GRU in place, for
    dependencies up to ``t_max`` steps (``t_max`` > 2). Every layer and direction draws its own b.
    """
    kind = type(layer).__name__
    if kind not in CHRONO_GATES:
        raise ValueError(f"chrono initialisation needs gates (an LSTM or GRU), not {kind}")
    if not t_max > 2:
        raise ValueError(f"chrono initialisation needs t_max > 2, got {t_max}")
    if not getattr(layer, "bias", True):
        raise ValueError("chrono initialisation sets gate biases, but the layer has bias=False")
    hidden = layer.hidden_size
    for name, bias_hh in layer.named_parameters():
        if not name.startswith("bias_hh_"):
            continue
        bias_ih = getattr(layer, "bias_ih_" + name[len("bias_hh_") :])
        drawn = torch.empty(hidden, dtype=bias_hh.dtype)
        drawn.uniform_(1.0, t_max - 1.0, generator=generator).log_()  # (H,)
        for block, sign in CHRONO_GATES[kind].items():
            rows = slice(block * hidden, (block + 1) * hidden)
            bias_hh[rows] = sign * drawn.to(bias_hh.device)
            bias_ih[rows] = 0.0
