"""The torch models: padding never changes a result, both heads share forward(), tied weights, resizing."""

import pytest
import torch
import torch.nn.functional as F

from zhseq.api import pad_batch
from zhseq.errors import ZhseqError
from zhseq.config import POOLINGS
from zhseq.modeling import (
    BackboneConfig,
    NextWordConfig,
    NextWordNet,
    SentimentConfig,
    SentimentNet,
    build_model,
)
from zhseq.vocab import BOS_ID, PAD_ID

CELLS = ["rnn", "lstm", "gru"]
V, E, H = 23, 8, 12
# an empty text among rows of different lengths; no row fills the batch's width except the longest
SEQS = [[5, 6, 7], [], [4], [8, 9, 10, 11, 12, 13, 14], [22, 4, 4, 21]]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def backbone(cell, bidirectional, layers=1):
    return BackboneConfig(vocab_size=V, embedding_size=E, hidden_size=H, cell=cell, layers=layers,
                          bidirectional=bidirectional, dropout=0.3, embedding_dropout=0.2)


def sentiment_net(cell="lstm", bidirectional=True, pooling="max", layers=1, num_labels=3, seed=0):
    torch.manual_seed(seed)
    return SentimentNet(SentimentConfig(backbone(cell, bidirectional, layers), num_labels=num_labels,
                                        pooling=pooling)).eval()


def lm_net(cell="lstm", layers=1, seed=0):
    torch.manual_seed(seed)
    return NextWordNet(NextWordConfig(backbone(cell, False, layers), bptt=16)).eval()


def lm_targets(seqs):
    """Next-token targets for each row: the row shifted left, ending with an arbitrary real id."""
    return pad_batch([s[1:] + [3] if s else [] for s in seqs])[0]


# -- padding invariance ---------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_sentiment_alone_equals_row_in_batch(cell, bidirectional, pooling):
    net = sentiment_net(cell, bidirectional, pooling, layers=2)
    ids, lengths = pad_batch(SEQS)
    with torch.no_grad():
        batch_logits, loss = net(ids, lengths)
        assert loss is None and batch_logits.shape == (len(SEQS), 3)
        for i, seq in enumerate(SEQS):
            alone, _ = net(*pad_batch([seq]))
            torch.testing.assert_close(alone[0], batch_logits[i], atol=1e-5, rtol=0)
        # extra padding columns (and junk ids in them) change nothing either
        wide = torch.cat([ids, torch.randint(4, V, (len(SEQS), 3))], dim=1)
        torch.testing.assert_close(net(wide, lengths)[0], batch_logits, atol=1e-5, rtol=0)
    assert torch.isfinite(batch_logits).all()
    # rows are really different: the test is not passing on constant outputs
    assert not torch.allclose(batch_logits[0], batch_logits[3])


@pytest.mark.parametrize("cell", CELLS)
def test_next_word_alone_equals_row_in_batch(cell):
    net = lm_net(cell, layers=2)
    ids, lengths = pad_batch(SEQS)
    with torch.no_grad():
        batch_logits, loss = net(ids, lengths)  # (B, T, V)
        assert loss is None and batch_logits.shape == (len(SEQS), ids.size(1), V)
        batch_next = net.next_logits(ids, lengths)  # (B, V)
        assert batch_next.shape == (len(SEQS), V)
        for i, seq in enumerate(SEQS):
            alone_ids, alone_lengths = pad_batch([seq])
            alone, _ = net(alone_ids, alone_lengths)
            n = len(seq)
            torch.testing.assert_close(alone[0, :n], batch_logits[i, :n], atol=1e-5, rtol=0)
            alone_next = net.next_logits(alone_ids, alone_lengths)[0]
            torch.testing.assert_close(alone_next, batch_next[i], atol=1e-5, rtol=0)
            if n:  # the next-word logits are the ones at the last real position
                torch.testing.assert_close(batch_next[i], batch_logits[i, n - 1], atol=1e-5, rtol=0)
    assert torch.isfinite(batch_next).all()


