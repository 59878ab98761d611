"""The n-gram half of a sentiment model: the vectorised hashing against a plain-Python reading of its
definition, TF-IDF against scikit-learn's, the L-BFGS fit against scikit-learn's logistic regression, and
the mixed model through training, evaluation, both predictors and fine-tuning."""

import json
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zhseq import ngrams
from zhseq.api import SentimentClassifier
from zhseq.errors import ZhseqError
from zhseq.modeling import BackboneConfig, SentimentConfig, SentimentNet
from zhseq import evaluate, finetune, train
from zhseq.training import fit_ngrams, ngramfit

M = (1 << 64) - 1


def mix64(x):
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & M
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & M
    return x ^ (x >> 31)


def poly(values, base):
    return sum(v * pow(base, k, 1 << 64) for k, v in enumerate(values)) & M


def reference_features(doc, buckets, words, chars):
    """The module docstring's definition, one feature at a time with Python integers."""
    half = buckets // 2
    toks = [t for t in doc if t]
    word_h = [poly([ord(c) for c in t], 0x100000001B3) for t in toks]
    text = [ord(c) for c in "".join(toks)]
    out = []
    for n in range(1, words + 1):
        for i in range(len(word_h) - n + 1):
            out.append(mix64(poly(word_h[i : i + n], 0x9E3779B97F4A7C15) ^ int(ngrams._seed(1, n))) % half)
    for n in range(1, chars + 1):
        for i in range(len(text) - n + 1):
            out.append(half + mix64(poly(text[i : i + n], 0x100000001B3) ^ int(ngrams._seed(2, n))) % half)
    return out


token = st.text(alphabet=st.sampled_from("好不错差a1 😀很"), max_size=4)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(token, max_size=6), max_size=5), st.sampled_from([2, 64, 2**19]),
       st.integers(0, 3), st.integers(0, 4))
def test_counts_follow_the_definition(docs, buckets, words, chars):
    doc, bucket, count = ngrams.ngram_counts(docs, buckets, words, chars)
    want = Counter((d, b) for d, toks in enumerate(docs) for b in reference_features(toks, buckets, words, chars))
    assert dict(zip(zip(doc.tolist(), bucket.tolist()), count.tolist())) == dict(want)
    assert list(zip(doc.tolist(), bucket.tolist())) == sorted(want)  # sorted by text, then bucket


def test_hashes_do_not_depend_on_the_batch():
    a = ["很", "好", "的", "手机"]
    alone = ngrams.ngram_counts([a])
    together = ngrams.ngram_counts([["别的", "话"], a, []])
    mine = together[0] == 1
    assert alone[1].tolist() == together[1][mine].tolist() and alone[2].tolist() == together[2][mine].tolist()


