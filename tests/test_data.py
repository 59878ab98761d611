"""zhseq.data: reading user files, streamed (read_texts) and whole (read_labelled, read_lm_texts)."""

import gzip
import io
import itertools
import json
import logging
import subprocess
import sys

import pytest

from zhseq.data import batched, find_column, read_labelled, read_lm_texts, read_texts
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
    with pytest.raises(ZhseqError, match="directory") as e:
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
# read_labelled / read_lm_texts (through `datasets`)


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
    assert read_labelled("someone/reviews", require_labels=True) == {"texts": ["好", "差"], "labels": ["pos", "neg"]}
    assert calls == [("someone/reviews", "train")]
    with pytest.raises(ZhseqError, match=r"nobody/nothing.*Couldn't reach the Hub\)$"):
        read_labelled("nobody/nothing", require_labels=True)
    # a path with an extension is never sent to the Hub
    with pytest.raises(ZhseqError, match="no such file"):
        read_labelled("someone/reviews.csv", require_labels=True)
    assert len(calls) == 2


def test_read_lm_texts(tmp_path):
    txt = write(tmp_path / "a.txt.gz", "第一段\n\n \n第二段\r\n", compress=True)
    csv_ = write(tmp_path / "b.csv", "content,label\n第三段,1\n,0\n")
    assert read_lm_texts([txt, csv_]) == ["第一段", "第二段", "第三段"]
    with pytest.raises(ZhseqError, match="is empty"):
        read_lm_texts(write(tmp_path / "c.txt", "\n\n"))
