"""ULMFiT (Howard & Ruder 2018) in zhseq: the layer groups, discriminative learning rates (FitConfig.discriminative_lr),
gradual unfreezing (FitConfig.gradual_unfreezing) and their resume, and ``finetune(..., unlabeled=[...])``:
the backbone adapted as a language model on the domain's text before the classifier is fine-tuned."""

import hashlib
import json
import shutil

import pytest
import torch

from cli_helpers import invoke, ok, one_error_line
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
        rates = dict(sorted({(g["layer"], g["initial_lr"]) for g in groups}))  # pytest 9.2's approx: flat only
        assert list(rates) == [0, 1, 2]
        assert list(rates.values()) == pytest.approx([2e-3 / 2.6**2, 2e-3 / 2.6, 2e-3])
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


# -- finetune --unlabeled: the lm stage, then the classifier ----------------------------------------------
@pytest.fixture(scope="module")
def domain(two_label_tsv, tmp_path_factory):
    """A tiny base classifier, and 300 unlabelled texts of a 'new domain' (new words among the old)."""
    import random

    root = tmp_path_factory.mktemp("domain")
    base = train("sentiment", str(two_label_tsv), root / "base", epochs=1, **TINY)
    rng = random.Random(1)
    new, old = ["外卖", "骑手", "送餐", "好吃", "难吃"], ["很好", "失望", "房间", "快递", "不错"]
    raw = root / "raw.txt"
    raw.write_text("\n".join(f"{rng.choice(new)}{rng.choice(old)}，{rng.choice(old)}{rng.choice(new)}"
                             for _ in range(300)) + "\n", encoding="utf-8")
    return base, raw


FT = dict(epochs=2, batch_size=16, progress=False, checkpoint_every=4)
LM_FIT = FitConfig(epochs=1, batch_size=32, lr=1e-3, discriminative_lr=2.6, progress=False, checkpoint_every=4)


def _tensors(folder, prefix="backbone."):
    from safetensors.torch import load_file

    return {k: v for k, v in load_file(str(folder / "model.safetensors")).items() if k.startswith(prefix)}


def test_unlabeled_text_adapts_the_backbone_as_an_lm_before_the_classifier_is_tuned(domain, two_label_tsv, tmp_path):
    from zhseq.training import finetune

    base, raw = domain
    out = tmp_path / "ft"
    best = finetune(base, str(two_label_tsv), out, unlabeled=[raw], lm_fit=LM_FIT, **{**FT, "epochs": 1})
    lm = out / "lm" / "model-best"
    lm_config = json.loads((lm / "config.json").read_text(encoding="utf-8"))
    assert lm_config["task"] == "lm" and lm_config["backbone"] == json.loads(
        (best / "config.json").read_text(encoding="utf-8"))["backbone"]
    assert (lm / "vocab.json").read_bytes() == (best / "vocab.json").read_bytes()  # 外卖 … joined the vocabulary
    assert "骑手" in json.loads((lm / "vocab.json").read_text(encoding="utf-8"))["tokens"]
    # epoch 1 of gradual unfreezing trains the head alone: the classifier's backbone is the lm stage's, bit for bit
    adapted, tuned, before = _tensors(lm), _tensors(best), _tensors(base)
    assert adapted.keys() == tuned.keys()
    assert all(torch.equal(adapted[k], tuned[k]) for k in adapted)
    assert not torch.equal(tuned["backbone.rnn.weight_hh_l0"], before["backbone.rnn.weight_hh_l0"])
    n_old = before["backbone.embedding.weight"].size(0)
    assert not torch.equal(tuned["backbone.embedding.weight"][:n_old], before["backbone.embedding.weight"])
    recipe = json.loads((best / "config.json").read_text(encoding="utf-8"))["training"]
    assert recipe["unlabeled"] == [str(raw)]
    assert (recipe["discriminative_lr"], recipe["gradual_unfreezing"]) == (2.6, True)  # ULMFiT's, by default
    stage = recipe["lm_stage"]
    assert (stage["dir"], stage["epochs"], stage["n_unlabeled"], stage["n_texts"]) == ("lm", 1, 300, 300 + 380)
    assert stage["dev_perplexity"] > 1
    # OUT/lm is a next-word model like any other
    result = invoke("predict-next", "--model", lm, "外卖", "-k", "3", "--format", "jsonl")
    assert result.exit_code == 0 and len(json.loads(result.stdout)["predictions"]) == 3


