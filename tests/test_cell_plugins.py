"""Cells offered by an installed package through the entry-point group ``zhseq.cells`` (issue 14): found by
every command, loaded only when asked for. The package is faked: a module and a ``*.dist-info`` folder (METADATA,
entry_points.txt) in a folder put on ``sys.path`` (here, or through PYTHONPATH in a fresh process)."""

import json
import os
import subprocess
import sys

import pytest

from zhseq import cells
from zhseq.api import SentimentClassifier
from zhseq.errors import ZhseqError

from cli_helpers import ok

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

MODULE = '''
from zhseq.cells import FusedGRU, ReferenceGRU, register_cell


class PluginGRU(FusedGRU):
    """torch's GRU under another name: a cell the numpy engine does not know."""


@register_cell("plugin-registered")
class Registered(ReferenceGRU):
    pass
'''
ENTRY_POINTS = """[zhseq.cells]
plugin-gru = zhseq_plugin_cells:PluginGRU
plugin-registered = zhseq_plugin_cells
plugin-broken = zhseq_plugin_missing:Nothing
plugin-not-a-cell = zhseq_plugin_cells:register_cell
"""
TINY = ["--embedding-size", "8", "--hidden-size", "8", "--epochs", "1", "--min-freq", "1", "-q"]


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    (root / "zhseq_plugin_cells.py").write_text(MODULE, encoding="utf-8")
    info = root / "zhseq_plugin_cells-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zhseq-plugin-cells\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")
    return root


@pytest.fixture
def installed(plugin_dir, monkeypatch):
    """The fake package on sys.path; afterwards its cells and module are forgotten again."""
    monkeypatch.syspath_prepend(str(plugin_dir))
    yield plugin_dir
    for name in [n for n in cells.CELLS if n.startswith("plugin-")]:
        del cells.CELLS[name]
    sys.modules.pop("zhseq_plugin_cells", None)


def forget():
    """As a new process: the plug-in's cells not yet loaded."""
    for name in [n for n in cells.CELLS if n.startswith("plugin-")]:
        del cells.CELLS[name]
    sys.modules.pop("zhseq_plugin_cells", None)


@pytest.fixture(scope="module")
def custom_run(plugin_dir, tmp_path_factory):
    """`zhseq train sentiment --cell plugin-gru` in a process that sees the package."""
    root = tmp_path_factory.mktemp("custom")
    data = root / "train.tsv"
    rows = [("房间很好，推荐", "positive"), ("服务很差，失望", "negative")] * 20
    data.write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows), encoding="utf-8")
    out = root / "custom"
    done = run_zhseq(plugin_dir, "train", "sentiment", "--data", data, "--out", out, "--cell", "plugin-gru", *TINY)
    assert done.returncode == 0, done.stderr
    return out, data


def run_zhseq(site, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, "-m", "zhseq.cli", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=300)


def test_loaded_only_when_asked_for(installed):
    forget()
    assert "plugin-gru" in cells.cell_names() and "plugin-registered" in cells.cell_names()
    assert "zhseq_plugin_cells" not in sys.modules  # listing the names imports nothing
    cls = cells.get_cell("plugin-gru")
    assert cls.__name__ == "PluginGRU" and cells.CELLS["plugin-gru"] is cls
    assert cells.get_cell("plugin-registered").__name__ == "Registered"  # a module that registers its cell
    net = cells.build_rnn("plugin-gru", input_size=3, hidden_size=4)
    assert net.hidden_size == 4


def test_a_broken_entry_point_and_an_unknown_name_are_one_line_errors(installed):
    with pytest.raises(ZhseqError, match=r"cell 'plugin-broken' of zhseq-plugin-cells \(zhseq_plugin_missing:Nothing"
                                         r"\) cannot be loaded: ModuleNotFoundError"):
        cells.get_cell("plugin-broken")
    with pytest.raises(ZhseqError, match="cell 'plugin-not-a-cell' of zhseq-plugin-cells .* is not a cell class"):
        cells.get_cell("plugin-not-a-cell")
    with pytest.raises(ZhseqError, match="unknown cell 'nope'; choose one of: .*plugin-gru.*"):
        cells.get_cell("nope")


def test_the_issue_case_sentiment_on_a_model_with_a_plugin_cell(plugin_dir, custom_run):
    out, _ = custom_run
    assert json.loads((out / "model-best" / "config.json").read_text(encoding="utf-8"))["backbone"]["cell"] == "plugin-gru"
    # before: `Error: unknown cell 'plugin-gru'` although the package was installed
    done = run_zhseq(plugin_dir, "sentiment", "--model", out, "--format", "jsonl", "房间很好", "服务很差")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["label"] in ("positive", "negative") for line in done.stdout.splitlines()] == [True] * 2
    # without the package the model cannot be run, and the error says why in one line
    done = run_zhseq(None, "sentiment", "--model", out, "房间很好")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines()[-1].startswith("Error: unknown cell 'plugin-gru'; choose one of: gru,")


def test_every_command_finds_the_cell(installed, custom_run, tmp_path):
    out, data = custom_run
    forget()
    assert SentimentClassifier.from_pretrained(out)(["房间很好"])[0]["label"] in ("positive", "negative")
    forget()
    assert json.loads(ok("evaluate", out, "--data", data, "--format", "json").stdout)["n"] == 40
    forget()
    ok("finetune", out, "--data", data, "--out", tmp_path / "ft", "--epochs", "1", "-q")
    forget()
    assert "plugin-gru" in ok("info", out).stdout
    forget()
    lm_text = tmp_path / "lm.txt"
    lm_text.write_text("今天天气很好。\n明天天气不错。\n" * 10, encoding="utf-8")
    lm = ok("train", "lm", "--data", lm_text, "--out", tmp_path / "lm", "--cell", "plugin-registered", *TINY)
    forget()
    assert ok("predict-next", "--model", lm.stdout.strip(), "-k", "1", "今天").stdout.strip()
