"""What `pip install zhseq` costs: install time and installed size of the plain install (prediction, numpy
engine) against the install with training (`zhseq[train]`: torch, datasets, scikit-learn, what every install
was before the extras), each in a fresh venv; then the cold start of `zhseq sentiment "…"` in the plain one.

    python bench/install_size.py            # ~3 min; writes bench/results/install_size.json

Both installs build the same local wheel (`pip install .`, the shipped models included) and take packages
from pip's cache as warmed by a first, unmeasured install of each (so the times compare resolving, unpacking
and compiling, not the network). torch is pinned to 2.13.0 in the [train] install, as `.ci/run` does: the
range alone would take the CUDA build on Linux. Size: the venv's site-packages (bytes on disk). Cold start:
wall seconds and peak resident memory (MiB, ru_maxrss of the child) of a new process, median of 7.
"""
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTALLS = {
    "plain": ["."],
    "train": ["torch==2.13.0", ".[train]"],
}
TEXT = "这家餐厅的菜很好吃"


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def install(name: str, where: Path) -> dict:
    venv = where / name
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    t0 = time.perf_counter()
    subprocess.run(pip + INSTALLS[name], cwd=ROOT, check=True)
    seconds = time.perf_counter() - t0
    site = next((venv / "lib").glob("python3*/site-packages"))
    freeze = subprocess.run([str(venv / "bin/python"), "-m", "pip", "freeze"], capture_output=True, text=True).stdout
    return {"seconds": round(seconds, 1), "site_packages_mib": round(dir_bytes(site) / 2**20, 1),
            "packages": len(freeze.split()), "venv": venv}


def cold_start(venv: Path, runs: int = 7) -> dict:
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run([str(venv / "bin/zhseq"), "sentiment", TEXT], capture_output=True, text=True,
                             check=True, cwd="/").stdout
        walls.append(time.perf_counter() - t0)
    return {"seconds_median": round(statistics.median(walls), 3), "output": out.strip()}


def peak_rss_mib(venv: Path) -> float:
    """Peak RSS of one `zhseq sentiment` process, measured from a fresh Python parent (ru_maxrss is a max)."""
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], capture_output=True, check=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    values = [int(subprocess.run([sys.executable, "-c", code, str(venv / "bin/zhseq"), "sentiment", TEXT],
                                 capture_output=True, text=True, check=True, cwd="/").stdout) for _ in range(3)]
    return round(statistics.median(values) / 1024, 1)


def main():
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in INSTALLS:  # warm pip's cache and the wheel build once, unmeasured
            shutil.rmtree(install(name, tmp / "warm")["venv"])
        for name in INSTALLS:
            r = install(name, tmp)
            venv = r.pop("venv")
            if name == "plain":
                r["torch_installed"] = (next((venv / "lib").glob("python3*/site-packages")) / "torch").exists()
                r["cold_start"] = cold_start(venv)
                r["cold_start"]["peak_rss_mib"] = peak_rss_mib(venv)
            results[name] = r
            print(name, json.dumps(r, ensure_ascii=False), flush=True)
    results["python"] = sys.version.split()[0]
    results["command"] = "python bench/install_size.py"
    out = ROOT / "bench/results/install_size.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
