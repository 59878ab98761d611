"""Plots, the optional `plot` extra: learning curves beside metrics.json and `evaluate --plot`.

The pictures are checked as files (PNG signature, size); without matplotlib (simulated by patching
``zhseq.plots.available``) both commands must still succeed and say how to get the picture.
"""

import json
import logging
import struct

import pytest

from zhseq import plots, training
from zhseq.errors import ZhseqError
from zhseq.training import outdir
from cli_helpers import invoke, ok

HINT = "pip install 'zhseq[plot]'"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY = dict(progress=False, embedding_size=8, hidden_size=8, epochs=1, min_freq=1)
TINY_CLI = ["--embedding-size", "8", "--hidden-size", "8", "--epochs", "1", "--min-freq", "1"]

needs_matplotlib = pytest.mark.skipif(not plots.available(), reason=f"matplotlib is not installed: {HINT}")


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    width, height = struct.unpack(">II", data[16:24])  # from the IHDR chunk
    assert width >= 300 and height >= 300, (width, height)
    assert len(data) > 10_000, len(data)  # a drawn figure, not an empty canvas


def sentiment_rows():
    subjects = ["这家餐厅", "这本书", "酒店", "服务", "手机"]
    good, bad = ["很好", "喜欢", "推荐", "满意"], ["很差", "失望", "退货", "糟糕"]
    return [(f"{s}{w}", "positive") for s in subjects for w in good] + [
        (f"{s}{w}", "negative") for s in subjects for w in bad
    ]  # 40 rows


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("plots")
    rows = ["text\tlabel"] + [f"{text}\t{label}" for text, label in sentiment_rows()]
    (root / "sent.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (root / "lm.txt").write_text("\n".join(text for text, _ in sentiment_rows()) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def sentiment_run(files):
    """A tiny trained sentiment model's output folder (model-best/, metrics.json, maybe the curves)."""
    training.train("sentiment", [str(files / "sent.tsv")], dev=str(files / "sent.tsv"), out=files / "run", **TINY)
    return files / "run"


# -- the drawing functions ------------------------------------------------------------------------


@needs_matplotlib
@pytest.mark.parametrize("with_dev", [True, False])
def test_learning_curves_png(tmp_path, with_dev):
    epochs = [{"epoch": i, "train_loss": 0.7 / i, "best": i < 3} for i in (1, 2, 3)]
    if with_dev:
        for e, score in zip(epochs, (0.8, 0.9, 0.88)):
            e["dev"] = {"accuracy": score, "macro_f1": score - 0.01}
    metrics = {"task": "sentiment", "metric": "accuracy", "epochs": epochs}
    path = plots.learning_curves(metrics, tmp_path / "curves.png")
    assert path == tmp_path / "curves.png"
    assert_png(path)


@needs_matplotlib
def test_confusion_matrix_png_with_chinese_labels(tmp_path):
    result = {
        "task": "sentiment", "n": 300, "accuracy": 0.7, "macro_f1": 0.69,
        "labels": ["正面", "负面", "中性"],
        "confusion_matrix": [[90, 5, 5], [10, 80, 10], [20, 40, 40]],
    }
    path = plots.confusion_matrix(result, tmp_path / "cm.png")
    assert_png(path)


@needs_matplotlib
def test_chinese_labels_without_a_cjk_font_are_said_once(tmp_path, monkeypatch, caplog):
    """Without a font with Chinese characters the names come out as boxes: one line says so and what to do
    (the glyph warnings matplotlib gives per character stay silenced); Latin names need no such font."""
    monkeypatch.setattr(plots, "cjk_font", lambda: None)
    result = {"labels": ["正面", "负面", "neutral"], "confusion_matrix": [[9, 1, 0], [1, 9, 0], [0, 0, 1]]}
    with caplog.at_level(logging.WARNING):
        assert_png(plots.confusion_matrix(result, tmp_path / "cm.png"))
    assert [r.getMessage() for r in caplog.records] == [plots.NO_CJK_FONT.format(names="正面, 负面")]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        plots.confusion_matrix(dict(result, labels=["negative", "positive", "neutral"]), tmp_path / "latin.png")
    assert caplog.records == []


@needs_matplotlib
def test_a_cjk_font_installed_after_matplotlibs_cache_is_found(monkeypatch):
    """matplotlib's font list, cached on its first run, lacks a font installed since: it is found on disk."""
    from matplotlib import font_manager

    path = next((p for p in font_manager.findSystemFonts() if plots._CJK_FILE_NAME.search(p.rsplit("/", 1)[-1])),
                None)
    if path is None:
        pytest.skip("no CJK font file on this machine")
    manager = font_manager.fontManager
    monkeypatch.setattr(manager, "ttflist", [f for f in manager.ttflist if f.fname != path])
    plots.cjk_font.cache_clear()
    try:
        assert plots.cjk_font() in plots.CJK_FONTS
    finally:
        plots.cjk_font.cache_clear()


def test_plot_file_names_are_checked_before_drawing(tmp_path):
    with pytest.raises(ZhseqError, match=r"\.png"):
        plots.check_path(tmp_path / "cm.txt")
    with pytest.raises(ZhseqError, match="does not exist"):
        plots.check_path(tmp_path / "missing" / "cm.png")
    assert plots.check_path(tmp_path / "cm.PNG") == tmp_path / "cm.PNG"


# -- through train and evaluate ------------------------------------------------------------------


@needs_matplotlib
def test_train_draws_learning_curves_beside_metrics(sentiment_run):
    metrics = json.loads((sentiment_run / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["epochs"] and "dev" in metrics["epochs"][0]
    assert_png(sentiment_run / "learning_curves.png")


@needs_matplotlib
def test_evaluate_plot_draws_the_confusion_matrix(sentiment_run, files, tmp_path):
    result = ok("evaluate", sentiment_run, "--data", files / "sent.tsv", "--plot", tmp_path / "cm.png")
    assert "accuracy" in result.stdout and "confusion matrix" in result.stdout
    assert f"confusion matrix drawn to {tmp_path / 'cm.png'}" in result.stderr
    assert_png(tmp_path / "cm.png")


def test_evaluate_plot_refuses_a_bad_file_name_before_evaluating(sentiment_run, files, tmp_path):
    result = invoke("evaluate", sentiment_run, "--data", files / "sent.tsv", "--plot", tmp_path / "cm.txt")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and "cm.txt" in result.stderr


def test_evaluate_plot_for_an_lm_says_there_is_no_confusion_matrix(files, tmp_path):
    model = training.train("lm", [str(files / "lm.txt")], out=tmp_path / "lm", **TINY)
    result = ok("evaluate", model, "--data", files / "lm.txt", "--plot", tmp_path / "cm.png")
    assert "perplexity" in result.stdout
    assert "no confusion matrix" in result.stderr
    assert not (tmp_path / "cm.png").exists()


# -- without matplotlib --------------------------------------------------------------------------


@pytest.fixture
def no_matplotlib(monkeypatch):
    monkeypatch.setattr(plots, "available", lambda: False)


def test_evaluate_without_matplotlib_prints_scores_and_the_hint(no_matplotlib, sentiment_run, files, tmp_path):
    result = ok("evaluate", sentiment_run, "--data", files / "sent.tsv", "--plot", tmp_path / "cm.png")
    assert "accuracy" in result.stdout
    assert result.stderr.strip() == f"confusion matrix not drawn: {HINT}"
    assert not (tmp_path / "cm.png").exists()


def test_train_without_matplotlib_saves_the_model_and_gives_the_hint(no_matplotlib, files, tmp_path):
    result = ok("train", "sentiment", "--data", files / "sent.tsv", "--out", tmp_path / "run", *TINY_CLI)
    assert f"learning curves not drawn: {HINT}" in result.stderr
    assert (tmp_path / "run" / "model-best" / "config.json").is_file()
    assert (tmp_path / "run" / "metrics.json").is_file()
    assert not (tmp_path / "run" / "learning_curves.png").exists()

    quiet = ok("train", "sentiment", "--data", files / "sent.tsv", "--out", tmp_path / "quiet", *TINY_CLI, "--quiet")
    assert quiet.stderr == ""


def test_a_failing_plot_does_not_fail_training(monkeypatch, caplog, tmp_path):
    def broken(metrics, path):
        raise RuntimeError("no room on the canvas")

    monkeypatch.setattr(plots, "available", lambda: True)
    monkeypatch.setattr(plots, "learning_curves", broken)
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        outdir.draw_curves({"epochs": []}, tmp_path / "learning_curves.png")
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("zhseq.training.outdir", logging.WARNING, "learning curves not drawn: no room on the canvas")]
