"""Training-only regularisation: label smoothing (FitConfig.label_smoothing, sentiment) and word dropout
(FitConfig.word_dropout): what they change in training, that they change nothing at evaluation or in the saved
model, how the recipe records them, and that --resume still continues a run exactly."""

import hashlib
import json

import pytest
import torch
import torch.nn.functional as F

from cli_helpers import invoke, one_error_line
from training_helpers import interrupted_at_step
from zhseq.config import BackboneConfig, FitConfig, SentimentConfig
from zhseq.errors import ZhseqError
from zhseq.modeling import SentimentNet, drop_words
from zhseq.training import train
from zhseq.training.state import STATE_DIR, load_state
from zhseq.vocab import BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID

TINY = dict(embedding_size=8, hidden_size=8, min_freq=1, batch_size=16, progress=False)


def digest(folder):
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def _net(**backbone):
    torch.manual_seed(0)
    return SentimentNet(SentimentConfig(BackboneConfig(40, 6, 5, **backbone), num_labels=3))


def _batch():
    ids = torch.tensor([[5, 6, 7, 8, 9], [10, 11, 12, 0, 0]])
    return ids, torch.tensor([5, 3]), torch.tensor([2, 0])


# -- label smoothing ---------------------------------------------------------------------------------------
def test_label_smoothing_gives_torchs_smoothed_cross_entropy_in_training_only():
    net = _net(dropout=0.0, embedding_dropout=0.0)  # no dropout: train and eval logits are the same
    ids, lengths, targets = _batch()
    net.train()
    logits, plain = net(ids, lengths, targets)
    net.label_smoothing = 0.2
    logits2, smoothed = net(ids, lengths, targets)
    assert torch.equal(logits, logits2)
    logp = F.log_softmax(logits, -1)
    by_hand = (0.8 * -logp[torch.arange(2), targets] + 0.2 * -logp.mean(-1)).mean()  # Szegedy et al. 2016
    assert smoothed.item() == pytest.approx(by_hand.item(), rel=1e-6)
    assert smoothed.item() == pytest.approx(F.cross_entropy(logits, targets, label_smoothing=0.2).item(), rel=1e-6)
    assert smoothed.item() != pytest.approx(plain.item())
    net.eval()  # evaluation scores the plain cross-entropy
    assert net(ids, lengths, targets)[1].item() == pytest.approx(plain.item(), rel=1e-6)


def test_label_smoothing_trains_a_different_model_and_is_recorded_but_not_saved_in_the_model(two_label_tsv,
                                                                                           tmp_path):
    plain = train("sentiment", str(two_label_tsv), tmp_path / "plain", epochs=1, ngrams=False, **TINY)
    smooth = train("sentiment", str(two_label_tsv), tmp_path / "smooth", epochs=1, ngrams=False,
                   label_smoothing=0.1, **TINY)
    assert digest(plain) != digest(smooth)
    config = json.loads((smooth / "config.json").read_text(encoding="utf-8"))
    assert config["training"]["label_smoothing"] == 0.1 and config["training"]["word_dropout"] == 0.0
    assert "label_smoothing" not in json.dumps({"b": config["backbone"], "h": config["head"]})
    before = json.loads((plain / "config.json").read_text(encoding="utf-8"))
    assert before["backbone"] == config["backbone"] and before["head"] == config["head"]


def test_label_smoothing_is_refused_for_an_lm_before_anything_is_read(tmp_path):
    with pytest.raises(ZhseqError, match="label_smoothing is a setting of sentiment models only"):
        train("lm", str(tmp_path / "missing.txt"), tmp_path / "out", label_smoothing=0.1)
    assert not (tmp_path / "out").exists()
    line = one_error_line(invoke("train", "lm", "--data", tmp_path / "missing.txt", "--out", tmp_path / "o",
                                 "--label-smoothing", "0.1"))
    assert line == "Error: label_smoothing is a setting of sentiment models only"
    for option, value in (("--label-smoothing", "1"), ("--word-dropout", "-0.1"), ("--word-dropout", "x")):
        result = invoke("train", "sentiment", "--data", tmp_path / "missing.tsv", "--out", tmp_path / "o",
                        option, value)
        assert result.exit_code == 2 and option in result.output


# -- word dropout ------------------------------------------------------------------------------------------
def test_word_dropout_replaces_words_by_unk_and_leaves_specials_alone():
    torch.manual_seed(0)
    ids = torch.randint(len(SPECIALS), 1000, (64, 200))
    ids[:, 0], ids[:, -1], ids[:, -20:-1] = BOS_ID, EOS_ID, PAD_ID
    dropped = drop_words(ids, 0.25)
    changed = dropped != ids
    assert (dropped[changed] == UNK_ID).all()
    assert not changed[:, 0].any() and not changed[:, -20:].any()  # <bos>, <pad>, <eos> stay
    share = changed.sum().item() / ids[:, 1:-20].numel()
    assert 0.23 < share < 0.27
    assert torch.equal(drop_words(ids, 0.0), ids)


