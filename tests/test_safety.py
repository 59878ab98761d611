"""No pickle anywhere; a damaged model folder is a one-line ZhseqError; saving is atomic."""

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import torch

import zhseq
from zhseq.api import NextWordPredictor, SentimentClassifier
from zhseq.checkpoint import read_config, save_model
from zhseq.errors import ZhseqError
from zhseq.modeling import BackboneConfig, NextWordConfig, NextWordNet, SentimentConfig, SentimentNet
from zhseq.tokenizer import Tokenizer
from zhseq import evaluate, finetune
from zhseq.checkpoint import info
from zhseq.vocab import Vocab

REPO = Path(__file__).resolve().parent.parent
FORBIDDEN = re.compile(r"torch\.save|torch\.load|import pickle|pickle\.|\bmarshal\b|import dill|cloudpickle")
TEXTS = ["这部电影很好", "很差", "", "没见过的字"]


# -- no pickle ------------------------------------------------------------------------------------


def python_files():
    roots = [Path(zhseq.__file__).resolve().parent, REPO / "cli"]
    files = [f for root in roots for f in sorted(root.rglob("*.py"))]
    return roots, files


def test_no_pickle_in_the_code():
    roots, files = python_files()
    assert all(root.is_dir() for root in roots)
    names = {f.name for f in files}
    assert {"checkpoint.py", "api.py", "tokenizer.py", "__init__.py"} <= names
    assert any(f.parent == REPO / "cli" for f in files)  # the CLI was really scanned
    offenders = [
        f"{f}:{n}: {line.strip()}"
        for f in files
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
        if FORBIDDEN.search(line)
    ]
    assert offenders == []


def test_the_scan_would_catch_pickle():
    for line in ("import pickle", "pickle.loads(b)", "torch.load(path)", "torch.save(model, p)", "import marshal"):
        assert FORBIDDEN.search(line), line
    assert not FORBIDDEN.search("No pickle anywhere.")


# -- a model folder to damage ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A real (untrained) sentiment model folder, saved through the public API."""
    torch.manual_seed(0)
    vocab = Vocab.build([["这部", "电影", "很", "好", "差"]], min_freq=1)
    net = SentimentNet(SentimentConfig(BackboneConfig(vocab_size=len(vocab), embedding_size=8, hidden_size=8),
                                       num_labels=2))
    clf = SentimentClassifier(net, vocab, Tokenizer(), {"labels": ["负面", "正面"]})
    folder = tmp_path_factory.mktemp("safety") / "model"
    assert clf.save_pretrained(folder) == folder
    return folder


@pytest.fixture
def copy(model_dir, tmp_path):
    dst = tmp_path / "model"
    shutil.copytree(model_dir, dst)
    return dst


def edit_config(folder, change):
    path = folder / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    change(config)
    path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")


def assert_refused(folder, *fragments):
    with pytest.raises(ZhseqError) as err:
        SentimentClassifier.from_pretrained(folder)
    message = str(err.value)
    assert "\n" not in message.strip() and "Traceback" not in message
    for fragment in fragments:
        assert fragment in message
    return message


def test_the_intact_folder_loads(model_dir):
    assert sorted(p.name for p in model_dir.iterdir()) == ["config.json", "model.safetensors", "vocab.json"]
    raw = (model_dir / "config.json").read_text(encoding="utf-8")
    assert "负面" in raw  # ensure_ascii=False
    config = json.loads(raw)
    assert config["format"] == "zhseq-model" and config["labels"] == ["负面", "正面"]
    # safetensors: an 8-byte little-endian header length, then a JSON header
    data = (model_dir / "model.safetensors").read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    assert "backbone.embedding.weight" in header
    clf = SentimentClassifier.from_pretrained(model_dir)
    labels = [p["label"] for p in clf(TEXTS)]  # the empty text has no label; the others one of the model's
    assert labels[2] is None and all(label in ("负面", "正面") for label in labels[:2])
    assert info(model_dir)["n_parameters"] == sum(p.numel() for p in clf.net.parameters())


