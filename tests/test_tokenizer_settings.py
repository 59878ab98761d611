"""Tokenizer settings: user words folded as the text is (issue 13, case f), strict settings from config.json,
and rjieba loaded only when it is needed."""

import json
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from zhseq.cli import cli

from zhseq.api import SentimentClassifier
from zhseq.errors import ZhseqError
from zhseq.modeling import BackboneConfig, SentimentConfig, SentimentNet
from zhseq.tokenizer import DEFAULTS, ENGINE_ENV, Tokenizer, rjieba_installed
from zhseq.vocab import Vocab

SK_II = "ＳＫ－ＩＩ神仙水很好用"
SK_II_WORDS = ["SK-II神仙水", "很", "好", "用"]
# what zhseq cut before user words were folded: NFKC turned the text into "SK-II神仙水", the entry stayed full width
SK_II_UNFOLDED = ["SK", "-", "II", "神仙", "水", "很", "好", "用"]


@pytest.fixture(autouse=True)
def default_engine(monkeypatch):
    monkeypatch.delenv(ENGINE_ENV, raising=False)  # the engine a user gets


@pytest.fixture
def sk_ii_dict(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("ＳＫ－ＩＩ神仙水 100\n", encoding="utf-8")
    return path


def round_trip(tok: Tokenizer) -> Tokenizer:
    """What saving a model and loading it again does with its tokenizer."""
    return Tokenizer.from_dict(json.loads(json.dumps(tok.to_dict(), ensure_ascii=False)))


# -- case f: user words are folded like the text --------------------------------------------------------


def test_full_width_user_dict_entry_matches_the_folded_text(sk_ii_dict):
    tok = Tokenizer(user_dicts=[sk_ii_dict])
    assert tok.engine == "jieba"  # user words keep the reference engine
    assert tok.cut(SK_II) == SK_II_WORDS
    assert tok.cut("SK-II神仙水很好用") == SK_II_WORDS  # the text as typed in ASCII folds to the same
    assert tok.to_dict()["user_words"] == ["SK-II神仙水 100"]  # the line jieba loads; the frequency kept
    assert tok.jieba.FREQ["SK-II神仙水"] == 100


def test_full_width_user_dict_entry_from_the_command_line(sk_ii_dict):
    result = CliRunner().invoke(cli, ["segment", "--user-dict", str(sk_ii_dict), SK_II])
    assert result.exit_code == 0, result.output
    assert result.output == "SK-II神仙水 很 好 用\n"


def test_traditional_user_word_matches_with_t2s():
    pytest.importorskip("opencc")
    tok = Tokenizer(t2s=True, user_words=["東方神起 5 nz"])
    assert tok.cut("東方神起很好") == ["东方神起", "很", "好"]
    assert tok.to_dict()["user_words"] == ["东方神起 5 nz"]
    assert tok.jieba.user_word_tag_tab["东方神起"] == "nz"
    # NFKC first, then t2s, as the text
    both = Tokenizer(t2s=True, user_words=["ＳＫ－ＩＩ護膚精華 30"])
    assert both.to_dict()["user_words"] == ["SK-II护肤精华 30"]
    assert both.cut("ＳＫ－ＩＩ護膚精華很好") == ["SK-II护肤精华", "很", "好"]


def test_t2s_from_the_command_line(tmp_path):
    """The README offered `zhseq[t2s]` for traditional → simplified, but only Python had the setting: traditional
    text was cut character by character (這 家 餐 廳) and scored 0.749 where its simplified form scored 0.975."""
    pytest.importorskip("opencc")
    result = CliRunner().invoke(cli, ["segment", "--t2s", "這家餐廳的菜很好吃"])
    assert result.exit_code == 0, result.output
    assert result.output == "这家 餐厅 的 菜 很 好吃\n"
    data = tmp_path / "t.csv"
    data.write_text("text,label\n" + "".join(f"這家餐廳很好吃{i},positive\n服務太差了{i},negative\n" for i in range(20)),
                    encoding="utf-8")
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "sentiment", "--data", str(data), "--out", str(out), "--t2s", "--epochs",
                                      "1", "--embedding-size", "8", "--hidden-size", "8", "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "model-best" / "config.json").read_text(encoding="utf-8"))["tokenizer"]["t2s"] is True
    clf = SentimentClassifier.from_pretrained(out / "model-best")
    assert clf.predict_proba(["這家餐廳很好吃"]).tolist() == clf.predict_proba(["这家餐厅很好吃"]).tolist()


@pytest.mark.parametrize(
    "line, text, word, saved",
    [
        ("３Ｄ打印机", "这台３Ｄ打印机很好", "3D打印机", "3D打印机"),  # full-width digit and letter
        ("ＡＢ型血 50 n", "他是ＡＢ型血的", "AB型血", "AB型血 50 n"),  # with a frequency and a tag
        ("ＡＢ型血 50 n", "他是AB型血的", "AB型血", "AB型血 50 n"),  # the text already half width
        ("维生素Ｃ片 20", "维生素Ｃ片很好", "维生素C片", "维生素C片 20"),
        ("ｉＰｈｏｎｅ１５手机壳 8 nz", "买了ｉＰｈｏｎｅ１５手机壳", "iPhone15手机壳", "iPhone15手机壳 8 nz"),
        ("  ＡＢ型血\t", "他是ＡＢ型血的", "AB型血", "AB型血"),  # surrounding whitespace stripped
    ],
)
def test_user_words_are_folded_like_the_text(line, text, word, saved, tmp_path):
    plain = Tokenizer().cut(text)
    assert word not in plain  # the user word is what makes it one token
    path = tmp_path / "user.dict"
    path.write_text(line + "\n", encoding="utf-8")
    for tok in (Tokenizer(user_words=[line]), Tokenizer(user_dicts=[path])):
        assert word in tok.cut(text)
        assert "".join(tok.cut(text)) == "".join(plain)
        assert tok.to_dict()["user_words"] == [saved]
        again = round_trip(tok)
        assert again.cut(text) == tok.cut(text)
        assert again.to_dict() == tok.to_dict()


def test_frequency_and_tag_are_kept_and_only_the_word_folded():
    tok = Tokenizer(user_words=["ＡＢ型血 50 n", "３Ｄ打印机 7", "李小福 5 nr", "云计算"])
    assert tok.to_dict()["user_words"] == ["AB型血 50 n", "3D打印机 7", "李小福 5 nr", "云计算"]
    assert tok.jieba.FREQ["AB型血"] == 50 and tok.jieba.user_word_tag_tab["AB型血"] == "n"
    assert tok.jieba.FREQ["3D打印机"] == 7 and "3D打印机" not in tok.jieba.user_word_tag_tab
    assert tok.jieba.FREQ["李小福"] == 5 and tok.jieba.user_word_tag_tab["李小福"] == "nr"


def test_user_words_are_not_folded_when_the_text_is_not():
    tok = Tokenizer(nfkc=False, user_words=["ＳＫ－ＩＩ神仙水 100"])
    assert tok.to_dict()["user_words"] == ["ＳＫ－ＩＩ神仙水 100"]


def test_several_lines_in_one_user_word():
    tok = Tokenizer(user_words=["ＡＢ型血 50 n\n３Ｄ打印机"])
    assert tok.to_dict()["user_words"] == ["AB型血 50 n", "3D打印机"]


@pytest.mark.parametrize("line", ["神仙水\u3000１００", "神仙水 １００", "神仙水 ｎｚ"])
def test_a_line_that_would_read_differently_once_folded_is_refused(line):
    # jieba reads all of "神仙水 １００" as the word (its frequency must be ASCII digits); folded, the same
    # word would read as "神仙水" with frequency 100: neither reading is safe to pick for the user
    with pytest.raises(ZhseqError, match="ASCII") as err:
        Tokenizer(user_words=[line])
    assert repr(line) in str(err.value) and "\n" not in str(err.value)


def test_fields_separated_by_tabs_or_spaces_are_read_and_a_word_jieba_cannot_match_is_refused():
    """A spreadsheet's `杭研大厦<TAB>10` was the word `杭研大厦<TAB>10`: the dictionary did nothing, without a word."""
    for line in ("杭研大厦\t10", "杭研大厦  10", "杭研大厦\t10\tnz"):
        tok = Tokenizer(user_words=[line])
        assert tok.cut("他来到了网易杭研大厦")[-1] == "杭研大厦", line
        assert tok.to_dict()["user_words"] == [" ".join(line.split())]
    for line in ("杭研大厦,10", "杭研大厦，10", "杭研 大厦"):
        with pytest.raises(ZhseqError, match="separated by spaces") as err:
            Tokenizer(user_words=[line])
        assert repr(line) in str(err.value)
    assert Tokenizer(user_words=["C++"]).cut("我学C++")[-1] == "C++"  # other punctuation stays a word's


def test_user_line_pattern_is_jiebas():
    import jieba

    from zhseq import tokenizer

    assert tokenizer._USER_LINE.pattern == jieba.re_userdict.pattern


def test_a_model_saved_with_unfolded_user_words_cuts_as_before():
    # config.json written by zhseq before user words were folded: the full-width entry never matched
    old = {"backend": "jieba", "hmm": False, "nfkc": True, "t2s": False, "user_words": ["ＳＫ－ＩＩ神仙水 100"]}
    tok = Tokenizer.from_dict(old)
    assert tok.to_dict() == old  # loaded as saved, not folded again
    assert tok.cut(SK_II) == SK_II_UNFOLDED
    again = round_trip(tok)
    assert again.to_dict() == old
    assert again.cut(SK_II) == SK_II_UNFOLDED


def test_an_old_t2s_model_with_a_traditional_user_word_cuts_as_before():
    pytest.importorskip("opencc")
    old = {"backend": "jieba", "hmm": False, "nfkc": True, "t2s": True, "user_words": ["東方神起 5 nz"]}
    tok = Tokenizer.from_dict(old)
    assert tok.cut("東方神起很好") == ["东方", "神", "起", "很", "好"]
    assert round_trip(tok).to_dict() == old


def _classifier(tokenizer: Tokenizer) -> SentimentClassifier:
    torch.manual_seed(0)
    vocab = Vocab.build([["很", "好", "用", "差"]], min_freq=1)
    config = SentimentConfig(BackboneConfig(vocab_size=len(vocab), embedding_size=8, hidden_size=8), num_labels=2)
    return SentimentClassifier(SentimentNet(config), vocab, tokenizer, {"labels": ["负面", "正面"]})


def test_saved_model_keeps_its_user_words(tmp_path, sk_ii_dict):
    new = tmp_path / "new"
    _classifier(Tokenizer(user_dicts=[sk_ii_dict])).save_pretrained(new)
    saved = json.loads((new / "config.json").read_text(encoding="utf-8"))["tokenizer"]
    assert saved["user_words"] == ["SK-II神仙水 100"]
    loaded = SentimentClassifier.from_pretrained(new)
    assert loaded.tokenizer.cut(SK_II) == SK_II_WORDS

    # a folder whose config.json holds the line as written (what zhseq saved before): as before, and again
    # after saving and loading once more
    config = json.loads((new / "config.json").read_text(encoding="utf-8"))
    config["tokenizer"]["user_words"] = ["ＳＫ－ＩＩ神仙水 100"]
    (new / "config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    old = SentimentClassifier.from_pretrained(new)
    assert old.tokenizer.cut(SK_II) == SK_II_UNFOLDED
    old.save_pretrained(tmp_path / "resaved")
    resaved = SentimentClassifier.from_pretrained(tmp_path / "resaved")
    assert resaved.tokenizer.to_dict() == config["tokenizer"]
    assert resaved.tokenizer.cut(SK_II) == SK_II_UNFOLDED


# -- strict settings from config.json -----------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"hmm": "yes"}, 'config.json: tokenizer.hmm must be true or false, not "yes"'),
        ({"hmm": 1}, "config.json: tokenizer.hmm must be true or false, not 1"),
        ({"hmm": None}, "config.json: tokenizer.hmm must be true or false, not null"),
        ({"nfkc": "false"}, 'config.json: tokenizer.nfkc must be true or false, not "false"'),
        ({"nfkc": 0}, "config.json: tokenizer.nfkc must be true or false, not 0"),
        ({"t2s": "true"}, 'config.json: tokenizer.t2s must be true or false, not "true"'),
        ({"t2s": []}, "config.json: tokenizer.t2s must be true or false, not []"),
        ({"user_words": "李小福"}, 'config.json: tokenizer.user_words must be a list of strings, not "李小福"'),
        ({"user_words": 3}, "config.json: tokenizer.user_words must be a list of strings, not 3"),
        ({"user_words": None}, "config.json: tokenizer.user_words must be a list of strings, not null"),
        ({"user_words": {"李小福": 5}}, 'config.json: tokenizer.user_words must be a list of strings, not {"李小福": 5}'),
        ({"user_words": ["李小福", 5]}, "config.json: tokenizer.user_words[1] must be a string, not 5"),
        ({"user_words": [["李小福"]]}, 'config.json: tokenizer.user_words[0] must be a string, not ["李小福"]'),
        ({"backend": "pkuseg"}, 'config.json: tokenizer.backend must be "jieba" (the one this zhseq knows), not "pkuseg"'),
        ({"backend": None}, 'config.json: tokenizer.backend must be "jieba" (the one this zhseq knows), not null'),
        ({"backend": ["jieba"]}, 'tokenizer.backend must be "jieba" (the one this zhseq knows), not ["jieba"]'),
        ({"engine": "rjieba"}, 'config.json: unknown tokenizer setting "engine"; known: backend, hmm, nfkc, t2s, user_words'),
        ({"HMM": True, "dict": "big"}, 'config.json: unknown tokenizer settings "HMM", "dict"; known: backend, hmm,'),
        ("jieba", 'config.json: tokenizer must be a JSON object, not "jieba"'),
        (None, "config.json: tokenizer must be a JSON object, not null"),
        (["jieba"], 'config.json: tokenizer must be a JSON object, not ["jieba"]'),
    ],
)
def test_wrong_settings_are_refused_naming_the_field(settings, message):
    with pytest.raises(ZhseqError) as err:
        Tokenizer.from_dict(settings)
    text = str(err.value)
    assert message in text
    assert "\n" not in text


