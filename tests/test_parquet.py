"""Parquet in and out (issue 16): `--input x.parquet` reads its text (and label) column by the same rules as a
CSV's header, Chinese names included, a batch of rows at a time; `--output y.parquet` holds the jsonl fields as
columns, one row per text, in row groups; an output is written whole or not at all; a missing pyarrow is one
line naming the extra. The shipped models predict."""

import json
import sys

import pytest

from cli_helpers import invoke, ok, one_error_line
from zhseq.data import read_labelled, read_rows, read_texts
from zhseq.errors import ZhseqError

pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'zhseq[parquet]')")
pq = pytest.importorskip("pyarrow.parquet")

TEXTS = ["这家餐厅的菜很好吃，服务也周到", "等了一个小时，太失望了", "", "   ", "第一行\n第二行", "iPhone 5G 👍", "今天天气"]


def table(path, row_group_size=None, **columns):
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
    return path


def jsonl(*args):
    return [json.loads(line) for line in ok(*args, "--format", "jsonl").stdout.splitlines()]


def rows_of(path):
    return pq.read_table(path).to_pylist()


@pytest.mark.parametrize("column", ["评论", "評論", "评论内容", "text"])
def test_sentiment_parquet_in_and_out_equal_the_jsonl_lines(tmp_path, column):
    source = table(tmp_path / "in.parquet", **{"id": list(range(len(TEXTS))), column: TEXTS})
    out = tmp_path / "labels.parquet"
    assert ok("sentiment", "--input", source, "--output", out).stdout == ""
    assert rows_of(out) == jsonl("sentiment", "--input", source)
    assert [r["text"] for r in rows_of(out)] == TEXTS
    schema = pq.read_schema(out)
    assert schema.names == ["text", "label", "score"]
    assert [str(t) for t in schema.types] == ["string", "string", "double"]


def test_predict_next_and_segment_to_parquet(tmp_path):
    source = table(tmp_path / "in.parquet", 内容=TEXTS)
    for command, extra in (("predict-next", ["-k", "3"]), ("segment", ["--emoji"])):
        out = tmp_path / f"{command}.parquet"
        ok(command, "--input", source, "--output", out, *extra)
        assert rows_of(out) == jsonl(command, "--input", source, *extra)
    assert pq.read_schema(tmp_path / "segment.parquet").field("tokens").type == pa.list_(pa.string())
    predictions = pq.read_schema(tmp_path / "predict-next.parquet").field("predictions").type
    assert predictions == pa.list_(pa.struct([("token", pa.string()), ("score", pa.float64())]))


def test_explanations_to_parquet(tmp_path):
    out = tmp_path / "explained.parquet"
    ok("sentiment", "--explain", *TEXTS[:3], "--output", out)
    assert rows_of(out) == jsonl("sentiment", "--explain", *TEXTS[:3])
    assert rows_of(out)[2]["explanation"] == []


def test_round_trip_through_the_output(tmp_path):
    """A Parquet output is an input too: its text column is found, and scores the same."""
    first, second = tmp_path / "first.parquet", tmp_path / "second.parquet"
    ok("sentiment", "--output", first, *TEXTS)
    ok("sentiment", "--input", first, "--output", second)
    assert rows_of(second) == rows_of(first)


def test_columns_by_name_nulls_numbers_and_labels(tmp_path):
    source = table(tmp_path / "mixed.parquet", 标题=["标题一", None, "标题三"], 评论=["很好", "太差", None],
                   标签=[1.0, 0.0, None], 星级=[5, 1, 3])
    assert list(read_texts(str(source))) == ["很好", "太差", ""]  # 评论 comes before 标题; null is ""
    assert list(read_texts(str(source), text_column="标题")) == ["标题一", "", "标题三"]
    assert list(read_texts(str(source), text_column="星级")) == ["5", "1", "3"]
    rows = read_rows(str(source))
    assert (rows.text_column, rows.label_column, rows.columns) == ("评论", "标签", ["标题", "评论", "标签", "星级"])
    assert [(r.text, r.label, r.line) for r in rows] == [("很好", "1", 1), ("太差", "0", 2), ("", "", 3)]
    # pandas' 1.0/0.0 in a label column with missing values read as 1/0, which train maps to positive/negative
    both = table(tmp_path / "labelled.parquet", 评论=["很好", "太差"], 标签=[1.0, 0.0])
    assert read_labelled(str(both), require_labels=True) == {"texts": ["很好", "太差"],
                                                             "labels": ["positive", "negative"]}
    out = ok("sentiment", "--input", source, "--text-column", "标题", "--format", "tsv").stdout.splitlines()
    assert [line.split("\t")[2] for line in out[1:]] == ["标题一", "", "标题三"]


def test_a_folder_of_parts_is_read_in_the_order_of_their_names(tmp_path):
    """Spark writes a dataset as a folder: part files, plus _SUCCESS and .crc files that are not data."""
    folder = tmp_path / "spark-out.parquet"
    folder.mkdir()
    table(folder / "part-00001.parquet", text=TEXTS[3:])
    table(folder / "part-00000.parquet", text=TEXTS[:3])
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-00000.parquet.crc").write_bytes(b"\0crc")
    assert list(read_texts(str(folder))) == TEXTS
    assert [r["text"] for r in jsonl("segment", "--input", folder)] == TEXTS


