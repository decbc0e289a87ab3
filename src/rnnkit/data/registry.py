"""Dataset registry: where each dataset's files come from, their checksums, and where they live.

``locate(name, filename)`` returns the local path of one file. It looks in ``$RNNKIT_DATA/<name>/``,
then in ``cache_dir()/<name>/``, and only then downloads into the cache (checked against the
recorded sha256 and written atomically). URLs are pinned to the snapshot commits recorded in each
dataset's PROVENANCE.md, so a checksum can never drift with an upstream edit.

``locate_folder(name)`` does the same for a dataset of many files (FSDD's 3,000 recordings): the
folder is fetched as the repository's archive at the pinned commit, and checked by the sha256 of
its files' bytes concatenated in sorted name order (an archive's own bytes are not guaranteed
stable, its content is).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from rnnkit.errors import InputError
from rnnkit.io import temporary_beside

_DOWNLOAD_CHUNK_BYTES = 1 << 16
_DOWNLOAD_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its local name, its pinned upstream URL and its sha256.

    ``sha256`` is always the checksum of the file as stored locally. When ``gzip`` is True the URL
    serves a ``.gz`` that the downloader decompresses, and ``sha256`` is that of the decompressed
    file.
    """

    filename: str
    url: str
    sha256: str
    gzip: bool = False


@dataclass(frozen=True)
class Dataset:
    """A named dataset: its files (keyed by local file name), licence and a one-line description."""

    name: str
    files: dict[str, RemoteFile]
    licence: str
    description: str


def _github_dataset(
    name: str,
    *,
    repo: str,
    commit: str,
    folder: str,
    sha256: dict[str, str],
    licence: str,
    description: str,
    gzip: bool = False,
) -> Dataset:
    """A dataset whose files sit in one folder of a GitHub repository, pinned to ``commit``.

    ``sha256`` maps each local file name to its checksum; with ``gzip`` the upstream file is
    ``<filename>.gz`` and the checksum is that of the decompressed file.
    """
    files = {}
    for filename, checksum in sha256.items():
        path = f"{folder}/{filename}" if folder else filename
        url = f"https://raw.githubusercontent.com/{repo}/{commit}/{path}" + (".gz" if gzip else "")
        files[filename] = RemoteFile(filename, url, checksum, gzip)
    return Dataset(name, files, licence, description)


def _with_file(dataset: Dataset, remote: RemoteFile) -> Dataset:
    """``dataset`` with one more file (one that comes from elsewhere than its other files)."""
    files = {**dataset.files, remote.filename: remote}
    return Dataset(dataset.name, files, dataset.licence, dataset.description)


