"""zhseq.data: every way zhseq reads user files, through one streaming reader, :func:`read_rows`, for every command.

A local file (or standard input, ``-``) is read one row at a time with the standard library only (and
charset-normalizer, imported only to detect the encoding of a file that is not UTF-8): prediction
takes the texts as they come (``read_texts``), training and evaluation collect texts and labels
(``read_labelled``, ``read_lm_texts``). The same file gives the same rows everywhere. Only a Hugging Face Hub
dataset name (``user/name``, not a local path) goes through `datasets`.

Formats go by extension, optionally followed by ``.gz``: ``.txt`` (or anything else, and stdin) is one text per
line; ``.csv`` and ``.tsv`` have a header row (``.tsv`` has no quoting, so texts may contain ``"``); ``.jsonl`` is
one JSON object per line; ``.parquet`` (a file or a folder of them) is read with pyarrow, a batch of rows at a
time, its columns found by the same rules. Files are read in the ``encoding`` given, else a byte-order mark's (UTF-8, UTF-16,
UTF-32; dropped), else UTF-8 when their start is valid UTF-8, else the encoding charset-normalizer detects on
their first 64 KiB (GBK and GB2312 read as GB18030), said in one warning; undecodable bytes become U+FFFD with
one warning per file, and a file that is mostly undecodable is refused. Every module of the package warns on
the ``zhseq.data`` logger.

The modules, one job each:

- :mod:`.rows`: :class:`Row`, :class:`Rows` (the rows of one open source) and :func:`batched`;
- :mod:`.files`: opening a path or stdin, gzip, the binary-data check, the encoding (given, byte-order mark,
  UTF-8 or detected) and decoding, format by extension;
- :mod:`.tables`: ``.csv``/``.tsv``/``.jsonl`` rows, cells as text, and the column rules (:func:`find_column`,
  ``TEXT_COLUMNS``, ``LABEL_COLUMNS``: English names, then Chinese ones);
- :mod:`.parquet`: ``.parquet`` rows (pyarrow, imported only there), cells as text, by the same column rules;
- :mod:`.reader`: :func:`read_rows` and :func:`read_texts`;
- :mod:`.labels`: a file's label names → a model's labels (a label map, one spelling per word, rare labels
  refused unless confirmed, 0/1 → negative/positive);
- :mod:`.corpus`: :func:`read_labelled`, :func:`read_lm_texts` and Hugging Face Hub datasets.

This module only re-exports their public names.
"""

from .. import lazy_attributes

# imported when first used: `zhseq --help` needs only the column names (tables), not the readers
_LAZY = {
    "read_labelled": "zhseq.data.corpus", "read_lm_texts": "zhseq.data.corpus",
    "LABEL_MODES": "zhseq.data.reader", "read_rows": "zhseq.data.reader", "read_texts": "zhseq.data.reader",
    "Row": "zhseq.data.rows", "Rows": "zhseq.data.rows", "batched": "zhseq.data.rows",
    "LABEL_COLUMNS": "zhseq.data.tables", "TEXT_COLUMNS": "zhseq.data.tables", "find_column": "zhseq.data.tables",
}

__all__ = sorted(_LAZY)

__getattr__ = lazy_attributes("zhseq.data", _LAZY, globals())
