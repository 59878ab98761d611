"""zhseq.data: one streaming reader (read_rows) under read_texts (prediction) and read_labelled /
read_lm_texts (training, evaluation)."""

import gzip
import io
import itertools
import json
import logging
import subprocess
import sys

import pytest

from zhseq.data import Row, batched, find_column, read_labelled, read_lm_texts, read_rows, read_texts
from zhseq.errors import ZhseqError


def write(path, content, *, compress=False):
    data = content.encode("utf-8") if isinstance(content, str) else content
    if compress:
        data = gzip.compress(data)
    path.write_bytes(data)
    return str(path)


def bad_utf8_warnings(caplog):
    return [r for r in caplog.records if r.name.startswith("zhseq") and "not valid UTF-8" in r.getMessage()]


# --------------------------------------------------------------------------------------------------------
# read_texts


def test_txt_keeps_every_line_including_empty_ones(tmp_path):
    path = write(tmp_path / "in.txt", "第一行\n\n  有空格  \r\n\n最后一行没有换行")
    assert list(read_texts(path)) == ["第一行", "", "  有空格  ", "", "最后一行没有换行"]


def test_unknown_extension_is_read_as_txt(tmp_path):
    path = write(tmp_path / "reviews.data", "a,b\n\"c\"\n")
    assert list(read_texts(path)) == ["a,b", '"c"']


def test_csv_quotes_commas_and_newlines_inside_fields(tmp_path):
    path = write(tmp_path / "in.csv",
                 'id,review,stars\n1,"好, 很好",5\n2,"他说""不错""",4\n\n3,"两\n行",3\n4\n')
    # a blank line is skipped, a short row gives ""
    assert list(read_texts(path)) == ["好, 很好", '他说"不错"', "两\n行", ""]


def test_tsv_is_unquoted_so_texts_may_contain_double_quotes(tmp_path):
    path = write(tmp_path / "in.tsv", 'label\ttext\n1\t"开头引号\n0\t中间"引"号,逗号\n')
    assert list(read_texts(path)) == ['"开头引号', '中间"引"号,逗号']


def test_jsonl_blank_lines_missing_keys_and_non_strings(tmp_path):
    lines = [{"sentence": "好"}, None, {"sentence": None}, {"other": 1}, {"sentence": 5}, {"sentence": "末"}]
    path = write(tmp_path / "in.jsonl",
                 "\n".join("" if x is None else json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    assert list(read_texts(path)) == ["好", "", "", "", "5", "末"]


@pytest.mark.parametrize("name,content,expected", [
    ("x.txt.gz", "一\n\n二\n", ["一", "", "二"]),
    ("x.csv.gz", 'text\n"a,b"\n', ["a,b"]),
    ("x.tsv.gz", 'text\n"q"\n', ['"q"']),
    ("x.jsonl.gz", '{"text": "甲"}\n', ["甲"]),
])
def test_gzip_variants(tmp_path, name, content, expected):
    assert list(read_texts(write(tmp_path / name, content, compress=True))) == expected


def test_byte_order_mark_is_dropped(tmp_path):
    txt = write(tmp_path / "bom.txt", b"\xef\xbb\xbf\xe4\xb8\x80\n")
    csv_ = write(tmp_path / "bom.csv", "\ufefftext,label\n好,1\n")
    assert list(read_texts(txt)) == ["一"]
    assert list(read_texts(csv_)) == ["好"]


def test_invalid_utf8_is_replaced_with_one_warning_naming_the_first_bad_line(tmp_path, caplog):
    path = write(tmp_path / "bad.txt", b"ok\nbad \xff here\nfine\nalso \xfe bad\n")
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        texts = list(read_texts(path))
    assert texts == ["ok", "bad \ufffd here", "fine", "also \ufffd bad"]
    warnings = bad_utf8_warnings(caplog)
    assert len(warnings) == 1
    assert "line 2" in warnings[0].getMessage() and "bad.txt" in warnings[0].getMessage()


def test_binary_file_is_refused(tmp_path):
    path = write(tmp_path / "model.txt", b"PK\x03\x04\x00\x00binary")
    with pytest.raises(ZhseqError, match="looks like a binary file"):
        read_texts(path)


def test_missing_file_and_directory_errors_name_the_path(tmp_path):
    missing = str(tmp_path / "nope.txt")
    with pytest.raises(ZhseqError, match="no such file") as e:
        read_texts(missing)
    assert missing in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ZhseqError, match="is a folder without .parquet files; give a file") as e:
        read_texts(str(tmp_path))
    assert str(tmp_path) in str(e.value)


def test_damaged_gzip_is_a_zhseq_error(tmp_path):
    path = write(tmp_path / "x.txt.gz", b"not gzip at all")
    with pytest.raises(ZhseqError, match="cannot read"):
        list(read_texts(path))


def test_no_text_column_lists_the_columns_and_text_column_overrides(tmp_path):
    path = write(tmp_path / "in.csv", "id,body\n1,正文\n")
    with pytest.raises(ZhseqError, match="text column") as e:
        read_texts(path)
    assert "'id', 'body'" in str(e.value)
    assert list(read_texts(path, text_column="body")) == ["正文"]
    with pytest.raises(ZhseqError, match="no column 'missing'"):
        read_texts(path, text_column="missing")


def test_text_column_candidates_in_order(tmp_path):
    path = write(tmp_path / "in.csv", "content,text_a\nC,A\n")
    assert list(read_texts(path)) == ["A"]  # text_a comes before content


def test_a_lone_surrogate_in_jsonl_becomes_fffd_with_one_warning(tmp_path, caplog):
    """``"\\ud800"`` is valid JSON but no character: nothing could print or save the text (it was a
    traceback on output). Escaped pairs stay the character they name."""
    path = write(tmp_path / "in.jsonl", '{"text": "很好", "label": "0"}\n{"text": "a\\ud800b", "label": "\\udc00pos"}\n'
                                        '{"text": "\\ud83d\\ude00", "label": "1"}\n{"text": "\\udfff", "label": "1"}\n')
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        assert list(read_texts(path)) == ["很好", "a\ufffdb", "\U0001f600", "\ufffd"]
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}, line 2: a \\u escape names a lone surrogate, not a character; replaced with U+FFFD"]
    rows = list(read_rows(path, labels="optional"))
    assert [(r.text, r.label) for r in rows[1:3]] == [("a\ufffdb", "\ufffdpos"), ("\U0001f600", "1")]


