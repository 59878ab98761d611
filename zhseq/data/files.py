"""Opening a source and reading its lines: a path (optionally ``.gz``) or standard input, checked for binary
data, decoded as UTF-8 (byte-order mark dropped, undecodable bytes replaced with one warning per file on the
``zhseq.data`` logger), and its format told from the extension. Standard library only.
"""

from __future__ import annotations

import codecs
import gzip
import io
import logging
import os
import sys
import zlib
from collections.abc import Iterator

from zhseq.errors import ZhseqError

logger = logging.getLogger("zhseq.data")

_SNIFF_BYTES = 8192


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
