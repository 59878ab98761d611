"""predict-next answers what to append to a prefix: a next word, or the rest of the word being typed; words
outside the vocabulary are re-cut into vocabulary words; generate does not loop. On the shipped next-word
model, and on both engines."""

import numpy as np
import pytest
from click.testing import CliRunner

from zhseq.cli import cli
from zhseq.pipeline import NextWordPredictor, repeating


@pytest.fixture(scope="module")
def lm():
    return NextWordPredictor.from_pretrained("lm")


def tokens(answers):
    return [a["token"] for a in answers]


def test_a_word_outside_the_vocabulary_is_re_cut_into_vocabulary_words(lm):
    assert lm.tokenizer.cut("今天天气") == ["今天天气"] and "今天天气" not in lm.vocab
    assert lm.words("今天天气") == ["今天", "天气"]
    assert all(w in lm.vocab or len(w) == 1 for w in lm.words("xyzzy今天天气真好"))
    assert tokens(lm.predict_next("今天天气")) != tokens(lm.predict_next("xyzzy"))
    assert lm.generate("今天天气", n=10) != ""  # the example of `generate --help`


def test_the_last_word_may_be_unfinished(lm):
    # jieba keeps 生日快乐 as one word, so 快乐 can only come as the rest of the word being typed
    assert "快乐" in tokens(lm.predict_next("祝你生日", k=3))
    # after a space or punctuation the last word is finished: next words only
    assert "快乐" not in tokens(lm.predict_next("祝你生日，", k=5))
    stem = "生日"
    assert {lm.vocab.itos[i] for i in lm.extensions(stem)} >= {"生日快乐"}
    assert all(lm.vocab.itos[i].startswith(stem) and lm.vocab.itos[i] != stem for i in lm.extensions(stem))


def test_the_unfinished_word_may_span_the_last_words(lm):
    # 祝你生日快 is cut 生日 | 快, and the model never saw 快乐 after 生日: only 生日快 → 生日快乐 gives 乐
    assert lm.words("祝你生日快")[-2:] == ["生日", "快"]
    assert tokens(lm.predict_next("祝你生日快", k=1)) == ["乐"]
    one = NextWordPredictor.from_pretrained("lm")
    one.stem_words = 1
    assert "乐" not in tokens(one.predict_next("祝你生日快", k=5))
    # the unfinished word is what ends the prefix: a space or punctuation in between ends it
    from zhseq.pipeline import _units

    assert lm._stem_span("祝你生日快", _units(lm._cut("祝你生日快"))) == 3
    assert lm._stem_span("祝你生日 快", _units(lm._cut("祝你生日 快"))) == 1
    assert lm._stem_span("祝你生日，", _units(lm._cut("祝你生日，"))) == 0


def test_a_word_outside_the_vocabulary_is_unfinished_only_as_a_whole(lm):
    # iPho is one word to the tokenizer, read as i | P | h | o by the model: the word being typed is iPho,
    # never ho (→ hotel) or o; likewise 2023 (read as 202 | 3) is not the start of 20235
    for prefix, pieces, wrong in (("iPho", ["i", "P", "h", "o"], "tel"), ("2023", ["202", "3"], "5"),
                                  ("我买了ipho", ["i", "p", "h", "o"], "toshop")):
        assert lm.words(prefix)[-len(pieces):] == pieces
        assert lm._cut(prefix)[-1] == (prefix[-len("".join(pieces)):], pieces)
        assert wrong not in tokens(lm.predict_next(prefix, k=10)), prefix


def test_words_of_jiebas_dictionary_outside_the_vocabulary_are_completed(lm):
    # 涮羊肉 is a word of jieba's dictionary the model's vocabulary lacks; its share of <unk> finishes 涮羊
    assert "涮羊肉" not in lm.vocab and lm.tokenizer.jieba.FREQ["涮羊肉"] > 0
    assert tokens(lm.predict_next("我想吃涮羊", k=1)) == ["肉"]
    plain = NextWordPredictor.from_pretrained("lm")
    plain.dictionary_words = False
    assert tokens(plain.predict_next("我想吃涮羊", k=1)) != ["肉"]
    # the table is jieba's own: its words with a count, as its Tokenizer holds them, less the vocabulary
    (words, counts), total = lm._dictionary()
    held = {w: c for w, c in lm.tokenizer.jieba.FREQ.items() if c > 0 and w not in lm.vocab}
    assert dict(zip(words.tolist(), counts.tolist())) == held and total == sum(held.values())


