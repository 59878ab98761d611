"""How much the next-word model would gain by averaging its probabilities with the Kneser-Ney 5-gram's.

The shipped LM and bench/ngram_lm.py's interpolated modified Kneser-Ney 5-gram are trained on the same
tokens (all of corpora/, the model's tokenizer and vocabulary). At every target of People's Daily valid
and test, this computes p = λ · p_lstm + (1 − λ) · p_5gram over the whole vocabulary, for several λ.
The metrics are those of ``zhseq.training.LMTask.evaluate``: perplexity over every target, and top-5 over
real-word targets, ranking what ``predict-next`` may propose. The LSTM reads each paragraph in windows of
its bptt, with no state carried over, exactly as that evaluation does; the 5-gram sees the paragraph so far.
λ = 1 and λ = 0 reproduce the two models' own scores, which checks the script. λ is chosen on valid by
top-5 and reported on test.

It measures a lever; nothing here is shipped. The 5-gram's tables are reported beside the scores because
their size is what would have to fit in the model budget.

Usage: python bench/lm_mixture.py [--model zhseq/models/lm]   (about 6 minutes; writes
bench/results/lm_mixture.json)

On other text, ``--test FILE`` scores a sample of it (``--sample N`` paragraphs, seeded) at every λ instead,
without choosing one, against an n-gram of ``--order`` trained on ``--train`` (the model's own training
files). The held-out reviews of issue 17 (the language model and split of ``bench/domain_dev.py``; 4 min):
    python bench/lm_mixture.py --model runs/domains/backbone/model-best --order 3
        --train corpora/peoples_daily/train.txt.gz --train runs/domains/train.tsv
        --test runs/domains/dev-heldout.tsv --sample 1500 --out bench/results/lm_mixture_heldout_reviews.json
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ngram_lm import KneserNey, read_paragraphs  # noqa: E402

C = ROOT / "corpora"
TRAIN = [C / "peoples_daily/train.txt.gz", C / "reviews/train.tsv.gz", C / "chnsenticorp/train.tsv.gz"]
WEIGHTS = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def lstm_probs(net, windows) -> tuple[np.ndarray, np.ndarray]:
    """A paragraph's ``LMTask`` windows → (targets (n,), next-word probabilities at each (n, V))."""
    import torch

    gold, probs = [], []
    with torch.inference_mode():
        for x, y in windows:
            logits, _ = net(torch.tensor([x]), torch.tensor([len(x)]))
            probs.append(torch.softmax(logits[0].float(), -1).numpy())
            gold += y
    return np.array(gold), np.concatenate(probs)


def score(model, kn: KneserNey, paragraphs: list[list[str]], rankable: np.ndarray) -> dict:
    """``paragraphs``: token lists. The LSTM reads them as ``LMTask`` windows them for evaluation."""
    from zhseq.training import LMTask
    from zhseq.vocab import EOS_ID, UNK_ID

    task = LMTask(model.tokenizer, model.vocab, model.net.config.bptt)
    nll, hits = np.zeros(len(WEIGHTS)), np.zeros(len(WEIGHTS))
    n_tokens = n_words = 0
    for tokens in paragraphs:
        words = model.vocab.encode(tokens)
        gold, p_lstm = lstm_probs(model.net, task.examples([tokens]))
        assert gold.tolist() == [*words, EOS_ID]
        p_kn = np.stack([kn.distribution(words[:j]) for j in range(len(gold))])  # the paragraph so far
        word = (gold != UNK_ID) & (gold != EOS_ID)
        for i, lam in enumerate(WEIGHTS):
            p = lam * p_lstm + (1 - lam) * p_kn
            nll[i] -= np.log(p[np.arange(len(gold)), gold]).sum()
            if word.any():
                ranked = np.where(rankable[None, :], p[word], -np.inf)
                top = np.argpartition(-ranked, 5, axis=1)[:, :5]
                hits[i] += (top == gold[word][:, None]).any(1).sum()
        n_tokens += len(gold)
        n_words += int(word.sum())
    return {str(lam): {"perplexity": math.exp(nll[i] / n_tokens), "top5": hits[i] / n_words}
            for i, lam in enumerate(WEIGHTS)} | {"n_tokens": n_tokens, "n_words": n_words}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(ROOT / "zhseq/models/lm"))
    ap.add_argument("--order", type=int, default=5)
    ap.add_argument("--train", action="append", help="the n-gram's training files (default: all of corpora/)")
    ap.add_argument("--test", help="score this file at every λ (default: People's Daily valid, then test)")
    ap.add_argument("--sample", type=int, help="with --test: this many of its paragraphs, a seeded sample")
    ap.add_argument("--out", default=str(ROOT / "bench/results/lm_mixture.json"))
    args = ap.parse_args()
    from zhseq.pipeline import load
    from zhseq.modeling import special_mask

    t0 = time.perf_counter()
    model = load(args.model, engine="torch")
    model.net.eval()
    encode = lambda text: model.vocab.encode(model.tokenizer.cut(text))  # noqa: E731
    train = [Path(p) for p in args.train] if args.train else TRAIN
    kn = KneserNey(args.order, len(model.vocab)).fit([encode(t) for path in train for t in read_paragraphs(path)])
    rankable = ~special_mask(len(model.vocab)).numpy()
    result = {"model": args.model, "ngram": f"interpolated modified Kneser-Ney, order {args.order} (bench/ngram_lm.py)",
              "train": [str(p.resolve().relative_to(ROOT)) for p in train],
              "ngram_entries": {str(k): len(kn.levels[k]) for k in range(2, args.order + 1)}}
    if args.test:
        texts = read_paragraphs(args.test)
        if args.sample:
            random.Random(0).shuffle(texts)
            texts = texts[: args.sample]
        result["test_file"], result["paragraphs"] = args.test, len(texts)
        result["test"] = score(model, kn, [model.tokenizer.cut(t) for t in texts], rankable)
        result["seconds"] = round(time.perf_counter() - t0, 1)
        print(json.dumps(result, indent=2))
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        return
    for split in ("valid", "test"):
        paragraphs = [model.tokenizer.cut(t) for t in read_paragraphs(C / f"peoples_daily/{split}.txt.gz")]
        result[split] = score(model, kn, paragraphs, rankable)
        print(split, json.dumps(result[split]), file=sys.stderr, flush=True)
    best = max(WEIGHTS, key=lambda lam: result["valid"][str(lam)]["top5"])
    test = result["test"]
    result["chosen_on_valid"] = best
    result["test_at_chosen"] = test[str(best)]
    result["top5_gain_points_over_5gram"] = 100 * (test[str(best)]["top5"] - test["0.0"]["top5"])
    result["top5_gain_points_lstm_alone"] = 100 * (test["1.0"]["top5"] - test["0.0"]["top5"])
    result["perplexity_ratio_to_5gram"] = test[str(best)]["perplexity"] / test["0.0"]["perplexity"]
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result, indent=2))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
