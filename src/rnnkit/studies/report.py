"""A study's report, written into its directory from the Optuna storage alone (so it covers the
trials of every machine that shared the study):

- ``trials.csv``: one row per trial: number, state, the varied options, the seed, the value (the
  study's metric; for a pruned trial its last reported value), every numeric leaf of eval.json
  with a dotted name (``valid.accuracy``, a classifier's test ``accuracy``,
  ``metrics.model.mae``, ...), parameters, training seconds, throughput (mean items/s over the
  evaluations), steps, stop reason, machine, threads and the error of a failed trial;
- ``report.md``: per configuration the metric's mean ± sample standard deviation over seeds and n,
  ranked; for each varied option a paired comparison on equal seeds (mean difference with a 95%
  Student-t interval, :mod:`rnnkit.studies.stats`); the machine, the budget per trial and the
  time the study took; the failed trials;
- PNG figures (:mod:`rnnkit.studies.figures`), when matplotlib is installed.

Accuracy-like metrics (names containing ``accuracy`` or ``f1``) are shown in percentage points.
When a (configuration, seed) completed twice (workers on several machines can draw one twice),
the first trial counts.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnkit.studies.engine import describe, progress, toml_value, trial_states
from rnnkit.studies.spec import Range, StudySpec
from rnnkit.studies.stats import Difference, mean_sd, paired_difference

REPORT = "report.md"
TRIALS_CSV = "trials.csv"


@dataclass
class TrialRow:
    """One trial as the report sees it."""

    number: int
    state: str  # complete, failed, pruned, running, waiting or interrupted
    options: dict[str, Any]  # the varied options
    seed: int | None
    value: float | None
    attrs: dict[str, Any]  # the trial's user attributes (metrics, curve, error, ...)

    @property
    def metrics(self) -> dict[str, float]:
        return self.attrs.get("metrics", {})


@dataclass
class Configuration:
    """The complete trials of one configuration, one per seed."""

    options: dict[str, Any]
    by_seed: dict[int, TrialRow] = field(default_factory=dict)

    @property
    def values(self) -> dict[int, float]:
        return {seed: row.value for seed, row in self.by_seed.items()}

    def mean_sd(self, metric: str | None = None) -> tuple[float, float | None] | None:
        """Mean and sd over seeds of the study's value, or of ``metric`` from eval.json."""
        values = [
            row.value if metric is None else row.metrics.get(metric)
            for row in self.by_seed.values()
        ]
        values = [v for v in values if v is not None]
        return mean_sd(values) if values else None

    def mean_attr(self, name: str) -> float | None:
        values = [row.attrs.get(name) for row in self.by_seed.values()]
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class Comparison:
    """``option = value`` against ``option = baseline``, paired on equal seeds; ``kind`` is
    ``matched`` (all other options equal) or ``tuned`` (each side's best configuration)."""

    option: str
    value: Any
    baseline: Any
    kind: str
    difference: Difference


def trial_rows(study, spec: StudySpec) -> list[TrialRow]:
    """Every trial of ``study`` as a :class:`TrialRow`."""
    trials = study.get_trials(deepcopy=False)
    states = trial_states(trials)
    rows = []
    for trial in trials:
        params = trial.params or trial.system_attrs.get("fixed_params", {})
        rows.append(
            TrialRow(
                number=trial.number,
                state=states[trial.number],
                options={k: params.get(k) for k in spec.varied},
                seed=params.get("seed"),
                value=trial.value,
                attrs=trial.user_attrs,
            )
        )
    return rows


def configurations(rows: list[TrialRow], spec: StudySpec) -> list[Configuration]:
    """The configurations with a complete trial, best mean first."""
    found: dict[tuple, Configuration] = {}
    for row in rows:
        if row.state != "complete":
            continue
        key = tuple(_key(row.options[k]) for k in spec.varied)
        configuration = found.setdefault(key, Configuration(row.options))
        configuration.by_seed.setdefault(row.seed, row)
    ranked = sorted(found.values(), key=lambda c: c.mean_sd()[0])
    return ranked[::-1] if spec.direction == "maximize" else ranked


def comparisons(configs: list[Configuration], spec: StudySpec) -> list[Comparison]:
    """For each varied option with listed values, each value against the first listed one:
    ``matched`` pairs differ in that option only; ``tuned`` pairs compare the best configuration
    of each side (only when other options vary too). Pairs are matched on the seed."""
    found = []
    for option in spec.varied:
        values = _listed_values(spec, option)
        if values is None:
            continue
        present = [v for v in values if any(_same(c.options[option], v) for c in configs)]
        if len(present) < 2:
            continue
        baseline = present[0]  # the first listed value that has results
        for value in present[1:]:
            pairs = []
            for config in configs:
                if not _same(config.options[option], value):
                    continue
                partner = _find(configs, {**config.options, option: baseline})
                if partner is not None:
                    pairs += _paired(partner, config)
            if pairs:
                found.append(
                    Comparison(option, value, baseline, "matched", paired_difference(pairs))
                )
            if len(spec.varied) > 1:
                best = _best_with(configs, option, value)
                best_baseline = _best_with(configs, option, baseline)
                pairs = _paired(best_baseline, best) if best and best_baseline else []
                if pairs:
                    difference = paired_difference(pairs)
                    found.append(Comparison(option, value, baseline, "tuned", difference))
    return found


