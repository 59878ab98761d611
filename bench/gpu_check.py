"""Training on a CUDA GPU, checked in one short run: speed beside the naive PyTorch loop moved to the same GPU and
beside the CPU figures, the shipped recipes' dev scores, resume after a kill, and tests/test_device.py there.

    python bench/gpu_check.py --out bench/results/gpu_check.json      # on a machine with a CUDA GPU
    python bench/gpu_check.py --smoke                                 # anywhere (the CPU too): tiny, a few steps

On the device machine of this workplace (one H200, 16 cores), from the repository root, with jieba, rjieba and emoji
as wheels in .whl/ (zhseq itself runs from the tree through a link zhseq/cli → ../cli, as the wheel lays it out):

    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && ln -sfn ../cli zhseq/cli && export PYTHONPATH=/tmp/site:$PWD && PYTHONUNBUFFERED=1 python3 bench/gpu_check.py --out $OUT/gpu_check.json

Stages, in this order, each within what is left of ``--budget`` seconds (default 450), each written to the JSON
as it ends (a run cut short keeps what it measured):

1. environment: torch, CUDA, cuDNN, the GPU, TF32 flags; the dtype torch's bf16 autocast gives a plain nn.LSTM's
   output (zhseq's cells keep float32 under autocast: torch's rule for cuDNN RNNs casts, as far as we know, to
   float16); how far cuDNN's LSTM is from the CPU's with the same weights (float32).
2. speed, one epoch of ChnSentiCorp train (9,600 reviews) as bench/train_speed.py measures the CPU: the naive loop
   of bench/naive_sentiment.py moved to the GPU (cuDNN, batch 64, file order, Adam; the same code plus
   ``.to(device)`` for the model, the ids and the labels) in a process of its own, and ``zhseq train sentiment
   --epochs 1 --device cuda`` (fp32, then ``--precision bf16``). Each: the process's wall time and tokens/s over
   it (what naive_sentiment.py prints), and the training loop's own tokens/s (the GPU synchronised at its end).
   Beside them the CPU figures of bench/results/train_speed.json. Goal: the loop ≥ 5× the naive loop's tokens/s.
3. the shipped recipes of bench/build_default_models.py on the GPU: ``lm`` (the next-word model) and the sentiment
   model, its backbone (``sentiment-backbone``, an lm) first; shortened by ``max_steps`` (the learning rate's
   schedule shortened with it) to what the time left allows, at the rate stage 2 measured; the JSON says by how
   much. Dev scores beside the CPU runs' (the shipped models' config.json). Goal: sentiment dev accuracy within
   seed noise of the CPU run (about ±0.8 points on 1,200 texts, bench/quality.md), if not shortened.
4. determinism: a small model trained twice with one seed, and once killed (SIGKILL) after a checkpoint and
   resumed; model bytes compared. One layer, and two layers with dropout between them (cuDNN's own dropout, whose
   random state no checkpoint can hold). Also the nondeterministic kernels torch names under
   ``torch.use_deterministic_algorithms(True, warn_only=True)``.
5. ``pytest tests/test_device.py`` (its CUDA tests run only where there is a GPU).

``--smoke`` runs every stage on a few hundred rows of each corpus with tiny models and a few steps, on ``--device
auto`` (the CPU here), and writes to a temporary file unless ``--out`` is given; it proves the script, not speed.
"""
import argparse
import csv
import gzip
import hashlib
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
C = ROOT / "corpora"
SEED_NOISE = 0.008  # dev accuracy, 1,200 texts: a run moves by about ±0.8 points between seeds (bench/quality.md)


# -- helpers ---------------------------------------------------------------------------------------------------
def say(*parts):
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, flush=True)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def env() -> dict:
    """The children's environment: this tree importable (zhseq, and zhseq.cli through zhseq/cli or the install)."""
    paths = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1"}


