"""Plots: the one place that sets matplotlib up, and the figures that only draw what they are given.

matplotlib is optional (``pip install 'rnnkit[plot]'``) and is imported only when a figure is drawn,
so ``import rnnkit`` stays light. :func:`pyplot` is for figures a run draws on its own way (the loss
curves, the confusion matrix): without matplotlib it logs one line and the figure is skipped.
:func:`require_pyplot` is for figures the user asked for by name (``--plot``,
``--show-attention``): without matplotlib that is an :class:`~rnnkit.errors.InputError`.

Figures that need a model's predictions are drawn by their task (``plot_forecasts`` in
:mod:`rnnkit.tasks.forecast`), with the same set-up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rnnkit.errors import InputError

if TYPE_CHECKING:
    from types import ModuleType

    from matplotlib.figure import Figure

    from rnnkit.data.series import Series
    from rnnkit.tasks.translate import Translation

logger = logging.getLogger(__name__)
INSTALL = "pip install 'rnnkit[plot]'"


def _agg_pyplot() -> ModuleType:
    import matplotlib

    # Agg draws into files: no display is needed, as on a training server or in CI
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pyplot(what: str = "plot") -> ModuleType | None:
    """``matplotlib.pyplot`` drawing to files, or None (and one info line naming ``what``, the
    figure that will be missing) when matplotlib is not installed."""
    try:
        return _agg_pyplot()
    except ImportError:
        logger.info("matplotlib is not installed (%s); no %s", INSTALL, what)
        return None


def require_pyplot(what: str) -> ModuleType:
    """``matplotlib.pyplot`` for a figure the user asked for; InputError naming ``what`` (the
    option that asked, e.g. ``--plot``) when matplotlib is not installed."""
    try:
        return _agg_pyplot()
    except ImportError:
        raise InputError(f"{what} needs matplotlib: {INSTALL}") from None


def save(figure: Figure, path: Path, dpi: int) -> Path:
    """Lay ``figure`` out, write it to ``path`` and close it (pyplot keeps every figure in memory
    until it is closed)."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return path


def plot_losses(history: list[dict], path: Path) -> Path | None:
    """Training and validation loss against step and against wall-clock time, from the trainer's
    metrics records (``step``, ``elapsed_s``, ``train_loss``, ``val_loss``)."""
    if not history:
        return None
    plt = pyplot(path.name)
    if plt is None:
        return None
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, key, label in ((axes[0], "step", "step"), (axes[1], "elapsed_s", "seconds")):
        x = [r[key] for r in history]
        axis.plot(x, [r["train_loss"] for r in history], label="train")
        axis.plot(x, [r["val_loss"] for r in history], label="validation")
        axis.set_xlabel(label)
        axis.set_ylabel("loss")
        axis.grid(alpha=0.3)
        axis.legend()
    return save(figure, path, dpi=100)


