"""The tokenizer's engines: rjieba stands in for jieba only where both give the same tokens.

``bench/tokenizer_identity.py`` checks every corpus text; these tests check the rule that picks the engine,
hand-written edge cases, a corpus sample, and (hypothesis) arbitrary text.
"""

import gzip
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhseq import tokenizer as tokenizer_module
from zhseq.errors import ZhseqError
from zhseq.tokenizer import ENGINE_ENV, Tokenizer, rjieba_installed

needs_rjieba = pytest.mark.skipif(not rjieba_installed(), reason="rjieba is not installed")
DEV = Path(__file__).resolve().parent.parent / "corpora" / "chnsenticorp" / "dev.tsv.gz"

HAND_WRITTEN = [
    "我爱北京天安门",
    "李小福是创新办主任也是云计算方面的专家",
    "這家餐廳的服務很好，下次還會再來！",  # traditional
    "ＡＢＣ１２３　全角字母和数字，（括号）！",  # full width
    "hello world, C++ and C# at 3.14% off: U.S.A. 1,000,000 x--y__z..w i'm",
    "iPhone13ProMax 2024年12月31日 23:59:59 第3季度 100%好评 GB2312",
    "abc中文def123中文 ghi",
    "😀😂👍🏻🇨🇳 表情 ❤️ 好评👍‍",
    "\x00\x01\x07\x1b\x7f\x1c\x1d\x1e\x1f\x85\u200b\u200d\ufeff控制字符",
    "a  b\t\tc\r\n\r\nd\r\re\n\nf   \u3000\u3000 g\u00a0\u2003\u2028\u2029h",
    "   ",
    "",
    "㐀㐁䶵鿖鿿𠀀𠀁𪚥 扩展区汉字",
    "e\u0301\u0301x café naïve ß Ω",
    "ﾊﾝｶｸ ｶﾀｶﾅ ㈱ ① ㎏ ﬁ",  # NFKC folds these
    "#&%+-._ 符号",
    "中\ud800文\udfff\ud83d\ude00a\udc00 b",  # lone surrogates (and a pair of them)
]


@pytest.fixture(scope="module")
def engines():
    return Tokenizer(engine="jieba"), Tokenizer(engine="rjieba")


