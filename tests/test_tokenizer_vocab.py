"""Tokenizer: settings survive a round trip, jieba stays private; Vocab: ids, JSON, extension."""

import json
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhseq.errors import ZhseqError
from zhseq.tokenizer import Tokenizer, cache_dir
from zhseq.vocab import BOS, EOS, PAD, SPECIALS, UNK, UNK_ID, Vocab

# Without user words and without HMM, jieba splits this name into single characters.
NAME_TEXT = "李小福是创新办主任也是云计算方面的专家"
SAMPLES = [
    NAME_TEXT,
    "我爱北京天安门",
    "ＡＢＣ１２３ 是全角字母",
    "  空格\t和\n换行　也不算词 ",
    "hello world 你好世界",
    "",
]


@pytest.fixture(scope="module")
def tok():
    return Tokenizer()


# -- Tokenizer ------------------------------------------------------------------------------------


def test_plain_cut(tok):
    assert tok.cut("我爱北京天安门") == ["我", "爱", "北京", "天安门"]


def test_settings_round_trip_give_same_cuts(tmp_path):
    user_dict = tmp_path / "user.dict"
    # a byte-order mark at the start must not glue itself to the first word
    user_dict.write_bytes("\ufeff创新办 3 n\n\n云计算\n".encode("utf-8"))
    tok = Tokenizer(hmm=True, nfkc=False, user_words=["李小福 5", "  "], user_dicts=[user_dict])
    d = tok.to_dict()
    assert d["hmm"] is True and d["nfkc"] is False and d["t2s"] is False
    assert d["user_words"] == ["创新办 3 n", "云计算", "李小福 5"]  # blank lines dropped, file content kept
    assert not any("\ufeff" in w for w in d["user_words"])

    restored = Tokenizer.from_dict(json.loads(json.dumps(d, ensure_ascii=False)))
    assert restored.to_dict() == d
    user_dict.unlink()  # the saved settings hold the dictionary's content, not its path
    again = Tokenizer.from_dict(d)
    for text in SAMPLES:
        assert restored.cut(text) == tok.cut(text) == again.cut(text)
    words = tok.cut(NAME_TEXT)
    assert {"李小福", "创新办", "云计算"} <= set(words)
    # nfkc=False: full-width letters stay full width
    assert "".join(tok.cut("ＡＢＣ１２３")) == "ＡＢＣ１２３"


def test_default_settings_round_trip(tok):
    d = tok.to_dict()
    assert d == {"backend": "jieba", "hmm": False, "nfkc": True, "t2s": False, "user_words": []}
    assert Tokenizer.from_dict(d).to_dict() == d
    assert Tokenizer.from_dict({}).to_dict() == d  # missing keys mean the defaults


def test_t2s_round_trip():
    pytest.importorskip("opencc")
    tok = Tokenizer(t2s=True)
    restored = Tokenizer.from_dict(tok.to_dict())
    assert restored.t2s is True
    text = "這家餐廳的服務很好"
    assert restored.cut(text) == tok.cut(text)
    assert "".join(tok.cut(text)) == "这家餐厅的服务很好"


def test_unknown_backend_is_refused():
    with pytest.raises(ZhseqError, match="backend"):
        Tokenizer.from_dict({"backend": "pkuseg"})


def test_missing_user_dict_is_a_user_error(tmp_path):
    with pytest.raises(ZhseqError, match="nope.dict"):
        Tokenizer(user_dicts=[tmp_path / "nope.dict"])
    bad = tmp_path / "latin1.dict"
    bad.write_bytes("caf\xe9 3\n".encode("latin-1"))
    with pytest.raises(ZhseqError, match="UTF-8"):
        Tokenizer(user_dicts=[bad])