def test_the_cli_reads_unlabeled_tables_with_the_same_reader_and_encoding(domain, tmp_path):
    base, raw = domain
    lines = raw.read_text(encoding="utf-8").splitlines()
    table = tmp_path / "raw.tsv"  # a table: its text column is read, its labels ignored
    table.write_text("label\ttext\n" + "\n".join(f"x\t{t}" for t in lines[:250]) + "\n", encoding="gb18030")
    labelled = tmp_path / "labelled.tsv"
    labelled.write_text("label\ttext\n" + "\n".join(f"{'positive' if i % 2 else 'negative'}\t{t}"
                                                    for i, t in enumerate(lines[:120])) + "\n", encoding="gb18030")
    out = tmp_path / "ft"
    result = invoke("finetune", base, "--data", labelled, "--unlabeled", table, "--encoding", "gb18030", "--out", out,
                    "--epochs", "1", "--lm-epochs", "1", "--batch-size", "16", "--no-gradual-unfreezing")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out / "model-best")
    # the labelled texts join the lm's
    assert "stage 1 of 2: adapting the backbone as a language model on 370 texts (250 unlabelled, 120 labelled)" \
           in result.stderr
    assert "stage 2 of 2: fine-tuning the classifier on 120 labelled texts, discriminative lr 2.6" in result.stderr
    # the lm stage holds out its own dev set, whether --dev is given or not: its line does not blame --dev
    assert "the language-model stage: holding out 18 of 370 training texts as the dev set" in result.stderr
    assert result.stderr.count("no --dev") == 1  # the classifier's: 120 labelled texts, too few to hold out
    recipe = json.loads((out / "model-best" / "config.json").read_text(encoding="utf-8"))["training"]
    assert recipe["gradual_unfreezing"] is False and recipe["lm_stage"]["n_unlabeled"] == 250
    assert (out / "lm" / "model-best" / "config.json").is_file()


def test_unlabeled_text_is_refused_for_an_lm_and_a_stacked_bidirectional_classifier(domain, two_label_tsv, tmp_path):
    base, raw = domain
    lm = train("lm", str(raw), tmp_path / "lm", epochs=1, **{k: v for k, v in TINY.items() if k != "ngrams"})
    line = one_error_line(invoke("finetune", lm, "--data", raw, "--unlabeled", raw, "--out", tmp_path / "o"))
    assert line.startswith("Error: --unlabeled is for sentiment models")
    stacked = train("sentiment", str(two_label_tsv), tmp_path / "stacked", epochs=1, layers=2, **TINY)
    line = one_error_line(invoke("finetune", stacked, "--data", two_label_tsv, "--unlabeled", raw, "--out",
                                 tmp_path / "o"))
    assert "bidirectional with 2 layers" in line and "would see the words it predicts" in line
    line = one_error_line(invoke("finetune", base, "--data", two_label_tsv, "--unlabeled", tmp_path / "none.txt",
                                 "--out", tmp_path / "o"))
    assert "none.txt" in line
    result = invoke("finetune", base, "--data", two_label_tsv, "--out", tmp_path / "o", "--lm-epochs", "2")
    assert result.exit_code == 2 and "--lm-epochs sets the lm stage, which runs with --unlabeled only" in result.output
    assert not (tmp_path / "o").exists()


def test_a_run_killed_in_either_stage_resumes_to_the_same_models(domain, two_label_tsv, tmp_path):
    from zhseq.training import finetune

    base, raw = domain
    kw = dict(unlabeled=[raw], lm_fit=LM_FIT, **FT)
    whole = finetune(base, str(two_label_tsv), tmp_path / "whole", **kw)
    lm_steps = json.loads((tmp_path / "whole" / "lm" / "metrics.json").read_text())["epochs"][-1]["step"]
    for stop, where in ((10, "lm/checkpoint"), (lm_steps + 30, "checkpoint")):  # in the lm stage, the classifier's
        out = tmp_path / f"stopped-{stop}"
        with interrupted_at_step(stop):
            finetune(base, str(two_label_tsv), out, **kw)
        assert (out / where / "latest.json").is_file() and not (out / "model-last").exists()
        if where == "checkpoint":  # the lm stage is finished: a different one is refused
            with pytest.raises(ZhseqError, match=r"lm stage of a different run: it differs in --lm-epochs \(1 then, 2 "
                                                 r"now; lm_fit\.epochs in Python\); rerun the same command"):
                finetune(base, str(two_label_tsv), out, resume=True,
                         **{**kw, "lm_fit": FitConfig(**{**LM_FIT.to_dict(), "epochs": 2})})
        resumed = finetune(base, str(two_label_tsv), out, resume=True, **kw)
        assert digest(resumed) == digest(whole)
        assert digest(out / "lm" / "model-best") == digest(tmp_path / "whole" / "lm" / "model-best")


