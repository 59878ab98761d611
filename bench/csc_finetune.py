"""Does fine-tuning the shipped sentiment recipe on ChnSentiCorp train help, and what does it cost beyond
ChnSentiCorp's domains?

The shipped recipe (`build_default_models.py sentiment`) learns ChnSentiCorp train and the other reviews
together. Fine-tuned on ChnSentiCorp train alone afterwards (`zhseq finetune`, which also refits the
n-gram half on the new data), it scores more on ChnSentiCorp test. To see what that costs elsewhere, this
script holds 5,000 reviews of other products out of training (the same 5,000 as `ngram_half.py`), trains
the recipe on the rest, fine-tunes that model, and scores both on ChnSentiCorp dev, test and its 869
unseen rows, and on the held-out reviews.

Usage: python bench/csc_finetune.py [--epochs 2]
       (writes bench/results/csc_finetune.json; about 5 minutes; needs runs/default-sentiment-backbone)
"""
import argparse
import gzip
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
C = ROOT / "corpora"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ngram_half import HELD_OUT, held_out_split  # noqa: E402  (the same 5,000 reviews)


def split_reviews(folder: Path) -> tuple[Path, Path]:
    """reviews/train.tsv.gz → files of (the 5,000 held-out rows, the rest), split by ngram_half.held_out_split."""
    with gzip.open(C / "reviews/train.tsv.gz", "rt", encoding="utf-8") as f:
        header, *rows = f.read().splitlines()
    held_out, rest = held_out_split(len(rows))
    paths = folder / "held-out-reviews.tsv", folder / "other-reviews.tsv"
    for path, idx in zip(paths, (held_out, sorted(rest))):
        path.write_text("\n".join([header] + [rows[i] for i in idx]) + "\n", encoding="utf-8")
    return paths


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs (default 2)")
    ap.add_argument("--out", default=str(ROOT / "runs/csc-finetune"))
    args = ap.parse_args()

    from build_default_models import RECIPES
    from eval_chnsenticorp import score

    from zhseq import evaluate, finetune, train

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    held_out, other = split_reviews(out)
    recipe = RECIPES["sentiment"]
    models, minutes = {}, {}
    t0 = time.time()
    models["recipe"] = train("sentiment", [str(C / "chnsenticorp/train.tsv.gz"), str(other)], dev=str(recipe["dev"]),
                             out=out / "recipe", **recipe["options"])
    minutes["recipe"] = (time.time() - t0) / 60
    t0 = time.time()
    models["recipe, then fine-tuned on chnsenticorp train"] = finetune(
        models["recipe"], [str(C / "chnsenticorp/train.tsv.gz")], dev=str(recipe["dev"]), out=out / "finetuned",
        epochs=args.epochs)
    minutes["recipe, then fine-tuned on chnsenticorp train"] = (time.time() - t0) / 60
    result = {"held_out_reviews": HELD_OUT, "finetune_epochs": args.epochs, "models": {}}
    for name, path in models.items():
        scores = score(path)
        reviews = evaluate(path, str(held_out))
        scores["held_out_reviews"] = {k: reviews[k] for k in ("n", "accuracy", "macro_f1")}
        result["models"][name] = {"minutes": round(minutes[name], 1), "scores": scores}
        print(json.dumps({name: result["models"][name]}, ensure_ascii=False), flush=True)
    (ROOT / "bench/results/csc_finetune.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
