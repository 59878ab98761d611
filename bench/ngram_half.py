"""What the shipped sentiment model's n-gram half should be fitted on: ChnSentiCorp train alone, or all of
the training data; and with plain TF-IDF values, or scaled by their naive-Bayes ratio as NBSVM does (the
default). Each is mixed with the shipped model's network, the weight chosen on ChnSentiCorp dev as
`zhseq train` chooses it, and scored on ChnSentiCorp test, its 869 unseen rows, and 5,000 reviews of other
products held out from the n-gram fit (the shipped network itself was trained on them, so its own score
there is optimistic; the comparison between the n-gram halves is what this measures).

Usage: python bench/ngram_half.py      (writes bench/results/ngram_half.json; about 4 minutes)
"""
import json
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
C = ROOT / "corpora"
HELD_OUT = 5000  # reviews of other products kept out of the fit (and, in csc_finetune.py, out of training)


def held_out_split(n: int) -> tuple[list[int], list[int]]:
    """Rows of reviews/train.tsv.gz, shuffled with seed 0: (the HELD_OUT held out, the rest)."""
    order = list(range(n))
    random.Random(0).shuffle(order)
    return order[:HELD_OUT], order[HELD_OUT:]


def read(path):
    from tfidf_baseline import read as read_tsv  # (texts, positive?) from a labelled corpora/ file

    texts, positive = read_tsv(path)
    return texts, positive.astype(np.int64)


def main():
    sys.path.insert(0, str(ROOT))
    from zhseq import ngrams
    from zhseq.api import ngram_logits
    from zhseq.modeling import BackboneConfig, SentimentConfig, SentimentNet
    from zhseq.config import FitConfig, default_of
    from zhseq.pipeline import SentimentClassifier
    from zhseq.training import NGRAM_WEIGHTS, fit_ngrams

    NGRAM_NB = default_of(FitConfig, "ngram_nb")

    model = SentimentClassifier.from_pretrained(None)  # the numpy engine
    assert model.labels == ["negative", "positive"]
    data = {name: read(C / path) for name, path in (("train", "chnsenticorp/train.tsv.gz"),
                                                    ("dev", "chnsenticorp/dev.tsv.gz"),
                                                    ("test", "chnsenticorp/test.tsv.gz"),
                                                    ("reviews", "reviews/train.tsv.gz"))}
    for name, idx in zip(("held_out_reviews", "other_reviews"), held_out_split(len(data["reviews"][0]))):
        data[name] = ([data["reviews"][0][i] for i in idx], data["reviews"][1][idx])
    del data["reviews"]
    train_texts = set(data["train"][0])
    unseen = np.array([t not in train_texts for t in data["test"][0]])
    tokens = {name: [model.tokenizer.cut(t) for t in texts] for name, (texts, _) in data.items()}
    scored = ("dev", "test", "held_out_reviews")
    model.head.ngram_weight = 0.0  # the network alone
    network = {name: model.predict_proba(data[name][0], content=True)[0] for name in scored}

    def scores(probs):
        right = {name: probs[name].argmax(1) == data[name][1] for name in scored}
        return {"dev": float(right["dev"].mean()), "test": float(right["test"].mean()),
                "test_not_in_train": float(right["test"][unseen].mean()),
                "held_out_reviews": float(right["held_out_reviews"].mean())}

    result = {"model": str(model.path), "network_alone": scores(network), "fitted_on": {}}
    for name, parts, nb in (("chnsenticorp train", ["train"], 0.0),
                            ("chnsenticorp train + the other reviews", ["train", "other_reviews"], 0.0),
                            ("chnsenticorp train", ["train"], NGRAM_NB),
                            ("chnsenticorp train + the other reviews", ["train", "other_reviews"], NGRAM_NB)):
        fitted_on = f"{name}, naive-Bayes power {nb}"
        net = SentimentNet(SentimentConfig(BackboneConfig(8, 4, 4), ngram_buckets=ngrams.BUCKETS))
        fit_ngrams(net, sum((tokens[p] for p in parts), []), np.concatenate([data[p][1] for p in parts]).tolist(),
                   nb=nb)
        z = {name: ngram_logits(net, tokens[name]) for name in scored}
        mixed = lambda w: {name: ngrams.mix(network[name], z[name], w) for name in scored}  # noqa: E731
        dev = {w: scores(mixed(w))["dev"] for w in NGRAM_WEIGHTS}
        weight = max(NGRAM_WEIGHTS, key=lambda w: (dev[w], -abs(w - 0.5)))
        result["fitted_on"][fitted_on] = {"weight": weight, "mixed": scores(mixed(weight)),
                                          "ngrams_alone": scores(mixed(1.0))}
        print(json.dumps({fitted_on: result["fitted_on"][fitted_on]}), flush=True)
    (ROOT / "bench/results/ngram_half.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["network_alone"]))


if __name__ == "__main__":
    main()
