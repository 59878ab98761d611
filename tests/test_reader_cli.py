"""One reader for every command (issue 13, real-input cases a, b, c, g): `sentiment --input`, `evaluate` and
`train` read a file into the same rows, and a broken file is the same one `Error:` line in each of them.

Prediction and evaluation use the shipped sentiment model; one test trains a tiny model.
"""

import collections
import gzip
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import zhseq
from zhseq.data import read_labelled
from cli_helpers import invoke, ok, one_error_line

SHIPPED = Path(zhseq.__file__).parent / "models" / "sentiment"
TINY = ["--embedding-size", "16", "--hidden-size", "16", "--min-freq", "1", "--quiet"]

CASE_A = '{"text":"很好","label":"positive"}\n{"text":"太差","label":"negative"}\n{"text":404,"label":"positive"}\n'
CASE_A_INT_LABEL = '{"text":"很好","label":"positive"}\n{"text":"太差","label":"negative"}\n{"text":"不错","label":1}\n'
CASE_B = "text,label\n很好,positive,2024-01-01\n太差,negative,2024-01-02\n不错,positive,2024-01-03\n"
CASE_B_TRAILING = "text,label\n很好,positive,\n太差,negative,\n不错,positive,\n"
CASE_C = 'text,label\n"很好,positive\n太差,negative\n不错,positive\n'


def write(path, content):
    data = content.encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def predicted_texts(path):
    out = ok("sentiment", "--model", SHIPPED, "--input", path, "--format", "jsonl").stdout
    return [json.loads(line)["text"] for line in out.splitlines()]


def evaluated(path):
    return json.loads(ok("evaluate", SHIPPED, "--data", path, "--format", "json").stdout)


@pytest.mark.parametrize("name, content, texts, labels", [
    ("a.jsonl", CASE_A, ["很好", "太差", "404"], ["positive", "negative", "positive"]),
    ("a-int-label.jsonl", CASE_A_INT_LABEL, ["很好", "太差", "不错"], ["positive", "negative", "1"]),
    ("b.csv", CASE_B, ["很好", "太差", "不错"], ["positive", "negative", "positive"]),
    ("b-trailing.csv", CASE_B_TRAILING, ["很好", "太差", "不错"], ["positive", "negative", "positive"]),
    ("b.tsv.gz", CASE_B.replace(",", "\t"), ["很好", "太差", "不错"], ["positive", "negative", "positive"]),
])
def test_prediction_and_evaluation_read_the_same_rows(tmp_path, caplog, name, content, texts, labels):
    path = write(tmp_path / name, content)
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        assert predicted_texts(path) == texts
        data = read_labelled(str(path), require_labels=True)  # what train and evaluate read
    assert data == {"texts": texts, "labels": labels}
    extra = [r for r in caplog.records if "more fields than the header" in r.getMessage()]
    assert len(extra) == (2 if name.startswith("b") else 0)  # once per command that read the file
    if "1" in labels:  # "1" is not a label of the model: evaluate names it (as written, not '"1"')
        result = invoke("evaluate", SHIPPED, "--data", path)
        line = one_error_line(result)
        assert ": 1 " in line and '"1"' not in line, line
        return
    metrics = evaluated(path)
    assert metrics["n"] == len(texts)
    assert {label: m["support"] for label, m in metrics["per_label"].items()} == collections.Counter(labels)


def test_case_a_evaluate_scores_the_texts_as_written(tmp_path):
    # The shipped model gets 很好/太差 right; read as JSON-escaped text ("\u5f88\u597d") it did not.
    metrics = evaluated(write(tmp_path / "a.jsonl", CASE_A.replace("404", '"不错"')))
    assert metrics["accuracy"] == 1.0


def test_case_b_train_reads_by_the_header(tmp_path):
    rows = [("这家餐厅很好，喜欢", "positive"), ("酒店很差，失望", "negative"), ("服务不错，满意", "positive"),
            ("手机糟糕，后悔", "negative")] * 10
    path = write(tmp_path / "dated.csv",
                 "text,label\n" + "".join(f"{t},{lb},2024-01-{i % 28 + 1:02d}\n" for i, (t, lb) in enumerate(rows)))
    out = tmp_path / "run"
    ok("train", "sentiment", "--data", path, "--out", out, "--max-steps", "2", *TINY)
    configs = list(out.rglob("config.json"))
    assert configs
    for config in configs:
        assert json.loads(config.read_text(encoding="utf-8"))["labels"] == ["negative", "positive"]