def run(cmd, timeout, **kw):
    """→ (wall seconds, CompletedProcess); a child past ``timeout`` is killed and reported, not fatal."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=max(5, timeout), env=env(), cwd=ROOT,
                              **kw)
    except subprocess.TimeoutExpired:
        return time.perf_counter() - t0, subprocess.CompletedProcess(cmd, -9, "", f"timed out after {timeout:.0f} s")
    return time.perf_counter() - t0, proc


def failure(proc) -> str:
    return f"exit {proc.returncode}: {(proc.stderr or proc.stdout)[-1500:]}"


def zhseq_cli(*args):
    return [sys.executable, "-m", "zhseq.cli", *map(str, args)]


def some_lines(src: Path, dst: Path, n: int) -> Path:
    """``n`` lines spread evenly over a corpus file (every k-th; a .tsv keeps its header), written as the same kind
    of file."""
    opener = gzip.open if src.suffix == ".gz" else open
    with opener(src, "rt", encoding="utf-8") as f:
        lines = f.readlines()
    header = lines[:1] if ".tsv" in src.name else []
    body = lines[len(header):]
    lines = header + body[:: max(1, len(body) // n)][:n]
    dst.parent.mkdir(parents=True, exist_ok=True)
    with (gzip.open if dst.suffix == ".gz" else open)(dst, "wt", encoding="utf-8") as f:
        f.writelines(lines)
    return dst


def tsv_to_csv(src: Path, dst: Path, limit: int | None = None) -> Path:
    """label<TAB>text (gzip) → a CSV with columns text,label, as bench/train_speed.py gives naive_sentiment.py;
    with ``limit``, that many rows spread over the file."""
    with gzip.open(src, "rt", encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t", 1) for line in f][1:]
    if limit is not None:
        rows = rows[:: max(1, len(rows) // limit)][:limit]
    with open(dst, "w", encoding="utf-8", newline="") as out:
        w = csv.writer(out)
        w.writerow(["text", "label"])
        w.writerows([text, label] for label, text in rows)
    return dst


# -- child processes -------------------------------------------------------------------------------------------
def naive_child(path: str, device: str, limit: int | None) -> None:
    """bench/naive_sentiment.py line for line, moved to ``device``: the model, the ids and the labels go there
    (lengths stay on the CPU, where packing reads them). Prints one JSON line: the process's wall time and
    tokens/s over it (as naive_sentiment.py prints them), and the loop's own (the GPU synchronised)."""
    t0 = time.time()
    import collections

    import jieba
    import torch
    import torch.nn as nn

    jieba.setLogLevel(60)
    torch.manual_seed(0)
    dev = torch.device(device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    rows = list(csv.DictReader(open(path, encoding="utf8")))[:limit]
    toks = [jieba.lcut(r["text"], HMM=False) for r in rows]
    labels = sorted({r["label"] for r in rows})
    ys = [labels.index(r["label"]) for r in rows]
    c = collections.Counter(w for t in toks for w in t)
    itos = ["<pad>", "<unk>"] + [w for w, n in c.most_common() if n >= 2]
    stoi = {w: i for i, w in enumerate(itos)}
    data = list(zip([[stoi.get(w, 1) for w in t] or [1] for t in toks], ys))

    class M(nn.Module):
        def __init__(s, V, C):
            super().__init__()
            s.emb = nn.Embedding(V, 128, padding_idx=0)
            s.rnn = nn.LSTM(128, 128, batch_first=True, bidirectional=True)
            s.out = nn.Linear(256, C)

        def forward(s, X, L):
            p = nn.utils.rnn.pack_padded_sequence(s.emb(X), L, batch_first=True, enforce_sorted=False)
            _, (h, _) = s.rnn(p)
            return s.out(torch.cat([h[0], h[1]], -1))

    m = M(len(itos), len(labels)).to(dev)
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    ntok, steps = 0, 0
    sync()
    t1 = time.time()
    for i in range(0, len(data), 64):
        b = data[i:i + 64]
        L = torch.tensor([len(x) for x, _ in b])
        X = torch.zeros(len(b), int(L.max()), dtype=torch.long)
        for j, (x, _) in enumerate(b):
            X[j, :len(x)] = torch.tensor(x)
        opt.zero_grad()
        loss = nn.functional.cross_entropy(m(X.to(dev), L), torch.tensor([y for _, y in b]).to(dev))
        loss.backward()
        opt.step()
        ntok += int(L.sum())
        steps += 1
    sync()
    t2 = time.time()
    print(json.dumps({"wall_s": t2 - t0, "loop_s": t2 - t1, "tokens": ntok, "steps": steps,
                      "tokens_per_s": ntok / (t2 - t0), "loop_tokens_per_s": ntok / (t2 - t1)}))


def determinism_probe_child(device: str, smoke: bool) -> None:
    """A few training steps of a sentiment model (1 and 2 layers) and an lm with sampled softmax under
    ``torch.use_deterministic_algorithms(True, warn_only=True)``: prints the warnings torch gives, one JSON list."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import warnings

    import torch

    from zhseq.training import train

    torch.use_deterministic_algorithms(True, warn_only=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tsv = some_lines(C / "chnsenticorp/train.tsv.gz", tmp / "s.tsv", 300)
        txt = some_lines(C / "peoples_daily/train.txt.gz", tmp / "lm.txt", 300)
        small = dict(embedding_size=16, hidden_size=16, min_freq=1, progress=False, max_steps=4 if smoke else 20,
                     device=device, batch_size=16)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            train("sentiment", str(tsv), out=tmp / "s1", ngrams=False, **small)
            train("sentiment", str(tsv), out=tmp / "s2", ngrams=False, layers=2, **small)
            train("lm", str(txt), out=tmp / "lm", sampled_softmax=64, bptt=16, **small)
    messages = sorted({str(w.message).splitlines()[0][:300] for w in caught})
    print(json.dumps(messages, ensure_ascii=False))


# -- stages ------------------------------------------------------------------------------------------------------
def environment(device) -> dict:
    import torch
    from torch import nn

    from zhseq.cells import build_rnn

    info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "cpu_cores": os.cpu_count(), "device": str(device)}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        info.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1), capability=f"{p.major}.{p.minor}",
                    cudnn=torch.backends.cudnn.version(), cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
                    matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32)
    # does cuDNN's LSTM run in bfloat16 under autocast, or stay in float32?
    lstm = nn.LSTM(128, 128, batch_first=True).to(device)
    x = torch.randn(64, 50, 128, device=device)
    try:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            out, _ = lstm(x)
        info["lstm_dtype_under_bf16_autocast"] = str(out.dtype)
    except Exception as exc:  # noqa: BLE001 — a finding, not a failure
        info["lstm_dtype_under_bf16_autocast"] = f"error: {type(exc).__name__}: {exc}"[:300]
    # the same weights on the CPU and on the device: how far apart in float32 (cuDNN may use TF32)
    torch.manual_seed(0)
    cpu = build_rnn("lstm", input_size=128, hidden_size=128, bidirectional=True).eval()
    dev = build_rnn("lstm", input_size=128, hidden_size=128, bidirectional=True).to(device).eval()
    dev.load_state_dict(cpu.state_dict())
    x = torch.randn(64, 80, 128)
    lengths = torch.randint(1, 81, (64,))
    with torch.no_grad():
        a, _ = cpu(x, lengths)
        b, _ = dev(x.to(device), lengths)
    info["lstm_max_abs_diff_vs_cpu_fp32"] = float((a - b.cpu()).abs().max())
    return info


def speed(args, device, tmp: Path, deadline: float) -> dict:
    limit = 300 if args.smoke else None
    data = tsv_to_csv(C / "chnsenticorp/train.tsv.gz", tmp / "train.csv", limit)
    dev_file = some_lines(C / "chnsenticorp/dev.tsv.gz", tmp / "dev.tsv", 100) if args.smoke \
        else C / "chnsenticorp/dev.tsv.gz"
    tiny = ["--embedding-size", "16", "--hidden-size", "16", "--max-steps", "3"] if args.smoke else []
    out: dict = {"data": "corpora/chnsenticorp/train.tsv.gz" + (f" ({limit} rows of it)" if limit else ""),
                 "epochs": 1, "rounds": args.repeat}
    rounds: dict = {}
    for r in range(args.repeat):
        wall, proc = run([sys.executable, __file__, "--naive-child", data, "--device", str(device),
                          *(["--limit", str(limit)] if limit else [])], deadline - time.time())
        if proc.returncode == 0:
            rounds.setdefault("naive", []).append(json.loads(proc.stdout.strip().splitlines()[-1]))
        else:
            out["naive_error"] = failure(proc)
        for name, extra in (("zhseq", []), ("zhseq_bf16", ["--precision", "bf16"])):
            folder = tmp / f"speed-{name}-{r}"
            wall, proc = run(zhseq_cli("train", "sentiment", "--data", data, "--dev", dev_file, "--out", folder,
                                       "--epochs", "1", "--quiet", "--device", device, *extra, *tiny),
                             deadline - time.time())
            if proc.returncode != 0:
                out[f"{name}_error"] = failure(proc)
                continue
            epoch = json.loads((folder / "metrics.json").read_text())["epochs"][0]
            tokens = epoch["tokens_per_s"] * epoch["seconds"]
            rounds.setdefault(name, []).append({
                "wall_s": wall, "loop_s": epoch["seconds"], "tokens": round(tokens), "steps": epoch["step"],
                "tokens_per_s": tokens / wall, "loop_tokens_per_s": epoch["tokens_per_s"],
                "dev_accuracy": epoch["dev"]["accuracy"] if epoch.get("dev") else None})
        say("speed round", r + 1, {k: round(v[-1]["loop_tokens_per_s"]) for k, v in rounds.items()})
    for name, runs in rounds.items():
        med = {k: statistics.median(x[k] for x in runs) for k in runs[0] if runs[0][k] is not None}
        out[f"{name}_{device.type}"] = {
            "wall_s": round(med["wall_s"], 2), "loop_s": round(med["loop_s"], 3), "tokens": runs[0]["tokens"],
            "steps": runs[0]["steps"], "tokens_per_s": round(med["tokens_per_s"]),
            "loop_tokens_per_s": round(med["loop_tokens_per_s"]),
            **({"dev_accuracy": runs[0]["dev_accuracy"]} if runs[0].get("dev_accuracy") is not None else {})}
    cpu = json.loads((BENCH / "results/train_speed.json").read_text())
    out["cpu (bench/results/train_speed.json)"] = {
        "machine": cpu["machine"],
        "naive": {"wall_s": cpu["naive"]["wall_s"], "tokens_per_s": cpu["naive"]["tokens_per_s"]},
        **{k: {"wall_s": cpu[k]["wall_s"], "loop_s": cpu[k]["loop_s"], "loop_tokens_per_s": cpu[k]["tokens_per_s"],
               "dev_accuracy": cpu[k]["dev_accuracy"]} for k in ("zhseq", "zhseq_bf16")}}
    naive, ours = out.get(f"naive_{device.type}"), out.get(f"zhseq_{device.type}")
    if naive and ours:
        best = max(ours["loop_tokens_per_s"], out.get(f"zhseq_bf16_{device.type}", {}).get("loop_tokens_per_s", 0))
        out["ratios"] = {
            "loop_tokens_per_s_vs_naive_loop": round(ours["loop_tokens_per_s"] / naive["loop_tokens_per_s"], 2),
            "best_loop_tokens_per_s_vs_naive_loop": round(best / naive["loop_tokens_per_s"], 2),
            "process_tokens_per_s_vs_naive_process": round(ours["tokens_per_s"] / naive["tokens_per_s"], 2),
            "loop_tokens_per_s_vs_cpu_loop": round(ours["loop_tokens_per_s"] / cpu["zhseq"]["tokens_per_s"], 2),
        }
        out["goal_5x_naive_loop_met"] = out["ratios"]["best_loop_tokens_per_s_vs_naive_loop"] >= 5
        if "dev_accuracy" in ours:
            out["dev_accuracy_minus_cpu"] = round(ours["dev_accuracy"] - cpu["zhseq"]["dev_accuracy"], 4)
    return out


def recipes(args, device, tmp: Path, deadline: float, rate: float | None) -> dict:
    """The shipped recipes, shortened to the time left: max_steps = seconds allowed × steps/s measured."""
    sys.path.insert(0, str(BENCH))
    from build_default_models import RECIPES

    from zhseq import evaluate
    from zhseq.training import train

    reserve = 20 if args.smoke else 140  # for the determinism and test stages after this one
    # seconds besides the loop (reading, tokenising, the n-gram fit, dev scores, saving): guessed, then measured
    overhead = {"lm": 25.0, "sentiment-backbone": 25.0, "sentiment": 50.0}
    # of the loop time left; the backbone most, as the sentiment model's dev accuracy (a goal) depends on it
    share = {"lm": 0.25, "sentiment-backbone": 0.45, "sentiment": 0.30}
    rates = {"lm": rate, "sentiment-backbone": rate, "sentiment": rate}  # steps/s, until an lm run measures its own
    out: dict = {"steps_per_s_from_speed_stage": rate}
    backbone = None
    for i, name in enumerate(("lm", "sentiment-backbone", "sentiment")):
        todo = ("lm", "sentiment-backbone", "sentiment")[i:]
        loop_time = (deadline - time.time() - reserve - sum(overhead[n] for n in todo)) * share[name] / sum(
            share[n] for n in todo)
        recipe = RECIPES[name]
        options = dict(recipe["options"])
        data, dev = list(recipe["data"]), recipe["dev"]
        if args.smoke:
            data = [some_lines(p, tmp / "corpora" / name / p.name, 200) for p in data]
            dev = some_lines(dev, tmp / "corpora" / name / ("dev-" + dev.name), 60)
            options.update(embedding_size=16, hidden_size=16, max_vocab=3000)
            if "sampled_softmax" in options:
                options["sampled_softmax"] = 64
        if name == "sentiment":
            if backbone is None:
                out[name] = {"skipped": "no backbone (sentiment-backbone did not train)"}
                continue
            options["init_backbone"] = backbone
        if args.smoke:
            max_steps = 4
        elif rates[name] and loop_time > 5:
            max_steps = max(1, int(loop_time * rates[name] * 0.8))
        else:
            out[name] = {"skipped": "no time left"}
            continue
        folder = tmp / f"recipe-{name}"
        say(f"recipe {name}: at most {max_steps} steps ({loop_time:.0f} s at {rates[name]:.1f} steps/s)")
        t0 = time.time()
        try:
            best = train(recipe["task"], [str(p) for p in data], dev=str(dev), out=folder, progress=False,
                         device=str(device), max_steps=max_steps, **options)
        except Exception as exc:  # noqa: BLE001 — recorded, the next stages still run
            out[name] = {"error": f"{type(exc).__name__}: {exc}"[:1500]}
            continue
        wall = time.time() - t0
        metrics = json.loads((folder / "metrics.json").read_text())
        epochs = metrics["epochs"]
        loop_s = sum(e["seconds"] for e in epochs)
        tokens = sum(e["tokens_per_s"] * e["seconds"] for e in epochs)
        last = epochs[-1]
        # an epoch's steps are known once one has ended before max_steps
        per_epoch = epochs[0]["step"] if len(epochs) > 1 or epochs[0]["step"] < max_steps else None
        full_steps = per_epoch * options["epochs"] if per_epoch else None
        overhead[name] = wall - loop_s
        if name == "lm":  # the backbone is the same recipe with a narrower LSTM: at least as fast
            rates["sentiment-backbone"] = last["step"] / max(loop_s, 1e-9)
        result = {
            "task": recipe["task"], "epochs_in_recipe": options["epochs"], "max_steps": max_steps,
            "steps_run": last["step"], "steps_in_full_recipe": full_steps,
            "shortened": last["step"] >= max_steps and (full_steps is None or max_steps < full_steps),
            "epochs_run": len(epochs), "wall_s": round(wall, 1), "loop_s": round(loop_s, 1),
            "loop_steps_per_s": round(last["step"] / max(loop_s, 1e-9), 1),
            "loop_tokens_per_s": round(tokens / max(loop_s, 1e-9)),
            "dev_best": next(e["dev"] for e in reversed(epochs) if e["best"]) if epochs[0].get("dev") else None,
        }
        if recipe["task"] == "sentiment":
            full = evaluate(best, str(dev))  # the whole model: network and n-gram half mixed
            result["dev_accuracy_full_model"] = full["accuracy"]
            result["dev_accuracy_network_best_epoch"] = result["dev_best"]["accuracy"]
            shipped = json.loads((ROOT / "zhseq/models/sentiment/config.json").read_text(encoding="utf-8"))
            cpu = {"network_best_epoch": shipped["dev_scores"]["accuracy"],
                   "full_model": shipped["scores"]["chnsenticorp"]["dev"]["accuracy"],
                   "minutes_of_this_stage": shipped["training"]["minutes"]}
            result["cpu (zhseq/models/sentiment)"] = cpu
            result["full_model_minus_cpu"] = round(full["accuracy"] - cpu["full_model"], 4)
            result["within_seed_noise"] = abs(result["full_model_minus_cpu"]) <= SEED_NOISE
            result.pop("dev_best")
        else:
            result["dev_best"] = {k: result["dev_best"][k] for k in ("perplexity", "top1", "top5")}
            if name == "lm":
                shipped = json.loads((ROOT / "zhseq/models/lm/config.json").read_text(encoding="utf-8"))
                result["cpu (zhseq/models/lm, 6 epochs)"] = {
                    **{k: shipped["dev_scores"][k] for k in ("perplexity", "top1", "top5")},
                    "minutes": shipped["training"]["minutes"],
                    "loop_tokens_per_s (bench/results/lm_speed.json, bf16)": json.loads(
                        (BENCH / "results/lm_speed.json").read_text())["zhseq_sampled_softmax_bf16_tokens_per_s"]}
            else:
                backbone = str(best)
        out[name] = result
        say(f"recipe {name}:", json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}))
    return out


def determinism(args, device, tmp: Path, deadline: float) -> dict:
    n = 300 if args.smoke else 2000
    data = tsv_to_csv(C / "chnsenticorp/train.tsv.gz", tmp / "det.csv", n)
    out: dict = {"data": f"{n} rows of ChnSentiCorp train"}

    def cmd(folder, *extra):
        return zhseq_cli("train", "sentiment", "--data", data, "--out", folder, "--embedding-size", "32",
                         "--hidden-size", "32", "--epochs", "3", "--patience", "3", "--batch-size", "16",
                         "--min-freq", "1", "--checkpoint-every", "10", "--seed", "3", "--no-ngrams",
                         "--max-tokens", "64", "--quiet", "--device", device, *extra)

    for name, extra in (("one_layer", []), ("two_layers_dropout_between", ["--layers", "2"])):
        if deadline - time.time() < 30:
            out[name] = {"skipped": "no time left"}
            continue
        a, b, k = tmp / f"det-{name}-a", tmp / f"det-{name}-b", tmp / f"det-{name}-killed"
        result: dict = {}
        for folder in (a, b):
            _, proc = run(cmd(folder, *extra), deadline - time.time())
            if proc.returncode != 0:
                result["error"] = failure(proc)
        if "error" in result:
            out[name] = result
            continue
        result["same_seed_same_bytes"] = all(sha(a / m / "model.safetensors") == sha(b / m / "model.safetensors")
                                             for m in ("model-best", "model-last"))
        proc = subprocess.Popen(cmd(k, *extra), env=env(), cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        pointer, until = k / "checkpoint" / "latest.json", time.time() + 120
        while time.time() < until and proc.poll() is None:
            try:
                if json.loads(pointer.read_text())["dir"] >= "step-000000040":
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.005)
        if proc.poll() is not None:
            result["killed"] = "the run ended before it could be killed"
            out[name] = result
            continue
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        result["killed_at_checkpoint"] = json.loads(pointer.read_text())["dir"]
        _, proc = run(cmd(k, *extra, "--resume"), deadline - time.time())
        if proc.returncode != 0:
            result["resume_error"] = failure(proc)
        else:
            result["resumed_same_bytes"] = all(
                sha(a / m / "model.safetensors") == sha(k / m / "model.safetensors") for m in ("model-best", "model-last"))
        out[name] = result
        say("determinism", name, result)
    if deadline - time.time() > 20:
        _, proc = run([sys.executable, __file__, "--probe-determinism", "--device", str(device),
                       *(["--smoke"] if args.smoke else [])], deadline - time.time())
        out["nondeterministic_kernels_torch_names"] = (json.loads(proc.stdout.strip().splitlines()[-1])
                                                       if proc.returncode == 0 else failure(proc))
    return out


def tests(args, deadline: float) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_device.py"]
    if args.smoke:
        cmd += ["-k", "auto_takes or rows_packed"]
    wall, proc = run(cmd, deadline - time.time())
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return {"command": shlex.join(["python", *cmd[1:]]), "returncode": proc.returncode, "wall_s": round(wall, 1),
            "summary": lines[-1] if lines else "", **({"tail": "\n".join(lines[-40:])} if proc.returncode else {})}


# -- main ---------------------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny models and data, a few steps: proves the script")
    ap.add_argument("--device", default=None, help="default: cuda, or auto with --smoke")
    ap.add_argument("--budget", type=float, default=None, help="seconds for all stages (default 450; smoke 600)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds of the speed stage (medians reported)")
    ap.add_argument("--out", default=None, help="the JSON (default bench/results/gpu_check.json; smoke: a temp file)")
    ap.add_argument("--rate", type=float, default=None, help="steps/s to size the recipes by (default: measured)")
    ap.add_argument("--skip", default="", help="stages to skip, comma-separated: speed,recipes,determinism,tests")
    ap.add_argument("--naive-child", help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--probe-determinism", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.naive_child:
        return naive_child(args.naive_child, args.device, args.limit)
    if args.probe_determinism:
        return determinism_probe_child(args.device, args.smoke)

    start = time.time()
    deadline = start + (args.budget or (600 if args.smoke else 450))
    from zhseq.errors import ZhseqError
    from zhseq.modeling import resolve_device

    try:
        device = resolve_device(args.device or ("auto" if args.smoke else "cuda"))
    except ZhseqError as exc:
        sys.exit(f"Error: {exc}")
    dest = Path(args.out) if args.out else (Path(tempfile.gettempdir()) / "gpu_check_smoke.json" if args.smoke
                                            else BENCH / "results/gpu_check.json")
    result = {"command": "python bench/gpu_check.py " + " ".join(sys.argv[1:]), "smoke": args.smoke,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    skip = set(filter(None, args.skip.split(",")))

    def save(stage=None):
        result["elapsed_s"] = round(time.time() - start, 1)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if stage:
            say(f"{stage} done ({result['elapsed_s']} s): {dest}")

    def stage(name, fn, *fn_args):
        """One stage; its failure is recorded in the JSON and the next stages still run."""
        try:
            result[name] = fn(*fn_args)
        except Exception:  # noqa: BLE001
            import traceback

            result[name] = {"error": traceback.format_exc()[-3000:]}
        save(name)

    stage("environment", environment, device)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "speed" not in skip:
            stage("speed", speed, args, device, tmp, deadline)
        ours = result.get("speed", {}).get(f"zhseq_{device.type}")
        rate = args.rate or (ours["steps"] / ours["loop_s"] if ours else None) or 20.0  # steps/s, to size recipes
        if "recipes" not in skip:
            stage("recipes", recipes, args, device, tmp, deadline, rate)
        if "determinism" not in skip:
            stage("determinism", determinism, args, device, tmp, deadline)
        if "tests" not in skip and deadline - time.time() > 15:
            stage("tests", tests, args, deadline)
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
