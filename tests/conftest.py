"""Shared fixtures: a tiny corpus and a quick training configuration."""

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
