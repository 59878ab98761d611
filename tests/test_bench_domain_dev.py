"""bench/domain_dev.py's results file: a rerun replaces a run's numbers but keeps its human-written "what"
unless --what gives a new one, and the report shows it. No training: results are written by hand."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "bench" / "domain_dev.py"
_spec = importlib.util.spec_from_file_location("domain_dev", _PATH)
domain_dev = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(domain_dev)


def few_shot_entry(tfidf, finetuned):
    domain = {"base_zero_shot": 0.9, "tfidf_500": tfidf, "finetuned_500": finetuned,
              "error_ratio": round((1 - finetuned) / (1 - tfidf), 3), "seconds": 60.0, "unlabeled_texts": 0}
    return {"kind": "few-shot", "base": "runs/domains/zero-shot-base/model-best", "unlabeled": False, "sample": 0,
            "overrides": {}, "domains": {c: dict(domain) for c in domain_dev.FEW_SHOT}}


def test_merge_keeps_what_of_a_rerun_in_its_place():
    old = {"a": {"kind": "few-shot", "x": 1, "what": "first run"}, "b": {"kind": "backbone", "what": "lm"}}
    new = domain_dev.merge(old, "a", {"kind": "few-shot", "x": 2})
    assert new == {"a": {"kind": "few-shot", "x": 2, "what": "first run"}, "b": old["b"]}
    assert list(new) == ["a", "b"]  # the rerun's entry stays where it was
    assert old["a"] == {"kind": "few-shot", "x": 1, "what": "first run"}  # the input is not changed


def test_merge_takes_a_new_what_and_leaves_none_where_there_was_none():
    old = {"a": {"kind": "few-shot", "x": 1, "what": "first run"}}
    assert domain_dev.merge(old, "a", {"x": 2}, what="second run")["a"] == {"x": 2, "what": "second run"}
    new = domain_dev.merge(old, "b", {"x": 3})
    assert new["b"] == {"x": 3} and list(new) == ["a", "b"]
    assert domain_dev.merge({}, "c", {"x": 4}, what="new")["c"] == {"x": 4, "what": "new"}


def test_record_rerun_keeps_what_in_file_and_report(tmp_path, monkeypatch, capsys):
    results = tmp_path / "domain_dev.json"
    monkeypatch.setattr(domain_dev, "RESULTS", results)
    domain_dev.record("run1", few_shot_entry(0.8, 0.85), what="finetune, first try")
    domain_dev.record("other", few_shot_entry(0.8, 0.9))
    domain_dev.record("run1", few_shot_entry(0.8, 0.88))  # a rerun without --what
    saved = json.loads(results.read_text())
    assert list(saved) == ["run1", "other"]
    assert saved["run1"]["what"] == "finetune, first try"
    assert saved["run1"]["domains"]["水果"]["finetuned_500"] == 0.88  # the rerun's numbers
    assert "what" not in saved["other"]
    capsys.readouterr()
    domain_dev.report()
    rows = [line for line in capsys.readouterr().out.splitlines() if "`run1`" in line or "`other`" in line]
    assert rows[0].startswith("| finetune, first try (`run1`) | 0 | 80.00 % | 88.00 % | 0.60 |")
    assert rows[1].startswith("| other (`other`) |")  # no description: the name stands in for it


def test_what_option_on_every_recording_command():
    parser = domain_dev.build_parser()
    assert parser.parse_args(["zero-shot", "ls01", "--what", "label smoothing 0.1"]).what == "label smoothing 0.1"
    assert parser.parse_args(["few-shot", "base", "ft"]).what is None
    assert parser.parse_args(["tfidf", "--what", "TF-IDF + LR"]).what == "TF-IDF + LR"
    assert parser.parse_args(["backbone", "--what", "that language model"]).what == "that language model"


@pytest.mark.parametrize("blank", ["", "  "])
def test_blank_what_is_refused_with_argparse_error(blank):
    run = subprocess.run([sys.executable, str(_PATH), "zero-shot", "x", "--what", blank],
                         check=False, capture_output=True, text=True)
    assert run.returncode == 2
    assert "argument --what: give a description of the run" in run.stderr
    assert "Traceback" not in run.stderr
