"""Baseline for the language model: an interpolated modified Kneser-Ney n-gram on the neural model's tokens.

The n-gram reads the corpus with the model's own tokenizer settings and vocabulary, so both score exactly
the same targets: each paragraph is ``<bos> w1 … wn <eos>``, out-of-vocabulary words are ``<unk>``,
contexts never cross paragraphs. Metrics are those of ``zhseq.training.LMTask.evaluate``: perplexity over
every target (line ends and ``<unk>`` included); top-1/top-5 over targets that are real words, ranking
only what ``predict-next`` may propose (no ``<pad>``, ``<unk>``, ``<bos>``, ``<eos>``).

Usage: python bench/ngram_lm.py --model MODEL_DIR [--train FILE ...] [--test FILE] [--order 3] [--json]
       [--no-neural]
Example: python bench/ngram_lm.py --model runs/pd --order 5 --json

The model (Chen & Goodman 1998, "interpolated modified Kneser-Ney"; counting as in KenLM):
    p_k(w | h) = max(a(h w) - D_k(a(h w)), 0) / Σ_x a(h x)  +  γ(h) · p_{k-1}(w | h')
    γ(h)       = (D_k1 N1(h•) + D_k2 N2(h•) + D_k3+ N3+(h•)) / Σ_x a(h x)
with ``h'`` the history without its first word, ``a`` the raw count at the highest order and for n-grams
that start with ``<bos>`` (they have no left context), the continuation count N1+(• g) otherwise; three
discounts per order from that order's count-of-counts; an unseen history backs off whole (p_k = p_{k-1});
at the bottom a uniform distribution over every word that can be predicted (all but ``<pad>``, ``<bos>``).

Storage: n-grams get ids level by level (a k-gram's key is ``id(its first k-1 words) · V + last word``),
so each order is a sorted key array — a CSR table of histories and their followers — and every lookup is a
``searchsorted``; scoring a whole test set is a handful of numpy operations per order.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout without installing zhseq
    sys.path.insert(0, str(ROOT))

from zhseq.vocab import BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID  # noqa: E402

DEFAULT_TRAIN = ROOT / "corpora" / "peoples_daily" / "train.txt.gz"
DEFAULT_TEST = ROOT / "corpora" / "peoples_daily" / "test.txt.gz"
MAX_ORDER = 5


# -- corpus ---------------------------------------------------------------------------------------
def read_paragraphs(path: str | Path) -> list[str]:
    """Non-empty texts of a file, as zhseq's LM reader keeps them: the lines of a .txt (or .txt.gz), or the
    text column of a .tsv/.csv/.jsonl table (zhseq.data.read_texts decodes every format the same way)."""
    from zhseq.data import read_texts

    return [text for text in read_texts(str(path)) if text.strip()]


def flatten(paragraphs: Iterable[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Word-id paragraphs → one array ``<bos> w… <eos> <bos> w… <eos> …`` and, per position, the index of
    its paragraph's ``<bos>`` (contexts must not reach before it)."""
    seqs = [np.asarray([BOS_ID, *p, EOS_ID], dtype=np.int64) for p in paragraphs]
    if not seqs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    tok = np.concatenate(seqs)
    lengths = np.array([len(s) for s in seqs])
    starts = np.cumsum(lengths) - lengths
    return tok, np.repeat(starts, lengths)


def _discounts(adjusted: np.ndarray) -> np.ndarray:
    """(D1, D2, D3+) from the count-of-counts n1..n4 (Chen & Goodman eq. 26). Where the count-of-counts
    cannot give a D_k strictly between 0 and k (tiny corpora: some n_k is 0), D_k = k/2 instead, so every
    history keeps some mass for its lower orders and every count keeps some of its own."""
    n = np.bincount(np.minimum(adjusted, 5).astype(np.int64), minlength=6)[1:5].astype(float)
    d = np.array([0.5, 1.0, 1.5])
    if n[0] > 0 and n[1] > 0:
        y = n[0] / (n[0] + 2 * n[1])
        for k in (1, 2, 3):
            if n[k - 1] > 0:
                estimate = k - (k + 1) * y * n[k] / n[k - 1]
                if 0 < estimate < k:
                    d[k - 1] = estimate
    return d


