"""Unigram rescaling toward general Chinese, as a lever for everyday next words (issue 17).

The next-word model answers everyday prefixes in the voice of its training text, three quarters reviews
(恭喜 → 蒙牛, 你在 → 京东). Unigram rescaling (Kneser, Peters & Klakow 1997, "Language model adaptation using
dynamic marginals") moves a model's distribution toward another domain's word frequencies:

    p'(w | h) ∝ p(w | h) · (q(w) / p_train(w)) ** β

with p_train the unigram distribution of the model's training tokens, q the target domain's and β in [0, 1].
Here q is jieba's dictionary frequency (349,045 words counted over a large mixed corpus: the only
general-language word counts at hand), rescaled so that the vocabulary words it knows keep their training
mass; words it does not know (punctuation, numbers, ``<unk>``) keep their probability (ratio 1).

Scored like ``bench/lm_cache.py``: each text read whole from ``<bos>``, top-5 over targets that are real
words (not ``<unk>`` or the line end), ranking what ``predict-next`` may propose; perplexity over the same
targets. Two readings:
- ``general``: the shipped next-word model on People's Daily test (news, the nearest to jieba's counts);
- ``held-out reviews``: ``bench/domain_dev.py``'s language model that never read the three held-out
  categories, on their dev reviews (``python bench/domain_dev.py split`` and ``… backbone`` make them).
And the shipped model's top 5 for ``bench/data/everyday_prefixes.txt`` at each β of ``--show``.

Usage: python bench/lm_unigram_rescaling.py [--texts 800] [--json]
Results: bench/results/lm_unigram_rescaling.json
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

BETAS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
C = ROOT / "corpora"
READINGS = {
    "general": dict(model=ROOT / "zhseq/models/lm", test=C / "peoples_daily/test.txt.gz",
                    train=[C / "peoples_daily/train.txt.gz", C / "reviews/train.tsv.gz", C / "chnsenticorp/train.tsv.gz"]),
    "held-out reviews": dict(model=ROOT / "runs/domains/backbone/model-best", test=ROOT / "runs/domains/dev-heldout.tsv",
                             train=[C / "peoples_daily/train.txt.gz", ROOT / "runs/domains/train.tsv"]),
}


def log_ratio(model, train_files) -> np.ndarray:
    """(V,) log(q(w) / p_train(w)) for the vocabulary words jieba's dictionary holds and the training text has;
    0 for the others (see the module's docstring)."""
    import jieba

    from ngram_lm import read_paragraphs
    from zhseq.vocab import SPECIALS

    itos = model.vocab.itos
    counts = np.zeros(len(itos))
    for path in train_files:
        for text in read_paragraphs(path):
            np.add.at(counts, model.vocab.encode(model.tokenizer.cut(text)), 1)
    freq = {}
    with jieba.get_dict_file() as f:
        for line in f:
            word, n = line.decode("utf-8").split()[:2]
            freq[word] = int(n)
    q = np.array([freq.get(w, 0) for w in itos], float)
    p = counts / counts.sum()
    known = (q > 0) & (counts > 0)
    known[: len(SPECIALS)] = False
    q = q / q[known].sum() * p[known].sum()
    return np.where(known, np.log(np.where(known, q, 1.0)) - np.log(np.where(known, p, 1.0)), 0.0)


def score(model, ratio: np.ndarray, texts) -> dict:
    """{β: {"top5": %, "perplexity": …}} over the texts' real-word targets, their number, and the number of
    targets outside the vocabulary (``<unk>``)."""
    import torch

    from lm_cache import read_whole
    from zhseq.vocab import EOS_ID, SPECIALS, UNK_ID

    hits, nll, n, unknown = dict.fromkeys(BETAS, 0), dict.fromkeys(BETAS, 0.0), 0, 0
    with torch.inference_mode():
        for text in texts:
            seq, logits, _ = read_whole(model, text)
            gold = np.array(seq[1:])
            real = (gold != UNK_ID) & (gold != EOS_ID)
            n += int(real.sum())
            unknown += int((gold == UNK_ID).sum())
            for beta in BETAS:
                z = logits.astype(np.float64) + beta * ratio
                top = z.copy()
                top[:, : len(SPECIALS)] = -np.inf
                hits[beta] += int((np.argpartition(-top, 5, axis=1)[:, :5] == gold[:, None]).any(1)[real].sum())
                m = z.max(1)
                lse = np.log(np.exp(z - m[:, None]).sum(1)) + m
                nll[beta] += float((lse - z[np.arange(len(gold)), gold])[real].sum())
    # words outside the vocabulary: what a larger vocabulary could at most add to the targets
    return {"targets": n, "unknown_words": unknown, **{str(b): {"top5": round(100 * hits[b] / n, 2), "perplexity": round(float(np.exp(nll[b] / n)), 1)}
                             for b in BETAS}}


def everyday(model, ratio: np.ndarray, betas) -> dict:
    """{β: {prefix: its top 5}} for bench/data/everyday_prefixes.txt (the words after the whole prefix)."""
    import torch

    from zhseq.vocab import BOS_ID, SPECIALS

    prefixes = [line.strip() for line in (ROOT / "bench/data/everyday_prefixes.txt").read_text(encoding="utf-8").splitlines()
                if line.strip()]
    out = {}
    with torch.inference_mode():
        for beta in betas:
            out[str(beta)] = {}
            for prefix in prefixes:
                ids = [BOS_ID] + model.vocab.encode(model.tokenizer.cut(prefix))
                _, states = model.net.eval()._forward_states(torch.tensor([ids]), torch.tensor([len(ids)]))
                z = model.net.logits_from_states(states[0, -1]).double().numpy() + beta * ratio
                z[: len(SPECIALS)] = -np.inf
                out[str(beta)][prefix] = " ".join(model.vocab.itos[i] for i in np.argsort(-z)[:5])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=800, help="the first N texts of each test file")
    parser.add_argument("--show", type=float, nargs="*", default=[0.0, 0.5], help="β values for the everyday prefixes")
    parser.add_argument("--json", action="store_true", help="write bench/results/lm_unigram_rescaling.json")
    args = parser.parse_args()
    from ngram_lm import read_paragraphs
    from zhseq.pipeline import NextWordPredictor

    result = {"betas": list(BETAS), "texts": args.texts}
    start = time.time()
    for name, reading in READINGS.items():
        model = NextWordPredictor.from_pretrained(reading["model"], engine="torch")
        ratio = log_ratio(model, reading["train"])
        result[name] = {"model": str(reading["model"].relative_to(ROOT)), "test": str(reading["test"].relative_to(ROOT)),
                        "log_ratio": {w: round(float(ratio[model.vocab.stoi[w]]), 2)
                                      for w in ("蒙牛", "京东", "入住", "买", "你", "水") if w in model.vocab.stoi},
                        **score(model, ratio, read_paragraphs(reading["test"])[: args.texts])}
        print(name, json.dumps(result[name], ensure_ascii=False), flush=True)
        if name == "general":
            result["everyday_prefixes"] = everyday(model, ratio, args.show)
    result["seconds"] = round(time.time() - start, 1)
    for beta, answers in result["everyday_prefixes"].items():
        print(f"β = {beta}:", "; ".join(f"{p} → {a}" for p, a in answers.items()))
    if args.json:
        (ROOT / "bench/results/lm_unigram_rescaling.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
