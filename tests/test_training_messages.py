"""What training says (issue 14, "Smaller things a new user hit"): ``--resume`` with no checkpoint to resume,
no ``--dev`` and too few texts to hold any out, and torch's DDP FutureWarning (no process prints it); a run
stopped by Ctrl-C or SIGTERM before its first checkpoint, and a rerun without --resume of a run that has one."""

import json
import logging
import os
import signal
import warnings

import pytest
import torch

from zhseq.errors import ZhseqError
from zhseq.training import distributed, train
from zhseq.training.corpus import read_parts
from zhseq.training.state import STATE_DIR
from cli_helpers import invoke, ok, one_error_line
from training_helpers import interrupted_at_step

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

TINY = ["--embedding-size", "8", "--hidden-size", "8", "--epochs", "1", "--min-freq", "1"]
TINY_PY = dict(embedding_size=8, hidden_size=8, epochs=1, min_freq=1, progress=False)


def table(path, n):
    rows = [("房间很好，推荐" if i % 2 else "服务很差，失望", "positive" if i % 2 else "negative") for i in range(n)]
    path.write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return table(tmp_path_factory.mktemp("small") / "small.tsv", 40)


# -- --resume without a checkpoint -------------------------------------------------------------------------


def test_resume_on_a_new_folder_says_that_it_starts_from_the_beginning(small, tmp_path, caplog):
    out = tmp_path / "new"
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        best = train("sentiment", str(small), out=out, resume=True, **TINY_PY)
    assert (best / "config.json").is_file()
    assert [r.getMessage() for r in caplog.records] == [f"no checkpoint in {out}: starting from the beginning"]
    # the command line says it even with --quiet (it is a warning), once
    result = ok("train", "sentiment", "--data", small, "--out", tmp_path / "cli", "--resume", "-q", *TINY)
    assert result.stderr.splitlines() == [f"no checkpoint in {tmp_path / 'cli'}: starting from the beginning"]


def test_resume_on_a_run_killed_before_its_first_checkpoint(small, tmp_path):
    # what a run killed (kill -9) before its first checkpoint can leave: the folder, a first model-best and
    # metrics.json, a checkpoint folder being written but no latest.json
    for name, leftovers in [("empty", []), ("leftovers", ["model-best/", "metrics.json", f"{STATE_DIR}/.step-1.tmp-9/"])]:
        out = tmp_path / name
        out.mkdir()
        for item in leftovers:
            (out / item).mkdir(parents=True) if item.endswith("/") else (out / item).write_text("{}")
        result = ok("train", "sentiment", "--data", small, "--out", out, "--resume", "-q", *TINY)
        assert result.stderr.splitlines() == [f"no checkpoint in {out}: starting from the beginning"], name
        assert (out / "model-last" / "config.json").is_file() and not (out / STATE_DIR).exists()


def test_resume_still_refuses_a_finished_run_and_a_folder_of_other_files(small, tmp_path):
    out = tmp_path / "done"
    train("sentiment", str(small), out=out, **TINY_PY)
    with pytest.raises(ZhseqError, match="holds a finished run: nothing to resume"):
        train("sentiment", str(small), out=out, resume=True, **TINY_PY)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ZhseqError, match="is not empty"):
        train("sentiment", str(small), out=other, resume=True, **TINY_PY)
    assert (other / "notes.txt").read_text() == "mine"


# -- stopped by Ctrl-C or SIGTERM before the first checkpoint ----------------------------------------------


@pytest.fixture
def stop_at(monkeypatch):
    """``stop_at(step, how)``: the training loop's ``step``-th optimizer step (its clip_grad_norm_ call) stops the
    run as ``how`` would: "ctrl-c" raises KeyboardInterrupt; "sigterm" sends this process a real SIGTERM, which
    the handler of the ``zhseq`` command in force must turn into the run's end (never the test process's)."""
    real, calls = torch.nn.utils.clip_grad_norm_, {"n": 0}

    def arm(step, how="ctrl-c"):
        def stop(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == step:
                if how == "ctrl-c":
                    raise KeyboardInterrupt
                assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN, None), \
                    "no SIGTERM handler during the run"
                os.kill(os.getpid(), signal.SIGTERM)
            return real(*args, **kwargs)

        calls["n"] = 0
        monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", stop)

    return arm


