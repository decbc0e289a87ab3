"""rnnkit: recurrent neural networks written from their equations.

``import rnnkit`` loads torch and numpy only; training, data and plotting load when used.
"""

from rnnkit import attention
from rnnkit.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.layers import GRU, LSTM, RNN

__version__ = "0.1.0"
__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU", "attention", "__version__"]
