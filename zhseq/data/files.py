"""Opening a source and reading its lines: a path (optionally ``.gz``) or standard input, checked for binary
data, decoded (the encoding given, else a byte-order mark's, else UTF-8 when the start of the stream is valid
UTF-8, else detected by charset-normalizer on a sample of the start; byte-order mark dropped; undecodable bytes
replaced with one warning per file on the ``zhseq.data`` logger, a stream that is mostly undecodable refused),
and its format told from the extension. Standard library only, but for charset-normalizer, imported only to
detect the encoding of a stream that is not UTF-8.
"""

from __future__ import annotations

import codecs
import functools
import gzip
import io
import itertools
import logging
import os
import re
import stat
import sys
import threading
import unicodedata
import zlib
from collections.abc import Iterator

from zhseq.errors import ZhseqError

logger = logging.getLogger("zhseq.data")

_SNIFF_BYTES = 8192  # read to check for binary data and UTF-8 (then on to the end of that line)
_SAMPLE_BYTES = 65536  # at most this much (cut at a line end) to detect an encoding on
_MOSTLY_BAD = 0.2  # a stream more undecodable than this (U+FFFD among the non-space characters) is refused

# Byte-order marks, UTF-32 first: its little-endian mark begins with UTF-16's.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_LAST_SAFE_BYTE = re.compile(rb"[\x00-\x2f][^\x00-\x2f]*\Z")
_GB_CODECS = ("gb2312", "gbk", "gb18030")  # each a subset of the next; all read as GB18030
# Without a byte-order mark, UTF-16 and UTF-32 text has NUL bytes (refused as binary), so a stream without them
# that reads as UTF-16 is a chance; UTF-7 is never used for files.
_NEVER_DETECTED = ["utf_16", "utf_16_be", "utf_16_le", "utf_32", "utf_32_be", "utf_32_le", "utf_7"]
_COMMON_ENOUGH = 0.8  # the share of common characters (_common_hanzi) that says "Chinese text"
_NOT_COUNTED = re.compile(r"P|Z|Cc|Cf")  # Unicode categories _common_hanzi leaves out (private use is counted)
_PREFERRED = ("gb18030", "big5", "cp950", "big5hkscs")  # the order among equally good guesses
_SHOWN = {"gb18030": "GB18030", "big5": "Big5", "big5hkscs": "Big5-HKSCS", "utf-16": "UTF-16", "utf-32": "UTF-32",
          "shift_jis": "Shift_JIS", "euc_jp": "EUC-JP", "euc_kr": "EUC-KR", "utf-8": "UTF-8"}


def _format_of(path: str) -> str:
    """``txt``, ``csv``, ``tsv``, ``jsonl`` or ``parquet`` from the extension, looking past a ``.gz`` suffix; a
    folder that holds ``.parquet`` files is ``parquet`` whatever its name (Spark's ``part-*.parquet``)."""
    name = os.path.basename(path).lower()
    if name.endswith(".gz"):
        name = name[:-3]
    ext = os.path.splitext(name)[1]
    if ext != ".parquet" and os.path.isdir(path) and _holds_parquet(path):
        return "parquet"  # a folder of Parquet files as Spark writes it, whatever its name
    return {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".parquet": "parquet"}.get(ext, "txt")


def _holds_parquet(folder: str) -> bool:
    try:
        return any(name.endswith(".parquet") for name in os.listdir(folder))
    except OSError:
        return False


def read_lines(source: str, encoding: str | None = None) -> list[str]:
    """Every line of ``source`` (a path, optionally ``.gz``), without its line end, whatever the extension:
    for files that are lines of their own kind (a jieba user dictionary). Decoded as every file is (the
    ``encoding`` given, else a byte-order mark's, else UTF-8, else detected), but strictly: ZhseqError for an
    undecodable byte, naming the line, instead of a U+FFFD in a line that would then never match."""
    name, lines, close = _open_lines(source, encoding, strict=True)
    try:
        return [_strip_newline(line) for line in lines]
    finally:
        close()


