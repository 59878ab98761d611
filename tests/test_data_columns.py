"""Column names (issue 14, "Files"): Chinese headers (评论, 内容, 标签, 情感, …) are found as the English ones
are, in traditional characters too; ``--help`` lists every name looked for; a table with neither a text nor a
label column says both in one error.
"""

import re
import traceback

import pytest

from zhseq.data import LABEL_COLUMNS, TEXT_COLUMNS, find_column, read_labelled, read_rows, read_texts
from zhseq.errors import ZhseqError
from cli_helpers import invoke, one_error_line

CHINESE_TEXT = [name for name in TEXT_COLUMNS if not name.isascii()]
CHINESE_LABEL = [name for name in LABEL_COLUMNS if not name.isascii()]


def write(path, content):
    path.write_text(content, encoding="utf-8")
    return str(path)


def test_the_issue_case(tmp_path):
    # Before: `has no text column (looked for text, text_a, review, sentence, content)`
    path = write(tmp_path / "comments.csv", "评论,情感\n很好吃,正面\n太失望了,负面\n")
    assert read_labelled(path, require_labels=True) == {"texts": ["很好吃", "太失望了"], "labels": ["正面", "负面"]}


def test_the_common_chinese_names_are_looked_for():
    for name in ["评论", "内容", "文本", "句子", "评价", "正文", "微博", "留言", "回复", "标题"]:
        assert name in CHINESE_TEXT
    for name in ["标签", "情感", "类别", "极性", "分类", "情绪", "倾向"]:
        assert name in CHINESE_LABEL
    assert list(TEXT_COLUMNS[:5]) == ["text", "text_a", "review", "sentence", "content"]  # English ones first
    assert list(LABEL_COLUMNS[:4]) == ["label", "labels", "sentiment", "polarity"]
    assert not set(TEXT_COLUMNS) & set(LABEL_COLUMNS)


@pytest.mark.parametrize("text", CHINESE_TEXT)
def test_each_chinese_text_column(tmp_path, text):
    path = write(tmp_path / "t.csv", f"编号,{text},标签\n1,好,1\n2,差,0\n")
    rows = read_rows(path, labels="required")
    assert (rows.text_column, rows.label_column) == (text, "标签")
    assert [(r.text, r.label) for r in rows] == [("好", "1"), ("差", "0")]


@pytest.mark.parametrize("label", CHINESE_LABEL)
def test_each_chinese_label_column(tmp_path, label):
    path = write(tmp_path / "t.tsv", f"{label}\t内容\tid\n1\t好\t7\n0\t差\t8\n")
    assert read_labelled(path, require_labels=True) == {"texts": ["好", "差"], "labels": ["positive", "negative"]}


def test_jsonl_with_chinese_keys(tmp_path):
    path = write(tmp_path / "t.jsonl", '{"微博": "今天真开心", "情绪": "喜悦"}\n{"微博": "气死了", "情绪": "愤怒"}\n')
    assert read_labelled(path, require_labels=True) == {"texts": ["今天真开心", "气死了"], "labels": ["喜悦", "愤怒"]}


def test_priority_english_first_then_the_order_of_the_lists(tmp_path):
    assert list(read_texts(write(tmp_path / "a.csv", "评论,text\nC,E\n"))) == ["E"]
    assert list(read_texts(write(tmp_path / "b.csv", "标题,正文,内容,评论\nT,Z,N,P\n"))) == ["P"]
    assert list(read_texts(write(tmp_path / "c.csv", "标题,正文\nT,Z\n"))) == ["Z"]
    rows = read_rows(write(tmp_path / "d.csv", "分类,情感,内容\n甲,1,好\n"))
    assert rows.label_column == "情感"
    assert find_column(["情感", "label"], None, LABEL_COLUMNS) == "label"


