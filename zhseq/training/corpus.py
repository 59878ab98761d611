"""A training run's data: the files read (``zhseq.data``), the dev set given or held out, the labels checked."""

from __future__ import annotations

import logging
import os
import random

from ..data import read_labelled, read_lm_texts
from ..errors import ZhseqError

logger = logging.getLogger(__name__)


def as_list(data) -> list[str]:
    """One file name or several → a list of names. ZhseqError for anything else (None, a number)."""
    if isinstance(data, (str, os.PathLike)):
        return [str(data)]
    if data is None or isinstance(data, (bytes, bytearray)) or not hasattr(data, "__iter__"):
        raise ZhseqError(f"data must be a file name or a list of them, not {type(data).__name__}")
    names = list(data)
    for name in names:
        if not isinstance(name, (str, os.PathLike)):
            raise ZhseqError(f"data must be a file name or a list of them; the list holds {type(name).__name__} "
                             f"{name!r}")
    return [str(d) for d in names]


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
    """ZhseqError naming ``where`` if ``labels`` hold one the model does not know (and ``--label-map``)."""
    unknown = sorted(set(labels) - set(known))
    if unknown:
        raise ZhseqError(f"{where} has labels the model does not know: {', '.join(unknown)} "
                         f"(model labels: {', '.join(known)}; --label-map renames a file's labels)")


def read_task_data(task: str, paths, text_column, label_column, *, encoding=None, label_map=None, prefer_labels=(),
                   allow_rare_labels: bool = True):
    """File(s) → (texts, labels) for sentiment (a table; ZhseqError without labels), (texts, None) for lm.
    ``encoding``: the files' character encoding (None: UTF-8 or detected, see ``zhseq.data.read_rows``);
    ``label_map``, ``prefer_labels``, ``allow_rare_labels``: how labels are read (``zhseq.data.read_labelled``;
    a label map for lm data is a ZhseqError: an lm reads no labels)."""
    if task == "sentiment":
        d = read_labelled(as_list(paths), text_column=text_column, label_column=label_column, require_labels=True,
                          encoding=encoding, label_map=label_map, prefer_labels=prefer_labels,
                          allow_rare_labels=allow_rare_labels)
        return d["texts"], d["labels"]
    if label_map:
        raise ZhseqError("--label-map is for sentiment data: a language model reads no labels")
    return read_lm_texts(as_list(paths), text_column=text_column, encoding=encoding), None


def read_parts(task: str, data, dev, text_column, label_column, seed: int, *, encoding=None, label_map=None,
               known_labels=(), allow_rare_labels: bool = False):
    """→ ((texts, labels), dev (texts, labels) or None): ``dev`` read, or held out of ``data``.

    Sentiment labels: ``label_map`` renames them in both; ``known_labels`` (the model being fine-tuned) give
    the spelling of labels that differ from them only in case or width; the training data's rare labels are
    refused unless ``allow_rare_labels`` (``zhseq.data.labels``); the dev set's are spelled as the training
    data's, and never refused as rare (a dev label the model does not know is refused later)."""
    texts, labels = read_task_data(task, data, text_column, label_column, encoding=encoding, label_map=label_map,
                                   prefer_labels=known_labels, allow_rare_labels=allow_rare_labels)
    if dev is not None:
        prefer = [*known_labels, *sorted(set(labels or ()) - set(known_labels))]
        return (texts, labels), read_task_data(task, dev, text_column, label_column, encoding=encoding,
                                               label_map=label_map, prefer_labels=prefer)
    return holdout(texts, labels, seed)


HOLDOUT_MIN = 200  # fewer training texts than this, and no --dev: nothing is held out


def holdout(texts, labels, seed: int, stage: str | None = None):
    """No --dev given: keep back 5% (at most 2,000) of the texts as dev, chosen with the seed; fewer than
    ``HOLDOUT_MIN`` (200, so that the dev set has 10 texts or more): no dev set, and an INFO line says that
    the last epoch is kept. ``stage``: the INFO lines name it instead of a missing --dev (a stage that
    always holds out its own dev set)."""
    n = len(texts)
    k = min(2000, n // 20)
    if n < HOLDOUT_MIN:
        if stage:
            logger.info("%s: only %d texts, too few to hold out its dev set (that needs %d or more), the last "
                        "epoch is kept", stage, n, HOLDOUT_MIN)
        else:
            logger.info("only %d training texts and no --dev: nothing held out (that needs %d or more), the last "
                        "epoch is kept", n, HOLDOUT_MIN)
        return (texts, labels), None
    order = list(range(n))
    random.Random(seed).shuffle(order)
    dev, train = sorted(order[:k]), sorted(order[k:])
    pick = lambda xs, idx: None if xs is None else [xs[i] for i in idx]  # noqa: E731
    logger.info("%s: holding out %d of %d training texts as the dev set", stage or "no --dev given", k, n)
    return (pick(texts, train), pick(labels, train)), (pick(texts, dev), pick(labels, dev))
