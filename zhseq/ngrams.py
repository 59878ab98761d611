"""Hashed word and character n-grams, TF-IDF weighted: the linear half of a sentiment model.

    tokens (one list per text) → ngram_counts → (doc, bucket, count) → tfidf(idf) → values
        → logits (N, C) = Σ value · weight[bucket] + bias → mixed with the recurrent model's probabilities

A sentiment model may carry, beside its recurrent network, a linear model over n-grams (trained after the
network, with L2-regularised logistic regression: ``zhseq.training``). Its probabilities are averaged with
the network's, ``(1 − w) · p_rnn + w · p_ngrams``, with ``w`` (``ngram_weight``) chosen on the dev set.

Features: word 1..``words``-grams of the tokens and character 1..``chars``-grams of the text as the
tokenizer leaves it (its words joined). Each feature is hashed (a polynomial hash of its Unicode code points,
finished with splitmix64; stable across processes and platforms) into ``buckets`` rows: word n-grams in the
first half, character n-grams in the second. A value is sublinear tf (1 + ln count) times the bucket's idf
(ln((1 + n) / (1 + df)) + 1, zero for buckets seen in fewer than 2 training texts), and each half is scaled
to unit length on its own: scikit-learn's ``TfidfVectorizer(sublinear_tf=True, min_df=2)`` for words and
for characters, joined as a ``FeatureUnion`` would, except that features share their hashed rows.

numpy only: the same code serves training (where torch fits the weights) and prediction without torch.
"""

from __future__ import annotations

from itertools import chain
from typing import Sequence

import numpy as np

BUCKETS = 2**19  # default table size: 2^18 rows for word n-grams, 2^18 for character n-grams
WORDS, CHARS = 2, 3  # default orders: words 1-2, characters 1-3
MIN_DF = 2

_U = np.uint64
_MASK = (1 << 64) - 1
_P = _U(0x100000001B3)  # polynomial base over code points (the FNV prime)
_Q = _U(0x9E3779B97F4A7C15)  # polynomial base over word hashes (odd)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (arithmetic wraps modulo 2^64), in place."""
    x ^= x >> _U(30)
    x *= _U(0xBF58476D1CE4E5B9)
    x ^= x >> _U(27)
    x *= _U(0x94D049BB133111EB)
    x ^= x >> _U(31)
    return x


def _seed(kind: int, order: int) -> np.uint64:
    return _U((kind * 0xD6E8FEB86659FD93 + order * 0xA0761D6478BD642F) & _MASK)


def _powers(base: np.uint64, n: int) -> np.ndarray:
    """(n,) base^0 … base^(n-1) modulo 2^64."""
    out = np.ones(max(n, 1), dtype=np.uint64)
    if n > 1:
        out[1:] = base
        np.multiply.accumulate(out, out=out)
    return out[:n]


