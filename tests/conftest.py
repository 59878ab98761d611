import pytest


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest on one thread, and spinning threads crawl on a busy 2-core machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def two_label_tsv(tmp_path_factory):
    """400 short generated reviews, `label<TAB>text`, alternating negative and positive."""
    import random

    pos = ["很好", "喜欢", "推荐", "满意", "不错"]
    neg = ["很差", "失望", "退货", "糟糕", "难用"]
    nouns = ["房间", "服务", "手机", "这本书", "快递", "屏幕"]
    rng = random.Random(0)
    rows = []
    for i in range(400):
        words, label = (pos, "positive") if i % 2 else (neg, "negative")
        rows.append(f"{label}\t{rng.choice(nouns)}{rng.choice(words)}，{rng.choice(nouns)}{rng.choice(words)}")
    path = tmp_path_factory.mktemp("two-label") / "train.tsv"
    path.write_text("label\ttext\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path
