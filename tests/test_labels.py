"""A user's label names (issue 14, "Label names" and "Label typos"): ``--label-map`` / ``label_map=`` on train,
finetune and evaluate; spellings that differ only in case or width are one label, said once; a label held by very
few rows beside large ones (a typo such as ``postive``, one ``11`` among ``0``/``1``) is refused with its rows
listed unless ``--allow-rare-labels``; ``finetune`` on labels the model does not know needs ``--new-labels``."""

import json
import logging

import pytest

from zhseq.data import read_labelled
from zhseq.data.labels import label_map, rare_labels, tidy_labels
from zhseq.errors import ZhseqError
from zhseq.evaluation import evaluate
from zhseq.training import finetune, train
from cli_helpers import invoke, ok, one_error_line

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

TINY = ["--embedding-size", "8", "--hidden-size", "8", "--epochs", "1", "--min-freq", "1", "-q"]
TINY_PY = dict(embedding_size=8, hidden_size=8, epochs=1, min_freq=1, progress=False)

GOOD = ["这家餐厅的菜很好吃，服务也周到", "房间干净，早餐丰富，下次还来", "物流很快，包装很好，推荐", "质量不错，很满意"]
BAD = ["等了一个小时，太失望了", "质量太差，用了两天就坏了", "服务态度很差，不会再来", "难吃，退货了"]


def table(path, rows, header="text,label"):
    path.write_text(header + "\n" + "".join(f"{t},{y}\n" for t, y in rows), encoding="utf-8")
    return path