def test_tfidf_is_scikit_learns_on_each_half():
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = [["很", "好", "很", "好"], ["不", "好"], ["很", "差"], ["好"], ["不错", "不错", "很"], []]
    B = 2**19
    doc, bucket, count = ngrams.ngram_counts(docs, B)
    idf = ngrams.fit_idf(bucket, len(docs), B)
    values = ngrams.tfidf(doc, bucket, count, idf, len(docs))
    got = {(d, b): v for d, b, v in zip(doc.tolist(), bucket.tolist(), values.tolist())}
    for in_half in (lambda b: b < B // 2, lambda b: b >= B // 2):
        features = [[str(b) for b in reference_features(d, B, 2, 3) if in_half(b)] for d in docs]
        vec = TfidfVectorizer(analyzer=lambda x: x, sublinear_tf=True, min_df=2)
        x = vec.fit_transform(features).toarray()
        for d in range(len(docs)):
            for name, col in vec.vocabulary_.items():
                assert got.get((d, int(name)), 0.0) == pytest.approx(x[d, col], abs=1e-6)
            # buckets below min_df carry no value
            assert all(got.get((d, int(f)), 0.0) == 0.0 for f in features[d] if f not in vec.vocabulary_)


@pytest.mark.parametrize("nb", [0.0, 0.5])
def test_the_fit_is_scikit_learns_logistic_regression(nb):
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    vocab = ["好", "差", "不", "很", "一般", "喜欢", "失望", "还行", "的", "了"]
    docs = [list(rng.choice(vocab, size=rng.integers(1, 8))) for _ in range(120)]
    y = [int(("好" in d) + ("喜欢" in d) - ("差" in d) + 1) % 3 for d in docs]  # three labels
    net = SentimentNet(SentimentConfig(BackboneConfig(10, 4, 4), num_labels=3, ngram_buckets=2**12))
    fit_ngrams(net, docs, y, c=4.0, nb=nb)
    weight, bias, idf = net.ngrams.numpy()
    doc, bucket, value = ngrams.features(docs, idf)
    x = csr_matrix((value, (doc, bucket)), shape=(len(docs), 2**12)).toarray()
    # NBSVM's scaling, read off its definition: per label, the share of that label's texts holding each
    # feature (plus one), over the features with an idf; a column's scale is the spread of their logs
    held = x[:, idf > 0] > 0
    log_p = []
    for k in range(3):
        df = held[np.array(y) == k].sum(0) + 1.0
        log_p.append(np.log(df / df.sum()))
    scale = np.zeros(2**12)
    scale[idf > 0] = (np.max(log_p, 0) - np.min(log_p, 0)) ** nb
    lr = LogisticRegression(C=4.0, tol=1e-10, max_iter=10000).fit(x * scale, y)
    ours = torch.tensor(ngrams.logits(docs, weight, bias, idf)).softmax(-1).numpy()
    assert np.abs(ours - lr.predict_proba(x * scale)).max() < 2e-3
    # the scaling changes the model (three labels, unequal label shares)
    assert nb == 0.0 or np.abs(scale[idf > 0] - 1).max() > 0.1
    assert np.array_equal(net.ngrams.idf.numpy(), ngrams.fit_idf(ngrams.ngram_counts(docs, 2**12)[1], 120, 2**12))


def _docs(n, labels, seed=0):
    rng = np.random.default_rng(seed)
    vocab = ["好", "差", "不", "很", "一般", "喜欢", "失望", "还行", "的", "了"]
    docs = [list(rng.choice(vocab, size=rng.integers(1, 8))) for _ in range(n)]
    return docs, [int(("好" in d) + ("喜欢" in d) - ("差" in d) + 1) % labels for d in docs]


@pytest.mark.parametrize("labels", [2, 3])
@pytest.mark.parametrize("nb", [0.0, 0.5])
def test_the_table_gives_scikit_learns_probabilities(labels, nb):
    """The stored table (weights for plain TF-IDF, the scaling folded in) scores the texts as the fitted
    LogisticRegression's predict_proba does; for two labels its one vector w is stored as (−w/2, w/2)."""
    docs, y = _docs(150, labels)
    net = SentimentNet(SentimentConfig(BackboneConfig(10, 4, 4), num_labels=labels, ngram_buckets=2**12))
    info = fit_ngrams(net, docs, y, c=4.0, nb=nb)
    d = ngramfit.design(docs, y, net.config, nb)
    model = ngramfit.logistic_regression(d.x, y, 4.0)  # the same fit again: deterministic
    assert model.coef_.shape[0] == (1 if labels == 2 else labels)
    table = torch.tensor(ngrams.logits(docs, *net.ngrams.numpy())).softmax(-1).numpy()
    assert np.abs(table - model.predict_proba(d.x)).max() < 1e-5
    assert info["iterations"] == int(model.n_iter_.max()) and info["c"] == 4.0 and info["nb"] == nb


@pytest.mark.parametrize("labels", [2, 3])
def test_the_table_is_the_multinomial_optimum_whatever_the_label_count(labels):
    """C means one thing for two labels and for three: the table minimises C·Σ CE + ½‖W‖² with one weight
    vector per label (for two labels, scikit-learn's binary fit with 2C gives that optimum); checked by the
    objective's gradient, divided by C·N, being as small as the fit's tolerance (float32 table aside)."""
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    c = 4.0
    docs, y = _docs(150, labels, seed=1)
    net = SentimentNet(SentimentConfig(BackboneConfig(10, 4, 4), num_labels=labels, ngram_buckets=2**12))
    fit_ngrams(net, docs, y, c=c, nb=0.0)
    weight, bias, idf = (a.astype(np.float64) for a in net.ngrams.numpy())
    doc, bucket, value = ngrams.features(docs, idf)
    x = csr_matrix((value.astype(np.float64), (doc, bucket)), shape=(len(docs), 2**12))

    def gradient(weight, bias):  # of the multinomial objective, divided by C·N: the scale the fit's TOL is on
        z = x @ weight + bias
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[np.arange(len(y)), y] -= 1.0
        return max(np.abs(c * (x.T @ p) + weight).max(), np.abs(c * p.sum(0)).max()) / (c * len(y))

    assert gradient(weight, bias) < 10 * ngramfit.TOL
    if labels == 2:  # scikit-learn's binary fit with C itself is another model: its weights held back twice as hard
        plain = LogisticRegression(C=c, tol=1e-8, max_iter=1000).fit(x, y)
        w, b = plain.coef_[0] / 2, plain.intercept_[0] / 2
        assert gradient(np.stack([-w, w], 1), np.array([-b, b])) > 100 * ngramfit.TOL


def test_a_label_the_fit_never_sees_gets_probability_zero():
    docs, y = _docs(60, 2)
    net = SentimentNet(SentimentConfig(BackboneConfig(10, 4, 4), num_labels=3, ngram_buckets=2**12))
    fit_ngrams(net, docs, [2 * t for t in y], c=4.0, nb=0.5)  # labels 0 and 2 only
    p = torch.tensor(ngrams.logits(docs, *net.ngrams.numpy())).softmax(-1).numpy()
    assert np.all(p[:, 1] == 0.0) and np.allclose(p.sum(1), 1.0)
    with pytest.raises(ZhseqError, match="two labels or more"):
        fit_ngrams(net, docs, [1] * len(docs))


def test_mix_averages_probabilities():
    p = np.array([[0.2, 0.8], [0.9, 0.1]], np.float32)
    z = np.log(np.array([[0.6, 0.4], [0.5, 0.5]], np.float32))
    assert np.allclose(ngrams.mix(p, z, 0.25), 0.75 * p + 0.25 * np.array([[0.6, 0.4], [0.5, 0.5]]))
    assert np.allclose(ngrams.mix(p, z, 0.0), p)


@pytest.fixture(scope="module")
def hybrid(tmp_path_factory, two_label_tsv):
    root = tmp_path_factory.mktemp("hybrid")
    lines = two_label_tsv.read_text(encoding="utf-8").splitlines()
    dev = root / "dev.tsv"
    dev.write_text("\n".join(lines[:1] + lines[1:61]) + "\n", encoding="utf-8")
    best = train("sentiment", str(two_label_tsv), dev=str(dev), out=root / "run", embedding_size=8, hidden_size=8,
                 epochs=1, min_freq=1, progress=False)
    return best, dev


def test_training_chooses_the_weight_on_dev_and_records_it(hybrid):
    best, dev = hybrid
    config = json.loads((best / "config.json").read_text(encoding="utf-8"))
    metrics = json.loads((best.parent / "metrics.json").read_text(encoding="utf-8"))
    weight = config["head"]["ngram_weight"]
    assert config["head"]["ngram_buckets"] == ngrams.BUCKETS and config["training"]["ngram_c"] == 16.0
    assert config["training"]["ngram_nb"] == 0.5 and metrics["ngrams"]["nb"] == 0.5
    found = metrics["ngrams"]["model-best"]
    assert found["weight"] == weight
    assert found["dev_accuracy"]["mixed"] >= max(found["dev_accuracy"]["network"], found["dev_accuracy"]["ngrams"])
    assert config["dev_scores"]["accuracy"] == pytest.approx(found["dev_accuracy"]["mixed"])
    # evaluate scores the mixed model, as prediction runs it
    assert evaluate(best, str(dev))["accuracy"] == pytest.approx(found["dev_accuracy"]["mixed"])


def test_both_predictors_mix_alike(hybrid, tmp_path):
    best, _ = hybrid
    texts = ["手机很好", "快递糟糕，屏幕失望", "", "没见过的话", "很好" * 300]
    clf, fast = SentimentClassifier.from_pretrained(best, engine="torch"), SentimentClassifier.from_pretrained(best)
    # content=True: every row's probabilities, those of texts without content included
    assert np.abs(fast.predict_proba(texts, content=True)[0] - clf.predict_proba(texts, content=True)[0]).max() \
        < 1e-5
    # and the mix is (1 - w) · network + w · n-grams
    w = clf.net.config.ngram_weight
    clf.net.config.ngram_weight = 0.0
    network = clf.predict_proba(texts, content=True)[0]
    tokens = [clf.tokenizer.cut(t) for t in texts]
    table = [a for a in clf.net.ngrams.numpy()]
    want = ngrams.mix(network, ngrams.logits(tokens, *table), w)
    clf.net.config.ngram_weight = w
    assert np.abs(clf.predict_proba(texts, content=True)[0] - want).max() < 1e-6


def test_no_ngrams_means_no_table(two_label_tsv, tmp_path):
    best = train("sentiment", str(two_label_tsv), out=tmp_path / "plain", embedding_size=8, hidden_size=8,
                 epochs=1, min_freq=1, ngrams=False, progress=False)
    config = json.loads((best / "config.json").read_text(encoding="utf-8"))
    assert config["head"]["ngram_buckets"] == 0 and "ngram_c" not in config["training"]
    assert SentimentClassifier.from_pretrained(best).head.ngram_weight == 0.0
    assert not any(k.startswith("ngrams.") for k in SentimentClassifier.from_pretrained(best).net.state_dict())


def test_finetuning_refits_the_table(hybrid, tmp_path):
    best, dev = hybrid
    new = tmp_path / "new.tsv"
    new.write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in [("物流神速", "fast"), ("物流太慢", "slow")] * 30),
                   encoding="utf-8")
    out = finetune(best, str(new), out=tmp_path / "ft", epochs=1, ngram_c=2.0, new_labels=True, progress=False)
    clf = SentimentClassifier.from_pretrained(out)
    assert "ngram_keep" not in clf.config["training"]  # other labels: the old table cannot be kept
    assert clf.labels == ["fast", "slow"] and clf.net.ngrams.weight.shape == (ngrams.BUCKETS, 2)
    assert clf.config["training"]["ngram_c"] == 2.0 and clf.config["training"]["ngram_nb"] == 0.5  # the base's
    assert clf(["物流神速", "物流太慢"], batch_size=1)[0]["label"] == "fast"
    assert 0.0 <= clf.net.config.ngram_weight <= 1.0


