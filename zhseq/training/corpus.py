"""A training run's data: the files read (``zhseq.data``), the dev set given or held out, the labels checked."""

from __future__ import annotations

import logging
import os
import random

from ..data import read_labelled, read_lm_texts
from ..errors import ZhseqError

logger = logging.getLogger(__name__)


def as_list(data) -> list[str]:
    """One file name or several → a list of names."""
    return [str(data)] if isinstance(data, (str, os.PathLike)) else [str(d) for d in data]


def recorded(dev):
    """``dev`` as the recipe records it: None, a file name, or a list of them."""
    return dev if dev is None else str(dev) if isinstance(dev, (str, os.PathLike)) else as_list(dev)


def label_order(labels: list[str]) -> list[str]:
    """The model's labels: those of the training data, sorted; ZhseqError for fewer than two."""
    found = sorted(set(labels))
    if len(found) < 2:
        raise ZhseqError(f"a classifier needs at least two labels; the training data has only {found}")
    return found


def check_known_labels(labels: list[str], known: list[str], where: str) -> None:
    """ZhseqError naming ``where`` if ``labels`` hold one the model does not know."""
    unknown = sorted(set(labels) - set(known))
    if unknown:
        raise ZhseqError(f"{where} has labels the model does not know: {', '.join(unknown)} "
                         f"(model labels: {', '.join(known)})")


def read_task_data(task: str, paths, text_column, label_column, *, encoding=None):
    """File(s) → (texts, labels) for sentiment (a table; ZhseqError without labels), (texts, None) for lm.
    ``encoding``: the files' character encoding (None: UTF-8 or detected, see ``zhseq.data.read_rows``)."""
    if task == "sentiment":
        d = read_labelled(as_list(paths), text_column=text_column, label_column=label_column, require_labels=True,
                          encoding=encoding)
        return d["texts"], d["labels"]
    return read_lm_texts(as_list(paths), text_column=text_column, encoding=encoding), None


def read_parts(task: str, data, dev, text_column, label_column, seed: int, *, encoding=None):
    """→ ((texts, labels), dev (texts, labels) or None): ``dev`` read, or held out of ``data``."""
    texts, labels = read_task_data(task, data, text_column, label_column, encoding=encoding)
    if dev is not None:
        return (texts, labels), read_task_data(task, dev, text_column, label_column, encoding=encoding)
    return holdout(texts, labels, seed)


def holdout(texts, labels, seed: int):
    """No --dev given: keep back 5% (at most 2,000) of the texts as dev, chosen with the seed; fewer than
    10: no dev set."""
    n = len(texts)
    k = min(2000, n // 20)
    if k < 10:
        return (texts, labels), None
    order = list(range(n))
    random.Random(seed).shuffle(order)
    dev, train = sorted(order[:k]), sorted(order[k:])
    pick = lambda xs, idx: None if xs is None else [xs[i] for i in idx]  # noqa: E731
    logger.info("no --dev given: holding out %d of %d training texts as the dev set", k, n)
    return (pick(texts, train), pick(labels, train)), (pick(texts, dev), pick(labels, dev))