@pytest.mark.parametrize("name", ["c.csv", "c.csv.gz"])
def test_case_c_unterminated_quote_is_the_same_error_in_every_command(tmp_path, name):
    path = write(tmp_path / name, CASE_C)
    expected = f"Error: {path}, line 2: a quoted field is never closed"
    assert one_error_line(invoke("sentiment", "--model", SHIPPED, "--input", path)) == expected
    assert one_error_line(invoke("evaluate", SHIPPED, "--data", path)) == expected
    out = tmp_path / "run"
    assert one_error_line(invoke("train", "sentiment", "--data", path, "--out", out, *TINY)) == expected
    assert not (out / "model-best").exists()


def test_case_g_evaluate_on_a_badly_quoted_csv_prints_one_line(tmp_path):
    """Run as a user would (a real process, real stderr): only the `Error:` line, no library line, no blank."""
    path = write(tmp_path / "bad.csv", CASE_C)
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    done = subprocess.run([sys.executable, "-m", "zhseq.cli", "evaluate", str(SHIPPED), "--data", str(path)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [f"Error: {path}, line 2: a quoted field is never closed"]
    assert "datasets" not in done.stderr and "pandas" not in done.stderr


def test_evaluate_warns_once_about_extra_fields_on_real_stderr(tmp_path):
    path = write(tmp_path / "b.csv", CASE_B)
    done = subprocess.run([sys.executable, "-m", "zhseq.cli", "evaluate", str(SHIPPED), "--data", str(path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [f"{path}, line 2: 3 row(s) have more fields than the header (2 columns); "
                                        "read by the header, the extra fields ignored"]


def test_a_text_column_named_for_plain_text_is_said_to_not_apply(tmp_path):
    """`--text-column 评论` on an export saved as .txt was taken without a word, and its header line scored as a
    review."""
    path = write(tmp_path / "export.txt", "评论\t情感\n很好吃\t1\n")
    result = ok("sentiment", "--input", path, "--text-column", "评论")
    assert len(result.stdout.splitlines()) == 2  # every line is a text, as documented
    assert result.stderr.splitlines() == [
        f"{path} is plain text, one text a line (a table needs the extension .csv, .tsv, .jsonl or .parquet): "
        "--text-column 评论 does not apply to it, and a header line is read as a text"]
    assert ok("sentiment", "--input", path).stderr == ""


def test_several_inputs_are_read_in_order_and_a_bad_one_fails_before_any_output(tmp_path):
    """A second --input was silently dropped (click kept the last one)."""
    first = write(tmp_path / "a.txt", "很好\n不错\n")
    second = write(tmp_path / "b.csv", "评论\n太差\n")
    assert predicted_texts_of(["--input", first, "--input", second]) == ["很好", "不错", "太差"]
    assert predicted_texts_of(["-i", second, "-i", "-"], input="一般\n") == ["太差", "一般"]
    line = one_error_line(invoke("sentiment", "--model", SHIPPED, "-i", first, "-i", tmp_path / "missing.txt"))
    assert "missing.txt" in line
    assert "once" in one_error_line(invoke("segment", "-i", "-", "-i", "-", input="好\n"), code=2)
    for command in ("segment", "predict-next", "generate"):
        out = ok(command, "--input", first, "--input", second, "--format", "jsonl").stdout
        assert [json.loads(line)["text"] for line in out.splitlines()] == ["很好", "不错", "太差"], command


def predicted_texts_of(args, input=None):
    out = ok("sentiment", "--model", SHIPPED, *args, "--format", "jsonl", input=input).stdout
    return [json.loads(line)["text"] for line in out.splitlines()]


def test_four_texts_sharing_no_ngram_train_a_model(tmp_path):
    """No n-gram in two texts: the n-gram half had no column and scikit-learn raised a traceback."""
    data = write(tmp_path / "four.csv", "text,label\n很好,positive\n太差,negative\n不错,positive\n糟糕,negative\n")
    ok("train", "sentiment", "--data", data, "--out", tmp_path / "m", "--max-steps", "1", *TINY)
    out = ok("sentiment", "--model", tmp_path / "m", "--format", "jsonl", "很好", "随便").stdout
    assert len(out.splitlines()) == 2


def test_init_backbone_refuses_a_setting_it_would_override(tmp_path):
    """`--hidden-size 64 --init-backbone B` (B of 16) gave a model of 16, and --t2s was dropped, in silence."""
    data = write(tmp_path / "lm.txt", "今天天气很好\n我们去公园\n" * 20)
    backbone = tmp_path / "b"
    ok("train", "lm", "--data", data, "--out", backbone, "--max-steps", "1", *TINY)
    labelled = write(tmp_path / "l.csv", "text,label\n" + "今天很好,positive\n今天很差,negative\n" * 10)
    for option in (["--hidden-size", "64"], ["--cell", "gru"], ["--t2s"], ["--embedding-size", "32"]):
        line = one_error_line(invoke("train", "sentiment", "--data", labelled, "--out", tmp_path / "s",
                                     "--init-backbone", backbone, "--max-steps", "1", "--quiet", *option))
        assert f"{' '.join(option)}: a model started from --init-backbone" in line, line
    # the backbone's own value, or the option left out, is fine
    ok("train", "sentiment", "--data", labelled, "--out", tmp_path / "s", "--init-backbone", backbone,
       "--max-steps", "1", "--quiet", "--hidden-size", "16")


def test_output_named_jsonl_or_gz_can_be_read_back(tmp_path):
    """`--output o.jsonl` wrote text lines and `o.jsonl.gz` plain text: zhseq could not read its own output."""
    out = tmp_path / "o.jsonl"
    ok("sentiment", "--model", SHIPPED, "很好", "太差", "--output", out)
    assert [json.loads(line)["text"] for line in out.read_text(encoding="utf-8").splitlines()] == ["很好", "太差"]
    packed = tmp_path / "o.jsonl.gz"
    ok("sentiment", "--model", SHIPPED, "很好", "--output", packed, "--format", "jsonl")
    assert json.loads(gzip.decompress(packed.read_bytes()))["label"] == "positive"
    assert predicted_texts(packed) == ["很好"]
    words = tmp_path / "w.txt.gz"
    ok("segment", "我爱北京", "--output", words)
    assert gzip.decompress(words.read_bytes()).decode() == "我 爱 北京\n"
    line = one_error_line(invoke("sentiment", "--model", SHIPPED, "好", "--output", out, "--format", "tsv"), code=2)
    assert "--format tsv does not fit a .jsonl --output" in line


def test_output_writes_through_links_and_special_files_and_keeps_permissions(tmp_path):
    """--output wrote beside the path and renamed over it: a link became a file, a named pipe (and, as root,
    /dev/null) a regular file, and an existing file lost its permissions. It now behaves as `>` in a shell."""
    import stat
    import threading

    real, link = tmp_path / "real.txt", tmp_path / "link.txt"
    real.write_text("old\n", encoding="utf-8")
    link.symlink_to(real.name)
    ok("segment", "我爱北京", "--output", link)
    assert link.is_symlink() and real.read_text(encoding="utf-8") == "我 爱 北京\n"
    private = tmp_path / "private.txt"
    private.write_text("old\n", encoding="utf-8")
    private.chmod(0o600)
    ok("segment", "你好", "--output", private)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and private.read_text(encoding="utf-8") == "你好\n"
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    got = []
    reader = threading.Thread(target=lambda: got.append(pipe.read_text(encoding="utf-8")))
    reader.start()
    ok("segment", "你好", "--output", pipe)
    reader.join(10)
    assert got == ["你好\n"] and stat.S_ISFIFO(pipe.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.txt", "pipe", "private.txt", "real.txt"]  # no .partial


@pytest.mark.parametrize("task, options, words", [
    ("lm", ["--ngram-c", "3"], "ngram_c is a setting of sentiment models only"),
    ("lm", ["--no-ngrams"], "ngrams is a setting of sentiment models only"),
    ("lm", ["--allow-rare-labels", "--label-column", "x"], "label_column and allow_rare_labels are settings of sentiment"),
    ("lm", ["--label-map", "a=b"], "--label-map is for sentiment data"),
    ("sentiment", ["--no-ngrams", "--ngram-nb", "0"], "ngram_nb is a setting of the n-gram half, which this model"),
])
def test_an_option_the_run_would_ignore_is_refused(tmp_path, task, options, words):
    """`train lm --ngram-c 3` and the like were accepted and ignored, while --pooling on an lm was refused."""
    data = write(tmp_path / ("d.txt" if task == "lm" else "d.csv"),
                 "今天天气很好\n" * 10 if task == "lm" else "text,label\n" + "很好,positive\n很差,negative\n" * 5)
    line = one_error_line(invoke("train", task, "--data", data, "--out", tmp_path / "m", *TINY, *options))
    assert words in line, line
    assert not (tmp_path / "m").exists()