def _discount_of(adjusted: np.ndarray, d: np.ndarray) -> np.ndarray:
    return d[np.minimum(adjusted, 3) - 1]


class _Level:
    """The k-grams (k ≥ 2) of one order, sorted by (history id, word): a CSR table of followers."""

    def __init__(self, keys: np.ndarray, adjusted: np.ndarray, n_hist: int, vocab_size: int):
        self.vocab_size = vocab_size
        self.keys = keys  # (G,) int64, sorted: history_id * V + word
        self.words = keys % vocab_size  # (G,)
        hist = keys // vocab_size
        self.offsets = np.searchsorted(hist, np.arange(n_hist + 1))  # followers of h: offsets[h]:offsets[h+1]
        self.discounts = _discounts(adjusted)
        total = np.bincount(hist, weights=adjusted, minlength=n_hist)  # (H,) Σ_x a(h x)
        mass = np.bincount(hist, weights=_discount_of(adjusted, self.discounts), minlength=n_hist)
        seen = total > 0
        self.num = (adjusted - _discount_of(adjusted, self.discounts)) / total[hist]  # (G,)
        self.gamma = np.ones(n_hist)  # a history never followed backs off whole
        self.gamma[seen] = mass[seen] / total[seen]

    def __len__(self) -> int:
        return len(self.keys)

    def lookup(self, hist_ids: np.ndarray, words: np.ndarray) -> np.ndarray:
        """Ids of the k-grams (history, word); -1 where unseen or where the history is -1."""
        key = hist_ids * self.vocab_size + words
        pos = np.minimum(np.searchsorted(self.keys, key), max(len(self.keys) - 1, 0))
        found = (hist_ids >= 0) & (len(self.keys) > 0)
        if len(self.keys):
            found &= self.keys[pos] == key
        return np.where(found, pos, -1)


