"""Every way zhseq reads user files: one streaming reader, :func:`read_rows`, for every command.

A local file (or standard input, ``-``) is read one row at a time with the standard library only: prediction
takes the texts as they come (``read_texts``), training and evaluation collect texts and labels
(``read_labelled``, ``read_lm_texts``). The same file gives the same rows everywhere. Only a Hugging Face Hub
dataset name (``user/name``, not a local path) goes through `datasets`.

Formats go by extension, optionally followed by ``.gz``: ``.txt`` (or anything else, and stdin) is one text per
line; ``.csv`` and ``.tsv`` have a header row (``.tsv`` has no quoting, so texts may contain ``"``); ``.jsonl`` is
one JSON object per line. Files are UTF-8, a byte-order mark is dropped, and undecodable bytes become U+FFFD
with one warning per file on the ``zhseq.data`` logger.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import json
import logging
import os
import re
import sys
import zlib
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from zhseq.errors import ZhseqError

logger = logging.getLogger(__name__)

TEXT_COLUMNS = ("text", "text_a", "review", "sentence", "content")
LABEL_COLUMNS = ("label", "labels", "sentiment", "polarity")
LABEL_MODES = ("none", "optional", "required")

_SNIFF_BYTES = 8192
# `user/name` or `name`: what a Hugging Face Hub dataset id looks like (a missing local path with no extension).
_HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
_LONE_CR = re.compile(r"(?<=\r)(?!\n)(?=.)", re.DOTALL)  # the place after a CR not followed by LF


def find_column(columns: Iterable[str], preferred: str | None, candidates: tuple[str, ...]) -> str | None:
    """The column to use: ``preferred`` if given, else the first of ``candidates`` present.

    Exact names win; otherwise the match ignores case and surrounding spaces (headers like ``Text ``).
    Returns the column's actual name, or None when nothing matches.
    """
    columns = list(columns)
    wanted = (preferred,) if preferred is not None else candidates
    for exact in (True, False):
        for name in wanted:
            for column in columns:
                if column == name if exact else column.strip().casefold() == name.strip().casefold():
                    return column
    return None


def batched(iterable: Iterable, n: int) -> Iterator[list]:
    """Lists of ``n`` consecutive items (the last one may be shorter); reads ``iterable`` lazily.

    Raises ValueError when ``n`` is below 1."""
    if n < 1:
        raise ValueError(f"batch size must be at least 1, got {n}")
    iterator = iter(iterable)
    while batch := list(itertools.islice(iterator, n)):
        yield batch


# ---------------------------------------------------------------------------------------------------------
# The reader: standard library only (it must not import datasets, torch or pandas).


class Row(NamedTuple):
    """One row of a source: its text, its label and where it starts."""

    text: str  # "" for a missing cell
    label: str | None  # stripped; "" for a missing cell; None when the source is read without labels
    line: int  # the line of the file where the row starts (1-based); the row number for a Hub dataset


class Rows:
    """The rows of one open source, in order: an iterator of :class:`Row` that closes the file when it ends
    (or on ``close()``, or leaving a ``with`` block). ``columns`` is the header (a ``.jsonl`` file's: the
    keys of its first object; a ``.txt`` file has none); ``text_column`` and ``label_column`` are the columns
    read (None: the whole line, or no labels)."""

    def __init__(self, name: str, rows: Iterator[Row], close, *, columns: Iterable[str] = (),
                 text_column: str | None = None, label_column: str | None = None):
        self.name, self.columns = name, list(columns)
        self.text_column, self.label_column = text_column, label_column
        self._rows, self._close = rows, close

    def __iter__(self) -> Rows:
        return self

    def __next__(self) -> Row:
        try:
            return next(self._rows)
        except BaseException:  # the end (StopIteration) or an error: the file is done with either way
            self.close()
            raise

    def close(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            getattr(self._rows, "close", lambda: None)()
            close()

    def __enter__(self) -> Rows:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_rows(source: str, *, text_column: str | None = None, label_column: str | None = None,
              labels: str = "optional") -> Rows:
    """Open ``source`` (a path, or ``"-"`` for standard input read as ``.txt``) and return its rows, read lazily.

    Rows: ``.txt``, every line, empty ones included (never a label). ``.csv``/``.tsv``, every record after the
    header, read by the header: blank lines are skipped, a missing cell is ``""``, extra fields beyond the
    header are ignored with one warning (naming the first such line and the count) once the file is read.
    ``.jsonl``, every object; a number, ``true``/``false`` or a nested value becomes its JSON text as written,
    ``null`` or a missing key ``""``; its columns are the keys of the first object; a blank line is an empty
    text, skipped when the file's labels are read (as blank lines are in a table).

    ``labels``: ``"none"`` never reads labels; ``"optional"`` reads the label column if there is one;
    ``"required"`` needs one. ``text_column``/``label_column`` name the columns (else found by name, see
    ``TEXT_COLUMNS``/``LABEL_COLUMNS``).

    Raises ZhseqError here for what the start of the file shows: a missing file, a directory, no permission,
    binary data (NUL bytes), a damaged ``.gz``, no text column, no label column when one is required or named,
    labels required from a ``.txt``. Raises ZhseqError while iterating for what comes later: a line that is
    not a JSON object, a quoted CSV field never closed (naming the line it opens on), a damaged ``.gz``.
    Raises ValueError for an unknown ``labels``.
    """
    if labels not in LABEL_MODES:
        raise ValueError(f"labels must be one of {', '.join(LABEL_MODES)}; got {labels!r}")
    name, lines, close = _open_lines(source)
    try:
        fmt = "txt" if source == "-" else _format_of(source)
        if fmt in ("csv", "tsv"):
            return _table_rows(name, lines, close, fmt, text_column, label_column, labels)
        if fmt == "jsonl":
            return _jsonl_rows(name, lines, close, text_column, label_column, labels)
        if labels == "required":
            raise ZhseqError(f"{name} has only texts; labels need a table (.csv, .tsv, .jsonl) with a label column")
        rows = (Row(_strip_newline(line), None, number) for number, line in enumerate(lines, 1))
        return Rows(name, rows, close)
    except BaseException:
        close()
        raise


def read_texts(source: str, *, text_column: str | None = None) -> Iterator[str]:
    """Yield the texts of ``source`` one at a time, in file order; ``"-"`` reads standard input as ``.txt``.

    The texts of :func:`read_rows` (without labels): every line of a ``.txt``, empty ones included; the text
    column of each ``.csv``/``.tsv`` row; the text of each ``.jsonl`` object, a blank line being an empty text.
    Opening problems (missing file, a directory, binary data, a missing text column) raise ZhseqError here;
    problems further into the file raise ZhseqError while iterating.
    """
    rows = read_rows(source, text_column=text_column, labels="none")
    return _texts(rows)


def _texts(rows: Rows) -> Iterator[str]:
    with rows:
        for row in rows:
            yield row.text


def _format_of(path: str) -> str:
    """``txt``, ``csv``, ``tsv`` or ``jsonl`` from the extension, looking past a ``.gz`` suffix."""
    name = os.path.basename(path).lower()
    if name.endswith(".gz"):
        name = name[:-3]
    ext = os.path.splitext(name)[1]
    return {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl"}.get(ext, "txt")


def _open_lines(source: str):
    """Open ``source`` and check it looks like text; returns (display name, decoded lines, close).

    The lines keep their line endings (the csv module needs them for quoted newlines).
    """
    if source == "-":
        name, stream, close = "<stdin>", sys.stdin.buffer, lambda: None
    else:
        name = source = os.fspath(source)
        try:
            stream = gzip.open(source, "rb") if source.lower().endswith(".gz") else open(source, "rb")
        except FileNotFoundError:
            raise ZhseqError(f"no such file: {source}") from None
        except IsADirectoryError:
            raise ZhseqError(f"{source} is a directory; give a file") from None
        except PermissionError:
            raise ZhseqError(f"cannot read {source}: permission denied") from None
        except OSError as e:
            raise ZhseqError(f"cannot read {source}: {e.strerror or e}") from None
        close = stream.close
    try:
        head = _guarded(name, stream.read, _SNIFF_BYTES)
        if b"\0" in head:
            raise ZhseqError(f"{name} looks like a binary file (it has NUL bytes); give UTF-8 text")
        # The sniffed bytes go back in front of the stream; readline() completes a line cut at the boundary.
        head += _guarded(name, stream.readline)
    except BaseException:
        close()
        raise
    return name, _decode_lines(name, _byte_lines(name, head, stream)), close


def _guarded(name: str, read, *args):
    try:
        return read(*args)
    except (OSError, EOFError, zlib.error) as e:  # a damaged or truncated .gz, a read error
        raise ZhseqError(f"cannot read {name}: {e}") from None


def _byte_lines(name: str, head: bytes, stream) -> Iterator[bytes]:
    yield from io.BytesIO(head)
    while line := _guarded(name, stream.readline):
        yield line


def _decode_lines(name: str, byte_lines: Iterator[bytes]) -> Iterator[str]:
    """UTF-8 lines, BOM dropped; bad bytes become U+FFFD with one warning naming the first bad line.

    Decoding line by line is safe: a newline byte never occurs inside a multi-byte UTF-8 sequence.
    """
    warned = False
    for number, raw in enumerate(byte_lines, 1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            if not warned:
                logger.warning("%s: line %d is not valid UTF-8; undecodable bytes were replaced with U+FFFD",
                               name, number)
                warned = True
            yield raw.decode("utf-8", errors="replace")


def _strip_newline(line: str) -> str:
    if line.endswith("\n"):
        line = line[:-1]
    if line.endswith("\r"):
        line = line[:-1]
    return line


# -- .csv / .tsv


def _table_rows(name, lines, close, fmt, text_column, label_column, labels) -> Rows:
    # csv's non-strict reader ends a quoted field open at the end of the file silently (it swallows every
    # line after the quote): `ended` tells _records that a record stopped there, not at the end of a line.
    ended = []

    def source():
        for line in lines:
            if "\r" in line:  # a lone CR ends a line too (old Mac files); csv wants one line at a time
                yield from _LONE_CR.split(line)
            else:
                yield line
        ended.append(True)

    options = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else {}
    reader = csv.reader(source(), **options)
    records = _records(name, reader, ended)
    _, header = next(records, (0, None))
    if header is None:  # an empty file: no columns, no rows
        return Rows(name, iter(()), close)
    text = _require_text_column(name, header, text_column)
    label = _find_label_column(name, header, label_column, labels)
    return Rows(name, _table_records(name, records, header, text, label), close,
                columns=header, text_column=text, label_column=label)


def _table_records(name, records, header, text, label) -> Iterator[Row]:
    width, t = len(header), header.index(text)
    lb = None if label is None else header.index(label)
    extra, first_extra = 0, 0
    for line, fields in records:
        if len(fields) > width:
            extra += 1
            first_extra = first_extra or line
        yield Row(fields[t] if t < len(fields) else "",
                  None if lb is None else fields[lb].strip() if lb < len(fields) else "", line)
    if extra:
        logger.warning("%s, line %d: %d row(s) have more fields than the header (%d columns); read by the "
                       "header, the extra fields ignored", name, first_extra, extra, width)


def _records(name: str, reader, ended: list) -> Iterator[tuple[int, list[str]]]:
    """(starting line, fields) of every non-blank record."""
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            if "field larger than field limit" in str(e):
                raise ZhseqError(f"{name}, line {start}: a field is longer than {csv.field_size_limit():,} "
                                 "characters; is a quote never closed?") from None
            raise ZhseqError(f"{name}, line {reader.line_num}: cannot parse the row: {e}") from None
        if ended:  # the record ended at the end of the file, not of a line: inside an open quote
            last = fields[-1]
            opened = reader.line_num - last.count("\n") + last.endswith("\n")
            raise ZhseqError(f"{name}, line {max(start, opened)}: a quoted field is never closed")
        if fields:  # csv gives [] for a blank line
            yield start, fields


# -- .jsonl


class _JsonNumber(float):
    """A JSON float that remembers how it was written (``1.50`` stays "1.50")."""

    def __new__(cls, written: str):
        number = super().__new__(cls, written)
        number.written = written
        return number


def _jsonl_rows(name, lines, close, text_column, label_column, labels) -> Rows:
    blank, first = 0, None
    for number, line in enumerate(lines, 1):
        if line.strip():
            first = number, _json_object(name, number, line)
            break
        blank += 1
    if first is None:
        columns, text, label = [], None, None
    else:
        columns = list(first[1])
        text = _require_text_column(name, columns, text_column)
        label = _find_label_column(name, columns, label_column, labels)
    return Rows(name, _jsonl_records(name, lines, blank, first, text, label), close,
                columns=columns, text_column=text, label_column=label)


def _jsonl_records(name, lines, blank, first, text, label) -> Iterator[Row]:
    keep_blank = label is None  # a blank line has no label to pair: skipped where labels are read

    def row(number, record):
        return Row(_cell(record.get(text)), None if label is None else _cell(record.get(label)).strip(), number)

    if keep_blank:
        yield from (Row("", None, number) for number in range(1, blank + 1))
    if first is None:
        return
    yield row(*first)
    for number, line in enumerate(lines, first[0] + 1):
        if line.strip():
            yield row(number, _json_object(name, number, line))
        elif keep_blank:
            yield Row("", None, number)


def _json_object(name: str, number: int, line: str) -> dict:
    try:
        record = json.loads(line, parse_float=_JsonNumber, parse_constant=_JsonNumber)
    except json.JSONDecodeError as e:
        raise ZhseqError(f"{name}, line {number}: not valid JSON ({e.msg})") from None
    except ValueError as e:  # an integer too long to convert
        raise ZhseqError(f"{name}, line {number}: not valid JSON ({e})") from None
    if not isinstance(record, dict):
        raise ZhseqError(f"{name}, line {number}: expected a JSON object, got {type(record).__name__}")
    return record


def _cell(value) -> str:
    """A cell as text: None is ""; a number, true/false or a nested value is its JSON text, as written."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _JsonNumber):
        return value.written
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


