"""Language-model training speed: zhseq's loop (the shipped lm's recipe: LSTM 256, embedding 128 tied,
30k vocabulary, sampled softmax 2048, bptt 64, batch 64) beside a straightforward full-softmax PyTorch
LSTM LM of the same size (nn.LSTM, a 256 → 30k output layer, Adam), on the same People's Daily training
text. Both are timed over the same number of optimizer steps after a few warm-up steps; tokens/s counts
the predicted tokens.

Usage: python bench/lm_speed.py [--steps 60]      (writes bench/results/lm_speed.json)
"""
import argparse
import gzip
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from zhseq.modeling import BackboneConfig, NextWordConfig, NextWordNet  # noqa: E402
from zhseq.tokenizer import Tokenizer  # noqa: E402
from zhseq.training import FitConfig, LMTask, fit  # noqa: E402
from zhseq.vocab import Vocab  # noqa: E402

V, E, H, BPTT, BATCH = 30000, 128, 256, 64, 64


class NaiveLM(nn.Module):
    """What a newcomer writes: embedding, LSTM, a full linear layer over the vocabulary."""

    def __init__(self, vocab_size):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, E)
        self.rnn = nn.LSTM(E, H, batch_first=True)
        self.out = nn.Linear(H, vocab_size)

    def forward(self, x):
        return self.out(self.rnn(self.emb(x))[0])


def naive_tokens_per_s(stream, vocab_size, steps, warmup):
    torch.manual_seed(0)
    model = NaiveLM(vocab_size)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    span = BPTT * BATCH + 1
    n, t0 = 0, None
    for step in range(warmup + steps):
        if step == warmup:
            t0 = time.perf_counter()
        chunk = torch.tensor(stream[(step * span) % (len(stream) - span):][:span])
        x, y = chunk[:-1].view(BATCH, BPTT), chunk[1:].view(BATCH, BPTT)
        loss = nn.functional.cross_entropy(model(x).reshape(-1, vocab_size), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step >= warmup:
            n += y.numel()
    return n / (time.perf_counter() - t0)


def zhseq_tokens_per_s(task, examples, vocab_size, steps, warmup, precision):
    torch.manual_seed(0)
    net = NextWordNet(NextWordConfig(BackboneConfig(vocab_size, E, H, bidirectional=False), bptt=BPTT,
                                     sampled_softmax=2048))
    config = FitConfig(epochs=1, max_steps=warmup + steps, batch_size=BATCH, lr=3e-3, precision=precision,
                       progress=False)  # no state_dir: no checkpoints
    stamps = []
    orig = net.forward

    def timed_forward(*a, **k):  # a timestamp at each step's start; the count of predicted tokens
        stamps.append((time.perf_counter(), int((a[2] != 0).sum())))
        return orig(*a, **k)

    net.forward = timed_forward
    random.seed(0)
    fit(net, random.sample(examples, min(len(examples), (warmup + steps) * BATCH)), collate=task.collate,
        config=config)
    end = time.perf_counter()
    times = [t for t, _ in stamps] + [end]
    tokens = sum(n for _, n in stamps[warmup:])
    return tokens / (times[-1] - times[warmup])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    tok = Tokenizer()
    with gzip.open(ROOT / "corpora/peoples_daily/train.txt.gz", "rt", encoding="utf-8") as f:
        tokens = [tok.cut(line.strip()) for line in f if line.strip()]
    vocab = Vocab.build(tokens, min_freq=1, max_size=V)
    task = LMTask(tok, vocab, BPTT)
    examples = task.examples(tokens)
    stream = [i for t in tokens for i in vocab.encode(t + ["<eos>"])]
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
              "model": f"LSTM {H}, embedding {E}, vocabulary {len(vocab)}, bptt {BPTT}, batch {BATCH}",
              "steps": args.steps,
              "naive_full_softmax_tokens_per_s": round(naive_tokens_per_s(stream, len(vocab), args.steps,
                                                                           args.warmup))}
    for precision in ("fp32", "bf16"):
        result[f"zhseq_sampled_softmax_{precision}_tokens_per_s"] = round(
            zhseq_tokens_per_s(task, examples, len(vocab), args.steps, args.warmup, precision))
    result["speedup_fp32"] = round(result["zhseq_sampled_softmax_fp32_tokens_per_s"]
                                   / result["naive_full_softmax_tokens_per_s"], 2)
    result["speedup_bf16"] = round(result["zhseq_sampled_softmax_bf16_tokens_per_s"]
                                   / result["naive_full_softmax_tokens_per_s"], 2)
    print(json.dumps(result, indent=2))
    dest = ROOT / "bench/results/lm_speed.json"
    dest.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
