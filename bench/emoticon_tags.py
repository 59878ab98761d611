"""Weibo emoticon tags (``[哈哈]``, ``[泪]``): does the sentiment model read them?

``bench/data/emoticon_tags.tsv`` holds 40 common Weibo emoticon tags, 20 positive and 20 negative, labelled
by what the emoticon shows. The list and its labels were written for this check before any model was run on
it; it is small and hand-labelled, so it shows the kind of the change, not a rate to quote for posts.

Each tag is scored by the shipped sentiment model alone and after two neutral contexts (``收到了``,
``今天``), in two readings:
- ``unknown token``: the tag as one token, which the model's vocabulary lacks (``<unk>``): how the shipped
  model read tags before ``Tokenizer.read_tags``;
- ``its name``: a tag outside the vocabulary read as its name (``[哈哈]`` → 哈哈), as it is read now.

Usage: python bench/emoticon_tags.py [--model sentiment] [--json]
Results: bench/results/emoticon_tags.json
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="sentiment")
    parser.add_argument("--json", action="store_true", help="write bench/results/emoticon_tags.json")
    args = parser.parse_args()
    from emoji_polarity import agreement
    from zhseq.pipeline import load

    with open(ROOT / "bench/data/emoticon_tags.tsv", encoding="utf-8", newline="") as f:
        rows = [(r["tag"], r["label"]) for r in csv.DictReader(f, delimiter="\t")]
    clf = load(args.model, task="sentiment", engine="numpy")
    tokenizer = clf.tokenizer
    unknown = sum(tag not in clf.vocab for tag, _ in rows)
    results = {"model": args.model, "n": len(rows), "positive": sum(y == "positive" for _, y in rows),
               "outside_vocabulary": unknown}
    results["agreement"] = agreement(clf, rows, {
        "unknown token": lambda: setattr(tokenizer, "read_tags", lambda words, known: words),  # every tag one <unk>
        "its name": lambda: delattr(tokenizer, "read_tags")})  # the class's method again
    print(f"{unknown} of the {len(rows)} tags are outside the model's vocabulary")
    if args.json:
        (ROOT / "bench/results/emoticon_tags.json").write_text(json.dumps(results, indent=1, ensure_ascii=False)
                                                               + "\n")


if __name__ == "__main__":
    main()