def test_jsonl_errors_name_the_line(tmp_path):
    path = write(tmp_path / "in.jsonl", '{"text": "a"}\n["not", "an", "object"]\n')
    with pytest.raises(ZhseqError, match="line 2: expected a JSON object"):
        list(read_texts(path))
    path = write(tmp_path / "in2.jsonl", '{"text": "a"}\n\n{broken\n')
    with pytest.raises(ZhseqError, match="line 3: not valid JSON"):
        list(read_texts(path))


def test_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("\ufeff一\r\n\n二 \xff".encode("utf-8"))))
    assert list(read_texts("-")) == ["一", "", "二 \xff"]


def test_streaming_is_lazy(tmp_path, monkeypatch, caplog):
    lines = [f"第{i}行" for i in range(200_000)]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    raw = io.BytesIO(data)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(raw))
    assert list(itertools.islice(read_texts("-"), 3)) == lines[:3]
    assert raw.tell() < 20_000 < len(data)  # only the sniffed head was read

    # a broken line and bad UTF-8 far into a file are not reached by taking the first items
    tail = b'{broken\n{"text": "\xff"}\n'
    body = "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in lines).encode("utf-8")
    path = write(tmp_path / "big.jsonl.gz", body + tail, compress=True)
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        assert list(itertools.islice(read_texts(path), 3)) == lines[:3]
    assert not bad_utf8_warnings(caplog)


def test_read_texts_uses_only_the_standard_library(tmp_path):
    path = write(tmp_path / "in.csv", "text\n好\n")
    code = (f"import sys, zhseq.data; assert list(zhseq.data.read_texts({path!r})) == ['好']; "
            "heavy = {'datasets', 'pandas', 'torch', 'pyarrow', 'numpy'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_batched():
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched([], 3)) == []
    consumed = iter(range(100))
    assert next(batched(consumed, 2)) == [0, 1]
    assert next(consumed) == 2  # took only what the first batch needed
    with pytest.raises(ValueError):
        list(batched([1], 0))


