"""Study files: parsing, the grid's expansion with seeds, and errors that name file and key."""

from pathlib import Path

import pytest
from study_fakes import grid_table

from rnnkit.errors import InputError
from rnnkit.studies.spec import Range, StudySpec, load_spec, parse_spec

STUDIES = Path(__file__).resolve().parent.parent / "studies"


def test_name_defaults_to_the_file_stem():
    assert parse_spec(grid_table(), "somewhere/ex7_4.toml").name == "ex7_4"
    assert parse_spec(grid_table(name="mine"), "ex7_4.toml").name == "mine"


def test_grid_expands_to_every_configuration_once_per_seed():
    spec = parse_spec(grid_table(seeds=[0, 1, 2]), "s.toml")
    points = spec.grid_points()
    assert len(points) == spec.total_trials == 2 * 2 * 3
    assert points[:3] == [
        {"hidden": 8, "bidirectional": False, "seed": 0},
        {"hidden": 8, "bidirectional": False, "seed": 1},
        {"hidden": 8, "bidirectional": False, "seed": 2},
    ]
    assert len({tuple(p.values()) for p in points}) == len(points)


def test_option_names_are_normalised_to_their_flags():
    spec = parse_spec(grid_table(base={"max_steps": 5}, grid={"batch_size": [8, 16]}), "s.toml")
    assert spec.base == {"max-steps": 5} and spec.varied == ["batch-size"]


def test_search_ranges_are_integers_when_their_bounds_are():
    search = {
        "trials": 4,
        "hidden": {"low": 4, "high": 64},
        "lr": {"low": 1e-4, "high": 1e-2, "log": True},
    }
    table = {k: v for k, v in grid_table(search=search).items() if k != "grid"}
    spec = parse_spec(table, "s.toml")
    assert spec.search.space["hidden"] == Range(4, 64) and spec.search.space["hidden"].integer
    assert not spec.search.space["lr"].integer and spec.search.sampler == "tpe"
    assert spec.total_trials == 4 * 2


def test_spec_survives_its_json_form():
    search = {"trials": 4, "lr": {"low": 1e-4, "high": 1e-2, "log": True}, "cell": ["gru", "lstm"]}
    table = {k: v for k, v in grid_table(search=search, pruner="median").items() if k != "grid"}
    for spec in (parse_spec(grid_table(), "s.toml"), parse_spec(table, "s.toml")):
        assert StudySpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"budget": 3}, "key 'budget': unknown key"),
        ({"seeds": "0"}, "key 'seeds': expected a non-empty list of distinct integers"),
        ({"seeds": [0, 0]}, "key 'seeds': expected a non-empty list of distinct integers"),
        ({"direction": "up"}, "key 'direction': expected one of minimize, maximize"),
        ({"metric": None}, "missing key 'metric'"),
        ({"grid": {}}, "key 'grid': empty grid"),
        ({"grid": {"hidden": 8}}, "key 'grid.hidden': expected a non-empty list of values"),
        ({"grid": {"hidden": [8, 8]}}, "key 'grid.hidden': a value is listed twice"),
        ({"base": {"seed": 1}}, "key 'base.seed': cannot be set here (use the top-level 'seeds'"),
        ({"base": {"hidden": 4}}, "key 'base.hidden': is also varied"),
        ({"search": {"trials": 2, "lr": [1]}}, "needs exactly one of a [grid] and a [search]"),
        ({"pruner": "asha"}, "key 'pruner': expected one of median, hyperband"),
    ],
)
def test_study_file_errors_name_the_file_and_the_key(change, message):
    table = {k: v for k, v in {**grid_table(), **change}.items() if v is not None}
    with pytest.raises(InputError) as error:
        parse_spec(table, "studies/bad.toml")
    assert str(error.value).startswith("studies/bad.toml: ")
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ({"lr": {"low": 1e-2, "high": 1e-4}}, "key 'search.lr': expected low < high"),
        ({"lr": {"low": 0.0, "high": 1.0, "log": True}}, "a log range needs low > 0"),
        ({"lr": {"low": 0.1, "hi": 1.0}}, "key 'search.lr.hi': unknown key"),
        ({"lr": {"low": "a", "high": 1.0}}, "key 'search.lr.low': expected a number"),
        ({}, "key 'search': empty search"),
    ],
)
def test_search_errors_name_the_file_and_the_key(search, message):
    table = {k: v for k, v in grid_table(search={"trials": 3, **search}).items() if k != "grid"}
    with pytest.raises(InputError, match=r"^s\.toml: ") as error:
        parse_spec(table, "s.toml")
    assert message in str(error.value)


def test_missing_study_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="study file not found"):
        load_spec(tmp_path / "nothing.toml")


@pytest.mark.parametrize("path", sorted(STUDIES.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_study_files_are_valid(path):
    spec = load_spec(path)
    assert spec.name == path.stem and len(spec.seeds) >= 2  # a spread needs two seeds at least