def _open_lines(source: str, encoding: str | None = None, strict: bool = False):
    """Open ``source`` and check it looks like text; returns (display name, decoded lines, close).

    The lines keep their line endings (the csv module needs them for quoted newlines). The encoding:
    ``encoding`` if given (no detection), else a byte-order mark (UTF-8, UTF-16, UTF-32), else UTF-8 when the
    start of the stream is valid UTF-8, else detected (see :func:`_choose`). Undecodable bytes: U+FFFD with
    one warning, or with ``strict`` a ZhseqError naming the line.
    """
    codec = None if encoding is None else _codec(encoding)  # an unknown name fails before anything is opened
    if source == "-":
        name, stream, close = "<stdin>", sys.stdin.buffer, lambda: None
    else:
        name = source = os.fspath(source)
        try:
            stream = gzip.open(source, "rb") if source.lower().endswith(".gz") else open(source, "rb")
        except FileNotFoundError:
            raise ZhseqError(f"no such file: {source}") from None
        except IsADirectoryError:
            raise ZhseqError(f"{source} is a folder without .parquet files; give a file, or a folder of Parquet "
                             "files") from None
        except PermissionError:
            raise ZhseqError(f"cannot read {source}: permission denied") from None
        except OSError as e:
            raise ZhseqError(f"cannot read {source}: {e.strerror or e}") from None
        close = stream.close
    live = source == "-" and _is_live(stream)
    # a live pipe (tail -f log | zhseq sentiment): what has arrived, not 8 KiB, so its first lines are scored now
    read = stream.read1 if live else stream.read
    try:
        head = _guarded(name, read, _SNIFF_BYTES)
        how = "the encoding given"
        if codec is None and (bom := _bom_codec(head)):
            codec, how = bom, "its byte-order mark's"
        # UTF-16 and UTF-32 text has NUL bytes: the check is for the encodings that have none
        if b"\0" in head and not (codec and b"\0" in _encoded_newline(codec)):
            raise ZhseqError(f"{name} looks like a binary file (it has NUL bytes); give a text file "
                             "(UTF-8, or its encoding with --encoding: UTF-16 or UTF-32 text without a "
                             "byte-order mark has NUL bytes too, and reads with --encoding utf-16 or utf-32)")
        # The sniffed bytes go back in front of the stream; readline() completes a line cut at the boundary.
        if not (live and head.endswith(b"\n")):  # a live pipe's whole line waits for nothing more
            head += _guarded(name, stream.readline)
        if codec is None:
            # An ASCII start says nothing about the encoding: read on (up to _SAMPLE_BYTES) to a non-ASCII byte.
            # (not on a live pipe: an ASCII start is read as UTF-8 there, and other bytes later become U+FFFD)
            while (not live and head.isascii() and len(head) < _SAMPLE_BYTES
                   and (line := _guarded(name, stream.readline))):
                head += line
            try:
                head.decode("utf-8")  # the start is valid UTF-8: read as UTF-8, no detection (the fast path)
                codec = "utf-8"
            except UnicodeDecodeError:
                head += _guarded(name, read, max(0, _SAMPLE_BYTES - len(head)))
                head += _guarded(name, stream.readline)
                sample = head if len(head) <= _SAMPLE_BYTES else _cut(head[:_SAMPLE_BYTES])
                codec = _choose(name, sample)
                if codec != "utf-8":
                    logger.warning("%s: not UTF-8; read as %s (detected; --encoding sets it)", name, _shown(codec))
        else:
            if codec in ("utf-16", "utf-32") and how == "the encoding given":  # no byte-order mark in the file
                codec = _byte_order(name, head, codec)
            _check_decodes(name, head, codec, how)
    except BaseException:
        close()
        raise
    byte_lines = _byte_lines(name, head, stream)
    lines = (_decode_lines(name, byte_lines, strict) if codec == "utf-8"
             else _decode_codec_lines(name, codec, byte_lines, strict))
    return name, lines, close


