"""The word-LM and speech recipes and study files are valid: every option of a recipe, and of a
study's base with each grid point, resolves for its task; a study's metric is one of the
validation metrics that task reports."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from rnnkit import api
from rnnkit.config import read_toml

ROOT = Path(__file__).resolve().parents[1]
VALID_METRICS = {"lm": {"loss", "bits_per_word", "perplexity"}, "classify": {"loss", "accuracy"}}


@pytest.mark.parametrize(
    "recipe, task",
    [
        ("multi30k-en.toml", "lm"),
        ("fsdd.toml", "classify"),
        ("sst2.toml", "classify"),
        ("sst2-sentences.toml", "classify"),
        ("etth1-s.toml", "forecast"),
    ],
)
def test_recipes_resolve(recipe, task):
    sections = api.configure(task, read_toml(ROOT / "recipes" / recipe))
    assert sections["train"].seed == 0


@pytest.mark.parametrize("study", ["ex7_2.toml", "ex7_3_speech.toml"])
def test_every_configuration_of_a_study_resolves(study):
    table = read_toml(ROOT / "studies" / study)
    assert table["name"] == Path(study).stem and table["direction"] in ("minimize", "maximize")
    assert table["metric"] in VALID_METRICS[table["task"]] and len(table["seeds"]) >= 2
    grid = table["grid"]
    points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    for point in points:
        api.configure(table["task"], {**table["base"], **point, "seed": table["seeds"][0]})
    assert len(points) == {"ex7_2.toml": 18, "ex7_3_speech.toml": 8}[study]
