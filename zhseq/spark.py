"""Scoring a corpus on Spark: the CLI's ``sentiment``, ``predict-next`` and ``segment`` as pandas UDFs.

    from pyspark.sql import SparkSession
    from zhseq.spark import sentiment_udf, predict_next_udf, segment_udf

    spark = SparkSession.builder.getOrCreate()
    df = spark.read.parquet("reviews.parquet")
    scored = df.withColumn("sentiment", sentiment_udf()("text"))      # struct<label, score>
    scored.select("text", "sentiment.*").write.parquet("labels.parquet")

Each UDF takes a string column and returns a struct column whose fields are those of the CLI's jsonl lines
but ``text`` (the input column already holds it; ``df.select("text", "r.*")`` gives the jsonl rows):

    sentiment_udf()     label string, score double          (zhseq sentiment --format jsonl)
                        + explanation array<struct<token string, weight double>> with explain=True
    predict_next_udf()  predictions array<struct<token string, score double>>   (zhseq predict-next)
    segment_udf()       tokens array<string>                 (zhseq segment --format jsonl)

A row's answer is the CLI's for the same text (the numpy engine's answer does not depend on the batch); a text
without content has label and score null, as the CLI's jsonl has; a null text has every field null.

How the work is spread (pyspark.sql.functions.pandas_udf: Series → DataFrame on Arrow batches,
``spark.sql.execution.arrow.maxRecordsPerBatch`` rows each, cut into ``batch_size`` texts to score):

- the model folder (a folder, a training output folder's model-best, or a shipped model by name) is checked on
  the driver, zipped under a name made of its content's hash, and shipped to every executor once with
  ``SparkContext.addArchive`` (Spark 3.3 or later), which unpacks it there; executors find it with
  ``SparkFiles.get``. With ``ship=False`` nothing is shipped: the executors read ``model`` themselves, as a
  path (relative to their working folder, where ``spark-submit --archives model.zip#model`` unpacks on a
  cluster), or a name under SparkFiles' folder (``--archives`` on a local master, ``--files``,
  ``SparkContext.addArchive``);
- each Python worker loads the model once, with the numpy engine (``from_pretrained(path, engine="numpy")``:
  executors need no torch), keeps it in a module-level cache for the tasks that follow (Spark reuses its
  Python workers unless ``spark.python.worker.reuse`` is false), and runs numpy's BLAS on one thread, since
  Spark runs one worker per core.

pyspark, pandas and pyarrow are imported only by the functions that need them (``pip install 'zhseq[spark]'``).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from .config import PredictConfig, check_prediction, default_of
from .errors import ZhseqError

_MODELS: dict = {}  # in a Python worker: (folder, task) → the pipeline loaded from it
_TOKENIZERS: dict = {}  # in a Python worker: its settings (sorted items) → Tokenizer
_SHIPPED: dict = {}  # on the driver: (application id, archive name) → the name SparkFiles knows it by
_COPIES: list = []  # on the driver: temporary folders (archives shipped, models copied out of a zip), removed at exit

_EXPLANATION = "array<struct<token:string,weight:double>>"


# -- the UDFs ------------------------------------------------------------------------------------------------
def sentiment_udf(model: str | os.PathLike = "sentiment", neutral_band: float | None = None, explain: bool = False,
                  *, batch_size: int = default_of(PredictConfig, "batch_size"), ship: bool = True):
    """A pandas UDF: a string column → ``struct<label: string, score: double>``, as ``zhseq sentiment
    --format jsonl`` labels each text (``explain=True``: also ``explanation``, an array of struct<token,
    weight>, as ``--explain`` gives it).

    ``model``: a model folder, a training output folder (its model-best) or a shipped model's name
    (``"sentiment"``); ``neutral_band`` as ``--neutral-band`` (None: its default, off); ``batch_size``: texts
    scored at a time in a worker; ``ship``: see the module docstring. Raises ZhseqError here, on the driver,
    for a model that is missing, of the other task or not runnable on the numpy engine, a band outside
    [0, 0.5) or on a model that is not negative/positive, a batch size below 1, and no active SparkContext
    when the model is to be shipped. ``explain`` costs about one forward pass per word of each text."""
    pd, pandas_udf = _pandas()
    band = default_of(PredictConfig, "neutral_band") if neutral_band is None else neutral_band
    check_prediction(neutral_band=band, batch_size=batch_size)
    where = _placed(model, "sentiment", ship, check=lambda m: _neutral_ok(m, band))
    options = {"neutral_band": band, **({"explain": True} if explain else {})}
    fields = "label string, score double" + (f", explanation {_EXPLANATION}" if explain else "")

    def sentiment(texts):
        return _sentiment_frame(texts, where, options, batch_size)

    return pandas_udf(_series_to_frame(sentiment, pd), fields)


def predict_next_udf(model: str | os.PathLike = "lm", k: int = default_of(PredictConfig, "k"), *,
                     words_only: bool = False, batch_size: int = default_of(PredictConfig, "batch_size"),
                     ship: bool = True):
    """A pandas UDF: a string column of prefixes → ``struct<predictions: array<struct<token: string, score:
    double>>>``, the ``k`` most likely continuations, most likely first, as ``zhseq predict-next --format
    jsonl`` gives them (``words_only`` as ``--words-only``). ``model``, ``batch_size`` and ``ship`` as for
    :func:`sentiment_udf`; the same errors on the driver (k below 1 too)."""
    pd, pandas_udf = _pandas()
    check_prediction(k=k, batch_size=batch_size)
    where = _placed(model, "lm", ship)
    options = {"k": k, "words_only": bool(words_only)}

    def predict_next(prefixes):
        return _predict_next_frame(prefixes, where, options, batch_size)

    return pandas_udf(_series_to_frame(predict_next, pd), "predictions array<struct<token:string,score:double>>")


def segment_udf(*, hmm: bool = False, user_dicts=(), emoji: bool = False, social: bool = False,
                emoji_keywords: bool = False):
    """A pandas UDF: a string column → ``struct<tokens: array<string>>``, each text's words as ``zhseq segment
    --format jsonl`` cuts them with the same options (``hmm``, ``user_dicts``: jieba dictionary files, read on
    the driver and sent with the UDF by content, ``emoji``, ``social``, ``emoji_keywords``). No model is
    involved. Raises ZhseqError on the driver for a dictionary file that cannot be read, for ``emoji`` without
    the emoji package, and for ``emoji_keywords`` without ``emoji``."""
    from .tokenizer import Tokenizer

    pd, pandas_udf = _pandas()
    settings = Tokenizer(hmm=hmm, user_dicts=tuple(user_dicts), emoji=emoji, social=social,
                         emoji_keywords=emoji_keywords).to_dict()

    def segment(texts):
        return _segment_frame(texts, settings)

    return pandas_udf(_series_to_frame(segment, pd), "tokens array<string>")


# -- in a Python worker: one Arrow batch at a time -----------------------------------------------------------
def _sentiment_frame(texts, where, options, batch_size):
    import pandas as pd

    model = _model(where, "sentiment")
    present, values = _strings(texts)
    results = iter(model.predict_stream(values, batch_size=batch_size, **options))
    rows = [next(results) if p else {} for p in present]
    columns = {"label": [r.get("label") for r in rows], "score": [r.get("score") for r in rows]}
    if "explain" in options:
        columns["explanation"] = [r.get("explanation") for r in rows]
    return pd.DataFrame(columns, dtype=object)


def _predict_next_frame(prefixes, where, options, batch_size):
    import pandas as pd

    from .data import batched

    model = _model(where, "lm")
    present, values = _strings(prefixes)
    results = iter([p for chunk in batched(values, batch_size)
                    for p in model.predict_next(chunk, batch_size=batch_size, **options)])
    return pd.DataFrame({"predictions": [next(results) if p else None for p in present]}, dtype=object)


def _segment_frame(texts, settings):
    import pandas as pd

    key = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in settings.items()))
    tokenizer = _TOKENIZERS.get(key)
    if tokenizer is None:
        from .tokenizer import Tokenizer

        tokenizer = _TOKENIZERS[key] = Tokenizer.from_dict(settings)
    present, values = _strings(texts)
    results = tokenizer.cut_many(values)
    return pd.DataFrame({"tokens": [next(results) if p else None for p in present]}, dtype=object)


def _strings(column) -> tuple[list[bool], list[str]]:
    """(whether each row has a text, the texts): nulls are left out; a value that is not a string is an error."""
    present, values = [], []
    for value in column.tolist():
        if value is None or (isinstance(value, float) and value != value):  # null (NaN in an object column)
            present.append(False)
            continue
        if not isinstance(value, str):
            raise ZhseqError(f"zhseq's UDFs read a string column; got {type(value).__name__} {value!r} "
                             "(cast the column with .cast('string'))")
        present.append(True)
        values.append(value)
    return present, values


def _model(where: tuple[str, str], task: str):
    """The pipeline of the model placed at ``where`` (``_placed``), loaded once per Python worker."""
    how, name = where
    if how == "shipped":
        from pyspark import SparkFiles

        folder = SparkFiles.get(name)
    else:
        folder = _found_here(name)
    model = _MODELS.get((folder, task))
    if model is None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)  # Spark runs one Python worker per core: a BLAS pool in each would only wait
        model = _MODELS[(folder, task)] = _pipeline(task).from_pretrained(folder, engine="numpy")
    return model


def _found_here(name: str) -> str:
    """``ship=False``: ``name`` as a path here (relative to the working folder), else under SparkFiles' folder,
    else a shipped model's name."""
    if os.path.exists(name):
        return name
    try:
        from pyspark import SparkFiles

        under = SparkFiles.get(name)
    except Exception:  # no SparkFiles folder in this process
        under = None
    if under is not None and os.path.exists(under):
        return under
    from .checkpoint import resolve_model_dir

    return str(resolve_model_dir(name))


