"""The training API: train(task, data, out, model=ModelConfig, fit=FitConfig) and the flat settings of
before, finetune's defaults, what a run reports on the zhseq loggers, and the metrics (scikit-learn's)."""

import hashlib
import json
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhseq.config import FitConfig, ModelConfig
from zhseq.errors import STACKED_BIDIRECTIONAL_LM, ZhseqError
from zhseq.training import finetune_config, sentiment_metrics, split_settings, train

TINY_MODEL = ModelConfig(embedding_size=8, hidden_size=8, min_freq=1)
TINY_FIT = FitConfig(epochs=1, batch_size=32, progress=False)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 4).flatmap(lambda k: st.tuples(
    st.just(k), st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), min_size=1, max_size=40))))
def test_sentiment_metrics_are_scikit_learns_in_plain_json(case):
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    k, pairs = case
    y_true, y_pred = [t for t, _ in pairs], [p for _, p in pairs]
    labels = [f"l{i}" for i in range(k)]
    got = sentiment_metrics(y_true, y_pred, labels)
    idx = list(range(k))
    assert got["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    # macro-F1: scikit-learn's default, over the labels present or predicted
    assert got["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0))
    assert got["confusion_matrix"] == confusion_matrix(y_true, y_pred, labels=idx).tolist()
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=idx, zero_division=0)
    for i, lab in enumerate(labels):
        assert got["per_label"][lab] == pytest.approx(
            {"precision": p[i], "recall": r[i], "f1": f[i], "support": int(s[i])})
    assert json.loads(json.dumps(got)) == got  # plain numbers: metrics.json and `evaluate --format json`
    assert got["n"] == len(pairs) and got["labels"] == labels


def test_macro_f1_leaves_out_a_label_neither_present_nor_predicted():
    """Two rows of a three-label model, both right: macro-F1 was 0.667 (the absent label's F1 of 0 averaged in)."""
    got = sentiment_metrics([0, 1], [0, 1], ["a", "b", "c"])
    assert got["accuracy"] == got["macro_f1"] == 1.0 and got["per_label"]["c"]["support"] == 0
    # a label predicted but never present counts (its F1 is 0); "no label" (−1) is no label of its own
    assert sentiment_metrics([0, 1], [0, 2], ["a", "b", "c"])["macro_f1"] == pytest.approx(1 / 3)
    assert sentiment_metrics([0, 1], [0, -1], ["a", "b", "c"])["macro_f1"] == pytest.approx(0.5)


def test_sentiment_metrics_of_nothing_are_zeros():
    got = sentiment_metrics([], [], ["a", "b"])
    assert got["n"] == 0 and got["accuracy"] == 0.0 and got["confusion_matrix"] == [[0, 0], [0, 0]]


# -- train(task, data, out, model=ModelConfig, fit=FitConfig) and the flat settings of before -------------
def digest(folder):
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def test_flat_settings_go_to_the_config_of_their_name():
    model, fit = split_settings(hidden_size=8, cell="gru", min_freq=1, epochs=1, lr=0.01, ngram_c=2, progress=False)
    assert (model.hidden_size, model.cell, model.min_freq) == (8, "gru", 1)
    assert (fit.epochs, fit.lr, fit.ngram_c, fit.progress) == (1, 0.01, 2.0, False)
    assert model.embedding_size == ModelConfig().embedding_size and fit.batch_size == FitConfig().batch_size
    # on top of given configs
    model, fit = split_settings(ModelConfig(cell="rnn", layers=2), FitConfig(seed=5), hidden_size=16)
    assert (model.cell, model.layers, model.hidden_size, fit.seed) == ("rnn", 2, 16, 5)
    with pytest.raises(TypeError, match="unexpected keyword argument 'hiden_size'"):
        split_settings(hiden_size=8)
    with pytest.raises(ZhseqError, match="hidden_size must be a whole number ≥ 1, not 0"):
        split_settings(hidden_size=0)


def test_configs_and_flat_settings_train_the_same_model(two_label_tsv, tmp_path):
    with_configs = train("sentiment", str(two_label_tsv), tmp_path / "configs", model=TINY_MODEL, fit=TINY_FIT)
    flat = train("sentiment", str(two_label_tsv), out=tmp_path / "flat", embedding_size=8, hidden_size=8, min_freq=1,
                 epochs=1, batch_size=32, progress=False)
    assert with_configs == tmp_path / "configs" / "model-best"
    assert digest(with_configs) == digest(flat)
    mixed = train("sentiment", str(two_label_tsv), tmp_path / "mixed", model=TINY_MODEL, fit=FitConfig(epochs=1),
                  batch_size=32, progress=False)
    assert digest(mixed) == digest(flat)


def test_wrong_settings_are_refused_before_anything_is_read_or_made(tmp_path):
    missing = str(tmp_path / "no-such-file.tsv")  # reading it would fail differently
    out = tmp_path / "out"
    with pytest.raises(TypeError, match="unexpected keyword argument 'epoch'"):
        train("sentiment", missing, out, epoch=3)
    with pytest.raises(ZhseqError, match="one layer"):
        train("lm", missing, out, model=ModelConfig(bidirectional=True, layers=2))
    assert "one layer" in STACKED_BIDIRECTIONAL_LM
    with pytest.raises(ZhseqError, match="sampled_softmax is a setting of lm models only"):
        train("sentiment", missing, out, sampled_softmax=64)
    with pytest.raises(ZhseqError, match="bptt is a setting of lm models only"):
        train("sentiment", missing, out, model=ModelConfig(bptt=9))
    with pytest.raises(ZhseqError, match="lr must be a number ≥ 0"):
        train("sentiment", missing, out, lr=-1.0)
    assert not out.exists()


def test_finetune_defaults_come_from_the_base_model(two_label_tsv, tmp_path):
    base = train("sentiment", str(two_label_tsv), tmp_path / "base", model=TINY_MODEL,
                 fit=FitConfig(epochs=1, batch_size=32, ngram_c=4.0, progress=False))
    fit = finetune_config(base)
    assert (fit.epochs, fit.lr, fit.batch_size, fit.ngram_c) == (3, 5e-4, 32, 4.0)
    fit = finetune_config(base, epochs=1, batch_size=None, ngram_c=None, lr=1e-3)
    assert (fit.epochs, fit.lr, fit.batch_size, fit.ngram_c) == (1, 1e-3, 32, 4.0)
    with pytest.raises(TypeError, match="hidden_size"):
        finetune_config(base, hidden_size=8)


# -- logging: the zhseq loggers; progress=False is silent ---------------------------------------------
def test_a_library_run_reports_on_the_zhseq_loggers_and_is_silent_without_progress(two_label_tsv, tmp_path, caplog,
                                                                                   capsys):
    with caplog.at_level(logging.INFO, logger="zhseq"):
        train("sentiment", str(two_label_tsv), tmp_path / "quiet", model=TINY_MODEL, fit=TINY_FIT)
        assert logging.getLogger("zhseq").level == logging.INFO  # a run leaves the level as it found it
    assert not [r for r in caplog.records if r.name.startswith("zhseq") and r.levelno < logging.WARNING]
    assert capsys.readouterr().err == ""  # no bar, no message
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="zhseq"):
        train("sentiment", str(two_label_tsv), tmp_path / "loud", model=TINY_MODEL,
              fit=FitConfig(epochs=1, batch_size=32))
    said = {r.name: r.getMessage() for r in caplog.records if r.levelno == logging.INFO}
    assert said["zhseq.training.loop"].startswith("epoch 1: train loss")
    assert said["zhseq.training.run"].startswith("best model (epoch 1) saved to")
    assert said["zhseq.training.ngramfit"].startswith("model-last: n-gram weight")
