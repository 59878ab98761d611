"""Encodings (issue 14, "Files"): spreadsheets exported on Chinese Windows are GBK/GB18030, Taiwanese and Hong Kong
ones Big5, and some tools write UTF-16 or UTF-8 with a byte-order mark. The reader detects what is not UTF-8
(charset-normalizer, GBK read as its superset GB18030) and says so in one warning, ``--encoding``/``encoding=``
sets it, and a file that does not read as text is refused, never trained on.
"""

import gzip
import io
import json
import logging
import random
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from zhseq.cli import cli
from zhseq.data import read_labelled, read_lm_texts, read_rows, read_texts
from zhseq.errors import ZhseqError
from cli_helpers import ok, one_error_line

TINY = ["--embedding-size", "8", "--hidden-size", "8", "--min-freq", "1", "--quiet"]

SIMPLIFIED = ["这家餐厅的菜很好吃，服务也周到", "等了一个小时，太失望了", "房间干净，早餐丰富，下次还来",
              "质量太差，用了两天就坏了"]
LABELS = ["1", "0", "1", "0"]
# GB18030 holds what GBK does not: 𠀀 (U+20000, CJK Extension B) and 䶮 (U+4DAE, Extension A).
RARE = ["𠀀这家餐厅的菜很好吃", "䶮等了一个小时，太失望了", "房间干净，早餐丰富", "质量太差，用了两天就坏了"]
TRADITIONAL = ["這家餐廳的菜很好吃，服務也周到", "等了一個小時，太失望了", "房間乾淨，早餐豐富，下次還來",
               "質量太差，用了兩天就壞了"]

# (encoding written, texts, what the detection warning names or None: no warning)
CASES = {
    "gbk": ("gbk", SIMPLIFIED, "GB18030"),
    "gb18030": ("gb18030", RARE, "GB18030"),
    "big5": ("big5", TRADITIONAL, "Big5"),
    "utf-16": ("utf-16", SIMPLIFIED, None),  # Python writes a byte-order mark (little-endian here)
    "utf-16-be-bom": ("utf-16-be-bom", SIMPLIFIED, None),
    "utf-32": ("utf-32", RARE, None),
    "utf-8-sig": ("utf-8-sig", SIMPLIFIED, None),
}


def encode(text: str, encoding: str) -> bytes:
    if encoding == "utf-16-be-bom":
        return b"\xfe\xff" + text.encode("utf-16-be")
    return text.encode(encoding)


def write(path, data: bytes):
    path = Path(path)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return str(path)


def header_of(encoding):
    return "評論,情感" if encoding == "big5" else "评论,情感"  # Big5 has traditional characters only


def csv_bytes(encoding, texts):
    return encode(header_of(encoding) + "\n" + "".join(f"{t},{lb}\n" for t, lb in zip(texts, LABELS)), encoding)


def txt_bytes(encoding, texts):
    return encode("\n".join(texts) + "\n", encoding)


def messages(caplog, part):
    return [r.getMessage() for r in caplog.records if r.name.startswith("zhseq") and part in r.getMessage()]


def detections(caplog):
    return messages(caplog, "not UTF-8; read as")


def invoke(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="zhseq", input=input)


# --------------------------------------------------------------------------------------------------------
# Reading: each encoding as a table with a Chinese header and as plain text, also gzipped


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_tables_in_every_encoding_read_the_exact_texts(tmp_path, caplog, case, suffix):
    encoding, texts, shown = CASES[case]
    path = write(tmp_path / f"{case}.csv{suffix}", csv_bytes(encoding, texts))
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        rows = read_rows(path, labels="required")
        assert (rows.text_column, rows.label_column) == tuple(header_of(encoding).split(","))
        assert [(row.text, row.label) for row in rows] == list(zip(texts, LABELS))
    expected = [] if shown is None else [f"{path}: not UTF-8; read as {shown} (detected; --encoding sets it)"]
    assert detections(caplog) == expected
    assert not messages(caplog, "replaced with U+FFFD")


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_plain_text_in_every_encoding_reads_the_exact_lines(tmp_path, caplog, case, suffix):
    encoding, texts, shown = CASES[case]
    path = write(tmp_path / f"{case}.txt{suffix}", txt_bytes(encoding, [texts[0], "", *texts[1:]]))
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        assert list(read_texts(path)) == [texts[0], "", *texts[1:]]
    assert len(detections(caplog)) == (shown is not None)


