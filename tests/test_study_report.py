"""The study report on a fake study whose accuracies are known exactly
(tests/study_fakes.py: 0.5 + hidden / 1000 + seed / 100, + 0.02 when bidirectional)."""

import csv

import pytest
from study_fakes import fake_runner, grid_table

from rnnkit.studies.engine import load_study_dir, machine, run_study
from rnnkit.studies.report import write_report
from rnnkit.studies.spec import parse_spec

PNG = b"\x89PNG"


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    """A finished grid study (hidden 3 fails, 8 and 16 x bidirectional, seeds 0 and 1) and its
    report."""
    tmp = tmp_path_factory.mktemp("report")
    grid = {"hidden": [3, 8, 16], "bidirectional": [False, True]}
    table = grid_table(grid=grid, base={"data": "tiny", "max-steps": 10})
    out = tmp / "study"
    run_study(parse_spec(table, tmp / "tiny.toml"), out, runner=fake_runner)
    write_report(*load_study_dir(out), out)
    return out


def report_lines(study_dir):
    return (study_dir / "report.md").read_text(encoding="utf-8").splitlines()


def table_after(lines, heading):
    """The body rows of the first table below ``heading``, split into cells."""
    rows = []
    for line in lines[lines.index(heading) + 1 :]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif rows:
            break
    return rows[2:]  # past the header and the |---| row


def test_trials_csv_has_one_row_per_trial_with_options_seed_state_and_metrics(study_dir):
    with open(study_dir / "trials.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12
    row = next(
        r for r in rows if (r["hidden"], r["bidirectional"], r["seed"]) == ("16", "true", "1")
    )
    assert row["state"] == "complete"
    assert float(row["value"]) == pytest.approx(0.546) == float(row["valid.accuracy"])
    assert float(row["test.accuracy"]) == pytest.approx(0.536)
    assert (row["parameters"], row["train_seconds"], row["items_per_s"]) == ("160", "1.0", "100.0")
    assert "test.confusion" not in row  # lists are not metrics
    assert {r["state"] for r in rows if r["hidden"] == "3"} == {"failed"}


def test_report_ranks_configurations_with_mean_sd_and_n(study_dir):
    rows = table_after(report_lines(study_dir), "## Configurations ranked by accuracy")
    # accuracy in points: seeds 0 and 1 differ by 1 point, so sd = 1 / sqrt(2) = 0.71
    assert [row[:5] for row in rows] == [
        ["1", "16", "true", "54.1 ± 0.71", "2"],
        ["2", "8", "true", "53.3 ± 0.71", "2"],
        ["3", "16", "false", "52.1 ± 0.71", "2"],
        ["4", "8", "false", "51.3 ± 0.71", "2"],
    ]


def test_report_compares_each_option_on_equal_seeds(study_dir):
    lines = report_lines(study_dir)
    assert (
        "| bidirectional | true − false (matched) | 4 | +2 ± 0 points | [+2, +2] | true |" in lines
    )
    assert "| hidden | 16 − 8 (matched) | 4 | +0.8 ± 0 points | [+0.8, +0.8] | 16 |" in lines
    assert "| bidirectional | true − false (tuned) | 2 | +2 ± 0 points | [+2, +2] | true |" in lines


def test_report_lists_failed_trials_with_their_error(study_dir):
    failed = [line for line in report_lines(study_dir) if "too small" in line]
    assert len(failed) == 4 and all("hidden=3" in line for line in failed)


def test_report_states_machine_budget_and_time(study_dir):
    text = (study_dir / "report.md").read_text(encoding="utf-8")
    assert "- Trials: 8 complete, 4 failed, 0 pruned" in text
    assert "- Budget per trial: max-steps = 10; threads per trial:" in text
    assert f"- Machine: {machine()} (8 trials)." in text
    assert "of wall-clock over 1 sitting(s) with 1 worker(s)" in text


def test_report_draws_its_figures(study_dir):
    for name in ("metric_vs_hidden.png", "curves_bidirectional.png", "cost.png"):
        assert (study_dir / name).read_bytes()[:4] == PNG
        assert f"]({name})" in (study_dir / "report.md").read_text(encoding="utf-8")


def test_search_report_draws_parameter_importances(tmp_path):
    search = {"trials": 6, "sampler": "random", "hidden": {"low": 4, "high": 64}, "lr": [0.1, 0.2]}
    table = {k: v for k, v in grid_table(search=search, seeds=[0]).items() if k != "grid"}
    out = tmp_path / "study"
    run_study(parse_spec(table, tmp_path / "tiny.toml"), out, runner=fake_runner)
    write_report(*load_study_dir(out), out)
    assert (out / "importances.png").read_bytes()[:4] == PNG
