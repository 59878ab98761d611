"""The one streaming reader, :func:`read_rows`, behind every command, and :func:`read_texts`, the texts it
gives for prediction: it opens the source (:mod:`.files`) and reads it by its format (:mod:`.tables`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from zhseq.errors import ZhseqError

from .files import _format_of, _open_lines, _strip_newline
from .parquet import _parquet_rows
from .rows import Row, Rows
from .tables import _jsonl_rows, _table_rows

logger = logging.getLogger("zhseq.data")

LABEL_MODES = ("none", "optional", "required")


def read_rows(source: str, *, text_column: str | None = None, label_column: str | None = None,
              labels: str = "optional", encoding: str | None = None) -> Rows:
    """Open ``source`` (a path, or ``"-"`` for standard input read as ``.txt``) and return its rows, read lazily.

    Rows: ``.txt``, every line, empty ones included (never a label). ``.csv``/``.tsv``, every record after the
    header, read by the header: blank lines are skipped, a missing cell is ``""``, extra fields beyond the
    header are ignored with one warning (naming the first such line and the count) once the file is read.
    ``.jsonl``, every object; a number, ``true``/``false`` or a nested value becomes its JSON text as written,
    ``null`` or a missing key ``""``; its columns are the keys of the first object; a blank line is an empty
    text, skipped when the file's labels are read (as blank lines are in a table). ``.parquet`` (a file, or a
    folder of them as Spark writes), every row, streamed a batch at a time with pyarrow, cells made text as
    JSONL values are (:mod:`.parquet`); ``encoding`` does not apply (Parquet text is UTF-8); pyarrow missing
    is a ZhseqError naming the ``parquet`` extra.

    ``labels``: ``"none"`` never reads labels; ``"optional"`` reads the label column if there is one;
    ``"required"`` needs one. ``text_column``/``label_column`` name the columns (else found by name, see
    ``TEXT_COLUMNS``/``LABEL_COLUMNS``).

    ``encoding``: the file's character encoding, a Python codec name (``gb18030``, ``big5``, ``utf-16``, …;
    ``gbk`` and ``gb2312`` are read as their superset ``gb18030``); bad bytes become U+FFFD with one warning.
    None (the default): a byte-order mark's (UTF-8, UTF-16, UTF-32), else UTF-8 when the start of the file is
    valid UTF-8 (bad bytes further on become U+FFFD with one warning naming the first bad line, as do a few
    bad bytes in a file that is otherwise UTF-8), else the encoding charset-normalizer detects on the first
    64 KiB (GBK and GB2312 read as GB18030), said in one warning on the ``zhseq.data`` logger.

    Raises ZhseqError here for what the start of the file shows: an unknown ``encoding``, a missing file, a
    directory, no permission, binary data (NUL bytes, unless the encoding is UTF-16 or UTF-32), an encoding
    that cannot be detected, a start that is mostly undecodable in the encoding used (more than 20 % of its
    non-space characters U+FFFD), a damaged ``.gz``, no text column, no label column when one is required or
    named (both missing: one error naming both), labels required from a ``.txt``. Raises ZhseqError while
    iterating for what comes later: a line that is not a JSON object, a quoted CSV field never closed (naming
    the line it opens on), a damaged ``.gz``.
    Raises ValueError for an unknown ``labels``.
    """
    if labels not in LABEL_MODES:
        raise ValueError(f"labels must be one of {', '.join(LABEL_MODES)}; got {labels!r}")
    if source != "-" and _format_of(source) == "parquet":
        return _parquet_rows(source, text_column, label_column, labels)
    name, lines, close = _open_lines(source, encoding)
    try:
        fmt = "txt" if source == "-" else _format_of(source)
        if fmt in ("csv", "tsv"):
            return _table_rows(name, lines, close, fmt, text_column, label_column, labels)
        if fmt == "jsonl":
            return _jsonl_rows(name, lines, close, text_column, label_column, labels)
        if labels == "required":
            raise ZhseqError(f"{name} has only texts; labels need a table (.csv, .tsv, .jsonl) with a label column")
        if text_column is not None:  # a header line would be read as a text: say so
            logger.warning("%s is plain text, one text a line (a table needs the extension .csv, .tsv, .jsonl or "
                           ".parquet): --text-column %s does not apply to it, and a header line is read as a text",
                           name, text_column)
        rows = (Row(_strip_newline(line), None, number) for number, line in enumerate(lines, 1))
        return Rows(name, rows, close)
    except BaseException:
        close()
        raise


def read_texts(source: str, *, text_column: str | None = None, encoding: str | None = None) -> Iterator[str]:
    """Yield the texts of ``source`` one at a time, in file order; ``"-"`` reads standard input as ``.txt``.

    The texts of :func:`read_rows` (without labels): every line of a ``.txt``, empty ones included; the text
    column of each ``.csv``/``.tsv`` row; the text of each ``.jsonl`` object, a blank line being an empty text.
    ``encoding`` as for :func:`read_rows`. Opening problems (an unknown encoding, a missing file, a directory,
    binary data, a file that is not text in its encoding, a missing text column) raise ZhseqError here;
    problems further into the file raise ZhseqError while iterating.
    """
    rows = read_rows(source, text_column=text_column, labels="none", encoding=encoding)
    return _texts(rows)


def _texts(rows: Rows) -> Iterator[str]:
    with rows:
        for row in rows:
            yield row.text

