"""The one place that maps cell names to rnnkit's layers and cells, and lists the names every model
accepts for cells, nonlinearities, backends and attention."""

from __future__ import annotations

from torch import nn

from rnnkit import attention as attention_lib
from rnnkit.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.config import option
from rnnkit.layers import GRU, LSTM, RNN

LAYERS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
CELLS = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}
CELL_NAMES = tuple(LAYERS)
NONLINEARITIES = ("tanh", "relu")
BACKENDS = ("auto", "reference", "fused", "compiled")
ATTENTIONS = ("none", *attention_lib.KINDS)  # "none": no attention


def recurrent_layer(
    cell: str, input_size: int, hidden_size: int, nonlinearity: str = "tanh", **options
) -> nn.Module:
    """``rnnkit.RNN``, ``LSTM`` or ``GRU`` by name; ``nonlinearity`` applies to ``rnn`` only."""
    extra = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
    return LAYERS[cell](input_size, hidden_size, **options, **extra)


# The options every recurrent model has, declared once.
def cell_option(default: str):
    return option(default, "recurrent cell: rnn, lstm or gru", choices=CELL_NAMES)


def nonlinearity_option():
    return option("tanh", "tanh or relu, for --cell rnn", choices=NONLINEARITIES)


def backend_option():
    return option(
        "auto",
        "auto (fused PyTorch kernels when they compute the same thing), reference (rnnkit's "
        "cells in a Python loop), fused, or compiled (the reference loop with a fused LSTM gate "
        "function, torch.compile'd when a compiler works)",
        choices=BACKENDS,
    )