def _long_text() -> str:
    with gzip.open(DEV, "rt", encoding="utf-8") as f:
        text = "".join(line.split("\t", 1)[1] for line in list(f)[1:])
    text = (text + "".join(HAND_WRITTEN)) * (100_000 // len(text) + 1)
    return text[:100_000]


def _dev_sample() -> list[str]:
    with gzip.open(DEV, "rt", encoding="utf-8") as f:
        lines = list(f)[1:]
    return [line.rstrip("\n").split("\t", 1)[1] for line in lines[::3]]  # 400 reviews


# -- engine choice ----------------------------------------------------------------------------------


@needs_rjieba
def test_auto_picks_rjieba_for_the_default_settings(monkeypatch):
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    for tok in (Tokenizer(), Tokenizer(engine="auto"), Tokenizer(nfkc=False), Tokenizer.from_dict({})):
        assert tok.engine == "rjieba"
        assert tok.rjieba_refusal() is None


def test_hmm_or_user_words_keep_jieba(tmp_path, monkeypatch):
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    user_dict = tmp_path / "user.dict"
    user_dict.write_text("云计算 5\n", encoding="utf-8")
    for tok in (Tokenizer(hmm=True), Tokenizer(user_words=["李小福"]), Tokenizer(user_dicts=[user_dict]),
                Tokenizer.from_dict({"hmm": True})):
        assert tok.engine == "jieba"
        assert tok.rjieba_refusal()
    assert Tokenizer(user_words=["  ", ""]).engine == Tokenizer().engine  # blank lines are no user words


@needs_rjieba
@pytest.mark.parametrize("settings, reason", [({"hmm": True}, "HMM"), ({"user_words": ["李小福"]}, "user words")])
def test_forcing_rjieba_where_it_is_not_identical_is_refused(settings, reason):
    with pytest.raises(ZhseqError, match=reason):
        Tokenizer(engine="rjieba", **settings)
    with pytest.raises(ZhseqError, match=reason):
        Tokenizer.from_dict(settings, engine="rjieba")


def test_without_rjieba_auto_is_jieba_and_forcing_it_is_refused(monkeypatch):
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    monkeypatch.setattr(tokenizer_module, "rjieba_installed", lambda: False)
    assert Tokenizer().engine == "jieba"
    with pytest.raises(ZhseqError, match="not installed"):
        Tokenizer(engine="rjieba")


def test_environment_variable_forces_jieba(monkeypatch):
    monkeypatch.setenv(ENGINE_ENV, "jieba")
    tok = Tokenizer()
    assert tok.engine == "jieba"
    assert tok.cut("我爱北京天安门") == ["我", "爱", "北京", "天安门"]
    assert Tokenizer.from_dict({}).engine == "jieba"  # what model loading uses
    if rjieba_installed():
        assert Tokenizer(engine="auto").engine == "rjieba"  # an argument wins over the variable
        monkeypatch.setenv(ENGINE_ENV, "rjieba")
        with pytest.raises(ZhseqError, match=ENGINE_ENV):
            Tokenizer(hmm=True)


@pytest.mark.parametrize("value", ["pkuseg", "JIEBA", " rjieba"])
def test_unknown_engine_names_the_choices(value, monkeypatch):
    with pytest.raises(ZhseqError, match="auto, jieba, rjieba"):
        Tokenizer(engine=value)
    monkeypatch.setenv(ENGINE_ENV, value)
    with pytest.raises(ZhseqError, match=ENGINE_ENV):
        Tokenizer()


@needs_rjieba
def test_engine_is_never_saved(engines):
    jieba_tok, rjieba_tok = engines
    assert jieba_tok.to_dict() == rjieba_tok.to_dict() == Tokenizer().to_dict()
    assert "engine" not in jieba_tok.to_dict()
    assert "engine='jieba'" in repr(jieba_tok)


# -- identical tokens ---------------------------------------------------------------------------------


@needs_rjieba
@pytest.mark.parametrize("text", HAND_WRITTEN)
def test_hand_written_texts_cut_alike(engines, text):
    jieba_tok, rjieba_tok = engines
    assert rjieba_tok.cut(text) == jieba_tok.cut(text)
    # and before whitespace is dropped, NFKC off: the engines themselves agree
    assert rjieba_tok._rjieba_cut(text) == jieba_tok.jieba.lcut(text, HMM=False)


@needs_rjieba
def test_long_text_cuts_alike(engines):
    jieba_tok, rjieba_tok = engines
    text = _long_text()
    assert len(text) == 100_000
    words = rjieba_tok.cut(text)
    assert words == jieba_tok.cut(text)
    assert len(words) > 30_000


@needs_rjieba
def test_corpus_sample_cuts_alike(engines):
    jieba_tok, rjieba_tok = engines
    texts = _dev_sample()
    assert len(texts) == 400
    differ = [t for t in texts if rjieba_tok.cut(t) != jieba_tok.cut(t)]
    assert differ == []


@needs_rjieba
def test_hmm_is_why_auto_keeps_jieba():
    # If this starts to fail, rjieba's HMM mode may have become identical: rerun bench/tokenizer_identity.py.
    text = "预定说是1-6天发货"
    jieba_tok = Tokenizer(hmm=True)
    assert jieba_tok.jieba.lcut(text, HMM=True) != Tokenizer(engine="rjieba").rjieba.cut(text, hmm=True)


@needs_rjieba
def test_import_rjieba_still_works_after_zhseq_loaded_it():
    code = (
        "from zhseq.tokenizer import Tokenizer\n"
        "assert Tokenizer().cut('我爱北京天安门') == ['我', '爱', '北京', '天安门']\n"
        "import rjieba\n"
        "assert rjieba.cut('我爱北京天安门', hmm=False) == ['我', '爱', '北京', '天安门']\n"
        "assert rjieba.Jieba().cut('天安门', hmm=False) == ['天安门']\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# Arbitrary text, with every code point allowed (lone surrogates included), and text made of the
# characters segmentation cares about, so that real words and mixed runs occur.
_SEGMENTATION_ALPHABET = (
    "的一是了我不人在有这个上们来到时大地为中你说生国年就和要出也得后自以会家可下而过天去能对小多然于心学"
    "北京天安门餐厅菜很好吃服务酒店房间這裡們個說"
    "abcxyzABCXYZ0123456789+#&._%-'"
    " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\u3000\u00a0\u2003\u2028"
    "，。！？、；：“”（）《》…—·ＡＢＣ１２３😀👍🏻\u200d\x00\x7f\ufeff㐀鿖𠀀\u0301\ud800\udc00\udfff"
)
_texts = st.one_of(
    st.text(alphabet=st.characters(codec=None, exclude_categories=())),
    st.text(alphabet=st.sampled_from(_SEGMENTATION_ALPHABET), max_size=80),
)
# built once: hypothesis and function-scoped fixtures do not mix, and each engine loads a dictionary
_PROPERTY_ENGINES = {
    (engine, nfkc): Tokenizer(engine=engine, nfkc=nfkc) for engine in ("jieba", "rjieba") for nfkc in (True, False)
} if rjieba_installed() else {}


_HAVE_OPENCC = importlib.util.find_spec("opencc") is not None


@settings(max_examples=100, deadline=None)
@given(hmm=st.booleans(), nfkc=st.booleans(), t2s=st.booleans() if _HAVE_OPENCC else st.just(False),
       user_words=st.sampled_from([(), ("李小福",), ("云计算 5 n", "创新办")]))
def test_auto_rule(hmm, nfkc, t2s, user_words):
    # rjieba exactly when it is installed, HMM is off and there are no user words (NFKC and t2s change
    # the text before either engine sees it)
    engine = Tokenizer(hmm=hmm, nfkc=nfkc, t2s=t2s, user_words=user_words, engine="auto").engine
    assert engine == ("rjieba" if rjieba_installed() and not hmm and not user_words else "jieba")


@needs_rjieba
@settings(max_examples=400, deadline=None)
@given(text=_texts, nfkc=st.booleans())
def test_rjieba_gives_jieba_tokens_for_any_text(text, nfkc):
    fast, reference = _PROPERTY_ENGINES["rjieba", nfkc], _PROPERTY_ENGINES["jieba", nfkc]
    assert fast.cut(text) == reference.cut(text)
    assert fast._rjieba_cut(text) == reference.jieba.lcut(text, HMM=False)
