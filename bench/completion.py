"""Half-typed words: does ``predict-next`` finish the word being typed?

Two held-out sets the next-word model never trained on: People's Daily test, and the ChnSentiCorp test rows
whose text is not in ChnSentiCorp train. From each, 2,000 words of two or more Chinese characters are drawn
uniformly (seeded) among all such words of the set as the model's tokenizer cuts it; each is cut after 1 …
len-1 of its characters (drawn too), and the prefix is the text before the word plus the typed characters,
as a user has it on screen (cut again by the tokenizer, which may cut the typed characters into other
words than the whole text had). The answer is the characters still to type (``祝你生日快`` → ``乐``); a
prefix scores top-k when the answer is among the k answers of ``predict_next``.

Variants: ``stems=J`` takes the unfinished word to be the prefix's last 1 … J words joined
(``NextWordPredictor.stem_words``; 1 was the rule before this benchmark, 0 is a plain next-word model that
never completes a word); ``+dictionary`` also completes words of jieba's dictionary outside the vocabulary
(``NextWordPredictor.dictionary_words``).

Usage: python bench/completion.py [--model lm] [--n 2000] [--stems 0 1 2 3] [--json]
Results: bench/results/completion.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HAN = re.compile(r"[\u4e00-\u9fff]{2,}")
C = ROOT / "corpora"


def texts(path: Path, column: str | None) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    if column is None:
        return [x for x in lines if x.strip()]
    at = lines[0].split("\t").index(column)
    return [row.split("\t")[at] for row in lines[1:] if row.strip()]


def prefixes(model, corpus: list[str], n: int, seed: int) -> list[tuple[str, str]]:
    """n (prefix, answer) pairs, the words drawn uniformly among all words of two or more Chinese
    characters in the corpus, each text as the model's tokenizer normalises it."""
    spans = []
    for text in map(model.tokenizer.normalize, corpus):
        at = 0
        for w in model.tokenizer.cut(text):
            j = text.find(w, at)
            if j < 0:  # a token that is not the text's own characters (an emoji's name): stop here
                break
            if HAN.fullmatch(w):
                spans.append((text, j, w))
            at = j + len(w)
    rng = random.Random(seed)
    out = []
    for text, j, w in rng.sample(spans, min(n, len(spans))):
        c = rng.randint(1, len(w) - 1)
        out.append((text[: j + c], w[c:]))
    return out


def score(model, pairs, stems: int, k: int = 5) -> dict:
    answers = []
    model.stem_words = stems
    for start in range(0, len(pairs), 256):
        batch = pairs[start:start + 256]
        answers += model.predict_next([p for p, _ in batch], k=k)
    top1 = sum(a[0]["token"] == want for a, (_, want) in zip(answers, pairs) if a)
    topk = sum(want in [x["token"] for x in a] for a, (_, want) in zip(answers, pairs))
    return {"top1": round(100 * top1 / len(pairs), 2), f"top{k}": round(100 * topk / len(pairs), 2),
            "n": len(pairs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="lm")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stems", type=int, nargs="+", default=[0, 1, 2, 3])  # each also +dictionary (J > 0)
    parser.add_argument("--json", action="store_true", help="write bench/results/completion.json")
    args = parser.parse_args()
    from zhseq.pipeline import load

    model = load(args.model, task="lm", engine="numpy")
    results = {}
    train = set(texts(C / "chnsenticorp/train.tsv.gz", "text"))
    sets = {"peoples_daily_test": texts(C / "peoples_daily/test.txt.gz", None),
            "chnsenticorp_test_not_in_train": [t for t in texts(C / "chnsenticorp/test.tsv.gz", "text")
                                               if t not in train]}
    for name, corpus in sets.items():
        pairs = prefixes(model, corpus, args.n, args.seed)
        for stems in args.stems:
            for dictionary in (False, True) if stems else (False,):
                model.dictionary_words = dictionary
                r = score(model, pairs, stems)
                key = f"stems={stems}" + (" +dictionary" if dictionary else "")
                results.setdefault(name, {})[key] = r
                print(name, key, r, flush=True)
    if args.json:
        out = ROOT / "bench/results/completion.json"
        out.write_text(json.dumps({"model": args.model, "seed": args.seed, "results": results}, indent=1,
                                  ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
