"""Whole corpora for training and evaluation: :func:`read_labelled` and :func:`read_lm_texts` collect the rows
of each source in turn, local files through :func:`read_rows`, and a Hugging Face Hub dataset name (``user/name``,
not a local path) through `datasets`, imported only then.
"""

from __future__ import annotations

import itertools
import os
import re
from array import array
from bisect import bisect_right
from collections.abc import Iterator, Sequence

from zhseq.errors import ZhseqError

from .files import _MOSTLY_BAD as MOSTLY_BAD
from .files import _format_of
from .labels import label_map as label_map_of
from .labels import tidy_labels
from .reader import read_rows
from .rows import Row, Rows
from .tables import _cell, _find_columns

# `user/name` or `name`: what a Hugging Face Hub dataset id looks like (a missing local path with no extension).
_HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


def read_labelled(paths: list[str] | str, *, text_column: str | None = None, label_column: str | None = None,
                  require_labels: bool, encoding: str | None = None, label_map=None, prefer_labels=(),
                  allow_rare_labels: bool = True) -> dict:
    """Read texts and labels from files (or Hub dataset names), concatenated in order, through :func:`read_rows`.

    Returns ``{"texts": list[str], "labels": list[str] | None}``; labels are None when no file has a label
    column (and ``require_labels`` is false). Labels are stripped, then taken through
    :func:`zhseq.data.labels.tidy_labels` over all files together: ``label_map`` (a dict, or text
    ``好评=positive,差评=negative``) renames them; spellings that differ only in case or width are one label
    (``prefer_labels``, a model's labels, give the spelling; one warning says what was merged); a label held by
    very few rows beside large ones (``zhseq.data.labels.rare_labels``) is kept if ``allow_rare_labels``, else
    refused; when all labels but rare ones are ``0``/``1``, those become ``negative``/``positive``.
    ``encoding``: the files' character encoding, as for :func:`read_rows` (default: UTF-8 or detected, per
    file). Raises ZhseqError for no paths, everything :func:`read_rows` raises for, rows with an empty label, a
    file with no rows or no non-empty text, labelled and unlabelled files mixed, a Hub name that cannot be
    loaded, a malformed ``label_map``, and rare labels without ``allow_rare_labels`` (one line listing them and
    their rows).
    """
    mode = "required" if require_labels else "optional"
    mapping = label_map_of(label_map)  # a malformed map fails before any file is read
    texts: list[str] = []
    labels: list[str] = []
    where = _Places()  # each label's row, for the error about rare labels
    sources_with_labels, sources_without = [], []
    for rows in _sources(paths, text_column, label_column, mode, encoding):
        with rows:
            file_rows = list(rows)
        file_texts = [row.text for row in file_rows]
        _check_not_empty(rows.name, file_texts)
        _check_decoded(rows.name, file_rows)
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
        lines = rows.name == "-" or (os.path.exists(rows.name) and _format_of(rows.name) != "parquet")
        where.add(f"{rows.name} {'line' if lines else 'row'}",
                  [row.line for row in file_rows])
    if sources_with_labels and sources_without:
        raise ZhseqError(f"{sources_without[0]} has no labels but {sources_with_labels[0]} has; "
                         "give only labelled files")
    if not sources_with_labels:
        return {"texts": texts, "labels": None}
    labels = tidy_labels(labels, where, mapping=mapping, prefer=prefer_labels, allow_rare=allow_rare_labels,
                         source=", ".join(sources_with_labels))
    return {"texts": texts, "labels": labels}


class _Places(Sequence):
    """Where each row read is, as ``"train.csv line 8"`` (a Parquet file's or a Hub dataset's: ``row 8``), made
    only when asked for: a number per row is kept, not a string."""

    def __init__(self):
        self._starts: list[int] = []
        self._names: list[str] = []
        self._lines = array("q")

    def add(self, name: str, lines: list[int]) -> None:
        self._starts.append(len(self._lines))
        self._names.append(name)
        self._lines.extend(lines)

    def __len__(self) -> int:
        return len(self._lines)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return f"{self._names[bisect_right(self._starts, i % len(self)) - 1]} {self._lines[i]}"


