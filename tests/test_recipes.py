"""Every recipe that names its command (``rnnkit train TASK --config recipes/NAME.toml``) holds
options that task accepts, so the documented command starts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rnnkit import tasks
from rnnkit.api import parse_options

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
COMMAND = re.compile(r"rnnkit train (\w+) --config recipes/([\w.-]+\.toml)")


def documented() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(RECIPES.glob("*.toml")):
        match = COMMAND.search(path.read_text(encoding="utf-8"))
        if match and match.group(2) == path.name:
            found.append((match.group(1), path))
    return found


def test_the_recipes_name_their_commands():
    names = {path.name for _, path in documented()}
    assert {"shakespeare.toml", "shakespeare-640.toml", "sst2.toml", "multi30k.toml"} <= names


@pytest.mark.parametrize("task, path", documented(), ids=lambda x: getattr(x, "name", x))
def test_a_recipe_resolves_under_its_task(task, path):
    sections = tasks.get(task).resolve(parse_options(task, ["--config", str(path)]))
    assert sections["train"] is not None
