"""Labelled texts: reading TSV/CSV files with a label column and a text column, stratified splits.

A file is read with :func:`read_labeled`. Columns are chosen by 0-based index or by header name;
when neither is given, a header with recognisable names (``label``/``class``/... and
``text``/``sentence``/...) picks them, and a header-less two-column file is ``label, text`` (as
SST-2 and the SMS Spam Collection are). TSV fields are split on tabs with no quoting (quotes are
ordinary characters in TSV); CSV follows the usual quoting rules.

Every problem is an :class:`~rnnkit.errors.InputError` naming the file and line: a row with the
wrong number of fields, an empty text or label, a label column with a single class, a label the
model does not know.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from rnnkit.data.text import normalise_newlines
from rnnkit.errors import InputError

LABEL_NAMES = ("label", "labels", "class", "category", "sentiment", "target", "y", "v1")
TEXT_NAMES = ("text", "sentence", "review", "message", "sms", "content", "document", "body", "v2")
HEADER_CHOICES = ("auto", "yes", "no")
DELIMITERS = {"tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
_INTEGER = re.compile(r"[+-]?\d+")


@dataclass
class LabeledTexts:
    """Parallel lists: ``texts[i]`` has label ``labels[i]`` and sits on line ``lines[i]``."""

    texts: list[str]
    labels: list[str]
    lines: list[int]  # 1-based line number in ``source`` where the row starts
    source: str

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> LabeledTexts:
        """The rows at ``indices``, in that order."""
        return LabeledTexts(
            [self.texts[i] for i in indices],
            [self.labels[i] for i in indices],
            [self.lines[i] for i in indices],
            self.source,
        )

    def where(self, index: int) -> str:
        """``file:line`` of row ``index``, for error messages."""
        return f"{self.source}:{self.lines[index]}"


def _column(spec: str | int | None) -> str | int | None:
    """``"2"`` -> 2 (an index); ``"text"`` -> ``"text"`` (a name); None stays None."""
    if spec is None or isinstance(spec, int):
        return spec
    spec = str(spec).strip()
    return int(spec) if spec.isdigit() else spec


def _header_choice(header: str | bool) -> str:
    if isinstance(header, bool):
        return "yes" if header else "no"
    choice = {"true": "yes", "false": "no"}.get(str(header).lower(), str(header).lower())
    if choice not in HEADER_CHOICES:
        raise InputError(f"--header must be one of {', '.join(HEADER_CHOICES)}, got {header!r}")
    return choice


def _delimiter(path: Path, text: str, delimiter: str) -> str:
    """``auto``: comma for .csv, tab for .tsv, else a tab if the first line has one, else comma."""
    if delimiter != "auto":
        if delimiter in DELIMITERS:
            return DELIMITERS[delimiter]
        if delimiter in ("\\t", "\t"):
            return "\t"
        if len(delimiter) != 1:
            choices = ", ".join(["auto", *DELIMITERS])
            raise InputError(
                f"--delimiter must be one of {choices} or a single character, got {delimiter!r}"
            )
        return delimiter
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return ","
    if suffix == ".tsv":
        return "\t"
    first = text.split("\n", 1)[0]
    return "\t" if "\t" in first else ","


def _rows(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) of every row that is not blank."""
    if delimiter == "\t":  # TSV: no quoting, one row per line (\n, \r\n or a lone \r)
        for number, line in enumerate(normalise_newlines(text).split("\n"), start=1):
            if line.strip():
                yield number, line.split("\t")
        return
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = 1
    try:
        for fields in reader:
            if any(field.strip() for field in fields):
                yield start, fields
            start = reader.line_num + 1
    except csv.Error as error:
        raise InputError(f"{start}: malformed CSV row ({error})") from None


def _resolve(
    spec: str | int | None, header: list[str] | None, width: int, flag: str, where: str
) -> int | None:
    """The index of a column given by index or name (None stays None)."""
    if spec is None:
        return None
    if isinstance(spec, int):
        if spec >= width:
            raise InputError(
                f"{where}: {flag} {spec} is out of range: rows have {width} fields "
                f"(indices 0..{width - 1})"
            )
        return spec
    if header is None:
        raise InputError(
            f"{where}: {flag} {spec!r} is a column name but the file has no header row; "
            "give a 0-based column index or --header yes"
        )
    names = [name.strip() for name in header]
    if spec in names:
        return names.index(spec)
    lowered = [name.lower() for name in names]
    if spec.lower() in lowered:
        return lowered.index(spec.lower())
    raise InputError(
        f"{where}: no column named {spec!r} in the header (columns: {', '.join(names)})"
    )


def _guess(header: list[str] | None, width: int) -> tuple[int | None, int | None]:
    """Label and text columns from header names, or ``label, text`` for two columns."""
    if header is not None:
        lowered = [name.strip().lower() for name in header]
        label = next((i for i, name in enumerate(lowered) if name in LABEL_NAMES), None)
        text = next((i for i, name in enumerate(lowered) if name in TEXT_NAMES), None)
        return label, text
    return (0, 1) if width == 2 else (None, None)


