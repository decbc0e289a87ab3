"""Shared fixtures: a tiny corpus, a quick training configuration and small CSV series."""

import csv

import pytest
import torch

TINY_TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\nFirst Citizen:\nYou are all resolved rather to die than to famish?\n\n"
) * 30


@pytest.fixture(autouse=True)
def _one_thread():
    """Tests are small: one thread avoids oversubscribing a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TINY_TEXT, encoding="utf-8")
    return path


TINY_LM = [
    "--hidden",
    "16",
    "--layers",
    "1",
    "--embedding-dim",
    "8",
    "--batch-size",
    "4",
    "--seq-len",
    "16",
    "--max-steps",
    "12",
    "--eval-every",
    "6",
    "--no-progress",
    "--warmup-steps",
    "0",
    "--lr",
    "0.01",
]


def _write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def _hourly_rows(count: int, start_hour: int = 0) -> list[list[str]]:
    rows = []
    for i in range(count):
        hour = start_hour + i
        day, hour = 1 + hour // 24, hour % 24
        rows.append([f"2020-01-{day:02d} {hour:02d}:00:00", str(i), str(10 * i)])
    return rows


@pytest.fixture
def write_csv():
    """``write_csv(path, header, rows) -> path``: a CSV file of a header line and the rows."""
    return _write_csv


@pytest.fixture
def hourly_rows():
    """``hourly_rows(count)``: (timestamp, a, b) rows, hourly from 2020-01-01 00:00, with
    a = the row index and b = 10 * the row index; lists, so a test may change cells."""
    return _hourly_rows
