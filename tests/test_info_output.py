"""What the command line shows a reader: tables aligned by display width (a Chinese character takes two terminal
columns), ``zhseq info``'s account of a model's training data, and training progress on a stderr that is not
a terminal."""

import re
import unicodedata

import pytest

from cli_helpers import ok
from zhseq.cli import output

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def columns(text):
    """Terminal columns of ASCII and CJK text, counted here independently of zhseq (wide and fullwidth: 2)."""
    assert all(c.isascii() or unicodedata.east_asian_width(c) in "WFNa" for c in text), text
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def value_columns(lines):
    """For each ``key  value`` line: the terminal column where its value starts (the key holds single spaces at
    most, the gap two or more)."""
    starts = []
    for line in lines:
        match = re.match(r"(\s*\S+(?: \S+)*)( {2,})\S", line)
        assert match, line
        starts.append(columns(match.group(1) + match.group(2)))
    return starts


# -- 1. tables padded by display width ------------------------------------------------------------------------
def test_a_table_pads_chinese_cells_by_display_width():
    lines = output.table([["label", "F1"], ["好评", "0.9"], ["negative", "0.75"], ["差", "1"]], right={1})
    assert lines == [
        "label       F1",
        "好评       0.9",
        "negative  0.75",
        "差           1",
    ]
    assert {columns(line) for line in lines} == {14}


def test_zero_width_characters_take_no_column_and_an_emoji_sequence_two():
    assert output.display_width("好评") == 4
    assert output.display_width("\u200b好\ufeff") == 2  # a zero-width space and a byte-order mark
    assert output.display_width("e\u0301") == 1  # a combining accent
    assert output.display_width("👨\u200d👩\u200d👧") == 2  # one emoji joined by ZWJ
    assert output.display_width("❤\ufe0f") == 2  # a narrow symbol made an emoji by its variation selector
    assert output.display_width("a\x1bb") == 2  # a control character: none, and no error
    assert output.table([["a\tb", "x\ny"]]) == ["a b  x y"]  # a row stays one line


@pytest.fixture(scope="module")
def chinese_model(tmp_path_factory):
    """A tiny sentiment model folder (random weights) with Chinese labels, a Chinese label-map key and a Chinese
    folder name, and a labelled file in its labels."""
    import torch

    from zhseq.checkpoint import save_model
    from zhseq.config import BackboneConfig, SentimentConfig
    from zhseq.modeling import SentimentNet
    from zhseq.tokenizer import Tokenizer
    from zhseq.vocab import Vocab

    root = tmp_path_factory.mktemp("info")
    torch.manual_seed(0)
    vocab = Vocab.build([["很", "好"], ["太", "差"]], min_freq=1)
    net = SentimentNet(SentimentConfig(BackboneConfig(len(vocab), 4, 4), num_labels=2))
    config = {"task": "sentiment", **net.config.to_dict(), "labels": ["好评", "差评"],
              "tokenizer": Tokenizer().to_dict(),
              "training": {"command": "train", "data": ["评论.tsv"], "label_map": {"好": "好评", "bad": "差评"}}}
    folder = save_model(root / "模型", config=config, module=net, vocab=vocab)
    data = root / "评论.tsv"
    data.write_text("label\ttext\n好评\t很好\n差评\t太差\n好评\t好\n", encoding="utf-8")
    return folder, data


def test_info_lines_up_its_values_with_chinese_keys_labels_and_paths(chinese_model):
    folder, _ = chinese_model
    lines = ok("info", folder).stdout.splitlines()
    assert any("好评, 差评" in line for line in lines)
    assert any(line.startswith("training.label_map.好 ") for line in lines)
    starts = value_columns(lines)
    assert len(set(starts)) == 1, "\n".join(f"{s:3d} {line}" for s, line in zip(starts, lines))


def test_evaluate_lines_up_its_per_label_table_and_matrix_with_chinese_labels(chinese_model):
    folder, data = chinese_model
    text = ok("evaluate", folder, "--data", data).stdout
    summary, per_label, matrix = text.strip().split("\n\n")
    assert len(set(value_columns(summary.splitlines()))) == 1
    rows = per_label.splitlines()
    assert rows[0].split() == ["label", "precision", "recall", "F1", "support"]
    assert [row.split()[0] for row in rows[1:]] == ["好评", "差评"]
    assert len({columns(row) for row in rows}) == 1  # every column right-aligned to the same edge
    grid = matrix.splitlines()[1:]  # after the caption
    assert grid[0].split()[-2:] == ["好评", "差评"]
    assert len({columns(row) for row in grid}) == 1


# -- 2. info on finetune --unlabeled's outputs: what each model read --------------------------------------------
@pytest.fixture(scope="module")
def ulmfit_run(two_label_tsv, tmp_path_factory):
    """``zhseq finetune BASE --data labelled.tsv --unlabeled raw.txt --out OUT``, as small as it runs: a tiny base
    classifier (as tests/test_ulmfit.py's), 120 unlabelled texts, one epoch per stage."""
    from zhseq.training import train

    root = tmp_path_factory.mktemp("ulmfit")
    base = train("sentiment", str(two_label_tsv), root / "base", epochs=1, embedding_size=8, hidden_size=8,
                 min_freq=1, batch_size=16, progress=False, ngrams=False)
    raw = root / "raw.txt"
    raw.write_text("外卖很好，骑手不错\n送餐失望\n" * 60, encoding="utf-8")
    out = root / "out"
    ok("finetune", base, "--data", two_label_tsv, "--unlabeled", raw, "--out", out, "--epochs", "1",
       "--lm-epochs", "1", "--batch-size", "32", "--quiet")
    return out, raw


def info_rows(folder):
    return {m.group(1): m.group(2) for m in map(re.compile(r"(\S+(?: \S+)*) {2,}(.*)").match,
                                                ok("info", folder).stdout.splitlines())}


