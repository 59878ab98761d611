"""Training on a GPU (``--device``): which device a name stands for (CUDA simulated by monkeypatching torch), the
one-line errors for a device the machine lacks, a CPU run byte-equal to the default, and the recurrent layers
that run on CUDA (torch's cuDNN modules, ``nn.RNN``/``nn.LSTM``/``nn.GRU``) computing what zhseq's cells compute,
weights copied either way. The tests marked ``cuda`` run only where torch sees a CUDA GPU (bench/gpu_check.py
runs them there)."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from cli_helpers import invoke, ok, one_error_line
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from zhseq import cells
from zhseq.cells import build_rnn
from zhseq.config import FitConfig
from zhseq.errors import ZhseqError
from zhseq.modeling import resolve_device
from zhseq.training import distributed, train
from zhseq.training.state import STATE_DIR, load_state
from training_helpers import interrupted_at_step

HAS_CUDA = torch.cuda.is_available()
cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU (bench/gpu_check.py runs these on one)")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def gpus(monkeypatch):
    """``gpus(n)``: torch sees n CUDA GPUs (0: none), the current one cuda:0; outside torchrun."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)

    def see(n, current=0):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: current)

    return see


@pytest.fixture
def no_mps(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


# -- which device a name stands for -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["gpu", "CUDA", "cuda:", "cuda:-1", "cuda:x", "cuda0", " cpu", "tpu", ""])
def test_a_name_that_is_no_device_is_one_line_listing_them(name):
    expected = f'device must be one of: auto, cpu, cuda, cuda:N, mps, not "{name}"'
    with pytest.raises(ZhseqError) as config_error:
        FitConfig(device=name)
    with pytest.raises(ZhseqError) as resolve_error:
        resolve_device(name)
    assert str(config_error.value) == str(resolve_error.value) == expected


def test_auto_takes_a_cuda_gpu_when_there_is_one_and_never_mps_unasked(gpus, monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    gpus(0)
    assert resolve_device("auto") == torch.device("cpu")  # a Mac's GPU only when asked
    assert resolve_device("mps") == torch.device("mps")
    gpus(2, current=1)
    assert resolve_device("auto") == torch.device("cuda", 1)  # torch's current GPU (torch.cuda.set_device)
    assert resolve_device("cuda") == torch.device("cuda", 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    assert resolve_device("cpu") == torch.device("cpu")
    assert FitConfig().device == "auto"


def test_a_device_the_machine_lacks_is_one_line_saying_what_it_has(gpus, no_mps, monkeypatch):
    gpus(0)
    with pytest.raises(ZhseqError, match=r"^device 'cuda' asked for, but torch sees no CUDA GPU"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(ZhseqError, match=r"no CUDA GPU \(this torch, .*, is built without CUDA\)$"):
        resolve_device("cuda:0")
    with pytest.raises(ZhseqError, match=r"^device 'mps' asked for, but torch sees no Apple GPU \(MPS\)"):
        resolve_device("mps")
    gpus(1)
    with pytest.raises(ZhseqError) as info:
        resolve_device("cuda:7")
    assert str(info.value) == "device 'cuda:7' asked for, but torch sees 1 CUDA GPU (cuda:0)"
    gpus(2)
    with pytest.raises(ZhseqError, match=r"sees 2 CUDA GPUs \(cuda:0 … cuda:1\)$"):
        resolve_device("cuda:2")


def test_under_torchrun_each_process_takes_the_gpu_of_its_local_rank(gpus, monkeypatch):
    gpus(2)
    monkeypatch.setenv("WORLD_SIZE", "4")  # two machines of two processes each
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("auto") == resolve_device("cuda") == torch.device("cuda", 1)
    assert distributed.backend(resolve_device("cuda")) == "nccl"
    assert distributed.backend(resolve_device("cpu")) == "gloo"
    with pytest.raises(ZhseqError, match="each process takes the GPU of its LOCAL_RANK"):
        resolve_device("cuda:0")  # two processes would share one GPU
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # more processes on this machine than GPUs
    monkeypatch.setenv("LOCAL_RANK", "2")
    with pytest.raises(ZhseqError, match=r"LOCAL_RANK=2 but torch sees 2 CUDA GPUs .*--nproc-per-node"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")  # auto: a GPU each, or all on the CPU
    gpus(0)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert resolve_device("auto") == torch.device("cpu")  # gloo on the CPU, as before


# -- the CLI ---------------------------------------------------------------------------------------
def tiny(*extra):
    return ["--embedding-size", "8", "--hidden-size", "8", "--epochs", "1", "--batch-size", "16", "--min-freq", "1",
            "--quiet", *extra]


LACKING = [  # (--device, CUDA GPUs torch sees, exit status, the Error: line's start)
    ("cuda", 0, 1, "Error: device 'cuda' asked for, but torch sees no CUDA GPU"),
    ("cuda:7", 1, 1, "Error: device 'cuda:7' asked for, but torch sees 1 CUDA GPU (cuda:0)"),
    ("mps", 0, 1, "Error: device 'mps' asked for, but torch sees no Apple GPU (MPS) on this machine"),
    ("gpu", 0, 2, "Error: Invalid value for '--device': device must be one of: auto, cpu, cuda, cuda:N, mps, "
                  'not "gpu" (see '),
]


@pytest.mark.parametrize("device, cuda_gpus, status, message", LACKING)
def test_train_and_finetune_on_a_device_the_machine_lacks_say_so_in_one_line(
        device, cuda_gpus, status, message, gpus, no_mps, two_label_tsv, tmp_path):
    gpus(cuda_gpus)
    out = tmp_path / "out"
    for command in ("train", "finetune"):
        result = invoke(command, "sentiment", "--data", two_label_tsv, "--out", out, "--device", device)
        assert one_error_line(result, code=status).startswith(message)
        assert not out.exists()  # refused before anything is read or made


def test_device_cpu_trains_the_model_the_default_trains_byte_for_byte(two_label_tsv, tmp_path, one_thread):
    ok("train", "sentiment", "--data", two_label_tsv, "--out", tmp_path / "default", *tiny())
    ok("train", "sentiment", "--data", two_label_tsv, "--out", tmp_path / "cpu", *tiny("--device", "cpu"))
    for name in ("model-best", "model-last"):
        assert digest(tmp_path / "cpu" / name / "model.safetensors") == \
            digest(tmp_path / "default" / name / "model.safetensors")
    config = json.loads((tmp_path / "cpu" / "model-best" / "config.json").read_text(encoding="utf-8"))
    assert config["training"]["device"] == "cpu"  # the kind of device it trained on, not the name asked for


def test_a_checkpoint_resumes_only_on_the_kind_of_device_that_wrote_it(two_label_tsv, tmp_path, one_thread):
    kw = dict(embedding_size=8, hidden_size=8, epochs=2, batch_size=16, min_freq=1, progress=False,
              checkpoint_every=3, device="cpu")
    out = tmp_path / "run"
    with interrupted_at_step(5):
        train("sentiment", str(two_label_tsv), out=out, **kw)
    # as a run on a GPU would have written it
    folder = out / STATE_DIR / json.loads((out / STATE_DIR / "latest.json").read_text())["dir"]
    meta = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    meta["loop"]["fingerprint"]["recipe"]["device"] = "cuda"
    (folder / "state.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ZhseqError, match=r"written by a run on cuda, and this one is on cpu: resume it on cuda"):
        train("sentiment", str(two_label_tsv), out=out, resume=True, **kw)
    # a checkpoint from before devices were recorded was a CPU run's
    del meta["loop"]["fingerprint"]["recipe"]["device"]
    (folder / "state.json").write_text(json.dumps(meta), encoding="utf-8")
    train("sentiment", str(two_label_tsv), out=out, resume=True, **kw)
    assert (out / "model-last" / "config.json").is_file()


# -- the cuDNN modules and zhseq's cells -------------------------------------------------------------
E, H = 5, 6
TORCH_MODULES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def batch(lengths, dtype, seed=0):
    """x: (B, T, E) with large junk after each row's length; lengths (B,) int64 (all ≥ 1: packing refuses 0)."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    x = torch.randn(len(lengths), int(lengths.max()) + 1, E, generator=gen, dtype=dtype)
    x[torch.arange(x.size(1))[None, :] >= lengths[:, None]] = 100.0
    return x, lengths


def torch_module_run(module, x, lengths):
    """What runs on a CUDA GPU: torch's module (cuDNN's kernel there) on the packed rows, its weights in torch's
    (and cuDNN's) layout. → outputs (B, T, D·H), zeros past each length; final (B, D·H) of the last layer."""
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, h_n = module(packed)
    h_n = h_n[0] if isinstance(h_n, tuple) else h_n
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
    directions = 2 if module.bidirectional else 1
    return out, h_n[-directions:].transpose(0, 1).reshape(x.size(0), -1)


def outputs_and_gradients(module, run, x, lengths):
    x = x.clone().requires_grad_(True)
    out, final = run(module, x, lengths)
    gen = torch.Generator().manual_seed(1)
    loss = (out * torch.randn(out.shape, generator=gen, dtype=out.dtype)).sum() + final.square().sum()
    loss.backward()
    grads = {name: p.grad for name, p in module.named_parameters()}
    return out.detach(), final.detach(), x.grad, grads


@pytest.mark.parametrize("kind", sorted(TORCH_MODULES))
@pytest.mark.parametrize("bidirectional, layers", [(False, 1), (True, 1), (True, 2)])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
def test_torch_modules_and_zhseq_cells_compute_the_same_with_weights_copied_either_way(
        kind, bidirectional, layers, dtype, tol):
    sizes = dict(input_size=E, hidden_size=H, num_layers=layers, bidirectional=bidirectional)
    torch.manual_seed(0)
    ours = build_rnn(kind, dropout=0.0, **sizes).to(dtype).train()  # training: lstm runs zhseq's CPU kernel
    theirs = TORCH_MODULES[kind](batch_first=True, **sizes).to(dtype).train()
    x, lengths = batch([4, 7, 1, 7, 3], dtype)
    for source, target in ((ours, theirs), (theirs, ours)):
        with torch.no_grad():
            for p in source.parameters():
                p.uniform_(-0.5, 0.5)
        target.load_state_dict(source.state_dict())  # same names and shapes: strict
        got = outputs_and_gradients(ours, lambda m, x, lengths: m(x, lengths), x, lengths)
        want = outputs_and_gradients(theirs, torch_module_run, x, lengths)
        for a, b in zip(got[:3], want[:3]):
            torch.testing.assert_close(a, b, atol=tol, rtol=tol)
        assert got[3].keys() == want[3].keys()
        for name in got[3]:
            torch.testing.assert_close(got[3][name], want[3][name], atol=tol, rtol=tol)
        ours.zero_grad()
        theirs.zero_grad()


@pytest.mark.parametrize("kind", sorted(TORCH_MODULES))
def test_rows_packed_as_they_come_equal_rows_packed_in_torchs_order(kind, monkeypatch):
    """On a GPU a batch sorted longest first is packed without reordering (cells._presorted); forced on the CPU
    here, the results are the same."""
    rnn = build_rnn(kind, input_size=E, hidden_size=H, num_layers=2, bidirectional=True, dropout=0.0).double().eval()
    x, lengths = batch([7, 7, 5, 2, 1], torch.float64)
    want = rnn(x, lengths)
    monkeypatch.setattr(cells, "_presorted", lambda x, lengths: bool((lengths[:-1] >= lengths[1:]).all()))
    got = rnn(x, lengths)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
    assert not cells._presorted(torch.zeros(3, 2, E), torch.tensor([1, 2, 3]))  # not sorted: reordered as before


# -- on a CUDA GPU (the CPU too where a test says what both must do) ------------------------------------
DEVICES = ["cpu", pytest.param("cuda", marks=cuda)]


@cuda
@pytest.mark.parametrize("kind", sorted(TORCH_MODULES))
def test_cudnn_computes_what_the_cpu_cell_computes(kind):
    torch.manual_seed(0)
    cpu = build_rnn(kind, input_size=E, hidden_size=H, num_layers=2, bidirectional=True, dropout=0.0).train()
    gpu = build_rnn(kind, input_size=E, hidden_size=H, num_layers=2, bidirectional=True, dropout=0.0).cuda().train()
    gpu.load_state_dict(cpu.state_dict())
    x, lengths = batch([4, 7, 1, 7, 3], torch.float32)
    got = outputs_and_gradients(gpu, lambda m, x, lengths: m(x.cuda(), lengths), x, lengths)
    want = outputs_and_gradients(cpu, lambda m, x, lengths: m(x, lengths), x, lengths)
    tol = 2e-3  # cuDNN may do float32 products in TF32 (torch.backends.cudnn.allow_tf32)
    for a, b in zip(got[:3], want[:3]):
        torch.testing.assert_close(a.cpu(), b, atol=tol, rtol=tol)
    for name in want[3]:
        torch.testing.assert_close(got[3][name].cpu(), want[3][name], atol=tol, rtol=tol)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_model_trained_on_a_device_predicts_the_same_on_the_cpu(device, precision, two_label_tsv, tmp_path):
    from zhseq.pipeline import SentimentClassifier

    out = tmp_path / precision
    ok("train", "sentiment", "--data", two_label_tsv, "--out", out, "--epochs", "3", "--batch-size", "8",
       "--embedding-size", "16",
       "--hidden-size", "16", "--min-freq", "1", "--no-ngrams", "--quiet", "--device", device,
       "--precision", precision)
    config = json.loads((out / "model-best" / "config.json").read_text(encoding="utf-8"))
    assert config["training"]["device"] == device
    assert config["dev_scores"]["accuracy"] > 0.9
    texts = ["房间很好，服务不错", "快递很差，失望", "", "手机"]
    on_cpu = SentimentClassifier.from_pretrained(out)  # the numpy engine: no torch
    on_device = SentimentClassifier.from_pretrained(out, engine="torch")
    on_device.net.to(device)  # the torch engine runs where the model is
    probs = [model.predict_proba(texts, content=True)[0] for model in (on_cpu, on_device)]  # "" included
    assert abs(probs[0] - probs[1]).max() < 2e-3
    assert [r["label"] for r in on_cpu(texts)[:2]] == [r["label"] for r in on_device(texts)[:2]] == \
        ["positive", "negative"]


@pytest.mark.parametrize("device", DEVICES)
def test_a_language_model_with_sampled_softmax_trains_and_scores_on_a_device(device, tmp_path):
    from zhseq import evaluate

    text = tmp_path / "lm.txt"
    text.write_text("\n".join(["我们今天去公园散步，天气很好。", "他们明天去学校上课，老师很忙。"] * 150),
                    encoding="utf-8")
    best = train("lm", str(text), out=tmp_path / "lm", embedding_size=16, hidden_size=16, epochs=3, bptt=8,
                 batch_size=8, lr=1e-2, min_freq=1, progress=False, sampled_softmax=8, bidirectional=True,
                 device=device)
    epochs = json.loads((tmp_path / "lm" / "metrics.json").read_text())["epochs"]
    assert epochs[-1]["dev"]["perplexity"] < epochs[0]["dev"]["perplexity"]
    assert evaluate(best, str(text))["perplexity"] < 3


@cuda
@pytest.mark.parametrize("layers", [1])
def test_a_run_killed_on_a_gpu_resumes_to_the_same_bytes(layers, two_label_tsv, tmp_path):
    def cmd(out, *extra):
        return [sys.executable, "-m", "zhseq.cli", "train", "sentiment", "--data", str(two_label_tsv), "--out",
                str(out), "--embedding-size", "16", "--hidden-size", "16", "--layers", str(layers), "--epochs", "4",
                "--patience", "4", "--batch-size", "8", "--min-freq", "1", "--checkpoint-every", "5", "--seed", "3",
                "--device", "cuda", *extra]

    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(cmd(whole, "--quiet"), check=True, capture_output=True)
    proc = subprocess.Popen(cmd(killed, "--quiet"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pointer = killed / STATE_DIR / "latest.json"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if pointer.is_file() and json.loads(pointer.read_text())["dir"] >= "step-000000060":
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert "rng.cuda" in load_state(killed)["tensors"]
    resumed = subprocess.run(cmd(killed, "--resume"), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    for name in ("model-best", "model-last"):
        assert digest(killed / name / "model.safetensors") == digest(whole / name / "model.safetensors")


# -- evaluate and the torch engine on a device ---------------------------------------------------------
@pytest.mark.parametrize("device, cuda_gpus, status, message", LACKING)
def test_evaluate_on_a_device_the_machine_lacks_says_so_in_one_line(device, cuda_gpus, status, message, gpus, no_mps,
                                                                    two_label_tsv):
    gpus(cuda_gpus)
    result = invoke("evaluate", "sentiment", "--data", two_label_tsv, "--device", device)
    assert one_error_line(result, code=status).startswith(message)


def test_the_numpy_engine_has_no_device_and_the_torch_engine_takes_one(gpus, no_mps):
    from zhseq.pipeline import SentimentClassifier

    gpus(0)
    with pytest.raises(ZhseqError, match="numpy engine runs on the CPU only"):
        SentimentClassifier.from_pretrained("sentiment", engine="numpy", device="cpu")
    with pytest.raises(ZhseqError, match="sees no CUDA GPU"):
        SentimentClassifier.from_pretrained("sentiment", device="cuda")
    model = SentimentClassifier.from_pretrained("sentiment", device="auto")
    assert model.engine_name == "torch" and next(model.net.parameters()).device == torch.device("cpu")


@pytest.mark.parametrize("device", DEVICES)
def test_evaluate_on_a_device_scores_as_on_the_cpu(device, two_label_tsv, tmp_path):
    from zhseq import evaluate

    lm_text = tmp_path / "lm.txt"
    lm_text.write_text("\n".join(["我们今天去公园散步，天气很好。", "他们明天去学校上课，老师很忙。"] * 20),
                       encoding="utf-8")
    on_cpu = evaluate("sentiment", str(two_label_tsv), device="cpu")
    if not HAS_CUDA:
        assert evaluate("sentiment", str(two_label_tsv)) == on_cpu  # auto is the CPU here: the numpy engine
    on_device = evaluate("sentiment", str(two_label_tsv), device=device)
    assert abs(on_device["accuracy"] - on_cpu["accuracy"]) <= 1 / on_cpu["n"]  # a tie may round either way
    lm_cpu, lm_device = evaluate("lm", str(lm_text), device="cpu"), evaluate("lm", str(lm_text), device=device)
    assert lm_device["perplexity"] == pytest.approx(lm_cpu["perplexity"], rel=1e-3)
    assert (lm_device["top1"], lm_device["top5"]) == pytest.approx((lm_cpu["top1"], lm_cpu["top5"]), abs=0.01)


@cuda
def test_a_model_moved_to_a_gpu_saves_as_on_the_cpu(tmp_path):
    from zhseq.pipeline import SentimentClassifier

    model = SentimentClassifier.from_pretrained("sentiment", device="cuda")
    saved = model.save_pretrained(tmp_path / "copy")
    assert digest(saved / "model.safetensors") == digest(
        SentimentClassifier.from_pretrained("sentiment").save_pretrained(tmp_path / "cpu") / "model.safetensors")