def test_a_user_dict_is_read_as_every_file_is(tmp_path):
    """A GBK dictionary: `segment --encoding gb18030 --user-dict d.txt` refused it as "not valid UTF-8"
    (--encoding applies to every file a command reads); left out, the encoding is detected, as for data."""
    import gzip

    from click.testing import CliRunner

    from zhseq.cli import cli

    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes("神仙水 5\n".encode("gbk"))
    packed = tmp_path / "utf8.txt.gz"
    packed.write_bytes(gzip.compress("\ufeff神仙水\n".encode("utf-8")))
    assert "神仙水" not in Tokenizer().cut("神仙水很好用")
    for tok in (Tokenizer(user_dicts=[gbk], encoding="gb18030"), Tokenizer(user_dicts=[gbk]),
                Tokenizer(user_dicts=[packed])):
        assert tok.cut("神仙水很好用")[0] == "神仙水"
    result = CliRunner().invoke(cli, ["segment", "--encoding", "gb18030", "--user-dict", str(gbk), "神仙水很好用"])
    assert result.exit_code == 0 and result.stdout == "神仙水 很 好 用\n", result.output
    bad = tmp_path / "bad.txt"  # one bad byte: an error naming its line, not a word with U+FFFD in it
    bad.write_bytes("神仙水\n云计算\n李小福\n".encode("gbk") + b"\x81\n")
    with pytest.raises(ZhseqError, match="bad.txt: line 4 is not valid GB18030"):
        Tokenizer(user_dicts=[bad], encoding="gbk")


def test_user_word_changes_segmentation(tok):
    plain = tok.cut(NAME_TEXT)
    assert "李小福" not in plain and "云计算" not in plain
    custom = Tokenizer(user_words=["李小福", "云计算"]).cut(NAME_TEXT)
    assert "李小福" in custom and "云计算" in custom
    assert "".join(custom) == "".join(plain) == NAME_TEXT


def test_nfkc_folds_full_width(tok):
    assert tok.cut("ＡＢＣ１２３") == ["ABC123"]
    assert tok.normalize("ＡＢＣ１２３") == "ABC123"
    assert Tokenizer(nfkc=False).normalize("ＡＢＣ１２３") == "ＡＢＣ１２３"


@pytest.mark.parametrize("text", ["  空格\t和\n换行　也不算词 ", "hello   world\r\n", "\u3000你好\u00a0世界\u2003"])
def test_whitespace_never_becomes_a_token(tok, text):
    words = tok.cut(text)
    assert words
    assert all(w and w.strip() == w for w in words)
    assert "".join(words) == "".join(text.split())


@pytest.mark.parametrize("text", ["", " ", "\n", "\t \r\n", "\u3000\u3000", "\u00a0"])
def test_empty_or_whitespace_text_gives_no_tokens(tok, text):
    assert tok.cut(text) == []


@pytest.mark.parametrize("value", [None, b"\xe4\xbd\xa0\xe5\xa5\xbd", 42, ["你好"]])
def test_non_str_input_is_a_zhseq_error(tok, value):
    """The whole library raises ZhseqError for a user's bad input (the README's promise); these were TypeErrors."""
    with pytest.raises(ZhseqError, match="Tokenizer input must be str, not "):
        tok.cut(value)


def test_user_words_given_as_one_str_and_a_model_named_by_a_number_are_zhseq_errors():
    from zhseq import SentimentClassifier

    with pytest.raises(ZhseqError, match="Tokenizer user_words must be a list, not one str"):
        Tokenizer(user_words="天安门广场")
    with pytest.raises(ZhseqError, match="a model is named by a folder path or 'sentiment'/'lm', not int 5"):
        SentimentClassifier.from_pretrained(5)


def test_cut_many_is_lazy_and_ordered(tok):
    texts = iter(["我爱北京", "", "天安门"])
    out = tok.cut_many(texts)
    assert next(out) == tok.cut("我爱北京")
    assert list(out) == [[], ["天安门"]]


