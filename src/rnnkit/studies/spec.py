"""A study file: the task, the metric, the seeds, and the options every trial gets or varies.

.. code-block:: toml

    name = "ex7_4_bidirectional"        # default: the file's stem; the Optuna study name
    task = "classify"                   # any rnnkit train task
    metric = "accuracy"                 # a key of eval.json["valid"] (the validation metrics)
    direction = "maximize"              # or "minimize"
    seeds = [0, 1, 2]                   # every configuration runs once per seed (default [0])
    pruner = "median"                   # optional: "median" or "hyperband" (default: none)
    extra-metrics = ["accuracy"]        # optional: eval.json values ("greedy.bleu") to show too
    [base]                              # options every trial gets, as in a --config TOML
    data = "sst2"
    max-steps = 2000
    [grid]                              # the cartesian product of these options ...
    bidirectional = [false, true]
    hidden = [64, 128, 256]
    # ... or a search:
    # [search]
    # trials = 40                       # configurations to sample; each runs once per seed
    # sampler = "tpe"                   # or "random"
    # lr = { low = 1e-4, high = 1e-2, log = true }   # a range (integers when low and high are)
    # batch-size = [32, 64, 128]                     # a choice

Option names are normalised to their flag spelling (``batch_size`` -> ``batch-size``). Every
problem is an :class:`~rnnkit.errors.InputError` that names the file and the key.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

from rnnkit.config import read_toml
from rnnkit.errors import InputError

TOP_LEVEL = (
    "name",
    "task",
    "metric",
    "direction",
    "seeds",
    "pruner",
    "extra-metrics",
    "base",
    "grid",
    "search",
)
DIRECTIONS = ("minimize", "maximize")
PRUNERS = ("median", "hyperband")
SAMPLERS = ("tpe", "random")
# options a study sets itself: the seed comes from `seeds`, the run directory from the trial
RESERVED = ("seed", "out", "resume", "config")
# the options that bound a trial's training, stated in the report as the budget per trial
BUDGET = ("max-steps", "epochs", "time-budget", "early-stopping", "eval-every")

Scalar = str | int | float | bool


@dataclass(frozen=True)
class Range:
    """A searched range: integers when ``low`` and ``high`` are integers, else floats."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    @property
    def integer(self) -> bool:
        return all(isinstance(v, int) for v in (self.low, self.high)) and (
            self.step is None or isinstance(self.step, int)
        )


@dataclass(frozen=True)
class Search:
    """A ``[search]`` table: ``trials`` configurations drawn by ``sampler`` from ``space``."""

    trials: int
    sampler: str
    space: dict[str, list[Scalar] | Range]


@dataclass(frozen=True)
class StudySpec:
    """A parsed, checked study file (see the module docstring for the format)."""

    name: str
    task: str
    metric: str
    direction: str
    seeds: tuple[int, ...]
    base: dict[str, Any]
    grid: dict[str, list[Scalar]] | None = None
    search: Search | None = None
    pruner: str | None = None
    extra_metrics: tuple[str, ...] = ()
    path: str = field(default="", compare=False)

    @property
    def varied(self) -> list[str]:
        """The options that differ between configurations, in the file's order."""
        return list(self.grid if self.grid is not None else self.search.space)

    @property
    def configurations(self) -> int:
        """How many configurations the study runs (each once per seed)."""
        if self.grid is not None:
            return math.prod(len(values) for values in self.grid.values())
        return self.search.trials

    @property
    def total_trials(self) -> int:
        """Trials in a finished study, not counting those interrupted and continued."""
        return self.configurations * len(self.seeds)

    def grid_points(self) -> list[dict[str, Scalar]]:
        """Every (configuration, seed) of a grid study: its options plus ``seed``."""
        names = [*self.grid, "seed"]
        return [dict(zip(names, values)) for values in product(*self.grid.values(), self.seeds)]

    def budget(self) -> dict[str, Any]:
        """The base options that bound each trial's training."""
        return {key: self.base[key] for key in BUDGET if key in self.base}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (stored with the Optuna study); :meth:`from_dict` reverses it."""
        data = asdict(self)
        data.pop("path")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str = "") -> StudySpec:
        """The spec stored by :meth:`to_dict`."""
        search = data.get("search")
        if search is not None:
            space = {
                k: v if isinstance(v, list) else Range(**v) for k, v in search["space"].items()
            }
            search = Search(search["trials"], search["sampler"], space)
        return cls(
            **{
                **data,
                "seeds": tuple(data["seeds"]),
                "search": search,
                "extra_metrics": tuple(data.get("extra_metrics", ())),
            },
            path=path,
        )


def load_spec(path: str | Path) -> StudySpec:
    """Read and check a study file; raise InputError naming the file and the key at fault."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: study file not found")
    table = read_toml(path)
    return parse_spec(table, path)


