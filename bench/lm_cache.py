"""A cache over the text's own words, as a lever for next-word top-5 on review text (issue 17).

Reviews repeat their own words (the product, the shop), so a cache of the words already typed might rank
them better. Two caches, each mixed with the network's distribution p = (1 − λ) · p_LSTM + λ · p_cache:
- the unigram cache (Kuhn & De Mori 1990): p_cache(w) = how often w occurs so far in the text / its length;
- the neural cache (Grave, Joulin & Usunier 2017, "Improving neural language models with a continuous
  cache"): p_cache(w) ∝ Σ_i exp(θ · h_t · h_i) over the earlier positions i whose next word was w, h the
  LSTM's states.
Each text is read whole from ``<bos>`` (not in windows), and scored at every position whose target is a
real word (not ``<unk>`` or the line end), ranking what ``predict-next`` may propose; λ = 0 is the network
alone, in the same reading.

Usage: python bench/lm_cache.py [--model runs/domains/backbone/model-best] [--test runs/domains/dev-heldout.tsv]
       [--texts 1000] [--json]
The defaults are ``bench/domain_dev.py``'s language model that never read the three held-out categories and
those categories' dev reviews (``python bench/domain_dev.py split`` and ``… backbone`` make them).
Results: bench/results/lm_cache.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

LAMBDAS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)
THETAS = (0.0, 0.1, 0.3)  # 0: every earlier position counts alike, the unigram cache


def read_whole(model, text: str) -> tuple[list[int], np.ndarray, np.ndarray]:
    """``<bos> w… <eos>`` of ``text`` as ids, and the language model's next-word logits (T, V) and
    left-to-right states (T, H) at each of its T = len(ids) − 1 positions, the text read whole from ``<bos>``
    (a ``NextWordPredictor`` on the torch engine; call under ``torch.inference_mode()``)."""
    import torch

    from zhseq.vocab import BOS_ID, EOS_ID

    seq = [BOS_ID] + model.vocab.encode(model.tokenizer.cut(text)) + [EOS_ID]
    _, states = model.net.eval()._forward_states(torch.tensor([seq[:-1]]), torch.tensor([len(seq) - 1]))
    return seq, model.net.logits_from_states(states[0]).numpy(), states[0].numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "runs/domains/backbone/model-best"))
    parser.add_argument("--test", default=str(ROOT / "runs/domains/dev-heldout.tsv"))
    parser.add_argument("--texts", type=int, default=1000, help="the first N texts of --test")
    parser.add_argument("--json", action="store_true", help="write bench/results/lm_cache.json")
    args = parser.parse_args()
    import torch

    from ngram_lm import read_paragraphs
    from zhseq.pipeline import NextWordPredictor
    from zhseq.vocab import EOS_ID, SPECIALS, UNK_ID

    model = NextWordPredictor.from_pretrained(args.model, engine="torch")
    vocab = model.vocab
    texts = read_paragraphs(args.test)[: args.texts]
    never = np.zeros(len(vocab), bool)
    never[: len(SPECIALS)] = True
    hits = {(lam, theta): 0 for lam in LAMBDAS for theta in THETAS}
    n, start = 0, time.time()
    with torch.inference_mode():
        for text in texts:
            seq, logits, h = read_whole(model, text)
            p = np.exp(logits - logits.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            for t, gold in enumerate(seq[1:]):
                if gold in (UNK_ID, EOS_ID):
                    continue
                n += 1
                followers = np.array(seq[1 : t + 1])  # the word after each earlier position
                for theta in THETAS:
                    cache = None
                    if t:
                        s = h[:t] @ h[t] * theta
                        cache = np.bincount(followers, np.exp(s - s.max()), minlength=len(vocab))
                        cache /= cache.sum()
                    for lam in LAMBDAS:
                        q = p[t] if cache is None or not lam else (1 - lam) * p[t] + lam * cache
                        hits[lam, theta] += int(gold in np.argpartition(-np.where(never, -1, q), 5)[:5])
    table = {f"theta={theta}": {f"lambda={lam}": round(100 * hits[lam, theta] / n, 2) for lam in LAMBDAS}
             for theta in THETAS}
    for row, cells in table.items():
        print(row, "  ".join(f"{k} {v:.2f} %" for k, v in cells.items()))
    result = {"model": args.model, "test": args.test, "texts": len(texts), "targets": n, "top5": table,
              "seconds": round(time.time() - start, 1)}
    print(f"{n} targets in {len(texts)} texts, {result['seconds']} s")
    if args.json:
        (ROOT / "bench/results/lm_cache.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
