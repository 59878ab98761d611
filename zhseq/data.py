"""Every way zhseq reads user files.

Two paths, one set of rules:

- prediction streams texts with the standard library only (``read_texts``), so ``zhseq sentiment -i big.txt``
  starts fast and holds one line in memory at a time;
- training and evaluation read whole corpora through Hugging Face ``datasets`` (``read_labelled``,
  ``read_lm_texts``), every column forced to a string.

Formats go by extension, optionally followed by ``.gz``: ``.txt`` (or anything else) is one text per line;
``.csv`` and ``.tsv`` have a header row (``.tsv`` has no quoting, so texts may contain ``"``); ``.jsonl`` is
one JSON object per line. Files are UTF-8, a byte-order mark is dropped, and undecodable bytes become U+FFFD
with one warning per file on the ``zhseq`` logger.
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
import tempfile
import zlib
from collections.abc import Iterable, Iterator

from zhseq.errors import ZhseqError

logger = logging.getLogger(__name__)

TEXT_COLUMNS = ("text", "text_a", "review", "sentence", "content")
LABEL_COLUMNS = ("label", "labels", "sentiment", "polarity")

_SNIFF_BYTES = 8192
# `user/name` or `name`: what a Hugging Face Hub dataset id looks like (a missing local path with no extension).
_HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


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
    """Lists of ``n`` consecutive items (the last one may be shorter); reads ``iterable`` lazily."""
    if n < 1:
        raise ValueError(f"batch size must be at least 1, got {n}")
    iterator = iter(iterable)
    while batch := list(itertools.islice(iterator, n)):
        yield batch


# ---------------------------------------------------------------------------------------------------------
# Streaming, standard library only: read_texts must not import datasets, torch or pandas.


def read_texts(source: str, *, text_column: str | None = None) -> Iterator[str]:
    """Yield the texts of ``source`` one at a time, in file order; ``"-"`` reads standard input as ``.txt``.

    ``.txt``: every line is a text, empty lines included. ``.csv``/``.tsv``: the text column of each row
    (blank lines skipped, as pandas does). ``.jsonl``: the text of each object; a blank line is an empty text.
    A missing cell gives ``""``. Opening problems (missing file, a directory, binary data, a missing text
    column in a table header) raise ZhseqError here; problems further into the file raise while iterating.
    """
    name, lines, close = _open_lines(source)
    try:
        fmt = "txt" if source == "-" else _format_of(source)
        if fmt in ("csv", "tsv"):
            texts = _table_texts(name, lines, fmt, text_column)
        elif fmt == "jsonl":
            texts = _jsonl_texts(name, lines, text_column)
        else:
            texts = (_strip_newline(line) for line in lines)
    except BaseException:
        close()
        raise
    return _closing(texts, close)


def _closing(items: Iterator[str], close) -> Iterator[str]:
    try:
        yield from items
    finally:
        close()


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
        name = source
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


def _csv_reader(lines: Iterable[str], fmt: str):
    if fmt == "tsv":
        return csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    return csv.reader(lines)


def _table_texts(name: str, lines: Iterator[str], fmt: str, text_column: str | None) -> Iterator[str]:
    reader = _csv_reader(lines, fmt)
    header = _next_row(name, reader)
    if header is None:  # an empty file: nothing to predict
        return iter(())
    index = header.index(_require_text_column(name, header, text_column))

    def rows() -> Iterator[str]:
        while (row := _next_row(name, reader)) is not None:
            if row:  # csv gives [] for a blank line
                yield row[index] if index < len(row) else ""

    return rows()


def _next_row(name: str, reader) -> list[str] | None:
    try:
        return next(reader, None)
    except csv.Error as e:
        raise ZhseqError(f"{name}, line {reader.line_num}: cannot parse the row: {e}") from None


def _jsonl_texts(name: str, lines: Iterator[str], text_column: str | None) -> Iterator[str]:
    column = None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            yield ""
            continue
        record = _json_object(name, number, line)
        if column is None:
            column = _require_text_column(name, record.keys(), text_column)
        yield _cell(record.get(column))


def _json_object(name: str, number: int, line: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise ZhseqError(f"{name}, line {number}: not valid JSON ({e.msg})") from None
    if not isinstance(record, dict):
        raise ZhseqError(f"{name}, line {number}: expected a JSON object, got {type(record).__name__}")
    return record


def _cell(value) -> str:
    """A table cell as text: None is "", numbers and nested values are written as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _require_text_column(name: str, columns: Iterable[str], text_column: str | None) -> str:
    columns = list(columns)
    column = find_column(columns, text_column, TEXT_COLUMNS)
    if column is None:
        raise ZhseqError(_missing_column(name, columns, "text", text_column, TEXT_COLUMNS, "--text-column"))
    return column


