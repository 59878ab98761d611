"""The rows a source is read into: :class:`Row` (one text, its label, its line) and :class:`Rows` (the rows
of one open source, closing it when done), plus :func:`batched` to take any stream a few items at a time.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import NamedTuple


def batched(iterable: Iterable, n: int) -> Iterator[list]:
    """Lists of ``n`` consecutive items (the last one may be shorter); reads ``iterable`` lazily.

    Raises ValueError when ``n`` is below 1."""
    if n < 1:
        raise ValueError(f"batch size must be at least 1, got {n}")
    iterator = iter(iterable)
    while batch := list(itertools.islice(iterator, n)):
        yield batch


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
