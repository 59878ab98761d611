"""Formatting for the command line: one result per line, and tables that stay aligned with Chinese text; where
the results go (stdout, a file written whole, or a Parquet table).

Only the standard library is imported at the top, so ``zhseq --help`` stays fast (wcwidth only when a table is
printed, pyarrow only when a ``.parquet`` file is written).
"""

import gzip
import json
import os
import secrets
import stat
import sys

# Every character that str.splitlines() treats as a line break, plus tab: a text printed in a
# line-oriented format must stay on its own line and in its own tab-separated column.
_FLATTEN = str.maketrans({c: " " for c in "\t\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"})


def one_line(text):
    """``text`` with tabs and line breaks turned into spaces."""
    return text.translate(_FLATTEN)


def score(value):
    """A probability with three decimals, the precision a reader can use."""
    return f"{value:.3f}"


def json_line(obj):
    """One JSON object on one line, Chinese kept readable."""
    return json.dumps(obj, ensure_ascii=False, default=str)


def json_document(obj):
    return json.dumps(obj, ensure_ascii=False, indent=2, default=str)


class LineWriter:
    """Writes result lines to stdout (or ``stream``) and flushes every ``every`` lines.

    The library predicts in batches of ``batch_size``; flushing once per batch makes each batch's
    results visible downstream as soon as they exist, without a system call per line.
    """

    def __init__(self, every, stream=None):
        self.every = max(1, every)
        self.count = 0
        self.stream = stream

    def __call__(self, line):
        stream = sys.stdout if self.stream is None else self.stream  # the stdout of the moment (CliRunner's)
        stream.write(line + "\n")
        self.count += 1
        if self.count % self.every == 0:
            stream.flush()


class Counted:
    """``write`` (a ``LineWriter``, ``FileLines`` or ``ParquetRecords``), with a count of the lines written drawn
    on stderr when it is a terminal (a tqdm bar without a total: texts done, texts/s), removed when the command's
    context ends; nothing elsewhere (a file, a pipe: logs keep only messages)."""

    def __init__(self, write, ctx):
        self.write = write
        from tqdm import tqdm

        self.bar = tqdm(unit=" texts", desc="done", disable=None, file=sys.stderr, leave=False, mininterval=0.5)
        ctx.call_on_close(self.bar.close)

    def __call__(self, line):
        self.write(line)
        self.bar.update(1)

    def __getattr__(self, name):  # close, add, stream, … of the writer
        if name == "write":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.write, name)