def _is_live(stream) -> bool:
    """Standard input that is a pipe, a terminal or a socket, not a file redirected in (``< file``)."""
    try:
        return not stat.S_ISREG(os.fstat(stream.fileno()).st_mode) and hasattr(stream, "read1")
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):  # no file descriptor (a test's BytesIO)
        return False


# -- encodings: given, byte-order marks, detection


def _codec(encoding: str) -> str:
    """The Python codec for a user's encoding name; GBK and GB2312 are read as their superset GB18030.
    ZhseqError for an unknown name or a codec that is not a text encoding (base64, rot13, …)."""
    try:
        info = codecs.lookup(encoding)
    except (LookupError, TypeError, ValueError):
        raise ZhseqError(f"unknown encoding {encoding!r}; give a codec name such as utf-8, gb18030, big5 or "
                         "utf-16") from None
    if not getattr(info, "_is_text_encoding", True):
        raise ZhseqError(f"{encoding!r} is not a text encoding; give one such as utf-8, gb18030, big5 or utf-16")
    return _canonical(info.name)


def _canonical(codec: str) -> str:
    codec = codecs.lookup(codec).name
    if codec in _GB_CODECS:
        return "gb18030"
    return "utf-8" if codec == "utf-8-sig" else codec


def _bom_codec(head: bytes) -> str | None:
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec
    return None


def _encoded_newline(codec: str) -> bytes:
    try:
        return "\n".encode(codec)
    except (UnicodeError, LookupError):
        return b"\n"


def _cut(sample: bytes) -> bytes:
    """``sample`` up to its last newline byte; in a longer line, up to its last byte below ``0``, which no
    ASCII-compatible encoding has inside a character (GB18030's four-byte ones hold digits)."""
    end = sample.rfind(b"\n")
    if end < 0:
        found = _LAST_SAFE_BYTE.search(sample)
        end = found.start() if found else len(sample) - 1
    return sample[:end + 1]


def _non_space(text: str) -> int:
    return len(text) - sum(map(text.count, " \t\r\n\u3000"))


def _undecodable_share(text: str) -> float:
    """The share of U+FFFD among the characters of ``text`` that are not spaces."""
    n = _non_space(text)
    return text.count("\ufffd") / n if n else 0.0