# -- what a stopped --unlabeled run says ------------------------------------------------------------------
def test_stopped_in_the_lm_stage_before_its_first_checkpoint_says_so(domain, two_label_tsv, tmp_path, caplog):
    from zhseq.training import finetune

    base, raw = domain
    out = tmp_path / "ft"
    with caplog.at_level("WARNING", logger="zhseq"), interrupted_at_step(3):  # LM_FIT: a checkpoint every 4 steps
        finetune(base, str(two_label_tsv), out, unlabeled=[raw], lm_fit=LM_FIT, **FT)
    assert [r.getMessage() for r in caplog.records] == [
        f"interrupted at step 3 of the language-model stage, before the first checkpoint (written every 4 steps and "
        f"after each epoch): nothing to resume from, {out} removed"]
    assert not out.exists()


def test_resuming_an_lm_stage_without_unlabeled_says_to_give_it(domain, two_label_tsv, tmp_path, caplog):
    from zhseq.training import finetune

    base, raw = domain
    out = tmp_path / "ft"
    with caplog.at_level("WARNING", logger="zhseq"), interrupted_at_step(10):
        finetune(base, str(two_label_tsv), out, unlabeled=[raw], lm_fit=LM_FIT, **FT)
    assert (out / "lm" / "checkpoint" / "latest.json").is_file()
    assert [r.getMessage() for r in caplog.records] == [
        f"interrupted at step 10 of the language-model stage: continue with the same command plus --resume "
        f"(checkpoint at step 8 in {out / 'lm' / 'checkpoint'})"]
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    expected = (f"Error: --out {out} holds an unfinished fine-tuning with --unlabeled, in its language-model stage "
                f"(1 of 2; checkpoint at step 8 in {out / 'lm' / 'checkpoint'}): continue it with the same command "
                f"plus --unlabeled {raw} --resume, or choose a new or empty folder")
    for resume in (["--resume"], []):  # forgetting --unlabeled, with or without --resume
        line = one_error_line(invoke("finetune", base, "--data", two_label_tsv, "--out", out, *resume))
        assert line == expected, resume
    # with --unlabeled but without --resume: the checkpoint is named, and --resume
    line = one_error_line(invoke("finetune", base, "--data", two_label_tsv, "--unlabeled", raw, "--out", out))
    assert line == (f"Error: --out {out} already holds an unfinished run (checkpoint at step 8 in "
                    f"{out / 'lm' / 'checkpoint'}): continue it with the same command plus --resume, or choose a new "
                    "or empty folder")
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # nothing touched


def test_resuming_a_plain_finetune_with_unlabeled_says_to_leave_it_out(domain, two_label_tsv, tmp_path):
    from zhseq.training import finetune

    base, raw = domain
    out = tmp_path / "ft"
    with interrupted_at_step(6):  # FT: a checkpoint every 4 steps
        finetune(base, str(two_label_tsv), out, **FT)
    line = one_error_line(invoke("finetune", base, "--data", two_label_tsv, "--unlabeled", raw, "--out", out,
                                 "--resume"))
    assert line == (f"Error: --out {out} holds an unfinished fine-tuning without --unlabeled (checkpoint at step 4 in "
                    f"{out / 'checkpoint'}): continue it with the same command minus --unlabeled, plus --resume; or "
                    "choose a new or empty folder for this --unlabeled run")
    assert not (out / "lm").exists() and (out / "checkpoint" / "latest.json").is_file()


def test_resuming_the_classifier_stage_without_unlabeled_says_to_give_it(domain, two_label_tsv, tmp_path, caplog,
                                                                          monkeypatch):
    from zhseq.training import finetune

    base, raw = domain
    out = tmp_path / "ft"
    real, calls = torch.nn.utils.clip_grad_norm_, {"n": 0}

    def stop_in_the_classifier_stage(*args, **kwargs):  # its 6th step: after its first checkpoint (FT: every 4)
        calls["n"] += (out / "lm" / "model-last").is_dir()
        if calls["n"] == calls["at"]:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", stop_in_the_classifier_stage)
    calls["at"] = 6
    with pytest.raises(KeyboardInterrupt):
        finetune(base, str(two_label_tsv), out, unlabeled=[raw], lm_fit=LM_FIT, **FT)
    line = one_error_line(invoke("finetune", base, "--data", two_label_tsv, "--out", out, "--resume"))
    assert line == (f"Error: --out {out} holds an unfinished fine-tuning with --unlabeled, in its classifier stage "
                    f"(2 of 2; checkpoint at step 4 in {out / 'checkpoint'}): continue it with the same command plus "
                    f"--unlabeled {raw} --resume, or choose a new or empty folder")
    # stopped in the classifier stage before its first checkpoint: the finished lm stage is kept, and said
    shutil.rmtree(out)
    calls.update(n=0, at=2)
    caplog.clear()
    with caplog.at_level("WARNING", logger="zhseq"), pytest.raises(KeyboardInterrupt):
        finetune(base, str(two_label_tsv), out, unlabeled=[raw], lm_fit=LM_FIT, **FT)
    assert [r.getMessage() for r in caplog.records] == [
        f"interrupted at step 2 of the classifier stage: continue with the same command plus --resume (its finished "
        f"first stage in {out / 'lm'})"]
    line = one_error_line(invoke("finetune", base, "--data", two_label_tsv, "--out", out, "--resume"))
    assert line == (f"Error: --out {out} holds an unfinished fine-tuning with --unlabeled, its language-model stage "
                    f"(1 of 2) finished in {out / 'lm'}: continue it with the same command plus --unlabeled {raw} "
                    "--resume, or choose a new or empty folder")


