"""rnnkit: recurrent neural networks written from their equations.

``import rnnkit`` loads only the standard library; torch and numpy load with the first cell, layer
or attention module used (so the ``rnnkit`` command starts inside its own error handling, and
Ctrl-C while torch loads is a clean exit), training, data and plotting when used.
``rnnkit.train``, ``rnnkit.load``, ``rnnkit.evaluate``, ``rnnkit.diagnose`` and ``rnnkit.export``
are the Python API (:mod:`rnnkit.api`).
"""

from importlib import import_module

__version__ = "0.1.0"

# public name -> the module that defines it
_LAZY = {
    "RNNCell": "rnnkit.cells",
    "LSTMCell": "rnnkit.cells",
    "LayerNormLSTMCell": "rnnkit.cells",
    "GRUCell": "rnnkit.cells",
    "RNN": "rnnkit.layers",
    "LSTM": "rnnkit.layers",
    "LayerNormLSTM": "rnnkit.layers",
    "GRU": "rnnkit.layers",
}


def __getattr__(name: str):
    if name == "attention":
        return import_module("rnnkit.attention")
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def train(task, config=None, out=None, **options):
    """Train a run of ``task``; see :func:`rnnkit.api.train`."""
    from rnnkit import api

    return api.train(task, config, out, **options)


def load(run, engine="torch"):
    """A trained run with its best weights; see :func:`rnnkit.api.load`."""
    from rnnkit import api

    return api.load(run, engine)


def evaluate(run, data=None, **options):
    """Score a run and write RUN/eval.json; see :func:`rnnkit.api.evaluate`."""
    from rnnkit import api

    return api.evaluate(run, data, **options)


def export(run, out, format="onnx"):
    """Export a run's model (ONNX) with its sidecar; see :func:`rnnkit.api.export`."""
    from rnnkit import api

    return api.export(run, out, format)


def diagnose(run, data=None, batches=4, **options):
    """Gradient per step, gate saturation and recurrent spectra of a run, into
    RUN/diagnostics.json; see :func:`rnnkit.api.diagnose`."""
    from rnnkit import api

    return api.diagnose(run, data, batches, **options)


__all__ = [
    "train",
    "load",
    "evaluate",
    "export",
    "diagnose",
    "RNNCell",
    "LSTMCell",
    "LayerNormLSTMCell",
    "GRUCell",
    "RNN",
    "LSTM",
    "LayerNormLSTM",
    "GRU",
    "attention",
    "__version__",
]
