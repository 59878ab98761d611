"""The plain install: prediction without torch, datasets or scikit-learn; other commands name their extra.

Each case runs ``zhseq`` in a fresh interpreter in which the optional packages cannot be imported (their
``sys.modules`` entries are None, so ``import torch`` raises ModuleNotFoundError as on a machine without it):
what ``pip install zhseq`` gives, without building a second environment.
"""

import subprocess
import sys

import pytest

from cli_helpers import TRAIN_ONLY, command_without
from zhseq.extras import EXTRAS, missing_message

def zhseq_without(args, blocked=TRAIN_ONLY, input=None):
    return subprocess.run(command_without(args, blocked), input=input, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, expect", [
    (["segment", "我爱北京天安门"], "我 爱 北京 天安门"),
    (["sentiment", "这家餐厅的菜很好吃"], "positive"),
    (["sentiment", "--format", "jsonl", "--workers", "2", "好吃", "难吃"], '"label"'),
    (["predict-next", "今天天气", "-k", "3"], "今天天气\t"),
    (["generate", "今天天气", "-n", "5", "--seed", "0"], ""),
    (["info", "lm"], "perplexity"),
])
def test_prediction_commands_run_without_the_train_extra(args, expect):
    result = zhseq_without(args)
    assert result.returncode == 0, result.stderr
    assert expect in result.stdout
    assert "LOADED []" in result.stderr


def test_prediction_matches_the_full_install():
    from tests.cli_helpers import ok

    texts = ["这家餐厅的菜很好吃", "等了一个小时，太失望了", "👍", ""]
    lite = zhseq_without(["sentiment", "--format", "jsonl", *texts])
    assert lite.returncode == 0, lite.stderr
    assert lite.stdout == ok("sentiment", "--format", "jsonl", *texts).stdout


@pytest.mark.parametrize("args", [
    ["train", "sentiment", "--data", "DATA", "--out", "OUT"],
    ["finetune", "sentiment", "--data", "DATA", "--out", "OUT"],
    ["evaluate", "sentiment", "--data", "DATA"],
])
def test_training_commands_name_the_extra_in_one_line(args, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("label,text\npositive,好吃\nnegative,难吃\n", encoding="utf-8")
    args = [str(data) if a == "DATA" else str(tmp_path / "out") if a == "OUT" else a for a in args]
    result = zhseq_without(args)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if not line.startswith("LOADED")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: zhseq {args[0]} needs ")
    assert "pip install 'zhseq[train]'" in lines[0]
    assert not (tmp_path / "out").exists()


def test_the_python_api_names_the_extra():
    code = ("import sys\nsys.modules['torch'] = None\nimport zhseq\n"
            "try:\n    zhseq.train\nexcept ModuleNotFoundError as e:\n    print(e.name, '|', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.startswith("torch | zhseq.training.train needs torch, which is not installed: "
                          "pip install 'zhseq[train]'")
    assert "download.pytorch.org/whl/cpu" in out


def test_the_torch_engine_names_the_extra():
    code = ("import sys\nsys.modules['torch'] = None\nfrom zhseq.pipeline import NextWordPredictor\n"
            "try:\n    NextWordPredictor.from_pretrained('lm', engine='torch')\n"
            "except ModuleNotFoundError as e:\n    print(e.name, '|', e)\n"
            "print(NextWordPredictor.from_pretrained('lm').predict_next('今天', k=1)[0]['token'] != '')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.startswith('torch | engine="torch" needs torch, which is not installed: pip install \'zhseq[train]\'')
    assert out.splitlines()[-1] == "True"  # the numpy engine still works


def test_the_torch_network_and_saving_name_the_extra(tmp_path):
    """Without torch, ``clf.save_pretrained(...)`` and ``clf.net`` were a bare "No module named 'torch'"."""
    code = ("import sys\nsys.modules['torch'] = None\nfrom zhseq.pipeline import SentimentClassifier\n"
            "clf = SentimentClassifier.from_pretrained('sentiment')\n"
            "for call in (lambda: clf.net, lambda: clf.save_pretrained('never-written')):\n"
            "    try:\n        call()\n    except ModuleNotFoundError as e:\n        print(e.name, '|', e)\n"
            "import os\nprint(os.path.exists('never-written'), clf('很好')['label'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path).stdout.splitlines()
    assert len(out) == 3, out
    for line in out[:2]:
        assert line.startswith("torch | a model's torch network (.net, forward, save_pretrained) needs torch, which "
                               "is not installed: pip install 'zhseq[train]'"), line
    assert out[2] == "False positive"  # prediction still works


def test_every_extra_is_declared_in_setup_cfg():
    import configparser
    from pathlib import Path

    cfg = configparser.ConfigParser()
    cfg.read(Path(__file__).resolve().parent.parent / "setup.cfg", encoding="utf-8")
    extras = cfg["options.extras_require"]
    core = cfg["options"]["install_requires"]
    pip_names = {"sklearn": "scikit-learn", "fastapi_offline": "fastapi-offline"}
    for module, extra in EXTRAS.items():
        assert extra in extras, extra
        if module in ("scipy", "starlette"):  # come with scikit-learn / fastapi
            continue
        assert pip_names.get(module, module) in extras[extra], (module, extra)
        assert pip_names.get(module, module) not in core, module


def test_missing_message_only_for_optional_modules():
    assert missing_message(ModuleNotFoundError("x", name="fastapi.routing"), "zhseq serve") == (
        "zhseq serve needs fastapi, which is not installed: pip install 'zhseq[serve]'")
    assert missing_message(ModuleNotFoundError("x", name="numpy")) is None  # a core dependency: a real bug
    assert missing_message(ImportError("x", name="torch")) is None


def test_the_torch_hint_carries_the_versions_setup_cfg_accepts():
    from zhseq.extras import torch_requirement

    spec = torch_requirement()  # from the installed metadata: the train extra's torch line
    assert spec.startswith("torch") and spec != "torch"
    assert f"pip install '{spec}' --index-url" in missing_message(ModuleNotFoundError("x", name="torch"))
