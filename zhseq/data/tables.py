"""Rows from tables: ``.csv``/``.tsv`` records read by their header and ``.jsonl`` objects read by the keys of
the first, each cell made text; and the column rules shared by every table (:func:`find_column`, the text and
label columns looked for, the errors naming what a file has). Standard library only.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Iterable, Iterator

from zhseq.errors import ZhseqError

from .rows import Row, Rows

logger = logging.getLogger("zhseq.data")

# The columns looked for, in this order: the English names, then the Chinese names of spreadsheet exports.
TEXT_COLUMNS = ("text", "text_a", "review", "sentence", "content", "评论", "评论内容", "内容", "文本", "句子",
                "评价内容", "评价", "正文", "微博", "微博内容", "留言", "回复", "标题")
LABEL_COLUMNS = ("label", "labels", "sentiment", "polarity", "标签", "情感", "情感标签", "情感倾向", "情感极性",
                 "极性", "倾向", "情绪", "类别", "分类")

_SURROGATE = re.compile("[\ud800-\udfff]")  # a JSON \u escape may name half a pair: no character
_LONE_CR = re.compile(r"(?<=\r)(?!\n)(?=.)", re.DOTALL)  # the place after a CR not followed by LF


def find_column(columns: Iterable[str], preferred: str | None, candidates: tuple[str, ...]) -> str | None:
    """The column to use: ``preferred`` if given, else the first of ``candidates`` present.

    Exact names win; otherwise the match ignores case, surrounding spaces (headers like ``Text ``) and the
    traditional forms of the Chinese names looked for (``評論`` is ``评论``). Returns the column's actual
    name, or None when nothing matches.
    """
    columns = list(columns)
    wanted = (preferred,) if preferred is not None else candidates
    for exact in (True, False):
        for name in wanted:
            for column in columns:
                if column == name if exact else _folded(column) == _folded(name):
                    return column
    return None


# The traditional characters of the Chinese column names, to their simplified forms (headers only).
_SIMPLIFIED = str.maketrans("評論內價覆復標題籤簽傾極緒類別", "评论内价复复标题签签倾极绪类别")


def _folded(name: str) -> str:
    return name.strip().casefold().translate(_SIMPLIFIED)


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
    text, label = _find_columns(name, header, text_column, label_column, labels)
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
        text, label = _find_columns(name, columns, text_column, label_column, labels)
    return Rows(name, _jsonl_records(name, lines, blank, first, text, label), close,
                columns=columns, text_column=text, label_column=label)


def _jsonl_records(name, lines, blank, first, text, label) -> Iterator[Row]:
    keep_blank = label is None  # a blank line has no label to pair: skipped where labels are read
    warned = []

    def whole(number, value: str) -> str:
        """``value`` with each lone surrogate (``"\\ud800"`` is valid JSON, but no character: nothing can
        print or save it) replaced with U+FFFD, as undecodable bytes are, with one warning per file."""
        if not _SURROGATE.search(value):
            return value
        if not warned:
            logger.warning("%s, line %d: a \\u escape names a lone surrogate, not a character; replaced with "
                           "U+FFFD", name, number)
            warned.append(number)
        return _SURROGATE.sub("\ufffd", value)

    def row(number, record):
        return Row(whole(number, _cell(record.get(text))),
                   None if label is None else whole(number, _cell(record.get(label))).strip(), number)

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


def _find_columns(name: str, columns: list[str], text_column: str | None, label_column: str | None,
                  labels: str) -> tuple[str, str | None]:
    """(text column, label column or None) by the column rules; one ZhseqError naming every column missing:
    the text column, and the label column when ``labels`` is "required" or ``label_column`` is named."""
    columns = list(columns)
    text = find_column(columns, text_column, TEXT_COLUMNS)
    label = None if labels == "none" else find_column(columns, label_column, LABEL_COLUMNS)
    missing = []  # (what, the name given, the names looked for, the option)
    if text is None:
        missing.append(("text", text_column, TEXT_COLUMNS, "--text-column"))
    if label is None and labels != "none" and (labels == "required" or label_column is not None):
        missing.append(("label", label_column, LABEL_COLUMNS, "--label-column"))
    if missing:
        raise ZhseqError(_missing_columns(name, columns, missing))
    return text, label


def _missing_columns(name, columns, missing) -> str:
    available = ", ".join(map(repr, columns)) or "none"
    said = " and ".join(f"no column {given!r}" if given is not None
                        else f"no {what} column (looked for {', '.join(candidates)})"
                        for what, given, candidates, _ in missing)
    options = [option for _, given, _, option in missing if given is None]
    choose = f"; choose {'one' if len(options) == 1 else 'them'} with {' and '.join(options)}" if options else ""
    return f"{name} has {said}; columns: {available}{choose}"
