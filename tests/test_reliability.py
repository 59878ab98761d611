"""Crash-safe training and determinism: a run killed with SIGKILL and resumed with --resume ends with
the same bytes as a run never interrupted; two runs with one seed give byte-identical weights."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zhseq.errors import ZhseqError
from zhseq.training.state import STATE_DIR, load_state
from zhseq.training import train
from training_helpers import interrupted_at_step


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli_train(two_label_tsv, out, *extra):
    return [sys.executable, "-m", "zhseq.cli", "train", "sentiment", "--data", str(two_label_tsv), "--out", str(out),
            "--embedding-size", "16", "--hidden-size", "16", "--epochs", "4", "--patience", "4", "--batch-size", "8",
            "--min-freq", "1", "--checkpoint-every", "5", "--seed", "3", *extra]


def test_same_seed_gives_byte_identical_models(two_label_tsv, tmp_path):
    kw = dict(embedding_size=16, hidden_size=16, epochs=2, batch_size=16, min_freq=1, progress=False, seed=7)
    a = train("sentiment", str(two_label_tsv), out=tmp_path / "a", **kw)
    b = train("sentiment", str(two_label_tsv), out=tmp_path / "b", **kw)
    assert digest(a / "model.safetensors") == digest(b / "model.safetensors")
    c = train("sentiment", str(two_label_tsv), out=tmp_path / "c", **{**kw, "seed": 8})
    assert digest(a / "model.safetensors") != digest(c / "model.safetensors")


def test_sigkill_then_resume_finishes_with_the_uninterrupted_model(two_label_tsv, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    whole = tmp_path / "whole"
    subprocess.run(cli_train(two_label_tsv, whole, "--quiet"), check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(cli_train(two_label_tsv, killed, "--quiet"), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    pointer = killed / STATE_DIR / "latest.json"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if pointer.is_file() and json.loads(pointer.read_text())["dir"] >= "step-000000060":
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "model-last").exists()
    step = load_state(killed)["loop"]["step"]
    assert step >= 60

    resumed = subprocess.run(cli_train(two_label_tsv, killed, "--resume"), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from the checkpoint at step {step}" in resumed.stderr
    for name in ("model-best", "model-last"):
        assert digest(killed / name / "model.safetensors") == digest(whole / name / "model.safetensors")
    assert not (killed / STATE_DIR).exists()  # a finished run keeps its models, not its checkpoint
    metrics = json.loads((killed / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [e["epoch"] for e in json.loads(
        (whole / "metrics.json").read_text())["epochs"]]


def test_resume_refuses_a_different_run_and_a_finished_one(two_label_tsv, tmp_path, caplog):
    kw = dict(embedding_size=8, hidden_size=8, epochs=2, batch_size=16, min_freq=1, progress=False,
              checkpoint_every=3)
    out = tmp_path / "run"
    train("sentiment", str(two_label_tsv), out=out, **kw)
    with pytest.raises(ZhseqError, match="finished run"):
        train("sentiment", str(two_label_tsv), out=out, resume=True, **kw)

    interrupted = tmp_path / "interrupted"
    with interrupted_at_step(10):
        train("sentiment", str(two_label_tsv), out=interrupted, **kw)
    assert load_state(interrupted)["loop"]["step"] == 9  # Ctrl-C keeps the checkpoint for --resume
    caplog.clear()
    with pytest.raises(ZhseqError, match=r"different run: it differs in --epochs \(2 then, 3 now\); rerun"):
        train("sentiment", str(two_label_tsv), out=interrupted, resume=True, **{**kw, "epochs": 3})
    assert "continue with the same command plus --resume" not in caplog.text  # no advice contradicting the error
    with pytest.raises(ZhseqError, match="already holds|not empty"):
        train("sentiment", str(two_label_tsv), out=interrupted, **kw)  # without --resume nothing is mixed in
    train("sentiment", str(two_label_tsv), out=interrupted, resume=True, **kw)
    assert (interrupted / "model-last" / "config.json").is_file()


def test_resume_without_a_checkpoint_starts_afresh(two_label_tsv, tmp_path):
    out = tmp_path / "fresh"
    best = train("sentiment", str(two_label_tsv), out=out, resume=True, embedding_size=8, hidden_size=8, epochs=1,
                 min_freq=1, progress=False)
    assert (best / "config.json").is_file()


def test_a_failed_run_leaves_no_model_and_no_checkpoint(two_label_tsv, tmp_path, monkeypatch):
    import zhseq.training.tasks as training

    def broken_evaluate(self, net, examples, batch_size=256, tokens=None):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(training.SentimentTask, "probabilities", broken_evaluate)  # the dev pass fails
    out = tmp_path / "failed"
    with pytest.raises(RuntimeError):
        train("sentiment", str(two_label_tsv), out=out, dev=str(two_label_tsv), embedding_size=8, hidden_size=8, epochs=2,
              min_freq=1, progress=False, checkpoint_every=2)
    assert not out.exists()