def test_jieba_instance_is_private(tok, tmp_path, monkeypatch):
    import jieba

    monkeypatch.setattr(jieba.dt, "tmp_dir", str(tmp_path))  # the global instance's cache: not in /tmp
    before = jieba.lcut(NAME_TEXT, HMM=False)
    ours = Tokenizer(user_words=["李小福", "创新办"])
    assert ours.jieba is not jieba.dt and tok.jieba is not jieba.dt
    assert "李小福" in ours.cut(NAME_TEXT)
    assert jieba.lcut(NAME_TEXT, HMM=False) == before
    assert "李小福" not in before and "李小福" not in jieba.dt.FREQ
    # and two zhseq tokenizers do not share user words either
    assert "李小福" not in tok.cut(NAME_TEXT)


def test_jieba_cache_lands_in_the_zhseq_cache_dir(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setenv("ZHSEQ_CACHE", str(cache))
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))  # what jieba would fall back to
    assert cache_dir() == cache
    tok = Tokenizer(engine="jieba")  # rjieba keeps its dictionary in memory: no cache file
    assert tok.cut("我爱北京天安门") == ["我", "爱", "北京", "天安门"]
    assert (cache / "jieba.cache").is_file()
    assert list(system_tmp.iterdir()) == []


def test_cache_dir_fallbacks(tmp_path, monkeypatch):
    monkeypatch.delenv("ZHSEQ_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "zhseq"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "zhseq"


_PROPERTY_TOKENIZER = Tokenizer()  # hypothesis and function-scoped fixtures do not mix


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_cut_never_raises_and_gives_clean_tokens(text):
    words = _PROPERTY_TOKENIZER.cut(text)
    assert isinstance(words, list)
    for w in words:
        assert isinstance(w, str) and w and not w.isspace() and w.strip() == w


# -- Vocab ----------------------------------------------------------------------------------------

CORPUS = [["好", "很", "好"], ["差", "很", "好"], ["甲"], ["乙", "差"], ["丙"]]
# counts: 好 3, 很 2, 差 2, 甲 1, 乙 1, 丙 1


def test_build_min_freq_and_order():
    v = Vocab.build(CORPUS, min_freq=2)
    assert v.itos[:4] == [PAD, UNK, BOS, EOS]
    # frequency descending, ties by the token itself (差 U+5DEE < 很 U+5F88)
    assert v.itos[4:] == ["好", "差", "很"]
    assert len(v) == 7
    full = Vocab.build(CORPUS, min_freq=1)
    assert full.itos[4:] == ["好", "差", "很", "丙", "乙", "甲"]
    assert Vocab.build(CORPUS, min_freq=0).itos == full.itos  # below 1 means 1


def test_build_is_deterministic_whatever_the_order():
    a = Vocab.build(CORPUS, min_freq=1)
    b = Vocab.build(list(reversed([list(reversed(t)) for t in CORPUS])), min_freq=1)
    assert a.itos == b.itos


def test_build_max_size_counts_the_specials():
    assert Vocab.build(CORPUS, min_freq=1, max_size=6).itos == list(SPECIALS) + ["好", "差"]
    assert Vocab.build(CORPUS, min_freq=1, max_size=2).itos == list(SPECIALS)


def test_specials_in_the_data_are_not_duplicated():
    v = Vocab.build([["<unk>", "<pad>", "词"], ["<unk>", "词"]], min_freq=1)
    assert v.itos == list(SPECIALS) + ["词"]
    assert v.encode(["<pad>", "<unk>", "<bos>", "<eos>"]) == [0, 1, 2, 3]


def test_encode_decode_and_unknown():
    v = Vocab.build(CORPUS, min_freq=2)
    ids = v.encode(["好", "很", "差", "从未见过", "甲"])
    assert ids == [4, 6, 5, UNK_ID, UNK_ID]
    assert v.decode(ids) == ["好", "很", "差", UNK, UNK]
    assert "好" in v and "甲" not in v
    assert v.encode([]) == [] and v.decode([]) == []


def test_save_load_round_trip_keeps_chinese_readable(tmp_path):
    v = Vocab.build(CORPUS, min_freq=1)
    path = tmp_path / "vocab.json"
    v.save(path)
    text = path.read_text(encoding="utf-8")
    assert "好" in text and "\\u" not in text
    assert json.loads(text)["format"] == "zhseq-vocab"
    loaded = Vocab.load(path)
    assert loaded.itos == v.itos
    assert loaded.encode(["好", "甲", "不在"]) == v.encode(["好", "甲", "不在"])
    assert Vocab.from_dict(v.to_dict()).itos == v.itos


def test_extend_keeps_old_ids_and_appends():
    v = Vocab.build(CORPUS, min_freq=2)
    old = list(v.itos)
    added = v.extend([["新", "新", "好", "旧"], ["新", "词", "词", "旧"], ["独"]], min_freq=2)
    assert added == 3
    assert v.itos[: len(old)] == old
    assert v.itos[len(old):] == ["新", "旧", "词"]  # 新 3, then 旧 2 and 词 2 by the token itself
    assert v.encode(["新", "独", "好"]) == [len(old), UNK_ID, 4]
    assert v.extend([["新", "好"]], min_freq=1) == 0  # nothing new
    assert v.extend([["a", "b", "c"]], min_freq=1, max_new=2) == 2
    assert v.itos[-2:] == ["a", "b"]
    assert v.stoi == {w: i for i, w in enumerate(v.itos)}


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe\x00garbage",
        b"[]",
        b'{"format": "other", "tokens": ["<pad>", "<unk>", "<bos>", "<eos>"]}',
        b'{"tokens": ["<pad>", "<unk>", "<bos>", "<eos>"]}',
        b'{"format": "zhseq-vocab", "tokens": "abc"}',
        b'{"format": "zhseq-vocab", "tokens": ["<unk>", "<pad>", "<bos>", "<eos>"]}',
        b'{"format": "zhseq-vocab", "tokens": ["<pad>", "<unk>", "<bos>", "<eos>", "a", "a"]}',
        b'{"format": "zhseq-vocab", "tokens": ["<pad>", "<unk>", "<bos>", "<eos>", "a", 5]}',
    ],
)
def test_bad_vocab_files_raise_zhseq_error(tmp_path, content):
    path = tmp_path / "vocab.json"
    path.write_bytes(content)
    with pytest.raises(ZhseqError):
        Vocab.load(path)