def test_missing_folder(tmp_path):
    assert_refused(tmp_path / "nope", "nope")
    with pytest.raises(ZhseqError):
        info(tmp_path / "nope")


def test_a_file_instead_of_a_folder(tmp_path):
    f = tmp_path / "model.bin"
    f.write_bytes(b"\x80\x04K\x01.")  # a pickle, for good measure
    assert_refused(f)


def test_folder_without_config(copy):
    (copy / "config.json").unlink()
    assert_refused(copy, "config.json")
    with pytest.raises(ZhseqError):
        info(copy)


def test_empty_folder(tmp_path):
    assert_refused(tmp_path)


@pytest.mark.parametrize("content", [b"{not json", b"", b"\xff\xfe\x00\x01", b"[1, 2, 3]", b"null"])
def test_config_that_is_not_json_or_not_an_object(copy, content):
    (copy / "config.json").write_bytes(content)
    assert_refused(copy)
    with pytest.raises(ZhseqError):
        read_config(copy)


def test_config_of_another_format(copy):
    (copy / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "vocab_size": 21128}),
                                      encoding="utf-8")
    assert_refused(copy, "zhseq")


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c.pop("backbone"),
        lambda c: c.update(backbone=None),
        lambda c: c["backbone"].update(hidden_size="8"),
        lambda c: c["backbone"].update(hidden_size=-3),
        lambda c: c["backbone"].update(cell="transformer"),
        lambda c: c["backbone"].update(wings=2),
        lambda c: c["head"].update(pooling="attention"),
        lambda c: c.update(labels=["只有一个"]),
        lambda c: c.update(labels={"0": "负面", "1": "正面"}),
        lambda c: c.update(labels=["正面", "正面"]),
        lambda c: c.pop("labels"),
        lambda c: c.update(tokenizer="jieba"),
        lambda c: c.update(tokenizer={"backend": "jieba", "user_words": 3}),
        lambda c: c.update(task="lm"),
    ],
)
def test_damaged_config_values(copy, change):
    edit_config(copy, change)
    assert_refused(copy)


def test_truncated_weights(copy):
    path = copy / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert_refused(copy, "model.safetensors")
    with pytest.raises(ZhseqError):
        info(copy)


@pytest.mark.parametrize("size", [0, 5, 4096])
def test_weights_of_random_bytes(copy, size):
    (copy / "model.safetensors").write_bytes(os.urandom(size))
    assert_refused(copy, "model.safetensors")
    with pytest.raises(ZhseqError):
        info(copy)


def test_missing_weights(copy):
    (copy / "model.safetensors").unlink()
    assert_refused(copy, "model.safetensors")


def test_missing_vocab(copy):
    (copy / "vocab.json").unlink()
    assert_refused(copy, "vocab.json")


def test_weights_that_do_not_match_the_config(copy):
    edit_config(copy, lambda c: c["backbone"].update(vocab_size=c["backbone"]["vocab_size"] + 3))
    assert_refused(copy)


def test_weights_of_another_architecture(copy):
    edit_config(copy, lambda c: c["backbone"].update(cell="gru"))
    assert_refused(copy, "model.safetensors")
    copy2 = copy.parent / "model2"
    shutil.copytree(copy, copy2)
    edit_config(copy2, lambda c: c["backbone"].update(cell="lstm", hidden_size=16))
    assert_refused(copy2)


def test_vocab_of_the_wrong_size(copy):
    path = copy / "vocab.json"
    vocab = json.loads(path.read_text(encoding="utf-8"))
    vocab["tokens"] = vocab["tokens"][:-1]
    path.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    assert_refused(copy, "vocab")


@pytest.mark.parametrize("content", [b"{broken", b'{"format": "zhseq-vocab", "tokens": ["a", "b"]}', b"[]"])
def test_damaged_vocab(copy, content):
    (copy / "vocab.json").write_bytes(content)
    assert_refused(copy)


def test_damaged_model_fails_cleanly_in_evaluate_and_finetune(copy, tmp_path):
    data = tmp_path / "data.tsv"
    data.write_text("text\tlabel\n很好\t正面\n很差\t负面\n", encoding="utf-8")
    path = copy / "model.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ZhseqError):
        evaluate(copy, str(data))
    out = tmp_path / "ft"
    with pytest.raises(ZhseqError):
        finetune(copy, str(data), out=out, progress=False)
    assert not out.exists()