def test_word_dropout_acts_in_training_and_never_at_evaluation():
    net = _net(dropout=0.0, embedding_dropout=0.0)
    ids, lengths, targets = _batch()
    net.eval()
    plain = net(ids, lengths)[0]
    net.backbone.word_dropout = 0.9
    assert torch.equal(net(ids, lengths)[0], plain)  # prediction: the words as they are
    net.train()
    torch.manual_seed(1)
    assert not torch.equal(net(ids, lengths)[0], plain)
    net.backbone.word_dropout = 0.0
    assert torch.equal(net(ids, lengths)[0], plain)


def test_word_dropout_trains_a_different_model_and_resume_continues_it_exactly(two_label_tsv, tmp_path):
    kw = dict(epochs=2, ngrams=False, checkpoint_every=3, word_dropout=0.3, **TINY)
    whole = train("sentiment", str(two_label_tsv), tmp_path / "whole", **kw)
    plain = train("sentiment", str(two_label_tsv), tmp_path / "plain", **{**kw, "word_dropout": 0.0})
    assert digest(whole) != digest(plain)
    assert json.loads((whole / "config.json").read_text(encoding="utf-8"))["training"]["word_dropout"] == 0.3

    out = tmp_path / "stopped"
    with interrupted_at_step(14):
        train("sentiment", str(two_label_tsv), out, **kw)
    assert load_state(out)["loop"]["step"] == 12
    with pytest.raises(ZhseqError, match="different run"):
        train("sentiment", str(two_label_tsv), out, resume=True, **{**kw, "word_dropout": 0.2})
    resumed = train("sentiment", str(two_label_tsv), out, resume=True, **kw)
    assert digest(resumed) == digest(whole)


def test_a_checkpoint_from_before_these_settings_resumes_as_their_defaults(two_label_tsv, tmp_path):
    kw = dict(epochs=2, ngrams=False, checkpoint_every=3, **TINY)
    whole = train("sentiment", str(two_label_tsv), tmp_path / "whole", **kw)
    out = tmp_path / "old"
    with interrupted_at_step(8):
        train("sentiment", str(two_label_tsv), out, **kw)
    pointer = json.loads((out / STATE_DIR / "latest.json").read_text())["dir"]
    state_json = out / STATE_DIR / pointer / "state.json"
    state = json.loads(state_json.read_text(encoding="utf-8"))
    for name in ("label_smoothing", "word_dropout"):  # as an earlier version wrote it
        del state["loop"]["fingerprint"]["recipe"][name]
    state_json.write_text(json.dumps(state), encoding="utf-8")
    assert digest(train("sentiment", str(two_label_tsv), out, resume=True, **kw)) == digest(whole)


# -- checkpoint averaging ----------------------------------------------------------------------------------
def test_the_loop_averages_the_last_n_epochs_parameters():
    from zhseq.training.loop import fit
    from zhseq.training.tasks import SentimentTask

    net = _net()
    g = torch.Generator().manual_seed(0)
    examples = [(torch.randint(4, 40, (6,), generator=g).tolist(), i % 3) for i in range(64)]
    seen, got = [], {}
    fit(net, examples, collate=SentimentTask.collate,
        config=FitConfig(epochs=3, batch_size=16, patience=9, average_last=2, progress=False),
        on_epoch=lambda h: seen.append({n: p.detach().clone() for n, p in net.named_parameters()}),
        on_average=lambda params, n: got.update(params=params, n=n))
    assert got["n"] == 2 and got["params"].keys() == seen[-1].keys()
    for name, value in got["params"].items():
        assert torch.allclose(value, (seen[1][name] + seen[2][name]) / 2, atol=1e-7), name
    assert not torch.equal(got["params"]["classifier.weight"], seen[2]["classifier.weight"])


def test_average_last_saves_a_scored_model_average_beside_the_unchanged_best_and_last(two_label_tsv, tmp_path):
    from cli_helpers import ok

    kw = dict(epochs=3, patience=3, checkpoint_every=5, **TINY)
    plain = train("sentiment", str(two_label_tsv), tmp_path / "plain", **kw)
    out = tmp_path / "avg"
    train("sentiment", str(two_label_tsv), out, average_last=2, **kw)
    for name in ("model-best", "model-last"):  # averaging changes nothing else
        assert digest(out / name) == digest(plain.parent / name)
    average = out / "model-average"
    assert digest(average) not in (digest(out / "model-best"), digest(out / "model-last"))
    config = json.loads((average / "config.json").read_text(encoding="utf-8"))
    assert config["training"]["average_last"] == 2 and "accuracy" in config["dev_scores"]
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["average"]["epochs"] == [2, 3] and "accuracy" in metrics["average"]["dev"]
    assert "model-average" in metrics["ngrams"]  # its n-gram weight chosen on dev, as the others'
    assert config["head"]["ngram_weight"] == metrics["ngrams"]["model-average"]["weight"]
    result = ok("sentiment", "--model", average, "服务很好", "--format", "jsonl")
    assert json.loads(result.stdout)["label"] in ("positive", "negative")

    stopped = tmp_path / "stopped"
    with interrupted_at_step(60):  # in epoch 3: one epoch's parameters are in the checkpoint
        train("sentiment", str(two_label_tsv), stopped, average_last=2, **kw)
    assert any(k.startswith("average.0.") for k in load_state(stopped)["tensors"])
    train("sentiment", str(two_label_tsv), stopped, resume=True, average_last=2, **kw)
    assert digest(stopped / "model-average") == digest(average)