@pytest.mark.parametrize("case", ["gbk", "big5", "utf-16"])
def test_labelled_and_lm_corpora_read_the_same(tmp_path, case):
    encoding, texts, _ = CASES[case]
    table = write(tmp_path / "data.csv", csv_bytes(encoding, texts))
    assert read_labelled(table, require_labels=True) == {
        "texts": texts, "labels": ["positive" if lb == "1" else "negative" for lb in LABELS]}
    assert read_lm_texts(write(tmp_path / "data.txt", txt_bytes(encoding, texts))) == texts


def test_the_issue_case_chinese_headers_in_gbk(tmp_path):
    # Before: `has no column '评论'; columns: '����', '���'`
    path = write(tmp_path / "comments.csv", csv_bytes("gbk", SIMPLIFIED))
    assert list(read_texts(path, text_column="评论")) == SIMPLIFIED


def test_stdin_is_detected_too(monkeypatch, caplog):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(txt_bytes("gbk", SIMPLIFIED))))
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        assert list(read_texts("-")) == SIMPLIFIED
    assert detections(caplog) == ["<stdin>: not UTF-8; read as GB18030 (detected; --encoding sets it)"]


def test_windows_line_ends_and_quoted_newlines_in_gbk(tmp_path):
    data = '评论,情感\r\n"两\r\n行",1\r\n好,0\r\n'.encode("gbk")
    rows = read_rows(write(tmp_path / "crlf.csv", data))
    assert [(r.text, r.label) for r in rows] == [("两\r\n行", "1"), ("好", "0")]


def test_a_long_ascii_start_then_gbk(tmp_path, caplog):
    # The first 8 KiB say nothing (English only): the reader looks further, up to the first non-ASCII byte.
    english = [f"line {i}: plain English text" for i in range(1000)]
    path = write(tmp_path / "late.txt", txt_bytes("gbk", english + SIMPLIFIED))
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        assert list(read_texts(path))[-4:] == SIMPLIFIED
    assert len(detections(caplog)) == 1 and not messages(caplog, "U+FFFD")


def test_chinese_text_with_english_words_inside(tmp_path):
    # charset-normalizer alone rejects GBK for this line (Latin words glued to Chinese ones)
    text = "预装系统居然有另外两个盘符：Recover和HP_TOOLS,如果自己再增加两个，就会显得盘符好多"
    assert list(read_texts(write(tmp_path / "mixed.txt", txt_bytes("gbk", [text])))) == [text]


def test_short_texts_are_read_as_gb18030_or_big5(tmp_path):
    # A few characters decode in several encodings: Chinese ones with common characters win.
    for text, encoding in [("好", "gbk"), ("很好", "gbk"), ("好\n差", "gbk"), ("這家餐廳", "big5")]:
        assert list(read_texts(write(tmp_path / "short.txt", text.encode(encoding)))) == text.split("\n")


@pytest.mark.parametrize("text, encoding", [
    ("差评！", "gbk"),  # was Big5: 船ぜㄐ
    ("客服态度差\n发货慢", "gbk"),  # was Korean
    ("装系统太麻烦", "gbk"),  # its bytes read as UTF-8 with one bad byte: was refused as broken UTF-8
    ("配置均衡", "gbk"),  # as common in Big5 (饜离歙算): a tie goes to GB18030
    ("１、", "gbk"), ("1：", "gbk"),  # punctuation alone: was Korean and Big5
    ("這家餐廳的菜很好吃\n服務很差，不會再來了", "big5"),  # was Japanese (CP932)
    ("輕，薄，待機時間長", "big5"),  # was GB18030 with private-use characters
])
def test_short_texts_the_detector_misread(tmp_path, caplog, text, encoding):
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        assert list(read_texts(write(tmp_path / "short.txt", (text + "\n").encode(encoding)))) == text.split("\n")
    assert detections(caplog)[0].endswith("GB18030 (detected; --encoding sets it)" if encoding == "gbk"
                                          else "Big5 (detected; --encoding sets it)")