def parse_spec(table: dict[str, Any], path: str | Path) -> StudySpec:
    """Check a study file's parsed TOML ``table``; ``path`` names it in errors (and its stem is
    the default study name)."""
    path = Path(path)

    def fail(key: str, problem: str) -> InputError:
        return InputError(f"{path}: key {key!r}: {problem}")

    table = {_flag(key): value for key, value in table.items()}
    for key in table:
        if key not in TOP_LEVEL:
            raise fail(key, f"unknown key; expected one of {', '.join(TOP_LEVEL)}")
    for key in ("task", "metric", "direction"):
        if key not in table:
            raise InputError(f"{path}: missing key {key!r}")
    name = _string(table.get("name", path.stem), "name", fail)
    task = _string(table["task"], "task", fail)
    metric = _string(table["metric"], "metric", fail)
    direction = _choice(table["direction"], "direction", DIRECTIONS, fail)
    pruner = table.get("pruner")
    pruner = None if pruner in (None, "none") else _choice(pruner, "pruner", PRUNERS, fail)
    seeds = table.get("seeds", [0])
    if not _list_of(seeds, int) or not seeds or len(set(seeds)) != len(seeds):
        raise fail("seeds", f"expected a non-empty list of distinct integers, got {seeds!r}")
    extra = table.get("extra-metrics", [])
    if not _list_of(extra, str):
        raise fail("extra-metrics", f"expected a list of metric names, got {extra!r}")

    base = _options(table.get("base", {}), "base", fail)
    if ("grid" in table) == ("search" in table):
        raise InputError(f"{path}: needs exactly one of a [grid] and a [search] table")
    grid = search = None
    if "grid" in table:
        grid = _options(table["grid"], "grid", fail)
        if not grid:
            raise fail("grid", "empty grid: give at least one option and its values")
        for key, values in grid.items():
            _check_values(values, f"grid.{key}", fail)
    else:
        search = _search(table["search"], fail)
    for key in grid or search.space:
        if key in base:
            raise fail(f"base.{key}", "is also varied; set it in [base] or vary it, not both")
    return StudySpec(
        name=name,
        task=task,
        metric=metric,
        direction=direction,
        seeds=tuple(seeds),
        base=base,
        grid=grid,
        search=search,
        pruner=pruner,
        extra_metrics=tuple(extra),
        path=str(path),
    )


def _flag(key: str) -> str:
    return key.replace("_", "-")


def _string(value: Any, key: str, fail) -> str:
    if not isinstance(value, str) or not value:
        raise fail(key, f"expected a non-empty string, got {value!r}")
    return value


def _choice(value: Any, key: str, choices: tuple[str, ...], fail) -> str:
    if value not in choices:
        raise fail(key, f"expected one of {', '.join(choices)}, got {value!r}")
    return value


def _list_of(value: Any, kind: type) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, kind) and not isinstance(v, bool) for v in value
    )


def _options(table: Any, section: str, fail) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise fail(section, f"expected a table of options, got {table!r}")
    options = {}
    for key, value in table.items():
        name = _flag(key)
        if name in RESERVED:
            reason = "use the top-level 'seeds' list" if name == "seed" else "the study sets it"
            raise fail(f"{section}.{key}", f"cannot be set here ({reason})")
        if name in options:
            raise fail(f"{section}.{key}", "given twice (with '-' and with '_')")
        options[name] = value
    return options


def _check_values(values: Any, key: str, fail) -> None:
    scalar = (str, int, float, bool)
    if not isinstance(values, list) or not values:
        raise fail(key, f"expected a non-empty list of values, got {values!r}")
    if not all(isinstance(v, scalar) for v in values):
        raise fail(key, f"values must be strings, numbers or booleans, got {values!r}")
    if len({(type(v), v) for v in values}) != len(values):
        raise fail(key, f"a value is listed twice in {values!r}")


def _search(table: Any, fail) -> Search:
    options = _options(table, "search", fail)
    trials = options.pop("trials", None)
    sampler = options.pop("sampler", "tpe")
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        raise fail("search.trials", f"expected a positive integer, got {trials!r}")
    sampler = _choice(sampler, "search.sampler", SAMPLERS, fail)
    if not options:
        raise fail("search", "empty search: give at least one option to search")
    space: dict[str, list[Scalar] | Range] = {}
    for key, value in options.items():
        if isinstance(value, dict):
            space[key] = _range(value, f"search.{key}", fail)
        else:
            _check_values(value, f"search.{key}", fail)
            space[key] = value
    return Search(trials, sampler, space)


def _range(table: dict[str, Any], key: str, fail) -> Range:
    for name in table:
        if name not in ("low", "high", "log", "step"):
            raise fail(f"{key}.{name}", "unknown key; expected low, high, log or step")
    numbers = {k: table.get(k) for k in ("low", "high", "step")}
    for name, value in numbers.items():
        if (value is None and name != "step") or isinstance(value, bool | str | dict | list):
            raise fail(f"{key}.{name}", f"expected a number, got {value!r}")
    found = Range(table["low"], table["high"], table.get("log", False), table.get("step"))
    if not isinstance(found.log, bool):
        raise fail(f"{key}.log", f"expected true or false, got {found.log!r}")
    if not found.low < found.high:
        raise fail(key, f"expected low < high, got {found.low} and {found.high}")
    if found.log and (found.low <= 0 or found.step is not None):
        raise fail(key, "a log range needs low > 0 and no step")
    if found.step is not None and found.step <= 0:
        raise fail(f"{key}.step", f"expected a positive step, got {found.step}")
    return found