# -- columns


def _require_text_column(name: str, columns: Iterable[str], text_column: str | None) -> str:
    columns = list(columns)
    column = find_column(columns, text_column, TEXT_COLUMNS)
    if column is None:
        raise ZhseqError(_missing_column(name, columns, "text", text_column, TEXT_COLUMNS, "--text-column"))
    return column


def _find_label_column(name: str, columns: list[str], label_column: str | None, labels: str) -> str | None:
    if labels == "none":
        return None
    column = find_column(columns, label_column, LABEL_COLUMNS)
    if column is None and (labels == "required" or label_column is not None):
        raise ZhseqError(_missing_column(name, columns, "label", label_column, LABEL_COLUMNS, "--label-column"))
    return column


def _missing_column(name, columns, what, preferred, candidates, option) -> str:
    available = ", ".join(map(repr, columns)) or "none"
    if preferred is not None:
        return f"{name} has no column {preferred!r}; columns: {available}"
    return (f"{name} has no {what} column (looked for {', '.join(candidates)}); columns: {available}; "
            f"choose one with {option}")


# ---------------------------------------------------------------------------------------------------------
# Whole corpora for training and evaluation: the same rows, collected.


def read_labelled(paths: list[str] | str, *, text_column: str | None = None, label_column: str | None = None,
                  require_labels: bool) -> dict:
    """Read texts and labels from files (or Hub dataset names), concatenated in order, through :func:`read_rows`.

    Returns ``{"texts": list[str], "labels": list[str] | None}``; labels are None when no file has a label
    column (and ``require_labels`` is false). Labels are stripped strings; when they are all ``0``/``1`` they
    become ``negative``/``positive``. Raises ZhseqError for no paths, everything :func:`read_rows` raises
    for, rows with an empty label, a file with no rows or no non-empty text, labelled and unlabelled files
    mixed, and a Hub name that cannot be loaded.
    """
    mode = "required" if require_labels else "optional"
    texts: list[str] = []
    labels: list[str] = []
    sources_with_labels, sources_without = [], []
    for rows in _sources(paths, text_column, label_column, mode):
        with rows:
            file_rows = list(rows)
        file_texts = [row.text for row in file_rows]
        _check_not_empty(rows.name, file_texts)
        texts += file_texts
        if rows.label_column is None:
            sources_without.append(rows.name)
            continue
        sources_with_labels.append(rows.name)
        empty = [(i, row.line) for i, row in enumerate(file_rows, 1) if not row.label]
        if empty:
            raise ZhseqError(f"{rows.name}: {len(empty)} row(s) have an empty label in column {rows.label_column!r} "
                             f"(first: data row {empty[0][0]}, line {empty[0][1]})")
        labels += [row.label for row in file_rows]
    if sources_with_labels and sources_without:
        raise ZhseqError(f"{sources_without[0]} has no labels but {sources_with_labels[0]} has; "
                         "give only labelled files")
    if not sources_with_labels:
        return {"texts": texts, "labels": None}
    if set(labels) <= {"0", "1"}:
        labels = ["positive" if label == "1" else "negative" for label in labels]
    return {"texts": texts, "labels": labels}