def read_lm_texts(paths: list[str] | str, *, text_column: str | None = None,
                  encoding: str | None = None) -> list[str]:
    """Texts for language-model training: the non-empty texts of :func:`read_rows` (the non-empty lines of a
    ``.txt``, one paragraph a line, or the non-empty cells of a table's text column), files in order.
    ``encoding``: the files' character encoding, as for :func:`read_rows` (default: UTF-8 or detected).

    Raises ZhseqError for no paths, everything :func:`read_rows` raises for, and a file with nothing to
    train on."""
    texts: list[str] = []
    for rows in _sources(paths, text_column, None, "none", encoding):
        with rows:
            file_rows = list(rows)
        file_texts = [row.text for row in file_rows]
        _check_not_empty(rows.name, file_texts)
        _check_decoded(rows.name, file_rows)
        texts += [text for text in file_texts if text.strip()]
    return texts


def _check_decoded(name: str, rows: list) -> None:
    """ZhseqError when more than ``MOSTLY_BAD`` of a file's texts hold U+FFFD, the mark of bytes that did not
    decode: the file's start read well in the encoding used (``read_rows`` checks that), the rest is in
    another one (half a file UTF-8, half GBK); training or scoring on it would read garbage with only the
    one warning about its first bad line."""
    texts = [row for row in rows if row.text.strip()]
    bad = [row for row in texts if "\ufffd" in row.text]
    if len(bad) >= 5 and len(bad) > MOSTLY_BAD * len(texts):
        raise ZhseqError(f"{name}: {len(bad):,} of its {len(texts):,} texts hold bytes that do not decode (U+FFFD; "
                         f"the first at line {bad[0].line}): part of the file is in another encoding; convert it "
                         "to one, or give its encoding with --encoding NAME")


def _check_not_empty(name: str, texts: list[str]) -> None:
    if not any(text.strip() for text in texts):
        raise ZhseqError(f"{name} is empty: it has no rows with text" if texts else f"{name} is empty: no rows")


def _sources(paths, text_column, label_column, labels, encoding=None) -> Iterator[Rows]:
    """The rows of each path in turn: local files through read_rows, Hub dataset names through `datasets`."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise ZhseqError("no data files given")
    for path in map(os.fspath, paths):
        if path == "-" or os.path.exists(path) or not _looks_like_hub_name(path):
            yield read_rows(path, text_column=text_column, label_column=label_column, labels=labels,
                            encoding=encoding)
        else:
            yield _hub_rows(path, text_column, label_column, labels)


def _looks_like_hub_name(path: str) -> bool:
    """``user/name`` or ``name``, no extension, and not inside a local folder (``runs/data`` where ``runs/``
    exists is a local path mistyped, not a Hub id)."""
    if os.path.splitext(path)[1] or _HUB_NAME.fullmatch(path) is None:
        return False
    owner = path.split("/")[0] if "/" in path else None
    return owner is None or not os.path.isdir(owner)


def _hub_unreachable() -> str | None:
    """Why the Hub cannot be reached (its host has no address, or no connection within 3 s), or None: asked
    before ``datasets`` is, which retries an unreachable Hub with backoff for half a minute. Offline mode
    (``HF_HUB_OFFLINE=1``: datasets reads its cache) asks nothing. The host is ``HF_ENDPOINT``'s (a mirror)."""
    import socket
    from urllib.parse import urlparse

    try:
        from huggingface_hub import constants  # installed with datasets
    except ModuleNotFoundError:
        return None  # then importing datasets says what to install
    if constants.HF_HUB_OFFLINE:
        return None
    url = urlparse(constants.ENDPOINT)
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        socket.create_connection((url.hostname, port), timeout=3).close()
    except OSError as e:
        return f"{url.hostname} cannot be reached: {e.strerror or e}"
    return None


# -- Hugging Face Hub datasets: the one job `datasets` keeps


def _hub_rows(name: str, text_column, label_column, labels) -> Rows:
    """A Hub dataset's ``train`` split as rows, by the same column rules; class labels become their names."""
    table = _load_hub(name)
    text, label = _find_columns(name, list(table), text_column, label_column, labels)
    label_values = table[label] if label is not None else itertools.repeat(None)
    rows = (Row(_cell(t), None if label is None else _cell(lb).strip(), i)
            for i, (t, lb) in enumerate(zip(table[text], label_values), 1))
    return Rows(name, rows, lambda: None, columns=table, text_column=text, label_column=label)


def _load_hub(name: str) -> dict[str, list]:
    """A Hugging Face Hub dataset's ``train`` split, for users with a network: its columns as Python lists."""
    if why := _hub_unreachable():
        raise ZhseqError(f"no such file: {name} (nor could it be loaded as a Hugging Face Hub dataset: {why})")
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
