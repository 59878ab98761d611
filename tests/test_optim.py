"""zhseq.optim against torch.optim, step by step, and zhseq.kernels.dropout; a training run imports no
torch._dynamo (which every torch.optim optimizer pulls in)."""

import copy
import subprocess
import sys

import pytest
import torch

from zhseq import kernels
from zhseq.optim import AdamW, LambdaSchedule, lbfgs


def _net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Embedding(40, 6), torch.nn.Linear(6, 3))


def _factor(s):
    return min((s + 1) / 3, max(0.0, (12 - s) / 9))


def test_adamw_and_schedule_equal_torch_to_the_bit():
    ours, theirs = _net(), _net()
    o1 = AdamW(ours.parameters(), lr=0.02, weight_decay=0.05)
    o2 = torch.optim.AdamW(theirs.parameters(), lr=0.02, weight_decay=0.05)
    s1, s2 = LambdaSchedule(o1, _factor), torch.optim.lr_scheduler.LambdaLR(o2, _factor)
    gen = torch.Generator().manual_seed(1)
    for _ in range(12):
        ids = torch.randint(0, 40, (5, 4), generator=gen)
        for net, opt, sched in ((ours, o1, s1), (theirs, o2, s2)):
            opt.zero_grad(set_to_none=True)
            net(ids).pow(2).mean().backward()
            opt.step()
            sched.step()
        assert s1.get_last_lr() == s2.get_last_lr()
        for p, q in zip(ours.parameters(), theirs.parameters()):
            assert torch.equal(p, q)


def test_adamw_state_dict_round_trip_continues_identically():
    a = _net()
    opt = AdamW(a.parameters(), lr=0.01)
    sched = LambdaSchedule(opt, _factor)
    ids = torch.randint(0, 40, (4, 3), generator=torch.Generator().manual_seed(2))

    def step(net, o, s):
        o.zero_grad()
        net(ids).sum().backward()
        o.step()
        s.step()

    for _ in range(3):
        step(a, opt, sched)
    b = copy.deepcopy(a)
    opt_b = AdamW(b.parameters(), lr=0.01)
    opt_b.load_state_dict(copy.deepcopy(opt.state_dict()))
    sched_b = LambdaSchedule(opt_b, _factor)
    sched_b.load_state_dict(sched.state_dict())
    assert sched_b.get_last_lr() == sched.get_last_lr()
    for _ in range(3):
        step(a, opt, sched)
        step(b, opt_b, sched_b)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="parameters"):
        AdamW(torch.nn.Linear(2, 2).parameters(), lr=0.1).load_state_dict(opt.state_dict())


def test_adamw_skips_parameters_without_gradients():
    net = _net()
    frozen = net[1].weight.detach().clone()
    opt = AdamW(net.parameters(), lr=0.1, weight_decay=0.5)
    net[0].weight.grad = torch.ones_like(net[0].weight)
    opt.step()
    assert torch.equal(net[1].weight, frozen)
    assert not torch.equal(net[0].weight, _net()[0].weight)


def test_lbfgs_equals_torch_lbfgs():
    gen = torch.Generator().manual_seed(3)
    a, y = torch.randn(120, 10, generator=gen, dtype=torch.float64), torch.randint(0, 3, (120,), generator=gen)

    def loss_of(w):
        return torch.nn.functional.cross_entropy(a @ w.view(10, 3), y) + 1e-3 * (w * w).sum()

    def fg(w):
        w = w.detach().requires_grad_(True)
        loss = loss_of(w)
        loss.backward()
        return float(loss.detach()), w.grad

    x = torch.zeros(30, dtype=torch.float64)
    evals = lbfgs(fg, x)
    p = torch.zeros(30, dtype=torch.float64, requires_grad=True)
    reference = torch.optim.LBFGS([p], lr=1.0, max_iter=300, history_size=20, tolerance_grad=1e-6,
                                  tolerance_change=1e-9, line_search_fn="strong_wolfe")

    def closure():
        reference.zero_grad()
        loss = loss_of(p)
        loss.backward()
        return loss

    reference.step(closure)
    assert evals == reference.state[p]["func_evals"] > 3
    torch.testing.assert_close(x, p.detach(), atol=1e-12, rtol=0)


def test_dropout_drops_the_asked_share_and_keeps_the_expectation():
    torch.manual_seed(0)
    x = torch.ones(400, 1000)
    y = kernels.dropout(x, 0.2)
    dropped = (y == 0).float().mean().item()
    assert abs(dropped - 0.2) < 0.003
    assert abs(y.mean().item() - 1.0) < 0.005
    assert y.unique().tolist() == pytest.approx([0.0, 65536 / (65536 - round(0.2 * 65536))], rel=1e-7)
    torch.manual_seed(0)
    assert torch.equal(kernels.dropout(x, 0.2), y)  # torch's generator: seeds reproduce it
    assert not torch.equal(kernels.dropout(x, 0.2), y)
    assert kernels.dropout(x, 0.2, training=False) is x
    assert kernels.dropout(x, 0.0) is x
    assert torch.equal(kernels.dropout(x, 1.0), torch.zeros_like(x))  # torch's own for p outside (0, 1)


def test_dropout_gradient_is_the_mask():
    torch.manual_seed(4)
    x = torch.randn(7, 9, dtype=torch.float64, requires_grad=True)
    y = kernels.dropout(x, 0.5)
    y.sum().backward()
    kept = y.detach() != 0
    assert torch.equal(x.grad, kept.double() * 2.0)
    assert torch.equal(y.detach()[kept], x.detach()[kept] * 2.0)


def test_training_does_not_import_dynamo(two_label_tsv, tmp_path):
    code = ("import sys; from zhseq import training; "
            f"training.train('sentiment', [{str(two_label_tsv)!r}], out={str(tmp_path / 'run')!r}, epochs=1, "
            "embedding_size=8, hidden_size=8, max_vocab=200, progress=False); "
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"