@pytest.mark.parametrize("keep", [0.5, 0.25])
def test_fitting_with_keep_averages_the_old_table_with_a_refit_on_its_idf(keep):
    """keep: the new table is keep · old + (1 − keep) · a fit of the new texts, whose idf is the old one where the
    old table has one and the new texts' elsewhere (so n-grams only the new texts hold count too)."""
    buckets = 2**12
    config = SentimentConfig(BackboneConfig(10, 4, 4), num_labels=2, ngram_buckets=buckets)
    old_docs, old_y = _docs(150, 2, seed=1)
    new_docs, new_y = _docs(60, 2, seed=2)
    new_docs = [d + ["水果"] if y else d for d, y in zip(new_docs, new_y)]  # a word the old texts never hold
    net = SentimentNet(config)
    fit_ngrams(net, old_docs, old_y, c=4.0, nb=0.5)
    old = [t.copy() for t in net.ngrams.numpy()]
    info = fit_ngrams(net, new_docs, new_y, c=4.0, nb=0.5, keep=keep)
    weight, bias, idf = net.ngrams.numpy()

    new_idf = ngrams.fit_idf(ngrams.ngram_counts(new_docs, buckets)[1], len(new_docs), buckets)
    assert np.array_equal(idf, np.where(old[2] > 0, old[2], new_idf))
    only_new = (old[2] == 0) & (new_idf > 0)
    assert only_new.any()  # 水果's buckets: learnt from the new texts alone
    d = ngramfit.design(new_docs, new_y, config, 0.5, base_idf=old[2])
    w_new, b_new = ngramfit.logit_table(ngramfit.logistic_regression(d.x, new_y, 4.0), 2)
    full = np.zeros((buckets, 2))
    full[d.active] = w_new * d.scale[:, None]
    assert np.allclose(weight, keep * old[0] + (1 - keep) * full, atol=1e-6)
    assert np.allclose(bias, keep * old[1] + (1 - keep) * b_new, atol=1e-6)
    assert np.abs(weight[only_new]).max() > 0 and info["keep"] == keep