def _choose(name: str, sample: bytes) -> str:
    """The codec for a stream whose start is not valid UTF-8, from ``sample`` (its start, cut at a line end).

    UTF-8 still, when the sample is UTF-8 with a few bad bytes: the undecodable characters are at most
    ``_MOSTLY_BAD`` of it, and either far fewer than the valid non-ASCII ones (GBK or Big5 read as UTF-8 gives
    more bad than valid ones) or no multi-byte encoding fits better. UTF-8 too when no multi-byte encoding fits
    and the bad bytes are no more than the valid non-ASCII characters: a short text's one bad byte is a large
    share of it (``很好\xff``), and a single-byte code page, which reads any bytes, would turn the valid ones
    into Cyrillic or Urdu. But GB18030 or Big5 when one of them reads the sample strictly as common Chinese
    characters and UTF-8's valid characters are not (GBK ``装系统太麻烦`` is UTF-8 ``װϵͳ̫`` and one bad byte).
    Else the encoding :func:`_detect` finds. ZhseqError when neither fits: nothing detected, or the guess
    leaves the sample mostly undecodable too.
    """
    as_utf8 = sample.decode("utf-8", errors="replace")
    bad = as_utf8.count("\ufffd")
    valid = len(as_utf8) - len(as_utf8.encode("ascii", errors="ignore")) - bad  # non-ASCII characters
    utf8_fits = _undecodable_share(as_utf8) <= _MOSTLY_BAD
    mostly_utf8 = utf8_fits and valid >= 4 * bad
    if mostly_utf8 and (_common_hanzi(as_utf8.replace("\ufffd", "")) or 0.0) >= _COMMON_ENOUGH:
        return "utf-8"
    chinese = _chinese_reading(sample)  # GB18030's or Big5's reading, if one is Chinese text
    if mostly_utf8 and not chinese:
        return "utf-8"
    guess, multi_byte = _detect(sample, chinese)
    utf8_damaged = utf8_fits or valid >= bad  # UTF-8 with bad bytes, unless a multi-byte encoding reads it
    if guess is None or guess == "utf-8" or (utf8_damaged and not multi_byte):
        if utf8_damaged:
            return "utf-8"
        lines = sample.split(b"\n")
        # 1 (the message below) if no single line fails, which the share above makes all but impossible
        first_bad = next((i for i, line in enumerate(lines, 1) if _decoded(line + b"\n", "utf-8") == ""), 1)
        if first_bad > 2 and not sample.isascii():  # more than a header reads as UTF-8: the rest is another encoding
            raise ZhseqError(f"{name} reads as UTF-8 up to line {first_bad}, and not after it: part of the file is "
                             "in another encoding; convert it to one, or give its encoding with --encoding NAME")
        raise ZhseqError(f"{name} is not UTF-8 and its encoding could not be detected; give it with --encoding "
                         "NAME (for example gb18030, big5, utf-16)")
    if utf8_fits and _undecodable_share(_decoded(sample, guess, "replace")) > _MOSTLY_BAD:
        return "utf-8"
    _check_decodes(name, sample, guess, "the encoding detected")
    return guess


def _detect(sample: bytes, chinese: tuple[float, str] | None) -> tuple[str | None, bool]:
    """(codec, whether it is a multi-byte encoding) for ``sample``, or (None, False): what charset-normalizer
    finds (never UTF-16, UTF-32 or UTF-7: ``_NEVER_DETECTED``). Of equally good guesses, the one whose Chinese
    characters are most often common ones wins, then GB18030, then Big5 (a few GBK characters also decode as
    Big5 or Korean, a few Big5 ones as GBK). GB18030 or Big5 instead, when the sample decodes in it to
    common Chinese characters (``_COMMON_ENOUGH`` of ``_common_hanzi``) at least as often as in that guess: it
    finds no multi-byte encoding for Chinese text with English words inside (``Recover和HP_TOOLS``), and
    reads a short text in the wrong one (GBK ``客服态度差`` as Korean, ``差评！`` as Big5, Big5 ``這家餐廳``
    as Japanese). zhseq reads Chinese, so a Korean (EUC-KR) file, whose letters GB18030 reads as common
    characters, is read as GB18030 too; the warning names the encoding and ``--encoding`` overrides it.
    charset-normalizer is imported here only, when a stream is not UTF-8.
    """
    from charset_normalizer import from_bytes
    from charset_normalizer.utils import is_multi_byte_encoding

    codec, multi_byte, common = None, False, None
    matches = list(from_bytes(sample, cp_exclusion=_NEVER_DETECTED))
    if matches:
        best = matches[0]
        tied = [m for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)]
        candidates = [(-(_common_hanzi(str(m)) or 0.0), _preference(_canonical(c)), i, _canonical(c))
                      for i, m in enumerate(tied) for c in m.could_be_from_charset]
        *_, i, codec = min(candidates)
        common = _common_hanzi(str(tied[i]))
        multi_byte = is_multi_byte_encoding(codecs.lookup(codec).name.replace("-", "_"))
    # ``chinese``: _chinese_reading(sample) (no characters counted at all count as none common)
    if chinese and (not multi_byte or codec in ("gb18030", "big5") or chinese[0] > (common or 0.0)
                    or (chinese[0] == common and codec not in _PREFERRED)):
        return chinese[1], True
    return codec, multi_byte


