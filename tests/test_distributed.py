"""Several processes: training under PyTorch's launcher (2 processes, gloo on CPU) writes one model in the
usual format and resumes after SIGKILL to the same bytes; the sharding rule; ``--workers N`` scoring keeps
the input order and the results of one process."""

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch.distributed as dist
from click.testing import CliRunner

from zhseq.api import SentimentClassifier
from zhseq.cli import cli
from zhseq.training.distributed import shard
from zhseq.errors import ZhseqError
from zhseq.parallel import predict_in_processes
from zhseq.training.state import STATE_DIR
from zhseq.training import train

POS = ["很好", "喜欢", "推荐", "满意", "不错"]
NEG = ["很差", "失望", "退货", "糟糕", "难用"]
NOUNS = ["房间", "服务", "手机", "这本书", "快递", "屏幕"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
needs_gloo = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="this torch build has no gloo backend")


def torchrun(two_label_tsv, out, *extra):
    """2 processes on this machine; ``-m zhseq.cli`` needs no console script on PATH."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "-m", "zhseq.cli", "train", "sentiment", "--data", str(two_label_tsv), "--out", str(out),
            "--embedding-size", "16", "--hidden-size", "16", "--epochs", "6", "--patience", "6", "--batch-size", "8",
            "--min-freq", "1", "--checkpoint-every", "4", "--seed", "3", *extra]
    # 6 full epochs: the killed run still has 108 of its 144 steps to go when it is killed after step 36, so a
    # busy machine cannot let it finish first


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def two_process_run(two_label_tsv, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "run"
    done = subprocess.run(torchrun(two_label_tsv, out), env=ENV, capture_output=True, text=True, timeout=300)
    return out, done


@needs_gloo
def test_two_processes_write_one_model_in_the_usual_format(two_process_run):
    out, done = two_process_run
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n") == [str(out / "model-best"), ""]  # the path, printed once
    log = done.stderr.replace("\r", "\n")
    assert log.count("best model (epoch") == 1 and log.count("epoch 1: train loss") == 1
    assert "Error" not in log
    assert "FutureWarning" not in log  # torch 2.13's about DDP's broadcast_buffers, once printed by every process
    assert sorted(p.name for p in out.iterdir()) in (
        ["metrics.json", "model-best", "model-last"],
        ["learning_curves.png", "metrics.json", "model-best", "model-last"],
    )
    clf = SentimentClassifier.from_pretrained(out)
    assert [r["label"] for r in clf(["房间很好", "", "快递糟糕"])][1] is None  # an empty text: no label
    assert [r["label"] in ("negative", "positive") for r in clf(["房间很好", "快递糟糕"])] == [True] * 2
    config = json.loads((out / "model-last" / "config.json").read_text(encoding="utf-8"))
    assert config["training"]["processes"] == 2
    epochs = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["epochs"]
    # 380 training texts (20 held out as dev) = 48 batches of 8, 24 per process: 24 synchronised steps
    assert [e["step"] for e in epochs] == [24 * e["epoch"] for e in epochs]
    assert all("accuracy" in e["dev"] for e in epochs)


def worker_pid(launcher: int, rank: int) -> int:
    """The pid of the launcher's worker process with ``RANK=rank`` (Linux /proc)."""
    for task in Path(f"/proc/{launcher}/task").iterdir():
        for pid in (task / "children").read_text().split():
            if f"RANK={rank}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                return int(pid)
    raise AssertionError(f"no worker with RANK={rank} under process {launcher}")


