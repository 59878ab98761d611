"""ULMFiT (Howard & Ruder 2018) in zhseq: the layer groups, discriminative learning rates (FitConfig.discriminative_lr),
gradual unfreezing (FitConfig.gradual_unfreezing) and their resume, and ``finetune(..., unlabeled=[...])``:
the backbone adapted as a language model on the domain's text before the classifier is fine-tuned."""

import hashlib
import json

import pytest
import torch

from cli_helpers import invoke, one_error_line
from training_helpers import interrupted_at_step
from zhseq.config import BackboneConfig, FitConfig, NextWordConfig, SentimentConfig
from zhseq.errors import ZhseqError
from zhseq.modeling import NextWordNet, SentimentNet, layer_groups
from zhseq.training import train
from zhseq.training.loop import discriminative_groups, fit, parameter_groups, unfreeze
from zhseq.training.state import load_state
from zhseq.training.tasks import SentimentTask

TINY = dict(embedding_size=8, hidden_size=8, min_freq=1, batch_size=16, progress=False, ngrams=False)


def digest(folder):
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def _names(net, params):
    ids = {id(p) for p in params}
    return [n for n, p in net.named_parameters() if id(p) in ids]


# -- layer groups -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["lstm", "gru", "lstm-ref"])
def test_layer_groups_are_the_embedding_each_recurrent_layer_and_the_head(cell):
    net = SentimentNet(SentimentConfig(BackboneConfig(30, 6, 5, cell=cell, layers=2), num_labels=3,
                                       ngram_buckets=64))
    groups = layer_groups(net)
    assert len(groups) == 4
    assert _names(net, groups[0]) == ["backbone.embedding.weight"]
    for k in (0, 1):
        names = _names(net, groups[1 + k])
        assert len(names) == 8 and all(n.endswith((f"_l{k}", f"_l{k}_reverse")) for n in names)
    assert _names(net, groups[3]) == ["classifier.weight", "classifier.bias"]  # the n-gram table: buffers
    assert sorted(n for g in groups for n in _names(net, g)) == sorted(n for n, _ in net.named_parameters())


def test_an_lms_tied_output_layer_trains_with_the_embedding_and_its_head_is_the_projections():
    net = NextWordNet(NextWordConfig(BackboneConfig(40, 6, 5, bidirectional=True)))
    groups = layer_groups(net)
    assert len(groups) == 3 and _names(net, groups[0]) == ["backbone.embedding.weight"]
    assert sorted(_names(net, groups[2])) == ["out_bias", "projection.bias", "projection.weight",
                                              "projection_backward.bias", "projection_backward.weight"]
    with pytest.raises(ValueError, match="no zhseq backbone"):
        layer_groups(torch.nn.Linear(2, 2))


def test_discriminative_groups_give_lr_over_factor_to_the_power_of_depth_and_keep_the_decay_split():
    net = SentimentNet(SentimentConfig(BackboneConfig(30, 6, 5, layers=2), num_labels=2))
    groups = discriminative_groups(net, layer_groups(net), 0.01, 1e-3, 2.6)
    by_layer = {}
    for g in groups:
        by_layer.setdefault(g["layer"], set()).add(g["lr"])
    assert {k: v.pop() for k, v in by_layer.items()} == pytest.approx(
        {0: 1e-3 / 2.6**3, 1: 1e-3 / 2.6**2, 2: 1e-3 / 2.6, 3: 1e-3})
    # within each layer group, parameter_groups' split (the embedding does not decay)
    for index, params in enumerate(layer_groups(net)):
        mine = [(g["weight_decay"], g["params"]) for g in groups if g["layer"] == index]
        assert mine == [(g["weight_decay"], g["params"]) for g in parameter_groups(net, 0.01, params)]
    assert [g["weight_decay"] for g in groups if g["layer"] == 0] == [0.0]
    assert {id(p) for g in groups for p in g["params"]} == {id(p) for g in parameter_groups(net, 0.01)
                                                           for p in g["params"]}


