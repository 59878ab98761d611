"""The numpy engine agrees with the torch models: every cell, direction, layer count and pooling, float32
and float16 files, real text end to end; a row's answer does not depend on its batch; it never imports torch."""

import json
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from zhseq.pipeline import NextWordPredictor, SentimentClassifier, banned_ids, load
from zhseq.cells import CELLS, register_cell
from zhseq.checkpoint import WEIGHTS_NAME, load_weights, save_model
from zhseq.errors import ZhseqError
from zhseq.config import POOLINGS
from zhseq.modeling import (
    BackboneConfig,
    NextWordConfig,
    NextWordNet,
    SentimentConfig,
    SentimentNet,
    build_model,
)
from zhseq.runtime import Int8Rows
from zhseq.torch_engine import pad_batch
from zhseq.training import train
from zhseq.vocab import SPECIALS, Vocab

TOL = 1e-5
V, E, H = 30, 6, 5
VOCAB = Vocab(SPECIALS + tuple(f"w{i}" for i in range(V - len(SPECIALS))))
# different lengths, an empty row in the middle, two rows of the same length
SEQS = [[int(i) for i in np.random.default_rng(n).integers(1, V, size=n)] for n in (5, 0, 1, 9, 3, 9, 2)]
LABELS = ["a", "b", "c"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def randomised(net, seed):
    """Weights spread over [-1, 1] (larger than the init) so gates saturate and differences would show."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.rand(p.shape, generator=gen) * 2 - 1)
    return net.eval()


def save(net, folder, task, dtype=None):
    config = {"task": task, **net.config.to_dict(), "labels": LABELS if task == "sentiment" else None}
    return save_model(folder, config=config, module=net, vocab=VOCAB, dtype=dtype)


def sentiment_net(cell, bidirectional, layers, pooling, seed=0):
    torch.manual_seed(seed)
    bb = BackboneConfig(V, E, H, cell=cell, layers=layers, bidirectional=bidirectional)
    return randomised(SentimentNet(SentimentConfig(bb, num_labels=len(LABELS), pooling=pooling)), seed)


def lm_net(cell, layers, seed=0, bidirectional=False):
    torch.manual_seed(seed)
    bb = BackboneConfig(V, E, H, cell=cell, layers=layers, bidirectional=bidirectional)
    return randomised(NextWordNet(NextWordConfig(bb)), seed)


def numpy_model(folder):
    return load(folder, engine="numpy")


def assert_close(got, want):
    want = want.detach().numpy() if isinstance(want, torch.Tensor) else want
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= TOL


# -- random weights, every configuration ----------------------------------------------------------


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_sentiment_matches_torch(tmp_path, cell, bidirectional, layers, pooling):
    net = sentiment_net(cell, bidirectional, layers, pooling)
    model = numpy_model(save(net, tmp_path / "m", "sentiment"))
    assert isinstance(model, SentimentClassifier) and model.engine_name == "numpy"
    ids, lengths = pad_batch(SEQS)
    with torch.no_grad():
        logits, _ = net(ids, lengths)
        outputs, final = net.backbone(ids, lengths)
    got_outputs, got_final = model.engine.backbone(SEQS)
    assert_close(got_outputs, outputs)
    assert_close(got_final, final)
    assert_close(model.engine.sentiment_logits(SEQS), logits)
    model.engine.token_budget = 10  # many small length-sorted slices give the same rows, in order
    assert_close(model.engine.sentiment_logits(SEQS), logits)
    assert_close(model.engine.sentiment_logits([[]]), net(*pad_batch([[]]))[0])  # a batch of one empty text


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers, bidirectional", [(1, False), (2, False), (1, True)])
def test_next_word_matches_torch(tmp_path, cell, layers, bidirectional):
    net = lm_net(cell, layers, bidirectional=bidirectional)
    model = numpy_model(save(net, tmp_path / "m", "lm"))
    assert isinstance(model, NextWordPredictor) and model.engine_name == "numpy"
    ids, lengths = pad_batch(SEQS)
    with torch.no_grad():
        want = net.next_logits(ids, lengths)
        outputs, final = net.backbone(ids, lengths)
    assert_close(model.engine.next_logits(SEQS), want)
    # a bidirectional language model runs its left-to-right half alone: the first H of each state
    got_outputs, got_final = model.engine.backbone(SEQS)
    assert_close(got_outputs, outputs[..., :H])
    assert_close(got_final, final[..., :H])


@pytest.mark.parametrize("cell", ["rnn-ref", "lstm-ref", "gru-ref"])
def test_reference_cells_run_too(tmp_path, cell):
    net = sentiment_net(cell, True, 2, "max")
    model = numpy_model(save(net, tmp_path / "m", "sentiment"))
    with torch.no_grad():
        assert_close(model.engine.sentiment_logits(SEQS), net(*pad_batch(SEQS))[0])


@pytest.mark.parametrize("dtype", ["float16"])
def test_half_precision_files_agree_with_torch_loading_the_same_file(tmp_path, dtype):
    net = sentiment_net("lstm", True, 2, "mean")
    folder = save(net, tmp_path / "m", "sentiment", dtype=dtype)
    torch_net = build_model("sentiment", net.config.to_dict()).eval()
    load_weights(torch_net, folder)
    model = numpy_model(folder)
    assert all(w.dtype == np.float32 for w in model.engine.weights.values())
    with torch.no_grad():
        assert_close(model.engine.sentiment_logits(SEQS), torch_net(*pad_batch(SEQS))[0])


@pytest.mark.parametrize("dtype", [None, "float16"])
def test_int8_embeddings_load_alike_in_both_and_stay_close(tmp_path, dtype):
    net = sentiment_net("gru", True, 1, "max")
    with torch.no_grad():
        net.backbone.embedding.weight[3].zero_()  # an all-zero row (its scale must not divide by zero)
    folder = save_model(tmp_path / "q", config={"task": "sentiment", **net.config.to_dict(), "labels": LABELS},
                        module=net, vocab=VOCAB, dtype=dtype, quantize=True)
    from safetensors.torch import load_file as load_torch

    raw = load_torch(str(folder / WEIGHTS_NAME))
    assert raw["backbone.embedding.weight"].dtype == torch.int8
    assert raw["backbone.embedding.weight.int8_scale"].dtype == torch.float32
    torch_net = build_model("sentiment", net.config.to_dict()).eval()
    load_weights(torch_net, folder)
    model = numpy_model(folder)
    want = net.backbone.embedding.weight.detach()
    got = torch_net.backbone.embedding.weight.detach()
    step = want.abs().amax(1, keepdim=True) / 127
    assert (got - want).abs().le(step / 2 + 1e-7).all() and not got[3].any()
    kept = model.engine.weights["backbone.embedding.weight"]
    assert isinstance(kept, Int8Rows) and kept.q.dtype == np.int8  # widened row by row, not at load
    assert np.array_equal(kept, got.numpy()) and np.array_equal(kept[[5, 3, 5]], got.numpy()[[5, 3, 5]])
    with torch.no_grad():
        assert_close(model.engine.sentiment_logits(SEQS), torch_net(*pad_batch(SEQS))[0])
    info = __import__("zhseq.checkpoint", fromlist=["info"]).info(folder)
    assert info["n_parameters"] == sum(p.numel() for p in net.state_dict().values())


def test_a_scale_without_its_tensor_is_refused(tmp_path):
    folder = save(sentiment_net("lstm", False, 1, "max"), tmp_path / "m", "sentiment")
    raw = load_file(str(folder / WEIGHTS_NAME))
    raw["classifier.bias.int8_scale"] = np.ones(7, np.float32)
    save_file(raw, str(folder / WEIGHTS_NAME))
    for loader in (numpy_model, lambda f: load_weights(build_model("sentiment", json.loads(
            (f / "config.json").read_text())), f)):
        with pytest.raises(ZhseqError, match="int8_scale does not fit"):
            loader(folder)


# -- refusals -------------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    return save(sentiment_net("gru", True, 1, "max"), tmp_path / "m", "sentiment")


def edit_config(folder, change):
    path = folder / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    change(config)
    path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")


def test_a_custom_cell_needs_torch(tmp_path):
    @register_cell("numpy-less")
    class Custom(CELLS["gru-ref"]):
        pass

    try:
        net = sentiment_net("numpy-less", False, 1, "max")
        folder = save(net, tmp_path / "m", "sentiment")
        with pytest.raises(ZhseqError, match='numpy-less.*engine="torch"'):
            numpy_model(folder)
    finally:
        del CELLS["numpy-less"]


def test_missing_extra_and_misshapen_tensors_are_refused(folder):
    weights = load_file(str(folder / WEIGHTS_NAME))
    path = str(folder / WEIGHTS_NAME)
    save_file({k: v for k, v in weights.items() if k != "classifier.bias"}, path)
    with pytest.raises(ZhseqError, match="missing classifier.bias"):
        numpy_model(folder)
    save_file({**weights, "extra": np.zeros(2, np.float32)}, path)
    with pytest.raises(ZhseqError, match="unexpected extra"):
        numpy_model(folder)
    save_file({**weights, "classifier.bias": np.zeros(4, np.float32)}, path)
    with pytest.raises(ZhseqError, match=r"classifier.bias has shape \(4,\)"):
        numpy_model(folder)
    (folder / WEIGHTS_NAME).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    with pytest.raises(ZhseqError, match="corrupt or truncated"):
        numpy_model(folder)


def test_config_errors(folder):
    with pytest.raises(ZhseqError, match="not a 'lm' model"):
        NextWordPredictor.from_pretrained(folder, engine="numpy")
    edit_config(folder, lambda c: c["head"].update(pooling="median"))
    with pytest.raises(ZhseqError, match='head.pooling must be one of: max, mean, last, not "median"'):
        numpy_model(folder)
    edit_config(folder, lambda c: c["head"].update(pooling="max", colour="red"))
    with pytest.raises(ZhseqError, match="unknown head settings: colour"):
        numpy_model(folder)
    edit_config(folder, lambda c: (c["head"].pop("colour"), c.update(labels=["x", "x", "y"])))
    with pytest.raises(ZhseqError, match="different label names"):
        numpy_model(folder)


def test_a_stacked_bidirectional_language_model_is_refused(tmp_path):
    folder = save(lm_net("lstm", 1, bidirectional=True), tmp_path / "m", "lm")
    numpy_model(folder)  # one layer: fine
    edit_config(folder, lambda c: c["backbone"].update(layers=2))
    with pytest.raises(ZhseqError, match="one layer"):
        numpy_model(folder)


# -- real text, end to end ------------------------------------------------------------------------

WORDS_POS = ["很好", "喜欢", "推荐", "好吃"]
WORDS_NEG = ["很差", "失望", "糟糕", "难吃"]
NOUNS = ["这家餐厅", "这本书", "手机", "服务", "菜"]
TEXTS = [
    "这家餐厅的菜很好吃",
    "等了一个小时，太失望了",
    "",
    "   \t ",
    "😀🎉👍",
    "hello world, just Latin text 123",
    "控制\x00字符\x07在\x1b[31m这里\u200b很好",
    "手机很好" + "，服务糟糕" * 20,
    "很好吃" * 33334,  # 100,002 characters
    "从没见过的词语",
]
PREFIXES = ["今天天气", "", "   ", "😀", "hello", "我喜欢", "控制\x00字符", "很好" * 50000]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("runtime")
    rng = random.Random(0)
    rows = [(f"{rng.choice(NOUNS)}{rng.choice(words)}", label)
            for i in range(40) for words, label in [((WORDS_POS, "positive"), (WORDS_NEG, "negative"))[i % 2]]]
    tsv = root / "train.tsv"
    tsv.write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows), encoding="utf-8")
    lines = root / "lm.txt"
    lines.write_text("".join(f"{rng.choice(['今天', '我'])}{rng.choice(WORDS_POS + NOUNS)}。\n" for _ in range(40)),
                     encoding="utf-8")
    tiny = dict(embedding_size=8, hidden_size=8, epochs=1, min_freq=1, progress=False)
    sentiment = train("sentiment", str(tsv), out=root / "sentiment", max_tokens=12, **tiny)
    lm = train("lm", str(lines), out=root / "lm", bptt=8, **tiny)
    return sentiment, lm


def test_sentiment_end_to_end_matches_the_torch_api(trained):
    sentiment, _ = trained
    clf = SentimentClassifier.from_pretrained(sentiment, engine="torch")
    fast = SentimentClassifier.from_pretrained(sentiment)
    assert fast.labels == clf.labels
    assert_close(fast.predict_proba(TEXTS, content=True)[0], clf.predict_proba(TEXTS, content=True)[0])
    for band in (0.0, 0.04):  # 0.04: some texts neutral, some not
        want, got = clf(TEXTS, neutral_band=band), fast(TEXTS, batch_size=3, neutral_band=band)
        assert [g["label"] for g in got] == [w["label"] for w in want]
        score = lambda r: -1.0 if r["score"] is None else r["score"]  # noqa: E731 — None: no label
        assert np.allclose([score(g) for g in got], [score(w) for w in want], rtol=0, atol=TOL)
    assert fast(TEXTS[0])["label"] == clf(TEXTS[0])["label"]
    for band in (0.5, -0.1):
        with pytest.raises(ZhseqError, match=r"neutral_band must be a number in \[0, 0.5\)"):
            fast(TEXTS, neutral_band=band)


def test_next_word_end_to_end_matches_the_torch_api(trained):
    _, lm = trained
    torch_lm = NextWordPredictor.from_pretrained(lm, engine="torch")
    fast = NextWordPredictor.from_pretrained(lm)
    for k in (1, 5, 1000):
        want, got = torch_lm.predict_next(PREFIXES, k=k), fast.predict_next(PREFIXES, k=k)
        for g, w in zip(got, want):
            assert [x["token"] for x in g] == [x["token"] for x in w]
            assert np.allclose([x["score"] for x in g], [x["score"] for x in w], rtol=0, atol=TOL)
            assert not {x["token"] for x in g} & set(SPECIALS)
    # every word of the vocabulary, and the rest of each word of jieba's dictionary that begins with 今天
    everything = fast.predict_next("今天", k=1000)
    completions = {w[len("今天"):] for w, _ in fast._oov_extensions("今天")[0]}
    assert len(everything) == len({x["token"] for x in everything})
    assert {x["token"] for x in everything} == set(fast.vocab.itos[len(SPECIALS):]) | completions
    assert [x["token"] for x in fast.predict_next("今天")] == [x["token"] for x in torch_lm.predict_next("今天")]


def test_words_only_drops_exactly_the_tokens_without_a_letter_or_digit(trained):
    _, lm = trained
    torch_lm, fast = NextWordPredictor.from_pretrained(lm, engine="torch"), NextWordPredictor.from_pretrained(lm)
    itos = fast.vocab.itos
    banned = banned_ids(itos, words_only=True)
    assert banned[: len(SPECIALS)] == list(range(len(SPECIALS)))
    non_words = {itos[i] for i in banned[len(SPECIALS):]}
    assert non_words and all(not any(c.isalnum() for c in t) for t in non_words)  # "，" "。" and the like
    assert all(any(c.isalnum() for c in t) for i, t in enumerate(itos) if i not in set(banned))
    everything = 10**6
    for model in (torch_lm, fast):
        for prefix in PREFIXES:
            full = model.predict_next(prefix, k=everything)
            words = model.predict_next(prefix, k=everything, words_only=True)
            # the same ranking with the non-words taken out, and at least every word of the vocabulary
            assert [x["token"] for x in words] == [x["token"] for x in full if any(c.isalnum() for c in x["token"])]
            assert not {x["token"] for x in words} & non_words
            assert len(words) >= len(itos) - len(banned)
            assert model.predict_next(prefix, k=3, words_only=True) == words[:3]
    got = fast.predict_next(PREFIXES, k=5, words_only=True)
    want = torch_lm.predict_next(PREFIXES, k=5, words_only=True)
    assert [[x["token"] for x in g] for g in got] == [[x["token"] for x in w] for w in want]


def test_the_numpy_engine_never_imports_torch(trained):
    sentiment, lm = trained
    code = (
        "import sys, zhseq.pipeline as p; "
        f"print(p.load({str(sentiment)!r})('这家餐厅的菜很好吃')); "
        f"print(p.load({str(lm)!r}).predict_next('今天', k=2)); "
        "heavy = {'torch', 'datasets', 'sklearn', 'pandas', 'zhseq.api', 'zhseq.modeling'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "'label'" in proc.stdout and "'token'" in proc.stdout


def test_the_cli_predicts_without_torch_and_falls_back_to_it_for_other_cells(trained, tmp_path):
    sentiment, lm = trained
    code = (
        "import sys; from zhseq.cli import cli; "
        "args = sys.argv[1:]; "
        "cli.main(args, prog_name='zhseq', standalone_mode=False); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    for args, lines in ((["sentiment", "--model", str(sentiment), "很好", ""], 2),
                        (["predict-next", "--model", str(lm), "-k", "2", "今天"], 1)):
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert len(proc.stdout.splitlines()) == lines

    assert load(sentiment, task="sentiment").engine_name == "numpy"
    # a cell with no numpy twin runs through torch, with the same results as zhseq.api
    import torch

    from zhseq.cells import CELLS, FusedGRU, register_cell

    register_cell("gru-custom-test")(type("CustomGRU", (FusedGRU,), {}))
    try:
        out = train("sentiment", str(sentiment.parent.parent / "train.tsv"), out=tmp_path / "custom",
                    cell="gru-custom-test", embedding_size=8, hidden_size=8, epochs=1, min_freq=1, progress=False)
        model = load(out, task="sentiment")
        assert model.engine_name == "torch" and isinstance(model.net, torch.nn.Module)
        assert model(["很好"])[0]["label"] in model.labels
    finally:
        CELLS.pop("gru-custom-test", None)


# -- a row's answer does not depend on its batch ---------------------------------------------------


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional, layers", [(False, 1), (True, 1), (True, 2)])
def test_a_rows_logits_do_not_depend_on_its_batch(tmp_path, cell, bidirectional, layers):
    """To the bit: scored alone, in a batch of two, in the whole batch, in slices by a small token budget."""
    models = [numpy_model(save(sentiment_net(cell, bidirectional, layers, "max"), tmp_path / "s", "sentiment")),
              numpy_model(save(lm_net(cell, layers), tmp_path / "l", "lm"))]
    seqs = SEQS + [[int(i) for i in np.random.default_rng(n).integers(1, V, size=n)] for n in range(1, 40, 3)]
    for model in models:
        run = model.engine.sentiment_logits if model.task == "sentiment" else model.engine.next_logits
        whole = run(seqs)
        assert np.array_equal(np.concatenate([run([s]) for s in seqs]), whole)
        assert np.array_equal(np.concatenate([run(seqs[i:i + 2]) for i in range(0, len(seqs), 2)]), whole)
        model.engine.token_budget = 7
        assert np.array_equal(run(seqs[::-1])[::-1], whole)


def test_bfloat16_files_need_the_torch_engine(tmp_path):
    """zhseq never writes bfloat16 (numpy has no such type), but a file written elsewhere still loads."""
    from safetensors.torch import save_file as save_torch

    net = sentiment_net("lstm", True, 1, "max")
    folder = save(net, tmp_path / "m", "sentiment")
    with pytest.raises(ZhseqError, match="unknown weights dtype 'bfloat16'; choose one of: float32, float16"):
        save_model(tmp_path / "b", config={"task": "sentiment", **net.config.to_dict(), "labels": LABELS},
                   module=net, vocab=VOCAB, dtype="bfloat16")
    save_torch({k: v.to(torch.bfloat16) for k, v in net.state_dict().items()}, str(folder / WEIGHTS_NAME))
    with pytest.raises(ZhseqError, match='bfloat16 tensors, which numpy cannot read; load it with engine="torch"'):
        numpy_model(folder)
    clf = SentimentClassifier.from_pretrained(folder, engine="torch")
    assert clf(["w4 w5"])[0]["label"] in LABELS
