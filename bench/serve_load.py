"""Load test of `zhseq serve` over loopback, with wrk (apt-get install wrk) as the client, on this machine.

- one-text requests: 32 connections, each sending POST /v1/sentiment {"texts": [one review]} again as soon as
  its answer arrives, for 20 s: requests/s, latency percentiles (wrk's, from every request), errors (connect,
  read, write, timeout, and any answer other than 2xx), and the server's resident memory sampled every 0.5 s
  (the sum over its processes; flat means the last sample within 10 % of the first, taken after a warm-up);
- 64 texts per request: 8 connections for 20 s, texts/s beside `zhseq sentiment --input FILE --format jsonl`
  (default --workers auto) over the same reviews, timed as a whole process (median of 3).

The texts are the 9,600 ChnSentiCorp train reviews, in order, again and again. wrk runs one thread (the client
must leave the server the CPU); its CPU time and the server's are reported. Goals (issue 15), on 2 cores with
the client on the same machine: 0 errors, p99 ≤ 50 ms and ≥ 1,000 requests/s for one-text requests; with 64
texts per request ≥ 0.7× the CLI's texts/s; memory flat within 10 % over 20,000 requests.

Usage: python bench/serve_load.py [--workers 2] [--seconds 20] [--quick]
       (writes bench/results/serve_load.json; --quick: 3 s phases, 1 CLI run, writes nothing)
"""
import argparse
import gzip
import json
import os
import platform
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ZHSEQ = [sys.executable, "-m", "zhseq.cli"]
RESULTS = ROOT / "bench/results/serve_load.json"

# wrk's Lua side: bodies from a file (one JSON body a line), taken in turn; done() prints the figures as JSON
WRK_SCRIPT = r"""
local bodies, n = {}, 0
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
end
function request()
  n = n + 1
  return wrk.format("POST", "/v1/sentiment", {["Content-Type"] = "application/json"}, bodies[(n % #bodies) + 1])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d, ' ..
    '"max_us": %d, "mean_us": %.1f}\n', summary.requests, summary.duration, summary.bytes, e.connect, e.read,
    e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
"""


def reviews():
    with gzip.open(ROOT / "corpora/chnsenticorp/train.tsv.gz", "rt", encoding="utf-8") as f:
        next(f)
        return [line.rstrip("\n").split("\t", 1)[1] for line in f]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_tree(pid):
    """``pid`` and its descendants (Linux /proc)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()]
        except OSError:
            pass
    return found


def rss_mib(pids):
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def cpu_s(pids):
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / tick


class Sampler(threading.Thread):
    """The server's resident memory (MiB, summed over its processes) every ``every`` seconds."""

    def __init__(self, pids, every=0.5):
        super().__init__(daemon=True)
        self.pids, self.every, self.samples, self.stop = pids, every, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.samples.append(round(rss_mib(self.pids), 1))
            self.stop.wait(self.every)