def test_find_column():
    assert find_column(["id", "Review ", "text"], None, ("text", "review")) == "text"
    assert find_column(["id", "Review "], None, ("text", "review")) == "Review "
    assert find_column(["id", "body"], "body", ("text",)) == "body"
    assert find_column(["id", "text"], "body", ("text",)) is None
    assert find_column([], None, ("text",)) is None


# --------------------------------------------------------------------------------------------------------
# read_labelled / read_lm_texts (the same reader, rows collected)


def test_labelled_tables_concatenate_and_keep_strings(tmp_path, caplog):
    csv_ = write(tmp_path / "a.csv", '\ufefftext,label,extra\nNA,1,\n"null, 真的",0,x\n"引""号",1,\n')
    tsv = write(tmp_path / "b.tsv.gz", 'text\tlabel\n"开头\t0\nnan\t1\n', compress=True)
    jsonl = write(tmp_path / "c.jsonl",
                  '{"text": "甲", "label": 1, "meta": {"k": [1]}}\n\n{"text": "乙 \\u0000", "label": 0, "id": 7}\n')
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        data = read_labelled([csv_, tsv, jsonl], require_labels=True)
    assert data["texts"] == ["NA", "null, 真的", '引"号', '"开头', "nan", "甲", "乙 \x00"]
    assert data["labels"] == ["positive", "negative", "positive", "negative", "positive", "positive", "negative"]
    assert not bad_utf8_warnings(caplog)


def test_string_labels_are_kept_and_columns_found_by_name(tmp_path):
    path = write(tmp_path / "a.jsonl.gz",
                 '{"review": "好", "sentiment": " pos "}\n{"review": "差", "sentiment": "neg"}\n', compress=True)
    assert read_labelled(path, require_labels=True) == {"texts": ["好", "差"], "labels": ["pos", "neg"]}


def test_label_and_text_column_overrides(tmp_path):
    path = write(tmp_path / "a.csv", "body,label,stars\n好,x,5\n差,y,1\n,z,1\n")
    data = read_labelled(path, text_column="body", label_column="stars", require_labels=True)
    assert data == {"texts": ["好", "差", ""], "labels": ["5", "1", "1"]}


def test_invalid_utf8_in_training_data(tmp_path, caplog):
    path = write(tmp_path / "a.csv", b"text,label\nok,1\nbad \xff,0\n")
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        data = read_labelled(path, require_labels=True)
    assert data["texts"] == ["ok", "bad \ufffd"]
    assert "line 3" in bad_utf8_warnings(caplog)[0].getMessage()


def test_labelled_errors(tmp_path):
    no_label = write(tmp_path / "nolabel.csv", "text,score\n好,1\n")
    with pytest.raises(ZhseqError, match="no label column") as e:
        read_labelled(no_label, require_labels=True)
    assert "nolabel.csv" in str(e.value) and "'text', 'score'" in str(e.value)
    assert read_labelled(no_label, require_labels=False) == {"texts": ["好"], "labels": None}

    empty_labels = write(tmp_path / "gaps.tsv", "text\tlabel\na\t1\nb\t\nc\t0\nd\t \n")
    with pytest.raises(ZhseqError, match=r"2 row\(s\) have an empty label .*first: data row 2"):
        read_labelled(empty_labels, require_labels=True)

    no_text = write(tmp_path / "notext.jsonl", '{"body": "a", "label": 1}\n')
    with pytest.raises(ZhseqError, match="no text column.*'body', 'label'"):
        read_labelled(no_text, require_labels=True)

    with pytest.raises(ZhseqError, match="no such file: .*missing.csv"):
        read_labelled(str(tmp_path / "missing.csv"), require_labels=True)

    with pytest.raises(ZhseqError, match="binary"):
        read_labelled(write(tmp_path / "bin.csv", b"text\x00\x01"), require_labels=True)


def test_empty_corpus_errors(tmp_path):
    for name, content in [("header_only.csv", "text,label\n"), ("nothing.jsonl", "\n\n"),
                          ("blank.txt", "\n  \n"), ("zero.csv", "")]:
        with pytest.raises(ZhseqError, match=f"{name} is empty"):
            read_labelled(write(tmp_path / name, content), require_labels=False)


def test_txt_has_no_labels(tmp_path):
    path = write(tmp_path / "a.txt", "一\n\n二\n")
    assert read_labelled(path, require_labels=False) == {"texts": ["一", "", "二"], "labels": None}
    with pytest.raises(ZhseqError, match="label column"):
        read_labelled(path, require_labels=True)


