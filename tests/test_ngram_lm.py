"""The Kneser-Ney baseline in bench/ngram_lm.py: proper distributions, a hand-computed case, the fast top-k
against brute force, the vectorised scorer against the one-context reference, and the command line."""

import importlib.util
import json
import random
from pathlib import Path

import numpy as np
import pytest

from zhseq.tokenizer import Tokenizer
from zhseq.vocab import BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID

_PATH = Path(__file__).resolve().parent.parent / "bench" / "ngram_lm.py"
_spec = importlib.util.spec_from_file_location("ngram_lm", _PATH)
ngram_lm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ngram_lm)
KneserNey = ngram_lm.KneserNey

W0 = len(SPECIALS)  # first word id


def zipf_corpus(n_par, vocab_size, seed, max_len=12, unk_rate=0.03):
    """Paragraphs of Zipf-distributed word ids (some <unk>), with a few ids never used at all."""
    rng = random.Random(seed)
    words = list(range(W0, vocab_size - 3))  # the last 3 ids never occur in training
    weights = [1 / (r + 1) for r in range(len(words))]
    out = []
    for _ in range(n_par):
        n = rng.randint(1, max_len)
        out.append([UNK_ID if rng.random() < unk_rate else w for w in rng.choices(words, weights, k=n)])
    return out


@pytest.fixture(scope="module", params=[2, 3, 5])
def zipf_lm(request):
    lm = KneserNey(request.param, 40).fit(zipf_corpus(300, 40, seed=request.param))
    return lm


def contexts(lm, seed=0):
    train = zipf_corpus(20, 40, seed=lm.order)  # the same generator: mostly seen histories
    rng = random.Random(seed)
    out = [[]]
    for p in train:
        out += [p[:i] for i in range(1, len(p))]
    out += [[rng.randrange(W0, 40) for _ in range(rng.randint(1, 6))] for _ in range(40)]  # often unseen
    out += [[37, 38, 39], [39], [UNK_ID, UNK_ID]]  # words never seen in training
    return out


@pytest.mark.parametrize("order", [2, 3])
def test_distribution_sums_to_one(order):
    lm = KneserNey(order, 40).fit(zipf_corpus(200, 40, seed=1))
    seen_bigram = lm.history_ids([5])[2] >= 0 and (order < 3 or lm.history_ids([4, 5])[3] >= 0)
    unseen = [[39], [38, 39], [37, 38, 39]]
    assert seen_bigram  # the corpus does hold these histories
    for prefix in contexts(lm)[:60] + unseen + [[4, 5]]:
        p = lm.distribution(prefix)
        assert abs(p.sum() - 1.0) < 1e-9, prefix
        assert p[PAD_ID] == 0 and p[BOS_ID] == 0
        assert (p[lm.predictable] > 0).all()  # <unk>, <eos> and never-seen words included


def test_distribution_sums_to_one_order5(zipf_lm):
    for prefix in contexts(zipf_lm):
        assert abs(zipf_lm.distribution(prefix).sum() - 1.0) < 1e-9


def test_hand_computed_bigram():
    # <bos> a b <eos>, <bos> a c <eos>; a, b, c = 4, 5, 6; five predictable ids: <unk> <eos> a b c.
    # Bigrams (raw): (<bos> a)=2, (a b)=(b <eos>)=(a c)=(c <eos>)=1 → n1=4, n2=1, n3=0: Y=2/3, D1=2/3,
    # D2 = 2 - 3·Y·0 = 2 is not below 2 → 1.0. Unigram continuation counts: a=1 (<bos>), b=1, c=1,
    # <eos>=2 → D1=0.6, D2=1.0; uniform mass (3·0.6 + 1)/5 = 0.56, 0.112 each →
    # p1(a) = 0.4/5 + 0.112 = 0.192, p1(<eos>) = 1/5 + 0.112 = 0.312, p1(<unk>) = 0.112.
    lm = KneserNey(2, 7).fit([[4, 5], [4, 6]])
    np.testing.assert_allclose(lm.levels[2].discounts, [2 / 3, 1.0, 1.5])
    np.testing.assert_allclose(lm.unigram_discounts, [0.6, 1.0, 1.5])
    np.testing.assert_allclose(lm.p1, [0, 0.112, 0, 0.312, 0.192, 0.192, 0.192])
    p = lm.distribution([4])  # γ(a) = (2/3 + 2/3)/2; p(b|a) = (1 - 2/3)/2 + γ(a)·p1(b)
    assert p[5] == pytest.approx(1 / 6 + 2 / 3 * 0.192)
    assert p[UNK_ID] == pytest.approx(2 / 3 * 0.112)
    assert lm.distribution([4, 5])[EOS_ID] == pytest.approx(1 / 3 + 2 / 3 * 0.312)
    assert lm.distribution([])[4] == pytest.approx((2 - 1.0) / 2 + 1.0 / 2 * 0.192)  # (<bos> a): raw count 2