def test_fitting_with_keep_0_replaces_the_table():
    config = SentimentConfig(BackboneConfig(10, 4, 4), num_labels=2, ngram_buckets=2**12)
    docs, y = _docs(80, 2, seed=3)
    a, b = SentimentNet(config), SentimentNet(config)
    fit_ngrams(a, *_docs(150, 2, seed=1), c=4.0)
    fit_ngrams(a, docs, y, c=4.0, keep=0.0)
    info = fit_ngrams(b, docs, y, c=4.0)
    assert all(np.array_equal(x, z) for x, z in zip(a.ngrams.numpy(), b.ngrams.numpy())) and "keep" not in info


def test_finetuning_keeps_half_the_old_table_unless_told_or_relabelled(hybrid, tmp_path):
    best, dev = hybrid
    base = SentimentClassifier.from_pretrained(best).net.ngrams.numpy()
    kept = finetune(best, str(dev), out=tmp_path / "kept", epochs=1, progress=False)
    config = json.loads((kept / "config.json").read_text(encoding="utf-8"))
    metrics = json.loads((kept.parent / "metrics.json").read_text(encoding="utf-8"))
    assert config["training"]["ngram_keep"] == 0.5 and metrics["ngrams"]["keep"] == 0.5
    replaced = finetune(best, str(dev), out=tmp_path / "replaced", epochs=1, ngram_keep=0, progress=False)
    assert json.loads((replaced / "config.json").read_text(encoding="utf-8"))["training"]["ngram_keep"] == 0.0
    clf = SentimentClassifier.from_pretrained(kept)
    texts = [line.split("\t")[1] for line in dev.read_text(encoding="utf-8").splitlines()[1:]]
    c = clf.net.config
    held = ngrams.ngram_counts([clf.tokenizer.cut(t) for t in texts], c.ngram_buckets, c.ngram_words, c.ngram_chars)[1]
    unseen = base[2] > 0
    unseen[held] = False  # n-grams the new texts lack: the old weight, halved
    w_kept = clf.net.ngrams.numpy()[0]
    assert unseen.any() and np.allclose(w_kept[unseen], 0.5 * base[0][unseen], atol=1e-6)
    assert not np.allclose(w_kept[held], 0.5 * base[0][held], atol=1e-3)  # and the rest learnt anew
    with pytest.raises(ZhseqError, match=r"^ngram_keep must be a number in \[0, 1\), not 1\.0$"):
        finetune(best, str(dev), out=tmp_path / "bad", ngram_keep=1.0, progress=False)


