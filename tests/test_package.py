"""The package itself: light import, version, console script."""

import subprocess
import sys


def test_import_loads_only_the_standard_library():
    """The console script starts inside main()'s error handling: Ctrl-C while torch loads is a
    clean exit, not a traceback."""
    code = (
        "import sys; before = set(sys.modules); import rnnkit, rnnkit.cli; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(sorted(new - set(sys.stdlib_module_names) - {'rnnkit'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_import_loads_only_torch_and_numpy_beyond_the_standard_library():
    code = (
        "import sys; import torch, numpy; before = set(sys.modules); import rnnkit; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(sorted(new - set(sys.stdlib_module_names) - {'rnnkit'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_names():
    import rnnkit

    for name in ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU", "attention"]:
        assert hasattr(rnnkit, name)
