"""The command line, in-process with click's CliRunner: exit codes, stdout/stderr, one result per input.

One tiny sentiment model and one tiny language model are trained through the CLI once per module and
shared by the prediction, evaluation and fine-tuning tests.
"""

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from zhseq.cli import cli, output
from cli_helpers import invoke, ok

SPECIAL_TOKENS = {"<pad>", "<unk>", "<bos>", "<eos>"}
TINY = ["--embedding-size", "16", "--hidden-size", "16", "--min-freq", "1", "--quiet"]

SUBJECTS = ["这家餐厅", "这本书", "酒店", "服务", "手机"]
POSITIVE = ["很好", "喜欢", "推荐", "满意", "不错", "值得"]
NEGATIVE = ["很差", "失望", "退货", "糟糕", "难吃", "后悔"]


def assert_user_error(result, *fragments):
    """Exit code 1, exactly one `Error:` line, no traceback; the message names what is wrong."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def sentiment_rows(labels=("positive", "negative")):
    """Combinatorial two-word sentences: 5 subjects × 6 ordered word pairs per label."""
    words = {"positive": POSITIVE, "negative": NEGATIVE, "neutral": ["一般", "还行", "普通"]}
    rows = []
    for label in labels:
        pairs = list(itertools.permutations(words[label], 2))[:6]
        rows += [(f"{s}{a}，{b}", label) for s in SUBJECTS for a, b in pairs]
    return rows


def write_tsv(path, rows, header=("text", "label")):
    lines = ["\t".join(header)] + ["\t".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def lm_lines():
    days = ["今天", "明天", "昨天", "周末"]
    things = ["天气", "心情", "工作", "生活", "交通"]
    states = ["很好", "不错", "一般", "很差", "还行"]
    return [f"{d}{t}{s}。" for d, t, s in itertools.product(days, things, states)]  # 100 lines


def output_path(result):
    """The model folder train/finetune print as the last stdout line."""
    path = Path(result.stdout.strip().splitlines()[-1])
    assert (path / "config.json").is_file(), result.stdout
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_tsv(root / "sent.tsv", sentiment_rows())
    write_tsv(root / "three.tsv", sentiment_rows(("positive", "negative", "neutral")))
    (root / "lm.txt").write_text("\n".join(lm_lines()) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def sentiment_model(files):
    out = files / "run-sentiment"
    result = ok("train", "sentiment", "--data", files / "sent.tsv", "--out", out, "--epochs", "2", *TINY)
    return output_path(result)


@pytest.fixture(scope="module")
def lm_model(files):
    out = files / "run-lm"
    result = ok("train", "lm", "--data", files / "lm.txt", "--out", out, "--max-steps", "20", *TINY)
    return output_path(result)


# -- fast: no model ------------------------------------------------------------------------------


def test_module_help_imports_nothing_heavy():
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "zhseq.cli", "--help"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    for command in ("segment", "sentiment", "predict-next", "generate", "train", "finetune", "evaluate", "info"):
        assert command in proc.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert not imported & {"torch", "datasets", "sklearn", "zhseq.api", "zhseq.training.run", "zhseq.training.loop", "jieba"}


def test_every_command_help_has_an_example():
    for command in cli.commands:
        result = ok(command, "--help")
        assert f"zhseq {command}" in result.output.split("Example", 1)[1]


def test_training_option_defaults_are_the_configs():
    """Every train/finetune option named after a ModelConfig/FitConfig field takes its default from it
    (finetune: FINETUNE_DEFAULTS, and None for what the base model decides); cli/train.py writes no number."""
    from dataclasses import fields

    from zhseq.config import FINETUNE_DEFAULTS, FitConfig, ModelConfig, default_of

    owner = {f.name: cls for cls in (ModelConfig, FitConfig) for f in fields(cls)}
    for command, required, expected in (
        ("train", ["lm"], {}),
        # None: the base model's (batch size, n-gram C), or ULMFiT's with --unlabeled (discriminative lr, unfreezing)
        ("finetune", ["model"], {**FINETUNE_DEFAULTS, "batch_size": None, "ngram_c": None,
                                 "discriminative_lr": None, "gradual_unfreezing": None}),
    ):
        ctx = cli.commands[command].make_context(command, required + ["--data", "d", "--out", "o"])
        given = {name: value for name, value in ctx.params.items() if name in owner}
        assert len(given) >= (24 if command == "train" else 8), sorted(given)
        for name, value in given.items():
            assert value == expected.get(name, default_of(owner[name], name)), (command, name, value)
    source = (Path(__file__).parent.parent / "cli" / "train.py").read_text(encoding="utf-8")
    assert not re.search(r"default=[-\d.]", source) and not re.search(r"default: \d", source)


def test_segment_text_and_jsonl():
    result = ok("segment", "我爱北京天安门", "")
    assert result.stdout.splitlines() == ["我 爱 北京 天安门", ""]
    result = ok("segment", "--format", "jsonl", input="我爱北京天安门\n\n今天天气不错\n")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["我爱北京天安门", "", "今天天气不错"]
    assert rows[0]["tokens"] == ["我", "爱", "北京", "天安门"] and rows[1]["tokens"] == []


def test_texts_and_input_together_is_a_usage_error(files):
    result = invoke("segment", "你好", "--input", files / "lm.txt")
    assert result.exit_code == 2 and "not both" in result.output


def test_interrupt_and_closed_pipe_exit_quietly(monkeypatch):
    from zhseq.tokenizer import Tokenizer

    for exc, code in ((KeyboardInterrupt, 130), (BrokenPipeError, 141)):
        def boom(self, texts, exc=exc):
            raise exc()
            yield

        monkeypatch.setattr(Tokenizer, "cut_many", boom)
        result = invoke("segment", "你好")
        assert result.exit_code == code
        assert result.output == ""


# -- prediction --------------------------------------------------------------------------------


def test_sentiment_positional_texts(sentiment_model):
    texts = ["这家餐厅很好，喜欢", "酒店很差，失望"]
    result = ok("sentiment", "--model", sentiment_model, *texts)
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and result.stderr == ""
    for line, text in zip(lines, texts):
        label, score, shown = line.split("\t")
        assert label in {"positive", "negative"}
        assert 0.0 <= float(score) <= 1.0 and len(score.split(".")[1]) in (3, 4)
        assert shown == text


def test_sentiment_keeps_empty_lines_and_order(sentiment_model, files):
    texts = ["这本书很好，推荐", "", "手机糟糕，退货", "", "", "服务满意，值得"]
    path = files / "with-blanks.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    from_file = ok("sentiment", "-m", sentiment_model, "--input", path).stdout
    from_stdin = ok("sentiment", "-m", sentiment_model, "--batch-size", "2", input="\n".join(texts) + "\n").stdout
    dash = ok("sentiment", "-m", sentiment_model, "--input", "-", input="\n".join(texts) + "\n").stdout
    for out in (from_file, from_stdin, dash):
        assert [line.split("\t")[2] for line in out.splitlines()] == texts
    assert from_file == from_stdin == dash


def test_sentiment_formats(sentiment_model, files):
    texts = ["这家餐厅很好，喜欢", "", "酒店很差，失望"]
    rows = [json.loads(line) for line in ok("sentiment", "-m", sentiment_model, "--format", "jsonl", *texts).stdout.splitlines()]
    assert [r["text"] for r in rows] == texts
    assert all(set(r) == {"text", "label", "score"} for r in rows)
    assert rows[1]["label"] is None and rows[1]["score"] is None  # an empty text: no label
    assert all(0 <= r["score"] <= 1 for r in rows if r["text"])

    tsv = ok("sentiment", "-m", sentiment_model, "--format", "tsv", "a\tb", "c\nd").stdout.splitlines()
    assert tsv[0] == "label\tscore\ttext"
    assert [line.split("\t")[2] for line in tsv[1:]] == ["a b", "c d"]

    table = ok("sentiment", "-m", sentiment_model, "--input", files / "sent.tsv", "--text-column", "text")
    assert len(table.stdout.splitlines()) == len(sentiment_rows())


def test_predict_next(lm_model):
    result = ok("predict-next", "--model", lm_model, "-k", "3", "今天天气", "")
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    prefix, words = lines[0].split("\t")
    assert prefix == "今天天气" and len(words.split("  ")) == 3

    result = ok("predict-next", "--model", lm_model, "-k", "4", "--format", "jsonl", input="明天心情\n\n")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["明天心情", ""]
    for row in rows:
        assert len(row["predictions"]) == 4
        assert not {p["token"] for p in row["predictions"]} & SPECIAL_TOKENS
        assert all(0 <= p["score"] <= 1 for p in row["predictions"])

    everything = ["-k", "1000", "--format", "jsonl", "今天天气"]
    full = json.loads(ok("predict-next", "--model", lm_model, *everything).stdout)["predictions"]
    words = json.loads(ok("predict-next", "--model", lm_model, "--words-only", *everything).stdout)["predictions"]
    assert "。" in {p["token"] for p in full}  # every line of the corpus ends with it
    assert words == [p for p in full if any(c.isalnum() for c in p["token"])]


def test_generate(lm_model):
    once = ok("generate", "今天", "--model", lm_model, "-n", "5")
    assert len(once.stdout.splitlines()) == 1
    sampled = [ok("generate", "今天", "-m", lm_model, "--temperature", "1.0", "--seed", "3").stdout for _ in range(2)]
    assert sampled[0] == sampled[1]


# -- training ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_train_each_cell(files, cell):
    out = files / f"cell-{cell}"
    result = ok("train", "sentiment", "--data", files / "sent.tsv", "--out", out, "--cell", cell, "--max-steps", "3", *TINY)
    path = output_path(result)
    assert path == out / "model-best"
    assert result.stdout == f"{path}\n"
    info = json.loads(ok("info", path, "--format", "json").stdout)
    assert json.dumps(info, ensure_ascii=False).count(f'"{cell}"') >= 1


def test_train_head_and_stopping_options(files):
    out = files / "head-options"
    result = ok("train", "sentiment", "--data", files / "sent.tsv", "--out", out, "--epochs", "1", "--pooling", "mean",
                "--max-tokens", "3", "--patience", "1", *TINY)
    config = json.loads((output_path(result) / "config.json").read_text(encoding="utf-8"))
    assert (config["head"]["pooling"], config["head"]["max_tokens"], config["training"]["patience"]) == ("mean", 3, 1)
    lm = ok("train", "lm", "--data", files / "lm.txt", "--out", files / "bptt-option", "--bptt", "5", "--max-steps", "2",
            *TINY)
    assert json.loads((output_path(lm) / "config.json").read_text(encoding="utf-8"))["head"]["bptt"] == 5
    for task, data, option, name, owner in (("lm", "lm.txt", ["--pooling", "mean"], "pooling", "sentiment"),
                                            ("lm", "lm.txt", ["--max-tokens", "9"], "max_tokens", "sentiment"),
                                            ("sentiment", "sent.tsv", ["--bptt", "9"], "bptt", "lm")):
        wrong = files / f"wrong-{name}"
        result = invoke("train", task, "--data", files / data, "--out", wrong, *option, *TINY)
        assert_user_error(result, f"{name} is a setting of {owner} models only")
        assert not wrong.exists()
    result = invoke("train", "sentiment", "--data", files / "sent.tsv", "--out", files / "zero", "--max-tokens", "0", *TINY)
    assert result.exit_code == 2 and "--max-tokens" in result.output
    from zhseq.errors import ZhseqError
    from zhseq.training import train

    for name in ("max_tokens", "bptt", "patience"):
        with pytest.raises(ZhseqError, match=f"{name} must be a whole number ≥ 1"):
            train("sentiment", [str(files / "sent.tsv")], out=files / "lib-zero", progress=False, **{name: 0})
    assert not (files / "lib-zero").exists()


def test_train_reports_its_progress_on_stderr_and_quiet_silences_it(files):
    loud = ok("train", "sentiment", "--data", files / "sent.tsv", "--dev", files / "sent.tsv", "--out", files / "loud",
              "--epochs", "2", *[a for a in TINY if a != "--quiet"])
    lines = loud.stderr.replace("\r", "\n").splitlines()
    for start in ("tokenising ", "vocabulary: ", "n-grams: logistic regression over ",
                  "epoch 1: train loss ", "epoch 2: train loss ", "model-best: n-gram weight ", "best model (epoch "):
        assert sum(line.startswith(start) for line in lines) == 1, (start, loud.stderr)
    assert loud.stdout == f"{files / 'loud' / 'model-best'}\n"  # stdout: only the path
    quiet = ok("train", "sentiment", "--data", files / "sent.tsv", "--out", files / "quiet", "--epochs", "2", *TINY)
    assert quiet.stderr == "" and quiet.stdout == f"{files / 'quiet' / 'model-best'}\n"


def test_finetune_same_and_new_labels(files, sentiment_model, lm_model):
    same = ok("finetune", sentiment_model, "--data", files / "sent.tsv", "--out", files / "ft-same", "--max-steps", "3", "--min-freq", "1", "-q")
    output_path(same)

    three = ok("finetune", sentiment_model, "--data", files / "three.tsv", "--out", files / "ft-three", "--epochs", "2", "--min-freq", "1", "-q",
               "--new-labels")
    path = output_path(three)
    rows = [json.loads(line) for line in ok("sentiment", "-m", path, "--format", "jsonl", "一般", "很好").stdout.splitlines()]
    assert len(rows) == 2 and {r["label"] for r in rows} <= {"positive", "negative", "neutral"}
    info = json.loads(ok("info", path, "--format", "json").stdout)
    assert sorted(info["labels"]) == ["negative", "neutral", "positive"]

    lm = ok("finetune", lm_model, "--data", files / "lm.txt", "--out", files / "ft-lm", "--max-steps", "3", "-q")
    output_path(lm)


# -- evaluation and inspection -------------------------------------------------------------------


def test_evaluate_sentiment(sentiment_model, files):
    text = ok("evaluate", sentiment_model, "--data", files / "sent.tsv").stdout
    for word in ("accuracy", "macro-F1", "precision", "recall", "support", "confusion", "positive", "negative"):
        assert word in text
    metrics = json.loads(ok("evaluate", sentiment_model, "--data", files / "sent.tsv", "--format", "json").stdout)
    assert {"accuracy", "macro_f1", "per_label", "confusion_matrix", "labels"} <= set(metrics)
    assert 0 <= metrics["accuracy"] <= 1 and 0 <= metrics["macro_f1"] <= 1


def test_evaluate_lm(lm_model, files):
    text = ok("evaluate", lm_model, "--data", files / "lm.txt").stdout
    for word in ("perplexity", "top-1", "top-5"):
        assert word in text
    metrics = json.loads(ok("evaluate", lm_model, "--data", files / "lm.txt", "--format", "json").stdout)
    assert {"perplexity", "top1", "top5"} <= set(metrics) and metrics["perplexity"] > 1


def test_info(sentiment_model, lm_model):
    text = ok("info", sentiment_model).stdout
    for word in ("sentiment", "lstm", "positive", "negative", "parameters", "vocab"):
        assert word in text
    details = json.loads(ok("info", sentiment_model, "--format", "json").stdout)
    assert re.search(r"n-gram half +words 1-2 and characters 1-3, 524,288 buckets, weight "
                     + re.escape(str(details["head"]["ngram_weight"])), text)
    assert details["dev_scores"] is None and "dev during training" not in text  # too few texts to hold any out
    assert "lm" in ok("info", lm_model.parent).stdout  # a training output folder works too
    details = json.loads(ok("info", lm_model, "--format", "json").stdout)
    assert details["task"] == "lm" and details["n_parameters"] > 0 and details["vocab_size"] > 4
    shipped = invoke("info")
    assert "Traceback" not in shipped.output
    assert shipped.exit_code == 0 and shipped.stdout.strip()


def test_measured_scores_read_as_percentages():
    from zhseq.cli.inspection import _info_report, _score_groups

    report = _info_report({"task": "sentiment", "dev_scores": {"n": 1200, "accuracy": 0.94583, "macro_f1": 0.9458},
                           "scores": {"chnsenticorp": {"test": {"accuracy": 0.9325}}}})
    assert [re.sub(" +", " ", line) for line in report] == [
        "task sentiment",
        "measured chnsenticorp test accuracy 93.25 %",
        "dev during training (best epoch) accuracy 94.58 %, macro-F1 94.58 %",
    ]
    scores = {"chnsenticorp": {"test": {"n": 1200, "accuracy": 0.9325, "macro_f1": 0.93248},
                               "dev": {"accuracy": 0.945}},
              "peoples_daily_test": {"perplexity": 267.5747, "top1": 0.18891, "top5": 0.34133, "n_tokens": 49010}}
    shown = [(name, output.metrics(group)) for name, group in _score_groups(scores)]
    assert shown == [
        ("chnsenticorp test", "accuracy 93.25 %, macro-F1 93.25 % (1,200 texts)"),
        ("chnsenticorp dev", "accuracy 94.50 %"),
        ("peoples_daily_test", "perplexity 267.6, top-1 18.89 %, top-5 34.13 % (49,010 targets)"),
    ]
    assert output.metrics({"accuracy": 0.5, "loss": 0.25}) == "accuracy 50.00 %, loss 0.25"  # unknown keys as they are


# -- user errors: one `Error:` line, exit code 1, nothing left behind ------------------------------


def _bad_tables(root):
    rows = sentiment_rows()
    write_tsv(root / "no-text.tsv", rows, header=("comment", "label"))
    write_tsv(root / "no-label.tsv", rows, header=("text", "score"))
    write_tsv(root / "empty-labels.tsv", [(text, "" if i % 7 == 0 else label) for i, (text, label) in enumerate(rows)])
    (root / "empty.txt").write_text("", encoding="utf-8")
    (root / "empty.tsv").write_text("text\tlabel\n", encoding="utf-8")


@pytest.mark.parametrize(
    "task, data, extra, fragments",
    [
        ("sentiment", "missing.tsv", [], ["missing.tsv"]),
        ("sentiment", "no-text.tsv", [], ["text column", "--text-column"]),
        ("sentiment", "no-label.tsv", [], ["label column", "--label-column"]),
        ("sentiment", "empty-labels.tsv", [], []),
        ("sentiment", "empty.tsv", [], []),
        ("lm", "empty.txt", [], []),
        ("sentiment", "sent.tsv", ["--cell", "transformer"], ["transformer", "rnn", "lstm", "gru"]),
        ("lm", "lm.txt", ["--bidirectional", "--layers", "2"], ["one layer"]),
    ],
)
def test_train_user_errors(files, task, data, extra, fragments):
    _bad_tables(files)
    out = files / f"bad-{data}-{len(extra)}"
    result = invoke("train", task, "--data", files / data, "--out", out, "--max-steps", "2", *extra, *TINY)
    assert_user_error(result, *fragments)
    assert not (out / "model-best").exists()


def test_prediction_user_errors(files, sentiment_model, lm_model):
    not_a_model = files / "not-a-model"
    not_a_model.mkdir(exist_ok=True)
    (not_a_model / "notes.txt").write_text("hello", encoding="utf-8")
    assert_user_error(invoke("sentiment", "--model", files / "no-such-model", "很好"), "no-such-model")
    assert_user_error(invoke("sentiment", "--model", not_a_model, "很好"), "not-a-model")
    assert_user_error(invoke("predict-next", "--model", sentiment_model, "今天"))  # wrong task
    assert_user_error(invoke("sentiment", "--model", sentiment_model, "--input", files / "nope.txt"), "nope.txt")
    assert_user_error(invoke("segment", "--input", files / "nope.txt"), "nope.txt")
    assert_user_error(invoke("segment", "--user-dict", files / "nope.dict", "你好"), "nope.dict")
    assert_user_error(invoke("evaluate", lm_model, "--data", files / "nope.txt"), "nope.txt")
    assert_user_error(invoke("info", not_a_model))
    out = files / "ft-missing"
    assert_user_error(invoke("finetune", files / "no-such-model", "--data", files / "sent.tsv", "--out", out, "-q"))
    assert not (out / "model-best").exists()


@pytest.mark.parametrize("args", [
    ["evaluate", "sentiment", "--data", "a.tsv", "--plot", "a.png", "--plot", "b.png"],
    ["train", "sentiment", "--data", "a.tsv", "--dev", "a.tsv", "--dev", "b.tsv", "--out", "x"],
    ["train", "sentiment", "--data", "a.tsv", "--out", "x", "--out", "y"],
    ["sentiment", "-m", "sentiment", "--model", "other", "好"],
    ["segment", "-o", "a.txt", "--output", "b.txt", "好"],
])
def test_a_single_file_option_given_twice_is_a_usage_error(args):
    """click keeps the last of several: `train --dev a --dev b` picked epochs on b alone, in silence."""
    from cli_helpers import one_error_line

    line = one_error_line(invoke(*args), code=2)
    assert re.search(r"was given more than once; it takes one (FILE|DIR)", line), line


def test_other_options_given_twice_keep_the_last():
    """As argparse: a wrapper's defaults, then the caller's override."""
    out = ok("segment", "--format", "jsonl", "--format", "text", "我爱北京").stdout
    assert out == "我 爱 北京\n"


def test_evaluate_scores_every_data_file(tmp_path):
    """`evaluate --data a --data b` scored b alone (a user check); now both, as the Python API does."""
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("text,label\n这家餐厅的菜很好吃,positive\n", encoding="utf-8")
    b.write_text("text,label\n等了一个小时，太失望了,negative\n服务很好,positive\n", encoding="utf-8")
    result = json.loads(ok("evaluate", "sentiment", "--data", a, "--data", b, "--format", "json").stdout)
    assert result["n"] == 3 and result["data"] == [str(a), str(b)]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_stops_a_scoring_run_as_ctrl_c_does(tmp_path, workers):
    """SIGTERM (a process manager's stop) killed the command outright: its --workers processes lived on,
    adopted by PID 1, and a hidden .partial file stayed beside --output. Now: exit 143, the partial file
    removed, and no process of the run left."""
    import signal
    import time

    source = tmp_path / "many.txt"
    source.write_text("这家餐厅的菜很好吃，服务也周到，下次还来\n" * 400_000, encoding="utf-8")
    folder = tmp_path / "out"
    folder.mkdir()
    run = subprocess.Popen([sys.executable, "-m", "zhseq.cli", "sentiment", "--input", str(source), "--output",
                            str(folder / "labels.txt"), "--workers", workers], start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(folder.glob(".*.partial")) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2 if workers == "2" else 0.5)  # the workers started and scoring
    assert run.poll() is None, "the run ended before it could be stopped: give it more text"
    run.send_signal(signal.SIGTERM)
    assert run.wait(60) == 143, run.stderr.read().decode()
    assert list(folder.iterdir()) == []
    deadline = time.monotonic() + 15  # the workers finish the batch they hold, then exit
    while live_processes_of_group(run.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live_processes_of_group(run.pid) == []  # no worker lives on
    assert "Traceback" not in run.stderr.read().decode()


def live_processes_of_group(group: int) -> list[int]:
    """The processes of process group ``group`` that still run (a zombie waiting for its parent to reap it
    does not), from /proc."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            live.append(int(stat.parent.name))
    return live


def test_a_batch_size_beyond_any_memory_is_a_usage_error():
    """--batch-size 99999999999999999999 was a ValueError traceback from itertools.islice."""
    result = invoke("sentiment", "--batch-size", "99999999999999999999", "好")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "batch_size must be a whole number from 1 to 1,000,000" in result.stderr


def test_more_workers_than_cores_are_cut_to_the_cores(monkeypatch):
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    from zhseq.cli.options import _plan_workers

    assert _plan_workers(3, iter(["a"]), 256)[0] == 2
    assert _plan_workers(2, iter(["a"]), 256)[0] == 2
    result = ok("sentiment", "--workers", "64", "很好")
    assert result.stdout.startswith("positive\t")
    assert "zhseq: --workers 64 is more than the 2 available cores: using 2" in result.stderr


@pytest.mark.parametrize("command", ["sentiment", "segment", "predict-next", "generate"])
def test_a_lone_dash_is_not_scored_as_text(command):
    """`printf … | zhseq sentiment -` scored the dash and left the piped lines unread, with exit 0."""
    result = invoke(command, "-", input="很好\n")
    assert result.exit_code == 2 and result.stdout == ""
    assert "'-' is not a text to score: standard input is read when no TEXT is given (or with --input -)" in (
        result.stderr)


def test_a_long_run_whose_results_go_to_a_file_counts_on_a_terminal(tmp_path):
    """predict-next over 20,000 lines into --output ran 25 s with nothing on the screen. With stderr a terminal
    and the results elsewhere, a count of the texts done is drawn there, and removed at the end; with stderr
    not a terminal (a log) nothing is written."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import termios

    source = tmp_path / "many.txt"
    source.write_text("很好\n太差了\n" * 20_000, encoding="utf-8")
    command = [sys.executable, "-m", "zhseq.cli", "sentiment", "--input", str(source), "--output",
               str(tmp_path / "labels.txt"), "--workers", "1", "--batch-size", "64"]
    main, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    run = subprocess.Popen(command, stderr=terminal, stdout=subprocess.DEVNULL)
    os.close(terminal)
    drawn = b""
    while True:
        if select.select([main], [], [], 0.5)[0]:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the run ended and closed the terminal
                break
            if not chunk:
                break
            drawn += chunk
        elif run.poll() is not None:
            break
    assert run.wait(60) == 0
    assert re.search(rb"done: \d+ texts \[\d\d:\d\d, [\d.]+ texts/s\]", drawn), drawn[-300:]
    assert drawn.rstrip(b" \r").endswith(b"texts/s]")  # then cleared: the last thing drawn is blanks
    logged = subprocess.run(command, capture_output=True)
    assert logged.returncode == 0 and logged.stderr == b""


def test_a_live_pipe_is_scored_line_by_line():
    """`tail -f log | zhseq sentiment --batch-size 1` held its lines back until 8 KiB had arrived or the input
    ended: the reader waited for a full sniff of the stream before yielding its first line."""
    import select

    run = subprocess.Popen([sys.executable, "-m", "zhseq.cli", "sentiment", "--batch-size", "1", "--workers", "1"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for text, label in [("很好", b"positive"), ("太差了", b"negative")]:
            run.stdin.write((text + "\n").encode())
            run.stdin.flush()
            assert select.select([run.stdout], [], [], 60)[0], f"no answer to {text!r} while the pipe stays open"
            assert run.stdout.readline().startswith(label + b"\t")
    finally:
        run.stdin.close()
        run.wait(30)
    assert run.returncode == 0
