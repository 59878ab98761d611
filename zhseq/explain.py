"""Why a sentiment model chose its label: one weight per word of the text.

    text → words (the tokenizer's) → n-gram half: its linear terms, shared out among the words they touch
                                   → network: leave one word out, score again (one batched engine call)
                                   → weight = (1 − w) · network + w · n-grams, w = ``head.ngram_weight``

Both halves are measured on one scale, the **margin** of the explained label ``k`` over the others:

    margin(z) = z_k − mean(z_j for j ≠ k)        (two labels: z_k − z_other)

for logits ``z`` (C,). The margin is linear in the logits, so a linear model's margin splits exactly into
its terms. The explained label is the most likely one of the mixed probabilities (the label a text gets;
with a neutral band, the label that ``neutral`` replaced). A positive weight speaks for that label, a
negative one against it.

- **n-gram half** (``ngram_weights``, exact): its logits are Σ value_b · weight[b] + bias over the hashed
  buckets b of the text (``zhseq.ngrams``). Each bucket's term, in margin, is shared equally among the
  n-grams of the text that fall into it, and each n-gram's share equally among the words it touches (a word
  bigram: its two words; a character trigram across a word boundary: the two or three words its characters
  belong to). The bias is no word's, so the words' weights sum to margin(n-gram logits) − margin(bias).
- **network** (``network_weights``, leave-one-word-out): a word's weight is margin(network logits of the
  words the network reads) − margin(the same words with that word left out), all T + 1 sequences of a text
  scored in one ``engine.sentiment_logits`` call (numpy or torch engine alike). A text longer than
  ``max_tokens`` is read by the network as its first third and last two thirds (``pipeline.truncate``): only
  those words are left out, one at a time, from that window; the words it skips get 0 from the network (the
  n-gram half reads the whole text, so their n-gram share still counts).
- **combined** (``explain``): (1 − w) · network + w · n-grams, the weights with which the model mixes its two
  halves' probabilities; a model without an n-gram half (or w = 0) gives the network's weights alone. This
  is a sum of margins, not a decomposition of the mixed probability: the model averages probabilities, not
  margins, so the weights rank and sign the words, they do not add up to the printed score.

Cost: the network reads T + 1 texts of up to T words for a text of T words (T ≤ ``max_tokens``), that is
about T times the work of labelling it. numpy only; no torch (the engine is whatever the pipeline runs).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from . import ngrams
from .ngrams import ngram_occurrences


def margin(logits: np.ndarray, label: int) -> np.ndarray:
    """(..., C) logits → (...,) float64 margin of column ``label``: z_label − the mean of the other columns
    (two labels: z_label − z_other; one label: z_label)."""
    z = np.asarray(logits, np.float64)
    c = z.shape[-1]
    if c == 1:
        return z[..., 0]
    return z[..., label] - (z.sum(-1) - z[..., label]) / (c - 1)


def network_weights(engine, ids: Sequence[int], label: int) -> np.ndarray:
    """(T,) float64 leave-one-out weights of the ids a network reads: margin(all T ids) − margin(the ids with
    the t-th left out), from one ``engine.sentiment_logits`` call on the T + 1 sequences. Empty ids → (0,)."""
    ids = list(ids)
    if not ids:
        return np.zeros(0)
    seqs = [ids] + [ids[:t] + ids[t + 1:] for t in range(len(ids))]
    m = margin(engine.sentiment_logits(seqs), label)  # (T + 1,)
    return m[0] - m[1:]


def ngram_weights(tokens: Sequence[str], tables, label: int, words: int = ngrams.WORDS,
                  chars: int = ngrams.CHARS) -> np.ndarray:
    """(T,) float64: the n-gram half's margin for ``label`` shared out among the T tokens (module docstring).
    ``tables``: the half's (weight (buckets, C), bias (C,), idf (buckets,)). The weights sum to
    margin(``ngrams.logits``) − margin(bias), to float32 rounding."""
    weight, _, idf = tables
    tokens = list(tokens)
    out = np.zeros(len(tokens))
    bucket, touched = ngram_occurrences(tokens, len(idf), words, chars)
    if not len(bucket):
        return out
    _, b, value = ngrams.features([tokens], idf, words, chars)  # (nnz,) the TF-IDF values, sorted by bucket
    term = value.astype(np.float64) * margin(np.asarray(weight[b], np.float64), label)  # (nnz,) per bucket
    at = np.searchsorted(b, bucket)  # each occurrence's bucket among the text's
    count = np.bincount(at, minlength=len(b))  # occurrences per bucket (ngram_counts' count)
    share = term[at] / count[at]  # (K,) each occurrence's part of its bucket's term
    per_word = share / (touched >= 0).sum(1)  # (K,) shared among the words it touches
    hit = touched >= 0
    np.add.at(out, touched[hit], np.broadcast_to(per_word[:, None], touched.shape)[hit])
    return out


def explain(tokens: Sequence[str], ids: Sequence[int], positions: Sequence[int], label: int, engine, head,
            tables=None) -> list[dict]:
    """One text's explanation: [{"token", "weight"}] for each of its ``tokens``, in order, weights rounded to
    6 decimals (module docstring: (1 − w) · network + w · n-grams, in margin of column ``label``).

    ``ids`` are the ids the network reads and ``positions`` the token index of each (``pipeline.truncate``
    keeps some tokens of a long text); ``head`` the model's ``SentimentConfig``; ``tables`` the n-gram half's
    (weight, bias, idf), or None. An empty text → []."""
    tokens = list(tokens)
    if not tokens:
        return []
    combined = np.zeros(len(tokens))
    w = float(head.ngram_weight) if tables is not None else 0.0
    combined[np.asarray(positions, np.int64)] = (1.0 - w) * network_weights(engine, ids, label)
    if w > 0:
        combined += w * ngram_weights(tokens, tables, label, head.ngram_words, head.ngram_chars)
    return [{"token": t, "weight": round(float(x), 6)} for t, x in zip(tokens, combined)]
