"""The study engine on fake trials (tests/study_fakes.py): Optuna and run directories, no
training. Values are compared exactly (pytest.approx's default 1e-6 relative tolerance)."""

import json
import multiprocessing
import signal
from itertools import product

import optuna
import pytest
from study_fakes import (
    accuracy,
    calls,
    fake_runner,
    grid_table,
    interrupted_once_runner,
    killed_once_runner,
    no_metric_runner,
    third_call_interrupted_runner,
    waiting_runner,
)

from rnnkit.errors import InputError
from rnnkit.studies.engine import available_cores, run_study
from rnnkit.studies.spec import parse_spec

ALL_POINTS = sorted(product([8, 16], [False, True], [0, 1]))  # (hidden, bidirectional, seed)
VICTIM = (16, True, 0)  # the trial the interrupting fakes stop


def spec_of(tmp_path, **overrides):
    return parse_spec(grid_table(**overrides), tmp_path / "tiny.toml")


def trials_of(out):
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'study.db'}")
    return study.trials


def point(params):
    return (params["hidden"], params["bidirectional"], params["seed"])


def test_grid_runs_every_configuration_once_per_seed(tmp_path):
    result = run_study(spec_of(tmp_path), tmp_path / "study", runner=fake_runner)
    trials = trials_of(tmp_path / "study")
    assert sorted(point(t.params) for t in trials) == ALL_POINTS
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert (result["counts"]["complete"], result["counts"]["failed"]) == (8, 0)


def test_each_trial_is_a_run_directory_named_by_its_number(tmp_path):
    out = tmp_path / "study"
    run_study(spec_of(tmp_path), out, runner=fake_runner)
    for trial in trials_of(out):
        run = out / "trials" / str(trial.number)
        config = json.loads((run / "config.json").read_text())
        assert point(config) == point(trial.params)
        assert config["data"] == "tiny"  # the [base] options
        assert json.loads((run / "eval.json").read_text())["valid"]["accuracy"] == trial.value
        assert trial.value == pytest.approx(accuracy(config))


def test_failing_configuration_is_recorded_and_the_others_complete(tmp_path):
    spec = spec_of(tmp_path, grid={"hidden": [3, 8], "bidirectional": [False, True]})
    result = run_study(spec, tmp_path / "study", runner=fake_runner)
    trials = trials_of(tmp_path / "study")
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert {t.params["hidden"] for t in failed} == {3} and len(failed) == 4
    assert {t.user_attrs["error"] for t in failed} == {"--hidden 3: too small for this model"}
    assert sum(t.state.name == "COMPLETE" for t in trials) == 4
    assert (result["counts"]["complete"], result["counts"]["failed"]) == (4, 4)


def test_interrupted_study_continues_without_retraining(tmp_path):
    spec, out = spec_of(tmp_path), tmp_path / "study"
    first = run_study(spec, out, runner=interrupted_once_runner)
    assert first["interrupted"]
    second = run_study(spec, out, runner=interrupted_once_runner)
    assert not second["interrupted"]
    assert (second["counts"]["complete"], second["counts"]["interrupted"]) == (8, 1)
    trained = [point(call) for call in calls(out)]
    assert sorted(set(trained)) == ALL_POINTS
    assert trained.count(VICTIM) == 2 and len(trained) == 9  # nothing else trained twice
    before, after = [call for call in calls(out) if point(call) == VICTIM]
    assert (before["resume"], after["resume"]) == (False, True)
    assert not (out / "trials" / str(before["trial"])).exists()  # taken over by the copy
    assert (out / "trials" / str(after["trial"]) / "eval.json").is_file()


def test_trial_left_running_by_a_killed_process_resumes_its_run_directory(tmp_path):
    spec, out = spec_of(tmp_path), tmp_path / "study"
    worker = multiprocessing.get_context("spawn").Process(
        target=run_study, args=(spec, out), kwargs={"runner": killed_once_runner}
    )
    worker.start()
    worker.join(60)
    assert worker.exitcode == -signal.SIGKILL
    assert [point(t.params) for t in trials_of(out) if t.state.name == "RUNNING"] == [VICTIM]
    result = run_study(spec, out, runner=fake_runner)
    assert result["counts"]["complete"] == 8
    victim = [call for call in calls(out) if point(call) == VICTIM]
    assert [call["resume"] for call in victim] == [False, True]


def test_rerunning_a_finished_study_trains_nothing(tmp_path):
    spec, out = spec_of(tmp_path), tmp_path / "study"
    run_study(spec, out, runner=fake_runner)
    result = run_study(spec, out, runner=fake_runner)
    assert len(calls(out)) == 8 and result["counts"]["complete"] == 8