# -- forward(ids, lengths, targets) -> (logits, loss) ---------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_sentiment_forward_with_targets(cell, bidirectional):
    net = sentiment_net(cell, bidirectional)
    ids, lengths = pad_batch(SEQS)
    targets = torch.tensor([0, 2, 1, 1, 0])
    logits, loss = net(ids, lengths, targets)
    assert logits.shape == (len(SEQS), 3)
    assert loss.dim() == 0 and torch.isfinite(loss)
    torch.testing.assert_close(loss, F.cross_entropy(logits, targets))
    net.train()
    _, loss = net(ids, lengths, targets)
    loss.backward()
    assert net.backbone.embedding.weight.grad is not None
    assert net.backbone.embedding.weight.grad[PAD_ID].abs().sum() == 0  # padding row never learns


@pytest.mark.parametrize("cell", CELLS)
def test_next_word_forward_excludes_padded_targets(cell):
    net = lm_net(cell)
    ids, lengths = pad_batch(SEQS)
    targets = lm_targets(SEQS)
    real = targets != PAD_ID
    assert int(real.sum()) == sum(len(s) for s in SEQS)
    logits, loss = net(ids, lengths, targets)
    assert logits.shape == (int(real.sum()), V)  # (N, V): one row per real target only
    full, _ = net(ids, lengths)  # (B, T, V)
    torch.testing.assert_close(logits, full[real], atol=1e-6, rtol=0)
    torch.testing.assert_close(loss, F.cross_entropy(full[real], targets[real]), atol=1e-6, rtol=0)
    # the same batch with extra padding: the same loss
    wide_targets = torch.cat([targets, torch.zeros(len(SEQS), 4, dtype=torch.long)], dim=1)
    wide_ids = torch.cat([ids, torch.randint(4, V, (len(SEQS), 4))], dim=1)
    _, wide_loss = net(wide_ids, lengths, wide_targets)
    torch.testing.assert_close(wide_loss, loss, atol=1e-6, rtol=0)


def test_next_word_has_no_separate_output_matrix():
    net = lm_net()
    matrices = [name for name, p in net.named_parameters() if p.dim() == 2 and p.size(0) == V]
    assert matrices == ["backbone.embedding.weight"]
    assert [n for n, p in net.named_parameters() if p.dim() == 1 and p.numel() == V] == ["out_bias"]
    # logits are (projected state) · embedding rows + bias: editing one embedding row moves that logit only
    ids, lengths = pad_batch(SEQS)
    with torch.no_grad():
        before = net.next_logits(ids, lengths)
        net.backbone.embedding.weight[17] = 0.0  # 17 never appears as an input in SEQS
        after = net.next_logits(ids, lengths)
    torch.testing.assert_close(after[:, 17], net.out_bias[17].expand(len(SEQS)).detach())
    keep = [i for i in range(V) if i != 17]
    torch.testing.assert_close(after[:, keep], before[:, keep])


def test_next_word_output_gradient_reaches_the_embedding():
    net = lm_net().train()
    ids, lengths = pad_batch([[4, 5, 6]])
    targets = torch.tensor([[20, 20, 20]])  # 20 is only ever a target, never an input
    _, loss = net(ids, lengths, targets)
    loss.backward()
    assert net.backbone.embedding.weight.grad[20].abs().sum() > 0


# -- resizing and relabelling ---------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
def test_resize_embedding_keeps_old_rows(cell):
    net = sentiment_net(cell)
    old = net.backbone.embedding.weight.detach().clone()
    ids, lengths = pad_batch(SEQS)
    with torch.no_grad():
        before = net(ids, lengths)[0]
    net.backbone.resize_embedding(V + 7)
    weight = net.backbone.embedding.weight
    assert weight.shape == (V + 7, E) and net.config.backbone.vocab_size == V + 7
    assert torch.equal(weight[:V].detach(), old)
    assert weight.requires_grad
    with torch.no_grad():
        torch.testing.assert_close(net(ids, lengths)[0], before)  # old ids mean what they meant
    with pytest.raises(ValueError):
        net.backbone.resize_embedding(V)


def test_resize_vocab_keeps_old_logits():
    net = lm_net()
    ids, lengths = pad_batch(SEQS)
    with torch.no_grad():
        net.out_bias.add_(torch.randn(V))  # a non-zero bias, as after training
        old_bias = net.out_bias.detach().clone()
        before = net.next_logits(ids, lengths)
    net.resize_vocab(V + 5)
    assert net.backbone.embedding.weight.shape == (V + 5, E)
    assert net.out_bias.shape == (V + 5,) and torch.equal(net.out_bias[:V].detach(), old_bias)
    assert net.config.backbone.vocab_size == V + 5
    with torch.no_grad():
        after = net.next_logits(ids, lengths)
    assert after.shape == (len(SEQS), V + 5)
    torch.testing.assert_close(after[:, :V], before)
    assert {n for n, _ in net.named_parameters()} >= {"out_bias", "backbone.embedding.weight"}