def write_report(study, spec: StudySpec, out: str | Path, figures: bool = True) -> Path:
    """Write ``trials.csv``, ``report.md`` and (with ``figures``) the PNG figures into ``out``;
    return the path of report.md."""
    out = Path(out)
    rows = trial_rows(study, spec)
    configs = configurations(rows, spec)
    write_trials_csv(rows, spec, out / TRIALS_CSV)
    drawn: list[tuple[str, str]] = []
    note = ""
    if figures:
        try:
            from rnnkit.studies import figures as plots
        except ImportError:
            note = "Figures need matplotlib: `pip install 'rnnkit[study]'`."
        else:
            drawn = plots.draw_all(study, spec, rows, configs, out)
    text = render(study, spec, rows, configs, drawn, note)
    path = out / REPORT
    path.write_text(text, encoding="utf-8")
    return path


def write_trials_csv(rows: list[TrialRow], spec: StudySpec, path: Path) -> None:
    """One row per trial (see the module docstring for the columns)."""
    leading = ("number", "state", *spec.varied, "seed", "value")
    attrs = ("parameters", "train_seconds", "items_per_s", "steps", "stop_reason", "machine")
    attrs += ("threads", "error")
    # eval.json's numeric leaves, but not those that repeat another column (its "parameters")
    metric_names = sorted({name for row in rows for name in row.metrics} - {*leading, *attrs})
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*leading, *metric_names, *attrs])
        for row in rows:
            writer.writerow(
                [
                    row.number,
                    row.state,
                    *(_csv(row.options[k]) for k in spec.varied),
                    row.seed,
                    _csv(row.value),
                    *(_csv(row.metrics.get(name)) for name in metric_names),
                    *(_csv(row.attrs.get(name)) for name in attrs),
                ]
            )


def render(
    study,
    spec: StudySpec,
    rows: list[TrialRow],
    configs: list[Configuration],
    figures: list[tuple[str, str]],
    note: str = "",
) -> str:
    """report.md's text."""
    scale, unit = metric_scale(spec.metric)
    shown = f" (shown in points, x{scale:g})" if scale != 1 else ""
    lines = [
        f"# Study `{spec.name}`",
        "",
        f"Task `{spec.task}`; metric: validation {spec.metric}, {spec.direction}d{shown}; "
        f"seeds {', '.join(map(str, spec.seeds))}; study file `{spec.path or '?'}`.",
        "",
        *_summary(study, spec, rows),
        "",
        f"## Configurations ranked by {spec.metric}",
        "",
    ]
    if configs:
        lines += _configuration_table(configs, spec, scale)
    else:
        lines.append("No trial has completed yet.")
    found = comparisons(configs, spec)
    if found:
        lines += [
            "",
            "## Paired comparisons on equal seeds",
            "",
            f"Mean difference in validation {spec.metric} with its 95% Student-t interval over the "
            "seeds both sides ran. *matched*: every other option equal (all such pairs); "
            "*tuned*: each side's best configuration, chosen on these same results (optimistic "
            "for both sides).",
            "",
            "| option | comparison | pairs | difference | 95% interval | better |",
            "|---|---|---|---|---|---|",
        ]
        for comparison in found:
            lines.append(_comparison_row(comparison, spec, scale, unit))
    if figures or note:
        lines += ["", "## Figures", ""]
        lines += [f"![{title}]({name})" for title, name in figures]
        lines += [note] if note else []
    failed = [row for row in rows if row.state == "failed"]
    if failed:
        lines += ["", "## Failed trials", "", "| trial | options | error |", "|---|---|---|"]
        for row in failed:
            options = describe({**row.options, "seed": row.seed})
            lines.append(f"| {row.number} | {options} | {row.attrs.get('error', '')} |")
    return "\n".join(lines) + "\n"


def metric_scale(metric: str) -> tuple[float, str]:
    """(factor, unit) to show a metric in: accuracy-like metrics in percentage points."""
    proportion = "accuracy" in metric or "f1" in metric
    return (100.0, " points") if proportion else (1.0, "")


