"""Files written so that a crash never leaves half of one, with the user's permissions, and read
with errors that name the file.

- :func:`atomic_write` writes a temporary file beside the target, fsyncs it and renames it onto the
  target: a reader sees the old file or the new one, never a mix. The temporary file is created
  with mode 0666 less the umask, as ``open`` would create the target itself.
- :func:`append_line` adds one line to a log, or nothing: a failed write is cut off again.
- A failed write is an :class:`~rnnkit.errors.InputError` (a place that cannot be written: exit
  code 2) or a :class:`~rnnkit.errors.StorageFull` (no space left: exit code 1), naming the file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnnkit.errors import InputError, StorageFull

# errno values that mean "no room left" rather than "not allowed here"
FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def write_error(path: str | Path, error: OSError) -> Exception:
    """The exception to raise for ``error`` while writing ``path``: StorageFull for a full disk
    (or a file-size limit), else InputError (read-only, missing folder, not a directory, ...)."""
    reason = error.strerror or str(error)
    if error.errno in FULL:
        return StorageFull(f"{path}: cannot write ({reason}); the files saved before are intact")
    return InputError(f"{path}: cannot write here ({reason})")


def temporary_beside(path: Path, suffix: str = ".tmp") -> str:
    """Create an empty temporary file beside ``path`` (mode 0666 less the umask, where
    ``tempfile.mkstemp`` would make it 0600) and return its name."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}{suffix}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return str(tmp)
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path))


def atomic_write(path: str | Path, write: Callable[[str], None], parents: bool = True) -> None:
    """Call ``write(tmp_path)`` then rename the finished file onto ``path``; ``parents`` creates
    the missing folders first."""
    path = Path(path)
    try:
        if parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_beside(path)
    except OSError as error:
        raise write_error(path, error) from None
    try:
        write(tmp)
        with open(tmp, "r+b") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(error, OSError):
            raise write_error(path, error) from None
        raise


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path``, atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            handle.write(data)

    atomic_write(path, write)


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode("utf-8"))


def check_writable(path: str | Path, flag: str) -> None:
    """Refuse, before any work is done, a file named by option ``flag`` that cannot be written:
    its folder is missing, is not a folder, or is not writable."""
    folder = Path(path).parent
    if not folder.is_dir():
        missing = "is not a folder" if folder.exists() else "does not exist"
        raise InputError(f"{flag} {path}: the folder {folder} {missing}")
    if not os.access(folder, os.W_OK) or Path(path).is_dir():
        raise InputError(f"{flag} {path}: cannot write there")


def write_output(path: str | Path, text: str) -> None:
    """Write a file the user named (``--output``): directly, like a shell redirection (so
    ``/dev/stdout`` works), with InputError or StorageFull naming it when that fails."""
    try:
        with open(path, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    except OSError as error:
        raise write_error(path, error) from None


def append_line(path: str | Path, line: str) -> None:
    """Append ``line`` and a newline to ``path``; when the write fails, the file is cut back to
    what it held before, so a log never ends in half a line."""
    data = memoryview((line + "\n").encode("utf-8"))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as error:
        raise write_error(path, error) from None
    try:
        size = os.fstat(fd).st_size
        try:
            while data:
                data = data[os.write(fd, data) :]
        except OSError as error:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise write_error(path, error) from None
    finally:
        os.close(fd)


def read_json(path: str | Path, what: str = "file") -> Any:
    """Read a JSON file, or raise InputError naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise InputError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: {what} is a directory, expected a file") from None
    except PermissionError as error:
        raise InputError(f"{path}: cannot read the {what} ({error.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise InputError(f"{path}: {what} is not valid JSON ({error})") from None


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in blocks (a run stores it to notice a changed file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