def read_labeled(
    path: str | Path,
    text_column: str | int | None = None,
    label_column: str | int | None = None,
    header: str | bool = "auto",
    delimiter: str = "auto",
) -> LabeledTexts:
    """Read a TSV/CSV file of labelled texts.

    Args:
        path: the file (UTF-8).
        text_column, label_column: 0-based index (``2`` or ``"2"``) or header name; None guesses.
        header: ``yes``, ``no`` or ``auto`` (a header if a column is named, or if the first row
            names both a label and a text column, e.g. ``label,text``).
        delimiter: ``auto`` (by extension, else by the first line), ``tab``, ``comma``, ... or
            one character.

    Raises:
        InputError: unreadable file, no rows, ambiguous or missing columns, a row with the wrong
            number of fields, an empty label or text; each message names the file and line.
    """
    from rnnkit.data.text import read_text

    path = Path(path)
    content = read_text(path)
    text_spec, label_spec = _column(text_column), _column(label_column)
    separator = _delimiter(path, content, delimiter)
    rows = _rows(content, separator)
    try:
        first_line, first = next(rows)
    except StopIteration:
        raise InputError(f"{path}: has no rows (only blank lines)") from None
    except InputError as error:
        raise InputError(f"{path}:{error}") from None
    width = len(first)
    choice = _header_choice(header)
    if choice == "auto":
        named = isinstance(text_spec, str) or isinstance(label_spec, str)
        lowered = {cell.strip().lower() for cell in first}
        guessed = bool(lowered & set(LABEL_NAMES)) and bool(lowered & set(TEXT_NAMES))
        choice = "yes" if named or guessed else "no"
    header_row = first if choice == "yes" else None
    where = f"{path}:{first_line}"
    label_index = _resolve(label_spec, header_row, width, "--label-column", where)
    text_index = _resolve(text_spec, header_row, width, "--text-column", where)
    if label_index is None or text_index is None:
        guessed_label, guessed_text = _guess(header_row, width)
        if width == 2 and (label_index is None) != (text_index is None):
            label_index = 1 - text_index if label_index is None else label_index
            text_index = 1 - label_index if text_index is None else text_index
        label_index = guessed_label if label_index is None else label_index
        text_index = guessed_text if text_index is None else text_index
    if label_index is None or text_index is None:
        raise InputError(
            f"{where}: cannot tell which of the {width} columns hold the label and the text; "
            "give --label-column and --text-column (0-based index or header name)"
        )
    if label_index == text_index:
        raise InputError(f"{where}: the label and text columns are the same column ({text_index})")

    data = LabeledTexts([], [], [], str(path))
    body = rows if header_row is not None else _chain(first_line, first, rows)
    try:
        for number, fields in body:
            if len(fields) != width:
                raise InputError(
                    f"{path}:{number}: malformed row: expected {width} "
                    f"{_name(separator)}-separated fields (as on line {first_line}), "
                    f"found {len(fields)}"
                )
            label, text = fields[label_index].strip(), fields[text_index].strip()
            if not label:
                raise InputError(f"{path}:{number}: empty label (column {label_index})")
            if not text:
                raise InputError(f"{path}:{number}: empty text (column {text_index})")
            data.texts.append(text)
            data.labels.append(label)
            data.lines.append(number)
    except InputError as error:
        message = str(error)
        raise InputError(
            message if message.startswith(str(path)) else f"{path}:{message}"
        ) from None
    if not data.texts:
        raise InputError(f"{path}: has a header but no rows")
    return data


def _chain(line: int, fields: list[str], rest: Iterator[tuple[int, list[str]]]):
    yield line, fields
    yield from rest


def _name(separator: str) -> str:
    names = {value: key for key, value in DELIMITERS.items()}
    return names.get(separator, repr(separator))


def sort_classes(labels: Sequence[str]) -> list[str]:
    """The distinct labels, in numeric order if all are integers, else alphabetical."""
    distinct = set(labels)
    if all(_INTEGER.fullmatch(label) for label in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


def classes_of(data: LabeledTexts) -> list[str]:
    """The classes of a training set; raises InputError if there is only one."""
    classes = sort_classes(data.labels)
    if len(classes) < 2:
        raise InputError(
            f"{data.source}: the label column has only one class ({classes[0]!r}) in "
            f"{len(data)} rows; a classifier needs at least two"
        )
    return classes


def encode_labels(data: LabeledTexts, classes: Sequence[str]) -> list[int]:
    """Class ids of ``data.labels``; a label outside ``classes`` raises InputError at its line."""
    index = {name: i for i, name in enumerate(classes)}
    ids = []
    for row, label in enumerate(data.labels):
        if label not in index:
            raise InputError(
                f"{data.where(row)}: unknown label {label!r}; the model knows "
                f"{', '.join(repr(c) for c in classes)}"
            )
        ids.append(index[label])
    return ids


def stratified_split(
    labels: Sequence[str], fractions: Sequence[float], seed: int = 0
) -> list[list[int]]:
    """Row indices ``[rest, part_1, part_2, ...]``: each part takes ``fractions[k]`` of every
    class (rounded, at least one row when the class has three or more), ``rest`` the remainder.

    The same labels, fractions and seed always give the same split; each list is in file order.
    """
    if any(f <= 0 for f in fractions) or sum(fractions) >= 1:
        raise InputError(
            f"split fractions must be positive and sum to less than 1, got {list(fractions)}"
        )
    parts: list[list[int]] = [[] for _ in range(len(fractions) + 1)]
    generator = torch.Generator().manual_seed(seed)
    for name in sort_classes(labels):
        members = [i for i, label in enumerate(labels) if label == name]
        order = torch.randperm(len(members), generator=generator).tolist()
        start = 0
        for k, fraction in enumerate(fractions, start=1):
            count = round(len(members) * fraction)
            if count == 0 and len(members) > len(fractions):
                count = 1
            parts[k].extend(members[j] for j in order[start : start + count])
            start += count
        parts[0].extend(members[j] for j in order[start:])
    return [sorted(part) for part in parts]