def short_prefixes(n: int = 150) -> list[str]:
    """Seeded prefixes of 2 … 30 characters of ChnSentiCorp test reviews, as a user's one-line file has them."""
    with gzip.open(Path(__file__).resolve().parent.parent / "corpora/chnsenticorp/test.tsv.gz", "rt",
                   encoding="utf-8") as f:
        texts = [max(line.rstrip("\n").split("\t"), key=len) for line in list(f)[1:]]
    rng = random.Random(0)
    return [t[:length].strip() for t in rng.sample(texts, n) for length in (2, 3, 5, 8, 30)]


def test_short_gbk_texts_read_exactly(tmp_path, caplog):
    """Every short GBK text whose bytes are not also valid UTF-8 reads back exactly (114 of 3,107 such texts
    were misread before Chinese readings were preferred: Korean, Big5, Japanese, or refused)."""
    misread = []
    for text in short_prefixes():
        data = (text + "\n").encode("gbk")
        if data.isascii() or _is_utf8(data):
            continue
        if list(read_texts(write(tmp_path / "one.txt", data))) != [text]:
            misread.append(text)
    assert misread == []


def test_short_big5_texts_read_exactly_but_for_rare_ties(tmp_path):
    """Big5 texts of two or three characters can read as common simplified characters in GB18030 too
    (鍵盤 → 龄絃), and a tie goes to GB18030; longer ones read exactly (235 of 2,970 misread before)."""
    opencc = pytest.importorskip("opencc")
    s2t = opencc.OpenCC("s2t")
    misread, total = [], 0
    for text in map(s2t.convert, short_prefixes()):
        try:
            data = (text + "\n").encode("big5")
        except UnicodeEncodeError:
            continue
        if data.isascii():
            continue
        total += 1
        if list(read_texts(write(tmp_path / "one.txt", data))) != [text]:
            misread.append(text)
    assert total > 300 and len(misread) <= 0.02 * total
    assert all(len(text) <= 4 for text in misread), misread


def test_a_korean_file_is_read_as_gb18030_and_said_so(tmp_path, caplog):
    """zhseq reads Chinese: EUC-KR letters decode in GB18030 as common characters, and the warning says which
    encoding was used; --encoding reads the file as it is."""
    path = write(tmp_path / "kr.txt", "이 식당 음식이 정말 맛있어요\n".encode("cp949"))
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        list(read_texts(path))
    assert "GB18030 (detected; --encoding sets it)" in detections(caplog)[0]
    assert list(read_texts(path, encoding="cp949")) == ["이 식당 음식이 정말 맛있어요"]


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_reading_a_gbk_file_is_streamed(monkeypatch):
    lines = [f"第{i}行，很好" for i in range(100_000)]
    raw = io.BytesIO(txt_bytes("gbk", lines))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(raw))
    texts = read_texts("-")
    assert [next(texts) for _ in range(3)] == lines[:3]
    assert raw.tell() < 100_000 < len(raw.getvalue())  # the 64 KiB sample and a line, not the file


