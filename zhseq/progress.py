"""Progress of long work that is not training (``evaluate``), shown as training shows its own: on a terminal a
tqdm bar on stderr; when stderr is not a terminal (a file, a pipe: CI logs, ``2> log.txt``, nohup) no bar but one
INFO line on the caller's logger at most every ``PROGRESS_LINE_EVERY`` seconds
(``scoring: 1200/4900 texts (24 %), 410 texts/s, 00:03 elapsed, 00:09 left``).
"""

from __future__ import annotations

import logging
import sys
import time

# stderr not a terminal: a progress line at most this often (seconds), as pip's non-interactive spinner logs one a
# minute; the training loop's lines too (zhseq.training.loop)
PROGRESS_LINE_EVERY = 30.0
_LINE = "{desc}: {n}/{total} {unit} ({percentage:.0f} %), {rate_noinv_fmt}, {elapsed} elapsed, {remaining} left"


class Progress:
    """``with Progress(total, "texts", "scoring", logger) as p: … p.update(n)``: ``total`` units of work done
    ``n`` at a time; ``enabled=False`` shows nothing. The bar is removed when the work ends (``leave=False``)."""

    def __init__(self, total: int, unit: str, desc: str, logger: logging.Logger, enabled: bool = True):
        from tqdm import tqdm

        self._tqdm, self.total, self.unit, self.desc, self.logger = tqdm, total, unit, desc, logger
        # disable=None: tqdm draws the bar only when stderr is a terminal
        self.bar = tqdm(total=total, unit=f" {unit}", desc=desc, disable=None if enabled else True, file=sys.stderr,
                        dynamic_ncols=True, leave=False)
        self.as_lines = enabled and self.bar.disable
        self.done = 0
        self.started = self.last_line = time.monotonic()

    def update(self, n: int) -> None:
        self.done += n
        self.bar.update(n)
        now = time.monotonic()
        if self.as_lines and now - self.last_line >= PROGRESS_LINE_EVERY and self.done < self.total:
            self.last_line = now
            self.logger.info("%s", self._tqdm.format_meter(
                self.done, self.total, now - self.started, unit=f" {self.unit}", prefix=self.desc,
                bar_format=_LINE.replace("{desc}", self.desc).replace("{unit}", self.unit)))

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()
