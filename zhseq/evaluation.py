"""``evaluate``: a saved model scored on a labelled table (sentiment) or a text corpus (lm)."""

from __future__ import annotations

import os

from .api import NextWordPredictor, SentimentClassifier
from .checkpoint import read_config
from .errors import ZhseqError
from .training.run import _as_list, _check_labels, _read_task_data
from .training.tasks import LMTask, SentimentTask


def load(model_dir: str | os.PathLike | None):
    """A model folder → a ``SentimentClassifier`` or ``NextWordPredictor``, whichever it holds."""
    if model_dir is None:
        raise ZhseqError("a model folder is needed")
    task = read_config(model_dir).get("task")
    cls = {"sentiment": SentimentClassifier, "lm": NextWordPredictor}.get(task)
    if cls is None:
        raise ZhseqError(f"{model_dir}: unknown task {task!r} in config.json")
    return cls.from_pretrained(model_dir)


def evaluate(
    model_dir: str | os.PathLike,
    data,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    batch_size: int = 256,
) -> dict:
    """Score a saved model on a labelled table (sentiment) or a text corpus (lm)."""
    model = load(model_dir)
    texts, labels = _read_task_data(model.task, data, text_column, label_column)
    tokens = [model.tokenizer.cut(x) for x in texts]
    if model.task == "sentiment":
        _check_labels(labels, model.labels, str(data))
        task = SentimentTask(model.tokenizer, model.vocab, model.labels, model.net.config.max_tokens)
        result = task.evaluate(model.net, task.examples(tokens, labels), batch_size, tokens=tokens)
    else:
        task = LMTask(model.tokenizer, model.vocab, model.net.config.bptt)
        result = task.evaluate(model.net, task.examples(tokens), batch_size)
    return {"task": model.task, "model": str(model.path), "data": _as_list(data), **result}

