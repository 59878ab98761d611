"""The linear floor on ChnSentiCorp, and what averaging it with a zhseq model would buy.

TF-IDF (sublinear tf, min_df 2) over jieba words and word bigrams, optionally plus character 1-3-grams, with
logistic regression (C chosen on dev among 1, 4, 16), trained on ChnSentiCorp train alone or on train plus
`corpora/reviews`; then the mean of its positive probability and a zhseq model's, with the model's weight
w in {0.3, 0.5, 0.7}. Tokens are zhseq's default Tokenizer (jieba, HMM off); the features are bench/tfidf.py's,
as bench/domain_dev.py's are.

Usage: python bench/tfidf_baseline.py [--model zhseq/models/sentiment]   (needs scikit-learn;
writes bench/results/tfidf_baseline.json)
"""
import argparse
import gzip
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
C = ROOT / "corpora"


def read(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        next(f)
        rows = [line.rstrip("\n").split("\t", 1) for line in f]
    return [t for _, t in rows], np.array([label == "positive" for label, _ in rows])


def main():
    from sklearn.linear_model import LogisticRegression
    from tfidf import jieba_words, vectorizer

    from zhseq.pipeline import SentimentClassifier
    from zhseq.tokenizer import Tokenizer

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None, help="zhseq sentiment model (default: the shipped one)")
    args = ap.parse_args()
    tok = Tokenizer()
    train, y_train = read(C / "chnsenticorp/train.tsv.gz")
    dev, y_dev = read(C / "chnsenticorp/dev.tsv.gz")
    test, y_test = read(C / "chnsenticorp/test.tsv.gz")
    reviews, y_reviews = read(C / "reviews/train.tsv.gz")
    train_texts = set(train)
    unseen = np.array([t not in train_texts for t in test])
    words = {name: jieba_words(tok, texts)
             for name, texts in (("train", train), ("dev", dev), ("test", test), ("reviews", reviews))}

    model = SentimentClassifier.from_pretrained(args.model)
    pos = model.labels.index("positive")
    nn = {"dev": model.predict_proba(dev, content=True)[0][:, pos], "test": model.predict_proba(test, content=True)[0][:, pos]}

    def scores(p_dev, p_test):
        right = (p_test > 0.5) == y_test
        return {"dev": round(float(((p_dev > 0.5) == y_dev).mean()), 4), "test": round(float(right.mean()), 4),
                "unseen": round(float(right[unseen].mean()), 4)}

    result = {"zhseq_model": str(model.path), "zhseq_alone": scores(nn["dev"], nn["test"]), "runs": []}
    for data in ("train", "train+reviews"):
        texts = words["train"] + (words["reviews"] if data == "train+reviews" else [])
        labels = np.concatenate([y_train, y_reviews]) if data == "train+reviews" else y_train
        for features in ("words 1-2", "words 1-2 + chars 1-3"):
            vec = vectorizer(chars=features != "words 1-2")
            x = vec.fit_transform(texts)
            fits = [LogisticRegression(C=c, max_iter=2000).fit(x, labels) for c in (1, 4, 16)]
            x_dev, x_test = vec.transform(words["dev"]), vec.transform(words["test"])
            best = max(fits, key=lambda lr: (lr.predict(x_dev) == y_dev).mean())
            lin = {"dev": best.predict_proba(x_dev)[:, 1], "test": best.predict_proba(x_test)[:, 1]}
            run = {"data": data, "features": features, "C": best.C, "n_features": x.shape[1],
                   "alone": scores(lin["dev"], lin["test"]), "averaged_with_zhseq": {}}
            for w in (0.3, 0.5, 0.7):
                run["averaged_with_zhseq"][f"w={w}"] = scores(w * nn["dev"] + (1 - w) * lin["dev"],
                                                              w * nn["test"] + (1 - w) * lin["test"])
            result["runs"].append(run)
            print(json.dumps(run), flush=True)
    dest = ROOT / "bench/results/tfidf_baseline.json"
    dest.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["zhseq_alone"]))


if __name__ == "__main__":
    main()
