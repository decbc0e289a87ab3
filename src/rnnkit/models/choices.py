"""The one place that maps cell names to rnnkit's layers and cells, lists the names every model
accepts for cells, nonlinearities, backends and attention, and declares the options every
recurrent model shares (the cell, its backend, and the regularisation of
:mod:`rnnkit.regularise`)."""

from __future__ import annotations

from torch import nn

from rnnkit import attention as attention_lib
from rnnkit.cells import GRUCell, LayerNormLSTMCell, LSTMCell, RNNCell
from rnnkit.config import option
from rnnkit.errors import InputError
from rnnkit.layers import GRU, LSTM, RNN, LayerNormLSTM

LAYERS = {"rnn": RNN, "lstm": LSTM, "lnlstm": LayerNormLSTM, "gru": GRU}
CELLS = {"rnn": RNNCell, "lstm": LSTMCell, "lnlstm": LayerNormLSTMCell, "gru": GRUCell}
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
    return option(
        default,
        "recurrent cell: rnn, lstm, lnlstm (LSTM with layer normalisation, Ba et al. 2016) or gru",
        choices=CELL_NAMES,
    )


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


# Regularisation of the recurrent layers: every model config declares these four fields, passes
# ``regularisation(config)`` to its layers and calls ``check_regularisation(config)``.
def variational_dropout_option(where: str):
    """``where``: the dropouts it makes variational, for the help text."""
    return option(
        False,
        "one dropout mask per sequence, the same at every time step (Gal & Ghahramani 2016), "
        + where,
    )


def weight_dropout_option():
    return option(
        0.0,
        "DropConnect on the recurrent weights W_hh: one mask per batch, the same at every step "
        "(Merity et al. 2017)",
        min=0,
        below=1,
    )


def zoneout_option():
    return option(
        0.0,
        "zoneout: probability that a state unit keeps its previous value at a step (Krueger et "
        "al. 2016); evaluation uses the expectation",
        min=0,
        below=1,
    )


def zoneout_cell_option():
    return option(
        None, "zoneout of an LSTM's cell state c", min=0, below=1, none="the --zoneout rate"
    )


def regularisation(config) -> dict:
    """The layer arguments of a config's regularisation options."""
    return {
        "variational_dropout": config.variational_dropout,
        "weight_dropout": config.weight_dropout,
        "zoneout": config.zoneout,
        "zoneout_cell": config.zoneout_cell,
    }


def check_regularisation(config) -> None:
    """Raise InputError for regularisation options the config's cell cannot take."""
    if config.zoneout_cell is not None and LAYERS[config.cell].num_states == 1:
        raise InputError(
            f"--zoneout-cell needs a cell state (--cell lstm or lnlstm), got --cell {config.cell}"
        )
