"""One epoch of sentiment training on ChnSentiCorp train (9,600 reviews): zhseq's default
`zhseq train sentiment` beside the straightforward PyTorch loop in bench/naive_sentiment.py, on the same
file, both timed as whole processes (imports and tokenising included).

Usage: python bench/train_speed.py [--skip-naive]     (writes bench/results/train_speed.json)
"""
import argparse
import csv
import gzip
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd):
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return wall, proc.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-naive", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "train.csv"
        with gzip.open(ROOT / "corpora/chnsenticorp/train.tsv.gz", "rt", encoding="utf-8") as src, \
                open(data, "w", encoding="utf-8", newline="") as dst:
            next(src)
            w = csv.writer(dst)
            w.writerow(["text", "label"])
            for line in src:
                label, text = line.rstrip("\n").split("\t", 1)
                w.writerow([text, label])
        out = Path(tmp) / "run"
        zwall, _ = timed([sys.executable, "-m", "zhseq.cli", "train", "sentiment", "--data", str(data),
                          "--dev", str(ROOT / "corpora/chnsenticorp/dev.tsv.gz"), "--out", str(out),
                          "--epochs", "1", "--quiet"])
        epoch = json.loads((out / "metrics.json").read_text())["epochs"][0]
        result = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
            "zhseq": {"wall_s": round(zwall, 1), "loop_s": epoch["seconds"], "tokens_per_s": epoch["tokens_per_s"],
                      "dev_accuracy": epoch["dev"]["accuracy"]},
        }
        if not args.skip_naive:
            nwall, nout = timed([sys.executable, str(ROOT / "bench/naive_sentiment.py"), str(data)])
            m = re.search(r"tok_per_s (\d+)", nout)
            result["naive"] = {"wall_s": round(nwall, 1), "tokens_per_s": int(m.group(1))}
            result["speedup_wall"] = round(nwall / zwall, 2)
    print(json.dumps(result, indent=2))
    dest = ROOT / "bench/results/train_speed.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
