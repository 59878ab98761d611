"""One epoch of sentiment training on ChnSentiCorp train (9,600 reviews): zhseq's default
`zhseq train sentiment` (and the same with --precision bf16) beside the straightforward PyTorch loop in
bench/naive_sentiment.py, on the same file, all timed as whole processes (imports and tokenising included).

Also the loop's tokens/s and the share of the machine's float32 matrix-product rate (torch, 2048-square)
that it reaches, counting 1.57 MFLOP per token for a BiLSTM 128/128 with embedding 128, forward and backward
(2 directions x 2·4H·(E+H) multiply-adds forward, about 3x that with the backward pass).

The machine's speed drifts by ±10 % between runs of a minute, so the three commands run interleaved,
``--repeat`` rounds (default 3), and each figure is the median of its rounds. ``cpu_s`` (user + system time
of the process) is also recorded: on a machine that other jobs share, it moves less than the wall time.

Usage: python bench/train_speed.py [--skip-naive] [--repeat N]     (writes bench/results/train_speed.json)
"""
import argparse
import csv
import gzip
import json
import os
import platform
import statistics
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd):
    """→ (wall seconds, CPU seconds of the process and its children, stdout)."""
    t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall, c1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return wall, (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime), proc.stdout


FLOP_PER_TOKEN = 3 * 2 * 2 * 4 * 128 * (128 + 128)  # 1.57e6


def matmul_gflops() -> float:
    """torch float32 2048-square matrix products per second, best of 5, in GFLOP/s."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = min(_time(lambda: a @ b) for _ in range(5))
    return 2 * 2048**3 / best / 1e9


def _time(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds; medians are reported")
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
        rate = matmul_gflops()
        result = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
            "fp32_matmul_gflops": round(rate),
            "rounds": args.repeat,
        }
        runs: dict[str, list] = {}
        for _ in range(args.repeat):
            if not args.skip_naive:
                nwall, ncpu, nout = timed([sys.executable, str(ROOT / "bench/naive_sentiment.py"), str(data)])
                m = re.search(r"tok_per_s (\d+)", nout)
                runs.setdefault("naive", []).append({"wall_s": nwall, "cpu_s": ncpu, "tokens_per_s": int(m.group(1))})
            for name, extra in (("zhseq", []), ("zhseq_bf16", ["--precision", "bf16"])):
                out = Path(tmp) / name
                shutil.rmtree(out, ignore_errors=True)
                zwall, zcpu, _ = timed([sys.executable, "-m", "zhseq.cli", "train", "sentiment", "--data", str(data),
                                        "--dev", str(ROOT / "corpora/chnsenticorp/dev.tsv.gz"), "--out", str(out),
                                        "--epochs", "1", "--quiet", *extra])
                epoch = json.loads((out / "metrics.json").read_text())["epochs"][0]
                runs.setdefault(name, []).append({"wall_s": zwall, "cpu_s": zcpu, "loop_s": epoch["seconds"],
                                                  "tokens_per_s": epoch["tokens_per_s"],
                                                  "dev_accuracy": epoch["dev"]["accuracy"]})
        for name, rounds in runs.items():
            med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
            entry = {"wall_s": round(med["wall_s"], 1), "wall_s_rounds": [round(r["wall_s"], 1) for r in rounds],
                     "cpu_s": round(med["cpu_s"], 1)}
            if name != "naive":
                entry.update(loop_s=round(med["loop_s"], 2), tokens_per_s=round(med["tokens_per_s"]),
                             share_of_matmul_rate=round(med["tokens_per_s"] * FLOP_PER_TOKEN / 1e9 / rate, 3),
                             dev_accuracy=rounds[0]["dev_accuracy"])
            else:
                entry["tokens_per_s"] = round(med["tokens_per_s"])
            result[name] = entry
        if not args.skip_naive:
            result["speedup_wall"] = round(result["naive"]["wall_s"] / result["zhseq"]["wall_s"], 2)
            result["speedup_wall_bf16"] = round(result["naive"]["wall_s"] / result["zhseq_bf16"]["wall_s"], 2)
    print(json.dumps(result, indent=2))
    dest = ROOT / "bench/results/train_speed.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
