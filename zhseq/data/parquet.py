"""Rows from Parquet: a ``.parquet`` file, or a folder of them (what Spark and pyarrow write as a dataset),
streamed a batch of rows at a time with pyarrow, the text and label columns found by the same rules as a
CSV/TSV/JSONL header's (:func:`.tables.find_column`). pyarrow is imported here only, when a Parquet source is
read (``pip install 'zhseq[parquet]'``).
"""

from __future__ import annotations

import datetime
import json
import math
import os
from collections.abc import Iterator

from zhseq.errors import ZhseqError

from .rows import Row, Rows
from .tables import _find_columns

_BATCH_ROWS = 4096  # rows decoded at a time: pyarrow reads one row group's two columns at most, never the file


def _pyarrow_parquet(what: str):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ZhseqError(f"{what} needs pyarrow, which is not installed: pip install 'zhseq[parquet]'") from None
    return pq


def _parquet_rows(source: str, text_column: str | None, label_column: str | None, labels: str) -> Rows:
    """The rows of the Parquet file (or folder of Parquet files, read in the order of their names) ``source``.

    Columns are the file's top-level fields (the first file's, for a folder); the text and label columns are
    found as in a table (:func:`.tables._find_columns`, same errors). A cell becomes text as a JSONL value does:
    null (and NaN) ``""``, a string as it is, ``true``/``false``, a number as written (a whole float, pandas'
    ``1.0`` in an integer column with missing values, as ``1``), a date or time in ISO form, a list or struct as
    JSON, bytes decoded as UTF-8 (bad bytes as U+FFFD). ``Row.line`` is the row number (1-based) over all files.
    Raises ZhseqError for a missing path, a file that is not Parquet, a folder without Parquet files, a
    missing column, and a file that cannot be read further on (while iterating)."""
    name = os.fspath(source)
    if not os.path.exists(name):  # said first: without pyarrow too
        raise ZhseqError(f"no such file: {name}")
    pq = _pyarrow_parquet(f"reading {name}")
    files = _files(name)
    try:
        first = pq.ParquetFile(files[0])
    except (OSError, ValueError) as e:  # pyarrow.ArrowInvalid is a ValueError, ArrowIOError an OSError
        raise ZhseqError(f"{files[0]} is not a readable Parquet file ({_reason(e)})") from None
    columns = list(first.schema_arrow.names)
    text, label = _find_columns(name, columns, text_column, label_column, labels)
    wanted = [text] if label is None else list(dict.fromkeys([text, label]))
    return Rows(name, _records(pq, files, first, wanted, text, label), first.close,
                columns=columns, text_column=text, label_column=label)


def _files(name: str) -> list[str]:
    if os.path.isdir(name):
        import pyarrow.dataset as ds

        try:  # pyarrow's discovery: Parquet files at any depth, names starting with '.' or '_' (_SUCCESS) skipped
            files = sorted(ds.dataset(name, format="parquet").files)
        except (OSError, ValueError) as e:
            raise ZhseqError(f"cannot read the Parquet folder {name} ({_reason(e)})") from None
        if not files:
            raise ZhseqError(f"{name} is a folder without Parquet files")
        return files
    if not os.path.exists(name):
        raise ZhseqError(f"no such file: {name}")
    if not os.access(name, os.R_OK):
        raise ZhseqError(f"cannot read {name}: permission denied")
    return [name]


def _records(pq, files, first, wanted, text, label) -> Iterator[Row]:
    number = 0
    for path in files:
        try:
            handle = first if path == files[0] else pq.ParquetFile(path)
        except (OSError, ValueError) as e:
            raise ZhseqError(f"{path} is not a readable Parquet file ({_reason(e)})") from None
        with handle:
            missing = [c for c in wanted if c not in handle.schema_arrow.names]
            if missing:
                raise ZhseqError(f"{path} has no column {missing[0]!r}, which the first file of the folder has")
            batches = handle.iter_batches(batch_size=_BATCH_ROWS, columns=wanted)
            while True:
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                except (OSError, ValueError) as e:
                    raise ZhseqError(f"{path}, after row {number}: cannot read on ({_reason(e)})") from None
                texts = map(_cell, batch.column(text).to_pylist())
                if label is None:
                    for number, t in enumerate(texts, number + 1):
                        yield Row(t, None, number)
                else:
                    for number, (t, y) in enumerate(zip(texts, batch.column(label).to_pylist()), number + 1):
                        yield Row(t, _cell(y).strip(), number)


def _cell(value) -> str:
    """A Parquet value as text (see :func:`_parquet_rows`)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)  # int, Decimal, timedelta


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