def _grams(h: np.ndarray, owner: np.ndarray, order: int, base: np.uint64) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the runs of ``order`` consecutive items of the same owner: (hashes, owners)."""
    n = len(h) - order + 1
    if n <= 0:
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    g = h[:n].copy()
    p = _U(1)
    for k in range(1, order):
        p = _U((int(p) * int(base)) & _MASK)
        g += h[k : k + n] * p
    same = owner[:n] == owner[order - 1 :]
    return g[same], owner[:n][same]


def ngram_counts(docs: list[list[str]], buckets: int = BUCKETS, words: int = WORDS, chars: int = CHARS):
    """Token lists → (doc, bucket, count) int64 arrays, sorted by doc then bucket: how often each text holds
    features hashed to each bucket."""
    half = buckets // 2
    if half < 1:
        raise ValueError("an n-gram table needs at least 2 buckets")
    flat = list(chain.from_iterable(docs))
    lens = np.fromiter(map(len, flat), dtype=np.int64, count=len(flat))
    tok_doc = np.repeat(np.arange(len(docs), dtype=np.int64), [len(d) for d in docs])
    keep = lens > 0
    lens, tok_doc = lens[keep], tok_doc[keep]
    cps = np.frombuffer("".join(flat).encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.uint64)
    char_doc = np.repeat(tok_doc, lens)  # (characters,) the text each character belongs to
    feats, owners = [], []
    if len(lens):
        starts = np.cumsum(lens) - lens
        pos = np.arange(len(cps), dtype=np.int64) - np.repeat(starts, lens)  # place within its word
        word_h = np.add.reduceat(cps * _powers(_P, int(lens.max()))[pos], starts)  # (words,) one hash each
        for order in range(1, words + 1):
            g, o = _grams(word_h, tok_doc, order, _Q)
            feats.append(_mix(g ^ _seed(1, order)) % _U(half))
            owners.append(o)
        for order in range(1, chars + 1):
            g, o = _grams(cps, char_doc, order, _P)
            feats.append(_mix(g ^ _seed(2, order)) % _U(half) + _U(half))
            owners.append(o)
    if not feats:
        empty = np.empty(0, np.int64)
        return empty, empty, empty
    small = len(docs) * buckets < 2**31  # int32 keys sort about twice as fast
    key_type = np.int32 if small else np.int64
    keys = np.concatenate(owners).astype(key_type) * key_type(buckets) + np.concatenate(feats).astype(key_type)
    keys, counts = np.unique(keys, return_counts=True)
    keys = keys.astype(np.int64)
    return keys // buckets, keys % buckets, counts.astype(np.int64)


def ngram_occurrences(tokens: Sequence[str], buckets: int, words: int, chars: int):
    """Every n-gram of one text, as ``ngram_counts`` hashes them (for ``zhseq.explain``), one row per occurrence:
    (bucket (K,) int64, touched (K, n) int64 token indexes, padded with −1), n = max(words, chars).
    ``touched`` lists the distinct tokens (indexes into ``tokens``) the occurrence's characters belong to."""
    half = buckets // 2
    where = np.array([i for i, t in enumerate(tokens) if t], np.int64)  # empty tokens hold no n-gram
    width = max(words, chars, 1)
    if not len(where):
        return np.empty(0, np.int64), np.empty((0, width), np.int64)
    kept = [tokens[i] for i in where]
    lens = np.fromiter(map(len, kept), np.int64, len(kept))
    cps = np.frombuffer("".join(kept).encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.uint64)
    starts = np.cumsum(lens) - lens
    pos = np.arange(len(cps), dtype=np.int64) - np.repeat(starts, lens)
    word_h = np.add.reduceat(cps * _powers(_P, int(lens.max()))[pos], starts)
    char_word = np.repeat(np.arange(len(kept), dtype=np.int64), lens)  # (characters,) its word's place
    found, touched = [], []
    for kind, order_max, h, base, owner in ((1, words, word_h, _Q, None), (2, chars, cps, _P, char_word)):
        for order in range(1, order_max + 1):
            g, _ = _grams(h, np.zeros(len(h), np.int64), order, base)  # one owner: every run, in order
            n = len(g)
            if not n:
                continue
            found.append(_mix(g ^ _seed(kind, order)).astype(np.uint64) % np.uint64(half)
                         + np.uint64(half if kind == 2 else 0))
            span = np.arange(n)[:, None] + np.arange(order)[None, :]  # (n, order) item positions
            words_of = span if owner is None else owner[span]  # (n, order) word places, non-decreasing
            first = np.ones_like(words_of, bool)
            first[:, 1:] = words_of[:, 1:] != words_of[:, :-1]  # a word counted once per occurrence
            row = np.full((n, width), -1, np.int64)
            col = np.cumsum(first, 1) - 1
            r = np.broadcast_to(np.arange(n)[:, None], words_of.shape)
            row[r[first], col[first]] = where[words_of[first]]
            touched.append(row)
    if not found:
        return np.empty(0, np.int64), np.empty((0, width), np.int64)
    return np.concatenate(found).astype(np.int64), np.concatenate(touched)


def fit_idf(bucket: np.ndarray, n_docs: int, buckets: int, min_df: int = MIN_DF) -> np.ndarray:
    """(buckets,) float32 smooth idf from the training texts' ``ngram_counts`` buckets (each (doc, bucket)
    pair appears once there, so counting buckets counts texts); zero where df < ``min_df``."""
    df = np.bincount(bucket, minlength=buckets)
    idf = np.log((1.0 + n_docs) / (1.0 + df)) + 1.0
    idf[df < min_df] = 0.0
    return idf.astype(np.float32)


def tfidf(doc: np.ndarray, bucket: np.ndarray, count: np.ndarray, idf: np.ndarray, n_docs: int) -> np.ndarray:
    """(nnz,) float32 values: (1 + ln count) · idf, each text's word and character halves at unit length."""
    v = (1.0 + np.log(count)) * idf[bucket].astype(np.float64)
    block = doc * 2 + (bucket >= len(idf) // 2)
    norm = np.sqrt(np.bincount(block, weights=v * v, minlength=2 * n_docs))
    v /= np.where(norm > 0, norm, 1.0)[block]
    return v.astype(np.float32)


def features(docs: list[list[str]], idf: np.ndarray, words: int = WORDS, chars: int = CHARS):
    """Token lists → (doc, bucket, value): the TF-IDF matrix in coordinate form."""
    doc, bucket, count = ngram_counts(docs, len(idf), words, chars)
    return doc, bucket, tfidf(doc, bucket, count, idf, len(docs))


def logits(docs: list[list[str]], weight: np.ndarray, bias: np.ndarray, idf: np.ndarray,
           words: int = WORDS, chars: int = CHARS, *, support: bool = False):
    """Token lists → (N, C) float32 logits of the linear model (``weight`` (buckets, C), ``bias`` (C,)).
    With ``support``, also (N,) bool: whether the text has any feature with an idf (seen in training)."""
    doc, bucket, value = features(docs, idf, words, chars)
    out = np.empty((len(docs), weight.shape[1]), np.float32)
    for c in range(weight.shape[1]):
        out[:, c] = np.bincount(doc, weights=value * weight[bucket, c], minlength=len(docs)) + bias[c]
    if support:
        return out, np.bincount(doc[value != 0], minlength=len(docs)) > 0
    return out


def mix(p_rnn: np.ndarray, ngram_logits: np.ndarray, weight: float) -> np.ndarray:
    """(1 − weight) · p_rnn + weight · softmax(ngram_logits), both (N, C)."""
    z = ngram_logits - ngram_logits.max(-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(-1, keepdims=True)
    return (1.0 - weight) * p_rnn + weight * p