def test_hub_names_go_to_load_dataset(tmp_path, monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(name, split=None, **kwargs):
        calls.append((name, split))
        if name == "nobody/nothing":
            raise ConnectionError("Couldn't reach the Hub\nmore details")
        features = datasets.Features({"sentence": datasets.Value("string"),
                                      "label": datasets.ClassLabel(names=["neg", "pos"])})
        return datasets.Dataset.from_dict({"sentence": ["好", "差"], "label": [1, 0]}, features=features)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr("zhseq.data.corpus._hub_unreachable", lambda: None)  # as with a network
    assert read_labelled("someone/reviews", require_labels=True) == {"texts": ["好", "差"], "labels": ["pos", "neg"]}
    assert calls == [("someone/reviews", "train")]
    with pytest.raises(ZhseqError, match=r"nobody/nothing.*Couldn't reach the Hub\)$"):
        read_labelled("nobody/nothing", require_labels=True)
    # a path with an extension is never sent to the Hub, nor one inside a local folder
    with pytest.raises(ZhseqError, match="no such file"):
        read_labelled("someone/reviews.csv", require_labels=True)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(ZhseqError, match="^no such file: runs/reviews$"):
        read_labelled("runs/reviews", require_labels=True)
    assert len(calls) == 2
    # without a network, one error at once: `datasets` retried for half a minute before failing
    monkeypatch.setattr("zhseq.data.corpus._hub_unreachable", lambda: "huggingface.co cannot be reached: no route")
    with pytest.raises(ZhseqError, match=r"^no such file: someone/reviews \(nor could it be loaded as a Hugging "
                                         r"Face Hub dataset: huggingface.co cannot be reached: no route\)$"):
        read_labelled("someone/reviews", require_labels=True)
    assert len(calls) == 2


def test_the_hub_is_asked_whether_it_can_be_reached_at_its_endpoint(monkeypatch):
    import socket

    from huggingface_hub import constants

    from zhseq.data.corpus import _hub_unreachable

    asked = []

    def refuse(address, timeout):
        asked.append((address, timeout))
        raise OSError(111, "Connection refused")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "https://hf-mirror.com")
    assert _hub_unreachable() == "hf-mirror.com cannot be reached: Connection refused"
    assert asked == [(("hf-mirror.com", 443), 3)]
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # datasets reads its cache: nothing to ask
    assert _hub_unreachable() is None and len(asked) == 1


def test_read_lm_texts(tmp_path):
    txt = write(tmp_path / "a.txt.gz", "第一段\n\n \n第二段\r\n", compress=True)
    csv_ = write(tmp_path / "b.csv", "content,label\n第三段,1\n,0\n")
    assert read_lm_texts([txt, csv_]) == ["第一段", "第二段", "第三段"]
    with pytest.raises(ZhseqError, match="is empty"):
        read_lm_texts(write(tmp_path / "c.txt", "\n\n"))


# --------------------------------------------------------------------------------------------------------
# One reader: the same rows whatever reads them (issue 13, real-input cases a, b, c)


def extra_field_warnings(caplog):
    return [r for r in caplog.records if r.name == "zhseq.data" and "more fields than the header" in r.getMessage()]


def same_rows_everywhere(path, **columns):
    """The texts of read_texts (prediction) == read_labelled's (evaluate/train) == read_rows'; returns the rows."""
    rows = list(read_rows(path, **columns))
    data = read_labelled(path, require_labels=False, **columns)
    assert list(read_texts(path, text_column=columns.get("text_column"))) == [row.text for row in rows]
    assert data["texts"] == [row.text for row in rows]
    return rows, data


def test_case_a_jsonl_number_where_a_text_is(tmp_path):
    path = write(tmp_path / "a.jsonl", '{"text":"很好","label":"positive"}\n{"text":"太差","label":"negative"}\n'
                                      '{"text":404,"label":"positive"}\n')
    rows, data = same_rows_everywhere(path)
    assert rows == [Row("很好", "positive", 1), Row("太差", "negative", 2), Row("404", "positive", 3)]
    assert data == {"texts": ["很好", "太差", "404"], "labels": ["positive", "negative", "positive"]}
    assert read_lm_texts(path) == ["很好", "太差", "404"]


