"""The CPU training kernel for ``lstm`` (zhseq.kernels) against torch's own LSTM kernel."""

import pytest
import torch

from zhseq import kernels
from zhseq.cells import build_rnn

E, H = 5, 6


def torch_lstm(rnn, x, lengths):
    """torch's packed-sequence kernel with the same module: what FusedLSTM runs without gradients."""
    return type(rnn).__mro__[1]._run(rnn, x, lengths)  # _Fused._run


def batch(lengths, steps, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    x = torch.randn(len(lengths), steps, E, generator=gen, dtype=dtype)
    x[torch.arange(steps)[None, :] >= lengths[:, None]] = 50.0  # junk padding
    return x, lengths


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2, 3])
def test_outputs_and_gradients_equal_torch_kernel(bidirectional, layers):
    torch.manual_seed(0)
    rnn = build_rnn("lstm", input_size=E, hidden_size=H, num_layers=layers, bidirectional=bidirectional).double()
    x, lengths = batch([7, 1, 4, 7, 2], steps=8)
    weights = torch.randn(5, 8, H * (2 if bidirectional else 1), dtype=torch.float64)
    results = []
    for run in (kernels.lstm_forward, torch_lstm):
        rnn.zero_grad()
        xg = x.clone().requires_grad_(True)
        out, final = run(rnn, xg, lengths)
        ((out * weights).sum() + final.cos().sum()).backward()
        results.append((out.detach(), final.detach(), xg.grad, {n: p.grad.clone() for n, p in rnn.named_parameters()}))
    (o1, f1, gx1, g1), (o2, f2, gx2, g2) = results
    torch.testing.assert_close(o1, o2, atol=1e-12, rtol=0)
    torch.testing.assert_close(f1, f2, atol=1e-12, rtol=0)
    torch.testing.assert_close(gx1, gx2, atol=1e-12, rtol=0)
    assert set(g1) == set(g2)
    for name in g1:
        torch.testing.assert_close(g1[name], g2[name], atol=1e-12, rtol=0, msg=name)
    assert torch.all(o1[1, 1:] == 0) and torch.all(gx1[1, 1:] == 0)  # padding: zero outputs, zero gradient


def test_fused_lstm_uses_the_kernel_only_when_training_needs_gradients(monkeypatch):
    calls = []
    real = kernels.lstm_forward
    monkeypatch.setattr(kernels, "lstm_forward", lambda *a, **k: calls.append(1) or real(*a, **k))
    rnn = build_rnn("lstm", input_size=E, hidden_size=H, bidirectional=True)
    x, lengths = batch([3, 2], steps=3, dtype=torch.float32)
    with torch.no_grad():
        rnn(x, lengths)
    assert calls == []
    rnn(x, lengths)
    assert calls == [1]


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(1)
    rnn = build_rnn("lstm", input_size=E, hidden_size=H, num_layers=2, bidirectional=True, dropout=0.5).double()
    x, lengths = batch([4, 3], steps=4)
    rnn.eval()
    out_eval, _ = rnn(x, lengths)
    with torch.no_grad():
        out_ref, _ = rnn(x, lengths)
    torch.testing.assert_close(out_eval, out_ref, atol=1e-12, rtol=0)
    rnn.train()
    out_a, _ = rnn(x, lengths)
    out_b, _ = rnn(x, lengths)
    assert not torch.allclose(out_a, out_b)  # fresh dropout masks between the layers


def test_bf16_products_stay_close_and_precision_is_restored():
    torch.manual_seed(2)
    rnn = build_rnn("lstm", input_size=E, hidden_size=H, bidirectional=True)
    x, lengths = batch([6, 3, 5], steps=6, dtype=torch.float32)
    exact, _ = rnn(x, lengths)
    assert kernels.get_precision() == "fp32"
    kernels.set_precision("bf16")
    try:
        approx, _ = rnn(x, lengths)
        approx.sum().backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in rnn.parameters())
    finally:
        kernels.set_precision("fp32")
    assert (approx - exact).abs().max() < 0.05
    assert not torch.equal(approx, exact)
    with pytest.raises(ValueError, match="fp32, bf16"):
        kernels.set_precision("fp8")


def test_reversed_index():
    idx = kernels.reversed_index(torch.tensor([3, 1, 2]), 4)
    assert idx[:, 0].tolist() == [2, 1, 0, 3]
    assert idx[:, 1].tolist() == [0, 1, 2, 3]
    assert idx[:, 2].tolist() == [1, 0, 2, 3]