def test_the_dictionary_table_is_kept_in_the_cache(lm, tmp_path, monkeypatch):
    from zhseq.pipeline import dictionary_table

    monkeypatch.setenv("ZHSEQ_CACHE", str(tmp_path / "cache"))
    words, counts = dictionary_table(lm.tokenizer, lm.vocab.itos)
    assert len(list((tmp_path / "cache").glob("dictionary-*.npy"))) == 2
    assert list(words) == sorted(words) and len(words) == len(counts) > 300_000
    mapped, mapped_counts = dictionary_table(lm.tokenizer, lm.vocab.itos)  # a later process maps the files
    assert isinstance(mapped, np.memmap) and (mapped == words).all() and (mapped_counts == counts).all()
    # another vocabulary is another table
    fewer, _ = dictionary_table(lm.tokenizer, [w for w in lm.vocab.itos if w != "经济"])
    assert "经济" in fewer and "经济" not in words
    assert len(list((tmp_path / "cache").glob("dictionary-*.npy"))) == 4


def test_one_unfinished_word_and_no_dictionary_is_the_documented_formula(lm):
    from zhseq.pipeline import softmax

    plain = NextWordPredictor.from_pretrained("lm")
    plain.stem_words, plain.dictionary_words = 1, False
    words = plain.words("这家酒店的服")
    after, before = softmax(plain.engine.next_logits([plain._ids(words), plain._ids(words[:-1])]))
    ext = plain.extensions("服")
    p_w = before[plain.vocab.stoi["服"]]
    z = p_w + before[ext].sum()
    got = {a["token"]: a["score"] for a in plain.predict_next("这家酒店的服", k=50)}
    for i in ext:
        rest = plain.vocab.itos[i][1:]
        expected = before[i] / z + (p_w / z * after[plain.vocab.stoi[rest]] if rest in plain.vocab else 0.0)
        if rest in got:
            assert got[rest] == pytest.approx(expected, abs=2e-6)
    assert got["务"] > 0.5


def test_scores_are_a_distribution_over_what_to_append(lm):
    for prefix in ("祝你生日", "祝你生日快", "我想吃涮羊", "中"):
        everything = lm.predict_next(prefix, k=100000)
        scores = [a["score"] for a in everything]
        # what is left out of 1 is the probability of <unk> and <eos> (and of the rarest dictionary words),
        # which are never proposed
        assert scores == sorted(scores, reverse=True) and 0.9 < sum(scores) <= 1.0 + 1e-4, prefix
        assert len({a["token"] for a in everything}) == len(everything)  # the same characters are added up
        assert not {"<unk>", "<pad>", "<bos>", "<eos>"} & set(tokens(everything))
    words = lm.predict_next("祝你生日", k=50, words_only=True)
    assert all(any(c.isalnum() for c in a["token"]) for a in words)


def test_batches_and_engines_agree(lm):
    prefixes = ["祝你生日", "今天天气", "", "这家酒店的服务", "很好" * 300, "经济", "祝你生日快", "我想吃涮羊"]
    assert lm.predict_next(prefixes, k=5) == [lm.predict_next(p, k=5) for p in prefixes]
    torch_lm = NextWordPredictor.from_pretrained("lm", engine="torch")
    for a, b in zip(lm.predict_next(prefixes, k=5), torch_lm.predict_next(prefixes, k=5)):
        assert np.allclose([x["score"] for x in a], [x["score"] for x in b], atol=1e-5)
    assert lm.generate("请问这个", n=12) == torch_lm.generate("请问这个", n=12)


def test_generate_does_not_loop(lm):
    for prefix in ("请问这个", "这本书", "我们要", "很好很好很好"):
        ids = lm.vocab.encode(lm.words(lm.generate(prefix, n=30)))
        trigrams = [tuple(ids[i:i + 3]) for i in range(len(ids) - 2)]
        assert len(trigrams) == len(set(trigrams)), prefix
    # without the defaults the shipped model loops: the case the defaults are for
    assert "很好,很好,很好" in lm.generate("这个东西", n=20, repetition_penalty=1.0, no_repeat_ngram=0)
    assert "很好,很好" not in lm.generate("这个东西", n=20)


def test_placeholders_are_never_proposed_and_a_continuation_is_never_empty(lm):
    """``@用户`` and ``<链接>`` stand for a mention and a link: no text to append. After one, the shipped model
    puts nearly all its mass on the line end, which made generate's answer empty."""
    from zhseq.textnorm import PLACEHOLDERS

    assert all(p in lm.vocab for p in ("@用户", "<链接>"))
    prefixes = ["我看了 http://t.cn/abc", "@张三 ", "//@李四:", "这家餐厅很好吃。"]
    for words_only in (False, True):
        for answers in lm.predict_next(prefixes, k=50, words_only=words_only):
            assert not set(tokens(answers)) & set(PLACEHOLDERS)
    for prefix in prefixes:
        for temperature in (0.0, 1.0):
            text = lm.generate(prefix, n=30, temperature=temperature, seed=0)
            assert text and not any(p in text for p in PLACEHOLDERS), (prefix, temperature, text)