# Checksums of the files as used (decompressed where upstream is gzipped), from each dataset's
# PROVENANCE.md and re-checked with sha256sum against /work/shared/data.
_TINYSHAKESPEARE_SHA256 = {
    "input.txt": "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
}
_ETT_SHA256 = {
    "ETTh1.csv": "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
    "ETTh2.csv": "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b",
    "ETTm1.csv": "6ce1759b1a18e3328421d5d75fadcb316c449fcd7cec32820c8dafda71986c9e",
}
_SST2_SHA256 = {
    "train.tsv": "5b56af66a194e685c0fbde5f58c4355ab00f5485a29bfcae1085b4b9f8b1a6c3",
    "dev.tsv": "c9ddb67ce3068540c5bb6562e1f34788302dd06d570e6ca0d5e61f7d5ef2bfad",
    "test.tsv": "5e133ae65857bb44629508a8924531a1e4dd2d64f2a831507803512b4bb49043",
}
# GLUE's SST-2 training set (67,349 phrases and sentences), from another repository: its
# SST-2/train.tsv is stored as sst2/train_phrases.tsv (PROVENANCE.md, "Phrase-level training set").
_SST2_PHRASES = RemoteFile(
    "train_phrases.tsv",
    "https://raw.githubusercontent.com/awake020/pytorch_Bert_sst2/"
    "ce2ab1719d32182e6233b24b2de246bd32814fde/SST-2/train.tsv",
    "e981ceb4fe6c9acd1c79851d0d091b9e78103f1f2a399ca83dda27915d41c56c",
)
_SMS_SPAM_SHA256 = {
    "SMSSpamCollection": "edc1f2ca36319ca36c6f80fede2f6ae5f81335289352485f3924df077ec20266",
}
_MULTI30K_SHA256 = {
    "train.de": "2c2b73fd2b548fbcde3a875e0a78d6ee94d498bfdee6bd3eae3945779e9ddf72",
    "train.en": "460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6",
    "val.de": "660e09eb7e1da2f856ea13ee5ad3cf6d36b3d5b0b733c857e94c5747a3dfc660",
    "val.en": "1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227",
    "test_2016_flickr.de": "4be6b5b3236b79c25475c6bb829800a7ce559e9ba7a1f6c2394fe4d40be46d16",
    "test_2016_flickr.en": "399a4382932c1aadd3ceb9bef1008d388a64c76d4ae4e9d4728c6f4301cac182",
}
_AIRLINE_SHA256 = {
    "airline-passengers.csv": "8cb51be753a718d9be5d76d7e238cc224792754676adc21faa59e954b0201621",
}
_UNIVARIATE_SHA256 = {
    "daily-min-temperatures.csv": (
        "8b9de63ed6789492bf497625e7f9beb96a63d367b4b0a21754006f749fa5e5da"
    ),
    "monthly-sunspots.csv": "c4ec8cc57d9f6fb6ecdb3e1f37f25b6f4badd5124c55931052b0cd2fc3bc71f3",
    "daily-total-female-births.csv": (
        "7a0c1bdb32d68f7fa359e561a4f7e1fe8fb2fc26a1ea624a434a97a63735dd72"
    ),
    "monthly-car-sales.csv": "a4194226eb1d0eba5fd503e829b1279f1a10683d8009f2871aca05e7fb648f70",
    "shampoo.csv": "f709eaa344b2d07039a49e2193cbff5e56206354f3a8203c0e02471beb39a451",
}
_JBROWNLEE_COMMIT = "d20fcb6402ae34e653d4513b00f39257bb37ed7f"

DATASETS: dict[str, Dataset] = {
    dataset.name: dataset
    for dataset in [
        _github_dataset(
            "tinyshakespeare",
            repo="karpathy/char-rnn",
            commit="6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e",
            folder="data/tinyshakespeare",
            sha256=_TINYSHAKESPEARE_SHA256,
            licence="MIT (karpathy/char-rnn README); the Shakespeare text is public domain",
            description="1,115,394-character Shakespeare corpus for character-level modelling.",
        ),
        # ETTm1.csv: the shared copy was rebuilt from a gzipped mirror (darfire/flax-lmu), but its
        # git blob id equals upstream's at this commit, so the upstream URL serves the same bytes.
        _github_dataset(
            "ett",
            repo="zhouhaoyi/ETDataset",
            commit="1d16c8f4f943005d613b5bc962e9eeb06058cf07",
            folder="ETT-small",
            sha256=_ETT_SHA256,
            licence="CC BY-ND 4.0 (zhouhaoyi/ETDataset); cite Zhou et al., Informer, AAAI 2021",
            description="Electricity transformer loads and oil temperature, "
            "hourly (ETTh1, ETTh2) and 15-minute (ETTm1).",
        ),
        _with_file(
            _github_dataset(
                "sst2",
                repo="YJiangcm/SST-2-sentiment-analysis",
                commit="ca3869fa59a56d316e73b41074abcb0226886de8",
                folder="data",
                sha256=_SST2_SHA256,
                licence="no licence file (README points to MIT); Stanford Sentiment Treebank, "
                "cite Socher et al., EMNLP 2013",
                description="SST-2 binary sentences, label<TAB>sentence; 6,920 / 872 / 1,821, "
                "test set labelled; train_phrases.tsv: GLUE's 67,349 training phrases.",
            ),
            _SST2_PHRASES,
        ),
        _github_dataset(
            "sms_spam",
            repo="EvilPort2/Spam-Detection",
            commit="d12b3145850a1731c5be62bb03d5e2f416a81cf7",
            folder="",
            sha256=_SMS_SPAM_SHA256,
            licence="free use, copyright Almeida & Gomez Hidalgo (corpus readme); cite DocEng 2011",
            description="SMS Spam Collection v.1: ham/spam<TAB>text, 5,574 messages.",
        ),
        _github_dataset(
            "multi30k",
            repo="multi30k/dataset",
            commit="a3d2e0d26b56f3846f66a952536ffed4e401d05a",
            folder="data/task1/raw",
            sha256=_MULTI30K_SHA256,
            gzip=True,  # upstream stores <filename>.gz
            licence="no licence file; non-commercial research use (Flickr terms); "
            "cite Elliott et al., VL@ACL 2016",
            description="Multi30k task 1 En-De raw captions, line-aligned; "
            "29,000 / 1,014 / 1,000 pairs.",
        ),
        _github_dataset(
            "airline",
            repo="jbrownlee/Datasets",
            commit=_JBROWNLEE_COMMIT,
            folder="",
            sha256=_AIRLINE_SHA256,
            licence="none stated (jbrownlee/Datasets); Box & Jenkins (1976) Series G",
            description="Monthly international airline passengers (thousands), 1949-01..1960-12.",
        ),
        _github_dataset(
            "univariate",
            repo="jbrownlee/Datasets",
            commit=_JBROWNLEE_COMMIT,
            folder="",
            sha256=_UNIVARIATE_SHA256,
            licence="none stated (jbrownlee/Datasets); series from the Time Series Data Library",
            description="Five classic (date, value) series: Melbourne temperatures, sunspots, "
            "births, car sales, shampoo sales.",
        ),
    ]
}