@pytest.fixture(scope="module")
def base(small, tmp_path_factory):
    """A tiny trained classifier to fine-tune."""
    return train("sentiment", str(small), out=tmp_path_factory.mktemp("base") / "base", **TINY_PY)


@pytest.mark.parametrize("how, code, said", [("ctrl-c", 130, "interrupted"), ("sigterm", 143, "terminated (SIGTERM)")])
def test_train_stopped_before_its_first_checkpoint_says_that_nothing_was_kept(small, tmp_path, stop_at, how, code,
                                                                               said):
    out = tmp_path / "run"
    before = signal.getsignal(signal.SIGTERM)
    stop_at(3, how)
    result = invoke("train", "sentiment", "--data", small, "--out", out, "--batch-size", "4", "-q", *TINY)
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{said} at step 3, before the first checkpoint (written every 500 steps and after each epoch): nothing "
        f"to resume from, {out} removed"]
    assert not out.exists()
    assert signal.getsignal(signal.SIGTERM) == before  # the command's handler is gone with it


@pytest.mark.parametrize("how, code, said", [("ctrl-c", 130, "interrupted"), ("sigterm", 143, "terminated (SIGTERM)")])
def test_finetune_stopped_before_its_first_checkpoint_says_the_same(base, small, tmp_path, stop_at, how, code, said):
    out = tmp_path / "ft"
    out.mkdir()  # a folder the run did not make is left, empty
    stop_at(2, how)
    result = invoke("finetune", base, "--data", small, "--out", out, "--batch-size", "4", "--checkpoint-every", "7",
                    "--epochs", "1", "--min-freq", "1", "-q")
    assert result.exit_code == code, result.output
    assert result.stderr.splitlines() == [
        f"{said} at step 2, before the first checkpoint (written every 7 steps and after each epoch): nothing "
        f"to resume from, {out} left empty"]
    assert out.is_dir() and list(out.iterdir()) == []


def test_stopped_before_training_began(small, tmp_path, monkeypatch, caplog):
    import zhseq.training.run as run

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "read_parts", ctrl_c)  # while the data is read
    out = tmp_path / "run"
    with caplog.at_level(logging.WARNING, logger="zhseq"), pytest.raises(KeyboardInterrupt):
        train("sentiment", str(small), out=out, **TINY_PY)
    assert [r.getMessage() for r in caplog.records] == [
        f"interrupted before the run began training: nothing to resume from, {out} removed"]
    assert not out.exists()


@pytest.mark.parametrize("how, code, said", [("ctrl-c", 130, "interrupted"), ("sigterm", 143, "terminated (SIGTERM)")])
def test_stopped_after_a_checkpoint_says_the_step_reached_and_the_checkpoints(small, tmp_path, stop_at, how, code,
                                                                                said):
    out = tmp_path / "run"
    stop_at(8, how)
    result = invoke("train", "sentiment", "--data", small, "--out", out, "--batch-size", "4", "--checkpoint-every",
                    "3", "-q", *TINY)
    assert result.exit_code == code, result.output
    assert result.stderr.splitlines() == [  # as the line before the first checkpoint: how, and at which step
        f"{said} at step 8: continue with the same command plus --resume (checkpoint at step 6 in {out / STATE_DIR})"]
    assert (out / STATE_DIR / "latest.json").is_file()


def test_a_resumed_run_that_fails_keeps_its_checkpoint_and_says_stopped(tmp_path):
    from zhseq.training.outdir import Progress, kept_line

    kept = tmp_path / STATE_DIR  # no readable checkpoint: its step is not said
    assert kept_line(RuntimeError("disk full"), kept, Progress(step=41)) == (
        f"stopped at step 41: continue with the same command plus --resume (checkpoint in {kept})")
    # a resumed run stopped while it reads its data: no step yet
    assert kept_line(KeyboardInterrupt(), kept, Progress()) == (
        f"interrupted: continue with the same command plus --resume (checkpoint in {kept})")


