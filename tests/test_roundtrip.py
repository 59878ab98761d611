"""Train → load → predict → save → reload on tiny generated corpora, for every cell; fine-tune; evaluate.

Each model is trained once per module (``Models`` caches them) and shared by the tests that read it.
"""

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from zhseq.api import NextWordPredictor, SentimentClassifier
from zhseq.errors import ZhseqError
from zhseq.tokenizer import Tokenizer
from zhseq import evaluate, finetune, train
from zhseq.vocab import SPECIALS

POS = ["很好", "喜欢", "推荐", "满意"]
NEG = ["很差", "失望", "退货", "糟糕"]
NEUTRAL = ["一般", "还行", "普通"]
NOUNS = ["这家餐厅", "这本书", "手机", "服务", "酒店", "快递", "衣服", "电影"]
NEW_NOUNS = ["耳机", "沙发", "咖啡机"]  # never in the first training corpus
FILLERS = ["真的", "实在", "总体", "感觉", "我觉得", ""]

TIMES = ["今天", "明天", "昨天", "周末"]
SUBJECTS = ["我", "你", "他", "我们", "老师", "学生"]
VERBS = ["喜欢", "买", "吃", "想要"]
OBJECTS = ["苹果", "米饭", "面包", "水果"]

SENTIMENT_TEXTS = ["这家餐厅真的很好", "酒店实在糟糕", "很差", "推荐", "完全没见过的话", "", "   ", "ＡＢＣ", "手机" * 300]
LM_PREFIXES = ["今天我", "老师", "", "明天我们喜欢", "从没见过的词语", "昨天他吃苹果。"]

TINY = dict(embedding_size=8, hidden_size=8, epochs=2, batch_size=16, lr=1e-2, dropout=0.1, min_freq=1,
            progress=False)
SENTIMENT = {
    f"{cell}-{'bi' if bi else 'uni'}": dict(TINY, cell=cell, bidirectional=bi)
    for cell in ("rnn", "lstm", "gru")
    for bi in (False, True)
}
# the one that must learn the task
SENTIMENT["lstm-bi"].update(embedding_size=16, hidden_size=16, epochs=8, lr=1e-2)
SENTIMENT["gru-bi"].update(hmm=True)  # tokenizer settings must come back with the model
LM = {cell: dict(TINY, cell=cell, bidirectional=False, epochs=3) for cell in ("rnn", "lstm", "gru")}
LM["lstm-bi"] = dict(LM["lstm"], bidirectional=True)  # ELMo-style: both halves trained


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def sentiment_rows(n, seed, nouns=NOUNS, classes=((POS, "positive"), (NEG, "negative"))):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words, label = classes[i % len(classes)]
        noun, filler, word = rng.choice(nouns), rng.choice(FILLERS), rng.choice(words)
        text = f"{noun}{filler}{word}" if rng.random() < 0.7 else f"{filler}{word}，{noun}"
        rows.append((text, label))
    return rows


def lm_lines(n, seed, subjects=SUBJECTS):
    rng = random.Random(seed)
    return [f"{rng.choice(TIMES)}{rng.choice(subjects)}{rng.choice(VERBS)}{rng.choice(OBJECTS)}。" for _ in range(n)]


def write_tsv(path, rows):
    path.write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows), encoding="utf-8")
    return path


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


class Models:
    """Writes the corpora once and trains each named model on first use."""

    def __init__(self, root: Path):
        self.root = root
        self.train_tsv = write_tsv(root / "train.tsv", sentiment_rows(240, seed=1))
        self.dev_tsv = write_tsv(root / "dev.tsv", sentiment_rows(40, seed=2))
        # unseen combinations, some with nouns the model never saw
        self.heldout_rows = sentiment_rows(60, seed=3) + sentiment_rows(20, seed=4, nouns=NEW_NOUNS)
        self.heldout_tsv = write_tsv(root / "heldout.tsv", self.heldout_rows)
        self.lm_txt = write_lines(root / "lm.txt", lm_lines(150, seed=5))
        self.lm_dev = write_lines(root / "lm-dev.txt", lm_lines(20, seed=6))
        self._done = {}

    def sentiment(self, name) -> Path:
        """The training output folder of sentiment model ``name``."""
        key = ("sentiment", name)
        if key not in self._done:
            out = self.root / f"sentiment-{name}"
            best = train("sentiment", [str(self.train_tsv)], out=out, dev=str(self.dev_tsv), **SENTIMENT[name])
            assert best == out / "model-best"
            self._done[key] = out
        return self._done[key]

    def lm(self, name) -> Path:
        key = ("lm", name)
        if key not in self._done:
            out = self.root / f"lm-{name}"
            best = train("lm", str(self.lm_txt), out=out, dev=str(self.lm_dev), **LM[name])
            assert best == out / "model-best"
            self._done[key] = out
        return self._done[key]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return Models(tmp_path_factory.mktemp("roundtrip"))