def test_utf8_files_never_import_the_detector(tmp_path):
    # valid at the start (bad bytes further on are replaced, as ever): no detection
    path = write(tmp_path / "u.csv", ("text\n" + "好\n坏 \xff\n" * 5000).encode() + b"bad \xff\n")
    code = (f"import sys, zhseq.data as d; assert 'charset_normalizer' not in sys.modules; "
            f"texts = list(d.read_texts({path!r})); "
            "assert texts[:2] == ['好', '坏 \xff'] and texts[-1] == 'bad \ufffd'; "
            "assert 'charset_normalizer' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------------------------------------
# encoding= sets it; bad bytes; what is not text


def test_encoding_given_is_used_without_detection(tmp_path, caplog):
    big5 = write(tmp_path / "big5.txt", txt_bytes("big5", TRADITIONAL))
    gbk = write(tmp_path / "gbk.csv", csv_bytes("gbk", SIMPLIFIED))
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        assert list(read_texts(big5, encoding="big5")) == TRADITIONAL
        assert list(read_texts(gbk, encoding="GBK")) == SIMPLIFIED  # any spelling Python knows
        assert list(read_texts(gbk, encoding="gb2312")) == SIMPLIFIED  # read as its superset GB18030
        # the wrong one, given, is used as given: no detection overrides it
        wrong = list(read_texts(write(tmp_path / "gbk.txt", txt_bytes("gbk", SIMPLIFIED)), encoding="big5"))
        assert len(wrong) == 4 and wrong != SIMPLIFIED
    assert not detections(caplog)


def test_utf16_without_a_byte_order_mark_needs_the_encoding(tmp_path):
    path = write(tmp_path / "le.txt", "\n".join(SIMPLIFIED).encode("utf-16-le"))
    with pytest.raises(ZhseqError, match="binary"):  # NUL bytes
        read_texts(path)
    assert list(read_texts(path, encoding="utf-16-le")) == SIMPLIFIED


@pytest.mark.parametrize("codec, given", [("utf-16-le", "utf-16"), ("utf-16-be", "utf-16"), ("utf-32-le", "utf-32"),
                                          ("utf-32-be", "UTF32")])
@pytest.mark.parametrize("texts", [SIMPLIFIED, TRADITIONAL, ["hello", "world"]])
def test_utf16_or_32_given_without_a_byte_order_mark_finds_the_order(tmp_path, caplog, codec, given, texts):
    """Python's utf-16 codec refuses a stream without a BOM (it was a traceback); the order is found and said."""
    path = write(tmp_path / "no-bom.txt", "\n".join(texts).encode(codec))
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        assert list(read_texts(path, encoding=given)) == texts
    said = [r.getMessage() for r in caplog.records if "byte-order mark" in r.getMessage()]
    assert said == [f"{path}: {codec[:6].upper()} without a byte-order mark; read as {codec.upper()} (--encoding "
                    f"{codec[:6]}-{'be' if codec.endswith('le') else 'le'} sets the other order)"]
    result = CliRunner().invoke(cli, ["segment", "--input", str(path), "--encoding", given])
    assert result.exit_code == 0 and "Traceback" not in result.output


def test_bad_bytes_in_the_encoding_given_become_fffd_with_one_warning(tmp_path, caplog):
    data = txt_bytes("gb18030", SIMPLIFIED * 5) + b"bad \xff here\n" + txt_bytes("gb18030", SIMPLIFIED) + b"\xff\n"
    path = write(tmp_path / "bad.txt", data)
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        texts = list(read_texts(path, encoding="gb18030"))
    assert texts[:20] == SIMPLIFIED * 5 and texts[20] == "bad \ufffd here" and texts[-1] == "\ufffd"
    assert messages(caplog, "U+FFFD") == [
        f"{path}: line 21 is not valid GB18030; undecodable bytes were replaced with U+FFFD"]


def test_utf8_with_a_few_bad_bytes_is_still_utf8(tmp_path, caplog):
    cut = b"\xe5\xa5 cut\n"  # a character cut short
    path = write(tmp_path / "few.txt", txt_bytes("utf-8", SIMPLIFIED[:2]) + cut + txt_bytes("utf-8", SIMPLIFIED))
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        assert list(read_texts(path)) == [*SIMPLIFIED[:2], "\ufffd cut", *SIMPLIFIED]
    assert not detections(caplog)
    assert messages(caplog, "U+FFFD") == [
        f"{path}: line 3 is not valid UTF-8; undecodable bytes were replaced with U+FFFD"]


@pytest.mark.parametrize("data, expected", [
    (b"\xe5\xbe\x88\xe5\xa5\xbd\xff\n", "很好\ufffd"),  # one stray byte after two characters (was CP1251)
    (b"\xff\xe5\xa5\xbd\n", "\ufffd好"),  # one before one (was CP1006)
    (b"\xe5\xbe\x88\xe5\xa5\xbd\xe5\n", "很好\ufffd"),  # a character cut short
])
def test_a_short_utf8_text_with_a_bad_byte_is_utf8_not_a_code_page(tmp_path, caplog, data, expected):
    """A single-byte code page reads any bytes: it must not win over UTF-8 whose bad bytes are a large share
    of a short text only because the text is short."""
    path = write(tmp_path / "short.txt", data)
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        assert list(read_texts(path)) == [expected]
    assert not detections(caplog)
    assert messages(caplog, "U+FFFD") == [
        f"{path}: line 1 is not valid UTF-8; undecodable bytes were replaced with U+FFFD"]


@pytest.mark.parametrize("encoding", ["nope", "rot13", "base64"])
def test_an_unknown_encoding_is_one_error(tmp_path, encoding):
    path = write(tmp_path / "a.txt", b"hello\n")
    with pytest.raises(ZhseqError, match="encoding") as e:
        read_texts(path, encoding=encoding)
    assert encoding in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ZhseqError, match="encoding"):  # before the file is even looked for
        read_labelled(str(tmp_path / "missing.csv"), require_labels=True, encoding=encoding)