# -- a refused resume names the option the user types -----------------------------------------------------
def test_resuming_the_lm_stage_with_other_lm_settings_names_the_lm_options_and_their_values(domain, two_label_tsv,
                                                                                             tmp_path, monkeypatch):
    base, raw = domain
    out = tmp_path / "ft"
    real, calls = torch.nn.utils.clip_grad_norm_, {"n": 0}

    def ctrl_c_at_step_10(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    command = ["finetune", base, "--data", two_label_tsv, "--unlabeled", raw, "--out", out, "--epochs", "1",
               "--batch-size", "16", "--checkpoint-every", "4", "-q"]
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", ctrl_c_at_step_10)
    assert invoke(*command, "--lm-epochs", "1").exit_code == 130
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", real)
    assert (out / "lm" / "checkpoint" / "latest.json").is_file()
    line = one_error_line(invoke(*command, "--lm-epochs", "2", "--lm-lr", "0.002", "--resume"))
    assert line == (f"Error: the checkpoint in {out / 'lm'} was written by a different run: it differs in --lm-epochs "
                    "(1 then, 2 now; lm_fit.epochs in Python), --lm-lr (0.001 then, 0.002 now; lm_fit.lr in Python); "
                    "rerun the same command, or start afresh in a new --out")
    # the lm stage's settings that have no option are named as Python sets them (lm_fit); its seed is --seed
    from zhseq.training import finetune

    with pytest.raises(ZhseqError) as refused:
        finetune(base, str(two_label_tsv), out, unlabeled=[raw], resume=True, epochs=1, batch_size=16,
                 lm_fit=FitConfig(epochs=1, batch_size=16, lr=1e-3, discriminative_lr=2.6, seed=3, progress=False))
    assert "it differs in --seed (0 then, 3 now), lm_fit.batch_size (32 then, 16 now); rerun" in str(refused.value)
    assert ok(*command, "--lm-epochs", "1", "--resume").stdout.strip() == str(out / "model-best")


def test_without_matplotlib_a_run_in_two_stages_gives_the_hint_once(domain, two_label_tsv, tmp_path, monkeypatch):
    from zhseq import plots

    base, raw = domain
    monkeypatch.setattr(plots, "available", lambda: False)
    out = tmp_path / "ft"
    result = ok("finetune", base, "--data", two_label_tsv, "--unlabeled", raw, "--out", out, "--epochs", "1",
                "--lm-epochs", "1", "--batch-size", "16")
    lines = result.stderr.splitlines()
    said = [i for i, line in enumerate(lines) if "learning curves" in line]
    assert [lines[i] for i in said] == [f"learning curves not drawn: {plots.INSTALL_HINT}"]
    assert said[0] > next(i for i, line in enumerate(lines) if line.startswith("stage 2 of 2"))  # at the command's end
    assert (out / "lm" / "metrics.json").is_file() and (out / "metrics.json").is_file()
    assert not list(out.rglob("*.png"))


def test_max_steps_caps_each_stage(domain, two_label_tsv, tmp_path):
    from zhseq.training import lm_stage_config

    assert lm_stage_config(FitConfig(max_steps=3)).max_steps == 3  # the classifier stage's limit, as its seed
    base, raw = domain
    result = invoke("finetune", base, "--data", two_label_tsv, "--out", tmp_path / "capped", "--unlabeled", raw,
                    "--max-steps", "2", "--epochs", "2", "--lm-epochs", "2", "--batch-size", "16")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("stopped at --max-steps 2: epoch 1 of 2 not finished") == 2  # the lm stage too
