"""Prediction speed, each measured as whole processes side by side on this machine:

- batch scoring: `zhseq sentiment --input FILE --format jsonl` over the 9,600 ChnSentiCorp train reviews
  (default --workers auto: one process per core; and --workers 1), beside plain jieba (HMM off) segmenting
  the same texts in a Python loop; and SnowNLP's sentiment over the first 1,200 of them, when snownlp is
  installed (`pip install snownlp`), as texts per second;
- one-sentence start: `zhseq sentiment "这家餐厅的菜很好吃"` and `zhseq predict-next "今天天气"` from a cold
  process (wall seconds and peak RSS, median of 5), beside `python -c "import torch"`.

Usage: python bench/scoring_speed.py      (writes bench/results/scoring_speed.json; needs GNU time)
"""
import gzip
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ZHSEQ = [sys.executable, "-m", "zhseq.cli"]


def run(cmd, repeat=1):
    """Median wall seconds and median peak RSS (MiB, from GNU time) over ``repeat`` fresh processes."""
    walls, peaks = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        walls.append(time.perf_counter() - t0)
        if proc.returncode:
            sys.exit(f"{cmd} failed: {proc.stderr[-1000:]}")
        peaks.append(int(proc.stderr.strip().splitlines()[-1]) / 1024)  # GNU time's %M: KiB
    return round(statistics.median(walls), 3), round(statistics.median(peaks), 1)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        texts = Path(tmp) / "reviews.txt"
        with gzip.open(ROOT / "corpora/chnsenticorp/train.tsv.gz", "rt", encoding="utf-8") as f:
            next(f)
            texts.write_text("".join(line.split("\t", 1)[1] for line in f), encoding="utf-8")
        jieba_loop = ("import jieba, sys; jieba.setLogLevel(60); "
                      "[jieba.lcut(t, HMM=False) for t in open(sys.argv[1], encoding='utf-8')]")
        result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"}
        result["batch_9600"] = {
            "jieba_loop_s": run([sys.executable, "-c", jieba_loop, str(texts)], 3)[0],
            "zhseq_sentiment_jsonl_s": run([*ZHSEQ, "sentiment", "--input", str(texts), "--format", "jsonl"], 3)[0],
            "zhseq_sentiment_jsonl_one_process_s": run([*ZHSEQ, "sentiment", "--input", str(texts), "--format",
                                                        "jsonl", "--workers", "1"], 3)[0],
        }
        b = result["batch_9600"]
        b["ratio_zhseq_to_jieba"] = round(b["zhseq_sentiment_jsonl_s"] / b["jieba_loop_s"], 2)
        b["zhseq_texts_per_s"] = round(9600 / b["zhseq_sentiment_jsonl_s"])
        if importlib.util.find_spec("snownlp") is not None:  # pip install snownlp; SnowNLP is slow: 1,200 texts
            few = Path(tmp) / "reviews1200.txt"
            few.write_text("".join(texts.read_text(encoding="utf-8").splitlines(keepends=True)[:1200]),
                           encoding="utf-8")
            snow = ("import sys; from snownlp import SnowNLP; "
                    "[SnowNLP(t.strip() or '。').sentiments for t in open(sys.argv[1], encoding='utf-8')]")
            wall = run([sys.executable, "-c", snow, str(few)], 1)[0]
            result["snownlp_1200"] = {"wall_s": wall, "texts_per_s": round(1200 / wall, 1),
                                      "zhseq_to_snownlp_texts_per_s": round(b["zhseq_texts_per_s"] / (1200 / wall), 1)}
        result["cold_start"] = {}
        for name, cmd in (("sentiment", [*ZHSEQ, "sentiment", "这家餐厅的菜很好吃"]),
                          ("predict_next", [*ZHSEQ, "predict-next", "今天天气"]),
                          ("help", [*ZHSEQ, "--help"]),
                          ("import_torch", [sys.executable, "-c", "import torch"])):
            wall, peak = run(cmd, 5)
            result["cold_start"][name] = {"wall_s": wall, "peak_mib": peak}
    print(json.dumps(result, indent=2))
    dest = ROOT / "bench/results/scoring_speed.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
