"""Explanations of sentiment labels (zhseq.explain): the n-gram half's exact shares, the network's
leave-one-word-out weights recomputed one text at a time, their mix, the numpy and torch engines alike, and
the CLI's --explain in every format."""

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import ok
from zhseq import explain, ngrams, train
from zhseq.api import SentimentClassifier
from zhseq.cli import cli

MIX = 0.4  # the n-gram weight the tests' model is given: both halves count
WINDOW = 8  # its max_tokens: a longer text is truncated
TEXTS = ["手机很好", "快递糟糕，屏幕失望", "房间很好，服务推荐，这本书不错", "很差",
         "房间很好，服务推荐，这本书不错，屏幕满意，快递很差，手机失望"]  # the last: longer than WINDOW words


@pytest.fixture(scope="module")
def model(tmp_path_factory, two_label_tsv, one_thread):
    """A tiny network with an n-gram half, its config set to mix them at MIX and truncate at WINDOW words."""
    root = tmp_path_factory.mktemp("explain")
    best = train("sentiment", str(two_label_tsv), out=root / "run", embedding_size=8, hidden_size=8, epochs=1,
                 min_freq=1, progress=False)
    folder = shutil.copytree(best, root / "model")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["head"].update(ngram_weight=MIX, max_tokens=WINDOW)
    (folder / "config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def clf(model):
    return SentimentClassifier.from_pretrained(model, engine="numpy")


def margin2(z, k):
    """The margin of two logits, written out: z_k − z_other."""
    return float(z[k]) - float(z[1 - k])


# -- the n-gram half: exact ------------------------------------------------------------------------------
token = st.text(alphabet=st.sampled_from("好不错差a1 😀很"), max_size=4)


@settings(max_examples=60, deadline=None)
@given(st.lists(token, max_size=8), st.sampled_from([2, 64, 2**10]), st.integers(0, 3), st.integers(0, 4),
       st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_ngram_weights_sum_to_the_halfs_margin_less_its_bias(tokens, buckets, words, chars, labels, seed):
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=(buckets, labels)).astype(np.float32)
    bias = rng.normal(size=labels).astype(np.float32)
    idf = (rng.random(buckets) * 3 * (rng.random(buckets) > 0.2)).astype(np.float32)  # some buckets unseen: 0
    z = ngrams.logits([tokens], weight, bias, idf, words, chars)[0]
    for k in range(labels):
        w = explain.ngram_weights(tokens, (weight, bias, idf), k, words, chars)
        assert w.shape == (len(tokens),)
        others = (lambda v: np.delete(v, k).mean()) if labels > 1 else (lambda v: 0.0)
        want = (z[k] - others(z)) - (bias[k] - others(bias))
        assert w.sum() == pytest.approx(want, abs=1e-4)
        assert not w[[i for i, t in enumerate(tokens) if not t]].any()  # an empty token holds no n-gram
    # the occurrences are the n-grams ngram_counts counts, bucket by bucket
    bucket, touched = ngrams.ngram_occurrences(tokens, buckets, words, chars)
    _, b, count = ngrams.ngram_counts([tokens], buckets, words, chars)
    found, n = np.unique(bucket, return_counts=True)
    assert found.tolist() == b.tolist() and n.tolist() == count.tolist()
    assert ((touched >= 0).sum(1) >= 1).all()


def one_bucket_table(bucket, buckets=64):
    """A 2-label table whose only non-zero term is ``bucket``'s, for label 1."""
    weight = np.zeros((buckets, 2), np.float32)
    weight[bucket, 1] = 1.0
    return weight, np.zeros(2, np.float32), np.ones(buckets, np.float32)


def new_bucket(more, fewer):
    """The one bucket ``ngram_counts`` finds with ``more`` settings and not with ``fewer``."""
    (b,) = set(ngrams.ngram_counts(*more)[1].tolist()) - set(ngrams.ngram_counts(*fewer)[1].tolist())
    return b


@pytest.mark.parametrize("tokens, words, chars, gram, want", [
    (["很", "好"], 2, 0, ([["很", "好"]], 64, 2, 0), [0.5, 0.5]),  # a word bigram: its two words
    (["好吃", "吗"], 0, 3, ([["好吃", "吗"]], 64, 0, 3), [0.5, 0.5]),  # 好吃吗 across the boundary: both words
    (["好吃", "吗"], 0, 2, ([["好吃"]], 64, 0, 2), [1.0, 0.0]),  # 好吃 within the first word: that word alone
])
def test_an_ngram_is_shared_equally_among_the_words_it_touches(tokens, words, chars, gram, want):
    docs, buckets, w, c = gram
    b = new_bucket(gram, (docs, buckets, w - (w > 0), c - (c > 0)))
    table = one_bucket_table(b)
    term = ngrams.logits([tokens], *table, words, chars)[0]
    weights = explain.ngram_weights(tokens, table, 1, words, chars)
    assert weights.tolist() == pytest.approx([x * (term[1] - term[0]) for x in want])
    assert term[1] > 0  # the bucket is in the text: the test tests something
    assert explain.ngram_weights(tokens, table, 0, words, chars).tolist() == pytest.approx((-weights).tolist())


# -- the network: leave one word out -----------------------------------------------------------------------
class BagOfWords:
    """An engine whose logits are the sum of one fixed vector per id: leaving a word out removes its vector."""

    def __init__(self, labels, seed=0):
        self.vectors = np.random.default_rng(seed).normal(size=(50, labels))
        self.calls = 0

    def sentiment_logits(self, seqs):
        self.calls += 1
        return np.array([self.vectors[s].sum(0) if s else np.zeros(self.vectors.shape[1]) for s in seqs])


@pytest.mark.parametrize("labels", [2, 3, 5])
def test_leaving_a_word_out_removes_its_margin_in_one_engine_call(labels):
    engine, ids = BagOfWords(labels), [4, 9, 4, 17]
    for k in range(labels):
        got = explain.network_weights(engine, ids, k)
        v = engine.vectors[ids]  # (T, C): each word's logits
        assert got.tolist() == pytest.approx((v[:, k] - (v.sum(1) - v[:, k]) / (labels - 1)).tolist())
    assert engine.calls == labels  # one call per text, all its variants in it
    assert explain.network_weights(engine, [], 0).shape == (0,)


def test_the_texts_include_one_the_network_truncates(clf):
    assert len(clf.tokenizer.cut(TEXTS[-1])) > WINDOW == clf.head.max_tokens


@pytest.mark.parametrize("text", TEXTS)
def test_a_words_weight_is_the_change_when_it_is_left_out(clf, text):
    (result,) = clf([text], explain=True)
    tokens, (ids,) = clf.tokenizer.cut(text), clf.preprocess([text])[1]
    label = clf.labels.index(result["label"])
    kept = list(range(len(tokens)))[: WINDOW // 3] + list(range(len(tokens)))[len(tokens) - (WINDOW - WINDOW // 3):]
    kept = kept if len(tokens) > WINDOW else list(range(len(tokens)))
    assert [clf.vocab.encode(tokens)[i] for i in kept] == ids
    whole = margin2(clf.engine.sentiment_logits([ids])[0], label)
    network = np.zeros(len(tokens))
    for j, i in enumerate(kept):  # one engine call per variant, not the batched one
        network[i] = whole - margin2(clf.engine.sentiment_logits([ids[:j] + ids[j + 1:]])[0], label)
    grams = explain.ngram_weights(tokens, clf.engine.ngram_tables(), label)
    assert [x["token"] for x in result["explanation"]] == tokens
    got = np.array([x["weight"] for x in result["explanation"]])
    assert np.abs(got - ((1 - MIX) * network + MIX * grams)).max() < 2e-6
    if len(tokens) > WINDOW:  # the words the network does not read: their n-gram share alone
        skipped = sorted(set(range(len(tokens))) - set(kept))
        assert skipped and np.abs(got[skipped] - MIX * grams[skipped]).max() < 2e-6
    assert np.abs(network).max() > 0 and np.abs(grams).max() > 0


def test_the_explained_label_is_the_most_likely_one(clf):
    for text, result in zip(TEXTS, clf(TEXTS, explain=True)):
        p = clf.predict_proba([text])[0]
        band = clf(text, neutral_band=0.49, explain=True)  # neutral: the most likely label is still explained
        assert band["explanation"] == result["explanation"]
        # the weights of the other label are the opposite ones (two labels: the margin changes sign)
        tokens, (ids,) = clf.tokenizer.cut(text), clf.preprocess([text])[1]
        other = clf.explanation(tokens, ids, 1 - int(p.argmax()))
        assert [x["weight"] for x in other] == pytest.approx([-x["weight"] for x in result["explanation"]], abs=2e-6)
        assert result["label"] == clf.labels[int(p.argmax())]


def test_no_label_no_explanation(clf):
    nothing = ["", "   ", "\t", "\u3000", "𠀀𠀁"]  # empty, blank, and only what the model never saw
    for result in clf(nothing, explain=True):
        assert result == {"label": None, "score": None, "explanation": []}
    assert clf("", explain=True)["explanation"] == []
    assert "explanation" not in clf("手机很好")  # only when asked
    assert list(clf.predict_stream(["手机很好", ""], batch_size=1, explain=True))[1]["explanation"] == []


def test_numpy_and_torch_engines_explain_alike(model):
    fast = SentimentClassifier.from_pretrained(model, engine="numpy")
    slow = SentimentClassifier.from_pretrained(model, engine="torch")
    for a, b in zip(fast(TEXTS, explain=True), slow(TEXTS, explain=True)):
        assert a["label"] == b["label"]
        assert [x["token"] for x in a["explanation"]] == [x["token"] for x in b["explanation"]]
        assert np.allclose([x["weight"] for x in a["explanation"]], [x["weight"] for x in b["explanation"]],
                           atol=1e-4)


def test_the_pipeline_does_not_import_torch(model):
    import subprocess
    import sys

    code = ("import sys; from zhseq.pipeline import SentimentClassifier as S; "
            f"S.from_pretrained({str(model)!r}, engine='numpy')('手机很好', explain=True); "
            "print('zhseq.explain' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False"]


# -- the command line --------------------------------------------------------------------------------------
def test_jsonl_and_tsv_carry_the_explanation(clf, model):
    want = clf(TEXTS[:2] + [""], explain=True)
    lines = ok("sentiment", "--model", model, "--explain", "--format", "jsonl", *TEXTS[:2], "").stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["explanation"] for r in rows] == [w["explanation"] for w in want]
    assert rows[2] == {"text": "", "label": None, "score": None, "explanation": []}
    plain = ok("sentiment", "--model", model, "--format", "jsonl", TEXTS[0]).stdout
    assert "explanation" not in json.loads(plain)
    tsv = ok("sentiment", "--model", model, "--explain", "--format", "tsv", TEXTS[0], "").stdout.splitlines()
    assert tsv[0] == "label\tscore\ttext\texplanation"
    assert json.loads(tsv[1].split("\t")[3]) == want[0]["explanation"] and tsv[2] == "-\t-\t\t[]"


def test_text_output_is_coloured_only_when_colour_is_on(clf, model):
    args = ["sentiment", "--model", str(model), "--explain", TEXTS[1], ""]
    coloured = CliRunner().invoke(cli, args, color=True, env={"NO_COLOR": None})
    plain = CliRunner().invoke(cli, args, color=False, env={"NO_COLOR": None})
    no_color = CliRunner().invoke(cli, args, color=True, env={"NO_COLOR": "1"})
    assert coloured.exit_code == plain.exit_code == no_color.exit_code == 0
    assert "\x1b[32m" in coloured.stdout or "\x1b[31m" in coloured.stdout  # green or red words
    assert "\x1b[" not in plain.stdout and plain.stdout == no_color.stdout
    (result,) = clf([TEXTS[1]], explain=True)
    label, score, words, top = plain.stdout.splitlines()[0].split("\t")
    assert label == result["label"] and words == " ".join(x["token"] for x in result["explanation"])
    strongest = max(result["explanation"], key=lambda x: abs(x["weight"]))
    assert top.startswith(f"{strongest['token']} {strongest['weight']:+.3f}")
    assert plain.stdout.splitlines()[1] == "-\t-\t\t"


def test_explain_with_worker_processes(model):
    args = ["sentiment", "--model", model, "--explain", "--format", "jsonl", "--batch-size", "2", *TEXTS]
    assert ok(*args, "--workers", "2").stdout == ok(*args, "--workers", "1").stdout
