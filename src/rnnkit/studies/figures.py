"""The figures of a study report, PNG files in the study directory (matplotlib, Agg backend):

- ``metric_vs_<option>.png`` for each numeric varied option: the metric's mean over seeds, with
  the sd as error bars, against the option; one line per combination of the other varied
  options (in a search: one point per trial, coloured by its categorical options);
- ``curves_<option>.png`` for each categorical option (each varied option when none is
  categorical): the validation metric against training wall-clock of the best configuration with
  each value of the option, one line per seed;
- ``cost.png``: the metric against parameters and against training seconds, the cost-accuracy
  trade-off;
- ``importances.png`` for a search: Optuna's parameter importances (PED-ANOVA).

Importing this module imports matplotlib (ImportError without it).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

from rnnkit.studies.engine import describe  # noqa: E402
from rnnkit.studies.report import Configuration, TrialRow, metric_scale  # noqa: E402
from rnnkit.studies.spec import Range, StudySpec  # noqa: E402


def draw_all(
    study, spec: StudySpec, rows: list[TrialRow], configs: list[Configuration], out: Path
) -> list[tuple[str, str]]:
    """Draw every figure that the results allow; return (title, file name) pairs."""
    if not configs:
        return []
    drawn = []
    numeric = [option for option in spec.varied if is_numeric(spec, option)]
    for option in numeric:
        name = f"metric_vs_{option}.png"
        plot_metric_against(spec, rows, configs, option, out / name)
        drawn.append((f"{spec.metric} against {option}", name))
    for option in [o for o in spec.varied if o not in numeric] or spec.varied:
        name = f"curves_{option}.png"
        plot_curves(spec, configs, option, out / name)
        drawn.append((f"validation curves of the best configuration per {option}", name))
    plot_cost(spec, configs, out / "cost.png")
    drawn.append((f"{spec.metric} against parameters and training time", "cost.png"))
    if spec.search is not None and plot_importances(study, spec, out / "importances.png"):
        drawn.append(("parameter importances", "importances.png"))
    return drawn


def is_numeric(spec: StudySpec, option: str) -> bool:
    """Whether an option's values are numbers (booleans and strings are categorical)."""
    domain = spec.grid[option] if spec.grid is not None else spec.search.space[option]
    if isinstance(domain, Range):
        return True
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in domain)


def plot_metric_against(
    spec: StudySpec, rows: list[TrialRow], configs: list[Configuration], option: str, path: Path
) -> None:
    """The metric against a numeric option (see the module docstring)."""
    scale = metric_scale(spec.metric)[0]
    others = [o for o in spec.varied if o != option]
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    if spec.grid is not None:
        lines: dict[str, list[Configuration]] = {}
        for config in configs:
            lines.setdefault(describe({o: config.options[o] for o in others}), []).append(config)
        for label, members in sorted(lines.items()):
            members.sort(key=lambda c: c.options[option])
            stats = [c.mean_sd() for c in members]
            axis.errorbar(
                [c.options[option] for c in members],
                [mean * scale for mean, _ in stats],
                yerr=[(sd or 0.0) * scale for _, sd in stats],
                marker="o",
                capsize=3,
                label=label or None,
            )
    else:
        categorical = [o for o in others if not is_numeric(spec, o)]
        groups: dict[str, list[TrialRow]] = {}
        for row in rows:
            if row.state == "complete":
                key = describe({o: row.options[o] for o in categorical})
                groups.setdefault(key, []).append(row)
        for label, members in sorted(groups.items()):
            x = [row.options[option] for row in members]
            axis.scatter(x, [row.value * scale for row in members], label=label or None, s=18)
        domain = spec.search.space[option]
        if isinstance(domain, Range) and domain.log:
            axis.set_xscale("log")
    axis.set_xlabel(option)
    axis.set_ylabel(f"validation {spec.metric}")
    _finish(figure, axis, path)


def plot_curves(spec: StudySpec, configs: list[Configuration], option: str, path: Path) -> None:
    """Validation curves against training seconds of the best configuration per value."""
    scale = metric_scale(spec.metric)[0]
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    values: list[Any] = []
    for config in configs:  # ranked: the first with each value is its best
        if config.options[option] not in values:
            values.append(config.options[option])
            color = f"C{(len(values) - 1) % 10}"
            for index, (_, row) in enumerate(sorted(config.by_seed.items())):
                points = [p for p in row.attrs.get("curve", []) if p[1] is not None]
                axis.plot(
                    [p[1] for p in points],
                    [p[2] * scale for p in points],
                    color=color,
                    alpha=0.8,
                    label=describe(config.options) if index == 0 else None,
                )
    axis.set_xlabel("training seconds")
    axis.set_ylabel(f"validation {spec.metric}")
    _finish(figure, axis, path)


def plot_cost(spec: StudySpec, configs: list[Configuration], path: Path) -> None:
    """The metric against parameters and against training seconds, one point per configuration."""
    scale = metric_scale(spec.metric)[0]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for axis, attr, label in (
        (axes[0], "parameters", "parameters"),
        (axes[1], "train_seconds", "training seconds"),
    ):
        for config in configs:
            x = config.mean_attr(attr)
            if x is None:
                continue
            mean, sd = config.mean_sd()
            axis.errorbar(x, mean * scale, yerr=(sd or 0.0) * scale, fmt="o", capsize=3)
            if len(configs) <= 12:
                axis.annotate(describe(config.options), (x, mean * scale), fontsize=6)
        axis.set_xlabel(label)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel(f"validation {spec.metric}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_importances(study, spec: StudySpec, path: Path) -> bool:
    """Optuna's parameter importances as bars; False when there are too few trials."""
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importances = get_param_importances(
                study, evaluator=PedAnovaImportanceEvaluator(), params=spec.varied
            )
    except (ValueError, RuntimeError):
        return False
    if not importances:
        return False
    names = list(importances)[::-1]
    figure, axis = plt.subplots(figsize=(6.4, 0.5 + 0.4 * len(names)))
    axis.barh(names, [importances[name] for name in names])
    axis.set_xlabel("importance (PED-ANOVA)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def _finish(figure, axis, path: Path) -> None:
    if axis.get_legend_handles_labels()[0]:
        axis.legend(fontsize=7)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