def test_traditional_spaces_and_case(tmp_path):
    path = write(tmp_path / "t.csv", " 評論 ,標籤\n很好,1\n")
    rows = read_rows(path, labels="required")
    assert (rows.text_column, rows.label_column) == (" 評論 ", "標籤")
    assert find_column(["內容", "類別"], None, TEXT_COLUMNS) == "內容"
    assert find_column(["回覆"], None, TEXT_COLUMNS) == "回覆"
    assert find_column(["Text", "text"], None, TEXT_COLUMNS) == "text"  # an exact name wins


def test_a_named_column_still_wins(tmp_path):
    path = write(tmp_path / "t.csv", "评论,标题,情感,标签\n正文,题目,1,a\n")
    assert list(read_texts(path, text_column="标题")) == ["题目"]
    assert read_labelled(path, require_labels=True, label_column="标签")["labels"] == ["a"]


def test_both_columns_missing_is_one_error_naming_both(tmp_path):
    path = write(tmp_path / "t.csv", "编号,日期\n1,2024\n")
    with pytest.raises(ZhseqError) as e:
        read_labelled(path, require_labels=True)
    message = str(e.value)
    assert "\n" not in message
    assert message == (f"{path} has no text column (looked for {', '.join(TEXT_COLUMNS)}) and no label column "
                       f"(looked for {', '.join(LABEL_COLUMNS)}); columns: '编号', '日期'; choose them with "
                       "--text-column and --label-column")
    with pytest.raises(ZhseqError, match=r"no text column \(looked for .*\) and no column '评分'; columns: "
                                         r"'编号', '日期'; choose one with --text-column$"):
        read_labelled(path, require_labels=False, label_column="评分")
    with pytest.raises(ZhseqError, match=r"has no column '正文' and no column '评分'; columns: '编号', '日期'$"):
        read_labelled(path, require_labels=True, text_column="正文", label_column="评分")


def test_one_column_missing_names_that_one(tmp_path):
    no_label = write(tmp_path / "a.csv", "评论,日期\n好,2024\n")
    with pytest.raises(ZhseqError, match=r"has no label column \(looked for label, .*\); columns: '评论', '日期'; "
                                         r"choose one with --label-column$"):
        read_labelled(no_label, require_labels=True)
    assert read_labelled(no_label, require_labels=False) == {"texts": ["好"], "labels": None}
    no_text = write(tmp_path / "b.csv", "编号,情感\n1,1\n")
    with pytest.raises(ZhseqError, match=r"has no text column \(looked for text, .*\); columns: '编号', '情感'; "
                                         r"choose one with --text-column$"):
        read_labelled(no_text, require_labels=True)
    with pytest.raises(ZhseqError, match="no text column"):  # prediction: no labels looked for
        read_texts(no_text)


def test_both_missing_is_one_error_line_in_the_commands(tmp_path):
    path = write(tmp_path / "t.csv", "编号,日期\n1,2024\n2,2025\n")
    for args in (["evaluate", "sentiment", "--data", path],
                 ["train", "sentiment", "--data", path, "--out", tmp_path / "run", "--quiet"]):
        line = one_error_line(invoke(*args))
        assert "no text column" in line and "no label column" in line and "--text-column and --label-column" in line
    assert not (tmp_path / "run" / "model-best").exists()
    line = one_error_line(invoke("sentiment", "--input", path))
    assert "no text column" in line and "label" not in line


@pytest.mark.parametrize("command, labels", [
    ("segment", False), ("sentiment", False), ("predict-next", False),
    ("train", True), ("finetune", True), ("evaluate", True),
])
def test_help_lists_the_names_looked_for(command, labels):
    result = invoke(command, "--help")
    if result.exit_code != 0:
        pytest.fail(f"{result.output}\n{''.join(traceback.format_exception(*result.exc_info))}")
    helped = " ".join(result.stdout.split())
    text_help = re.search(r"--text-column NAME (.*?) --(label-column|encoding) NAME", helped).group(1)
    assert ", ".join(TEXT_COLUMNS) in text_help
    if labels:
        label_help = re.search(r"--label-column NAME (.*?) --encoding NAME", helped).group(1)
        assert ", ".join(LABEL_COLUMNS) in label_help
    assert "--encoding NAME" in helped
