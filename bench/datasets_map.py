"""Would `datasets` `map(..., num_proc=2)` with its cache tokenise a large training corpus faster than today?

Today training cuts every text with ``Tokenizer().cut`` in one plain Python loop. The alternative is
``datasets.Dataset.from_dict({"text": texts}).map(cut, batched=True, num_proc=2)``, whose result `datasets`
keeps in an Arrow cache file, so a second training run on the same corpus could load it instead of cutting
again. Three ways, on every text of corpora/reviews/train.tsv.gz (66,976 reviews, 3.7 M characters) read with
zhseq's reader (``zhseq.data.read_rows``):

- ``plain``: today's path, ``[tok.cut(t) for t in texts]``;
- ``map-first``: ``map`` with ``num_proc=2`` into an empty cache folder (the first run on a corpus);
- ``map-cached``: the same call again, the cache files in place (every later run on the same corpus).

Each way runs in a fresh process; ``--repeat`` rounds (default 3) interleave the three, and each figure is
the median of its rounds. Per run: ``tokenise_s`` is the step that gives the tokens (the loop, or the ``map``
call, making the tokeniser included: in each worker for ``map``), ``to_lists_s`` turns the Arrow column back into the Python lists training goes on with, ``import_s``
is ``import datasets`` (zero for ``plain``), ``process_s`` the whole process as the parent saw it (Python and
zhseq start-up, reading the file, tokeniser set-up included). The `map` runs load the cache by file name
(``cache_file_name``): a table made with ``from_dict`` has a random fingerprint, so without a name `datasets`
would never find its own cache.

Usage: python bench/datasets_map.py [--repeat N]     (writes bench/results/datasets_map.json)
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpora" / "reviews" / "train.tsv.gz"
WAYS = ("plain", "map-first", "map-cached")


class Cut:
    """``map``'s function: a batch of texts → their tokens. The tokeniser (rjieba's cannot be pickled) is made
    where the function runs: once in this process for ``plain``, once in each worker for ``map``."""

    def __init__(self):
        self.tokenizer = None

    def __getstate__(self):
        return {}

    def __setstate__(self, state):
        self.tokenizer = None

    def __call__(self, batch):
        return {"tokens": [self.cut(text) for text in batch["text"]]}

    def cut(self, text):
        if self.tokenizer is None:
            from zhseq.tokenizer import Tokenizer

            self.tokenizer = Tokenizer()
        return self.tokenizer.cut(text)


def child(way: str, cache: str) -> dict:
    """One run, in this process: read the corpus, tokenise it one way, report the times as JSON."""
    from zhseq.data import read_rows

    t0 = time.perf_counter()
    texts = [row.text for row in read_rows(str(CORPUS), labels="none")]
    result = {"way": way, "texts": len(texts), "read_s": time.perf_counter() - t0, "import_s": 0.0,
              "to_lists_s": 0.0}
    cut = Cut()
    if way == "plain":
        t0 = time.perf_counter()
        tokens = [cut.cut(text) for text in texts]
        result["tokenise_s"] = time.perf_counter() - t0
        result["engine"] = cut.tokenizer.engine
    else:
        t0 = time.perf_counter()
        import datasets

        datasets.utils.logging.disable_progress_bar()
        datasets.utils.logging.set_verbosity_error()
        result["import_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        mapped = datasets.Dataset.from_dict({"text": texts}).map(
            cut, batched=True, num_proc=2, remove_columns=["text"],
            cache_file_name=os.path.join(cache, "tokens.arrow"))
        result["tokenise_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        tokens = mapped.data.column("tokens").to_pylist()  # pyarrow's own conversion: faster than mapped["tokens"]
        result["to_lists_s"] = time.perf_counter() - t0
        result["cache_files"] = sorted(os.listdir(cache))
    result["tokens"] = sum(map(len, tokens))
    return result


def run(way: str, cache: str) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", way, "--cache", cache],
                          capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{way} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_s"] = wall
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=WAYS, help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.cache)))
        return

    runs = {way: [] for way in WAYS}
    for round_ in range(args.repeat):
        cache = tempfile.mkdtemp(prefix="zhseq-map-bench-")
        try:
            for way in WAYS:  # map-first fills the cache folder that map-cached then finds
                result = run(way, cache)
                runs[way].append(result)
                print(f"round {round_ + 1} {way:10s} tokenise {result['tokenise_s']:6.2f} s, "
                      f"to lists {result['to_lists_s']:5.2f} s, process {result['process_s']:6.2f} s", flush=True)
        finally:
            shutil.rmtree(cache, ignore_errors=True)

    tokens = {r["tokens"] for rs in runs.values() for r in rs}
    assert len(tokens) == 1, f"the ways disagree on the number of tokens: {tokens}"
    keys = ("tokenise_s", "to_lists_s", "import_s", "read_s", "process_s")
    summary = {way: {k: round(statistics.median(r[k] for r in rs), 3) for k in keys} for way, rs in runs.items()}
    for way, s in summary.items():
        s["tokens_ready_s"] = round(s["tokenise_s"] + s["to_lists_s"] + s["import_s"], 3)
    plain = summary["plain"]["tokens_ready_s"]
    document = {
        "question": "datasets map(num_proc=2) with its cache vs today's plain-Python Tokenizer().cut loop",
        "corpus": str(CORPUS.relative_to(ROOT)),
        "texts": runs["plain"][0]["texts"],
        "tokens": tokens.pop(),
        "engine": runs["plain"][0]["engine"],
        "repeat": args.repeat,
        "median": summary,
        "speedup_vs_plain": {way: round(plain / s["tokens_ready_s"], 2) for way, s in summary.items()},
        "note": "tokens_ready_s = import_s + tokenise_s + to_lists_s: from the texts to the token lists training "
                "uses; process_s is the whole fresh process (start-up, reading, tokeniser set-up included)",
        "runs": runs,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_at_end": os.getloadavg()},
    }
    import datasets  # noqa: E402 -- only for the version, after the timed runs

    document["datasets_version"] = datasets.__version__
    out = ROOT / "bench" / "results" / "datasets_map.json"
    out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({"median": summary, "speedup_vs_plain": document["speedup_vs_plain"]}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
