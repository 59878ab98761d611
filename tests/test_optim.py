"""The training loop's optimizer (torch.optim.AdamW in two parameter groups) and schedule (LambdaLR with
zhseq's warm-up and linear decay), a resumed optimizer continuing exactly, and zhseq.kernels.dropout."""

import copy

import pytest
import torch

from zhseq import kernels
from zhseq.config import BackboneConfig, NextWordConfig, SentimentConfig
from zhseq.modeling import NextWordNet, SentimentNet
from zhseq.training.loop import adamw, parameter_groups, warmup_then_linear


def _names(net, group):
    ids = {id(p) for p in group["params"]}
    return sorted(name for name, p in net.named_parameters() if id(p) in ids)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "lstm-ref"])
def test_weight_matrices_decay_and_biases_and_embeddings_do_not(cell):
    net = SentimentNet(SentimentConfig(BackboneConfig(30, 6, 5, cell=cell), num_labels=3, ngram_buckets=64))
    decay, plain = parameter_groups(net, 0.05)
    assert decay["weight_decay"] == 0.05 and plain["weight_decay"] == 0.0
    for name in _names(net, decay):
        assert "weight" in name and "embedding" not in name and dict(net.named_parameters())[name].dim() >= 2
    assert "backbone.embedding.weight" in _names(net, plain)
    assert all("bias" in n or "embedding" in n for n in _names(net, plain)), _names(net, plain)
    assert any("weight_hh" in n for n in _names(net, decay)) and "classifier.weight" in " ".join(_names(net, decay))
    # every trainable parameter once; the n-gram table is buffers, never seen by the optimizer
    assert sorted(_names(net, decay) + _names(net, plain)) == sorted(n for n, _ in net.named_parameters())


def test_a_tied_output_layer_is_its_embedding_and_does_not_decay():
    net = NextWordNet(NextWordConfig(BackboneConfig(40, 6, 5, bidirectional=False)))
    groups = parameter_groups(net, 0.01)
    embedding = net.backbone.embedding.weight
    owners = [g["weight_decay"] for g in groups for p in g["params"] if p is embedding]
    assert owners == [0.0]  # once, undecayed, though the output layer shares it
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))


def test_an_adamw_step_leaves_undecayed_parameters_alone_when_their_gradient_is_zero():
    net = SentimentNet(SentimentConfig(BackboneConfig(30, 6, 5), num_labels=2))
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    opt = adamw(parameter_groups(net, 0.5), 0.1)
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for name, p in net.named_parameters():
        decays = p.dim() >= 2 and "embedding" not in name
        assert torch.equal(p, before[name] * (1 - 0.1 * 0.5)) if decays else torch.equal(p, before[name]), name


def test_adamw_is_fused_or_foreach_where_fused_is_cuda_only(monkeypatch):
    net = torch.nn.Linear(2, 2)
    assert adamw(parameter_groups(net, 0.01), 0.1).param_groups[0]["fused"]
    real = torch.optim.AdamW

    def torch_2_3(groups, lr, **kw):  # its fused AdamW refused CPU tensors when built
        if kw.get("fused"):
            raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported "
                               "devices: ['cuda']")
        return real(groups, lr=lr, **kw)

    monkeypatch.setattr(torch.optim, "AdamW", torch_2_3)
    group = adamw(parameter_groups(net, 0.01), 0.1).param_groups[0]
    assert group["foreach"] and not group["fused"]


def test_the_schedule_warms_up_then_falls_linearly_to_zero():
    f = warmup_then_linear(warm=4, total=20)
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(4) == 1.0 and f(12) == pytest.approx(0.5) and f(20) == 0.0 and f(25) == 0.0
    assert all(f(s) >= f(s + 1) for s in range(3, 25))
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(parameter_groups(net, 0.01), lr=0.2)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, f)
    seen = []
    for _ in range(6):
        seen.append(schedule.get_last_lr())
        opt.step()
        schedule.step()
    assert seen == [[0.2 * f(s)] * 2 for s in range(6)]  # both groups follow it


def _step(net, opt, schedule, ids):
    opt.zero_grad(set_to_none=True)
    logits, _ = net(ids, torch.tensor([ids.size(1)] * ids.size(0)))
    logits.pow(2).mean().backward()
    opt.step()
    schedule.step()


def test_a_resumed_optimizer_and_schedule_continue_exactly(tmp_path):
    """state.py's save/restore (safetensors + JSON, no pickle) of torch's AdamW and LambdaLR."""
    from zhseq.training.state import load_state, restore, save_state

    def build(net):
        opt = adamw(parameter_groups(net, 0.05), 0.01)
        return opt, torch.optim.lr_scheduler.LambdaLR(opt, warmup_then_linear(3, 12))

    torch.manual_seed(0)
    a = SentimentNet(SentimentConfig(BackboneConfig(30, 6, 5), num_labels=2)).eval()  # no dropout draws
    b = copy.deepcopy(a)
    opt_a, sched_a = build(a)
    ids = torch.randint(4, 30, (4, 5), generator=torch.Generator().manual_seed(2))
    for _ in range(4):
        _step(a, opt_a, sched_a, ids)
    save_state(tmp_path, net=a, optimizer=opt_a, schedule=sched_a, loop={"step": 4})
    opt_b, sched_b = build(b)  # a fresh run, then the checkpoint put back
    restore(load_state(tmp_path), net=b, optimizer=opt_b, schedule=sched_b)
    assert sched_b.get_last_lr() == sched_a.get_last_lr() and sched_b.last_epoch == 4
    for _ in range(5):
        _step(a, opt_a, sched_a, ids)
        _step(b, opt_b, sched_b, ids)
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name
    assert sorted(p.name for p in (tmp_path / "checkpoint").rglob("*") if p.is_file()) == \
        ["latest.json", "state.json", "state.safetensors"]  # no pickle


def test_a_checkpoint_of_the_earlier_optimizer_is_refused_in_one_line(tmp_path):
    import json

    from zhseq.errors import ZhseqError
    from zhseq.training.state import load_state, save_state

    net = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(parameter_groups(net, 0.01), lr=0.1)
    folder = save_state(tmp_path, net=net, optimizer=opt,
                        schedule=torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0), loop={"step": 1})
    meta = json.loads((folder / "state.json").read_text())
    (folder / "state.json").write_text(json.dumps({**meta, "version": 1}))
    with pytest.raises(ZhseqError, match="another version of zhseq.*without --resume"):
        load_state(tmp_path)


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
