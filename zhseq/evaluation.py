"""``evaluate``: a saved model scored on a labelled table (sentiment) or a text corpus (lm)."""

from __future__ import annotations

import logging
import os

from .config import FitConfig, PredictConfig, check_prediction, default_of
from .data import batched
from .data.labels import label_map as parse_label_map
from .errors import ZhseqError
from .pipeline import load
from .progress import Progress
from .training.corpus import as_list, check_known_labels, read_task_data
from .training.tasks import LMTask, sentiment_metrics

logger = logging.getLogger(__name__)


def evaluate(
    model_dir: str | os.PathLike,
    data,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    encoding: str | None = None,
    label_map=None,
    batch_size: int = default_of(PredictConfig, "batch_size"),
    device: str = default_of(FitConfig, "device"),
    progress: bool = True,
) -> dict:
    """Score a saved model on a labelled table (sentiment: accuracy, macro-F1, per-label scores and the
    confusion matrix of the labels the prediction pipeline gives, so exactly what ``zhseq sentiment``
    prints; a text without content gets no label, counts as an error and in ``no_label``) or a text corpus (lm: perplexity, top-1 and top-5 over the next words, with the torch model).
    ``encoding``: the data's character encoding (default: UTF-8, else detected; see ``zhseq.data.read_rows``).
    ``label_map`` (``{"好评": "positive"}``, or ``"好评=positive,差评=negative"``): rename the data's labels
    as they are read, before anything else (not given: the map the model was trained with, if any, said in
    one line); labels that differ from the model's only in case or width take its spelling (one warning says
    so). ``device`` (as ``FitConfig.device``; ``auto``: a CUDA GPU when torch sees one,
    else the CPU): where the model runs; on the CPU a sentiment model is scored by the numpy engine, exactly as
    ``zhseq sentiment`` labels, on a GPU by the torch engine there (the same up to float rounding).
    ``progress``: a bar on stderr when it is a terminal, else an INFO line on this module's logger every 30 s
    (``zhseq.progress``); off: nothing. Raises
    ZhseqError for unreadable data (an unknown ``encoding`` too), a malformed ``label_map`` or one given for an
    lm, labels the model does not know (mapped ones too), and a device the machine does not have."""
    if model_dir is None:
        raise ZhseqError("a model folder is needed")
    check_prediction(batch_size=batch_size)
    label_map = parse_label_map(label_map)  # a malformed map fails before the model loads
    from .modeling import resolve_device

    target = resolve_device(device)  # so does a GPU the machine lacks
    model = load(model_dir, engine="auto" if target.type == "cpu" else "torch")
    if target.type != "cpu":
        model.net.to(target)
    recorded = (model.config.get("training") or {}).get("label_map")
    if label_map is None and isinstance(recorded, dict) and model.task == "sentiment":
        label_map = recorded  # the map the model was trained with (train/finetune --label-map)
        logger.info("labels mapped as in the model's training: %s (--label-map replaces it)",
                    ", ".join(f"{k}={v}" for k, v in recorded.items()))
    texts, labels = read_task_data(model.task, data, text_column, label_column, encoding=encoding,
                                   label_map=label_map, prefer_labels=model.labels if model.task == "sentiment" else ())
    if model.task == "sentiment":
        check_known_labels(labels, model.labels, ", ".join(as_list(data)))
        index = {label: i for i, label in enumerate(model.labels)}
        predicted = []  # argmax: the first label on a tie, as the CLI; -1: no label (a text without content)
        with Progress(len(texts), "texts", "scoring", logger, progress) as shown:
            for chunk in batched(texts, max(batch_size, 4096)):
                probs, content = model.predict_proba(chunk, content=True, batch_size=batch_size)
                predicted += [int(p.argmax()) if c else -1 for p, c in zip(probs, content)]
                shown.update(len(chunk))
        result = sentiment_metrics([index[y] for y in labels], predicted, model.labels)
        result["no_label"] = predicted.count(-1)  # counted as errors
        if len(model.labels) == 2 and len(labels) >= 20 and result["accuracy"] < 0.25:
            a, b = model.labels
            swapped = {k: {a: b, b: a}.get(v, v) for k, v in (label_map or {}).items()}
            if swapped and all(k == v for k, v in swapped.items()):  # the map swaps the labels already
                swap = "leave --label-map out"
            elif swapped:  # the map given (or recorded), each of its targets swapped
                swap = "--label-map " + ",".join(f"{k}={v}" for k, v in swapped.items())
            else:
                swap = f"--label-map {a}={b},{b}={a}"
                if sorted(model.labels) == ["negative", "positive"]:  # 0/1 are read as negative/positive
                    swap += " (labels 0/1: --label-map 0=positive,1=negative)"
            logger.warning("accuracy %.1f %% is far below chance for two labels: are %s's labels the other way "
                           "round? To swap them: %s", 100 * result["accuracy"], ", ".join(as_list(data)), swap)
    else:
        tokens = []
        with Progress(len(texts), "texts", "tokenising", logger, progress) as shown:
            for chunk in batched(texts, 1000):
                tokens += map(model.tokenizer.cut, chunk)
                shown.update(len(chunk))
        task = LMTask(model.tokenizer, model.vocab, model.head.bptt)
        examples = task.examples(tokens)
        with Progress(len(examples), "windows", "scoring", logger, progress) as shown:  # of bptt words each
            result = task.evaluate(model.net, examples, batch_size, progress=shown.update)
    return {"task": model.task, "model": str(model.path), "data": as_list(data), **result}