def test_stopped_after_a_checkpoint_keeps_it_and_a_rerun_without_resume_says_to_add_it(small, tmp_path, caplog):
    out = tmp_path / "run"
    kw = {**TINY_PY, "batch_size": 4, "checkpoint_every": 2}
    with caplog.at_level(logging.WARNING, logger="zhseq"), interrupted_at_step(5):
        train("sentiment", str(small), out=out, **kw)
    assert [r.getMessage() for r in caplog.records] == [  # the folder kept, the hint with the steps
        f"interrupted at step 5: continue with the same command plus --resume (checkpoint at step 4 in "
        f"{out / STATE_DIR})"]
    line = one_error_line(invoke("train", "sentiment", "--data", small, "--out", out, "--batch-size", "4",
                                 "--checkpoint-every", "2", *TINY))
    assert line == (f"Error: --out {out} already holds an unfinished run (checkpoint at step 4 in {out / STATE_DIR}): "
                    "continue it with the same command plus --resume, or choose a new or empty folder")
    assert (out / STATE_DIR / "latest.json").is_file()  # untouched
    assert ok("train", "sentiment", "--data", small, "--out", out, "--batch-size", "4", "--checkpoint-every", "2",
              "--resume", "-q", *TINY).stdout.strip() == str(out / "model-best")


def test_a_refused_resume_names_the_options_that_differ_and_their_values(small, tmp_path):
    out = tmp_path / "run"
    with interrupted_at_step(5):
        train("sentiment", str(small), out=out, **{**TINY_PY, "batch_size": 4, "checkpoint_every": 2})
    line = one_error_line(invoke("train", "sentiment", "--data", small, "--out", out, "--batch-size", "4",
                                 "--checkpoint-every", "2", "--resume", "-q", *TINY, "--hidden-size", "16",
                                 "--lr", "0.001", "--no-gradual-unfreezing"))
    assert line == (f"Error: the checkpoint in {out} was written by a different run: it differs in --hidden-size (8 "
                    "then, 16 now), --lr (0.002 then, 0.001 now); rerun the same command, or start afresh in a new "
                    "--out")
    # a setting without an option is named as Python's (FitConfig) field
    with pytest.raises(ZhseqError, match=r"it differs in --batch-size \(4 then, 8 now\), weight_decay \(0.01 then, "
                                         r"0.1 now\); rerun"):
        train("sentiment", str(small), out=out, resume=True, **{**TINY_PY, "batch_size": 8, "weight_decay": 0.1})


@pytest.mark.parametrize("command", ["train", "finetune"])
def test_the_names_a_refusal_gives_are_the_commands_own_options(command):
    # run._OPTIONS and its kin are written beside the click commands: every name is an option of the command, and
    # every option of the command that is a config field is named as the option (--ngrams is said through its
    # recorded ngram_buckets)
    from dataclasses import fields

    import click

    from zhseq.cli import cli
    from zhseq.config import FitConfig, ModelConfig
    from zhseq.training import run

    cmd = cli.get_command(click.Context(cli), command)
    options = {o[2:].replace("-", "_") for p in cmd.params for o in p.opts if o.startswith("--")}
    named = run._OPTIONS | (run._TRAIN_OPTIONS if command == "train" else run._FINETUNE_OPTIONS)
    assert named <= options
    config_fields = {f.name for f in fields(FitConfig)} | {f.name for f in fields(ModelConfig)}
    assert (options & config_fields) - named <= {"ngrams"}
    if command == "finetune":
        assert {o[2:] for o in run._LM_STAGE_OPTIONS.values()} <= {o.replace("_", "-") for o in options}


def test_resume_on_a_finished_run_says_where_its_model_is_and_what_to_do(base, small):
    out = base.parent
    line = one_error_line(invoke("train", "sentiment", "--data", small, "--out", out, "--resume", *TINY))
    assert line == (f"Error: --out {out} holds a finished run: nothing to resume (its best model is {base}); to "
                    "train again, choose a new or empty folder")


