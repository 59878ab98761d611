"""Is rjieba token-identical to jieba where zhseq lets it stand in? Every text of every corpus, cut by
``zhseq.tokenizer.Tokenizer`` with each engine under the default model settings (HMM off, NFKC on), then
the same texts with HMM on (where zhseq keeps jieba), every word of jieba's dictionary, and the speed of
both engines.

Usage: python bench/tokenizer_identity.py [--skip-hmm]     (writes bench/results/tokenizer_identity.json)
"""
import argparse
import gzip
import json
import os
import platform
import sys
import time
import unicodedata
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from zhseq.tokenizer import Tokenizer  # noqa: E402

CORPORA = [
    "chnsenticorp/train.tsv.gz", "chnsenticorp/dev.tsv.gz", "chnsenticorp/test.tsv.gz",
    "reviews/train.tsv.gz",
    "peoples_daily/train.txt.gz", "peoples_daily/valid.txt.gz", "peoples_daily/test.txt.gz",
]
SHOWN = 5  # differences kept in the report, per comparison


def read_texts(name: str) -> list[str]:
    """A corpus file's texts: the text column of a .tsv (``label<TAB>text``, header first), or every line."""
    with gzip.open(ROOT / "corpora" / name, "rt", encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if name.endswith(".tsv.gz"):
        return [line.rstrip("\r").split("\t", 1)[1] for line in lines[1:]]
    return [line.rstrip("\r") for line in lines]


def first_difference(a: list[str], b: list[str]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def compare(texts: dict[str, list[str]], cut_a, cut_b) -> dict:
    """Cut every text both ways; counts per file and the first few differences (with context)."""
    files, shown, total, differ = {}, [], 0, 0
    for name, items in texts.items():
        n_diff = 0
        for line, text in enumerate(items, 2 if name.endswith(".tsv.gz") else 1):
            a, b = cut_a(text), cut_b(text)
            if a != b:
                n_diff += 1
                if len(shown) < SHOWN:
                    i = first_difference(a, b)
                    shown.append({"file": name, "line": line, "jieba": a[max(0, i - 3) : i + 4],
                                  "rjieba": b[max(0, i - 3) : i + 4]})
        files[name] = {"texts": len(items), "differ": n_diff}
        total, differ = total + len(items), differ + n_diff
    return {"texts": total, "differ": differ, "files": files, "first_differences": shown}


def timed_cuts(tok: Tokenizer, texts: list[str]) -> dict:
    t0 = time.perf_counter()
    tok.cut("预热")  # the dictionary load, timed on its own
    t1 = time.perf_counter()
    tokens = sum(len(tok.cut(t)) for t in texts)
    t2 = time.perf_counter()
    chars = sum(len(t) for t in texts)
    return {"first_cut_s": round(t1 - t0, 3), "cut_s": round(t2 - t1, 2),
            "texts_per_s": round(len(texts) / (t2 - t1)), "chars_per_s": round(chars / (t2 - t1)),
            "tokens": tokens}


def dictionary_check(jieba_tok, rjieba_tok) -> dict:
    """Every word of jieba's dictionary: known to rjieba, cut alone the same way, and (for the words that
    cut to themselves) with the same frequency, read back through ``suggest_freq`` (freq or freq + 1)."""
    freq = jieba_tok.FREQ
    words = [w for w, f in freq.items() if f]
    prefixes = [w for w, f in freq.items() if not f]  # jieba's non-word prefixes
    unknown = [w for w in words if not rjieba_tok.has_word(w)]
    extra = [w for w in prefixes if rjieba_tok.has_word(w)]
    cut_differ, freq_differ, freq_checked = [], [], 0
    for w in words:
        a = jieba_tok.lcut(w, HMM=False)
        if a != rjieba_tok.cut(w, hmm=False):
            cut_differ.append(w)
        elif a == [w]:
            freq_checked += 1
            if rjieba_tok.suggest_freq(w) - freq[w] not in (0, 1):
                freq_differ.append(w)
    return {"jieba_words": len(words), "unknown_to_rjieba": len(unknown),
            "jieba_prefixes_that_rjieba_calls_words": len(extra),
            "words_cut_differently": len(cut_differ), "frequency_checked": freq_checked,
            "frequency_differs": len(freq_differ),
            "examples": (unknown + extra + cut_differ + freq_differ)[:SHOWN]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-hmm", action="store_true", help="leave out the HMM-on comparison (slow)")
    ap.add_argument("--out", default=str(ROOT / "bench/results/tokenizer_identity.json"))
    args = ap.parse_args()

    texts = {name: read_texts(name) for name in CORPORA}
    every = [t for items in texts.values() for t in items]
    jieba_tok = Tokenizer(engine="jieba")
    rjieba_tok = Tokenizer(engine="rjieba")
    assert Tokenizer().engine == "rjieba", "the default settings should pick rjieba"
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "versions": {"jieba": version("jieba"), "rjieba": version("rjieba")},
        "settings": jieba_tok.to_dict(),
        "corpus_texts": len(every),
        "corpus_chars": sum(len(t) for t in every),
    }
    print(f"{len(every):,} texts, {report['corpus_chars']:,} characters", file=sys.stderr)

    report["speed"] = {"jieba": timed_cuts(jieba_tok, every), "rjieba": timed_cuts(rjieba_tok, every)}
    report["speed"]["speedup"] = round(report["speed"]["jieba"]["cut_s"] / report["speed"]["rjieba"]["cut_s"], 1)
    print("speed", json.dumps(report["speed"]), file=sys.stderr)

    # What a model sees: Tokenizer.cut (NFKC, whitespace dropped) with each engine.
    report["default_settings"] = compare(texts, jieba_tok.cut, rjieba_tok.cut)
    # Stronger: the engines' raw output on the NFKC text, whitespace tokens included.
    j, r = jieba_tok.jieba, rjieba_tok.rjieba
    report["raw_nfkc"] = compare(texts, lambda t: j.lcut(unicodedata.normalize("NFKC", t), HMM=False),
                                 lambda t: r.cut(unicodedata.normalize("NFKC", t), hmm=False))
    print("default settings:", report["default_settings"]["differ"], "differ;",
          "raw:", report["raw_nfkc"]["differ"], "differ", file=sys.stderr)

    report["dictionary"] = dictionary_check(j, r)
    print("dictionary", json.dumps(report["dictionary"], ensure_ascii=False), file=sys.stderr)

    if not args.skip_hmm:  # why Tokenizer never picks rjieba with HMM on
        report["hmm_on"] = compare(texts, lambda t: j.lcut(unicodedata.normalize("NFKC", t), HMM=True),
                                   lambda t: r.cut(unicodedata.normalize("NFKC", t), hmm=True))
        print("hmm on:", report["hmm_on"]["differ"], "differ", file=sys.stderr)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(out)
    return 0 if report["default_settings"]["differ"] == report["raw_nfkc"]["differ"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