def test_random_bytes_are_refused(tmp_path):
    rng = random.Random(0)
    noise = bytes(rng.randrange(1, 256) for _ in range(20_000))  # no NUL byte: not caught as binary
    for name in ("noise.txt", "noise.csv", "noise.csv.gz"):
        path = write(tmp_path / name, noise)
        with pytest.raises(ZhseqError, match="--encoding") as e:
            read_texts(path)
        assert path in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ZhseqError, match="binary"):
        read_texts(write(tmp_path / "nul.txt", bytes(rng.randrange(256) for _ in range(20_000)) + b"\0"))


def test_a_file_mostly_undecodable_in_the_encoding_given_is_refused(tmp_path):
    path = write(tmp_path / "gbk.csv", csv_bytes("gbk", SIMPLIFIED))
    with pytest.raises(ZhseqError, match=r"cannot be read as UTF-8 \(the encoding given\).*--encoding") as e:
        read_labelled(path, require_labels=True, encoding="utf-8")
    assert path in str(e.value)


# --------------------------------------------------------------------------------------------------------
# The commands: --encoding, the detection line on stderr, training on the right text


def test_sentiment_reads_a_gbk_table(tmp_path):
    path = write(tmp_path / "comments.csv", csv_bytes("gbk", SIMPLIFIED))
    result = ok("sentiment", "--input", path, "--format", "jsonl")
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == SIMPLIFIED
    assert result.stderr.splitlines() == [f"{path}: not UTF-8; read as GB18030 (detected; --encoding sets it)"]


def test_encoding_option_of_the_prediction_commands(tmp_path):
    big5 = write(tmp_path / "big5.txt", txt_bytes("big5", TRADITIONAL))
    result = ok("segment", "--input", big5, "--encoding", "big5", "--format", "jsonl")
    assert result.stderr == "" and [json.loads(line)["text"] for line in result.stdout.splitlines()] == TRADITIONAL
    result = ok("sentiment", "--input", big5, "--encoding", "big5", "--format", "jsonl")
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == TRADITIONAL
    result = ok("predict-next", "--input", big5, "--encoding", "big5", "--format", "jsonl", "-k", "1")
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == TRADITIONAL
    result = ok("sentiment", "--encoding", "gb18030", input=txt_bytes("gb18030", RARE))  # stdin
    assert [line.split("\t")[-1] for line in result.stdout.splitlines()] == RARE
    assert result.stderr == ""
    assert "unknown encoding 'nope'" in one_error_line(invoke("segment", "--input", big5, "--encoding", "nope"))


def test_evaluate_reads_a_gbk_table(tmp_path):
    path = write(tmp_path / "comments.csv", csv_bytes("gbk", SIMPLIFIED))
    result = ok("evaluate", "sentiment", "--data", path, "--label-column", "情感", "--format", "json")
    assert json.loads(result.stdout)["n"] == 4
    assert result.stderr.splitlines() == [f"{path}: not UTF-8; read as GB18030 (detected; --encoding sets it)"]
    result = ok("evaluate", "sentiment", "--data", path, "--encoding", "gbk", "--format", "json")
    assert json.loads(result.stdout)["n"] == 4 and result.stderr == ""
    wrong = invoke("evaluate", "sentiment", "--data", path, "--encoding", "utf-8")
    assert "cannot be read as UTF-8" in one_error_line(wrong)