@needs_gloo
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the worker processes in Linux's /proc")
def test_a_killed_process_and_resume_give_the_same_bytes(two_label_tsv, two_process_run, tmp_path):
    whole, done = two_process_run
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "killed"
    proc = subprocess.Popen(torchrun(two_label_tsv, out, "--quiet"), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    pointer = out / STATE_DIR / "latest.json"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if pointer.is_file() and json.loads(pointer.read_text())["dir"] >= "step-000000036":
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(worker_pid(proc.pid, rank=1), signal.SIGKILL)  # the launcher then stops process 0 and fails
    assert proc.wait(timeout=120) != 0
    assert not (out / "model-last").exists()

    resumed = subprocess.run(torchrun(two_label_tsv, out, "--resume"), env=ENV, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stderr.count("resuming from the checkpoint at step") == 1
    for name in ("model-best", "model-last"):
        assert digest(out / name / "model.safetensors") == digest(whole / name / "model.safetensors")
    assert not (out / STATE_DIR).exists()


def test_shard_gives_every_process_the_same_number_of_distinct_batches():
    for n in range(0, 14):
        batches = [f"b{i}" for i in range(n)]
        for world in (1, 2, 3, 4):
            parts = [shard(batches, (r, world)) for r in range(world)]
            taken = [b for p in parts for b in p]
            assert {len(p) for p in parts} == {n // world}  # equal counts: DDP steps stay in lockstep
            assert len(taken) == len(set(taken))  # no batch in two processes
            assert len(batches) - len(taken) == n % world < world  # only the remainder is left out
    assert shard(list(range(10))) == list(range(10))  # outside torchrun: everything


# -- --workers ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def models(two_label_tsv, tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    lm_text = root / "lm.txt"
    lines = two_label_tsv.read_text(encoding="utf-8").splitlines()[1:]
    lm_text.write_text("\n".join(line.split("\t")[1] for line in lines) + "\n", encoding="utf-8")
    kw = dict(embedding_size=8, hidden_size=8, epochs=1, batch_size=32, min_freq=1, progress=False)
    return {"sentiment": train("sentiment", str(two_label_tsv), out=root / "s", **kw),
            "lm": train("lm", str(lm_text), out=root / "l", bidirectional=False, **kw)}


@pytest.fixture(scope="module")
def texts_file(tmp_path_factory):
    rng = random.Random(1)
    lines = ["" if i % 7 == 0 else "".join(rng.choice(NOUNS + POS + NEG + ["A1", "？"])
                                           for _ in range(rng.randint(1, 6))) for i in range(500)]
    path = tmp_path_factory.mktemp("texts") / "texts.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("command,task", [("sentiment", "sentiment"), ("predict-next", "lm")])
def test_workers_give_the_lines_of_one_process_in_input_order(command, task, models, texts_file):
    def run(workers):
        result = CliRunner().invoke(cli, [command, "--model", str(models[task]), "--input", str(texts_file),
                                          "--format", "jsonl", "--batch-size", "16", "--workers", str(workers)])
        assert result.exit_code == 0, result.output
        return result.stdout.splitlines()

    one, two = run(1), run(2)
    assert len(one) == 500
    assert [json.loads(line)["text"] for line in one] == texts_file.read_text(encoding="utf-8").split("\n")[:500]
    assert two == one


def test_an_error_in_a_worker_reaches_the_caller(models, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(models["sentiment"], broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ZhseqError, match="cannot read"):
        list(predict_in_processes(broken, ["房间很好"] * 5, task="sentiment", workers=2, batch_size=2))


@pytest.mark.parametrize("cores,n_items,expected", [(2, 10, 1), (2, 24, 1), (2, 25, 2), (4, 1000, 4), (1, 1000, 1)])
def test_auto_workers_use_every_core_only_for_more_than_one_batch(monkeypatch, cores, n_items, expected):
    from zhseq.cli.options import _plan_workers

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    consumed = []

    def items():  # a stream: what the plan peeks at must still come out, once, in order
        for i in range(n_items):
            consumed.append(i)
            yield f"t{i}"

    workers, rest = _plan_workers("auto", items(), batch_size=16)
    assert workers == expected
    assert len(consumed) <= 25  # only a batch and a half is looked at before scoring starts
    assert list(rest) == [f"t{i}" for i in range(n_items)]
    assert _plan_workers(min(3, cores), iter([]), 16)[0] == min(3, cores)  # a number up to the cores: as given


def test_auto_workers_on_the_command_line(models, texts_file):
    def run(*workers):
        return CliRunner().invoke(cli, ["sentiment", "--model", str(models["sentiment"]), "--input", str(texts_file),
                                        "--format", "jsonl", "--batch-size", "64", *workers])

    auto, one = run(), run("--workers", "1")
    assert auto.exit_code == 0 and auto.stdout == one.stdout and len(one.stdout.splitlines()) == 500
    for bad in ("0", "many"):
        result = run("--workers", bad)
        assert result.exit_code == 2 and "neither a whole number" in result.output
