"""The sampled softmax's gradients are the same bits on every run with several intra-op threads (README: the same
seed, data and settings give the same model, byte for byte). Not under the one_thread fixture: one thread hides it."""

import hashlib

import torch

from zhseq.config import BackboneConfig, NextWordConfig
from zhseq.modeling import NextWordNet


def test_sampled_softmax_gradients_are_identical_run_to_run_on_two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # torch's CPU index_put(accumulate) races only with > 1 thread
    try:
        torch.manual_seed(0)
        # 1,024 samples × 32 dims: above torch's grain size (32,768 elements), where the parallel path starts
        net = NextWordNet(NextWordConfig(BackboneConfig(3000, 32, 32, bidirectional=True), bptt=64,
                                         sampled_softmax=1024))
        net.train()
        zipf = 1 / torch.arange(1, 3001, dtype=torch.float)  # frequent ids repeat, as in text
        ids = torch.multinomial(zipf, 32 * 64, replacement=True).view(32, 64).clamp(min=4)
        lengths = torch.full((32,), 64)
        digests = set()
        for _ in range(8):
            torch.manual_seed(1)  # the same dropout masks and the same sampled words each time
            net.zero_grad()
            net(ids, lengths, ids.roll(-1, 1))[1].backward()
            digests.add(hashlib.sha256(b"".join(p.grad.numpy().tobytes() for p in net.parameters())).hexdigest())
        assert len(digests) == 1
    finally:
        torch.set_num_threads(threads)
