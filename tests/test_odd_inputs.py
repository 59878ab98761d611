"""Every input line gets exactly one output line, in order, whatever it holds (issue: bad input, nothing lost)."""

import json

import pytest
from click.testing import CliRunner

from zhseq.cli import cli

ODD = ["", "   ", "\t", "😀😀😀", "hello world 123", "ＡＢＣ１２３", "控制\x01字符\x1f", "这家餐厅的菜很好吃",
       "很好" * 50000, "﻿带BOM的行", "a\u200bb", "é" * 10, "繁體中文的評論，服務很好"]


@pytest.fixture
def odd_file(tmp_path):
    path = tmp_path / "odd.txt"
    path.write_text("\n".join(ODD) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("command", [["sentiment"], ["predict-next", "-k", "2"], ["segment"]])
def test_one_line_out_per_line_in(odd_file, command):
    result = CliRunner().invoke(cli, [*command, "--input", str(odd_file), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["text"] for r in rows] == ODD  # a U+FEFF inside the file (not at byte 0) is text


def test_invalid_utf8_is_replaced_with_a_warning_and_binary_is_refused(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes("很好\n".encode() + b"\xff\xfe broken\n" + "太差\n".encode())
    result = CliRunner().invoke(cli, ["sentiment", "--input", str(bad)])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and "\ufffd" in lines[1]
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    result = CliRunner().invoke(cli, ["sentiment", "--input", str(binary)])
    assert result.exit_code == 1 and "binary" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("args", [["sentiment", "--bogus", "x"], ["nosuch"], ["--bogus"], ["train", "sentiment", "--data", "x",
                                   "--out", "y", "--epochs", "-3"], ["sentiment", "--neutral-band", "0.7", "x"]])
def test_usage_errors_are_one_line(args):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "--help" in lines[0], result.output


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_the_python_api_names_a_text_that_is_not_a_str(engine):
    """None (pandas' missing values), bytes or a number: a TypeError from deep inside the tokenizer before,
    or for one bytes string `... not int`; now one ZhseqError naming the item, on every entry point."""
    import math

    from zhseq.errors import ZhseqError
    from zhseq.pipeline import load

    if engine == "torch":
        pytest.importorskip("torch")
    clf, lm = load(task="sentiment", engine=engine), load(task="lm", engine=engine)
    entry_points = {"texts": [clf, clf.predict_proba, lambda t: list(clf.predict_stream(t))],
                    "prefixes": [lm.predict_next, lm.generate]}
    for what, calls in entry_points.items():
        for call in calls:
            for bad, message in ((["ok", None], f"{what}[1] is None, not a str"),
                                 (["ok", math.nan], f"{what}[1] is NaN (a missing value: drop or fill it first)"),
                                 ([b"x"], f"{what}[0] is bytes (decode it first"),
                                 (b"abc", "must be a str or an iterable of str, not bytes"),
                                 (5, "must be a str or an iterable of str, not int 5"),
                                 (None, "must be a str or an iterable of str, not None")):
                with pytest.raises(ZhseqError) as e:
                    call(bad)
                assert message in str(e.value), (call, bad, str(e.value))
    # generate takes several prefixes as predict_next does: each with the seed on its own, as the CLI
    assert lm.generate(["这本书", "请问"], n=5) == [lm.generate("这本书", n=5), lm.generate("请问", n=5)]
    assert lm.generate(iter(["这本书"]), n=3, temperature=1.0, seed=4) == [lm.generate("这本书", n=3,
                                                                                    temperature=1.0, seed=4)]


def test_the_python_api_names_data_that_is_not_file_names():
    pytest.importorskip("torch")
    from zhseq import evaluate, train
    from zhseq.errors import ZhseqError

    for data, message in ((None, "not NoneType"), (5, "not int"), (["a.tsv", None], "the list holds NoneType")):
        with pytest.raises(ZhseqError, match=message):
            evaluate("sentiment", data)
        with pytest.raises(ZhseqError, match=message):
            train("sentiment", data, "never-written")


def test_a_folder_holding_an_unfinished_run_says_so(tmp_path):
    from cli_helpers import invoke, one_error_line

    run = tmp_path / "run"
    (run / "checkpoint").mkdir(parents=True)
    line = one_error_line(invoke("info", run))
    assert line.endswith("it holds a training run that has not finished an epoch yet: continue it with the same "
                         "command and --resume")
    (run / "checkpoint").rmdir()
    assert "--resume" not in one_error_line(invoke("info", run))
