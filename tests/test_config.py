"""zhseq.config: every setting checked once, with one line naming the field; a model folder's config.json
checked the same way by every command (real-input case d); the prediction options checked the same way in
Python and in the CLI (case e)."""

import json
import math
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from zhseq.cli import cli
from zhseq.config import (
    BackboneConfig,
    FitConfig,
    ModelConfig,
    NextWordConfig,
    PredictConfig,
    SentimentConfig,
    check_prediction,
    default_of,
    model_config,
)
from zhseq.errors import ZhseqError
from zhseq.pipeline import NextWordPredictor, SentimentClassifier

MODELS = Path(__file__).resolve().parent.parent / "zhseq" / "models"


# -- the dataclasses ----------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, field, value, expected", [
    (FitConfig, "epochs", 0, "epochs must be a whole number ≥ 1, not 0"),
    (FitConfig, "epochs", 2.0, "epochs must be a whole number ≥ 1, not 2.0"),
    (FitConfig, "batch_size", True, "batch_size must be a whole number ≥ 1, not true"),
    (FitConfig, "lr", -1e-3, "lr must be a number ≥ 0, not -0.001"),
    (FitConfig, "lr", math.nan, "lr must be a number ≥ 0, not NaN"),
    (FitConfig, "precision", "fp16", 'precision must be one of: fp32, bf16, not "fp16"'),
    (FitConfig, "max_steps", 0, "max_steps must be a whole number ≥ 1 (or null), not 0"),
    (ModelConfig, "dropout", 1.0, "dropout must be a number in [0, 1), not 1.0"),
    (ModelConfig, "pooling", "avg", 'pooling must be one of: max, mean, last (or null), not "avg"'),
    (ModelConfig, "hmm", "false", 'hmm must be true or false, not "false"'),
    (ModelConfig, "cell", " ", 'cell must be a non-empty name, not " "'),
    (PredictConfig, "k", 0, "k must be a whole number ≥ 1, not 0"),
    (PredictConfig, "neutral_band", 0.5, "neutral_band must be a number in [0, 0.5), not 0.5"),
])
def test_a_bad_value_is_one_line_naming_the_field(cls, field, value, expected):
    with pytest.raises(ZhseqError) as info:
        cls(**{field: value})
    assert str(info.value) == expected


def test_defaults_are_written_once_and_numbers_stay_numbers():
    assert FitConfig().lr == default_of(FitConfig, "lr") == 2e-3
    assert ModelConfig().layers == default_of(BackboneConfig, "layers")  # ModelConfig takes BackboneConfig's
    assert isinstance(FitConfig(lr=1).lr, float)  # a whole number where a float goes is that float


def test_from_dict_refuses_unknown_and_missing_settings():
    with pytest.raises(ZhseqError, match="unknown backbone settings: colour"):
        model_config("lm", {"backbone": {"vocab_size": 9, "colour": "red"}})
    with pytest.raises(ZhseqError, match="backbone.vocab_size is missing"):
        model_config("lm", {"backbone": {}})
    with pytest.raises(ZhseqError, match="unknown task"):
        model_config("translation", {"backbone": {"vocab_size": 9}})
    head = model_config("sentiment", {"backbone": {"vocab_size": 9}, "head": {"pooling": "mean"}})
    assert head == SentimentConfig(BackboneConfig(9), pooling="mean")
    assert model_config("lm", head.to_dict() | {"head": {}}) == NextWordConfig(BackboneConfig(9))


def test_a_stacked_bidirectional_language_model_is_refused_by_its_config():
    with pytest.raises(ZhseqError, match="one layer"):
        NextWordConfig(BackboneConfig(9, layers=2, bidirectional=True))


# -- case d: a wrong type in a model's config.json is one Error: line in every command ------------------
CASES = [
    ("sentiment", lambda c: c["head"].update(max_tokens="256"), 'head.max_tokens must be a whole number ≥ 1, not "256"'),
    ("lm", lambda c: c["head"].update(bptt="64"), 'head.bptt must be a whole number ≥ 1, not "64"'),
    ("sentiment", lambda c: c["backbone"].update(bidirectional="false"),
     'backbone.bidirectional must be true or false, not "false"'),
    ("lm", lambda c: c["backbone"].update(dropout="x"), 'backbone.dropout must be a number in [0, 1), not "x"'),
    ("sentiment", lambda c: c["backbone"].update(layers=True), "backbone.layers must be a whole number ≥ 1, not true"),
    ("lm", lambda c: c.update(backbone=None), "backbone must be a JSON object, not null"),
    ("sentiment", lambda c: c["backbone"].update(vocab_size="5"), 'backbone.vocab_size must be a whole number ≥ 1, not "5"'),
    ("sentiment", lambda c: c["tokenizer"].update(hmm="yes"), 'tokenizer.hmm must be true or false, not "yes"'),
    ("sentiment", lambda c: c["head"].update(ngram_words=0), "head.ngram_words must be a whole number ≥ 1, not 0"),
    ("sentiment", lambda c: c.update(labels=["a", "a"]), 'labels must be a list of 2 different label names, not ["a", "a"]'),
]
COMMANDS = {
    "sentiment": [["sentiment", "--model", "{m}", "很好"], ["evaluate", "{m}", "--data", "{d}"],
                  ["finetune", "{m}", "--data", "{d}", "--out", "{o}"], ["info", "{m}"]],
    "lm": [["predict-next", "--model", "{m}", "今天"], ["generate", "--model", "{m}", "今天"],
           ["evaluate", "{m}", "--data", "{t}"], ["finetune", "{m}", "--data", "{t}", "--out", "{o}"], ["info", "{m}"]],
}


