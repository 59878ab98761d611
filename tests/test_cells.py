"""Cells: fused and reference agree, padding never matters, gradients flow, the registry behaves."""

import warnings

import pytest
import torch
from torch import nn

from zhseq.cells import CELLS, build_rnn, cell_names, register_cell
from zhseq.errors import ZhseqError

KINDS = ["rnn", "lstm", "gru"]
ALL_CELLS = KINDS + [f"{kind}-ref" for kind in KINDS]
E, H = 3, 4


def make_batch(lengths, steps=None, seed=0, dtype=torch.float64):
    """x: (B, T, E) with junk (large values) after each length, so any leak of padding shows."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths, dtype=torch.int64)
    steps = int(lengths.max()) if steps is None else steps
    x = torch.randn(len(lengths), steps, E, generator=gen, dtype=dtype)
    padding = torch.arange(steps)[None, :] >= lengths[:, None]  # (B, T)
    x[padding] = 100.0 * torch.randn(int(padding.sum()), E, generator=gen, dtype=dtype)
    return x, lengths


def build(name, *, bidirectional, layers, seed, dtype=torch.float64):
    torch.manual_seed(seed)
    rnn = build_rnn(name, input_size=E, hidden_size=H, num_layers=layers, bidirectional=bidirectional, dropout=0.0)
    return rnn.to(dtype).eval()


def pair(kind, *, bidirectional, layers):
    """The fused cell and its reference with identical weights (built from different seeds, then loaded)."""
    fused = build(kind, bidirectional=bidirectional, layers=layers, seed=1)
    ref = build(f"{kind}-ref", bidirectional=bidirectional, layers=layers, seed=2)
    ref.load_state_dict(fused.state_dict())
    return fused, ref


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
def test_reference_matches_fused(kind, bidirectional, layers):
    fused, ref = pair(kind, bidirectional=bidirectional, layers=layers)
    x, lengths = make_batch([5, 0, 3, 7, 1], steps=8)  # no row fills T: the last step is all padding
    out_f, final_f = fused(x, lengths)
    out_r, final_r = ref(x, lengths)
    width = H * (2 if bidirectional else 1)
    assert out_f.shape == out_r.shape == (5, 8, width)
    assert final_f.shape == final_r.shape == (5, width)
    torch.testing.assert_close(out_r, out_f, atol=1e-9, rtol=0)
    torch.testing.assert_close(final_r, final_f, atol=1e-9, rtol=0)
    assert out_f.abs().sum() > 0  # not trivially equal


@pytest.mark.parametrize("kind", KINDS)
def test_reference_has_torch_parameter_names_shapes_and_init(kind):
    fused = build(kind, bidirectional=True, layers=2, seed=3)
    ref = build(f"{kind}-ref", bidirectional=True, layers=2, seed=3)
    fused_state, ref_state = fused.state_dict(), ref.state_dict()
    assert list(ref_state) == list(fused_state)
    assert "weight_ih_l1_reverse" in ref_state
    for name, value in fused_state.items():
        assert torch.equal(ref_state[name], value), name  # same seed, same order -> same uniform draws
    bound = H**-0.5
    assert all(p.abs().max() <= bound for p in ref.parameters())
    # and back the other way: the fused cell loads the reference's weights
    other = build(f"{kind}-ref", bidirectional=True, layers=2, seed=4)
    fused.load_state_dict(other.state_dict())
    assert torch.equal(fused.weight_hh_l1_reverse, other.weight_hh_l1_reverse)


@pytest.mark.parametrize("name", ALL_CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_changes_a_row(name, bidirectional):
    rnn = build(name, bidirectional=bidirectional, layers=2, seed=5)
    lengths_list = [4, 0, 6, 1, 3]
    x, lengths = make_batch(lengths_list, steps=7)
    outputs, final = rnn(x, lengths)
    for i, n in enumerate(lengths_list):
        alone_out, alone_final = rnn(x[i : i + 1, :n], torch.tensor([n]))
        assert alone_out.shape == (1, n, outputs.size(-1))
        torch.testing.assert_close(outputs[i, :n], alone_out[0], atol=1e-9, rtol=0)
        torch.testing.assert_close(final[i], alone_final[0], atol=1e-9, rtol=0)
        assert torch.all(outputs[i, n:] == 0)  # exactly zero, not merely small
    assert torch.all(final[1] == 0)  # the empty row


@pytest.mark.parametrize("name", ALL_CELLS)
def test_final_is_last_token_forward_and_first_token_backward(name):
    rnn = build(name, bidirectional=True, layers=1, seed=6)
    x, lengths = make_batch([2, 5, 3], steps=6)
    outputs, final = rnn(x, lengths)
    for i, n in enumerate([2, 5, 3]):
        torch.testing.assert_close(final[i, :H], outputs[i, n - 1, :H], atol=0, rtol=0)
        torch.testing.assert_close(final[i, H:], outputs[i, 0, H:], atol=0, rtol=0)


@pytest.mark.parametrize("name", ALL_CELLS)
def test_all_empty_inputs(name):
    rnn = build(name, bidirectional=True, layers=2, seed=7)
    x, lengths = make_batch([0, 0], steps=3)
    outputs, final = rnn(x, lengths)
    assert outputs.shape == (2, 3, 2 * H) and torch.all(outputs == 0)
    assert final.shape == (2, 2 * H) and torch.all(final == 0)
    outputs, final = rnn(torch.zeros(2, 0, E, dtype=torch.float64), torch.tensor([0, 0]))  # T = 0
    assert outputs.shape == (2, 0, 2 * H) and final.shape == (2, 2 * H) and torch.all(final == 0)


@pytest.mark.parametrize("kind", KINDS)
def test_reference_gradients_equal_fused(kind):
    fused, ref = pair(kind, bidirectional=True, layers=2)
    grads = {}
    for label, rnn in [("fused", fused), ("ref", ref)]:
        x, lengths = make_batch([4, 0, 6, 2], steps=6)
        x.requires_grad_(True)
        outputs, final = rnn(x, lengths)
        (outputs.pow(2).sum() + final.sin().sum()).backward()
        grads[label] = {name: p.grad for name, p in rnn.named_parameters()}
        grads[label]["x"] = x.grad
    for name, grad in grads["ref"].items():
        assert grad is not None and torch.isfinite(grad).all(), name
        torch.testing.assert_close(grad, grads["fused"][name], atol=1e-4, rtol=0)
    assert grads["ref"]["weight_ih_l0_reverse"].abs().sum() > 0
    assert torch.all(grads["ref"]["x"][0, 4:] == 0)  # padding gets no gradient
    assert torch.all(grads["ref"]["x"][1] == 0)  # nor does an empty row


def test_reference_cell_trains_in_float32():
    torch.manual_seed(0)
    rnn = build_rnn("gru-ref", input_size=E, hidden_size=H, num_layers=1, bidirectional=False, dropout=0.0)
    x, lengths = make_batch([3, 5, 2], dtype=torch.float32)
    opt = torch.optim.SGD(rnn.parameters(), lr=0.5)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        _, final = rnn(x, lengths)
        loss = (final - 0.5).pow(2).sum()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("name", ALL_CELLS)
def test_dropout_only_between_layers_and_only_in_training(name):
    x, lengths = make_batch([5, 3], dtype=torch.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns about dropout on one layer; the config default is 0.2
        one_layer = build_rnn(name, input_size=E, hidden_size=H, num_layers=1, bidirectional=False, dropout=0.5)
    one_layer.train()
    assert torch.equal(one_layer(x, lengths)[0], one_layer(x, lengths)[0])  # nothing between layers to drop

    two_layers = build_rnn(name, input_size=E, hidden_size=H, num_layers=2, bidirectional=False, dropout=0.5)
    torch.manual_seed(0)
    two_layers.train()
    runs = [two_layers(x, lengths)[0] for _ in range(3)]
    assert not all(torch.equal(runs[0], run) for run in runs[1:])
    two_layers.eval()
    assert torch.equal(two_layers(x, lengths)[0], two_layers(x, lengths)[0])


def test_unknown_cell_lists_the_choices():
    with pytest.raises(ZhseqError) as caught:
        build_rnn("lstn", input_size=E, hidden_size=H)
    assert str(caught.value) == "unknown cell 'lstn'; choose one of: gru, gru-ref, lstm, lstm-ref, rnn, rnn-ref"
    assert cell_names() == sorted(ALL_CELLS)


@pytest.fixture
def restore_registry():
    saved = dict(CELLS)
    yield
    CELLS.clear()
    CELLS.update(saved)


def test_register_a_custom_cell(restore_registry):
    @register_cell("mean")
    class MeanCell(nn.Module):
        """Running mean of a linear projection: enough to show any cell can plug in."""

        def __init__(self, input_size, hidden_size, num_layers, bidirectional, dropout):
            super().__init__()
            self.proj = nn.Linear(input_size, hidden_size)

        def forward(self, x, lengths):
            mask = (torch.arange(x.size(1))[None, :] < lengths[:, None]).to(x.dtype)[..., None]
            outputs = self.proj(x) * mask
            final = outputs.sum(1) / lengths.clamp(min=1)[:, None].to(x.dtype)
            return outputs, final

    assert CELLS["mean"] is MeanCell
    assert "mean" in cell_names()
    rnn = build_rnn("mean", input_size=E, hidden_size=H)
    assert isinstance(rnn, MeanCell)
    outputs, final = rnn(torch.randn(2, 3, E), torch.tensor([3, 1]))
    assert outputs.shape == (2, 3, H) and final.shape == (2, H)
    assert torch.all(outputs[1, 1:] == 0)

    with pytest.raises(ValueError, match="already registered"):
        register_cell("mean")(MeanCell)
    with pytest.raises(ValueError, match="already registered"):
        register_cell("lstm")(MeanCell)
    assert CELLS["lstm"] is not MeanCell

    replacement = register_cell("mean", override=True)(type("Other", (MeanCell,), {}))
    assert CELLS["mean"] is replacement


def test_registry_restored_after_custom_registration():
    # runs after test_register_a_custom_cell in file order: the fixture removed "mean"
    assert "mean" not in CELLS
    assert cell_names() == sorted(ALL_CELLS)