def test_the_issue_case_trains_on_the_text_not_on_mojibake(tmp_path):
    # Before: a GBK file with English headers and 0/1 labels trained on mojibake with exit 0.
    rows = list(zip(SIMPLIFIED, LABELS)) * 10
    path = write(tmp_path / "gbk.csv", encode("text,label\n" + "".join(f"{t},{lb}\n" for t, lb in rows), "gbk"))
    out = tmp_path / "run"
    result = ok("train", "sentiment", "--data", path, "--out", out, "--epochs", "1", *TINY)
    assert result.stderr.splitlines() == [f"{path}: not UTF-8; read as GB18030 (detected; --encoding sets it)"]
    vocab = json.loads((out / "model-best" / "vocab.json").read_text(encoding="utf-8"))["tokens"]
    assert {"餐厅", "失望", "早餐", "质量"} <= set(vocab)
    assert all("\ufffd" not in token for token in vocab)
    assert json.loads((out / "model-best" / "config.json").read_text(encoding="utf-8"))["labels"] == [
        "negative", "positive"]

    # finetune, with the encoding given, and train from Python
    tuned = tmp_path / "tuned"
    result = ok("finetune", out, "--data", path, "--out", tuned, "--epochs", "1", "--encoding", "gbk", "--quiet")
    assert result.stderr == ""
    bad = invoke("finetune", out, "--data", path, "--out", tmp_path / "t2", "--encoding", "nope", "--quiet")
    assert "unknown encoding 'nope'" in one_error_line(bad)
    assert not (tmp_path / "t2" / "model-best").exists()


def test_python_api_takes_encoding(tmp_path):
    from zhseq.evaluation import evaluate
    from zhseq.training import train

    rows = list(zip(TRADITIONAL, LABELS)) * 10
    path = write(tmp_path / "big5.csv", encode("評論,標籤\n" + "".join(f"{t},{lb}\n" for t, lb in rows), "big5"))
    model = train("sentiment", path, tmp_path / "run", encoding="big5", epochs=1, embedding_size=8, hidden_size=8,
                  min_freq=1, progress=False)
    vocab = json.loads((model / "vocab.json").read_text(encoding="utf-8"))["tokens"]
    assert "早餐" in vocab or "餐廳" in vocab
    assert evaluate(model, path, encoding="big5")["n"] == 40
    with pytest.raises(ZhseqError, match="unknown encoding"):
        evaluate(model, path, encoding="nope")


def test_a_file_half_in_another_encoding_is_refused_where_it_is_trained_or_scored_on(tmp_path):
    """UTF-8 for 30 rows, then GBK: its start reads as UTF-8, so it trained on garbage with one warning (found
    by a user check). Where all of a file is read (training, evaluation), too many undecodable texts refuse it."""
    good = "".join(f"这家餐厅的菜很好吃{i},positive\n等了一个小时太失望了{i},negative\n" for i in range(15))
    bad = "".join(f"质量太差了{i},negative\n很满意{i},positive\n" for i in range(15))
    path = write(tmp_path / "mixed.csv", ("text,label\n" + good).encode("utf-8") + bad.encode("gbk"))
    message = (f"{path}: 30 of its 60 texts hold bytes that do not decode (U+FFFD; the first at line 32): part of "
               "the file is in another encoding; convert it to one, or give its encoding with --encoding NAME")
    with pytest.raises(ZhseqError) as error:
        read_labelled(path, require_labels=True)
    assert str(error.value) == message
    with pytest.raises(ZhseqError, match="30 of its 60 texts hold bytes that do not decode"):
        read_lm_texts(path)  # its text column, for a language model
    result = CliRunner().invoke(cli, ["train", "sentiment", "--data", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and result.stderr.strip().endswith("Error: " + message)
    assert not (tmp_path / "run").exists()
    # a few bad lines are still read, with the one warning (test_utf8_with_a_few_bad_bytes_is_still_utf8)
    few = write(tmp_path / "few.csv", ("text,label\n" + good).encode("utf-8") + "很满意,positive\n".encode("gbk"))
    assert len(read_labelled(few, require_labels=True)["texts"]) == 31


def test_a_small_file_half_in_another_encoding_says_where_utf8_stops(tmp_path):
    """Under the sniffed start, a file that is UTF-8 and then GBK was refused as "its encoding could not be
    detected", though it begins as UTF-8 (a user check): the error says where UTF-8 stops."""
    good = "text,label\n" + "".join(f"好{i},positive\n差{i},negative\n" for i in range(15))
    bad = "".join(f"质量太差了，再也不会买了{i},negative\n很满意，物流很快，包装很好{i},positive\n" for i in range(15))
    path = write(tmp_path / "mixed.csv", good.encode("utf-8") + bad.encode("gbk"))
    with pytest.raises(ZhseqError) as error:
        list(read_texts(path))
    assert str(error.value) == (f"{path} reads as UTF-8 up to line 32, and not after it: part of the file is in "
                                "another encoding; convert it to one, or give its encoding with --encoding NAME")
