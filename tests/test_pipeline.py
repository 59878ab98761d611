"""The prediction pipeline as users meet it: a text without content gets no label (the same in Python, every
CLI format and evaluate), and the shipped models' answers do not depend on the batch size, the worker
processes or the order of the input."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from zhseq.cli import cli
from zhseq.pipeline import NO_LABEL, SentimentClassifier, load

NOTHING = ["", "   ", "\t", "\u3000"]  # empty, spaces, a tab, an ideographic space


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small model that knows a few words, so that other words are unknown to it."""
    from zhseq import train

    root = tmp_path_factory.mktemp("tiny")
    rows = [("房间很好", "positive"), ("服务很差", "negative")] * 30
    (root / "t.tsv").write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows), encoding="utf-8")
    best = train("sentiment", str(root / "t.tsv"), out=root / "run", embedding_size=8, hidden_size=8, epochs=1,
                 min_freq=1, progress=False)
    return best, root


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_a_text_without_content_gets_no_label(tiny, engine):
    best, _ = tiny
    clf = SentimentClassifier.from_pretrained(best, engine=engine)
    unknown = "𠀀𠀁"  # words the model never saw, and characters none of its n-grams hold
    results = clf(NOTHING + [unknown, "房间很好"])
    assert results[:-1] == [NO_LABEL] * (len(NOTHING) + 1)
    assert results[-1]["label"] in clf.labels and results[-1]["score"] > 0.5
    assert clf("") == {"label": None, "score": None}
    assert clf("", neutral_band=0.2) == NO_LABEL  # not "neutral": there is nothing to weigh
    probs, content = clf.predict_proba(["", "房间很好"], content=True)
    assert probs.shape == (2, 2) and content.tolist() == [False, True] and np.isfinite(probs).all()
    # without the mask, such a text's row is NaN, as it gets no label (it was the model's prior: 0.619 / 0.381,
    # read as "negative"); one string is one text, not one per character
    probs = clf.predict_proba(NOTHING + [unknown, "房间很好"])
    assert np.isnan(probs[:-1]).all() and np.isfinite(probs[-1]).all() and abs(probs[-1].sum() - 1) < 1e-5
    np.testing.assert_array_equal(clf.predict_proba("房间很好"), probs[-1:])


def test_every_cli_format_says_no_label_alike(tiny):
    best, _ = tiny
    args = ["sentiment", "--model", str(best), "", "房间很好"]
    text = CliRunner().invoke(cli, args).stdout.splitlines()
    assert text[0] == "-\t-\t" and text[1].split("\t")[0] in ("negative", "positive")
    tsv = CliRunner().invoke(cli, args + ["--format", "tsv"]).stdout.splitlines()
    assert tsv[1] == "-\t-\t"
    first = json.loads(CliRunner().invoke(cli, args + ["--format", "jsonl"]).stdout.splitlines()[0])
    assert first == {"text": "", "label": None, "score": None}


def test_evaluate_counts_a_text_without_content_as_an_error(tiny):
    from zhseq import evaluate

    best, root = tiny
    (root / "e.tsv").write_text("text\tlabel\n房间很好\tpositive\n\tnegative\n𠀀\tpositive\n", encoding="utf-8")
    result = evaluate(best, str(root / "e.tsv"))
    assert result["no_label"] == 2 and result["n"] == 3 and result["accuracy"] <= 1 / 3
    report = CliRunner().invoke(cli, ["evaluate", str(best), "--data", str(root / "e.tsv")]).stdout
    assert "no label  2 (texts without content, counted as errors)" in report


def test_the_shipped_models_answer_alike_whatever_the_batch(tmp_path):
    import gzip
    from pathlib import Path

    corpus = Path(__file__).resolve().parent.parent / "corpora" / "chnsenticorp" / "dev.tsv.gz"
    with gzip.open(corpus, "rt", encoding="utf-8") as f:
        texts = [line.rstrip("\n").split("\t")[-1] for line in f][1:301]
    texts += ["", "很好", "a", "很好" * 200]
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    for command, extra in (("sentiment", ["--format", "jsonl"]), ("predict-next", ["--format", "jsonl", "-k", "3"])):
        runs = [CliRunner().invoke(cli, [command, "--input", str(path), *extra, *options]).stdout
                for options in (["--batch-size", "256", "--workers", "1"], ["--batch-size", "1", "--workers", "1"],
                                ["--batch-size", "7", "--workers", "2"])]
        assert runs[0].count("\n") == len(texts) and runs[0] == runs[1] == runs[2], command
    clf = load("sentiment")
    assert clf(texts[::-1], batch_size=13)[::-1] == clf(texts)  # the order of the input changes nothing


def test_predict_proba_scores_in_batches_with_the_same_answers(monkeypatch):
    """predict_proba scored everything as one batch: 40,000 reviews took 1.5 GiB. It now takes batch_size
    texts at a time (as __call__), and the answers do not depend on it."""
    clf = SentimentClassifier.from_pretrained("sentiment")
    texts = ["很好", "", "太差了，再也不来了", "𠀀"] * 150
    whole = clf.predict_proba(texts, batch_size=1000)
    sizes = []
    scored = SentimentClassifier._scored
    monkeypatch.setattr(SentimentClassifier, "_scored", lambda self, batch: sizes.append(len(batch)) or scored(self, batch))
    parts, content = clf.predict_proba(texts, content=True, batch_size=64)
    assert sizes == [64] * 9 + [24]
    assert np.allclose(whole, clf.predict_proba(texts, batch_size=64), equal_nan=True)
    assert np.isnan(whole[1::4]).all() and content.tolist() == [True, False, True, False] * 150
    assert np.allclose(parts[content], whole[content])
    assert clf.predict_proba([]).shape == (0, 2)


def test_generate_reads_a_bounded_context_so_each_word_costs_the_same(monkeypatch):
    """generate reran the network over the whole text for every word: 1,200 words took 36 s, 3,000 over two
    minutes. Each step now reads the last 4 · bptt words, as predict-next does."""
    from zhseq import NextWordPredictor

    lm = NextWordPredictor.from_pretrained("lm")
    lengths = []
    original = lm.engine.next_logits

    def recording(seqs):
        lengths.extend(map(len, seqs))
        return original(seqs)

    monkeypatch.setattr(lm.engine, "next_logits", recording)
    lm.generate("这个东西", n=300, repetition_penalty=1.0, no_repeat_ngram=0)
    assert len(lengths) > 260 and max(lengths) == 4 * lm.head.bptt + 1