# -- on the driver: checking and shipping the model ----------------------------------------------------------
def _pipeline(task: str):
    from .pipeline import TASK_CLASSES

    return TASK_CLASSES[task]


def _placed(model, task: str, ship: bool, check=None) -> tuple[str, str]:
    """("shipped", the name SparkFiles knows it by) or, with ``ship=False``, ("here", ``model``) for the
    executors to find (``_found_here``). Shipping loads the model once here first, so that a bad folder
    fails on the driver with a ZhseqError rather than in every task."""
    if not ship:
        return "here", os.fspath(model)
    folder = _model_folder(model)
    loaded = _pipeline(task).from_pretrained(folder, engine="numpy")  # task, config, weights, numpy engine
    if check is not None:
        check(loaded)
    return "shipped", _ship(folder, task)


def _model_folder(model) -> Path:
    """``resolve_model_dir(model)``; a shipped model's name while zhseq itself is imported from a zip (a wheel
    on ``spark-submit --py-files``), where its files are no folder: a copy of them in a temporary folder."""
    from .checkpoint import resolve_model_dir
    from .config import TASKS

    if os.path.exists(model) or str(model) not in TASKS:
        return resolve_model_dir(model)
    from importlib import resources

    packaged = resources.files(__package__).joinpath("models", str(model))
    if isinstance(packaged, Path) or not packaged.is_dir():  # installed as files (or absent: the usual error)
        return resolve_model_dir(model)
    root = _temporary_folder()
    for entry in packaged.iterdir():
        if entry.is_file():
            (root / entry.name).write_bytes(entry.read_bytes())
    return root