def test_reset_labels_changes_output_size():
    net = sentiment_net(num_labels=2)
    rnn_state = {k: v.clone() for k, v in net.backbone.state_dict().items()}
    net.reset_labels(4)
    assert net.config.num_labels == 4
    ids, lengths = pad_batch(SEQS)
    logits, loss = net(ids, lengths, torch.tensor([0, 1, 2, 3, 3]))
    assert logits.shape == (len(SEQS), 4) and torch.isfinite(loss)
    assert all(torch.equal(v, rnn_state[k]) for k, v in net.backbone.state_dict().items())


# -- configs and errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("task, make", [("sentiment", sentiment_net), ("lm", lm_net)])
def test_build_model_from_config_dict_rebuilds_the_same_model(task, make):
    net = make()
    again = build_model(task, net.config.to_dict())
    assert type(again) is type(net) and again.config == net.config
    again.load_state_dict(net.state_dict(), strict=True)
    again.eval()
    ids, lengths = pad_batch(SEQS)
    with torch.no_grad():
        torch.testing.assert_close(again(ids, lengths)[0], net(ids, lengths)[0])


def test_a_stacked_bidirectional_next_word_net_is_refused():
    # in a second layer the left-to-right half would read the right-to-left half's states: the future
    with pytest.raises(ZhseqError, match="one layer"):
        NextWordNet(NextWordConfig(backbone("lstm", True, 2)))
    with pytest.raises(ZhseqError, match="one layer"):
        build_model("lm", {"backbone": {"vocab_size": V, "bidirectional": True, "layers": 2}, "head": {}})


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_a_bidirectional_next_word_net_predicts_with_its_left_to_right_half(cell):
    torch.manual_seed(0)
    bi = NextWordNet(NextWordConfig(backbone(cell, True), bptt=16)).eval()
    uni = NextWordNet(NextWordConfig(backbone(cell, False), bptt=16)).eval()
    state = {k: v for k, v in bi.state_dict().items() if "_reverse" not in k and "projection_backward" not in k}
    uni.load_state_dict(state, strict=True)  # the same weights, without the right-to-left half
    ids, lengths = pad_batch(SEQS)
    targets = lm_targets(SEQS)
    with torch.no_grad():
        torch.testing.assert_close(bi.next_logits(ids, lengths), uni.next_logits(ids, lengths))
        torch.testing.assert_close(bi(ids, lengths)[0], uni(ids, lengths)[0])
        torch.testing.assert_close(bi(ids, lengths, targets), uni(ids, lengths, targets))  # evaluation: same
        # the future never reaches a prediction: changing the last word leaves every earlier logit alone
        changed = ids.clone()
        changed[0, lengths[0] - 1] = (changed[0, lengths[0] - 1] + 1) % V
        first, second = bi(ids, lengths)[0], bi(changed, lengths)[0]
        torch.testing.assert_close(first[0, : lengths[0] - 1], second[0, : lengths[0] - 1])


def test_a_bidirectional_next_word_net_trains_its_right_to_left_half_on_the_previous_word():
    torch.manual_seed(0)
    net = NextWordNet(NextWordConfig(BackboneConfig(V, E, H, cell="lstm", bidirectional=True, dropout=0.0,
                                                    embedding_dropout=0.0), bptt=16)).train()
    ids, lengths = pad_batch(SEQS)
    targets = lm_targets(SEQS)
    _, loss = net(ids, lengths, targets)
    net.eval()
    with torch.no_grad():
        outputs, _ = net.backbone(ids, lengths)
        ahead_logits, ahead = net(ids, lengths, targets)
        # by hand: the right-to-left state at t predicts the word at t-1 (positions 1 … length-1, not <bos>)
        behind, before = [], []
        for row, n in enumerate(lengths.tolist()):
            for t in range(1, n):
                if int(ids[row, t - 1]) not in (PAD_ID, BOS_ID):
                    behind.append(outputs[row, t, H:])
                    before.append(int(ids[row, t - 1]))
        back = F.cross_entropy(net.logits_from_states(torch.stack(behind), net.projection_backward),
                               torch.tensor(before))
    assert before and loss.item() == pytest.approx((ahead.item() + back.item()) / 2, rel=1e-5)
    loss.backward()
    assert net.projection_backward.weight.grad.abs().sum() > 0
    assert net.backbone.rnn.weight_hh_l0_reverse.grad.abs().sum() > 0