# -- --max-steps ------------------------------------------------------------------------------------------


def test_a_run_ended_by_max_steps_says_so_after_the_epoch_it_cut_short(small, tmp_path):
    args = ["--data", small, "--batch-size", "4", *TINY, "--epochs", "3"]  # 10 steps an epoch
    result = ok("train", "sentiment", *args, "--out", tmp_path / "cut", "--max-steps", "7")
    lines = result.stderr.splitlines()
    said = [i for i, line in enumerate(lines) if line.startswith("stopped at --max-steps")]
    assert [lines[i] for i in said] == ["stopped at --max-steps 7: epoch 1 of 3 not finished (7 of its 10 steps)"]
    assert lines[said[0] - 1].startswith("epoch 1: train loss")  # the part of epoch 1, recorded as epoch 1
    metrics = json.loads((tmp_path / "cut" / "metrics.json").read_text(encoding="utf-8"))
    assert [(e["epoch"], e["step"]) for e in metrics["epochs"]] == [(1, 7)]
    assert (tmp_path / "cut" / "model-last" / "config.json").is_file()
    # with a dev set, that part is scored; at an epoch's end the line says after which
    result = ok("train", "sentiment", *args, "--dev", small, "--out", tmp_path / "dev", "--max-steps", "7")
    assert "stopped at --max-steps 7: epoch 1 of 3 not finished (7 of its 10 steps, scored on dev as they stand)" \
        in result.stderr.splitlines()
    result = ok("train", "sentiment", *args, "--out", tmp_path / "edge", "--max-steps", "20")
    assert [line for line in result.stderr.splitlines() if "--max-steps" in line] == [
        "stopped at --max-steps 20: after epoch 2 of 3"]
    # a limit the run does not reach, or reaches as its last epoch ends, says nothing
    for steps in ("30", "100"):
        result = ok("train", "sentiment", *args, "--out", tmp_path / f"whole-{steps}", "--max-steps", steps)
        assert "--max-steps" not in result.stderr


# -- no --dev and too few texts to hold any out ------------------------------------------------------------


def test_too_few_texts_to_hold_out_says_so(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="zhseq"):
        (texts, _), dev = read_parts("sentiment", table(tmp_path / "a.tsv", 199), None, None, None, seed=0)
    assert dev is None and len(texts) == 199
    assert [r.getMessage() for r in caplog.records] == [
        "only 199 training texts and no --dev: nothing held out (that needs 200 or more), the last epoch is kept"]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="zhseq"):
        (texts, _), dev = read_parts("sentiment", table(tmp_path / "b.tsv", 200), None, None, None, seed=0)
    assert len(dev[0]) == 10 and len(texts) == 190
    assert [r.getMessage() for r in caplog.records] == [
        "no --dev given: holding out 10 of 200 training texts as the dev set"]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="zhseq"):
        read_parts("sentiment", tmp_path / "a.tsv", tmp_path / "a.tsv", None, None, seed=0)
    assert caplog.records == []  # a dev set given: nothing to say
    # an lm's texts the same
    lm = tmp_path / "lm.txt"
    lm.write_text("今天天气很好。\n" * 30, encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="zhseq"):
        read_parts("lm", lm, None, None, None, seed=0)
    assert "only 30 training texts and no --dev: nothing held out" in caplog.records[-1].getMessage()


def test_the_command_line_says_it_and_quiet_silences_it(small, tmp_path):
    result = ok("train", "sentiment", "--data", small, "--out", tmp_path / "loud", *TINY)
    lines = result.stderr.replace("\r", "\n").splitlines()
    assert lines.count("only 40 training texts and no --dev: nothing held out (that needs 200 or more), "
                       "the last epoch is kept") == 1
    assert ok("train", "sentiment", "--data", small, "--out", tmp_path / "quiet", "-q", *TINY).stderr == ""


