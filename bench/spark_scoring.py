"""Scoring a corpus on Spark against the CLI on the same machine: 200,000 review texts (the repository's
review corpora, cycled) in one Parquet file, labelled by the shipped sentiment model

- with `zhseq sentiment --workers 2 --input texts.parquet --output labels.parquet` (a fresh process: its
  start-up counts), and
- with zhseq.spark's sentiment_udf on a local[2] SparkSession: read the Parquet file, split into 8 partitions,
  score, write a Parquet folder. The job's time is measured with the session already running (as on a
  cluster); the session's own start is reported beside it.

The goal: Spark's texts/s at least 0.7× the CLI's. Both outputs are compared row by row. Each side is run
``--repeat`` times and the median kept. Needs Java 17+ and `pip install 'zhseq[spark]'`.

Usage: python bench/spark_scoring.py [--texts 200000] [--repeat 1] [--out bench/results/spark_scoring.json]
"""

import argparse
import atexit
import gzip
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ["corpora/chnsenticorp/train.tsv.gz", "corpora/reviews/train.tsv.gz"]
PARTITIONS = 8  # 4 tasks per core: the two Python workers stay busy to the end


def corpus_texts(n):
    texts = []
    for name in CORPORA:
        with gzip.open(ROOT / name, "rt", encoding="utf-8") as f:
            header = next(f).rstrip("\n").split("\t")
            column = header.index("text")
            texts += [line.rstrip("\n").split("\t")[column] for line in f if line.strip()]
    return [texts[i % len(texts)] for i in range(n)]


def timed_cli(source, out):
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "zhseq.cli", "sentiment", "--workers", "2", "--input",
                    str(source), "--output", str(out)], check=True)
    return time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "bench/results/spark_scoring.json"))
    args = parser.parse_args()

    import pyarrow as pa
    import pyarrow.parquet as pq
    import pyspark
    from pyspark.sql import SparkSession

    from zhseq.spark import sentiment_udf

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="zhseq-spark-bench-"))
    atexit.register(shutil.rmtree, work, True)  # also when a run fails
    texts = corpus_texts(args.texts)
    source = work / "texts.parquet"
    pq.write_table(pa.table({"id": list(range(len(texts))), "text": texts}), source, row_group_size=25_000)

    cli_s = []
    for i in range(args.repeat):
        cli_s.append(timed_cli(source, work / f"cli-{i}.parquet"))
        print(f"cli: {cli_s[-1]:.1f} s", file=sys.stderr)

    t0 = time.perf_counter()
    spark = (SparkSession.builder.master("local[2]").appName("zhseq-spark-bench")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", str(PARTITIONS)).getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    session_s = time.perf_counter() - t0
    spark_s = []
    for i in range(args.repeat):
        t0 = time.perf_counter()
        label = sentiment_udf("sentiment")  # checks and ships the model: part of the job's time
        (spark.read.parquet(str(source)).repartition(PARTITIONS, "id")
         .select("id", "text", label("text").alias("r")).select("id", "text", "r.*")
         .write.mode("overwrite").parquet(str(work / f"spark-{i}.parquet")))
        spark_s.append(time.perf_counter() - t0)
        print(f"spark: {spark_s[-1]:.1f} s", file=sys.stderr)
    java = spark.sparkContext._jvm.System.getProperty("java.version")
    spark.stop()

    cli_rows = pq.read_table(work / "cli-0.parquet").to_pylist()
    spark_rows = pq.read_table(work / "spark-0.parquet").sort_by("id").drop(["id"]).to_pylist()
    same = sum(a == b for a, b in zip(cli_rows, spark_rows))

    cli_median, spark_median = statistics.median(cli_s), statistics.median(spark_s)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                   f"pyspark {pyspark.__version__}, Java {java}",
        "load_average_before": [round(x, 2) for x in load_before],
        "texts": len(texts),
        "corpora": CORPORA,
        "cli": {"command": "zhseq sentiment --workers 2 --input texts.parquet --output labels.parquet",
                "seconds": [round(s, 2) for s in cli_s], "texts_per_s": round(len(texts) / cli_median)},
        "spark": {"master": "local[2]", "partitions": PARTITIONS,
                  "job": "read.parquet → repartition → sentiment_udf('sentiment') → write.parquet",
                  "session_start_s": round(session_s, 2), "seconds": [round(s, 2) for s in spark_s],
                  "texts_per_s": round(len(texts) / spark_median),
                  "texts_per_s_with_session_start": round(len(texts) / (spark_median + session_s))},
        "ratio_spark_to_cli": round(cli_median / spark_median, 3),
        "ratio_with_session_start": round(cli_median / (spark_median + session_s), 3),
        "goal_ratio": 0.7,
        "rows_identical": f"{same} of {len(texts)}",
    }
    Path(args.out).write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