def test_wrong_task_for_the_class(model_dir):
    with pytest.raises(ZhseqError, match="sentiment"):
        NextWordPredictor.from_pretrained(model_dir)


# -- atomic saving --------------------------------------------------------------------------------


def leftovers(folder):
    return [p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_save_leaves_no_temporary_folders(model_dir, tmp_path):
    clf = SentimentClassifier.from_pretrained(model_dir)
    target = tmp_path / "saved"
    clf.save_pretrained(target)
    assert leftovers(tmp_path) == [] and leftovers(target) == []
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "model.safetensors", "vocab.json"]
    # saving again over the same folder replaces it, still without leftovers
    clf.save_pretrained(target)
    assert leftovers(tmp_path) == [] and leftovers(target) == []
    assert SentimentClassifier.from_pretrained(target)(TEXTS) == clf(TEXTS)


def test_failed_save_keeps_the_old_folder(model_dir, tmp_path, monkeypatch):
    clf = SentimentClassifier.from_pretrained(model_dir)
    target = tmp_path / "saved"
    clf.save_pretrained(target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def broken_save(self, path):
        Path(path).write_text("half a vocab", encoding="utf-8")
        raise OSError("disk full")

    monkeypatch.setattr(Vocab, "save", broken_save)
    with pytest.raises(OSError):
        clf.save_pretrained(target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert leftovers(tmp_path) == []
    fresh = tmp_path / "fresh"
    with pytest.raises(OSError):
        clf.save_pretrained(fresh)
    assert not fresh.exists() and leftovers(tmp_path) == []


def test_save_model_writes_the_three_files_for_lm(tmp_path):
    torch.manual_seed(0)
    vocab = Vocab.build([["今天", "天气", "很", "好"]], min_freq=1)
    net = NextWordNet(NextWordConfig(BackboneConfig(vocab_size=len(vocab), embedding_size=8, hidden_size=8,
                                                    bidirectional=False)))
    config = {"zhseq_version": zhseq.__version__, "task": "lm", **net.config.to_dict(), "labels": None,
              "tokenizer": Tokenizer().to_dict()}
    folder = save_model(tmp_path / "lm", config=config, module=net, vocab=vocab)
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "vocab.json"]
    lm = NextWordPredictor.from_pretrained(folder)
    for name, value in net.state_dict().items():
        assert torch.equal(lm.net.state_dict()[name], value), name
    with torch.no_grad():
        states = torch.randn(3, 8)
        torch.testing.assert_close(lm.net.logits_from_states(states), net.eval().logits_from_states(states))
    assert {t["token"] for t in lm.predict_next("今天", k=4)} == {"今天", "天气", "很", "好"}


# -- a malicious file dropped into a model folder is never loaded --------------------------------


class _Payload:
    """Unpickling this creates a marker file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_malicious_pickle_in_the_model_folder_is_never_executed(copy, tmp_path):
    import pickle

    from zhseq.checkpoint import info
    from zhseq.pipeline import load

    # the payload works: unpickling it does run code
    probe = tmp_path / "probe-ran"
    pickle.loads(pickle.dumps(_Payload(probe)))
    assert probe.exists()

    marker = tmp_path / "payload-ran"
    for name in ("pytorch_model.bin", "model.pt", "model.pkl", "training_args.bin", "optimizer.pt"):
        (copy / name).write_bytes(pickle.dumps(_Payload(marker)))
    clf = SentimentClassifier.from_pretrained(copy)
    assert clf(["这部电影很好"])[0]["label"] in ("负面", "正面")
    load(copy, engine="numpy")("这部电影很好")
    info(copy)
    assert not marker.exists()


def test_saved_weights_are_readable_like_the_other_files(model_dir):
    modes = {p.name: p.stat().st_mode & 0o777 for p in model_dir.iterdir()}
    assert modes["model.safetensors"] == modes["config.json"], modes