def reviews(pos, neg, n):
    """n rows, alternating a good and a bad review, labelled ``pos`` and ``neg``."""
    return [(GOOD[i // 2 % 4] if i % 2 == 0 else BAD[i // 2 % 4], pos if i % 2 == 0 else neg) for i in range(n)]


def config_of(model_dir):
    return json.loads((model_dir / "config.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny positive/negative model to fine-tune."""
    root = tmp_path_factory.mktemp("base")
    data = table(root / "base.csv", reviews("positive", "negative", 40))
    return train("sentiment", str(data), out=root / "run", **TINY_PY)


# -- label names: --label-map ------------------------------------------------------------------------------


def test_the_issue_case_evaluate_the_shipped_model_on_a_haoping_chaping_file(tmp_path):
    path = table(tmp_path / "comments.csv", reviews("好评", "差评", 8), header="评论,情感")
    # before: refused, with no way to map the labels
    assert "labels the model does not know: 好评, 差评" in one_error_line(invoke("evaluate", "sentiment", "--data", path))
    result = ok("evaluate", "sentiment", "--data", path, "--label-map", "好评=positive,差评=negative", "--format", "json")
    scores = json.loads(result.stdout)
    assert scores["n"] == 8 and scores["labels"] == ["negative", "positive"] and scores["accuracy"] >= 0.75
    assert result.stderr == ""
    # Python: a dict or the command line's text, the same scores
    assert evaluate("sentiment", path, label_map={"好评": "positive", "差评": "negative"})["accuracy"] == scores["accuracy"]
    assert evaluate("sentiment", path, label_map="好评=positive，差评=negative")["accuracy"] == scores["accuracy"]


def test_evaluate_says_when_the_labels_may_be_the_other_way_round(tmp_path):
    """A file whose 1 means 差评 scored 2.9 % with the shipped model, and nothing said why (a user check)."""
    inverted = table(tmp_path / "inverted.csv", reviews("0", "1", 24))
    result = ok("evaluate", "sentiment", "--data", inverted)
    assert "accuracy  0.0000" in result.stdout
    assert f"are {inverted}'s labels the other way round? To swap them: --label-map negative=positive," \
           "positive=negative (labels 0/1: --label-map 0=positive,1=negative)" in result.stderr
    swapped = ok("evaluate", "sentiment", "--data", inverted, "--label-map", "0=positive,1=negative")
    assert "accuracy  1.0000" in swapped.stdout and swapped.stderr == ""
    # named labels the other way round: the first advice swaps them
    named = table(tmp_path / "named.csv", reviews("negative", "positive", 24))
    assert "To swap them: --label-map negative=positive,positive=negative" in ok(
        "evaluate", "sentiment", "--data", named).stderr
    swapped = ok("evaluate", "sentiment", "--data", named, "--label-map", "negative=positive,positive=negative")
    assert "accuracy  1.0000" in swapped.stdout and swapped.stderr == ""
    # with a label map given, the advice is that map swapped (the plain swap then names labels the file lacks)
    mapped = table(tmp_path / "mapped.csv", reviews("差评", "好评", 24), header="评论,标签")
    result = ok("evaluate", "sentiment", "--data", mapped, "--label-map", "好评=positive,差评=negative")
    assert result.stderr.rstrip().endswith("To swap them: --label-map 好评=negative,差评=positive"), result.stderr
    swapped = ok("evaluate", "sentiment", "--data", mapped, "--label-map", "好评=negative,差评=positive")
    assert "accuracy  1.0000" in swapped.stdout and swapped.stderr == ""
    # chance or better, or too few rows to tell: nothing said
    assert ok("evaluate", "sentiment", "--data", table(tmp_path / "right.csv", reviews("1", "0", 24))).stderr == ""
    assert ok("evaluate", "sentiment", "--data", table(tmp_path / "few.csv", reviews("0", "1", 8))).stderr == ""


def test_a_label_mapped_to_one_the_model_does_not_know_is_the_usual_error(tmp_path):
    path = table(tmp_path / "comments.csv", reviews("好评", "差评", 4))
    line = one_error_line(invoke("evaluate", "sentiment", "--data", path, "--label-map", "好评=good,差评=negative"))
    assert "labels the model does not know: good (model labels: negative, positive" in line
    # a label the map leaves alone is unknown as before, and the message names the option
    line = one_error_line(invoke("evaluate", "sentiment", "--data", path, "--label-map", "好评=positive"))
    assert "labels the model does not know: 差评" in line and "--label-map" in line


@pytest.mark.parametrize("value, fragment", [
    ("好评positive", "'好评positive' is not FROM=TO"),
    ("=positive", "empty label name"),
    ("好评=", "empty label name"),
    ("好评=positive,好评=negative", "maps '好评' twice"),
])
def test_a_malformed_label_map_is_one_usage_error(tmp_path, value, fragment):
    path = table(tmp_path / "comments.csv", reviews("好评", "差评", 4))
    for command in (["evaluate", "sentiment"], ["train", "sentiment", "--out", tmp_path / "run", *TINY],
                    ["finetune", "sentiment", "--out", tmp_path / "ft", *TINY[-3:]]):
        line = one_error_line(invoke(*command, "--data", path, "--label-map", value), code=2)
        assert "Invalid value for '--label-map'" in line and fragment in line, line
    assert not (tmp_path / "run").exists() and not (tmp_path / "ft").exists()
    with pytest.raises(ZhseqError, match=fragment):
        evaluate("sentiment", path, label_map=value)
    with pytest.raises(ZhseqError, match=fragment):
        train("sentiment", str(path), out=tmp_path / "py", label_map=value, **TINY_PY)
    assert not (tmp_path / "py").exists()


def test_label_map_forms():
    assert label_map(None) is None and label_map({}) is None and label_map("") is None
    assert label_map(" 好评 = positive ，差评＝negative, ") == {"好评": "positive", "差评": "negative"}
    assert label_map({"好评": "positive"}) == {"好评": "positive"}
    for bad in (["好评"], {"好评": 1}, 3):
        with pytest.raises(ZhseqError, match="label"):
            label_map(bad)


def test_train_and_finetune_with_a_label_map(base, tmp_path):
    data = table(tmp_path / "mine.csv", reviews("好评", "差评", 40))
    out = tmp_path / "run"
    ok("train", "sentiment", "--data", data, "--out", out, "--label-map", "好评=positive,差评=negative", *TINY)
    config = config_of(out / "model-best")
    assert config["labels"] == ["negative", "positive"]
    assert config["training"]["label_map"] == {"好评": "positive", "差评": "negative"}
    # fine-tuning the positive/negative model on the 好评/差评 file keeps its output layer with the map …
    tuned = finetune(base, str(data), out=tmp_path / "ft", label_map={"好评": "positive", "差评": "negative"},
                     epochs=1, progress=False)
    assert config_of(tuned)["labels"] == ["negative", "positive"]
    # … and without it asks for --new-labels
    line = one_error_line(invoke("finetune", base, "--data", data, "--out", tmp_path / "ft2", "-q"))
    assert "labels the model does not know: 好评, 差评" in line and "--new-labels" in line
    # evaluating the mapped model on the same file takes the map it was trained with, and says so
    result = invoke("evaluate", out / "model-best", "--data", data)
    assert result.exit_code == 0, result.output
    assert "labels mapped as in the model's training: 好评=positive, 差评=negative (--label-map replaces it)" in \
        result.stderr
    assert evaluate(out / "model-best", str(data))["n"] == 40
    # a map given replaces it; the base model (trained without one) still needs it
    assert evaluate(out / "model-best", str(data), label_map="好评=negative,差评=positive")["n"] == 40
    assert "--label-map" in one_error_line(invoke("evaluate", base, "--data", data))


def test_a_label_map_for_an_lm_is_refused(tmp_path):
    texts = tmp_path / "lm.txt"
    texts.write_text("今天天气很好。\n" * 20, encoding="utf-8")
    with pytest.raises(ZhseqError, match="--label-map is for sentiment data"):
        train("lm", str(texts), out=tmp_path / "lm", label_map={"a": "b"}, **TINY_PY)
    assert not (tmp_path / "lm").exists()


# -- label typos: case and width ---------------------------------------------------------------------------


def test_the_issue_case_positive_with_spaces_and_capitals_is_one_label(tmp_path, caplog):
    labels = [" Positive ", "negative", "positive", "negative", "POSITIVE", "negative", "positive", "negative",
              "positive", "Negative", "positive", "negative"]
    rows = [(text, label) for (text, _), label in zip(reviews("", "", 12), labels)]
    path = table(tmp_path / "t.csv", rows)
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        labels = read_labelled(path, require_labels=True)["labels"]
    assert set(labels) == {"positive", "negative"}
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [f"{path}: labels that differ only in case or width are one label: 'Negative' (1 row) → "
                        "'negative'; 'POSITIVE' (1 row), 'Positive' (1 row) → 'positive'"]
    # the command line says it once, and the model has two labels
    out = tmp_path / "run"
    result = ok("train", "sentiment", "--data", path, "--out", out, *TINY)
    assert result.stderr.splitlines() == messages
    assert config_of(out / "model-best")["labels"] == ["negative", "positive"]


def test_the_spelling_kept_is_the_most_frequent_then_the_lower_case_one():
    assert set(tidy_labels(["Good"] * 3 + ["good", "bad", "bad", "bad", "bad"])) == {"Good", "bad"}
    assert set(tidy_labels(["Good", "good", "Bad", "BAD", "bad", "bad"])) == {"good", "bad"}
    # full-width letters and digits are the same label too (an IME left in full-width mode)
    assert tidy_labels(["ｐｏｓｉｔｉｖｅ", "positive", "positive"]) == ["positive"] * 3
    assert tidy_labels(["１", "０", "1", "0"]) == ["positive", "negative", "positive", "negative"]
    # Chinese labels have no case: untouched
    assert tidy_labels(["正面", "负面"]) == ["正面", "负面"]


def test_a_models_spelling_wins_in_evaluate_and_finetune(base, tmp_path, caplog):
    path = table(tmp_path / "caps.csv", reviews("Positive", "NEGATIVE", 8))
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        scores = evaluate("sentiment", path)
    assert scores["n"] == 8 and scores["labels"] == ["negative", "positive"]
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: labels that differ only in case or width are one label: 'NEGATIVE' (4 rows) → 'negative'; "
        "'Positive' (4 rows) → 'positive'"]
    tuned = finetune(base, str(path), out=tmp_path / "ft", epochs=1, progress=False)  # no --new-labels needed
    assert config_of(tuned)["labels"] == ["negative", "positive"]


# -- label typos: rare labels ------------------------------------------------------------------------------


def test_the_issue_case_one_postive_in_twelve_rows(tmp_path):
    rows = reviews("positive", "negative", 11) + [("还行吧，挺喜欢的", "postive")]
    path = table(tmp_path / "t.csv", rows)
    out = tmp_path / "run"
    line = one_error_line(invoke("train", "sentiment", "--data", path, "--out", out, *TINY))
    assert line == (f"Error: a label held by very few rows, maybe a typo: 'postive' (1 row: {path} line 13; close "
                    "to 'positive'), beside 'positive' (6 rows), 'negative' (5 rows); correct the file (or use "
                    "--label-map), or keep it with --allow-rare-labels (allow_rare_labels=True in Python)")
    assert not out.exists()
    with pytest.raises(ZhseqError, match=r"'postive' \(1 row: .* line 13"):
        train("sentiment", str(path), out=out, **TINY_PY)
    # confirmed: a third class, as the user asked
    ok("train", "sentiment", "--data", path, "--out", out, "--allow-rare-labels", *TINY)
    assert config_of(out / "model-best")["labels"] == ["negative", "positive", "postive"]
    best = train("sentiment", str(path), out=tmp_path / "py", allow_rare_labels=True, **TINY_PY)
    assert config_of(best)["labels"] == ["negative", "positive", "postive"]
    # or the map fixes it
    best = train("sentiment", str(path), out=tmp_path / "mapped", label_map={"postive": "positive"}, **TINY_PY)
    assert config_of(best)["labels"] == ["negative", "positive"]


def test_several_rare_labels_in_several_files_are_listed_with_their_rows(tmp_path):
    a = table(tmp_path / "a.csv", reviews("positive", "negative", 30) + [("好吃", "postive")] * 3)
    b = tmp_path / "b.tsv"
    b.write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in reviews("positive", "negative", 20))
                 + "难吃\tnegtive\n" + "好吃\tpostive\n", encoding="utf-8")
    with pytest.raises(ZhseqError) as error:
        read_labelled([a, b], require_labels=True, allow_rare_labels=False)
    message = str(error.value)
    assert "\n" not in message and message.startswith("2 labels held by very few rows")
    assert f"'postive' (4 rows: {a} line 32, {a} line 33, {a} line 34, …; close to 'positive')" in message
    assert f"'negtive' (1 row: {b} line 22; close to 'negative')" in message
    assert "keep them with --allow-rare-labels" in message
    # reading for evaluation (the default) keeps them
    assert read_labelled([a, b], require_labels=True)["labels"].count("postive") == 4


def test_what_counts_as_rare():
    # fewer than 5 rows while another label has 5 times as many
    assert rare_labels({"positive": 6, "negative": 5, "postive": 1}) == ["postive"]
    assert rare_labels({"positive": 20, "negative": 4}) == ["negative"]
    assert rare_labels({"positive": 19, "negative": 4}) == []
    assert rare_labels({"a": 4, "b": 4, "c": 4}) == []  # small, but alike
    assert rare_labels({"a": 9, "b": 2}) == []
    assert rare_labels({"a": 3}) == [] and rare_labels({}) == []
    # or under 0.1 % of the rows, however many
    assert rare_labels({"positive": 6000, "negative": 6000, "postive": 11}) == ["postive"]
    assert rare_labels({"positive": 6000, "negative": 6000, "neutral": 13}) == []
    assert rare_labels({"positive": 6000, "negative": 6000, "postive": 3, "negtive": 2}) == ["postive", "negtive"]


def test_a_label_spelled_nearly_as_a_larger_one_is_rare_whatever_its_count():
    """Two ``postive`` rows in twelve were a third class without a word (found by a user check)."""
    assert rare_labels({"positive": 4, "postive": 2, "negative": 6}) == ["postive"]
    assert rare_labels({"neutral": 300, "netural": 100, "positive": 300}) == ["netural"]
    assert rare_labels({"positive": 3, "postive": 2, "negative": 6}) == []  # not twice as many: which is the typo?
    # not typos: different only in digits, one inside the other (opposites), or not alike
    assert rare_labels({"class_1": 40, "class_2": 10}) == []
    assert rare_labels({"满意": 40, "不满意": 10}) == rare_labels({"happy": 40, "unhappy": 10}) == []
    assert rare_labels({"好评": 40, "差评": 10}) == rare_labels({"positive": 40, "negative": 10}) == []


def test_labels_that_share_a_prefix_are_compared_where_they_differ():
    """``intent_alarm`` and ``intent_calendar`` were "close" (difflib's ratio over the whole labels: 0.81), and so
    were ``intent_taxi`` and ``intent_train``: the shared ``intent_`` made any two such labels look alike."""
    words = ("weather music movie alarm timer news sports stock flight hotel taxi train recipe calendar reminder "
             "email call message volume light").split()
    for joint in ("intent_", "book-", "play.", "app/", "意图:", ""):
        counts = {f"{joint}{w}": 10 * (i + 1) for i, w in enumerate(words)}  # every label 2× another's rows
        assert rare_labels(counts) == [], joint
    # a typo in the part that differs is still one
    assert rare_labels({"intent_weather": 40, "intent_weathr": 10, "intent_music": 40}) == ["intent_weathr"]
    assert rare_labels({"label_positive": 40, "label_postive": 10, "label_negative": 40}) == ["label_postive"]
    assert rare_labels({"positive_review": 40, "postive_review": 10}) == ["postive_review"]


def test_the_two_typo_rows_in_twelve_case(tmp_path):
    rows = reviews("positive", "negative", 10) + [("还行吧，挺喜欢的", "postive"), ("不错", "postive")]
    line = one_error_line(invoke("train", "sentiment", "--data", table(tmp_path / "t.csv", rows), "--out",
                                 tmp_path / "run", *TINY))
    assert line.startswith("Error: a label held by very few rows, maybe a typo: 'postive' (2 rows: ")
    assert "close to 'positive'" in line and not (tmp_path / "run").exists()


def test_a_text_column_read_as_labels_is_refused(tmp_path):
    """The header of a file with its columns swapped: 198 labels from 199 rows trained with exit 0 before."""
    rows = [(f"{y}", f"{t}，第{i}条") for i, (t, y) in enumerate(reviews("positive", "negative", 199))]
    path = table(tmp_path / "swapped.csv", rows)
    out = tmp_path / "run"
    line = one_error_line(invoke("train", "sentiment", "--data", path, "--out", out, *TINY))
    assert line.startswith("Error: 199 different labels in 199 rows (")
    assert line.endswith("a label column names a few classes, so this looks like a text column; are the columns "
                         "swapped? Name them with --text-column and --label-column, or keep these labels with "
                         "--allow-rare-labels (allow_rare_labels=True in Python)")
    assert not out.exists()
    ok("train", "sentiment", "--data", path, "--out", out, "--text-column", "label", "--label-column", "text", *TINY)
    assert config_of(out / "model-best")["labels"] == ["negative", "positive"]
    few = [(t, f"intent{i % 60:02d}") for i, (t, _) in enumerate(reviews("p", "n", 600))]  # 60 classes, 600 rows
    assert len(set(read_labelled(table(tmp_path / "intents.csv", few), require_labels=True,
                                 allow_rare_labels=False)["labels"])) == 60


# -- label typos: one 11 among 0/1 -------------------------------------------------------------------------


def test_the_issue_case_one_11_among_0_and_1(tmp_path):
    rows = [(t, "1" if y == "p" else "0") for t, y in reviews("p", "n", 40)]
    path = table(tmp_path / "t.csv", rows[:20] + [("一般般", "11")] + rows[20:])
    out = tmp_path / "run"
    line = one_error_line(invoke("train", "sentiment", "--data", path, "--out", out, *TINY))
    assert f"'11' (1 row: {path} line 22; close to '1')" in line and "--allow-rare-labels" in line
    assert not out.exists()
    # confirmed: the 0/1 rows are still negative/positive, 11 is a label of its own
    ok("train", "sentiment", "--data", path, "--out", out, "--allow-rare-labels", *TINY)
    assert config_of(out / "model-best")["labels"] == ["11", "negative", "positive"]
    assert read_labelled(path, require_labels=True)["labels"][19:22] == ["negative", "11", "positive"]
    # evaluate names only the stray label (before: "0, 1, 11")
    line = one_error_line(invoke("evaluate", "sentiment", "--data", path))
    assert "labels the model does not know: 11 (model labels: negative, positive" in line


def test_a_rare_label_in_the_dev_set_is_not_refused_but_must_be_known(tmp_path):
    train_file = table(tmp_path / "train.csv", reviews("positive", "negative", 40))
    dev = table(tmp_path / "dev.csv", reviews("Positive", "negative", 20) + [("一般", "postive")])
    with pytest.raises(ZhseqError, match="the dev set has labels the model does not know: postive"):
        train("sentiment", str(train_file), dev=str(dev), out=tmp_path / "run", **TINY_PY)
    dev = table(tmp_path / "dev2.csv", reviews("positive", "negative", 20) + [("一般", "Negative")])
    best = train("sentiment", str(train_file), dev=str(dev), out=tmp_path / "run2", **TINY_PY)
    assert config_of(best)["labels"] == ["negative", "positive"]


# -- finetune: a label the model does not know -------------------------------------------------------------


def test_finetune_with_new_labels_asks_for_the_option(base, tmp_path):
    rows = reviews("positive", "negative", 40) + [(t, "neutral") for t in ["一般", "还行", "普通", "凑合"] * 5]
    path = table(tmp_path / "three.csv", rows)
    out = tmp_path / "ft"
    line = one_error_line(invoke("finetune", base, "--data", path, "--out", out, "-q"))
    assert line == ("Error: the new data has labels the model does not know: neutral (model labels: negative, "
                    "positive); training on them replaces the model's trained output layer: confirm with "
                    "--new-labels (new_labels=True in Python), or rename them with --label-map")
    assert not out.exists()
    with pytest.raises(ZhseqError, match="labels the model does not know: neutral"):
        finetune(base, str(path), out=out, epochs=1, progress=False)
    assert not out.exists()
    ok("finetune", base, "--data", path, "--out", out, "--new-labels", "--epochs", "1", "-q")
    assert config_of(out / "model-best")["labels"] == ["negative", "neutral", "positive"]
    tuned = finetune(base, str(path), out=tmp_path / "py", new_labels=True, epochs=1, progress=False)
    assert config_of(tuned)["labels"] == ["negative", "neutral", "positive"]
    # a next-word model has no labels: the option is refused, as --label-map is (it was taken without a word)
    raw = tmp_path / "raw.txt"
    raw.write_text("今天天气很好\n" * 5, encoding="utf-8")
    line = one_error_line(invoke("finetune", "lm", "--data", raw, "--out", tmp_path / "lm", "--new-labels", "-q"))
    assert line == "Error: --new-labels is for sentiment models: a next-word (lm) model has no labels"
    assert not (tmp_path / "lm").exists()


def test_finetune_a_typo_is_rare_before_it_is_new(base, tmp_path):
    path = table(tmp_path / "typo.csv", reviews("positive", "negative", 40) + [("还行", "postive")])
    line = one_error_line(invoke("finetune", base, "--data", path, "--out", tmp_path / "ft", "-q"))
    assert "'postive' (1 row" in line and "--allow-rare-labels" in line
    line = one_error_line(invoke("finetune", base, "--data", path, "--out", tmp_path / "ft", "-q",
                                 "--allow-rare-labels"))
    assert "labels the model does not know: postive" in line and "--new-labels" in line
    ok("finetune", base, "--data", path, "--out", tmp_path / "ft", "-q", "--label-map", "postive=positive",
       "--epochs", "1")
    assert config_of(tmp_path / "ft" / "model-best")["labels"] == ["negative", "positive"]


def test_a_label_map_naming_no_label_is_said_and_a_0_1_file_takes_the_names_it_is_read_as(tmp_path, caplog):
    """`--label-map 好坪=positive,差评=negative` (a typo) trained on 好评 as itself, in silence; and on a 0/1
    file, the advice `negative=positive,positive=negative` did nothing (the map ran before 0/1 were named)."""
    import logging

    from zhseq.data.labels import tidy_labels

    with caplog.at_level(logging.WARNING, logger="zhseq"):
        assert tidy_labels(["好评", "差评"] * 3, mapping={"好坪": "positive", "差评": "negative"},
                           source="hp.csv") == ["好评", "negative"] * 3
    assert [r.getMessage() for r in caplog.records] == [
        "hp.csv: label map entry 好坪 matches no label; 好评 kept as it is (a typo in --label-map?)"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="zhseq"):  # a map whose entries all miss while labels are its targets: quiet
        assert tidy_labels(["positive", "negative"], mapping={"好评": "positive", "差评": "negative"}) == [
            "positive", "negative"]
        # a 0/1 file: the map names negative/positive, what 0/1 are read as
        assert tidy_labels(["0", "1", "1"], mapping={"negative": "positive", "positive": "negative"}) == [
            "positive", "negative", "negative"]
        assert tidy_labels(["0", "1"], mapping={"0": "positive", "1": "negative"}) == ["positive", "negative"]
        assert tidy_labels(["negative", "positive"], mapping={"negative": "positive", "positive": "negative"}) == [
            "positive", "negative"]
    assert caplog.records == []
    inverted = table(tmp_path / "inverted.csv", reviews("0", "1", 24))
    swapped = ok("evaluate", "sentiment", "--data", inverted, "--label-map", "negative=positive,positive=negative")
    assert "accuracy  1.0000" in swapped.stdout and swapped.stderr == ""
    # a map that already swaps them, on a file the other way round still: the advice is to leave it out
    named = table(tmp_path / "named.csv", reviews("positive", "negative", 24))
    result = ok("evaluate", "sentiment", "--data", named, "--label-map", "negative=positive,positive=negative")
    assert result.stderr.rstrip().endswith("To swap them: leave --label-map out"), result.stderr