def _summary(study, spec: StudySpec, rows: list[TrialRow]) -> list[str]:
    counts = progress(study, spec)
    states = ", ".join(
        f"{counts[s]} {s}" for s in ("complete", "failed", "pruned", "running", "waiting")
    )
    if counts["interrupted"]:
        states += f" ({counts['interrupted']} interrupted and continued)"
    if counts["to start"]:
        states += f"; {counts['to start']} not started yet"
    budget = ", ".join(f"{k} = {toml_value(v)}" for k, v in spec.budget().items()) or "none"
    threads = sorted({row.attrs["threads"] for row in rows if "threads" in row.attrs})
    machines: dict[str, int] = {}
    for row in rows:
        if row.state == "complete" and "machine" in row.attrs:
            machines[row.attrs["machine"]] = machines.get(row.attrs["machine"], 0) + 1
    sittings = study.user_attrs.get("sittings", [])
    wall = sum(s["seconds"] for s in sittings)
    workers = sorted({s["workers"] for s in sittings})
    # a continued trial's seconds include its interrupted attempts'
    training = sum(
        row.attrs.get("train_seconds") or 0 for row in rows if row.state != "interrupted"
    )
    return [
        f"- Trials: {states}.",
        f"- Budget per trial: {budget}; threads per trial: {', '.join(map(str, threads)) or '?'}.",
        "- Machine: "
        + ("; ".join(f"{name} ({n} trials)" for name, n in machines.items()) or "?")
        + ".",
        f"- Time: {_minutes(wall)} of wall-clock over {len(sittings)} sitting(s) with "
        f"{'/'.join(map(str, workers)) or '?'} worker(s); {_minutes(training)} of training "
        "summed over the trials.",
    ]


def _configuration_table(configs: list[Configuration], spec: StudySpec, scale: float) -> list[str]:
    extras = list(spec.extra_metrics)
    header = ["rank", *spec.varied, f"valid {spec.metric} (mean ± sd)", "n", *extras]
    header += ["parameters", "train s", "items/s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rank, config in enumerate(configs, 1):
        cells = [str(rank), *(toml_value(config.options[k]) for k in spec.varied)]
        cells += [_mean_sd(config.mean_sd(), scale), str(len(config.by_seed))]
        cells += [_mean_sd(config.mean_sd(name), metric_scale(name)[0]) for name in extras]
        parameters = config.mean_attr("parameters")
        cells.append("?" if parameters is None else f"{parameters:,.0f}")
        cells += [_number(config.mean_attr("train_seconds"), ".0f")]
        cells += [_number(config.mean_attr("items_per_s"), ",.0f")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _comparison_row(comparison: Comparison, spec: StudySpec, scale: float, unit: str) -> str:
    d = comparison.difference
    label = (
        f"{toml_value(comparison.value)} − {toml_value(comparison.baseline)} ({comparison.kind})"
    )
    if d.half_width is None:
        difference, interval, better = f"{_signed(d.mean * scale)}{unit}", "one pair", "?"
    else:
        difference = f"{_signed(d.mean * scale)} ± {d.half_width * scale:.2g}{unit}"
        interval = f"[{_signed(d.low * scale)}, {_signed(d.high * scale)}]"
        better = "neither (interval includes 0)"
        if d.excludes_zero:
            higher = comparison.value if d.mean > 0 else comparison.baseline
            lower = comparison.baseline if d.mean > 0 else comparison.value
            better = toml_value(higher if spec.direction == "maximize" else lower)
    return f"| {comparison.option} | {label} | {d.n} | {difference} | {interval} | {better} |"


def _listed_values(spec: StudySpec, option: str) -> list | None:
    if spec.grid is not None:
        return spec.grid[option]
    domain = spec.search.space[option]
    return None if isinstance(domain, Range) else domain


def _find(configs: list[Configuration], options: dict[str, Any]) -> Configuration | None:
    key = {k: _key(v) for k, v in options.items()}
    for config in configs:
        if {k: _key(v) for k, v in config.options.items()} == key:
            return config
    return None


def _best_with(configs: list[Configuration], option: str, value: Any) -> Configuration | None:
    # configs are ranked best first
    return next((c for c in configs if _same(c.options[option], value)), None)


def _paired(a: Configuration, b: Configuration) -> list[tuple[float, float]]:
    return [(a.values[seed], b.values[seed]) for seed in a.values if seed in b.values]


def _same(a: Any, b: Any) -> bool:
    return _key(a) == _key(b)


def _key(value: Any) -> tuple:
    """Equality that tells ``true`` from ``1``."""
    return (type(value).__name__ == "bool", value)


def _signed(x: float) -> str:
    return f"{0.0 if abs(x) < 1e-12 else x:+.3g}"


def _mean_sd(found: tuple[float, float | None] | None, scale: float) -> str:
    if found is None:
        return "?"
    mean, sd = found
    return f"{mean * scale:.4g}" + ("" if sd is None else f" ± {sd * scale:.2g}")


def _number(value: float | None, spec: str) -> str:
    return "?" if value is None or math.isnan(value) else format(value, spec)


def _csv(value: Any) -> Any:
    if value is None:
        return ""
    return toml_value(value)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"