def test_sampling_is_seeded_and_nucleus_narrows_it(lm):
    a = lm.generate("这本书", n=10, temperature=0.8, seed=1)
    assert a == lm.generate("这本书", n=10, temperature=0.8, seed=1)
    # a tiny nucleus holds only the most likely word: sampling becomes greedy
    assert lm.generate("这本书", n=10, temperature=5.0, top_p=1e-9, seed=3) == lm.generate("这本书", n=10)


def test_generate_finishes_the_word_being_typed_first(lm):
    assert lm.generate("祝你生日快", n=3).startswith("乐")
    assert lm.generate("我想吃涮羊", n=3).startswith("肉")
    assert lm.generate("祝你生日快", n=1) == "乐" and lm.generate("祝你生日快", n=0) == ""
    # after punctuation nothing is unfinished: next words only
    assert not lm.generate("祝你生日快,", n=3).startswith("乐")
    # sampled, the first step draws among predict_next's answers: seeded, and greedy with a tiny nucleus
    a = lm.generate("祝你生日快", n=6, temperature=0.8, seed=2)
    assert a == lm.generate("祝你生日快", n=6, temperature=0.8, seed=2)
    assert lm.generate("祝你生日快", n=6, temperature=5.0, top_p=1e-9, seed=3) == lm.generate("祝你生日快", n=6)
    torch_lm = NextWordPredictor.from_pretrained("lm", engine="torch")
    assert torch_lm.generate("祝你生日快", n=6) == lm.generate("祝你生日快", n=6)


def test_a_tiny_temperature_samples_as_greedy_and_a_negative_seed_is_refused(lm):
    """`generate --temperature 0.001 "今天"` was a traceback (`Probabilities contain NaN`): the first step's
    p ** (1 / T) underflowed to 0 everywhere. Numpy's generator takes no negative seed: it was a traceback too."""
    from zhseq.errors import ZhseqError

    for prefix in ("今天", "祝你生日快", "今天，"):
        for temperature in (1e-3, 1e-9, 1e-308, 5e-324):  # down to the smallest float: no inf − inf
            assert lm.generate(prefix, n=5, temperature=temperature, seed=1) == lm.generate(prefix, n=5), prefix
    with pytest.raises(ZhseqError, match="seed must be a whole number ≥ 0"):
        lm.generate("今天", seed=-1)
    result = CliRunner().invoke(cli, ["generate", "--seed", "-1", "今天"])
    assert result.exit_code == 2 and "seed must be a whole number ≥ 0" in result.output


def test_repeating_is_huggingfaces_no_repeat_ngram():
    assert repeating([1, 2, 3, 1, 2], 3) == [3]
    assert repeating([1, 2, 1, 2, 1], 2) == [2, 2]
    assert repeating([5, 6], 1) in ([5, 6], [6, 5]) and repeating([5], 0) == [] and repeating([], 3) == []


def test_the_cli_takes_the_generation_settings():
    out = CliRunner().invoke(cli, ["generate", "-n", "20", "--repetition-penalty", "1", "--no-repeat-ngram", "0",
                                   "这个东西"])
    assert out.exit_code == 0 and "很好,很好,很好" in out.stdout
    bad = CliRunner().invoke(cli, ["generate", "--top-p", "0", "x"])
    assert bad.exit_code == 2 and "top_p must be a number in (0, 1], not 0.0" in bad.stderr


def test_generate_takes_several_prefixes_and_an_input_file(lm, tmp_path):
    import json

    one = CliRunner().invoke(cli, ["generate", "-n", "6", "祝你生日快"])
    assert one.exit_code == 0 and one.stdout == lm.generate("祝你生日快", n=6) + "\n"
    several = CliRunner().invoke(cli, ["generate", "-n", "6", "祝你生日快", "这个东西"])
    assert several.stdout.splitlines() == [lm.generate("祝你生日快", n=6), lm.generate("这个东西", n=6)]
    table = tmp_path / "prefixes.csv"
    table.write_text("文本\n祝你生日快\n这个东西\n", encoding="utf-8")
    out = CliRunner().invoke(cli, ["generate", "-n", "6", "--input", str(table), "--format", "jsonl",
                                   "--temperature", "0.8", "--seed", "4"])
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["祝你生日快", "这个东西"]
    # each prefix is generated with the seed itself: a line does not depend on the lines before it
    assert rows[1]["generated"] == lm.generate("这个东西", n=6, temperature=0.8, seed=4)