@dataclass(frozen=True)
class RemoteFolder:
    """A dataset of many files in one folder: ``archive`` (a .tar.gz of a pinned commit) holds
    them under ``member``; ``sha256`` is that of their bytes concatenated in sorted name order."""

    name: str
    folder: str  # local folder: <data home or cache>/<name>/<folder>
    archive: str
    member: str
    sha256: str
    count: int
    licence: str
    description: str


_FSDD_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"
FOLDERS: dict[str, RemoteFolder] = {
    "fsdd": RemoteFolder(
        "fsdd",
        "recordings",
        f"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/{_FSDD_COMMIT}.tar.gz",
        f"free-spoken-digit-dataset-{_FSDD_COMMIT}/recordings",
        "ddb17656a0bca4c5ddace082be188ca630516dc2ef1110afe3c4e9cc71173de4",
        3000,
        "CC BY-SA 4.0 (Jakobovski/free-spoken-digit-dataset README)",
        "Free Spoken Digit Dataset: 3,000 8 kHz mono WAVs, {digit}_{speaker}_{take}.wav, six "
        "speakers x 10 digits x 50 takes.",
    ),
}


def folder_sha256(folder: Path) -> str:
    """The sha256 of the bytes of every file in ``folder``, concatenated in sorted name order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def locate_folder(name: str, *, download: bool | None = None) -> Path:
    """The local folder of the many-file dataset ``name``: ``$RNNKIT_DATA/<name>/<folder>``,
    else the cache's, else downloaded into the cache (``download`` as in :func:`locate`).

    Raises:
        InputError: unknown dataset; folder missing and not downloadable; checksum mismatch.
    """
    if name not in FOLDERS:
        raise InputError(
            f"unknown dataset {name!r}: expected one of {', '.join(FOLDERS)}"
            + did_you_mean(name, list(FOLDERS))
        )
    remote = FOLDERS[name]
    found = find_folder(name)
    if found is not None:
        return found
    home = data_home()
    target = cache_dir() / name / remote.folder
    if not _downloads_allowed(download):
        where = home / name / remote.folder if home else f"$RNNKIT_DATA/{name}/{remote.folder}"
        raise InputError(
            f"missing dataset folder {name}/{remote.folder} (downloads are off): put its "
            f"{remote.count} files at {where} or {target}; fetch {remote.archive} and take "
            f"{remote.member}/"
        )
    try:
        _download_folder(remote, target)
    except (OSError, http.client.HTTPException, tarfile.TarError) as error:
        raise InputError(f"download of {remote.archive} failed: {error}") from error
    return target


def _download_folder(remote: RemoteFolder, destination: Path) -> None:
    """Fetch the archive, unpack the files directly under ``remote.member`` into a temporary
    folder beside ``destination``, check their sha256, then rename the folder into place."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{destination.name}.", dir=destination.parent) as tmp:
        archive, unpacked = Path(tmp) / "archive.tar.gz", Path(tmp) / remote.folder
        with (
            urllib.request.urlopen(remote.archive, timeout=_DOWNLOAD_TIMEOUT_S) as response,
            open(archive, "wb") as out,
        ):
            shutil.copyfileobj(response, out, _DOWNLOAD_CHUNK_BYTES)
        unpacked.mkdir()
        prefix = remote.member.rstrip("/") + "/"
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                name = member.name.removeprefix(prefix)
                if member.isfile() and member.name.startswith(prefix) and "/" not in name:
                    (unpacked / name).write_bytes(tar.extractfile(member).read())
        digest = folder_sha256(unpacked)
        if digest != remote.sha256:
            raise InputError(
                f"checksum mismatch for {remote.name}/{remote.folder} from {remote.archive}: "
                f"expected sha256 {remote.sha256}, got {digest}; nothing was kept"
            )
        os.replace(unpacked, destination)