def _missing_column(name, columns, what, preferred, candidates, option) -> str:
    available = ", ".join(map(repr, columns)) or "none"
    if preferred is not None:
        return f"{name} has no column {preferred!r}; columns: {available}"
    return (f"{name} has no {what} column (looked for {', '.join(candidates)}); columns: {available}; "
            f"choose one with {option}")


# ---------------------------------------------------------------------------------------------------------
# Whole corpora for training and evaluation, through Hugging Face `datasets`.


def read_labelled(paths: list[str] | str, *, text_column: str | None = None, label_column: str | None = None,
                  require_labels: bool) -> dict:
    """Read texts and labels from files (or Hub dataset names), concatenated in order.

    Returns ``{"texts": list[str], "labels": list[str] | None}``; labels are None when no file has a label
    column (and ``require_labels`` is false). Labels are stripped strings; when they are all ``0``/``1`` they
    become ``negative``/``positive``. Raises ZhseqError for a missing file, a missing text or label column,
    rows with an empty label, and a file with no non-empty text.
    """
    texts: list[str] = []
    labels: list[str] = []
    sources_with_labels, sources_without = [], []
    for name, table in _tables(paths):
        file_texts = _text_values(name, table, text_column)
        file_labels = _label_values(name, table, label_column, require_labels)
        texts += file_texts
        if file_labels is None:
            sources_without.append(name)
        else:
            sources_with_labels.append(name)
            labels += file_labels
    if sources_with_labels and sources_without:
        raise ZhseqError(f"{sources_without[0]} has no labels but {sources_with_labels[0]} has; "
                         "give only labelled files")
    if not sources_with_labels:
        return {"texts": texts, "labels": None}
    if set(labels) <= {"0", "1"}:
        labels = ["positive" if label == "1" else "negative" for label in labels]
    return {"texts": texts, "labels": labels}


def read_lm_texts(paths: list[str] | str, *, text_column: str | None = None) -> list[str]:
    """Texts for language-model training: the non-empty lines of ``.txt`` files (one paragraph a line) or the
    non-empty cells of a table's text column. Raises ZhseqError for a file with nothing to train on."""
    texts: list[str] = []
    for name, table in _tables(paths):
        texts += [text for text in _text_values(name, table, text_column) if text.strip()]
    return texts


class _Table:
    """The columns of one loaded source as Python lists of str (or None for a missing cell)."""

    def __init__(self, columns: dict[str, list], has_header: bool):
        self.columns = columns
        self.has_header = has_header  # False for .txt: one "text" column and never labels


def _tables(paths: list[str] | str) -> Iterator[tuple[str, _Table]]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise ZhseqError("no data files given")
    for path in map(str, paths):
        if os.path.exists(path) or not _looks_like_hub_name(path):
            yield path, _load_file(path)
        else:
            yield path, _load_hub(path)


def _looks_like_hub_name(path: str) -> bool:
    return not os.path.splitext(path)[1] and _HUB_NAME.fullmatch(path) is not None


def _text_values(name: str, table: _Table, text_column: str | None) -> list[str]:
    if table.has_header:
        values = table.columns[_require_text_column(name, table.columns, text_column)]
    else:
        values = table.columns["text"]
    texts = [_cell(value) for value in values]
    if not any(text.strip() for text in texts):
        raise ZhseqError(f"{name} is empty: it has no rows with text" if texts else f"{name} is empty: no rows")
    return texts


