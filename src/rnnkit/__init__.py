"""rnnkit: recurrent neural networks written from their equations.

``import rnnkit`` loads torch and numpy only; training, data and plotting load when used.
``rnnkit.train``, ``rnnkit.load``, ``rnnkit.evaluate``, ``rnnkit.diagnose`` and ``rnnkit.export``
are the Python API (:mod:`rnnkit.api`).
"""

from rnnkit import attention
from rnnkit.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.layers import GRU, LSTM, RNN

__version__ = "0.1.0"


def train(task, config=None, out=None, **options):
    """Train a run of ``task``; see :func:`rnnkit.api.train`."""
    from rnnkit import api

    return api.train(task, config, out, **options)


def load(run, engine="torch"):
    """A trained run with its best weights; see :func:`rnnkit.api.load`."""
    from rnnkit import api

    return api.load(run, engine)


def evaluate(run, data=None, engine="torch"):
    """Score a run and write RUN/eval.json; see :func:`rnnkit.api.evaluate`."""
    from rnnkit import api

    return api.evaluate(run, data, engine)


def export(run, out, format="onnx"):
    """Export a run's model (ONNX) with its sidecar; see :func:`rnnkit.api.export`."""
    from rnnkit import api

    return api.export(run, out, format)


def diagnose(run, data=None, batches=4):
    """Gradient per step, gate saturation and recurrent spectra of a run, into
    RUN/diagnostics.json; see :func:`rnnkit.api.diagnose`."""
    from rnnkit import api

    return api.diagnose(run, data, batches)


__all__ = [
    "train",
    "load",
    "evaluate",
    "export",
    "diagnose",
    "RNNCell",
    "LSTMCell",
    "GRUCell",
    "RNN",
    "LSTM",
    "GRU",
    "attention",
    "__version__",
]
