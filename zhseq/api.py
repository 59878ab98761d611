"""The Python API's models, for code that imports them from here: ``SentimentClassifier`` and
``NextWordPredictor`` are the prediction pipelines of ``zhseq.pipeline`` (torch-free until ``.net`` is
used). ``pad_batch`` and ``ngram_logits`` are the torch helpers training uses.

    clf = SentimentClassifier.from_pretrained("out/")   # a model folder or a training output folder
    clf("这家餐厅的菜很好吃")                              # {"label": "positive", "score": 0.97}
    lm = NextWordPredictor.from_pretrained("lm/")
    lm.predict_next("今天天气", k=5)                      # [{"token": "很", "score": 0.11}, ...]
"""

from __future__ import annotations

from . import ngrams
from .pipeline import NextWordPredictor, SentimentClassifier, truncate
from .torch_engine import pad_batch

__all__ = ["SentimentClassifier", "NextWordPredictor", "pad_batch", "ngram_logits", "truncate"]


def ngram_logits(net, tokens: list[list[str]]):
    """(N, C) numpy logits of a ``SentimentNet``'s n-gram half for token lists."""
    c = net.config
    weight, bias, idf = net.ngrams.numpy()
    return ngrams.logits(tokens, weight, bias, idf, c.ngram_words, c.ngram_chars)
