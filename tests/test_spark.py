"""zhseq.spark on a local[2] Spark: the UDFs give, text by text, the CLI's jsonl answers; the model folder is
shipped once per SparkContext and loaded once per Python worker; bad settings fail on the driver.

Needs Java (17 or later for pyspark 4) and pyspark; without either the module is skipped, saying which."""

import json
import os
import random
import shutil
import sys

import pytest

from cli_helpers import ok
from zhseq.errors import ZhseqError

if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java (apt-get install default-jre-headless); none on PATH or in JAVA_HOME",
                allow_module_level=True)
pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'zhseq[spark]')")
pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'zhseq[spark]')")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from zhseq import spark as zspark  # noqa: E402
from zhseq.checkpoint import default_model_dir  # noqa: E402

# pyspark 4.3 warns on every pandas UDF that it does not yet fully support pandas 3, which these tests run on
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")

N_TEXTS = 20_000
WORDS = ["房间", "服务", "手机", "这本书", "快递", "屏幕", "很好", "喜欢", "推荐", "满意", "不错", "很差", "失望", "退货",
         "糟糕", "难用", "价格", "还行", "一般", "太", "了", "的", "非常", "不", "东西", "质量", "物流", "客服", "味道",
         "OK", "iPhone", "5G", "2024年", "👍", "😡", "[哈哈]", "@张三", "http://t.cn/abc", "！", "，", "。", "？", "…",
         " ", "\n", "臺灣", "體驗", "ｆｕｌｌ", "𠀀"]