def read_json(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def check_config(config, task):
    for key in ("task", "backbone", "head", "labels", "tokenizer", "zhseq_version"):
        assert key in config, key
    assert config["task"] == task and config["format"] == "zhseq-model"
    assert isinstance(config["tokenizer"], dict) and config["tokenizer"]["backend"] == "jieba"
    if task == "sentiment":
        assert isinstance(config["labels"], list) and len(config["labels"]) == config["head"]["num_labels"]


# -- sentiment ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SENTIMENT))
def test_sentiment_train_load_predict_save_reload(models, name, tmp_path):
    out = models.sentiment(name)
    best = out / "model-best"
    assert sorted(p.name for p in best.iterdir()) == ["config.json", "model.safetensors", "vocab.json"]
    config = read_json(best / "config.json")
    check_config(config, "sentiment")
    assert config["labels"] == ["negative", "positive"]
    assert config["backbone"]["cell"] == SENTIMENT[name]["cell"]
    assert config["backbone"]["bidirectional"] is SENTIMENT[name]["bidirectional"]
    assert config["backbone"]["vocab_size"] == len(read_json(best / "vocab.json")["tokens"])

    clf = SentimentClassifier.from_pretrained(out)  # a training output folder → its model-best
    assert clf.path == best and clf.labels == ["negative", "positive"]
    preds = clf(SENTIMENT_TEXTS)
    assert len(preds) == len(SENTIMENT_TEXTS)
    for p in preds:
        assert set(p) == {"label", "score"}
        if p["label"] is not None:  # None: a text without content (nothing the model knows)
            assert p["label"] in clf.labels and 0.5 <= p["score"] <= 1.0  # the winning label's probability
    empty = clf("")
    assert empty == preds[SENTIMENT_TEXTS.index("")] == {"label": None, "score": None}
    assert preds[SENTIMENT_TEXTS.index("   ")] == empty  # blank
    assert all(p["label"] is not None for p in preds[:4])  # texts of the training words
    # other batches, other padding: the same answers, to the last digit
    assert list(clf.predict_stream(iter(SENTIMENT_TEXTS), batch_size=2)) == preds
    assert [clf(text) for text in SENTIMENT_TEXTS] == preds

    copy = clf.save_pretrained(tmp_path / "copy")
    assert copy == tmp_path / "copy"
    again = SentimentClassifier.from_pretrained(copy)
    assert again(SENTIMENT_TEXTS) == preds
    assert np.array_equal(*(m.predict_proba(SENTIMENT_TEXTS, content=True)[0] for m in (again, clf)))
    saved = read_json(copy / "config.json")
    check_config(saved, "sentiment")
    for key in ("backbone", "head", "labels", "tokenizer", "task"):
        assert saved[key] == config[key], key
    assert again.vocab.itos == clf.vocab.itos
    assert again.tokenizer.to_dict() == clf.tokenizer.to_dict()


def test_tokenizer_settings_come_back_with_the_model(models):
    hmm = SentimentClassifier.from_pretrained(models.sentiment("gru-bi"))
    assert hmm.tokenizer.hmm is True and hmm.config["tokenizer"]["hmm"] is True
    plain = SentimentClassifier.from_pretrained(models.sentiment("gru-uni"))
    assert plain.tokenizer.hmm is False
    text = "李小福是创新办主任"
    assert hmm.tokenizer.cut(text) == Tokenizer(hmm=True).cut(text) != plain.tokenizer.cut(text)


def test_one_config_learns_the_task(models):
    out = models.sentiment("lstm-bi")
    clf = SentimentClassifier.from_pretrained(out)
    texts = [t for t, _ in models.heldout_rows]
    gold = [y for _, y in models.heldout_rows]
    predicted = [p["label"] for p in clf(texts)]
    accuracy = sum(p == y for p, y in zip(predicted, gold)) / len(gold)
    assert accuracy >= 0.9

    result = evaluate(out, str(models.heldout_tsv))
    assert result["task"] == "sentiment" and result["n"] == len(gold)
    assert result["accuracy"] == pytest.approx(accuracy)
    assert result["accuracy"] >= 0.9 and 0.0 <= result["macro_f1"] <= 1.0
    assert result["labels"] == clf.labels
    assert set(result["per_label"]) == set(clf.labels)
    for lab, row in result["per_label"].items():
        assert set(row) == {"precision", "recall", "f1", "support"}
        assert all(0.0 <= row[k] <= 1.0 for k in ("precision", "recall", "f1"))
        assert row["support"] == gold.count(lab)
    matrix = result["confusion_matrix"]
    assert len(matrix) == 2 and all(len(r) == 2 for r in matrix)
    assert sum(map(sum, matrix)) == len(gold)
    assert [sum(r) for r in matrix] == [gold.count(lab) for lab in clf.labels]  # rows are the truth
    assert (matrix[0][0] + matrix[1][1]) / len(gold) == pytest.approx(result["accuracy"])


def test_metrics_json_has_one_record_per_epoch(models):
    out = models.sentiment("rnn-uni")
    metrics = read_json(out / "metrics.json")
    assert metrics["task"] == "sentiment" and metrics["metric"] == "accuracy"
    epochs = metrics["epochs"]
    assert [r["epoch"] for r in epochs] == list(range(1, SENTIMENT["rnn-uni"]["epochs"] + 1))
    for r in epochs:
        assert r["train_loss"] > 0 and 0.0 <= r["dev"]["accuracy"] <= 1.0 and isinstance(r["best"], bool)
    assert epochs[0]["best"] is True
    best = [r for r in epochs if r["best"]][-1]
    # a model's dev_scores are its own, the network mixed with the n-gram half; the network alone scored
    # what the epoch's record says
    for folder, record in (("model-best", best), ("model-last", epochs[-1])):
        found = metrics["ngrams"][folder]["dev_accuracy"]
        assert found["network"] == pytest.approx(record["dev"]["accuracy"])
        assert read_json(out / folder / "config.json")["dev_scores"]["accuracy"] == pytest.approx(found["mixed"])
    # and the learner's history, which may stop early, still numbers its epochs 1..n
    learner = read_json(models.sentiment("lstm-bi") / "metrics.json")["epochs"]
    assert [r["epoch"] for r in learner] == list(range(1, len(learner) + 1))


def test_wrong_task_is_refused(models):
    with pytest.raises(ZhseqError, match="lm"):
        SentimentClassifier.from_pretrained(models.lm("lstm"))
    with pytest.raises(ZhseqError, match="sentiment"):
        NextWordPredictor.from_pretrained(models.sentiment("lstm-bi"))


# -- next word ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(LM))
def test_lm_train_load_predict_save_reload(models, name, tmp_path):
    out = models.lm(name)
    config = read_json(out / "model-best" / "config.json")
    check_config(config, "lm")
    assert config["backbone"]["bidirectional"] is LM[name]["bidirectional"]
    assert config["backbone"]["cell"] == LM[name]["cell"]
    lm = NextWordPredictor.from_pretrained(out)
    specials = set(SPECIALS)
    vocab_words = len(lm.vocab) - len(SPECIALS)
    for k in (1, 3, 5, 1000):
        for prefix in LM_PREFIXES:
            top = lm.predict_next(prefix, k=k)
            # next words, and the rest of the words that extend the last one: never fewer than the words
            assert min(k, vocab_words) <= len(top) <= k
            assert not specials & {t["token"] for t in top}
            scores = [t["score"] for t in top]
            assert scores == sorted(scores, reverse=True)
            assert all(0.0 <= s <= 1.0 for s in scores)
            if k <= 5:
                assert all(s > 0.0 for s in scores)
    assert sum(t["score"] for t in lm.predict_next("今天", k=1000)) <= 1.0 + 1e-4
    many = lm.predict_next(LM_PREFIXES, k=3)
    assert many == [lm.predict_next(p, k=3) for p in LM_PREFIXES]

    greedy = lm.generate("今天我", n=8)
    assert isinstance(greedy, str) and greedy == lm.generate("今天我", n=8, temperature=0.0)
    assert lm.generate("今天", n=0) == ""
    sampled = lm.generate("今天", n=10, temperature=1.0, seed=7)
    assert sampled == lm.generate("今天", n=10, temperature=1.0, seed=7)
    for text in (greedy, sampled, lm.generate("", n=5)):
        assert not any(s in text for s in SPECIALS)

    copy = lm.save_pretrained(tmp_path / "copy")
    again = NextWordPredictor.from_pretrained(copy)
    assert again.predict_next(LM_PREFIXES, k=5) == lm.predict_next(LM_PREFIXES, k=5)
    assert again.generate("今天我", n=8) == greedy
    assert again.generate("今天", n=10, temperature=1.0, seed=7) == sampled
    saved = read_json(copy / "config.json")
    check_config(saved, "lm")
    for key in ("backbone", "head", "tokenizer", "task"):
        assert saved[key] == config[key], key


def test_lm_evaluate(models):
    out = models.lm("lstm")
    result = evaluate(out, str(models.lm_dev))
    assert result["task"] == "lm"
    tok = Tokenizer()
    lines = models.lm_dev.read_text(encoding="utf-8").splitlines()
    assert result["n_tokens"] == sum(len(tok.cut(line)) + 1 for line in lines)  # each word and the line end
    vocab_size = read_json(out / "model-best" / "config.json")["backbone"]["vocab_size"]
    assert 1.0 <= result["perplexity"] < vocab_size  # better than guessing uniformly
    assert 0.0 <= result["top1"] <= result["top5"] <= 1.0
    lm_metrics = read_json(out / "metrics.json")
    assert lm_metrics["metric"] == "perplexity"
    assert len(lm_metrics["epochs"]) >= 1 and all("perplexity" in r["dev"] for r in lm_metrics["epochs"])


# -- fine-tuning ----------------------------------------------------------------------------------


def test_finetune_same_labels_grows_the_vocabulary(models, tmp_path):
    base_dir = models.sentiment("lstm-bi")
    data = write_tsv(tmp_path / "more.tsv", sentiment_rows(40, seed=8, nouns=NEW_NOUNS))
    # lr 0: nothing learns, so everything but the new rows must equal the base model
    path = finetune(base_dir, [str(data)], out=tmp_path / "ft", epochs=1, lr=0.0, min_freq=2, progress=False)
    assert path == tmp_path / "ft" / "model-best"
    base = SentimentClassifier.from_pretrained(base_dir)
    tuned = SentimentClassifier.from_pretrained(path)
    assert tuned.labels == base.labels
    n_old = len(base.vocab)
    assert tuned.vocab.itos[:n_old] == base.vocab.itos  # old words keep their ids
    assert set(NEW_NOUNS) <= set(tuned.vocab.itos[n_old:])
    assert not set(NEW_NOUNS) & set(base.vocab.itos)
    old_weight = base.net.backbone.embedding.weight
    new_weight = tuned.net.backbone.embedding.weight
    assert new_weight.shape == (len(tuned.vocab), old_weight.size(1))
    assert torch.equal(new_weight[:n_old], old_weight)
    old_texts = ["这家餐厅真的很好", "酒店实在糟糕", ""]
    # the n-gram half is fitted again on the new data; the network alone is unchanged
    assert not torch.equal(tuned.net.ngrams.idf, base.net.ngrams.idf)
    for model in (tuned, base):
        model.net.config.ngram_weight = 0.0
    assert np.array_equal(*(m.predict_proba(old_texts, content=True)[0] for m in (tuned, base)))
    config = read_json(path / "config.json")
    check_config(config, "sentiment")
    assert config["training"]["command"] == "finetune"
    assert config["training"]["new_words"] == len(tuned.vocab) - n_old
    assert config["backbone"]["vocab_size"] == len(tuned.vocab)


def test_finetune_new_label_set_rebuilds_the_head(models, tmp_path):
    base_dir = models.sentiment("lstm-bi")
    classes = ((POS, "好评"), (NEUTRAL, "中评"), (NEG, "差评"))
    data = write_tsv(tmp_path / "three.tsv", sentiment_rows(90, seed=9, classes=classes))
    path = finetune(base_dir, str(data), out=tmp_path / "ft3", epochs=3, lr=1e-2, min_freq=2, new_labels=True,
                    progress=False)
    tuned = SentimentClassifier.from_pretrained(path)
    new_labels = sorted(["好评", "中评", "差评"])
    assert tuned.labels == new_labels
    assert tuned.net.classifier.out_features == 3 and tuned.net.config.num_labels == 3
    raw = (path / "config.json").read_text(encoding="utf-8")
    assert "好评" in raw  # readable, not \u escapes
    config = json.loads(raw)
    assert config["labels"] == new_labels and config["head"]["num_labels"] == 3
    texts = SENTIMENT_TEXTS + [t for t, _ in sentiment_rows(30, seed=10, classes=classes)]
    preds = tuned(texts)
    assert {p["label"] for p in preds} <= set(new_labels) | {None}
    assert all(1 / 3 <= p["score"] <= 1.0 for p in preds if p["label"] is not None)
    assert tuned.predict_proba(["很好"]).shape == (1, 3)
    result = evaluate(path, str(data))
    assert result["labels"] == new_labels and len(result["confusion_matrix"]) == 3
    assert sum(r["support"] for r in result["per_label"].values()) == 90


def test_finetune_lm_grows_the_vocabulary(models, tmp_path):
    base_dir = models.lm("gru")
    data = write_lines(tmp_path / "pets.txt", lm_lines(40, seed=11, subjects=["小猫", "小狗"]))
    path = finetune(base_dir, str(data), out=tmp_path / "ft-lm", max_steps=3, min_freq=2, progress=False)
    base = NextWordPredictor.from_pretrained(base_dir)
    tuned = NextWordPredictor.from_pretrained(path)
    n_old = len(base.vocab)
    assert tuned.vocab.itos[:n_old] == base.vocab.itos
    assert {"小猫", "小狗"} <= set(tuned.vocab.itos[n_old:])
    assert tuned.net.out_bias.shape == (len(tuned.vocab),)
    assert tuned.net.backbone.embedding.weight.shape[0] == len(tuned.vocab)
    top = tuned.predict_next("今天", k=1000)  # every word, and the rest of dictionary words after 今天
    assert set(tuned.vocab.itos[len(SPECIALS):]) <= {t["token"] for t in top}
    assert {"小猫", "小狗"} <= {t["token"] for t in top}


def test_finetune_refuses_its_own_folder(models):
    best = models.sentiment("rnn-uni") / "model-best"
    with pytest.raises(ZhseqError):
        finetune(best, str(models.train_tsv), out=best, progress=False)
    with pytest.raises(ZhseqError):
        finetune(best, str(models.train_tsv), out=best.parent, progress=False)
    assert SentimentClassifier.from_pretrained(best).labels == ["negative", "positive"]


# -- failures leave nothing behind ----------------------------------------------------------------


def test_failed_train_leaves_no_output_folder(models, tmp_path):
    no_labels = tmp_path / "no-labels.tsv"
    no_labels.write_text("text\tlabel\n很好\t\n很差\t \n", encoding="utf-8")
    out = tmp_path / "out-empty-labels"
    with pytest.raises(ZhseqError):
        train("sentiment", str(no_labels), out=out, **TINY)
    assert not out.exists()

    out = tmp_path / "out-cell"
    with pytest.raises(ZhseqError, match="transformer") as err:
        train("sentiment", str(models.train_tsv), out=out, **dict(TINY, cell="transformer"))
    assert "lstm" in str(err.value)
    assert not out.exists()

    out = tmp_path / "out-one-label"
    write_tsv(tmp_path / "one-label.tsv", [("很好", "positive"), ("喜欢", "positive")])
    with pytest.raises(ZhseqError, match="two labels"):
        train("sentiment", str(tmp_path / "one-label.tsv"), out=out, **TINY)
    assert not out.exists()

    out = tmp_path / "out-bi-lm"
    with pytest.raises(ZhseqError, match="one layer"):
        train("lm", str(models.lm_txt), out=out, **dict(TINY, bidirectional=True, layers=2))
    assert not out.exists()

    out = tmp_path / "out-task"
    with pytest.raises(ZhseqError, match="translation"):
        train("translation", str(models.lm_txt), out=out, **TINY)
    assert not out.exists()

    out = tmp_path / "out-made-by-the-user"
    out.mkdir()
    with pytest.raises(ZhseqError):
        train("sentiment", str(no_labels), out=out, **TINY)
    assert out.is_dir() and list(out.iterdir()) == []  # left as it was found


def test_out_folder_holding_a_model_is_refused(models):
    best = models.sentiment("rnn-uni") / "model-best"
    before = {p.name: p.read_bytes() for p in best.iterdir()}
    with pytest.raises(ZhseqError, match="already holds a model"):
        train("sentiment", str(models.train_tsv), out=best, **TINY)
    assert {p.name: p.read_bytes() for p in best.iterdir()} == before


def test_failed_rerun_keeps_an_earlier_training_run(models, tmp_path):
    earlier = tmp_path / "earlier"
    shutil.copytree(models.sentiment("rnn-uni"), earlier)
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\tlabel\n很好\t\n", encoding="utf-8")
    with pytest.raises(ZhseqError):
        train("sentiment", str(bad), out=earlier, **TINY)
    # whatever the reason for refusing, the model trained before is still there and loads
    assert SentimentClassifier.from_pretrained(earlier).labels == ["negative", "positive"]
    assert (earlier / "metrics.json").is_file()


# -- neutral band and half-precision weights ------------------------------------------------------


def test_neutral_band_labels_uncertain_texts_neutral(models):
    clf = SentimentClassifier.from_pretrained(models.sentiment("lstm-bi"))
    # a well-trained model is sure of every held-out row: texts with a word of each side give it doubts
    mixed = [f"{a}{b}" for a, b in zip(POS, NEG)]
    texts = [t for t, _ in models.heldout_rows] + mixed + ["", "一般"]
    probs, content = clf.predict_proba(texts, content=True)
    probs = probs[:, clf.labels.index("positive")].tolist()
    plain = clf(texts)
    assert clf(texts, neutral_band=0.0) == plain  # off by default
    for band in (0.1, 0.49):
        banded = clf(texts, neutral_band=band)
        for p, c, a, b in zip(probs, content, plain, banded):
            if not c:
                assert a == b == {"label": None, "score": None}  # the empty text: nothing to weigh
            elif abs(p - 0.5) <= band:
                assert b["label"] == "neutral" and b["score"] == pytest.approx(1 - abs(2 * p - 1), abs=1e-5)
            else:
                assert b == a
    assert any(b["label"] == "neutral" for b in banded)
    assert clf(texts[-2], neutral_band=0.1) == banded[-2]  # a single text agrees with the batch


def test_neutral_band_rejects_bad_bands_and_other_label_sets(models, tmp_path):
    clf = SentimentClassifier.from_pretrained(models.sentiment("lstm-bi"))
    with pytest.raises(ZhseqError, match=r"neutral_band must be a number in \[0, 0.5\)"):
        clf(["很好"], neutral_band=0.7)
    rows = sentiment_rows(90, seed=7, classes=((POS, "好"), (NEG, "坏"), (NEUTRAL, "中")))
    out = tmp_path / "three"
    train("sentiment", str(write_tsv(tmp_path / "three.tsv", rows)), out=out, **TINY)
    with pytest.raises(ZhseqError, match="negative/positive") as err:
        SentimentClassifier.from_pretrained(out)(["很好"], neutral_band=0.1)
    assert "--label-map" not in str(err.value)  # three labels: no renaming makes them two
    from zhseq.pipeline import neutral_column

    with pytest.raises(ZhseqError, match="labels 正面, 负面; a model of two labels is trained with those names by "
                                         "--label-map"):
        neutral_column(["正面", "负面"], 0.1)


def test_float16_weights_halve_the_file_and_keep_predictions(models, tmp_path):
    clf = SentimentClassifier.from_pretrained(models.sentiment("lstm-bi"))
    full = clf.save_pretrained(tmp_path / "fp32")
    half = clf.save_pretrained(tmp_path / "fp16", dtype="float16")
    size = lambda p: (p / "model.safetensors").stat().st_size  # noqa: E731
    assert size(half) < 0.6 * size(full)
    reloaded = SentimentClassifier.from_pretrained(half)
    assert all(p.dtype == torch.float32 for p in reloaded.net.parameters())
    texts = [t for t, _ in models.heldout_rows]
    a, b = clf.predict_proba(texts, content=True)[0], reloaded.predict_proba(texts, content=True)[0]
    assert np.allclose(a, b, atol=1e-2)
    assert [r["label"] for r in clf(texts)] == [r["label"] for r in reloaded(texts)]
    with pytest.raises(ZhseqError, match="dtype"):
        clf.save_pretrained(tmp_path / "bad", dtype="int3")


def test_a_sentiment_model_can_start_from_a_language_models_backbone(models, tmp_path):
    lm_dir = models.lm("gru")
    lm = NextWordPredictor.from_pretrained(lm_dir)
    out = train("sentiment", str(models.train_tsv), out=tmp_path / "from-lm", init_backbone=lm_dir,
                bidirectional=True, epochs=1, max_steps=1, lr=1e-12, min_freq=1, progress=False)
    clf = SentimentClassifier.from_pretrained(out)
    assert clf.vocab.itos[: len(lm.vocab)] == lm.vocab.itos  # the LM's ids, then the new corpus's words
    assert clf.net.config.backbone.cell == "gru" and clf.net.config.backbone.bidirectional
    assert clf.config["training"]["init_backbone"] == str(lm_dir / "model-best")
    theirs, mine = lm.net.backbone.state_dict(), clf.net.backbone.state_dict()
    assert torch.allclose(mine["embedding.weight"][: len(lm.vocab)], theirs["embedding.weight"], atol=1e-6)
    for name in ("rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0"):
        assert torch.allclose(mine[name], theirs[name], atol=1e-6)  # the forward direction is the LM's
    assert not torch.allclose(mine["rnn.weight_hh_l0_reverse"], theirs["rnn.weight_hh_l0"], atol=1e-3)


def test_a_bidirectional_language_model_starts_both_directions_of_a_classifier(models, tmp_path):
    lm_dir = models.lm("lstm-bi")
    lm = NextWordPredictor.from_pretrained(lm_dir)
    metrics = read_json(lm_dir / "metrics.json")
    losses = [e["train_loss"] for e in metrics["epochs"]]
    assert losses[-1] < losses[0]  # the mean of both halves' losses falls
    # it predicts with its left-to-right half: the numpy engine (which runs only that half) and torch agree
    fast = NextWordPredictor.from_pretrained(lm_dir, engine="torch")
    prefixes = ["我喜欢", "今天"]
    assert [[w["token"] for w in r] for r in lm.predict_next(prefixes, k=3)] == \
        [[w["token"] for w in r] for r in fast.predict_next(prefixes, k=3)]
    out = train("sentiment", str(models.train_tsv), out=tmp_path / "from-bi-lm", init_backbone=lm_dir,
                epochs=1, max_steps=1, lr=1e-12, min_freq=1, progress=False)
    clf = SentimentClassifier.from_pretrained(out)
    assert clf.net.config.backbone.bidirectional  # the default for sentiment
    theirs, mine = lm.net.backbone.state_dict(), clf.net.backbone.state_dict()
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        for suffix in ("", "_reverse"):  # both directions are the LM's
            assert torch.allclose(mine[f"rnn.{name}{suffix}"], theirs[f"rnn.{name}{suffix}"], atol=1e-6)