class _Replaced:
    """A file written under a temporary name beside ``path`` and renamed to it by ``close(ok=True)``, so that
    ``path`` holds all the results or is left as it was (an error or Ctrl-C halfway removes the temporary
    file). As ``>`` in a shell: a new file gets the umask's permissions and an existing one keeps its own; a
    symbolic link is written through (the file it names is replaced, the link stays); a path that is not a
    regular file (``/dev/null``, ``/dev/stdout``, a named pipe) is written to directly, never replaced."""

    def __init__(self, path):
        self.path = os.fspath(path)
        from zhseq.errors import ZhseqError

        if os.path.isdir(self.path):
            raise ZhseqError(f"cannot write {self.path}: it is a folder")
        try:
            mode = os.stat(self.path).st_mode  # of what a link names
        except OSError:
            mode = None
        self.direct = mode is not None and not stat.S_ISREG(mode)
        if self.direct:
            self.temporary = self.path  # written in place: a device or a pipe cannot be renamed over
            return
        target = os.path.realpath(self.path) if os.path.islink(self.path) else os.path.abspath(self.path)
        folder, name = os.path.split(target)
        if not os.path.isdir(folder):
            raise ZhseqError(f"cannot write {self.path}: no folder {folder}")
        self.target, self.mode = target, mode
        self.temporary = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.partial")
        try:
            os.close(os.open(self.temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except OSError as e:
            raise ZhseqError(f"cannot write {self.path}: {e.strerror or e}") from None

    def finish(self, ok):
        if self.direct:
            return
        if ok:
            if self.mode is not None:  # the existing file's permissions, set once it is written
                os.chmod(self.temporary, stat.S_IMODE(self.mode))
            os.replace(self.temporary, self.target)
        else:
            try:
                os.remove(self.temporary)
            except FileNotFoundError:
                pass


class FileLines(LineWriter):
    """``LineWriter`` into the file ``path`` (UTF-8; gzip-compressed when it ends in ``.gz``, as zhseq reads
    such a name), written whole on ``close(ok=True)`` (``_Replaced``)."""

    def __init__(self, path, every):
        self.file = _Replaced(path)
        if os.fspath(path).lower().endswith(".gz"):
            stream = gzip.open(self.file.temporary, "wt", encoding="utf-8", newline="\n")
        else:
            stream = open(self.file.temporary, "w", encoding="utf-8", newline="\n")
        super().__init__(every, stream)

    def close(self, ok):
        self.stream.close()
        self.file.finish(ok)


def _parquet_types(pa):
    """The pyarrow type of each field a command's JSONL lines can hold."""
    scored = lambda name: pa.list_(pa.struct([("token", pa.string()), (name, pa.float64())]))  # noqa: E731
    return {"text": pa.string(), "label": pa.string(), "score": pa.float64(), "tokens": pa.list_(pa.string()),
            "predictions": scored("score"), "explanation": scored("weight")}


class ParquetRecords:
    """A command's JSONL lines written as rows of the Parquet file ``path``, one column per field: text, label,
    score (sentiment), predictions (predict-next: a list of {token, score}), tokens (segment), explanation (a
    list of {token, weight}); a field of another name gets the type pyarrow infers from its first row group.
    The columns are the first row's fields; ``fields`` are those of a file without rows.
    Rows go to pyarrow's ``ParquetWriter`` ``rows_per_group`` at a time (memory stays flat); the file is
    renamed into place by ``close(ok=True)`` only (``_Replaced``). ZhseqError names the ``parquet`` extra when
    pyarrow is not installed."""

    def __init__(self, path, fields=("text",), rows_per_group=16384):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            from zhseq.errors import ZhseqError

            raise ZhseqError(f"writing {os.fspath(path)} needs pyarrow, which is not installed: "
                             "pip install 'zhseq[parquet]'") from None
        self.pa, self.pq = pa, pq
        self.file = _Replaced(path)
        self.rows_per_group, self.fields = rows_per_group, list(fields)
        self.rows, self.writer, self.schema = [], None, None

    def __call__(self, line):
        """One JSONL line (``json_line``'s) → one row."""
        self.add(json.loads(line))

    def add(self, record):
        self.rows.append(record)
        if len(self.rows) >= self.rows_per_group:
            self._flush()

    def _flush(self):
        pa = self.pa
        if self.schema is None:
            types = _parquet_types(pa)
            fields = list(self.rows[0]) if self.rows else self.fields
            inferred = {} if all(f in types for f in fields) else pa.Table.from_pylist(self.rows).schema
            self.schema = pa.schema([(f, types[f] if f in types else inferred.field(f).type) for f in fields])
            self.writer = self.pq.ParquetWriter(self.file.temporary, self.schema)
        if self.rows:
            self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
        self.rows = []

    def close(self, ok):
        try:
            if ok:
                self._flush()  # also writes the schema of a file without rows
        finally:
            if self.writer is not None:
                self.writer.close()
            self.file.finish(ok)


def display_width(text):
    """Terminal columns ``text`` takes, as wcwidth's ``wcswidth`` counts them (Unicode's East Asian Width and
    emoji tables): a CJK or fullwidth character takes two, a combining mark, a zero-width space or joiner and a
    byte-order mark none, an emoji sequence joined by ZWJ two. A control character, whose width a terminal
    decides, counts none."""
    from wcwidth import wcswidth, wcwidth  # here: only the commands that print tables import it

    width = wcswidth(text)
    return width if width >= 0 else sum(max(0, wcwidth(ch)) for ch in text)


def table(rows, *, right=()):
    """Lines of a plain-text table, columns padded to the same display width (``display_width``: Chinese text
    takes two columns a character); the first row is the header. ``right``: indexes of right-aligned columns.
    A cell's tabs and line breaks become spaces (``one_line``), so that a row stays one line."""
    rows = [[one_line(str(cell)) for cell in row] for row in rows]
    widths = [max(display_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - display_width(cell))
            cells.append(pad + cell if i in right else cell + pad)
        lines.append("  ".join(cells).rstrip())
    return lines


def human_size(n_bytes):
    """``1536`` -> ``"1.5 KiB"``."""
    size, unit = float(n_bytes), "B"
    for bigger in ("KiB", "MiB", "GiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"


def thousands(n):
    return f"{n:,}"


# how `metrics` shows each measured quantity: shares as percentages, counts with separators
_SHARES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "top1": "top-1", "top5": "top-5"}
_COUNTS = {"n": "texts", "n_tokens": "targets"}


def metrics(scores):
    """Measured scores on one line.

    ``{"accuracy": 0.9325, "macro_f1": 0.93248, "n": 1200}`` -> ``"accuracy 93.25 %, macro-F1 93.25 % (1,200 texts)"``
    """
    shown, counts = [], []
    for key, value in scores.items():
        if key in _SHARES and isinstance(value, (int, float)):
            shown.append(f"{_SHARES[key]} {100 * value:.2f} %")
        elif key == "perplexity" and isinstance(value, (int, float)):
            shown.append(f"perplexity {value:.1f}")
        elif key in _COUNTS and isinstance(value, int):
            counts.append(f"{value:,} {_COUNTS[key]}")
        else:
            shown.append(f"{key} {value}")
    return ", ".join(shown) + (f" ({', '.join(counts)})" if counts else "")