def generated_texts(n, seed=0):
    """Short reviews, a few long ones (past the model's max_tokens), and a few without content."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        r = rng.random()
        if r < 0.01:
            texts.append(rng.choice(["", " ", "\t", "   ", "\u3000"]))
        else:
            length = rng.randint(150, 400) if r < 0.03 else rng.randint(1, 25)
            texts.append("".join(rng.choice(WORDS) for _ in range(length)))
    return texts


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("zhseq-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.driver.memory", "1g")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """N_TEXTS texts in a Parquet file with a Chinese text column, read by Spark and by the CLI alike."""
    path = tmp_path_factory.mktemp("spark") / "texts.parquet"
    texts = generated_texts(N_TEXTS)
    pq.write_table(pa.table({"id": list(range(len(texts))), "评论": texts}), path, row_group_size=5000)
    return path, texts


def cli_jsonl(*args):
    return [json.loads(line) for line in ok(*args, "--format", "jsonl").stdout.splitlines()]


def scored(spark, path, **columns):
    """{name: [its struct as a dict, in id order]} for UDF columns applied to the 评论 column of ``path``;
    8 partitions, so both workers run several tasks."""
    df = spark.read.parquet(str(path)).repartition(8)
    rows = df.select("id", *(udf("评论").alias(name) for name, udf in columns.items())).collect()
    rows.sort(key=lambda r: r["id"])
    return {name: [r[name].asDict(recursive=True) for r in rows] for name in columns}


def test_sentiment_equals_the_cli_text_by_text(spark, corpus):
    path, texts = corpus
    got = scored(spark, path, plain=zspark.sentiment_udf("sentiment"),
                 banded=zspark.sentiment_udf("sentiment", neutral_band=0.1))
    for name, band in (("plain", ()), ("banded", ("--neutral-band", "0.1"))):
        cli = cli_jsonl("sentiment", "--input", path, "--workers", "1", *band)
        assert len(cli) == len(got[name]) == N_TEXTS
        assert [{"text": t, **r} for t, r in zip(texts, got[name])] == cli
    labels = {r["label"] for r in got["banded"]}
    assert {"negative", "positive", "neutral", None} <= labels  # every kind of answer was compared


def test_segment_equals_the_cli_text_by_text(spark, corpus):
    path, texts = corpus
    got = scored(spark, path, plain=zspark.segment_udf(), social=zspark.segment_udf(emoji=True, social=True))
    for name, options in (("plain", ()), ("social", ("--emoji", "--social"))):
        cli = cli_jsonl("segment", "--input", path, *options)
        assert [{"text": t, **r} for t, r in zip(texts, got[name])] == cli
    assert got["plain"] != got["social"]


def test_predict_next_equals_the_cli(spark, tmp_path):
    texts = generated_texts(1_000, seed=1) + ["今天天气", "祝你生日", "中国人民", ""]
    path = tmp_path / "prefixes.parquet"
    pq.write_table(pa.table({"id": list(range(len(texts))), "评论": texts}), path)
    got = scored(spark, path, top3=zspark.predict_next_udf("lm", k=3),
                 words=zspark.predict_next_udf("lm", k=2, words_only=True))
    for name, options in (("top3", ("-k", "3")), ("words", ("-k", "2", "--words-only"))):
        cli = cli_jsonl("predict-next", "--input", path, "--workers", "1", *options)
        assert [{"text": t, **r} for t, r in zip(texts, got[name])] == cli
    assert all(len(r["predictions"]) == 3 for r in got["top3"])


def test_null_texts_get_null_fields(spark):
    df = spark.createDataFrame([(1, None), (2, ""), (3, "太失望了")], "id int, text string")
    rows = df.select("id", zspark.sentiment_udf()("text").alias("s"), zspark.segment_udf()("text").alias("g"),
                     zspark.predict_next_udf(k=1)("text").alias("p")).orderBy("id").collect()
    null, empty, text = (r.asDict(recursive=True) for r in rows)
    assert null == {"id": 1, "s": {"label": None, "score": None}, "g": {"tokens": None}, "p": {"predictions": None}}
    assert empty["s"] == {"label": None, "score": None} and empty["g"] == {"tokens": []}  # as the CLI: no label
    assert text["s"]["label"] == "negative" and text["g"]["tokens"] == ["太", "失望", "了"]


def test_a_non_string_column_is_a_clear_error(spark):
    df = spark.createDataFrame([(1,)], "n int")
    with pytest.raises(Exception, match="zhseq's UDFs read a string column; got int"):
        df.select(zspark.segment_udf()("n")).collect()


def test_the_model_is_shipped_once_and_loaded_once_per_worker(spark, tmp_path):
    """Two folders named model-best (different files) ship under two names; the same files ship once; the
    model is kept in zhseq.spark's own module-level cache of each Python worker."""
    shipped = default_model_dir("sentiment")
    a, b = tmp_path / "a" / "model-best", tmp_path / "b" / "model-best"
    shutil.copytree(shipped, a)
    shutil.copytree(shipped, b)
    config = json.loads((b / "config.json").read_text(encoding="utf-8"))
    config["training"] = {**config.get("training", {}), "note": "another run"}
    (b / "config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")

    udfs = [zspark.sentiment_udf(a), zspark.sentiment_udf(a / ".."), zspark.sentiment_udf(b), zspark.sentiment_udf()]
    archives = {f for f in spark.sparkContext.listArchives if "zhseq-sentiment-" in f}
    assert len(archives) == 2, archives  # a, a/.. (its model-best) and the shipped one: the same files

    from pyspark.sql.functions import pandas_udf

    @pandas_udf("pid int, cached int")
    def cache_of_this_worker(x):
        import pandas as pd

        import zhseq.spark

        return pd.DataFrame({"pid": [os.getpid()] * len(x), "cached": [len(zhseq.spark._MODELS)] * len(x)})

    df = spark.range(0, 4000, numPartitions=8).selectExpr("cast(id as string) as text")
    labels = {r["s"]["label"] for r in df.select(udfs[0]("text").alias("s"), udfs[2]("text").alias("t"))
              .select("s", "t").collect() if r["s"] == r["t"]}
    assert labels  # both copies score, alike
    # a later job's UDF sees the models in zhseq.spark's own cache: kept by the worker, not by one task's copy
    workers = df.select(cache_of_this_worker("text").alias("w")).select("w.*").distinct().collect()
    assert max(w["cached"] for w in workers) >= 2, workers


