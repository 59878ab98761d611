"""Python API scoring speed with numpy's BLAS threads left as they are, and limited to one, on a machine one other
busy process shares (as a web server's neighbours or a notebook's do).

    python bench/blas_threads.py      # about 15 s; results: bench/results/blas_threads.json

The ``zhseq`` command sets OPENBLAS_NUM_THREADS=1 (zhseq.cli.main); the library leaves the user's process alone,
so the README's Python API section says how to do the same (threadpoolctl's ``threadpool_limits``).
"""
import gzip
import json
import multiprocessing
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench/results/blas_threads.json"


def busy():
    while True:
        pass


def main():
    from threadpoolctl import threadpool_info, threadpool_limits

    from zhseq import SentimentClassifier

    with gzip.open(ROOT / "corpora/chnsenticorp/test.tsv.gz", "rt", encoding="utf-8") as f:
        texts = [line.rstrip("\n").split("\t")[-1] for line in list(f)[1:]] * 2
    clf = SentimentClassifier.from_pretrained("sentiment")
    clf(texts[:10])
    neighbour = multiprocessing.Process(target=busy, daemon=True)
    neighbour.start()
    time.sleep(1)
    runs = {"default": [], "one BLAS thread": []}
    try:
        for _ in range(3):
            t = time.perf_counter()
            clf(texts)
            runs["default"].append(time.perf_counter() - t)
            with threadpool_limits(1, user_api="blas"):
                t = time.perf_counter()
                clf(texts)
                runs["one BLAS thread"].append(time.perf_counter() - t)
    finally:
        neighbour.terminate()
    result = {"texts": len(texts), "cores": os.cpu_count(), "busy_neighbours": 1,
              "blas": [{k: i[k] for k in ("internal_api", "num_threads")} for i in threadpool_info()
                       if i["user_api"] == "blas"],
              "seconds_median": {k: round(sorted(v)[1], 2) for k, v in runs.items()},
              "seconds": {k: [round(x, 2) for x in v] for k, v in runs.items()}}
    RESULTS.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result["seconds_median"]))


if __name__ == "__main__":
    main()