def read_lm_texts(paths: list[str] | str, *, text_column: str | None = None) -> list[str]:
    """Texts for language-model training: the non-empty texts of :func:`read_rows` (the non-empty lines of a
    ``.txt``, one paragraph a line, or the non-empty cells of a table's text column), files in order.

    Raises ZhseqError for no paths, everything :func:`read_rows` raises for, and a file with nothing to
    train on."""
    texts: list[str] = []
    for rows in _sources(paths, text_column, None, "none"):
        with rows:
            file_texts = [row.text for row in rows]
        _check_not_empty(rows.name, file_texts)
        texts += [text for text in file_texts if text.strip()]
    return texts


def _check_not_empty(name: str, texts: list[str]) -> None:
    if not any(text.strip() for text in texts):
        raise ZhseqError(f"{name} is empty: it has no rows with text" if texts else f"{name} is empty: no rows")


def _sources(paths, text_column, label_column, labels) -> Iterator[Rows]:
    """The rows of each path in turn: local files through read_rows, Hub dataset names through `datasets`."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise ZhseqError("no data files given")
    for path in map(os.fspath, paths):
        if path == "-" or os.path.exists(path) or not _looks_like_hub_name(path):
            yield read_rows(path, text_column=text_column, label_column=label_column, labels=labels)
        else:
            yield _hub_rows(path, text_column, label_column, labels)


def _looks_like_hub_name(path: str) -> bool:
    return not os.path.splitext(path)[1] and _HUB_NAME.fullmatch(path) is not None


# -- Hugging Face Hub datasets: the one job `datasets` keeps


def _hub_rows(name: str, text_column, label_column, labels) -> Rows:
    """A Hub dataset's ``train`` split as rows, by the same column rules; class labels become their names."""
    table = _load_hub(name)
    text = _require_text_column(name, table, text_column)
    label = _find_label_column(name, list(table), label_column, labels)
    label_values = table[label] if label is not None else itertools.repeat(None)
    rows = (Row(_cell(t), None if label is None else _cell(lb).strip(), i)
            for i, (t, lb) in enumerate(zip(table[text], label_values), 1))
    return Rows(name, rows, lambda: None, columns=table, text_column=text, label_column=label)


def _load_hub(name: str) -> dict[str, list]:
    """A Hugging Face Hub dataset's ``train`` split, for users with a network: its columns as Python lists."""
    import datasets

    datasets.utils.logging.disable_progress_bar()
    datasets.utils.logging.set_verbosity_error()
    try:
        dataset = datasets.load_dataset(name, split="train")
    except Exception as e:
        raise ZhseqError(f"no such file: {name} (and loading it as a Hugging Face Hub dataset failed: "
                         f"{_root_message(e)})") from e
    table = {}
    for column in dataset.column_names:
        values = dataset.data.column(column).to_pylist()
        feature = dataset.features[column]
        if isinstance(feature, datasets.ClassLabel):  # ints -> names; -1 means "no label"
            values = [feature.int2str(v) if v is not None and v >= 0 else None for v in values]
        table[column] = values
    return table


def _root_message(error: BaseException) -> str:
    """The first line of the innermost cause: `datasets` wraps the useful message in generic ones."""
    seen = {id(error)}
    while (inner := error.__cause__ or error.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        error = inner
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
