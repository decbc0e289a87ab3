"""``rnnkit study run|report|status`` with the fake trial runner in place of training."""

import pytest
from study_fakes import fake_runner, interrupted_once_runner

from rnnkit.cli import main
from rnnkit.studies import trial

STUDY = """
task = "classify"
metric = "accuracy"
direction = "maximize"
seeds = [0, 1]
[base]
data = "tiny"
[grid]
hidden = [8, 16]
bidirectional = [false, true]
"""


@pytest.fixture
def study_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(STUDY, encoding="utf-8")
    return path


def test_study_run_prints_the_counts_and_writes_the_report(
    study_file, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(trial, "run_trial", fake_runner)
    out = tmp_path / "study"
    assert main(["study", "run", str(study_file), "--out", str(out)]) == 0
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("study tiny: 8 completed, 0 failed, 0 pruned (")
    assert last.endswith(f"report: {out / 'report.md'}") and (out / "report.md").is_file()


def test_interrupted_study_run_exits_130_and_the_same_command_finishes_it(
    study_file, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(trial, "run_trial", interrupted_once_runner)
    command = ["study", "run", str(study_file), "--out", str(tmp_path / "study")]
    assert main(command) == 130
    assert "run the same command again to continue" in capsys.readouterr().err
    assert main(command) == 0
    assert "8 completed, 0 failed" in capsys.readouterr().err


def test_study_status_prints_the_counts_and_the_best(study_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(trial, "run_trial", fake_runner)
    out = tmp_path / "study"
    main(["study", "run", str(study_file), "--out", str(out)])
    capsys.readouterr()
    assert main(["study", "status", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].strip() == "complete 8, failed 0, pruned 0, running 0, waiting 0, to start 0"
    assert lines[2].strip().startswith("best trial: ")
    assert "[hidden=16 bidirectional=true seed=1]" in lines[2]


def test_bad_study_file_is_one_line_and_exit_code_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(STUDY + "budget = 3\n", encoding="utf-8")  # lands in [grid]
    assert main(["study", "run", str(path), "--out", str(tmp_path / "study")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith(f"rnnkit: error: {path}: key 'grid.budget': expected a non-empty list")


def test_report_of_a_directory_without_a_study_is_exit_code_2(tmp_path, capsys):
    assert main(["study", "report", str(tmp_path)]) == 2
    assert "not a study directory" in capsys.readouterr().err


def test_unusable_storage_url_is_one_line_without_the_password(study_file, tmp_path, capsys):
    url = "nosuchdb://user:secret@host/studies"
    command = ["study", "run", str(study_file), "--out", str(tmp_path / "s"), "--storage", url]
    assert main(command) == 2
    error = capsys.readouterr().err
    assert error.splitlines()[-1].startswith("rnnkit: error: --storage nosuchdb://user:***@host/")
    assert "secret" not in error