def wrk(url, bodies_file, script, connections, seconds):
    """One wrk run (one thread); its figures, and the CPU seconds wrk itself used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script),
                          url, "--", str(bodies_file)], capture_output=True, text=True, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if out.returncode or line is None:
        sys.exit(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    r = json.loads(line[len("WRK_JSON "):])
    r["client_cpu_s"] = round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2)
    return r


def summary(r, texts_per_request, server_cpu):
    seconds = r["duration_us"] / 1e6
    errors = sum(r[k] for k in ("connect", "read", "write", "status", "timeout"))
    return {
        "requests": r["requests"], "seconds": round(seconds, 2),
        "requests_per_s": round(r["requests"] / seconds, 1),
        "texts_per_s": round(r["requests"] * texts_per_request / seconds, 1),
        "errors": errors, "errors_by_kind": {k: r[k] for k in ("connect", "read", "write", "status", "timeout")},
        "latency_ms": {k[:-3]: round(r[k] / 1000, 2) for k in ("p50_us", "p90_us", "p99_us", "p999_us", "max_us")},
        "client_cpu_s": r["client_cpu_s"], "server_cpu_s": round(server_cpu, 2),
    }


def cli_texts_per_s(path, n, repeat):
    walls = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([*ZHSEQ, "sentiment", "--input", str(path), "--format", "jsonl"], check=True,
                       stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t0)
    wall = statistics.median(walls)
    return {"texts": n, "wall_s": round(wall, 3), "texts_per_s": round(n / wall, 1), "runs": repeat}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="3 s phases, one CLI run, no results file")
    ap.add_argument("--serve-args", default="", help="more `zhseq serve` options, e.g. '--max-wait-ms 1'")
    args = ap.parse_args()
    seconds = 3 if args.quick else args.seconds
    texts = reviews()
    busy = subprocess.run(["pgrep", "-f", "build_default_models"], capture_output=True, text=True).stdout.split()
    if busy:
        print(f"warning: a training job is running (pids {', '.join(busy)}): the figures are not clean",
              file=sys.stderr)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        script = tmp / "post.lua"
        script.write_text(WRK_SCRIPT)
        one = tmp / "one.jsonl"
        one.write_text("".join(json.dumps({"texts": [t]}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
        batches = [texts[i:i + 64] for i in range(0, len(texts) - 63, 64)]
        many = tmp / "many.jsonl"
        many.write_text("".join(json.dumps({"texts": b}, ensure_ascii=False) + "\n" for b in batches),
                        encoding="utf-8")
        plain = tmp / "reviews.txt"
        plain.write_text("".join(t + "\n" for b in batches for t in b), encoding="utf-8")

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [*ZHSEQ, "serve", "--port", str(port), "--workers", str(args.workers), *args.serve_args.split()]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    with urllib.request.urlopen(url + "/healthz", timeout=2):
                        break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        sys.exit(f"zhseq serve did not start:\n{server.stderr.read()}")
                    time.sleep(0.3)
            time.sleep(3 if args.workers > 1 else 0)  # every worker up (each loads the models)
            pids = process_tree(server.pid)
            wrk(url, one, script, 32, 2)  # warm-up: every worker's first batches, the allocator's pools
            sampler = Sampler(pids)
            cpu0 = cpu_s(pids)
            sampler.start()
            single = wrk(url, one, script, 32, seconds)
            sampler.stop.set()
            sampler.join()
            single = summary(single, 1, cpu_s(pids) - cpu0)
            rss = sampler.samples
            single["rss_mib"] = {"first": rss[0], "last": rss[-1], "max": max(rss), "samples": len(rss),
                                 "growth": round(rss[-1] / rss[0] - 1, 4)}
            cpu0 = cpu_s(pids)
            batch = summary(wrk(url, many, script, 8, seconds), 64, cpu_s(pids) - cpu0)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
        cli = cli_texts_per_s(plain, len(batches) * 64, 1 if args.quick else 3)

    batch["ratio_to_cli"] = round(batch["texts_per_s"] / cli["texts_per_s"], 3)
    goals = {
        "one_text_no_errors": single["errors"] == 0,
        "one_text_p99_le_50ms": single["latency_ms"]["p99"] <= 50,
        "one_text_ge_1000_rps": single["requests_per_s"] >= 1000,
        "batch64_ge_0.7x_cli": batch["ratio_to_cli"] >= 0.7 and batch["errors"] == 0,
        "rss_flat_10pct_over_20000": single["requests"] >= 20000 and abs(single["rss_mib"]["growth"]) <= 0.10,
    }
    result = {
        "command": "python bench/serve_load.py" + (f" --workers {args.workers}" if args.workers != 2 else ""),
        "server": " ".join(["zhseq serve --workers", str(args.workers), *args.serve_args.split()]),
        "client": "wrk 4.1.0 -t1, loopback, a Lua script taking the bodies in turn",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "training_job_running": bool(busy),
        "load_average_after": os.getloadavg(),
        "one_text_32_connections": single,
        "texts_64_8_connections": batch,
        "cli_sentiment_input_jsonl": cli,
        "goals_met": goals,
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if not args.quick:
        RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