def test_the_cli_passes_ngram_keep_and_refuses_one_out_of_range(hybrid, tmp_path):
    from cli_helpers import invoke, ok

    best, dev = hybrid
    ok("finetune", best, "--data", dev, "--out", tmp_path / "k", "--epochs", 1, "--ngram-keep", 0.25, "--quiet")
    config = json.loads((tmp_path / "k" / "model-best" / "config.json").read_text(encoding="utf-8"))
    assert config["training"]["ngram_keep"] == 0.25
    bad = invoke("finetune", best, "--data", dev, "--out", tmp_path / "b", "--ngram-keep", 1)
    assert bad.exit_code == 2 and "--ngram-keep" in bad.output


def test_loaders_refuse_a_bad_weight(hybrid, tmp_path):
    import shutil

    best, _ = hybrid
    folder = tmp_path / "bad"
    shutil.copytree(best, folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["head"]["ngram_weight"] = 1.5
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    for engine in ("numpy", "torch"):
        with pytest.raises(ZhseqError, match=r"head.ngram_weight must be a number in \[0, 1\], not 1.5"):
            SentimentClassifier.from_pretrained(folder, engine=engine)


def test_the_ngram_half_can_be_fitted_on_other_data(two_label_tsv, tmp_path):
    small = tmp_path / "in-domain.tsv"
    small.write_text("label\ttext\n" + "negative\t很差\npositive\t很好\n" * 10, encoding="utf-8")
    best = train("sentiment", str(two_label_tsv), out=tmp_path / "run", embedding_size=8, hidden_size=8, epochs=1,
                 min_freq=1, ngram_data=[str(small)], progress=False)
    clf = SentimentClassifier.from_pretrained(best)
    assert clf.config["training"]["ngram_data"] == [str(small)]
    docs = [clf.tokenizer.cut(t) for t in ("很差", "很好")]
    fitted_on = set(ngrams.ngram_counts(docs)[1].tolist())
    assert set(np.flatnonzero(clf.net.ngrams.idf.numpy()).tolist()) == fitted_on
    other = tmp_path / "other.tsv"
    other.write_text("label\ttext\nneutral\t一般\npositive\t很好\n", encoding="utf-8")
    with pytest.raises(ZhseqError, match="--ngram-data has labels the model does not know: neutral"):
        train("sentiment", str(two_label_tsv), out=tmp_path / "run2", epochs=1, ngram_data=[str(other)],
              progress=False)
    with pytest.raises(ZhseqError, match="--ngram-data needs"):
        train("sentiment", str(two_label_tsv), out=tmp_path / "run3", epochs=1, ngrams=False,
              ngram_data=[str(small)], progress=False)


def test_the_cli_passes_the_naive_bayes_power_and_refuses_a_negative_one(two_label_tsv, tmp_path):
    from click.testing import CliRunner

    from zhseq.cli import cli

    args = ["train", "sentiment", "--data", str(two_label_tsv), "--embedding-size", "8", "--hidden-size", "8",
            "--epochs", "1", "--min-freq", "1", "-q"]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "plain"), "--ngram-nb", "0"])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "plain" / "model-best" / "config.json").read_text(encoding="utf-8"))
    assert config["training"]["ngram_nb"] == 0.0
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "bad"), "--ngram-nb", "-1"])
    assert result.exit_code == 2 and "--ngram-nb" in result.output and not (tmp_path / "bad").exists()
    with pytest.raises(ZhseqError, match="ngram_nb must be a number ≥ 0, not -1.0"):
        train("sentiment", str(two_label_tsv), out=tmp_path / "lib", ngram_nb=-1.0, progress=False)