# -- gradual unfreezing -----------------------------------------------------------------------------------
def _examples(n=96):
    g = torch.Generator().manual_seed(0)
    return [(torch.randint(4, 30, (int(torch.randint(2, 9, (1,), generator=g)),), generator=g).tolist(), i % 2)
            for i in range(n)]


@pytest.mark.parametrize("layers", [1, 2])
def test_gradual_unfreezing_trains_one_more_group_down_each_epoch_and_gives_all_back(layers):
    def build():
        torch.manual_seed(0)
        return SentimentNet(SentimentConfig(BackboneConfig(30, 6, 5, layers=layers), num_labels=2))

    net, start = build(), build()
    snapshots = []  # every parameter after each epoch
    fit(net, _examples(), collate=SentimentTask.collate,
        config=FitConfig(epochs=layers + 3, batch_size=16, patience=9, gradual_unfreezing=True, progress=False),
        on_epoch=lambda h: snapshots.append([p.detach().clone() for p in net.parameters()]))
    names = [n for n, _ in net.named_parameters()]
    groups = [_names(net, g) for g in layer_groups(net)]  # bottom to top: embedding, layers …, classifier
    assert len(groups) == layers + 2
    before = [p.detach() for p in start.parameters()]
    for epoch, after in enumerate(snapshots, 1):
        for depth, group in enumerate(reversed(groups)):  # depth 0: the head
            changed = [not torch.equal(after[names.index(n)], before[names.index(n)]) for n in group]
            # trained in this epoch if depth < epoch (bit-identical otherwise, weight decay included)
            assert any(changed) if depth < epoch else not any(changed), (epoch, group)
        before = after
    assert all(p.requires_grad for p in net.parameters())  # the model comes back trainable


def test_unfreeze_is_decided_by_the_epoch_alone():
    net = SentimentNet(SentimentConfig(BackboneConfig(30, 6, 5, layers=2), num_labels=2))
    groups = layer_groups(net)
    seen = []
    for epoch in (3, 1, 5, 2):
        trained = unfreeze(groups, epoch)
        seen.append((trained, [all(p.requires_grad for p in g) for g in groups]))
    assert seen == [(3, [False, True, True, True]), (1, [False, False, False, True]), (4, [True] * 4),
                    (2, [False, False, True, True])]


def test_a_run_stopped_in_a_frozen_phase_resumes_to_the_same_model(two_label_tsv, tmp_path):
    kw = dict(epochs=3, patience=3, checkpoint_every=4, gradual_unfreezing=True, discriminative_lr=2.6, **TINY)
    whole = train("sentiment", str(two_label_tsv), tmp_path / "whole", **kw)
    recipe = json.loads((whole / "config.json").read_text(encoding="utf-8"))["training"]
    assert recipe["gradual_unfreezing"] is True and recipe["discriminative_lr"] == 2.6
    for stop in (10, 30):  # epoch 1 (the head alone: 24 steps an epoch), epoch 2 (+ the recurrent layer)
        out = tmp_path / f"stopped-{stop}"
        with interrupted_at_step(stop):
            train("sentiment", str(two_label_tsv), out, **kw)
        state = load_state(out)
        groups = state["optimizer_groups"]
        assert sorted({(g["layer"], g["initial_lr"]) for g in groups}) == pytest.approx(
            [(0, 2e-3 / 2.6**2), (1, 2e-3 / 2.6), (2, 2e-3)])
        resumed = train("sentiment", str(two_label_tsv), out, resume=True, **kw)
        assert digest(resumed) == digest(whole)


def test_gradual_unfreezing_is_refused_under_torchrun_before_anything_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ZhseqError, match="one process only"):
        train("sentiment", str(tmp_path / "missing.tsv"), tmp_path / "out", gradual_unfreezing=True)
    line = one_error_line(invoke("train", "sentiment", "--data", tmp_path / "missing.tsv", "--out", tmp_path / "o",
                                 "--gradual-unfreezing"))
    assert line.startswith("Error: gradual_unfreezing trains in one process only") and "torchrun" in line
    assert not (tmp_path / "out").exists() and not (tmp_path / "o").exists()