def test_case_a_one_integer_label_among_strings(tmp_path):
    path = write(tmp_path / "a.jsonl", '{"text":"很好","label":"positive"}\n{"text":"太差","label":"negative"}\n'
                                      '{"text":"还行","label":1}\n')
    assert read_labelled(path, require_labels=True)["labels"] == ["positive", "negative", "1"]


@pytest.mark.parametrize("written, text", [
    ("404", "404"), ("-7", "-7"), ("1.5", "1.5"), ("1.50", "1.50"), ("1e3", "1e3"), ("-0.0", "-0.0"),
    ("true", "true"), ("false", "false"), ("null", ""), ('""', ""), ('"\\u5f88\\u597d"', "很好"),
    ('{"k": [1, "好", null]}', '{"k": [1, "好", null]}'), ('["甲", 2.5]', '["甲", 2.5]'), ("[]", "[]"),
])
def test_jsonl_values_become_text_as_written(tmp_path, written, text):
    path = write(tmp_path / "v.jsonl", f'{{"text": {written}, "label": {written}, "other": 0}}\n')
    assert list(read_texts(path)) == [text]
    assert list(read_rows(path)) == [Row(text, text.strip(), 1)]
    assert list(read_rows(path, labels="none")) == [Row(text, None, 1)]


def test_jsonl_columns_are_the_first_objects_keys_and_blank_lines(tmp_path):
    path = write(tmp_path / "k.jsonl", '\n{"review": "好", "polarity": "pos"}\n\n{"polarity": "neg"}\n'
                                      '{"review": "差", "polarity": "neg", "new": 1}\n')
    rows = read_rows(path)
    assert (rows.columns, rows.text_column, rows.label_column) == (["review", "polarity"], "review", "polarity")
    # a blank line is an empty text where there are no labels (one answer per line) and skipped where there are
    assert list(rows) == [Row("好", "pos", 2), Row("", "neg", 4), Row("差", "neg", 5)]
    assert list(read_texts(path)) == ["", "好", "", "", "差"]
    assert list(read_rows(path, labels="none"))[:2] == [Row("", None, 1), Row("好", None, 2)]
    assert read_lm_texts(path) == ["好", "差"]


def test_jsonl_integer_too_long_is_a_bad_line(tmp_path):
    path = write(tmp_path / "n.jsonl", '{"text": "a"}\n{"text": ' + "9" * 5000 + "}\n")
    with pytest.raises(ZhseqError, match="line 2: not valid JSON"):
        list(read_texts(path))


@pytest.mark.parametrize("name, content", [
    ("b.csv", "text,label\n很好,positive,2024-01-01\n太差,negative,2024-01-02\n不错,positive\n"),
    ("trailing.csv", "text,label\n很好,positive,\n太差,negative,\n不错,positive,\n"),
    ("b.tsv", "text\tlabel\n很好\tpositive\t2024-01-01\n太差\tnegative\t2024-01-02\n不错\tpositive\n"),
    ("b.csv.gz", "text,label\n很好,positive,2024-01-01,x\n太差,negative,2024-01-02\n不错,positive\n"),
])
def test_case_b_more_fields_than_the_header_are_read_by_the_header(tmp_path, caplog, name, content):
    path = write(tmp_path / name, content, compress=name.endswith(".gz"))
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        rows, data = same_rows_everywhere(path)
    assert data == {"texts": ["很好", "太差", "不错"], "labels": ["positive", "negative", "positive"]}
    assert [row.line for row in rows] == [2, 3, 4]
    extra = 3 if name == "trailing.csv" else 2
    warnings = extra_field_warnings(caplog)
    assert len(warnings) == 3  # one per full read (read_rows, read_texts, read_labelled), not one per row
    message = warnings[0].getMessage()
    assert f"{path}, line 2: {extra} row(s)" in message and "2 columns" in message


def test_case_b_first_column_is_never_an_index(tmp_path):
    path = write(tmp_path / "i.csv", "label,text\n1,好,extra\n0,差,extra\n")
    assert read_labelled(path, require_labels=True) == {"texts": ["好", "差"], "labels": ["positive", "negative"]}