def test_deterministic_next_word_is_top1():
    lm = KneserNey(3, 12).fit([[4, 5, 6, 7, 8], [9, 5, 10, 11]] * 5)
    assert lm.top_k([4])[0] == 5
    assert lm.top_k([4, 5])[0] == 6  # the trigram decides: after "9 5" comes 10
    assert lm.top_k([9, 5])[0] == 10
    assert lm.top_k([])[0] in (4, 9)
    assert UNK_ID not in lm.top_k([4, 5, 6, 7, 8], k=8)  # <eos> is likeliest here, but never proposed
    assert EOS_ID not in lm.top_k([4, 5, 6, 7, 8], k=8)
    assert lm.distribution([4, 5, 6, 7, 8]).argmax() == EOS_ID


def test_repeated_text_beats_shuffled():
    train = zipf_corpus(200, 60, seed=3)
    rng = random.Random(0)
    shuffled = [rng.sample(p, len(p)) for p in train]
    for order in (2, 3, 5):
        lm = KneserNey(order, 60).fit(train)
        assert lm.score(train)["perplexity"] < lm.score(shuffled)["perplexity"]


@pytest.mark.parametrize("k", [1, 5])
def test_fast_top_k_equals_brute_force(zipf_lm, k):
    for prefix in contexts(zipf_lm):
        assert zipf_lm.top_k(prefix, k) == zipf_lm.top_k_brute(prefix, k), prefix


def test_score_matches_one_context_reference(zipf_lm):
    """The vectorised scorer gives each target the probability of ``distribution`` and LMTask's counting:
    perplexity over every target, top-k over real words ranked without specials."""
    test = zipf_corpus(30, 40, seed=99)
    s = zipf_lm.score(test)
    probs, hits1, hits5, n_words = [], 0, 0, 0
    for par in test:
        for i, gold in enumerate(par + [EOS_ID]):
            probs.append(zipf_lm.distribution(par[:i])[gold])
            if gold not in (UNK_ID, EOS_ID):
                top = zipf_lm.top_k_brute(par[:i], 5)
                hits1 += top[0] == gold
                hits5 += gold in top
                n_words += 1
    np.testing.assert_allclose(s["target_probs"], probs, rtol=1e-12)
    assert s["n_tokens"] == len(probs) and s["n_words"] == n_words
    assert s["perplexity"] == pytest.approx(np.exp(-np.mean(np.log(probs))))
    assert s["top1"] == hits1 / n_words and s["top5"] == hits5 / n_words


def test_contexts_stay_inside_a_paragraph():
    # "5 <eos> <bos> 6" never forms an n-gram: the first word of a paragraph sees only <bos>.
    lm = KneserNey(3, 10).fit([[4, 5], [6, 7]] * 3)
    assert lm.history_ids([])[3] == -1
    # bigrams: <bos> 4, 4 5, 5 <eos>, <bos> 6, 6 7, 7 <eos>; trigrams: <bos> 4 5, 4 5 <eos>, <bos> 6 7, 6 7 <eos>
    assert len(lm.levels[2]) == 6 and len(lm.levels[3]) == 4
    p = lm.distribution([])
    assert p[4] == p[6] and p[5] == p[7] and p[4] > 3 * p[5]


def test_command_line(tmp_path, capsys):
    """A folder with a zhseq config and vocabulary (no neural scoring) → JSON with the documented keys."""
    model = tmp_path / "model"
    model.mkdir()
    config = {"format": "zhseq-model", "task": "lm", "backbone": {"vocab_size": len(SPECIALS) + 7}, "head": {},
              "tokenizer": {"backend": "jieba", "hmm": False, "nfkc": True, "t2s": False, "user_words": []}}
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (model / "model.safetensors").write_bytes(b"")
    words = ["我们", "北京", "天安门", "爱", "经济", "发展", "。"]
    (model / "vocab.json").write_text(json.dumps({"format": "zhseq-vocab", "tokens": list(SPECIALS) + words},
                                                 ensure_ascii=False), encoding="utf-8")
    train = tmp_path / "train.txt"
    train.write_text("我们爱北京天安门。\n\n经济发展。\n我们爱北京。\n", encoding="utf-8")
    test = tmp_path / "test.txt"
    test.write_text("我们爱北京。\n经济发展很快。\n", encoding="utf-8")
    assert ngram_lm.main(["--model", str(model), "--train", str(train), "--test", str(test),
                          "--order", "2", "--json", "--no-neural"]) == 0
    out = json.loads(capsys.readouterr().out)
    g = out["ngram"]
    assert {"order", "vocab_size", "n_train_tokens", "n_test_tokens", "perplexity", "top1", "top5",
            "seconds"} <= set(g)
    assert g["order"] == 2 and g["vocab_size"] == len(words) + 4
    targets = lambda texts: sum(len(Tokenizer().cut(t)) + 1 for t in texts)  # noqa: E731  words + line end
    assert g["n_train_tokens"] == targets(["我们爱北京天安门。", "经济发展。", "我们爱北京。"])  # empty line skipped
    assert g["n_test_tokens"] == targets(["我们爱北京。", "经济发展很快。"])  # <unk> targets counted
    assert 1 < g["perplexity"] < len(words) + 2 and 0 <= g["top1"] <= g["top5"] <= 1
    assert "neural" not in out
