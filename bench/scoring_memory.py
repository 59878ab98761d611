"""Peak memory of batch scoring as the input grows: `zhseq sentiment --input FILE --format jsonl` over the
9,600 ChnSentiCorp train reviews repeated 1x and 10x (96,000 lines), with one process and with the default
`--workers auto`. Peak RSS is GNU time's %M: the largest of the process and the children it waited for.

Usage: python bench/scoring_memory.py      (writes bench/results/scoring_memory.json; needs GNU time)
"""
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def peak(cmd):
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    if proc.returncode:
        sys.exit(f"{cmd} failed: {proc.stderr[-1000:]}")
    return round(int(proc.stderr.strip().splitlines()[-1]) / 1024, 1), round(time.perf_counter() - t0, 1)


def main():
    with gzip.open(ROOT / "corpora/chnsenticorp/train.tsv.gz", "rt", encoding="utf-8") as f:
        next(f)
        lines = "".join(line.split("\t", 1)[1] for line in f)
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for times in (1, 10):
            path = Path(tmp) / f"reviews{times}.txt"
            path.write_text(lines * times, encoding="utf-8")
            for workers in ("1", "auto"):
                mib, wall = peak([sys.executable, "-m", "zhseq.cli", "sentiment", "--input", str(path), "--format",
                                  "jsonl", "--workers", workers])
                result["runs"].append({"lines": 9600 * times, "workers": workers, "peak_mib": mib, "wall_s": wall})
                print(json.dumps(result["runs"][-1]), flush=True)
    (ROOT / "bench/results/scoring_memory.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