def _chinese_reading(sample: bytes) -> tuple[float, str] | None:
    """(share, codec): GB18030 or Big5, whichever reads ``sample`` strictly with the larger share of common
    Chinese characters (``_common_hanzi``), if that share is ``_COMMON_ENOUGH``; else None. A tie goes to the
    reading whose characters are common in its own encoding's list (Big5 ``鍵盤`` reads in GB18030 as 龄絃,
    simplified and traditional mixed), then to GB18030."""
    def rank(codec: str) -> tuple[float, float, int]:
        text = _decoded(sample, codec)
        return _common_hanzi(text) or 0.0, _common_hanzi(text, only=codec) or 0.0, -_preference(codec)

    (share, _, _), codec = max((rank(c), c) for c in ("gb18030", "big5"))
    return (share, codec) if share >= _COMMON_ENOUGH else None


def _decoded(sample: bytes, codec: str, errors: str = "strict") -> str:
    """``sample`` decoded (a character cut at its end left out); strictly: "" where it does not decode."""
    try:
        return codecs.getincrementaldecoder(codec)(errors).decode(sample, final=False)
    except UnicodeDecodeError:
        return ""


def _preference(codec: str) -> int:
    return _PREFERRED.index(codec) if codec in _PREFERRED else len(_PREFERRED)


def _common_hanzi(text: str, only: str | None = None) -> float | None:
    """The share of the characters of ``text`` beyond ASCII (but for punctuation and spaces outside the CJK
    blocks) that are common Chinese ones: GB2312's level 1 (the 3,755 most used simplified characters),
    Big5's (5,401 traditional ones), or CJK and full-width punctuation (``，``, ``、``, ``１``); None without
    any. Chinese text is nearly all common ones; bytes read in the wrong encoding give a quarter of them,
    with Korean letters, kana, bopomofo or symbols among them. ``only`` ("gb18030" or "big5"): common in that
    encoding's own list only."""
    counted = [c for c in text
               if not c.isascii() and (_cjk_punctuation(c) or not _NOT_COUNTED.match(unicodedata.category(c)))]
    common = sum(_cjk_punctuation(c) or _is_common(c, only) for c in counted)
    return common / len(counted) if counted else None


def _cjk_punctuation(c: str) -> bool:
    return "\u3000" <= c <= "\u303f" or "\uff01" <= c <= "\uff5e"


@functools.lru_cache(maxsize=16384)
def _is_common(c: str, only: str | None = None) -> bool:
    if only != "big5":
        try:
            if 0xB0 <= c.encode("gb2312")[0] <= 0xD7:
                return True
        except UnicodeEncodeError:
            pass
    if only == "gb18030":
        return False
    try:
        return 0xA440 <= int.from_bytes(c.encode("big5"), "big") <= 0xC67E
    except UnicodeEncodeError:
        return False


def _byte_order(name: str, sample: bytes, codec: str) -> str:
    """``--encoding utf-16`` (or utf-32) for a file without a byte-order mark, which Python's codec refuses:
    the byte order under which more of ``sample`` reads as ASCII or common Chinese characters, said in one
    line (Windows writes little-endian, the usual answer)."""
    def readable(order: str) -> int:
        text = _decoded(sample, order, "replace")
        return sum(c.isascii() and (c.isprintable() or c.isspace()) or _is_common(c) for c in text)

    order = max((codec + "-le", codec + "-be"), key=readable)  # a tie: little-endian
    logger.warning("%s: %s without a byte-order mark; read as %s (--encoding %s sets the other order)", name,
                   _shown(codec), _shown(order), codec + ("-be" if order.endswith("-le") else "-le"))
    return order