def test_the_pickled_udf_keeps_its_models_in_the_module_cache(spark):
    """What Spark sends to the workers (pyspark's cloudpickle) calls zhseq.spark by reference, so its cache is
    the module's, shared by every task a worker runs, not a copy unpickled with each task."""
    import pandas as pd
    from pyspark import cloudpickle

    udf = zspark.segment_udf(hmm=True)
    zspark._TOKENIZERS.clear()
    shipped = cloudpickle.loads(cloudpickle.dumps(udf.func))
    for _ in range(2):
        assert shipped(pd.Series(["我爱自然语言处理"]))["tokens"].tolist() == [["我", "爱", "自然语言", "处理"]]
    assert len(zspark._TOKENIZERS) == 1


def test_models_placed_by_the_user_with_ship_false(spark, tmp_path):
    """ship=False: a path the executors read themselves, or a name under SparkFiles' folder (--archives,
    addArchive, --files)."""
    folder = tmp_path / "my-sentiment"
    shutil.copytree(default_model_dir("sentiment"), folder)
    archive = shutil.make_archive(str(tmp_path / "model"), "zip", folder)
    spark.sparkContext.addArchive(f"{archive}#my-sentiment")  # as spark-submit --archives model.zip#my-sentiment
    df = spark.createDataFrame([("这家餐厅的菜很好吃",), ("太失望了",)], "text string")
    reference = [r["s"] for r in df.select(zspark.sentiment_udf()("text").alias("s")).collect()]
    for where in (str(folder), "my-sentiment"):
        got = [r["s"] for r in df.select(zspark.sentiment_udf(where, ship=False)("text").alias("s")).collect()]
        assert got == reference


def test_bad_settings_fail_on_the_driver(spark, tmp_path):
    with pytest.raises(ZhseqError, match="holds a 'lm' model, not a 'sentiment' model"):
        zspark.sentiment_udf("lm")
    with pytest.raises(ZhseqError, match="not a 'lm' model"):
        zspark.predict_next_udf("sentiment")
    with pytest.raises(ZhseqError, match="model folder not found"):
        zspark.sentiment_udf(tmp_path / "nothing")
    with pytest.raises(ZhseqError, match="neutral_band"):
        zspark.sentiment_udf(neutral_band=0.7)
    with pytest.raises(ZhseqError, match="k must be a whole number"):
        zspark.predict_next_udf(k=0)
    with pytest.raises(ZhseqError, match="user dictionary not found"):
        zspark.segment_udf(user_dicts=[tmp_path / "missing.txt"])


def test_explanations_equal_the_cli(spark):
    texts = ["这家餐厅的菜很好吃，服务也周到", "等了一个小时，太失望了", "", "房间很好"]
    df = spark.createDataFrame(list(enumerate(texts)), "id int, text string")
    rows = df.select("id", zspark.sentiment_udf(explain=True)("text").alias("s")).orderBy("id").collect()
    got = [r["s"].asDict(recursive=True) for r in rows]
    cli = cli_jsonl("sentiment", "--explain", "--workers", "1", *texts)
    assert [{"text": t, **r} for t, r in zip(texts, got)] == cli
    assert got[2]["explanation"] == [] and any(x["weight"] > 0 for x in got[1]["explanation"])


def test_without_pyspark_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark.sql.functions", None)  # import raises ModuleNotFoundError
    with pytest.raises(ModuleNotFoundError, match=r"zhseq.spark needs pyspark, which is not installed: "
                                                  r"pip install 'zhseq\[spark\]'"):
        zspark.segment_udf()


def test_a_shipped_model_inside_a_zipped_zhseq_is_copied_out(tmp_path, monkeypatch):
    """spark-submit --py-files zhseq.zip: zhseq is imported from the zip, where the shipped models are no folder;
    the driver copies the model's files out to ship them."""
    import importlib.resources
    import zipfile

    shipped = default_model_dir("sentiment")
    archive = tmp_path / "zhseq.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in shipped.iterdir():
            z.write(path, f"zhseq/models/sentiment/{path.name}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(importlib.resources, "files", lambda package: zipfile.Path(archive, f"{package}/"))
    folder = zspark._model_folder("sentiment")
    assert folder != shipped
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == {p.name: p.read_bytes() for p in shipped.iterdir()}
