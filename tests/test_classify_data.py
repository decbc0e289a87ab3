"""Reading labelled TSV/CSV files and splitting them by class."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from rnnkit.data.labeled import (
    classes_of,
    encode_labels,
    read_labeled,
    sort_classes,
    stratified_split,
)
from rnnkit.errors import InputError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_headerless_tsv_is_label_then_text(tmp_path):
    path = write(tmp_path, "d.tsv", '1\tgood "film"\n0\tbad film\n')
    data = read_labeled(path)
    assert data.labels == ["1", "0"]
    assert data.texts == ['good "film"', "bad film"]
    assert data.lines == [1, 2]


def test_csv_header_names_pick_the_columns(tmp_path):
    path = write(tmp_path, "d.csv", 'id,text,label\n7,"hello, world",pos\n8,bye,neg\n')
    data = read_labeled(path)
    assert data.texts == ["hello, world", "bye"]
    assert data.labels == ["pos", "neg"]
    assert data.lines == [2, 3]


def test_columns_by_name_and_by_index_agree(tmp_path):
    path = write(tmp_path, "d.csv", "id,review,stars\n1,nice,5\n2,awful,1\n")
    by_name = read_labeled(path, text_column="review", label_column="stars")
    by_index = read_labeled(path, text_column="1", label_column=2, header="yes")
    assert by_name == by_index
    assert by_name.labels == ["5", "1"]


def test_blank_lines_are_skipped_and_line_numbers_kept(tmp_path):
    path = write(tmp_path, "d.tsv", "a\tx\n\nb\ty\n")
    assert read_labeled(path).lines == [1, 3]


def test_file_without_extension_is_sniffed_as_tsv(tmp_path):
    path = write(tmp_path, "SMS", "ham\tok, see you\nspam\tWIN now")
    data = read_labeled(path)
    assert data.labels == ["ham", "spam"]
    assert data.texts == ["ok, see you", "WIN now"]


def test_malformed_row_names_file_and_line(tmp_path):
    path = write(tmp_path, "d.tsv", "1\tgood\n0\tbad\textra\n")
    with pytest.raises(InputError, match=r"d\.tsv:2: malformed row: expected 2 tab-separated"):
        read_labeled(path)


def test_empty_text_names_file_and_line(tmp_path):
    path = write(tmp_path, "d.tsv", "1\tgood\n0\t  \n")
    with pytest.raises(InputError, match=r"d\.tsv:2: empty text"):
        read_labeled(path)


def test_empty_label_names_file_and_line(tmp_path):
    path = write(tmp_path, "d.csv", "label,text\n1,good\n,bad\n")
    with pytest.raises(InputError, match=r"d\.csv:3: empty label"):
        read_labeled(path)


def test_unknown_column_name_lists_the_columns(tmp_path):
    path = write(tmp_path, "d.csv", "label,text\n1,good\n")
    with pytest.raises(InputError, match=r"no column named 'body'.*columns: label, text"):
        read_labeled(path, text_column="body")


def test_column_name_without_header_is_refused(tmp_path):
    path = write(tmp_path, "d.tsv", "1\tgood\n")
    with pytest.raises(InputError, match="no header row"):
        read_labeled(path, text_column="text", header="no")


def test_ambiguous_columns_ask_for_options(tmp_path):
    path = write(tmp_path, "d.tsv", "1\tgood\tx\n")
    with pytest.raises(InputError, match="--label-column and --text-column"):
        read_labeled(path)


def test_file_with_no_rows_is_an_input_error(tmp_path):
    path = write(tmp_path, "d.tsv", "\n\n")
    with pytest.raises(InputError, match="no rows"):
        read_labeled(path)


def test_one_class_is_refused_naming_the_file(tmp_path):
    path = write(tmp_path, "d.tsv", "pos\tgood\npos\tgreat\n")
    with pytest.raises(InputError, match=r"d\.tsv: the label column has only one class \('pos'\)"):
        classes_of(read_labeled(path))


def test_integer_classes_sort_numerically():
    assert sort_classes(["10", "2", "1"]) == ["1", "2", "10"]
    assert sort_classes(["spam", "ham"]) == ["ham", "spam"]


def test_unknown_label_names_file_and_line(tmp_path):
    path = write(tmp_path, "d.tsv", "pos\tgood\nmeh\tso so\n")
    with pytest.raises(InputError, match=r"d\.tsv:2: unknown label 'meh'"):
        encode_labels(read_labeled(path), ["neg", "pos"])


def test_stratified_split_keeps_class_proportions_and_is_repeatable():
    labels = ["a"] * 80 + ["b"] * 20
    train, valid, test = stratified_split(labels, (0.1, 0.1), seed=3)
    assert sorted(train + valid + test) == list(range(100))
    assert Counter(labels[i] for i in valid) == {"a": 8, "b": 2}
    assert Counter(labels[i] for i in test) == {"a": 8, "b": 2}
    assert stratified_split(labels, (0.1, 0.1), seed=3) == [train, valid, test]
    assert stratified_split(labels, (0.1, 0.1), seed=4) != [train, valid, test]


@pytest.mark.skipif(
    not os.environ.get("RNNKIT_DATA")
    or not Path(os.environ["RNNKIT_DATA"], "sms_spam/SMSSpamCollection").is_file(),
    reason="needs $RNNKIT_DATA/sms_spam",
)
def test_sms_spam_reads_all_5574_messages():
    data = read_labeled(Path(os.environ["RNNKIT_DATA"], "sms_spam/SMSSpamCollection"))
    assert Counter(data.labels) == {"ham": 4827, "spam": 747}


@pytest.mark.skipif(
    not os.environ.get("RNNKIT_DATA")
    or not Path(os.environ["RNNKIT_DATA"], "sst2/test.tsv").is_file(),
    reason="needs $RNNKIT_DATA/sst2",
)
def test_sst2_has_the_published_sentence_split():
    sizes = {}
    for part in ("train", "dev", "test"):
        data = read_labeled(Path(os.environ["RNNKIT_DATA"], "sst2", f"{part}.tsv"))
        assert sort_classes(data.labels) == ["0", "1"]
        sizes[part] = len(data)
    assert sizes == {"train": 6920, "dev": 872, "test": 1821}