def _label_values(name: str, table: _Table, label_column: str | None, require_labels: bool) -> list[str] | None:
    if not table.has_header:
        if require_labels:
            raise ZhseqError(f"{name} has only texts; labels need a table (.csv, .tsv, .jsonl) with a label column")
        return None
    column = find_column(table.columns, label_column, LABEL_COLUMNS)
    if column is None:
        if require_labels or label_column is not None:
            raise ZhseqError(_missing_column(name, list(table.columns), "label", label_column, LABEL_COLUMNS,
                                             "--label-column"))
        return None
    labels = [_cell(value).strip() for value in table.columns[column]]
    empty = [row for row, label in enumerate(labels, 1) if not label]
    if empty:
        raise ZhseqError(f"{name}: {len(empty)} row(s) have an empty label in column {column!r} "
                         f"(first: data row {empty[0]}, header not counted)")
    return labels


def _load_file(path: str) -> _Table:
    """Load one local file through `datasets`, every column as a string."""
    fmt = _format_of(path)
    columns = _scan(path, fmt)
    import datasets

    _quiet_datasets()
    string = datasets.Value("string")
    options = {"data_files": [path], "split": "train",
               # "utf-8-sig" (not "utf-8") also makes the json reader re-decode with errors="replace"
               "encoding": "utf-8-sig", "encoding_errors": "replace"}
    if fmt == "txt":
        builder = "text"
    elif fmt == "jsonl":
        builder = "json"
        options["features"] = datasets.Features({c: string for c in columns})
    else:
        builder = "csv"
        options.update(delimiter="\t" if fmt == "tsv" else ",", column_names=columns, header=0,
                       keep_default_na=False, na_filter=False, features=datasets.Features({c: string for c in columns}))
        if fmt == "tsv":
            options["quoting"] = csv.QUOTE_NONE
    # Local files are read in full into lists, so the Arrow cache is only a by-product: keep it out of ~/.cache.
    with tempfile.TemporaryDirectory(prefix="zhseq-datasets-", ignore_cleanup_errors=True) as cache:
        try:
            dataset = datasets.load_dataset(builder, cache_dir=cache, **options)
        except Exception as e:
            raise ZhseqError(f"cannot read {path}: {_root_message(e)}") from e
        table = {c: dataset.data.column(c).to_pylist() for c in dataset.column_names}
    return _Table(table, has_header=fmt != "txt")


def _scan(path: str, fmt: str) -> list[str]:
    """Check ``path`` with the standard library before `datasets` sees it; returns its column names.

    One pass over the file: it raises the friendly errors (missing, binary, not JSON), warns once about bad
    UTF-8, and finds the columns: the header of a table, or every key used in a ``.jsonl`` file (the json
    reader needs them all to read each as a string).
    """
    name, lines, close = _open_lines(path)
    try:
        if fmt == "txt":
            columns = ["text"]
            empty = next(lines, None) is None
        elif fmt == "jsonl":
            keys: dict[str, None] = {}  # insertion-ordered set
            for number, line in enumerate(lines, 1):
                if line.strip():
                    keys.update(dict.fromkeys(_json_object(name, number, line)))
            columns, empty = list(keys), not keys
        else:
            header = _next_row(name, _csv_reader(lines, fmt))
            columns = _unique_names(header or [])
            empty = header is None or not any(line.strip() for line in lines)  # no rows after the header
        for _ in lines:  # finish the pass so bad UTF-8 anywhere is reported
            pass
    finally:
        close()
    if empty:
        raise ZhseqError(f"{name} is empty: no rows")
    return columns


def _unique_names(header: list[str]) -> list[str]:
    """Header names usable as dataset columns: blanks named ``column_N``, repeats suffixed ``.1``, ``.2``."""
    names: list[str] = []
    for i, raw in enumerate(header, 1):
        name = raw.strip() or f"column_{i}"
        base, k = name, 0
        while name in names:
            k += 1
            name = f"{base}.{k}"
        names.append(name)
    return names


def _load_hub(name: str) -> _Table:
    """A Hugging Face Hub dataset's ``train`` split, for users with a network; class labels become names."""
    import datasets

    _quiet_datasets()
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
    return _Table(table, has_header=True)


def _quiet_datasets() -> None:
    import datasets

    datasets.utils.logging.disable_progress_bar()
    datasets.utils.logging.set_verbosity_error()


def _root_message(error: BaseException) -> str:
    """The first line of the innermost cause: `datasets` wraps the useful message in generic ones."""
    seen = {id(error)}
    while (inner := error.__cause__ or error.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        error = inner
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
