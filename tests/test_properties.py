"""Arbitrary Unicode thrown at both heads, through the torch and the numpy engines: every text gets exactly one
well-formed answer, the two engines agree, and on the numpy engine an answer does not depend on the batch."""

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zhseq.pipeline import NextWordPredictor, SentimentClassifier, load
from zhseq.modeling import BackboneConfig, NextWordConfig, NextWordNet, SentimentConfig, SentimentNet
from zhseq.tokenizer import Tokenizer
from zhseq.vocab import SPECIALS, Vocab

WORDS = [["这家", "餐厅", "的", "菜", "很", "好吃"], ["服务", "太", "差", "了", "!"], ["hello", "123", "😀"]]
TEXTS = st.lists(st.text(max_size=300), min_size=1, max_size=6)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    torch.manual_seed(0)
    vocab = Vocab.build(WORDS, min_freq=1)
    bb = dict(vocab_size=len(vocab), embedding_size=8, hidden_size=8)
    clf = SentimentClassifier(
        SentimentNet(SentimentConfig(BackboneConfig(**bb, cell="gru"), num_labels=3, max_tokens=16)),
        vocab, Tokenizer(), {"labels": ["负面", "中性", "正面"]}, engine="torch",
    )
    lm = NextWordPredictor(NextWordNet(NextWordConfig(BackboneConfig(**bb, bidirectional=False), bptt=8)),
                           vocab, Tokenizer(), {"labels": None}, engine="torch")
    root = tmp_path_factory.mktemp("props")
    clf.save_pretrained(root / "clf")
    lm.save_pretrained(root / "lm")
    return clf, lm, load(root / "clf", engine="numpy"), load(root / "lm", engine="numpy")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=TEXTS)
def test_sentiment_answers_every_text_once_on_both_paths(models, texts):
    clf, _, fast, _ = models
    slow_results, fast_results = clf(texts, batch_size=4), fast(texts, batch_size=4)
    assert len(slow_results) == len(fast_results) == len(texts)
    assert fast(texts, batch_size=1) == fast_results == [fast(t) for t in texts]  # whatever the batch
    # content=True: every row's probabilities (without it a text without content is a row of NaN)
    slow_p, fast_p = (m.predict_proba(texts, content=True)[0] for m in (clf, fast))
    assert abs(slow_p - fast_p).max() < 1e-5  # the same distribution, whichever path
    for a, b, p in zip(slow_results, fast_results, slow_p):
        assert a["label"] == b["label"]
        if a["label"] is None:  # a text without content: nothing the model knows
            assert a == b == {"label": None, "score": None}
            continue
        assert a["label"] in clf.labels and 0.0 < a["score"] <= 1.0 and not math.isnan(a["score"])
        assert a["score"] == pytest.approx(p.max(), abs=1e-6) and b["score"] == pytest.approx(p.max(), abs=1e-5)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefixes=TEXTS, k=st.integers(min_value=1, max_value=20))
def test_next_word_answers_every_prefix_on_both_paths(models, prefixes, k):
    _, lm, _, fast = models
    slow_results, fast_results = lm.predict_next(prefixes, k=k), fast.predict_next(prefixes, k=k)
    assert len(slow_results) == len(fast_results) == len(prefixes)
    assert fast.predict_next(prefixes, k=k, batch_size=1) == fast_results  # whatever the batch
    for a, b in zip(slow_results, fast_results):
        assert min(k, len(lm.vocab) - len(SPECIALS)) <= len(a) <= k  # next words and completions
        assert not {p["token"] for p in a} & set(SPECIALS)
        scores = [p["score"] for p in a]
        assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
        assert max(abs(x["score"] - y["score"]) for x, y in zip(a, b)) < 1e-5  # ties may swap tokens, not scores