def test_info_on_the_language_model_stage_names_the_unlabelled_and_the_labelled_files(ulmfit_run, two_label_tsv):
    out, raw = ulmfit_run
    rows = info_rows(out / "lm")
    assert rows["task"] == "lm"
    assert rows["training data"] == f"unlabelled: {raw}; labelled, texts only: {two_label_tsv}"
    assert "language-model stage data" not in rows


def test_info_on_the_classifier_names_its_labelled_file_and_the_language_model_stages_data(ulmfit_run,
                                                                                         two_label_tsv):
    out, raw = ulmfit_run
    rows = info_rows(out)
    assert rows["task"] == "sentiment"
    assert rows["training data"] == str(two_label_tsv)
    assert rows["language-model stage data"] == f"unlabelled: {raw}; labelled, texts only: {two_label_tsv}"


# -- 3. training progress on a stderr that is not a terminal ----------------------------------------------------
TINY_TRAIN = ["--embedding-size", "8", "--hidden-size", "8", "--min-freq", "1", "--batch-size", "32", "--no-ngrams"]


def test_a_run_whose_stderr_is_not_a_terminal_writes_progress_lines_and_no_carriage_returns(two_label_tsv, tmp_path,
                                                                                          monkeypatch):
    from zhseq.training import loop

    # CliRunner's stderr is not a terminal, as a file or a pipe; a line after every step instead of every 30 s
    monkeypatch.setattr(loop, "PROGRESS_LINE_EVERY", 0.0)
    result = ok("train", "sentiment", "--data", two_label_tsv, "--out", tmp_path / "run", "--epochs", "2",
                *TINY_TRAIN)
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    lines = result.stderr.splitlines()
    steps = [line for line in lines if line.startswith("step ")]
    n = len(steps) // 2  # 380 training texts (20 held out) in batches of 32: 12 steps an epoch
    assert n == 12 and len(steps) == 24, result.stderr
    assert re.fullmatch(r"step 1/24 \(4 %\), epoch 1, loss \d+\.\d{4}, .+ steps/s, 00:\d\d elapsed, .+ left", steps[0])
    assert steps[-1].startswith("step 24/24 (100 %), epoch 2, loss ")
    for epoch in (1, 2):
        assert sum(line.startswith(f"epoch {epoch}: train loss ") for line in lines) == 1
    # --quiet (progress=False): neither lines nor bar
    quiet = ok("train", "sentiment", "--data", two_label_tsv, "--out", tmp_path / "quiet", "--epochs", "1",
               "--quiet", *TINY_TRAIN)
    assert quiet.stderr == ""


def test_evaluate_whose_stderr_is_not_a_terminal_writes_progress_lines(tmp_path, monkeypatch):
    """evaluate took over a minute on People's Daily test with nothing on stderr; it says its progress as
    training does (a line at most every 30 s when stderr is not a terminal), and nothing with progress=False."""
    from zhseq import evaluate, progress

    monkeypatch.setattr(progress, "PROGRESS_LINE_EVERY", 0.0)
    text = tmp_path / "news.txt"
    text.write_text("".join(f"第{i}天，我们在北京召开了一次很重要的会议，讨论经济发展。\n" for i in range(120)),
                    encoding="utf-8")
    result = ok("evaluate", "lm", "--data", text)
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("scoring: ")]
    assert len(lines) >= 2, result.stderr  # 120 windows in batches of 34: a line after each but the last
    assert re.fullmatch(r"scoring: 34/120 windows \(28 %\), .+ windows/s, 00:\d\d elapsed, .+ left", lines[0])
    table = tmp_path / "reviews.tsv"
    table.write_text("text\tlabel\n" + "房间很好，推荐\tpositive\n服务很差，失望\tnegative\n" * 2100, encoding="utf-8")
    result = ok("evaluate", "sentiment", "--data", table)
    assert [line for line in result.stderr.splitlines() if line.startswith("scoring: ")] == [
        line for line in result.stderr.splitlines() if re.fullmatch(r"scoring: 4096/4200 texts \(98 %\), .+", line)]
    assert "scoring: 4096/4200 texts" in result.stderr
    import logging

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("zhseq").addHandler(handler)
    try:
        evaluate("lm", str(text), progress=False)
    finally:
        logging.getLogger("zhseq").removeHandler(handler)
    assert not [r for r in records if "scoring" in r.getMessage() or "tokenising" in r.getMessage()]


def test_at_the_default_rate_a_short_run_writes_only_its_epoch_lines(two_label_tsv, tmp_path):
    result = ok("train", "sentiment", "--data", two_label_tsv, "--out", tmp_path / "run", "--epochs", "1",
                *TINY_TRAIN)
    assert "\r" not in result.stderr
    assert not [line for line in result.stderr.splitlines() if line.startswith("step ")]  # under 30 s
    assert "epoch 1: train loss " in result.stderr


def test_on_a_terminal_the_bar_is_drawn(monkeypatch):
    import io
    import sys

    import torch

    from zhseq.config import BackboneConfig, FitConfig, SentimentConfig
    from zhseq.modeling import SentimentNet
    from zhseq.training.loop import fit
    from zhseq.training.tasks import SentimentTask

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    torch.manual_seed(0)
    net = SentimentNet(SentimentConfig(BackboneConfig(30, 4, 4), num_labels=2))
    examples = [([4 + i % 20, 5 + i % 7], i % 2) for i in range(64)]
    fit(net, examples, collate=SentimentTask.collate, config=FitConfig(epochs=1, batch_size=16))
    assert "\r" in terminal.getvalue() and "4/4" in terminal.getvalue()  # tqdm's frames, as before
    assert "step 1/4" not in terminal.getvalue()