def test_rows_with_fewer_fields_have_empty_cells(tmp_path):
    path = write(tmp_path / "short.csv", "text,label\n好,positive\n差\n,negative\n")
    assert list(read_rows(path)) == [Row("好", "positive", 2), Row("差", "", 3), Row("", "negative", 4)]
    with pytest.raises(ZhseqError, match=r"short.csv: 1 row\(s\) have an empty label in column 'label' "
                                         r"\(first: data row 2, line 3\)"):
        read_labelled(path, require_labels=True)


def test_warnings_come_once_a_file_is_read_and_not_for_a_header_as_wide(tmp_path, caplog):
    wide = write(tmp_path / "wide.csv", "text,label,\n好,positive,\n")
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        assert list(read_texts(wide)) == ["好"]
        rows = read_rows(write(tmp_path / "extra.csv", "text\n好,1\n差,2\n"))
        assert next(rows) == Row("好", None, 2)
        assert not extra_field_warnings(caplog)
        assert list(rows) == [Row("差", None, 3)]
    assert len(extra_field_warnings(caplog)) == 1


@pytest.mark.parametrize("name, content, line", [
    ("c.csv", 'text,label\n"很好,positive\n太差,negative\n不错,positive\n', 2),
    ("c.csv.gz", 'text,label\n"很好,positive\n太差,negative\n不错,positive\n', 2),
    ("no-newline.csv", 'text,label\n好,positive\n"很好,positive', 3),
    ("late.csv", 'text,label\n好,positive\n差,negative\n好,"positive\n差,negative\r\n\n好,positive\n', 4),
    ("second-field.csv", 'text,label\n"两\n行","pos\nitive\n', 3),
    ("header.csv", '"text,label\n好,positive\n', 1),
])
def test_case_c_an_unterminated_quote_is_one_error_everywhere(tmp_path, name, content, line):
    path = write(tmp_path / name, content, compress=name.endswith(".gz"))
    message = f"{path}, line {line}: a quoted field is never closed"
    for read in (lambda: list(read_texts(path)), lambda: read_labelled(path, require_labels=True),
                 lambda: read_labelled(path, require_labels=False), lambda: read_lm_texts(path),
                 lambda: list(read_rows(path, labels="none"))):
        with pytest.raises(ZhseqError) as e:
            read()
        assert str(e.value) == message


def test_case_c_rows_before_the_open_quote_stream_out_first(tmp_path):
    path = write(tmp_path / "c.csv", 'text\n好\n差\n"坏\n更坏\n')
    texts = read_texts(path)
    assert [next(texts), next(texts)] == ["好", "差"]
    with pytest.raises(ZhseqError, match="line 4: a quoted field is never closed"):
        next(texts)


def test_quoted_fields_that_close_may_span_lines(tmp_path):
    path = write(tmp_path / "ok.csv", 'text,label\n"两\n行",positive\n"引""号, 逗号",negative\n"末\r\n行","positive"')
    rows, data = same_rows_everywhere(path)
    assert rows == [Row("两\n行", "positive", 2), Row('引"号, 逗号', "negative", 4), Row("末\r\n行", "positive", 5)]
    assert data["labels"] == ["positive", "negative", "positive"]


def test_tsv_quotes_never_open(tmp_path):
    path = write(tmp_path / "q.tsv", 'text\tlabel\n"很好\tpositive\n太差"\tnegative\n')
    assert read_labelled(path, require_labels=True) == {"texts": ['"很好', '太差"'], "labels": ["positive", "negative"]}


def test_a_quote_left_open_in_a_long_file_stops_at_the_field_limit(tmp_path):
    path = write(tmp_path / "long.csv", 'text\n好\n"坏\n' + "很长的一行\n" * 40_000)
    with pytest.raises(ZhseqError, match=r"long.csv, line 3: a field is longer than 131,072 characters; "
                                         r"is a quote never closed\?"):
        list(read_texts(path))


@pytest.mark.parametrize("name, content", [
    ("h.csv", "text,label\n"), ("h.tsv", "\ufefftext\tlabel\r\n"), ("h.csv.gz", "text,label\n\n\n"),
])
def test_header_only_file(tmp_path, name, content):
    path = write(tmp_path / name, content, compress=name.endswith(".gz"))
    assert list(read_texts(path)) == []
    rows = read_rows(path, labels="required")
    assert (rows.columns, rows.text_column, rows.label_column) == (["text", "label"], "text", "label")
    assert list(rows) == []
    with pytest.raises(ZhseqError, match=f"{name} is empty: no rows"):
        read_labelled(path, require_labels=True)