def test_a_long_value_is_shortened_in_the_message():
    with pytest.raises(ZhseqError) as err:
        Tokenizer.from_dict({"user_words": "很长" * 500})
    assert len(str(err.value)) < 150


def test_right_settings_load():
    pytest.importorskip("opencc")
    for settings in ({}, DEFAULTS, {"hmm": True}, {"nfkc": False, "t2s": True},
                     {"backend": "jieba", "user_words": ["李小福 5 nr", "  ", ""]},
                     {"emoji": True, "social": True}, {"social": True}, {"emoji": True, "emoji_keywords": True},
                     {"emoji": True, "emoji_keywords": False}):
        tok = Tokenizer.from_dict(settings)
        expected = {**DEFAULTS, **settings, "user_words": [w for w in settings.get("user_words", []) if w.strip()]}
        # emoji, social and emoji_keywords are saved only when on: a model without them keeps the settings it had
        assert tok.to_dict() == {key: value for key, value in expected.items()
                                 if key not in ("emoji", "social", "emoji_keywords") or value}


def test_hmm_yes_is_refused_when_a_model_loads(tmp_path):
    folder = tmp_path / "model"
    _classifier(Tokenizer()).save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["tokenizer"]["hmm"] = "yes"
    (folder / "config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ZhseqError, match='tokenizer.hmm must be true or false, not "yes"'):
        SentimentClassifier.from_pretrained(folder)
    result = CliRunner().invoke(cli, ["sentiment", "--model", str(folder), "很好"])
    assert result.exit_code != 0
    assert 'tokenizer.hmm must be true or false, not "yes"' in result.output
    assert "Traceback" not in result.output


# -- rjieba: loaded only when it is needed, privately ---------------------------------------------------


def test_importing_the_tokenizer_loads_no_segmenter():
    code = (
        "import sys\n"
        "from zhseq.tokenizer import Tokenizer\n"
        "tok = Tokenizer()\n"
        "assert not any('jieba' in m for m in sys.modules), sorted(m for m in sys.modules if 'jieba' in m)\n"
        "assert tok.cut('我爱北京天安门') == ['我', '爱', '北京', '天安门']\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.skipif(not rjieba_installed(), reason="rjieba is not installed")
def test_rjieba_shared_instance_is_not_built():
    # `import rjieba` builds a module-wide Jieba that zhseq never uses: +0.12 s and +25 MB on a cold cut
    code = (
        "import sys\n"
        "from zhseq.tokenizer import Tokenizer\n"
        "assert Tokenizer(engine='rjieba').cut('我爱北京天安门') == ['我', '爱', '北京', '天安门']\n"
        "assert 'rjieba.rjieba' in sys.modules and 'rjieba' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.skipif(not rjieba_installed(), reason="rjieba is not installed")
def test_rjieba_instance_is_private():
    # a word added to the module's shared instance (import rjieba; rjieba.add_word) does not reach zhseq's
    code = (
        "from zhseq.tokenizer import Tokenizer\n"
        "import rjieba\n"
        "rjieba.add_word('爱北京天', 10**9, None)\n"
        "assert rjieba.cut('我爱北京天安门', hmm=False) == ['我', '爱北京天', '安', '门']\n"
        "tok = Tokenizer(engine='rjieba')\n"
        "assert tok.cut('我爱北京天安门') == ['我', '爱', '北京', '天安门']\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
