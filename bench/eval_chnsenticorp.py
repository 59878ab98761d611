"""Score a sentiment model on ChnSentiCorp test: all 1,200 rows, and the 869 rows whose text is not
also in the train split (the standard split shares 331 test texts with train).

Usage: python bench/eval_chnsenticorp.py MODEL_DIR [--json]
"""
import argparse
import gzip
import json
import tempfile
from pathlib import Path

from zhseq import evaluate

CORPORA = Path(__file__).resolve().parent.parent / "corpora" / "chnsenticorp"


def rows(split):
    with gzip.open(CORPORA / f"{split}.tsv.gz", "rt", encoding="utf-8") as f:
        next(f)  # header
        return [line.rstrip("\n").split("\t", 1) for line in f]


def score(model) -> dict:
    """{"test": {...}, "test_not_in_train": {...}, "dev": {...}}, each with n, accuracy, macro_f1."""
    train_texts = {text for _, text in rows("train")}
    unseen = [(label, text) for label, text in rows("test") if text not in train_texts]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "test-not-in-train.tsv"
        path.write_text("label\ttext\n" + "".join(f"{l}\t{t}\n" for l, t in unseen), encoding="utf-8")
        parts = {
            "test": evaluate(model, str(CORPORA / "test.tsv.gz")),
            "test_not_in_train": evaluate(model, str(path)),
            "dev": evaluate(model, str(CORPORA / "dev.tsv.gz")),
        }
    return {k: {"n": r["n"], "accuracy": r["accuracy"], "macro_f1": r["macro_f1"]} for k, r in parts.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = score(args.model)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key in ("dev", "test", "test_not_in_train"):
            r = result[key]
            print(f"{key:18s} n={r['n']:5d}  accuracy {100 * r['accuracy']:.2f} %  macro-F1 {100 * r['macro_f1']:.2f} %")


if __name__ == "__main__":
    main()