# -- torch's DDP FutureWarning -----------------------------------------------------------------------------


@pytest.fixture
def process_group(tmp_path, monkeypatch):
    """A real gloo group of one process (DDP needs one), with the environment of torchrun's process ``rank``
    of two set by the test."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_gloo_available()):
        pytest.skip("this torch build has no gloo backend")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    monkeypatch.setenv("WORLD_SIZE", "2")
    yield lambda rank: monkeypatch.setenv("RANK", str(rank))
    dist.destroy_process_group()


@pytest.mark.parametrize("rank", [0, 1])
def test_wrapping_in_ddp_prints_no_future_warning(process_group, rank):
    process_group(rank)
    assert distributed.is_main() == (rank == 0)
    net = torch.nn.Linear(3, 2)
    net.register_buffer("table", torch.ones(4))  # buffers, as the n-gram tables
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wrapped = distributed.wrap(net)
    assert wrapped.module is net
    assert [str(w.message) for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))] == []


def test_other_warnings_of_ddp_are_printed_by_process_0_alone(monkeypatch):
    import torch.nn.parallel

    def ddp(net, broadcast_buffers=True):
        warnings.warn("something DDP says in every process", UserWarning)
        return net

    monkeypatch.setattr(torch.nn.parallel, "DistributedDataParallel", ddp)
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank, expected in [(0, ["something DDP says in every process"]), (1, [])]:
        monkeypatch.setenv("RANK", str(rank))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            distributed.wrap(torch.nn.Linear(2, 2))
        assert [str(w.message) for w in caught] == expected, rank


# -- a vocabulary the training texts leave (nearly) empty --------------------------------------------------


def distinct_words(path, n=10):
    words = "苹果 香蕉 橘子 葡萄 西瓜 草莓 芒果 菠萝 荔枝 龙眼".split()[:n]
    rows = "".join(f"{w}\t{'positive' if i % 2 else 'negative'}\n" for i, w in enumerate(words))
    path.write_text("text\tlabel\n" + rows, encoding="utf-8")
    return path


@pytest.mark.parametrize("task", ["sentiment", "lm"])
def test_no_word_reaching_min_freq_is_one_error_and_no_model(tmp_path, task):
    """Each text one word of its own: nothing reaches --min-freq 2, and a model that reads nothing (it gave
    every text, its training texts too, no label) was saved with exit 0."""
    data = distinct_words(tmp_path / "distinct.tsv")
    options = ["--embedding-size", "8", "--hidden-size", "8", "--epochs", "1", "-q"]
    line = one_error_line(invoke("train", task, "--data", data, "--out", tmp_path / "run", *options))
    assert line == ("Error: no word of the 10 training texts occurs 2 times or more (--min-freq): the vocabulary "
                    "would be empty; give more text, or --min-freq 1")
    assert not (tmp_path / "run").exists()
    one_error_line(invoke("train", task, "--data", data, "--out", tmp_path / "runs/a/b", *options))
    assert not (tmp_path / "runs").exists()  # nor the parents the run made for its folder
    with pytest.raises(ZhseqError, match="the vocabulary would be empty"):
        train(task, str(data), tmp_path / "py", embedding_size=8, hidden_size=8, epochs=1, progress=False)
    ok("train", task, "--data", data, "--out", tmp_path / "kept", *options, "--min-freq", "1")


def test_most_texts_holding_no_vocabulary_word_is_said(tmp_path, caplog):
    data = distinct_words(tmp_path / "distinct.tsv")
    data.write_text(data.read_text(encoding="utf-8") + "苹果\tpositive\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        train("sentiment", str(data), tmp_path / "run", **dict(TINY_PY, min_freq=2))
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "9 of the 11 training texts hold no word that occurs 2 times or more (--min-freq): the model cannot read "
        "them; give more text, or --min-freq 1"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="zhseq"):
        train("sentiment", str(table(tmp_path / "fine.tsv", 40)), tmp_path / "fine", **TINY_PY)
    assert not [r for r in caplog.records if "hold no word" in r.getMessage()]