def test_build_model_errors():
    with pytest.raises(ZhseqError, match="translation"):
        build_model("translation", {"backbone": {"vocab_size": V}, "head": {}})
    with pytest.raises(ZhseqError):
        build_model("sentiment", {"head": {}})  # no backbone
    with pytest.raises(ZhseqError, match="wings"):
        build_model("sentiment", {"backbone": {"vocab_size": V, "wings": 2}, "head": {}})
    with pytest.raises(ZhseqError, match="transformer"):
        build_model("sentiment", {"backbone": {"vocab_size": V, "cell": "transformer"}, "head": {}})
    with pytest.raises(ZhseqError, match="pooling"):
        build_model("sentiment", {"backbone": {"vocab_size": V}, "head": {"pooling": "attention"}})
    with pytest.raises(ZhseqError):
        build_model("sentiment", {"backbone": {"vocab_size": V}, "head": {"num_labels": 1}})


# -- sampled softmax ------------------------------------------------------------------------------


def sampled_lm(n_samples, vocab_size=400, seed=0):
    torch.manual_seed(seed)
    bb = BackboneConfig(vocab_size=vocab_size, embedding_size=E, hidden_size=H, cell="lstm", bidirectional=False,
                        dropout=0.0, embedding_dropout=0.0)
    return NextWordNet(NextWordConfig(bb, bptt=16, sampled_softmax=n_samples))


def test_sampled_softmax_trains_on_samples_and_evaluates_on_the_full_vocabulary():
    net = sampled_lm(32)
    ids, lengths = pad_batch(SEQS)
    targets = lm_targets(SEQS)
    n = int((targets != PAD_ID).sum())
    net.train()
    logits, loss = net(ids, lengths, targets)
    assert logits.shape == (n, 1 + 32) and torch.isfinite(loss)
    loss.backward()
    assert net.backbone.embedding.weight.grad.abs().sum() > 0
    net.eval()
    logits, loss = net(ids, lengths, targets)
    assert logits.shape == (n, 400)  # evaluation: the exact full softmax
    with torch.no_grad():
        assert float(loss) == pytest.approx(float(F.cross_entropy(logits, targets[targets != PAD_ID])))


def test_training_with_sampled_softmax_lowers_the_full_softmax_loss():
    """The sampled loss is only an estimate, but following its gradient must teach the exact model."""
    net = sampled_lm(256, vocab_size=2000)
    seqs = [[5, 6, 7, 8, 9, 10, 11, 12], [40, 41, 42, 43], [700, 701, 702, 703, 704]] * 4
    ids, lengths = pad_batch(seqs)
    targets = lm_targets(seqs)
    net.eval()
    before = float(net(ids, lengths, targets)[1].detach())
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    net.train()
    for _ in range(200):
        opt.zero_grad()
        net(ids, lengths, targets)[1].backward()
        opt.step()
    net.eval()
    after = float(net(ids, lengths, targets)[1].detach())
    assert after < 0.3 * before


def test_sampled_softmax_at_least_the_vocabulary_is_the_full_softmax():
    net = sampled_lm(400)  # as many samples as words: nothing to gain, so the full softmax
    ids, lengths = pad_batch(SEQS)
    net.train()
    logits, _ = net(ids, lengths, lm_targets(SEQS))
    assert logits.shape[1] == 400


def test_a_bidirectional_next_word_net_trains_both_halves_with_a_sampled_softmax():
    torch.manual_seed(0)
    net = NextWordNet(NextWordConfig(BackboneConfig(400, E, H, cell="lstm", bidirectional=True), bptt=16,
                                     sampled_softmax=32)).train()
    ids, lengths = pad_batch(SEQS)
    logits, loss = net(ids, lengths, lm_targets(SEQS))
    assert logits.shape == (int(lengths.sum()), 1 + 32) and torch.isfinite(loss)
    loss.backward()
    assert net.projection.weight.grad.abs().sum() > 0 and net.projection_backward.weight.grad.abs().sum() > 0
