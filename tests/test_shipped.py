"""The default models installed with zhseq: found with no arguments, within the size budget, described
by `zhseq info`, and right on sentences whose sentiment nobody would argue about."""

import json

import pytest
from click.testing import CliRunner

from zhseq.checkpoint import MODELS_DIR, WEIGHTS_NAME, info
from zhseq.cli import cli

MiB = 1024 * 1024


@pytest.mark.parametrize("task", ["sentiment", "lm"])
def test_default_model_is_installed_small_and_described(task):
    folder = MODELS_DIR / task
    assert (folder / "config.json").is_file(), f"no default {task} model in {folder}"
    assert (folder / WEIGHTS_NAME).stat().st_size <= 10 * MiB
    details = info(folder)
    assert details["task"] == task
    assert details["recipe"].startswith("python bench/build_default_models.py")
    assert details["scores"], "the measured scores travel with the model"
    assert all(not p.startswith("/") for p in details["training"]["data"])  # no paths of the build machine
    assert info()[task]["path"] == str(folder)


def test_default_sentiment_model_from_python_and_cli():
    from zhseq import SentimentClassifier

    clf = SentimentClassifier.from_pretrained()
    texts = ["这家餐厅的菜很好吃，服务也很周到", "质量太差了，用了两天就坏了，退货", "酒店房间干净，位置方便，下次还住"]
    assert [r["label"] for r in clf(texts)] == ["positive", "negative", "positive"]
    result = CliRunner().invoke(cli, ["sentiment", "--format", "jsonl", texts[1], ""])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["label"] for r in rows][0] == "negative" and rows[1]["text"] == ""


def test_default_lm_from_python_and_cli():
    from zhseq import NextWordPredictor

    lm = NextWordPredictor.from_pretrained()
    preds = lm.predict_next("中华人民共和国", k=5)
    assert len(preds) == 5 and all(p["token"] not in ("<unk>", "<pad>", "<bos>", "<eos>") for p in preds)
    result = CliRunner().invoke(cli, ["predict-next", "-k", "3", "--format", "jsonl", "今天天气"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["predictions"]) == 3


def test_shipped_models_by_name_from_any_folder(tmp_path, monkeypatch):
    from zhseq import NextWordPredictor, SentimentClassifier

    monkeypatch.chdir(tmp_path)  # not the repository: the names still find the installed models
    assert SentimentClassifier.from_pretrained("sentiment").path == MODELS_DIR / "sentiment"
    assert NextWordPredictor.from_pretrained("lm").path == MODELS_DIR / "lm"
    result = CliRunner().invoke(cli, ["sentiment", "--model", "sentiment", "这家餐厅的菜很好吃"])
    assert result.exit_code == 0 and result.stdout.startswith("positive\t")
    assert CliRunner().invoke(cli, ["info", "lm"]).exit_code == 0
    (tmp_path / "sentiment").mkdir()  # a folder of that name here wins, and is not a model
    result = CliRunner().invoke(cli, ["sentiment", "--model", "sentiment", "很好"])
    assert result.exit_code == 1 and result.stderr.strip() == (
        f"Error: not a zhseq model folder (no config.json): sentiment; this folder here hides the shipped model "
        f"'sentiment' (name it by its path, {MODELS_DIR / 'sentiment'})")
    result = CliRunner().invoke(cli, ["sentiment", "--model", "sentimnet", "很好"])
    assert result.stderr.strip() == ("Error: model folder not found: sentimnet "
                                     "(the shipped models are named sentiment and lm)")