def test_blank_lines_before_the_header_are_skipped(tmp_path):
    path = write(tmp_path / "b.csv", "\n\ntext,label\n好,positive\n")
    assert list(read_rows(path)) == [Row("好", "positive", 4)]


def test_label_modes(tmp_path):
    csv_ = write(tmp_path / "l.csv", "text,label\n好, positive \n")
    txt = write(tmp_path / "l.txt", "好\n")
    assert list(read_rows(csv_)) == [Row("好", "positive", 2)]
    assert list(read_rows(csv_, labels="none")) == [Row("好", None, 2)]
    assert list(read_rows(txt)) == [Row("好", None, 1)]
    with pytest.raises(ZhseqError, match="only texts"):
        read_rows(txt, labels="required")
    nolabel = write(tmp_path / "n.jsonl", '{"text": "好"}\n')
    assert read_rows(nolabel).label_column is None
    with pytest.raises(ZhseqError, match="no label column .*'text'.*--label-column"):
        read_rows(nolabel, labels="required")
    with pytest.raises(ZhseqError, match="no column 'stars'"):
        read_rows(nolabel, label_column="stars")
    with pytest.raises(ValueError, match="labels must be one of"):
        read_rows(csv_, labels="yes")


def test_column_errors_are_raised_when_the_file_is_opened(tmp_path):
    for name, content in [("x.csv", "id,body\n1,a\n"), ("x.jsonl", '\n{"id": 1, "body": "a"}\n')]:
        with pytest.raises(ZhseqError, match=r"no text column .*'id', 'body'.*--text-column"):
            read_texts(write(tmp_path / name, content))  # not iterated


def test_training_reads_stdin_like_prediction(monkeypatch):
    data = "好\n\n差\n".encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert read_labelled("-", require_labels=False) == {"texts": ["好", "", "差"], "labels": None}
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert list(read_texts("-")) == ["好", "", "差"]


def test_read_rows_is_lazy_and_closes_the_file(tmp_path, monkeypatch):
    raw = io.BytesIO(("text,label\n" + "好,1\n" * 100_000).encode())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(raw))
    rows = read_rows("-")  # stdin is .txt
    assert next(rows) == Row("text,label", None, 1) and raw.tell() < 20_000
    path = write(tmp_path / "big.csv", "text,label\n" + "好,1\n" * 100_000)
    with read_rows(path) as rows:
        assert next(rows) == Row("好", "1", 2)
    with pytest.raises(StopIteration):
        next(rows)


def test_bad_utf8_warning_is_on_the_zhseq_data_logger(tmp_path, caplog):
    path = write(tmp_path / "u.jsonl", b'{"text": "ok"}\n{"text": "\xff"}\n')
    with caplog.at_level(logging.WARNING, logger="zhseq.data"):
        assert read_lm_texts(path) == ["ok", "\ufffd"]
    assert [r.name for r in bad_utf8_warnings(caplog)] == ["zhseq.data"]


def test_local_files_never_import_datasets(tmp_path):
    paths = [write(tmp_path / "a.csv", "text,label\n好,1\n差,0\n"),
             write(tmp_path / "b.jsonl.gz", '{"text": "好", "label": 1}\n', compress=True),
             write(tmp_path / "c.tsv", "text\tlabel\n好\t0\n")]
    txt = write(tmp_path / "d.txt", "好\n")
    code = (f"import sys, zhseq.data as d; d.read_labelled({paths!r}, require_labels=True); "
            f"d.read_lm_texts({[*paths, txt]!r}); "
            "heavy = {'datasets', 'pandas', 'pyarrow', 'torch'} & set(sys.modules); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tables_with_carriage_return_line_ends(tmp_path):
    mac = write(tmp_path / "mac.csv", 'text,label\r好,positive\r"两\r行",negative\r')
    assert list(read_rows(mac)) == [Row("好", "positive", 2), Row("两\r行", "negative", 3)]
    tsv = write(tmp_path / "mac.tsv.gz", "text\tlabel\r好\t1\r差\t0", compress=True)
    assert read_labelled(tsv, require_labels=True) == {"texts": ["好", "差"], "labels": ["positive", "negative"]}