def is_registered(name: str) -> bool:
    """Whether ``name`` is a dataset in the registry."""
    return name in DATASETS


def data_home() -> Path | None:
    """The data folder ``$RNNKIT_DATA`` (holding ``<name>/<filename>``), or None if unset."""
    value = os.environ.get("RNNKIT_DATA", "")
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Where downloads go: ``$RNNKIT_CACHE`` if set, else ``~/.cache/rnnkit``."""
    value = os.environ.get("RNNKIT_CACHE", "")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "rnnkit"


def did_you_mean(name: str, choices: list[str] | None = None) -> str:
    """``"; did you mean 'tinyshakespeare'?"`` for a near miss among ``choices`` (default: the
    registered dataset names), else an empty string."""
    import difflib

    choices = list(DATASETS) if choices is None else choices
    spellings = {}  # "ett:etth1" and "etth1" both stand for "ett:ETTh1"
    for choice in choices:
        spellings.setdefault(choice.lower(), choice)
        spellings.setdefault(choice.lower().rpartition(":")[2], choice)
    close = difflib.get_close_matches(name.lower(), list(spellings), n=1, cutoff=0.75)
    return f"; did you mean {spellings[close[0]]!r}?" if close else ""


def _dataset_named(name: str) -> Dataset:
    if name not in DATASETS:
        raise InputError(
            f"unknown dataset {name!r}: expected one of {', '.join(sorted(DATASETS))}"
            + did_you_mean(name)
        )
    return DATASETS[name]


def _file_of(dataset: Dataset, filename: str | None) -> RemoteFile:
    choices = ", ".join(dataset.files)
    if filename is None:
        if len(dataset.files) != 1:
            raise InputError(
                f"dataset {dataset.name!r} has {len(dataset.files)} files: name one of {choices}"
            )
        return next(iter(dataset.files.values()))
    if filename not in dataset.files:
        raise InputError(
            f"dataset {dataset.name!r} has no file {filename!r}: expected one of {choices}"
            + did_you_mean(filename, list(dataset.files))
        )
    return dataset.files[filename]


def _downloads_allowed(download: bool | None) -> bool:
    if download is not None:
        return download
    return os.environ.get("RNNKIT_OFFLINE", "") != "1"


def _missing_message(name: str, remote: RemoteFile, reason: str) -> str:
    home = data_home()
    data_path = (
        f"{home / name / remote.filename}" if home else f"$RNNKIT_DATA/{name}/{remote.filename}"
    )
    fetch = f"{remote.url} (gzipped: decompress it)" if remote.gzip else remote.url
    return (
        f"missing data file {name}/{remote.filename} ({reason}): put it at {data_path} "
        f"or {cache_dir() / name / remote.filename}; fetch it from {fetch}"
    )


def find_folder(name: str) -> Path | None:
    """Where the many-file dataset ``name`` is found locally (a folder that is not empty, in
    $RNNKIT_DATA, then the cache), or None."""
    home = data_home()
    for root in ([home] if home is not None else []) + [cache_dir()]:
        folder = root / name / FOLDERS[name].folder
        if folder.is_dir() and any(folder.iterdir()):
            return folder
    return None


def find(name: str, filename: str) -> Path | None:
    """Where file ``filename`` of dataset ``name`` is found locally ($RNNKIT_DATA, then the
    cache), or None."""
    home = data_home()
    for folder in ([home] if home is not None else []) + [cache_dir()]:
        if (folder / name / filename).is_file():
            return folder / name / filename
    return None


def locate(name: str, filename: str | None = None, *, download: bool | None = None) -> Path:
    """Return the local path of one file of dataset ``name``, downloading it if allowed.

    Looks in ``$RNNKIT_DATA/<name>/<filename>``, then ``cache_dir()/<name>/<filename>``, then
    downloads into the cache and checks the sha256. ``filename`` may be left out for a dataset with
    one file. ``download=None`` downloads unless ``RNNKIT_OFFLINE=1``; True or False force it.

    Raises:
        InputError: unknown dataset or file; file missing and not downloadable; checksum mismatch.
    """
    remote = _file_of(_dataset_named(name), filename)
    found = find(name, remote.filename)
    if found is not None:
        return found
    cached = cache_dir() / name / remote.filename
    if not _downloads_allowed(download):
        reason = "downloads are off: RNNKIT_OFFLINE=1" if download is None else "download=False"
        raise InputError(_missing_message(name, remote, reason))
    try:
        _download(remote, cached)
    # URLError, HTTPError, timeouts and an unwritable cache are OSError; a cut connection can also
    # surface as http.client.IncompleteRead.
    except (OSError, http.client.HTTPException) as error:
        raise InputError(_missing_message(name, remote, f"download failed: {error}")) from error
    return cached


def _download(remote: RemoteFile, destination: Path) -> None:
    """Fetch ``remote`` into ``destination`` via a temporary file in the same folder, then rename.

    The rename (os.replace) is atomic, so ``destination`` either does not exist or is complete and
    verified; a failed or corrupt download leaves nothing behind.
    """
    from tqdm.auto import tqdm

    destination.parent.mkdir(parents=True, exist_ok=True)
    temp_name = temporary_beside(destination, ".part")  # the user's umask, not 0600
    handle = os.open(temp_name, os.O_WRONLY)
    temp_path = Path(temp_name)
    digest = hashlib.sha256()
    # wbits = 16 + MAX_WBITS: expect a gzip header and trailer, not a bare zlib stream.
    gunzip = zlib.decompressobj(16 + zlib.MAX_WBITS) if remote.gzip else None
    try:
        with (
            os.fdopen(handle, "wb") as out,
            urllib.request.urlopen(remote.url, timeout=_DOWNLOAD_TIMEOUT_S) as response,
        ):
            size = response.headers.get("Content-Length")
            with tqdm(
                total=int(size) if size else None,
                unit="B",
                unit_scale=True,
                desc=destination.name,
                leave=False,
            ) as progress:
                while chunk := response.read(_DOWNLOAD_CHUNK_BYTES):
                    progress.update(len(chunk))  # counts bytes on the wire, as Content-Length does
                    data = gunzip.decompress(chunk) if gunzip else chunk
                    digest.update(data)
                    out.write(data)
            if gunzip:
                tail = gunzip.flush()
                digest.update(tail)
                out.write(tail)
        if gunzip and not gunzip.eof:
            raise InputError(f"download of {remote.url} is a truncated gzip stream")
        if digest.hexdigest() != remote.sha256:
            raise InputError(
                f"checksum mismatch for {destination} downloaded from {remote.url}: expected "
                f"sha256 {remote.sha256}, got {digest.hexdigest()}; the download was deleted"
            )
        os.replace(temp_path, destination)
    except zlib.error as error:
        temp_path.unlink(missing_ok=True)
        raise InputError(f"download of {remote.url} is not valid gzip: {error}") from error
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