def _neutral_ok(model, band: float) -> None:
    from .pipeline import neutral_column

    neutral_column(model.labels, band)


def _ship(folder: Path, task: str) -> str:
    """Ship the files of ``folder`` to the executors once per SparkContext, as a zip archive named
    ``zhseq-<task>-<hash of the files>.zip`` that each executor unpacks once (``SparkContext.addArchive``:
    ``addFile`` takes a local folder only on a local master): two folders with one name (model-best) never
    collide, and the same model built twice is shipped once. Returns the name ``SparkFiles.get`` knows it by."""
    import zipfile

    from pyspark import SparkContext

    sc = SparkContext._active_spark_context
    if sc is None:
        raise ZhseqError("no active SparkContext: start a SparkSession before building the UDF (the model is "
                         "shipped to the executors with SparkContext.addArchive), or pass ship=False")
    files = sorted(p for p in Path(folder).iterdir() if p.is_file())
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    name = f"zhseq-{task}-{digest.hexdigest()[:16]}.zip"
    key = (sc.applicationId, name)
    if key not in _SHIPPED:
        archive = _temporary_folder() / name
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            for path in files:
                z.write(path, path.name)
        sc.addArchive(str(archive))
        _SHIPPED[key] = name
    return _SHIPPED[key]


def _temporary_folder() -> Path:
    """A new folder on the driver, removed when the interpreter exits."""
    root = tempfile.mkdtemp(prefix="zhseq-spark-")
    if not _COPIES:
        atexit.register(lambda: [shutil.rmtree(r, ignore_errors=True) for r in _COPIES])
    _COPIES.append(root)
    return Path(root)


def _series_to_frame(func, pd):
    """``func`` annotated Series → DataFrame, which pandas_udf reads as a scalar UDF returning a struct (the
    annotations are set here, as objects: this module's own are strings, and pandas is imported lazily)."""
    func.__annotations__ = {func.__code__.co_varnames[0]: pd.Series, "return": pd.DataFrame}
    return func


def _pandas():
    """pandas and pyspark's ``pandas_udf``; a missing one is a ModuleNotFoundError naming the spark extra."""
    try:
        import pandas as pd
        from pyspark.sql.functions import pandas_udf
    except ModuleNotFoundError as exc:
        from .extras import missing_message

        raise ModuleNotFoundError(missing_message(exc, "zhseq.spark") or str(exc), name=exc.name) from exc
    return pd, pandas_udf