def test_finetuning_a_model_fitted_before_the_scaling_keeps_plain_tfidf(hybrid, tmp_path):
    import shutil

    best, dev = hybrid
    old = tmp_path / "old"
    shutil.copytree(best, old)
    config = json.loads((old / "config.json").read_text(encoding="utf-8"))
    del config["training"]["ngram_nb"]  # as models saved before --ngram-nb existed
    (old / "config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    out = finetune(old, str(dev), out=tmp_path / "ft", epochs=1, progress=False)
    metrics = json.loads((out.parent / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["ngrams"]["nb"] == 0.0
    assert json.loads((out / "config.json").read_text(encoding="utf-8"))["training"]["ngram_nb"] == 0.0


def test_a_tie_in_dev_accuracy_between_weights_goes_to_the_lower_log_loss(hybrid, tmp_path):
    """On a small dev set most weights tie on accuracy; the dev log loss then chooses (not the nearest to 0.5)."""
    import shutil

    from zhseq.training.tasks import SentimentTask

    best, _ = hybrid
    folder = tmp_path / "m"
    shutil.copytree(best, folder)
    task = SentimentTask(None, None, ["negative", "positive"], 256)
    examples = [([4, 5], 1), ([6], 1), ([7], 0)]
    p_rnn = np.array([[0.4, 0.6], [0.45, 0.55], [0.6, 0.4]])  # right, unsure
    z = np.array([[-3.0, 3.0], [-2.0, 2.0], [2.5, -2.5]])  # right, sure
    found = ngramfit.choose_ngram_weight(folder, task, examples, z, p_rnn)
    assert found["weight"] == 1.0 and found["dev_accuracy"] == {"network": 1.0, "ngrams": 1.0, "mixed": 1.0}
    assert json.loads((folder / "config.json").read_text(encoding="utf-8"))["head"]["ngram_weight"] == 1.0