@pytest.fixture(scope="module")
def broken_models(tmp_path_factory):
    """One copy of each shipped model per case, with its config.json edited."""
    root = tmp_path_factory.mktemp("broken")
    (root / "d.tsv").write_text("text\tlabel\n很好\tpositive\n太差\tnegative\n", encoding="utf-8")
    (root / "t.txt").write_text("今天天气很好\n", encoding="utf-8")
    folders = []
    for i, (task, change, _) in enumerate(CASES):
        folder = root / f"m{i}"
        shutil.copytree(MODELS / task, folder)
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        change(config)
        (folder / "config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
        folders.append(folder)
    return root, folders


@pytest.mark.parametrize("case", range(len(CASES)))
def test_a_wrong_setting_in_config_json_is_one_error_line_everywhere(broken_models, case):
    root, folders = broken_models
    task, _, message = CASES[case]
    for args in COMMANDS[task]:
        args = [a.format(m=folders[case], d=root / "d.tsv", t=root / "t.txt", o=root / f"out{case}") for a in args]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.splitlines() == [f"Error: {folders[case] / 'config.json'}: {message}"], args
        assert result.stdout == "" and not (root / f"out{case}").exists()


@pytest.mark.parametrize("case", [0, 2, 7])
def test_python_loaders_say_the_same(broken_models, case):
    _, folders = broken_models
    for engine in ("numpy", "torch"):
        with pytest.raises(ZhseqError, match=rf"^{folders[case] / 'config.json'}: "):
            SentimentClassifier.from_pretrained(folders[case], engine=engine)


# -- case e: the prediction options are checked once, for Python and the CLI --------------------------
@pytest.fixture(scope="module")
def shipped():
    return SentimentClassifier.from_pretrained(), NextWordPredictor.from_pretrained()


@pytest.mark.parametrize("call, message", [
    (lambda clf, lm: lm.predict_next("今天", k=0), "k must be a whole number ≥ 1, not 0"),
    (lambda clf, lm: lm.predict_next("今天", k=-5), "k must be a whole number ≥ 1, not -5"),
    (lambda clf, lm: lm.predict_next(["今天"], batch_size=0), "batch_size must be a whole number from 1 to 1,000,000, not 0"),
    (lambda clf, lm: lm.generate("今天", temperature=math.nan), "temperature must be a number ≥ 0, not NaN"),
    (lambda clf, lm: lm.generate("今天", n=-1), "n must be a whole number ≥ 0, not -1"),
    (lambda clf, lm: clf(["很好"], batch_size=0), "batch_size must be a whole number from 1 to 1,000,000, not 0"),
    (lambda clf, lm: clf("很好", neutral_band=-0.1), "neutral_band must be a number in [0, 0.5), not -0.1"),
    (lambda clf, lm: list(clf.predict_stream(["很好"], batch_size=1.5)), "batch_size must be a whole number from 1 to 1,000,000"),
])
def test_the_python_api_checks_what_the_cli_checks(shipped, call, message):
    with pytest.raises(ZhseqError) as info:
        call(*shipped)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("call, message", [
    (lambda clf, lm: lm.predict_next("今天", words_only="no"), 'words_only must be True or False, not "no"'),
    (lambda clf, lm: clf("很好", explain="no"), 'explain must be True or False, not "no"'),
    (lambda clf, lm: lm.predict_next("今天", k=True), "k must be a whole number ≥ 1, not true"),
])
def test_switches_take_bools_and_numbers_not_bools(shipped, call, message):
    """words_only="no" and explain="no" were silently true."""
    with pytest.raises(ZhseqError, match=re.escape(message)):
        call(*shipped)


def test_numpy_integers_are_whole_numbers(shipped):
    """np.int64(2), as a pandas column gives it, was refused: "k must be a whole number ≥ 1, not np.int64(2)"."""
    import numpy as np

    clf, lm = shipped
    assert len(lm.predict_next("今天", k=np.int64(2))) == 2
    assert lm.generate("今天", n=np.int64(3), seed=np.int64(1)) == lm.generate("今天", n=3, seed=1)
    assert clf(["很好"], batch_size=np.int32(8)) == clf(["很好"])
    assert lm.predict_next("今天", words_only=np.bool_(True)) == lm.predict_next("今天", words_only=True)


@pytest.mark.parametrize("args, option", [
    (["predict-next", "-k", "0", "今天"], "'-k' / '--top-k'"),
    (["predict-next", "--batch-size", "0", "今天"], "'--batch-size'"),
    (["generate", "--temperature", "nan", "今天"], "'--temperature'"),
    (["generate", "-n", "-1", "今天"], "'-n' / '--words'"),
    (["sentiment", "--neutral-band", "0.5", "很好"], "'--neutral-band'"),
])
def test_the_cli_refuses_the_same_values_with_the_same_words(args, option):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: Invalid value for {option}: ") and "must be" in line


def test_cli_prediction_defaults_are_the_configs():
    for args, name in ((["predict-next", "--help"], "k"), (["sentiment", "--help"], "batch_size")):
        text = " ".join(CliRunner().invoke(cli, args).output.split())
        assert f"[default: {default_of(PredictConfig, name)}]" in text
    check_prediction(k=1, batch_size=1, n=0, temperature=0.0, neutral_band=0.0, seed=None)