def test_missing_vocab_file(tmp_path):
    with pytest.raises(ZhseqError, match="nope.json"):
        Vocab.load(tmp_path / "nope.json")


KNOWN = ["好", "很", "差", "电影", "ABC", "😀", " ", "<unk>", "\u200b"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(KNOWN), max_size=30))
def test_encode_decode_round_trip_on_known_tokens(tokens):
    v = Vocab.build([KNOWN], min_freq=1)
    ids = v.encode(tokens)
    assert all(0 <= i < len(v) for i in ids)
    assert v.decode(ids) == tokens


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text(min_size=1, max_size=5), max_size=8), max_size=8))
def test_any_tokens_round_trip_through_json(token_lists):
    v = Vocab.build(token_lists, min_freq=1)
    again = Vocab.from_dict(json.loads(json.dumps(v.to_dict(), ensure_ascii=False)))
    assert again.itos == v.itos
    for tokens in token_lists:
        assert again.decode(again.encode(tokens)) == tokens


def test_jieba_cache_folder_is_private(tmp_path, monkeypatch):
    monkeypatch.setenv("ZHSEQ_CACHE", str(tmp_path / "cache"))
    Tokenizer(engine="jieba").cut("我爱北京天安门")
    assert (tmp_path / "cache").stat().st_mode & 0o777 == 0o700


def test_tokenizer_works_when_no_cache_can_be_written(tmp_path, monkeypatch, capfd):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ZHSEQ_CACHE", str(blocker / "cache"))  # mkdir fails: a file is in the way
    monkeypatch.setenv("TMPDIR", str(blocker / "tmp"))  # and so does every temporary folder
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    assert Tokenizer(engine="jieba").cut("我爱北京天安门") == ["我", "爱", "北京", "天安门"]
    assert "Traceback" not in capfd.readouterr().err