def test_a_folder_of_parts_is_parquet_whatever_its_name(tmp_path):
    """Spark's output folder is often named without .parquet (`df.write.parquet("out")`): it was refused as
    "out is a directory; give a file"."""
    folder = tmp_path / "out"
    folder.mkdir()
    table(folder / "part-00000.parquet", text=TEXTS)
    (folder / "_SUCCESS").write_text("")
    assert list(read_texts(str(folder))) == TEXTS
    assert [r["text"] for r in jsonl("sentiment", "--input", folder)] == TEXTS
    (tmp_path / "empty").mkdir()
    line = one_error_line(invoke("sentiment", "--input", tmp_path / "empty"))
    assert line == f"Error: {tmp_path / 'empty'} is a folder without .parquet files; give a file, or a folder of " \
                   "Parquet files"


def test_a_large_file_is_streamed_and_written_in_row_groups(tmp_path):
    texts = [f"第{i}条评论很好" for i in range(40_000)]
    source = table(tmp_path / "big.parquet", row_group_size=10_000, text=texts)
    out = tmp_path / "words.parquet"
    ok("segment", "--input", source, "--output", out)
    written = pq.ParquetFile(out)
    assert written.metadata.num_rows == 40_000 and written.num_row_groups == 3  # 16,384 rows a group
    assert written.read_row_group(2).column("text").to_pylist() == texts[32_768:]
    assert written.read_row_group(0).column("tokens")[1].as_py() == ["第", "1", "条", "评论", "很", "好"]


def test_no_texts_make_an_empty_table_with_the_commands_columns(tmp_path):
    source = table(tmp_path / "empty.parquet", text=pa.array([], pa.string()))
    for command, columns in (("sentiment", ["text", "label", "score"]), ("predict-next", ["text", "predictions"]),
                             ("segment", ["text", "tokens"])):
        out = tmp_path / f"{command}.parquet"
        ok(command, "--input", source, "--output", out)
        assert pq.read_schema(out).names == columns and pq.ParquetFile(out).metadata.num_rows == 0


def test_other_outputs_get_the_format_lines(tmp_path):
    out = tmp_path / "labels.tsv"
    ok("sentiment", *TEXTS, "--format", "tsv", "--output", out)
    assert out.read_text(encoding="utf-8") == ok("sentiment", *TEXTS, "--format", "tsv").stdout


def test_an_output_is_written_whole_or_not_at_all(tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "很好"}\n' * 600 + "{not json\n", encoding="utf-8")
    kept = tmp_path / "kept.parquet"
    ok("sentiment", "很好", "--output", kept)
    before = kept.read_bytes()
    for out in (kept, tmp_path / "new.parquet", tmp_path / "new.txt"):
        line = one_error_line(invoke("sentiment", "--input", broken, "--output", out))
        assert "line 601: not valid JSON" in line
    assert kept.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.jsonl", "kept.parquet"]  # no partial file


@pytest.mark.parametrize("args, message, code", [
    (["--format", "tsv", "--output", "{tmp}/x.parquet"], "--format tsv does not apply to a .parquet --output", 2),
    (["--output", "{tmp}/no/such/folder/x.parquet"], "cannot write", 1),
    (["--output", "{tmp}"], "it is a folder", 1),
    (["--input", "{tmp}/missing.parquet"], "no such file", 1),
    (["--input", "{tmp}/fake.parquet"], "is not a readable Parquet file", 1),
    (["--input", "{tmp}/in.parquet", "--text-column", "正文"], "has no column '正文'; columns: '评论'", 1),
])
def test_bad_parquet_arguments_are_one_error_line(tmp_path, args, message, code):
    (tmp_path / "fake.parquet").write_text("text\n很好\n", encoding="utf-8")
    table(tmp_path / "in.parquet", 评论=["很好"])
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = invoke("sentiment", *(["好"] if "--input" not in args else []), *args)
    assert message in one_error_line(result, code)


def test_without_pyarrow_one_line_names_the_extra(tmp_path, monkeypatch):
    source = table(tmp_path / "in.parquet", 评论=["很好"])
    for name in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow raises ImportError
    line = one_error_line(invoke("sentiment", "--input", source))
    assert line == f"Error: reading {source} needs pyarrow, which is not installed: pip install 'zhseq[parquet]'"
    missing = tmp_path / "missing.parquet"  # a missing file is said as such, before the missing extra
    assert one_error_line(invoke("sentiment", "--input", missing)) == f"Error: no such file: {missing}"
    line = one_error_line(invoke("segment", "好", "--output", tmp_path / "out.parquet"))
    assert line.endswith("needs pyarrow, which is not installed: pip install 'zhseq[parquet]'")
    assert not (tmp_path / "out.parquet").exists()


def test_training_data_errors_name_parquet_rows(tmp_path):
    source = table(tmp_path / "train.parquet", 评论=["好"] * 300 + ["差"] * 300 + ["坏"] * 2,
                   标签=["positive"] * 300 + ["negative"] * 300 + ["postive"] * 2)
    with pytest.raises(ZhseqError, match=r"'postive' \(2 rows: \S*train.parquet row 601, \S*train.parquet row 602"):
        read_labelled(str(source), require_labels=True, allow_rare_labels=False)
