"""The training loop's pieces that stand alone."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhseq.training import sentiment_metrics


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 4).flatmap(lambda k: st.tuples(
    st.just(k), st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), min_size=1, max_size=40))))
def test_sentiment_metrics_equal_scikit_learn(case):
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    k, pairs = case
    y_true, y_pred = [t for t, _ in pairs], [p for _, p in pairs]
    labels = [f"l{i}" for i in range(k)]
    got = sentiment_metrics(y_true, y_pred, labels)
    idx = list(range(k))
    assert got["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert got["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, labels=idx, average="macro", zero_division=0))
    assert got["confusion_matrix"] == confusion_matrix(y_true, y_pred, labels=idx).tolist()
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=idx, zero_division=0)
    for i, lab in enumerate(labels):
        assert got["per_label"][lab] == pytest.approx(
            {"precision": p[i], "recall": r[i], "f1": f[i], "support": int(s[i])})
