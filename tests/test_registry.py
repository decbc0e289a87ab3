"""Dataset registry: lookup order, verified atomic downloads, messages when a file is missing.

Hermetic: every test replaces ``urllib.request.urlopen``; downloads are served from memory.
"""

import gzip
import hashlib
import io
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from rnnkit.data.registry import (
    DATASETS,
    Dataset,
    RemoteFile,
    cache_dir,
    data_home,
    is_registered,
    locate,
)
from rnnkit.errors import InputError

# Read before the autouse fixture clears the variable for the other tests.
SHARED_DATA = Path(os.environ.get("RNNKIT_DATA") or "/work/shared/data")

PAYLOAD = b"first line\nsecond line\n"
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
TOY_URL = "https://example.invalid/toy/notes.txt"


class FakeResponse:
    """What urlopen returns, serving ``body`` in chunks; ``on_read`` runs before every read."""

    def __init__(self, body: bytes, on_read=None):
        self._stream = io.BytesIO(body)
        self.headers = {"Content-Length": str(len(body))}
        self._on_read = on_read

    def read(self, size: int = -1) -> bytes:
        if self._on_read is not None:
            self._on_read()
        return self._stream.read(size)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


def serve(monkeypatch, body: bytes, on_read=None) -> list[str]:
    """Make urlopen serve ``body``; return the list that records each requested URL."""
    requested: list[str] = []

    def fake_urlopen(url, *args, **kwargs):
        requested.append(url)
        return FakeResponse(body, on_read)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    return requested


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Fresh cache, no data home, online, and a network that fails the test if touched."""
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RNNKIT_DATA", raising=False)
    monkeypatch.delenv("RNNKIT_OFFLINE", raising=False)

    def no_network(url, *args, **kwargs):
        pytest.fail(f"test touched the network: {url}")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)


@pytest.fixture
def toy(monkeypatch) -> RemoteFile:
    """Register a one-file dataset ``toy`` whose recorded checksum is that of PAYLOAD."""
    remote = RemoteFile("notes.txt", TOY_URL, PAYLOAD_SHA256)
    monkeypatch.setitem(DATASETS, "toy", Dataset("toy", {"notes.txt": remote}, "none", "test"))
    return remote


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_data_home_copy_is_found_before_the_cache(tmp_path, monkeypatch, toy):
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path / "data"))
    in_data_home = write(tmp_path / "data" / "toy" / "notes.txt", PAYLOAD)
    write(tmp_path / "cache" / "toy" / "notes.txt", PAYLOAD)
    assert locate("toy") == in_data_home


def test_cache_copy_is_used_when_data_home_lacks_the_file(tmp_path, monkeypatch, toy):
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    in_cache = write(tmp_path / "cache" / "toy" / "notes.txt", PAYLOAD)
    assert locate("toy", "notes.txt") == in_cache


def test_download_lands_in_cache_through_a_temp_file_and_leaves_no_temp_file(
    tmp_path, monkeypatch, toy
):
    folder = tmp_path / "cache" / "toy"
    seen_while_downloading: list[tuple[bool, list[str]]] = []

    def watch():  # the final name must not appear before the bytes are complete and checked
        names = sorted(p.name for p in folder.iterdir())
        seen_while_downloading.append(((folder / "notes.txt").exists(), names))

    requested = serve(monkeypatch, PAYLOAD, on_read=watch)
    path = locate("toy")

    assert requested == [TOY_URL]
    assert path == folder / "notes.txt"
    assert path.read_bytes() == PAYLOAD
    assert seen_while_downloading, "the fake response was never read"
    for final_exists, names in seen_while_downloading:
        assert not final_exists
        assert len(names) == 1 and names[0].startswith(".notes.txt.")  # one temp file, same folder
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_gzipped_upstream_is_decompressed_and_checked_against_the_decompressed_sha256(
    tmp_path, monkeypatch
):
    remote = RemoteFile("notes.txt", TOY_URL + ".gz", PAYLOAD_SHA256, gzip=True)
    monkeypatch.setitem(DATASETS, "toy", Dataset("toy", {"notes.txt": remote}, "none", "test"))
    serve(monkeypatch, gzip.compress(PAYLOAD))
    path = locate("toy")
    assert path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in path.parent.iterdir()) == ["notes.txt"]


def test_wrong_checksum_raises_naming_both_checksums_and_leaves_no_file(tmp_path, monkeypatch, toy):
    tampered = PAYLOAD + b"tampered\n"
    serve(monkeypatch, tampered)
    with pytest.raises(InputError) as caught:
        locate("toy")
    message = str(caught.value)
    assert PAYLOAD_SHA256 in message
    assert hashlib.sha256(tampered).hexdigest() in message
    assert list((tmp_path / "cache" / "toy").iterdir()) == []


def test_offline_message_says_which_file_is_missing_where_to_put_it_and_where_to_fetch_it(
    tmp_path, monkeypatch, toy
):
    monkeypatch.setenv("RNNKIT_OFFLINE", "1")
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path / "data"))
    with pytest.raises(InputError) as caught:
        locate("toy")
    message = str(caught.value)
    assert "\n" not in message
    assert "toy/notes.txt" in message
    assert str(tmp_path / "data" / "toy" / "notes.txt") in message
    assert str(tmp_path / "cache" / "toy" / "notes.txt") in message
    assert TOY_URL in message
    assert "RNNKIT_OFFLINE" in message


def test_offline_message_without_data_home_names_the_variable_to_set(monkeypatch, toy):
    monkeypatch.setenv("RNNKIT_OFFLINE", "1")
    with pytest.raises(InputError, match=re.escape("$RNNKIT_DATA/toy/notes.txt")):
        locate("toy")


def test_download_false_refuses_to_download_even_when_online(toy):
    with pytest.raises(InputError, match="download=False"):
        locate("toy", download=False)  # the autouse fixture fails the test if urlopen is called


def test_download_true_downloads_even_when_offline_is_set(monkeypatch, toy):
    monkeypatch.setenv("RNNKIT_OFFLINE", "1")
    requested = serve(monkeypatch, PAYLOAD)
    assert locate("toy", download=True).read_bytes() == PAYLOAD
    assert requested == [TOY_URL]


def test_network_failure_gives_the_missing_file_message_and_leaves_no_file(
    tmp_path, monkeypatch, toy
):
    def unreachable(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    with pytest.raises(InputError) as caught:
        locate("toy")
    message = str(caught.value)
    assert "\n" not in message
    assert "name resolution" in message
    assert str(tmp_path / "cache" / "toy" / "notes.txt") in message
    assert TOY_URL in message
    assert list((tmp_path / "cache" / "toy").iterdir()) == []


def test_unknown_dataset_lists_the_known_names():
    with pytest.raises(InputError) as caught:
        locate("no_such_dataset")
    message = str(caught.value)
    assert "no_such_dataset" in message
    for name in DATASETS:
        assert name in message


def test_dataset_with_several_files_needs_a_filename_and_lists_them():
    with pytest.raises(InputError) as caught:
        locate("sst2")
    for filename in ["train.tsv", "dev.tsv", "test.tsv"]:
        assert filename in str(caught.value)


def test_unknown_filename_lists_the_dataset_files():
    with pytest.raises(InputError, match=r"'train\.csv'.*train\.tsv, dev\.tsv, test\.tsv"):
        locate("sst2", "train.csv")


def test_is_registered_knows_registered_names_only():
    assert is_registered("tinyshakespeare")
    assert not is_registered("TinyShakespeare")


def test_cache_dir_defaults_to_home_cache_and_data_home_to_none(tmp_path, monkeypatch):
    monkeypatch.delenv("RNNKIT_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "rnnkit"
    assert data_home() is None


UPSTREAM_NAMES = {"train_phrases.tsv": "SST-2/train.tsv"}  # stored under another name
EXPECTED_FILES = {
    "tinyshakespeare": {"input.txt"},
    "ett": {"ETTh1.csv", "ETTh2.csv", "ETTm1.csv"},
    "sst2": {"train.tsv", "dev.tsv", "test.tsv", "train_phrases.tsv"},
    "sms_spam": {"SMSSpamCollection"},
    "multi30k": {
        f"{split}.{lang}" for split in ["train", "val", "test_2016_flickr"] for lang in ["de", "en"]
    },
    "airline": {"airline-passengers.csv"},
    "univariate": {
        "daily-min-temperatures.csv",
        "monthly-sunspots.csv",
        "daily-total-female-births.csv",
        "monthly-car-sales.csv",
        "shampoo.csv",
    },
}


def test_registry_holds_exactly_the_expected_datasets_and_files():
    assert {name: set(d.files) for name, d in DATASETS.items()} == EXPECTED_FILES
    for name, dataset in DATASETS.items():
        assert dataset.name == name
        assert all(key == remote.filename for key, remote in dataset.files.items())


@pytest.mark.parametrize("name", sorted(EXPECTED_FILES))
def test_urls_are_raw_github_at_a_pinned_commit_and_gzip_exactly_for_gz(name):
    pinned = re.compile(r"https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/\S+")
    for remote in DATASETS[name].files.values():
        assert pinned.fullmatch(remote.url), remote.url
        assert remote.gzip == remote.url.endswith(".gz")
        upstream = UPSTREAM_NAMES.get(remote.filename, remote.filename)
        assert remote.url.removesuffix(".gz").endswith("/" + upstream)
        assert re.fullmatch(r"[0-9a-f]{64}", remote.sha256)


@pytest.mark.parametrize("name", sorted(EXPECTED_FILES))
def test_registered_files_under_data_home_match_their_recorded_sha256(name):
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    for remote in DATASETS[name].files.values():
        path = folder / remote.filename
        assert path.is_file(), f"{path} is registered but missing"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == remote.sha256, path