def _check_decodes(name: str, sample: bytes, codec: str, how: str) -> None:
    """ZhseqError when ``sample`` read as ``codec`` is mostly U+FFFD (more than ``_MOSTLY_BAD``): not text in it."""
    share = _undecodable_share(_decoded(sample, codec, "replace"))
    if share > _MOSTLY_BAD:
        raise ZhseqError(f"{name}: {share:.0%} of the characters at its start cannot be read as {_shown(codec)} "
                         f"({how}); give its encoding with --encoding NAME (for example gb18030, big5, utf-16)")


def _shown(codec: str) -> str:
    """A codec as users know it: GB18030, Big5, UTF-16, …"""
    return _SHOWN.get(codec, codec.upper().replace("_", "-"))


def _guarded(name: str, read, *args):
    try:
        return read(*args)
    except (OSError, EOFError, zlib.error) as e:  # a damaged or truncated .gz, a read error
        raise ZhseqError(f"cannot read {name}: {e}") from None


def _byte_lines(name: str, head: bytes, stream) -> Iterator[bytes]:
    yield from io.BytesIO(head)
    while line := _guarded(name, stream.readline):
        yield line


def _not_decodable(name: str, number: int, codec: str) -> ZhseqError:
    return ZhseqError(f"{name}: line {number} is not valid {_shown(codec)}; save the file as UTF-8, or give its "
                      "encoding with --encoding NAME")


def _decode_lines(name: str, byte_lines: Iterator[bytes], strict: bool = False) -> Iterator[str]:
    """UTF-8 lines, BOM dropped; bad bytes become U+FFFD with one warning naming the first bad line (with
    ``strict``: ZhseqError naming it).

    Decoding line by line is safe: a newline byte never occurs inside a multi-byte UTF-8 sequence.
    """
    warned = False
    for number, raw in enumerate(byte_lines, 1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            if strict:
                raise _not_decodable(name, number, "utf-8") from None
            if not warned:
                logger.warning("%s: line %d is not valid UTF-8; undecodable bytes were replaced with U+FFFD",
                               name, number)
                warned = True
            yield raw.decode("utf-8", errors="replace")


def _decode_codec_lines(name: str, codec: str, byte_lines: Iterator[bytes], strict: bool = False) -> Iterator[str]:
    """Lines decoded incrementally in any codec (UTF-16 splits characters across newline bytes), split at
    ``\\n`` as UTF-8 lines are, a leading U+FEFF dropped; bad bytes become U+FFFD with one warning naming the
    line where the first ones are (with ``strict``: ZhseqError naming it)."""
    decoder = codecs.getincrementaldecoder(codec)(errors=_REPLACE)
    done, pending, warned = 0, "", False
    for raw in itertools.chain(byte_lines, [None]):
        _replaced.count = 0
        text = pending + (decoder.decode(b"", final=True) if raw is None else decoder.decode(raw))
        if _replaced.count and strict:
            raise _not_decodable(name, done + 1, codec)
        if _replaced.count and not warned:
            logger.warning("%s: line %d is not valid %s; undecodable bytes were replaced with U+FFFD",
                           name, done + 1, _shown(codec))
            warned = True
        *lines, pending = text.split("\n")
        lines = [line + "\n" for line in lines]
        if raw is None and pending:
            lines.append(pending)
        for line in lines:
            if done == 0 and line.startswith("\ufeff"):
                line = line[1:]
            done += 1
            yield line


class _Replaced(threading.local):
    count = 0  # bad byte sequences replaced by the last decode() of this thread


def _replace_counted(error: UnicodeDecodeError):
    """The errors handler of _decode_codec_lines: U+FFFD where "replace" puts it, counted."""
    _replaced.count += 1
    return "\ufffd", error.end


_replaced = _Replaced()
_REPLACE = "zhseq.data.replace"
codecs.register_error(_REPLACE, _replace_counted)


def _strip_newline(line: str) -> str:
    if line.endswith("\n"):
        line = line[:-1]
    if line.endswith("\r"):
        line = line[:-1]
    return line
