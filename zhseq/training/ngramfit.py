"""Fitting a sentiment model's n-gram half (``zhseq.ngrams``) and choosing its weight on the dev set.

    token lists → ngram_counts → idf, TF-IDF (numpy, zhseq.ngrams) → × naive-Bayes scale (nb_scale)
        → scipy CSR matrix (N, A) over the A buckets that have an idf → scikit-learn's LogisticRegression
        (lbfgs) → the model's table: weight (buckets, K), bias (K,), idf (buckets,)
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from .. import ngrams as hashed_ngrams
from ..checkpoint import CONFIG_NAME, load_weights, read_config, write_json
from ..config import FitConfig, default_of
from ..errors import ZhseqError
from ..modeling import build_model

logger = logging.getLogger(__name__)

NGRAM_WEIGHTS = tuple(i / 10 for i in range(11))  # mixing weights tried on the dev set
MAX_ITER = 300  # L-BFGS iterations at most
# L-BFGS stops when no gradient entry of the objective (divided by C·N) exceeds TOL: 1e-5 ends about where
# torch's LBFGS (zhseq's fit before scikit-learn) stopped on its loss changes, in as much time
TOL = 1e-5
ABSENT = -1e4  # the bias of a label the fit's texts never have: its probability is 0, as scikit-learn's


def nb_scale(doc: np.ndarray, column: np.ndarray, targets, columns: int, classes: int, power: float,
             alpha: float = 1.0) -> np.ndarray:
    """(columns,) float64 naive-Bayes scale of each feature column, as NBSVM (Wang & Manning, 2012) uses it:
    with p_k the smoothed share of class k's texts that hold the feature (``alpha`` added to every count,
    normalised over the columns), the scale is (max_k ln p_k − min_k ln p_k) ** ``power``: for two labels,
    |ln(p_pos / p_neg)| ** power. ``doc``, ``column``: one entry per (text, column) pair that is non-zero."""
    y = np.asarray(targets, np.int64)[doc]
    df = np.stack([np.bincount(column[y == k], minlength=columns) for k in range(classes)]) + alpha  # (K, A)
    log_p = np.log(df / df.sum(1, keepdims=True))
    return (log_p.max(0) - log_p.min(0)) ** power


class Design(NamedTuple):
    """What the logistic regression is fitted on."""

    x: object  # scipy.sparse.csr_matrix (N, A) float32: TF-IDF × naive-Bayes scale, over the active buckets
    idf: np.ndarray  # (buckets,) float32 idf of the training texts, 0 where df < 2
    active: np.ndarray  # (A,) int64: the buckets with an idf, ascending (column j is bucket active[j])
    scale: np.ndarray  # (A,) float64 naive-Bayes scale of each column (ones when nb = 0)


def design(tokens: list[list[str]], targets, config, nb: float, base_idf: np.ndarray | None = None) -> Design:
    """The training texts' features for a ``SentimentConfig``'s table (its buckets and n-gram orders):
    TF-IDF values from ``zhseq.ngrams`` (idf fitted here; with ``base_idf`` (buckets,), that idf wherever it
    is non-zero, this data's elsewhere), over the A buckets with an idf (fewer than half
    of them: the fit's vector work shrinks as much), each column times its naive-Bayes scale
    (``nb_scale`` with power ``nb``; none for 0)."""
    from scipy.sparse import csr_matrix

    B, N = config.ngram_buckets, len(tokens)
    doc, bucket, count = hashed_ngrams.ngram_counts(tokens, B, config.ngram_words, config.ngram_chars)
    idf = hashed_ngrams.fit_idf(bucket, N, B)
    if base_idf is not None:
        idf = np.where(base_idf > 0, base_idf, idf).astype(np.float32)
    value = hashed_ngrams.tfidf(doc, bucket, count, idf, N)
    keep = value != 0  # features too rare to have an idf
    doc, bucket, value = doc[keep], bucket[keep], value[keep]  # sorted by doc, then bucket: CSR order
    active = np.flatnonzero(idf)
    column = np.zeros(B, np.int32)
    column[active] = np.arange(len(active))
    col = column[bucket]
    scale = nb_scale(doc, col, targets, len(active), config.num_labels, nb) if nb > 0 else np.ones(len(active))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(doc, minlength=N))])
    x = csr_matrix(((value * scale[col]).astype(np.float32), col, indptr), shape=(N, len(active)))
    return Design(x, idf, active, scale)


def logistic_regression(x, targets, c: float):
    """scikit-learn's ``LogisticRegression`` (lbfgs, at most ``MAX_ITER`` iterations, tolerance ``TOL``)
    of ``targets`` (label indices) on ``x`` (N, A), minimising the multinomial objective
    C · Σ cross-entropy + ½ ‖W‖² (W: one weight vector per label, the bias unregularised).

    For three or more labels that is scikit-learn's own objective with ``C = c``. For two, scikit-learn fits
    one vector w (p = sigmoid(x·w + b)) with ½ ‖w‖²; the multinomial optimum is W = (−w/2, w/2), whose
    penalty is ‖w‖²/4, so it is the binary fit with ``C = 2c`` (``logit_table`` splits w). ``c`` thus
    means the same for any number of labels, and what it meant before scikit-learn fitted it.
    Raises ZhseqError when the texts hold fewer than two labels."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(targets, np.int64)
    present = np.unique(y)
    if len(present) < 2:
        raise ZhseqError(f"the n-gram half needs texts of two labels or more; its {len(y)} texts have "
                         f"{'none' if not len(present) else 'one'}")
    model = LogisticRegression(C=2 * c if len(present) == 2 else c, solver="lbfgs", max_iter=MAX_ITER, tol=TOL)
    empty = x.shape[1] == 0  # no n-gram in two texts or more (a handful of texts): the label prior alone
    if empty:
        from scipy.sparse import csr_matrix

        x = csr_matrix((x.shape[0], 1), dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # MAX_ITER reached: the fit is kept, as it is
        model.fit(x, y)
    if empty:
        model.coef_, model.n_features_in_ = model.coef_[:, :0], 0
    return model


def logit_table(model, num_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """A fitted ``LogisticRegression`` → (weight (A, K), bias (K,)) float64 whose softmax(x · weight + bias)
    is its ``predict_proba(x)``, K = ``num_labels``: a binary model's w becomes (−w/2, w/2), since
    softmax(−z/2, z/2) = (1 − sigmoid(z), sigmoid(z)); a label absent from the fit's texts gets bias
    ``ABSENT`` (probability 0)."""
    coef, intercept = model.coef_, model.intercept_
    if coef.shape[0] == 1:
        coef, intercept = np.concatenate([-coef, coef]) / 2, np.concatenate([-intercept, intercept]) / 2
    weight = np.zeros((coef.shape[1], num_labels))
    bias = np.full(num_labels, ABSENT)
    weight[:, model.classes_] = coef.T
    bias[model.classes_] = intercept
    return weight, bias


def fit_ngrams(net, tokens: list[list[str]], targets: list[int], *, c: float = default_of(FitConfig, "ngram_c"),
               nb: float = default_of(FitConfig, "ngram_nb"), keep: float = 0.0) -> dict:
    """Fit ``net.ngrams`` (a ``SentimentNet``'s table) on the training texts: their idf, then L2-regularised
    logistic regression over their TF-IDF n-grams (``design``, ``logistic_regression``: scikit-learn's, for
    any number of labels the multinomial objective C · Σ cross-entropy + ½ ‖W‖²). ``targets``: label indices.

    With ``nb`` > 0, each column is first multiplied by its naive-Bayes scale (``nb_scale`` with power
    ``nb``), as NBSVM does, and the fitted weights by the same scale, so the table holds weights for the plain
    TF-IDF values and prediction is unchanged. In effect, n-grams that lean to one label are regularised
    less. On ChnSentiCorp the n-gram half alone gains about a point over plain TF-IDF, and the standard
    protocol 0.3 to 0.9 points (bench/quality.md).

    ``keep`` (fine-tuning, 0 ≤ keep < 1): the table ``net`` holds now (a saved model's, fitted on its own
    data) is kept as a prior. The new fit reads that table's idf wherever it has one (this data's idf
    elsewhere, so the new data's own n-grams count too), and the table becomes keep · (the old weights and
    bias) + (1 − keep) · (the new ones): an average of the two linear models' logits. A few hundred labelled
    texts of a new domain then add their n-grams to what the old table knew instead of replacing it
    (bench/quality.md: a new domain from 500 labels). 0: the old table is replaced.

    Returns what metrics.json records: C, the power, the buckets, the objective at the solution (divided
    by C·N), L-BFGS's iterations and the seconds taken (and ``keep`` when set). Raises ZhseqError for texts
    of fewer than two labels."""
    cfg = net.config
    t0 = time.perf_counter()
    table = net.ngrams
    # the table it holds now, copied before the fit overwrites it: weight (B, K), bias (K,), idf (B,)
    old = tuple(np.array(t, np.float64) for t in table.numpy()) if keep else None
    d = design(tokens, targets, cfg, nb, base_idf=None if old is None else old[2])
    model = logistic_regression(d.x, targets, c)
    weight, bias = logit_table(model, cfg.num_labels)  # (A, K), (K,) for the scaled columns
    z = np.asarray(d.x @ weight) + bias  # (N, K): predict_proba's logits, also with no column at all
    z -= z.max(1, keepdims=True)
    p = np.exp(z[np.arange(len(tokens)), targets]) / np.exp(z).sum(1)
    loss = float(-np.log(np.maximum(p, 1e-300)).mean() + (weight * weight).sum() / (2 * c * len(tokens)))
    with torch.no_grad():
        table.weight.zero_()
        table.weight[torch.from_numpy(d.active)] = torch.from_numpy(weight * d.scale[:, None]).float()
        table.bias.copy_(torch.from_numpy(bias))
        table.idf.copy_(torch.from_numpy(d.idf))
        if old is not None:
            table.weight.copy_(torch.from_numpy(keep * old[0] + (1 - keep) * table.weight.double().numpy()))
            table.bias.copy_(torch.from_numpy(keep * old[1] + (1 - keep) * table.bias.double().numpy()))
    iterations = int(model.n_iter_.max())
    seconds = time.perf_counter() - t0
    logger.info("n-grams: logistic regression over %d TF-IDF values of %d texts (%d buckets%s), C %s, naive-Bayes "
                "power %s: loss %.4f after %d iterations, %.1f s%s", d.x.nnz, len(tokens), len(d.active),
                ", the old table's and the new texts'" if old is not None else "", c, nb, loss, iterations, seconds,
                f"; {keep:g} of the old table kept" if old is not None else "")
    return {"c": c, "nb": nb, "buckets": cfg.ngram_buckets, "loss": loss, "iterations": iterations,
            "seconds": round(seconds, 2), **({"keep": keep} if keep else {})}


def choose_ngram_weight(folder: Path, task, dev_examples, z, p_rnn=None) -> dict:
    """Pick the saved model's mixing weight on the dev set (the best accuracy; on a tie, the lowest dev log
    loss, then the weight nearest 0.5: a small dev set, 25 texts held out of 500, ties on accuracy at most
    weights) and write it, with the mixed model's dev scores, into its config.json. No dev set: 0.5.
    ``z``: the n-gram half's dev logits; ``p_rnn``: the network's dev probabilities, if the loop kept them
    (else the saved network is loaded and run)."""
    config = read_config(folder)
    if not dev_examples:
        config["head"]["ngram_weight"] = 0.5
        write_json(folder / CONFIG_NAME, config)
        return {"weight": 0.5}
    if p_rnn is None:
        net = build_model("sentiment", config)
        load_weights(net, folder)
        p_rnn = task.probabilities(net, dev_examples)
    mixed = {w: hashed_ngrams.mix(p_rnn, z, w) for w in NGRAM_WEIGHTS}
    scores = {w: task.score(dev_examples, p) for w, p in mixed.items()}
    accuracy = {w: s["accuracy"] for w, s in scores.items()}
    best = max(NGRAM_WEIGHTS, key=lambda w: (accuracy[w], -scores[w].get("log_loss", 0.0), -abs(w - 0.5)))
    config["head"]["ngram_weight"] = best
    config["dev_scores"] = scores[best]
    write_json(folder / CONFIG_NAME, config)
    found = {"weight": best, "dev_accuracy": {"network": accuracy[0.0], "ngrams": accuracy[1.0],
                                              "mixed": accuracy[best]}}
    logger.info("%s: n-gram weight %s on dev: accuracy %.4f (network), %.4f (n-grams), %.4f (both)", folder.name,
                best, accuracy[0.0], accuracy[1.0], accuracy[best])
    return found