class KneserNey:
    """Interpolated modified Kneser-Ney over a fixed vocabulary of ids (zhseq layout: 0–3 are specials).

    >>> lm = KneserNey(order=3, vocab_size=6).fit([[4, 5], [4, 5, 4]])
    >>> round(float(lm.distribution([4]).sum()), 12)
    1.0
    """

    def __init__(self, order: int = 3, vocab_size: int = 0):
        if not 1 <= order <= MAX_ORDER:
            raise ValueError(f"order must be 1…{MAX_ORDER}, not {order}")
        if vocab_size <= len(SPECIALS):
            raise ValueError("the vocabulary needs at least one word besides the specials")
        self.order, self.V = order, vocab_size
        self.predictable = np.ones(vocab_size, bool)  # what the model gives probability to
        self.predictable[[PAD_ID, BOS_ID]] = False
        self.rankable = self.predictable.copy()  # what top-k may propose (as predict-next)
        self.rankable[[UNK_ID, EOS_ID]] = False

    # -- training ---------------------------------------------------------------------------------
    def fit(self, paragraphs: Iterable[Sequence[int]]) -> "KneserNey":
        """Count word-id paragraphs (no <bos>/<eos>: they are added here; ids ≥ V are an error)."""
        tok, start = flatten(paragraphs)
        if len(tok) and (tok.min() < 0 or tok.max() >= self.V):
            raise ValueError("token id outside the vocabulary")
        V, N = self.V, self.order
        self.n_train_tokens = int((tok != BOS_ID).sum())
        pos = np.arange(len(tok))
        ids = [None, tok]  # ids[k][i]: id of the k-gram ending at i, -1 if it would cross its paragraph start
        raw = [None, None]  # raw counts per k-gram id
        first = [None, None]  # one position where each k-gram occurs
        keys_of = [None, None]  # sorted keys of the k-grams: their ids are the indices
        for k in range(2, N + 1):
            ok = pos - (k - 1) >= start
            ends = pos[ok]
            keys, idx, inv, cnt = np.unique(ids[k - 1][ends - 1] * V + tok[ends], return_index=True,
                                            return_inverse=True, return_counts=True)
            level = np.full(len(tok), -1, np.int64)
            level[ends] = inv.reshape(-1)
            ids.append(level)
            raw.append(cnt)
            first.append(ends[idx])
            keys_of.append(keys)
        # adjusted counts: raw at the top order and for n-grams starting with <bos>; else N1+(• g)
        self.levels: list[_Level | None] = [None, None]
        n_hist = V
        for k in range(2, N + 1):
            keys = keys_of[k]
            if k == N:
                adjusted = raw[k]
            else:
                adjusted = np.bincount(ids[k][first[k + 1]], minlength=len(keys))
                at_bos = tok[first[k] - (k - 1)] == BOS_ID
                adjusted[at_bos] = raw[k][at_bos]
            self.levels.append(_Level(keys, adjusted, n_hist, V))
            n_hist = len(keys)
        # the bottom: continuation counts of words (raw counts for a unigram model), then uniform
        targets = tok[tok != BOS_ID]
        if N == 1:
            adjusted = np.bincount(targets, minlength=V)
        else:
            adjusted = np.bincount(ids[1][first[2]], minlength=V)
        adjusted[~self.predictable] = 0
        present = adjusted > 0
        self.unigram_discounts = _discounts(adjusted[present])
        p1 = np.zeros(V)
        total = adjusted.sum()
        n_predictable = int(self.predictable.sum())
        if total > 0:
            d = _discount_of(adjusted[present], self.unigram_discounts)
            p1[present] = (adjusted[present] - d) / total
            p1[self.predictable] += d.sum() / total / n_predictable
        else:
            p1[self.predictable] = 1.0 / n_predictable
        self.p1 = p1
        # rankable words by (probability desc, id asc): the unigram part of every top-k candidate set
        words = np.nonzero(self.rankable)[0]
        self.unigram_order = words[np.lexsort((words, -p1[words]))][:64]
        return self

    # -- one context --------------------------------------------------------------------------------
    def history_ids(self, prefix: Sequence[int]) -> list[int]:
        """For the paragraph so far (words after <bos>): hs[k] = id of the history of length k-1 used by
        order k (k = 2…N), -1 if unseen; hs[0], hs[1] unused."""
        seq = [BOS_ID, *prefix]
        hs = [-1, -1]
        for k in range(2, self.order + 1):
            n = k - 1
            if n > len(seq):
                hs.append(-1)
                continue
            h = seq[-n]  # a 1-gram's id is its word id
            for j in range(1, n):
                h = int(self.levels[j + 1].lookup(np.array([h]), np.array([seq[-n + j]]))[0])
            hs.append(h)
        return hs

    def _followers(self, k: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        level = self.levels[k]
        a, b = level.offsets[h], level.offsets[h + 1]
        return level.words[a:b], level.num[a:b]

    def distribution(self, prefix: Sequence[int]) -> np.ndarray:
        """p(· | <bos> prefix) over the whole vocabulary, (V,): the brute-force reference."""
        hs = self.history_ids(prefix)
        p = self.p1.copy()
        for k in range(2, self.order + 1):
            if hs[k] < 0:
                break  # an unseen history: this order and all above back off whole
            words, num = self._followers(k, hs[k])
            p = self.levels[k].gamma[hs[k]] * p
            p[words] += num
        return p

    def top_k_brute(self, prefix: Sequence[int], k: int = 5) -> list[int]:
        """Top-k rankable words over the full distribution, ties by id (the reference for ``top_k``)."""
        p = np.where(self.rankable, self.distribution(prefix), -np.inf)
        return _top(np.arange(self.V), p, min(k, int(self.rankable.sum())))

    def top_k(self, prefix: Sequence[int], k: int = 5) -> list[int]:
        return self._top_k_hist(self.history_ids(prefix), k)

    def _top_k_hist(self, hs: Sequence[int], k: int) -> list[int]:
        """Exact top-k from a candidate set. A word that no history above the unigram level has seen gets
        Π γ · p1(w), the same factor for all of them, so the best such words are the unigram's best; every
        word seen after a longer history is also seen after the one-word history (each k-gram's suffix is
        counted too). Candidates: followers of the one-word history ∪ the unigram's top k."""
        k = min(k, len(self.unigram_order))
        if self.order == 1 or hs[2] < 0:
            return [int(w) for w in self.unigram_order[:k]]
        f2, num2 = self._followers(2, hs[2])
        top = self.unigram_order[:k]
        i = np.minimum(np.searchsorted(f2, top), max(len(f2) - 1, 0))
        extra = top[~((len(f2) > 0) & (f2[i] == top))] if len(f2) else top
        cand = np.concatenate([f2, extra])
        p = self.p1[cand]
        p = self.levels[2].gamma[hs[2]] * p
        p[: len(f2)] += num2
        for j in range(3, self.order + 1):
            if hs[j] < 0:
                break
            words, num = self._followers(j, hs[j])
            p = self.levels[j].gamma[hs[j]] * p
            p[np.searchsorted(f2, words)] += num
        return _top(cand, np.where(self.rankable[cand], p, -np.inf), k)

    # -- a whole test set ---------------------------------------------------------------------------
    def score(self, paragraphs: Iterable[Sequence[int]], k: int = 5) -> dict:
        """LMTask's metrics: perplexity over every target; top-1 and top-k over real-word targets; also
        ``target_probs``, each target's probability in file order (``<eos>`` after each paragraph's words)."""
        tok, start = flatten(paragraphs)
        N = self.order
        pos = np.arange(len(tok))
        ids = [None, tok]
        for j in range(2, N + 1):
            ok = pos - (j - 1) >= start
            level = np.full(len(tok), -1, np.int64)
            ends = pos[ok]
            level[ends] = self.levels[j].lookup(ids[j - 1][ends - 1], tok[ends])
            ids.append(level)
        targets = pos[tok != BOS_ID]  # every position but a paragraph's first
        gold = tok[targets]
        p = self.p1[gold]
        hist = [None, None]
        for j in range(2, N + 1):
            ok = targets - (j - 1) >= start[targets]
            h = np.where(ok, ids[j - 1][np.maximum(targets - 1, 0)], -1)  # history: the (j-1)-gram before
            hist.append(h)
            g = np.where(ok, ids[j][targets], -1)
            use = h >= 0
            num = np.where(g >= 0, self.levels[j].num[np.maximum(g, 0)], 0.0)
            p = np.where(use, self.levels[j].gamma[np.maximum(h, 0)] * p + num, p)
        nll = float(-np.log(p).sum())
        n_tok = len(targets)
        word = (gold != UNK_ID) & (gold != EOS_ID)
        hits1 = hitsk = 0
        for t in np.nonzero(word)[0]:
            hs = [-1, -1] + [int(hist[j][t]) for j in range(2, N + 1)]
            top = self._top_k_hist(hs, k)
            hits1 += top[0] == gold[t]
            hitsk += int(gold[t]) in top
        n_words = int(word.sum())
        mean = nll / max(1, n_tok)
        return {
            "perplexity": math.exp(min(mean, 50.0)),
            "loss": mean,
            "top1": hits1 / max(1, n_words),
            f"top{k}": hitsk / max(1, n_words),
            "n_tokens": n_tok,
            "n_words": n_words,
            "target_probs": p,
        }


def _top(ids: np.ndarray, scores: np.ndarray, k: int) -> list[int]:
    """The k best ids by (score desc, id asc), exactly (ties at the k-th score resolved by id)."""
    if k <= 0:
        return []
    if len(scores) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = np.nonzero(scores >= kth)[0]
        ids, scores = ids[keep], scores[keep]
    order = np.lexsort((ids, -scores))[:k]
    return [int(i) for i in ids[order]]


# -- command line ---------------------------------------------------------------------------------
def run(model: str, *, train: Sequence[str] = (), test: str | None = None, order: int = 3,
        neural: bool = True, say=lambda msg: print(msg, file=sys.stderr, flush=True)) -> dict:
    from zhseq.checkpoint import VOCAB_NAME, read_config, resolve_model_dir
    from zhseq.tokenizer import Tokenizer
    from zhseq.vocab import Vocab

    t0 = time.perf_counter()
    model_dir = resolve_model_dir(model)
    config = read_config(model_dir)
    tokenizer = Tokenizer.from_dict(config.get("tokenizer", {}))
    vocab = Vocab.load(model_dir / VOCAB_NAME)
    train = [str(p) for p in train] or [str(DEFAULT_TRAIN)]
    test = str(test or DEFAULT_TEST)
    train_texts = [t for path in train for t in read_paragraphs(path)]
    say(f"tokenising {len(train_texts)} training paragraphs …")
    train_ids = [vocab.encode(tokenizer.cut(t)) for t in train_texts]
    test_ids = [vocab.encode(tokenizer.cut(t)) for t in read_paragraphs(test)]
    t1 = time.perf_counter()
    lm = KneserNey(order, len(vocab)).fit(train_ids)
    t2 = time.perf_counter()
    scores = lm.score(test_ids, k=5)
    t3 = time.perf_counter()
    say(f"tokenise {t1 - t0:.1f} s, count {t2 - t1:.1f} s, score {t3 - t2:.1f} s")
    result = {
        "ngram": {
            "model": f"interpolated modified Kneser-Ney, order {order}",
            "order": order,
            "vocab_size": len(vocab),
            "n_train_tokens": lm.n_train_tokens,
            "n_test_tokens": scores["n_tokens"],
            "n_test_words": scores["n_words"],
            "perplexity": scores["perplexity"],
            "loss": scores["loss"],
            "top1": scores["top1"],
            "top5": scores["top5"],
            "discounts": {str(k): lm.levels[k].discounts.round(4).tolist() for k in range(2, order + 1)}
            | {"1": lm.unigram_discounts.round(4).tolist()},
            "seconds": round(t3 - t0, 1),
        },
        "model": str(model_dir),
        "train": train,
        "test": test,
    }
    if neural and config.get("task") == "lm":
        from zhseq import evaluate

        say("scoring the neural model …")
        t4 = time.perf_counter()
        nn = evaluate(model_dir, test)
        result["neural"] = {key: nn[key] for key in ("perplexity", "loss", "top1", "top5", "n_tokens")}
        result["neural"]["seconds"] = round(time.perf_counter() - t4, 1)
        if nn["n_tokens"] != scores["n_tokens"]:
            say(f"warning: the neural model scored {nn['n_tokens']} targets, the n-gram {scores['n_tokens']}")
        result["ppl_ratio"] = nn["perplexity"] / scores["perplexity"]
        result["top5_gain_points"] = 100 * (nn["top5"] - scores["top5"])
    return result


def _table(r: dict) -> str:
    g = r["ngram"]
    rows = [("", "perplexity", "top1", "top5", "targets")]
    rows.append((f"KN {g['order']}-gram", f"{g['perplexity']:.1f}", f"{g['top1']:.4f}", f"{g['top5']:.4f}",
                 f"{g['n_test_tokens']:,}"))
    if "neural" in r:
        n = r["neural"]
        rows.append(("neural", f"{n['perplexity']:.1f}", f"{n['top1']:.4f}", f"{n['top5']:.4f}",
                     f"{n['n_tokens']:,}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.append(f"vocabulary {g['vocab_size']:,}; train {g['n_train_tokens']:,} tokens; "
                 f"test {g['n_test_tokens']:,} targets ({g['n_test_words']:,} real words); "
                 f"n-gram {g['seconds']} s")
    if "neural" in r:
        lines.append(f"neural / n-gram perplexity {r['ppl_ratio']:.3f} (goal ≤ 0.70); "
                     f"top-5 {r['top5_gain_points']:+.1f} points (goal ≥ +8)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 epilog="Example: python bench/ngram_lm.py --model runs/pd --order 5 --json")
    ap.add_argument("--model", required=True, help="a zhseq model folder (its tokenizer and vocabulary are used)")
    ap.add_argument("--train", action="append", default=[],
                    help=f"training text, repeatable (default {DEFAULT_TRAIN.relative_to(ROOT)})")
    ap.add_argument("--test", help=f"test text (default {DEFAULT_TEST.relative_to(ROOT)})")
    ap.add_argument("--order", type=int, default=3, choices=range(1, MAX_ORDER + 1))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-neural", action="store_true", help="do not score the neural model")
    args = ap.parse_args(argv)
    result = run(args.model, train=args.train, test=args.test, order=args.order, neural=not args.no_neural)
    print(json.dumps(result, ensure_ascii=False, indent=2) if args.json else _table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