def test_two_workers_run_trials_at_once_on_half_the_cores(tmp_path):
    out = tmp_path / "study"
    result = run_study(spec_of(tmp_path), out, workers=2, runner=waiting_runner)
    trials = trials_of(out)
    assert result["counts"]["complete"] == 8
    assert sorted(point(t.params) for t in trials) == ALL_POINTS  # no grid point drawn twice
    assert len({t.user_attrs["pid"] for t in trials}) == 2
    assert {call["threads"] for call in calls(out)} == {max(1, available_cores() // 2)}


def test_one_worker_trains_with_every_core(tmp_path):
    out = tmp_path / "study"
    run_study(spec_of(tmp_path), out, runner=fake_runner)
    assert {call["threads"] for call in calls(out)} == {available_cores()}


def test_search_runs_each_drawn_configuration_once_per_seed(tmp_path):
    search = {
        "trials": 3,
        "sampler": "random",
        "hidden": {"low": 4, "high": 64},
        "bidirectional": [False, True],
    }
    table = {k: v for k, v in grid_table(search=search).items() if k != "grid"}
    out = tmp_path / "study"
    result = run_study(parse_spec(table, tmp_path / "tiny.toml"), out, runner=fake_runner)
    trials = trials_of(out)
    seeds: dict[tuple, list[int]] = {}
    for trial in trials:
        seeds.setdefault(point(trial.params)[:2], []).append(trial.params["seed"])
    assert result["counts"]["complete"] == 6
    assert len(seeds) == 3 and all(sorted(s) == [0, 1] for s in seeds.values())


def test_continued_search_draws_new_configurations(tmp_path):
    search = {"trials": 3, "sampler": "random", "hidden": {"low": 4, "high": 400}}
    table = {k: v for k, v in grid_table(search=search).items() if k != "grid"}
    spec, out = parse_spec(table, tmp_path / "tiny.toml"), tmp_path / "study"
    assert run_study(spec, out, runner=third_call_interrupted_runner)["interrupted"]
    run_study(spec, out, runner=third_call_interrupted_runner)
    done = [t.params for t in trials_of(out) if t.state.name == "COMPLETE"]
    assert len(done) == 6 and len({params["hidden"] for params in done}) == 3


def test_median_pruner_stops_only_trials_worse_than_the_median_unevaluated(tmp_path):
    # accuracy 0.508 for hidden 8 and 1.0 for hidden 500; the fake ignores lr, so the good
    # trials are equal and can never fall below the median
    grid = {"hidden": [8, 500], "lr": [0.1, 0.2]}
    spec = spec_of(tmp_path, grid=grid, seeds=[0], pruner="median")
    out = tmp_path / "study"
    result = run_study(spec, out, runner=fake_runner)
    pruned = [t for t in trials_of(out) if t.state.name == "PRUNED"]
    assert pruned and {t.params["hidden"] for t in pruned} == {8}
    for trial in pruned:
        assert list(trial.intermediate_values) == [5]  # stopped at its first evaluation
        assert not (out / "trials" / str(trial.number) / "eval.json").exists()
    assert result["counts"]["pruned"] == len(pruned)


def test_study_reads_back_with_optuna_load_study(tmp_path):
    out = tmp_path / "study"
    run_study(spec_of(tmp_path), out, runner=fake_runner)
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'study.db'}")
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert len(study.trials) == 8
    assert study.best_value == pytest.approx(0.5 + 0.016 + 0.01 + 0.02)  # hidden 16, bi, seed 1


def test_storage_url_replaces_the_default_database(tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    run_study(spec_of(tmp_path), tmp_path / "study", storage=storage, runner=fake_runner)
    assert (tmp_path / "shared.db").is_file() and not (tmp_path / "study" / "study.db").exists()


def test_changed_study_file_is_refused(tmp_path):
    out = tmp_path / "study"
    run_study(spec_of(tmp_path), out, runner=fake_runner)
    with pytest.raises(InputError, match=r"different study file \(seeds changed\)"):
        run_study(spec_of(tmp_path, seeds=[0, 1, 2]), out, runner=fake_runner)


def test_metric_missing_from_eval_json_stops_the_study(tmp_path):
    out = tmp_path / "study"
    with pytest.raises(InputError, match=r"tiny.toml: key 'metric': 'accuracy' is not a valid"):
        run_study(spec_of(tmp_path), out, runner=no_metric_runner)
    assert len(calls(out)) == 1