def plot_confusion(
    confusion: list[list[int]], names: list[str], path: Path, title: str = ""
) -> Path | None:
    """Draw the confusion matrix (K, K), true classes as rows and predicted ones as columns, with
    each count written in its cell; None without matplotlib."""
    plt = pyplot(path.name)
    if plt is None:
        return None
    matrix = np.asarray(confusion, dtype=np.float32)  # (K, K)
    size = max(3.5, 0.6 * len(names) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(matrix, cmap="Blues")
    threshold = float(matrix.max()) / 2  # counts above it sit on dark blue: write them in white
    for i in range(len(names)):
        for j in range(len(names)):
            value = int(matrix[i, j])
            colour = "white" if value > threshold else "black"
            axis.text(j, i, str(value), ha="center", va="center", color=colour)
    axis.set_xticks(range(len(names)), names, rotation=45 if len(names) > 4 else 0)
    axis.set_yticks(range(len(names)), names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    if title:
        axis.set_title(title)
    return save(figure, path, dpi=100)


def plot_attention(translation: Translation, path: str | Path) -> Path:
    """Draw the attention weights of one translation as a heatmap (target rows, source
    columns) into ``path`` (PNG); asked for by ``--show-attention``."""
    if translation.attention is None:
        raise InputError("this model has no attention (--attention none): no map to draw")
    plt = require_pyplot("--show-attention")
    weights = translation.attention.float().numpy()  # (T, S)
    rows, cols = weights.shape
    figure, axis = plt.subplots(figsize=(1.0 + 0.45 * cols, 1.0 + 0.4 * rows))
    image = axis.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    axis.set_xticks(range(cols), translation.source_tokens[:cols], rotation=90)
    axis.set_yticks(range(rows), translation.target_tokens[:rows])
    axis.set_xlabel("source")
    axis.set_ylabel("translation")
    figure.colorbar(image, ax=axis, fraction=0.04)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save(figure, path, dpi=80)


def plot_forecast_next(
    series: Series, target: int, forecast: np.ndarray, lookback: int, path: Path
) -> Path:
    """The last ``lookback`` values of column ``target`` and the H forecast values (H,) after
    them, against the row number; asked for by ``rnnkit forecast --plot``."""
    plt = require_pyplot("--plot")
    n = len(series)
    figure, axis = plt.subplots(figsize=(10, 3.5))
    axis.plot(range(n - lookback, n), series.values[-lookback:, target], label="recent")
    axis.plot(range(n, n + len(forecast)), forecast, color="tab:red", label="forecast")
    axis.set_ylabel(series.columns[target])
    axis.set_xlabel("row")
    axis.grid(alpha=0.3)
    axis.legend(loc="upper left")
    return save(figure, path, dpi=90)


def plot_gradient_per_step(
    curves: dict[str, Sequence[float]], path: Path, title: str = ""
) -> Path | None:
    """||dL/dh_t|| against the step t = 1..T on a log scale, one line per curve (label -> the
    values (T,)); steps with a zero norm are left out of the log scale. None without matplotlib."""
    plt = pyplot(path.name)
    if plt is None:
        return None
    figure, axis = plt.subplots(figsize=(8, 4))
    for label, values in curves.items():
        values = np.asarray(values, dtype=np.float64)  # (T,)
        steps = np.arange(1, len(values) + 1)
        shown = values > 0
        axis.semilogy(steps[shown], values[shown], label=label)
    axis.set_xlabel("time step t")
    axis.set_ylabel("||dL/dh_t||")
    axis.grid(alpha=0.3, which="both")
    if len(curves) > 1:
        axis.legend()
    if title:
        axis.set_title(title)
    return save(figure, path, dpi=100)


def plot_gate_histograms(
    histograms: dict[str, Sequence[int]],
    path: Path,
    thresholds: tuple[float, float] = (0.05, 0.95),
    title: str = "",
) -> Path | None:
    """One panel per gate: the share of its activations in each of the equal bins over [0, 1]
    (gate name -> counts per bin), with the saturation ``thresholds`` marked. None without
    matplotlib."""
    if not histograms:
        return None
    plt = pyplot(path.name)
    if plt is None:
        return None
    figure, axes = plt.subplots(
        1, len(histograms), figsize=(3.2 * len(histograms), 3), squeeze=False
    )
    for axis, (gate, counts) in zip(axes[0], histograms.items()):
        counts = np.asarray(counts, dtype=np.float64)
        edges = np.linspace(0.0, 1.0, len(counts) + 1)
        axis.bar(edges[:-1], counts / max(counts.sum(), 1), width=np.diff(edges), align="edge")
        for threshold in thresholds:
            axis.axvline(threshold, color="tab:red", linestyle="--", linewidth=1)
        axis.set_title(f"{gate} gate")
        axis.set_xlabel("activation")
        axis.set_xlim(0, 1)
    axes[0, 0].set_ylabel("share of units x steps")
    if title:
        figure.suptitle(title)
    return save(figure, path, dpi=100)
