"""Formatting for the command line: one result per line, and tables that stay aligned with Chinese text.

Only the standard library is imported here, so ``zhseq --help`` stays fast.
"""

import json
import sys
import unicodedata

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
    """Writes result lines to stdout and flushes every ``every`` lines.

    The library predicts in batches of ``batch_size``; flushing once per batch makes each batch's
    results visible downstream as soon as they exist, without a system call per line.
    """

    def __init__(self, every):
        self.every = max(1, every)
        self.count = 0

    def __call__(self, line):
        sys.stdout.write(line + "\n")
        self.count += 1
        if self.count % self.every == 0:
            sys.stdout.flush()


def display_width(text):
    """Terminal columns ``text`` takes: wide (CJK) characters take two, combining marks none."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
    return width


def table(rows, *, right=()):
    """Lines of a plain-text table; the first row is the header. ``right``: indexes of right-aligned columns."""
    rows = [[str(cell) for cell in row] for row in rows]
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
