"""The plotting set-up: matplotlib loads only when a figure is drawn, and its absence is one logged
line for the figures a run draws itself, an InputError for the ones the user asked for.
(The figures themselves are checked by the CLI tests, which look for their PNG files.)"""

import logging
import subprocess
import sys

import pytest

from rnnkit import plots
from rnnkit.errors import InputError


@pytest.fixture
def no_matplotlib(monkeypatch):
    """Make ``import matplotlib`` fail as it does where the plot extra is not installed."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # None in sys.modules: ImportError


def test_importing_plots_does_not_import_matplotlib():
    code = "import sys, rnnkit.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_pyplot_without_matplotlib_logs_one_line_naming_the_extra(no_matplotlib, caplog):
    with caplog.at_level(logging.INFO, logger="rnnkit.plots"):
        assert plots.pyplot("loss.png") is None
    assert [r.getMessage() for r in caplog.records] == [
        "matplotlib is not installed (pip install 'rnnkit[plot]'); no loss.png"
    ]


def test_figures_a_run_draws_itself_are_skipped_without_matplotlib(no_matplotlib, tmp_path):
    history = [{"step": 1, "elapsed_s": 0.1, "train_loss": 2.0, "val_loss": 2.1}]
    assert plots.plot_losses(history, tmp_path / "loss.png") is None
    assert plots.plot_confusion([[1, 0], [0, 1]], ["a", "b"], tmp_path / "c.png") is None
    assert list(tmp_path.iterdir()) == []


def test_require_pyplot_without_matplotlib_is_an_input_error_naming_the_option(no_matplotlib):
    with pytest.raises(InputError) as caught:
        plots.require_pyplot("--plot")
    assert str(caught.value) == "--plot needs matplotlib: pip install 'rnnkit[plot]'"
