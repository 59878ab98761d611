"""Options and input handling shared by several commands."""

import itertools
import logging
import os
import sys

import click

from zhseq.cli import output
from zhseq.data import LABEL_COLUMNS, TEXT_COLUMNS
from zhseq.training import distributed

# ---------------------------------------------------------------------------------------------
# Options shared by several commands


def _input_options(func):
    func = _encoding_option(func)
    func = click.option(
        "--text-column",
        metavar="NAME",
        help=f"Column holding the text when --input is a CSV/TSV/JSONL/Parquet table. {_detected(TEXT_COLUMNS)}",
    )(func)
    func = click.option(
        "--input",
        "-i",
        "input_path",
        metavar="FILE",
        multiple=True,
        help="Read texts from FILE (one per line, or a CSV/TSV/JSONL table, or a .parquet file or folder of "
        "them, read with pyarrow: pip install 'zhseq[parquet]'); '-' is stdin. Repeat it for several files, "
        "read in the order given. With no TEXT and no --input, texts are read from stdin.",
    )(func)
    return func


def _model_option(kind):
    name = {"Sentiment": "sentiment", "Language": "lm"}[kind]
    return click.option(
        "--model",
        "-m",
        metavar="DIR|NAME",
        help=f"{kind} model folder, a training output folder (its model-best is used), or the name of the "
        f"{kind.lower()} model shipped with zhseq ({name}). Default: the shipped one.",
    )


def _format_option(*choices):
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices, case_sensitive=False),
        default=choices[0],
        show_default=True,
        help="Output format.",
    )


class Checked(click.ParamType):
    """A number checked by a field's own check in ``zhseq.config`` (the library applies the same one)."""

    def __init__(self, name, check):
        self.field, self.check = name, check
        self.name = "integer" if check.kind == "int" else "number"

    def convert(self, value, param, ctx):
        from zhseq.errors import ZhseqError

        if isinstance(value, str):
            try:
                value = int(value) if self.check.kind == "int" else float(value)
            except ValueError:
                self.fail(f"{value!r} is not {'a whole number' if self.check.kind == 'int' else 'a number'}",
                          param, ctx)
        try:
            return self.check(self.field, value)
        except ZhseqError as exc:
            self.fail(str(exc), param, ctx)


def predict_option(name, *flags, **extra):
    """A prediction option (``--batch-size``, ``-k``, …) whose type, default and help come from
    ``zhseq.config.PredictConfig``'s field ``name``."""
    from dataclasses import fields

    from zhseq.config import PredictConfig

    field = next(f for f in fields(PredictConfig) if f.name == name)
    extra.setdefault("show_default", field.default is not None and field.name != "neutral_band")
    return click.option(*flags, name, type=Checked(name, field.metadata["check"]), default=field.default,
                        help=field.metadata["help"], **extra)


def _batch_size_option():
    return predict_option("batch_size", "--batch-size")


class _Workers(click.ParamType):
    name = "N|auto"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == "auto":
            return value
        try:
            n = int(value)
        except ValueError:
            n = 0
        if n < 1:
            self.fail(f"{value!r} is neither a whole number of processes (1 or more) nor 'auto'", param, ctx)
        return n


def _workers_option(func):
    return click.option(
        "--workers",
        type=_Workers(),
        default="auto",
        show_default=True,
        metavar="N|auto",
        help="Score batches in N processes, each loading the model once; output keeps the input order. "
        "auto: one process per available core once the input holds more than one batch, else 1.",
    )(func)


def _plan_workers(workers, items, batch_size):
    """(workers, items): 'auto' looks at the first batch and a half (without consuming them) and picks one
    process per available core when there is more than one batch to score, else 1; a number above the
    available cores is cut to them, with one line (64 processes on 2 cores took 4× as long as 2)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if workers != "auto":
        if workers > cores:  # more processes than cores only share them, each with its own copy of the model
            click.echo(f"zhseq: --workers {workers} is more than the {cores} available cores: using {cores}",
                       err=True)
            return cores, items
        return workers, items
    if cores < 2:
        return 1, items
    look = batch_size + batch_size // 2
    head = list(itertools.islice(items, look + 1))
    return (cores if len(head) > look else 1), itertools.chain(head, items)


def _read_texts(texts, input_paths, text_column, encoding=None):
    """The texts to process: positional arguments, else each --input in turn, else stdin; streamed, not
    loaded whole."""
    if texts and input_paths:
        raise click.UsageError("give TEXT arguments or --input, not both")
    if tuple(texts) == ("-",):  # as cat's `-`; scoring the dash would leave what is piped in unread
        raise click.UsageError("'-' is not a text to score: standard input is read when no TEXT is given "
                               "(or with --input -)")
    if texts:
        return iter(texts)
    from zhseq.data import read_texts

    sources = list(input_paths) or ["-"]
    if sources.count("-") > 1:
        raise click.UsageError("--input - (standard input) can be given once")
    if "-" in sources and sys.stdin.isatty():
        click.echo("zhseq: reading texts from stdin, one per line; end with Ctrl-D", err=True)
    # read_texts opens each source now (a bad file or column fails before a model loads), reads lazily.
    return itertools.chain.from_iterable([read_texts(s, text_column=text_column, encoding=encoding)
                                          for s in sources])


def _output_option(func):
    return click.option(
        "--output", "-o", "output_path", metavar="FILE",
        help="Write the results to FILE instead of stdout, whole: under a temporary name, renamed to FILE once "
             "every text is done (an error leaves FILE as it was). FILE ending in .parquet: a Parquet table "
             "whose columns are the jsonl fields, one row per text (needs pyarrow: pip install "
             "'zhseq[parquet]'); in .jsonl: the jsonl lines; any other FILE: the --format lines, UTF-8; "
             "gzip-compressed when FILE ends in .gz.")(func)


# the jsonl fields of each command: the columns of a .parquet --output that has no rows
_RESULT_FIELDS = {"sentiment": ("text", "label", "score"), "predict-next": ("text", "predictions"),
                  "segment": ("text", "tokens"), "generate": ("text", "generated")}


def _open_output(output_path, fmt, every):
    """(write, fmt): where the command's result lines go, and the format to write them in. None or '-':
    stdout, as they come (``output.LineWriter``). A .parquet FILE: its jsonl lines, as rows (fmt becomes
    "jsonl"; another --format given on the command line is a usage error). Any other FILE: the lines. A
    file is renamed into place when the command ends without an error (``click.Context.call_on_close``).
    Where the results do not go to a terminal, a count of the texts done is drawn on stderr when it is one
    (``output.Counted``)."""
    ctx = click.get_current_context()
    if output_path is None or output_path == "-":
        write = output.LineWriter(every=every)
        if sys.stdout.isatty():  # the results on screen are the progress
            return write, fmt
        return output.Counted(write, ctx), fmt
    if output_path.lower().endswith(".parquet"):
        if fmt != "jsonl" and ctx.get_parameter_source("fmt") is click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError(f"--format {fmt} does not apply to a .parquet --output (its columns are the "
                                   "jsonl fields); leave --format out")
        write = output.ParquetRecords(output_path, fields=_RESULT_FIELDS.get(ctx.info_name, ("text",)))
        fmt = "jsonl"
    else:
        name = output_path.lower().removesuffix(".gz")
        if name.endswith(".jsonl") and fmt != "jsonl":  # a .jsonl FILE holds JSON lines, whatever the default
            if ctx.get_parameter_source("fmt") is click.core.ParameterSource.COMMANDLINE:
                raise click.UsageError(f"--format {fmt} does not fit a .jsonl --output; leave --format out, or "
                                       "name the file otherwise")
            fmt = "jsonl"
        write = output.FileLines(output_path, every)
    # closed when the command's context ends, on success or on an error (then sys.exc_info() holds it)
    ctx.call_on_close(lambda: write.close(ok=sys.exc_info()[0] is None))
    return output.Counted(write, ctx), fmt


def check_emoji_options(emoji, emoji_keywords) -> None:
    """``zhseq.tokenizer.check_emoji_keywords`` in the options' words, as a usage error (exit status 2)."""
    from zhseq.errors import ZhseqError
    from zhseq.tokenizer import check_emoji_keywords

    try:
        check_emoji_keywords(emoji, emoji_keywords, "--emoji-keywords", "--emoji")
    except ZhseqError as e:
        raise click.UsageError(str(e)) from None


def _paired(texts, results):
    """(text, result) pairs; a library result stream that is shorter or longer than its input is a bug."""
    missing = object()
    for text, result in itertools.zip_longest(texts, results, fillvalue=missing):
        if text is missing or result is missing:
            raise RuntimeError("the library returned a different number of results than texts given")
        yield text, result




def _data_options(func):
    for decorator in reversed(
        [
            click.option(
                "--data",
                multiple=True,
                required=True,
                metavar="FILE",
                help="Training file (repeatable): CSV/TSV/JSONL table for sentiment, plain text for lm.",
            ),
            click.option("--dev", metavar="FILE", help="Held-out file to pick the best epoch on."),
            click.option("--out", required=True, metavar="DIR", help="Output folder: model-best/, model-last/, metrics.json."),
        ]
    ):
        func = decorator(func)
    return func


def _column_options(func):
    """--text-column, --label-column and --encoding: how a command's data files are read."""
    func = _encoding_option(func)
    func = click.option("--label-column", metavar="NAME",
                        help=f"Label column of a table. {_detected(LABEL_COLUMNS)}")(func)
    func = click.option("--text-column", metavar="NAME",
                        help=f"Text column of a table. {_detected(TEXT_COLUMNS)}")(func)
    return func


class LabelMap(click.ParamType):
    """``--label-map 好评=positive,差评=negative`` → ``{"好评": "positive", "差评": "negative"}``; malformed: one
    usage error (the rules are ``zhseq.data.labels.label_map``'s)."""

    name = "FROM=TO,…"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        from zhseq.data.labels import label_map
        from zhseq.errors import ZhseqError

        try:
            return label_map(value)
        except ZhseqError as exc:
            self.fail(str(exc), param, ctx)


def _label_map_option(func):
    return click.option(
        "--label-map", type=LabelMap(), metavar="FROM=TO,…",
        help="Rename the data's labels as they are read, before anything else: e.g. 好评=positive,差评=negative "
             "to score the file's 好评/差评 with a positive/negative model. Labels that differ only in case or "
             "width (Positive, POSITIVE) are one label anyway.")(func)


def _allow_rare_labels_option(func):
    from zhseq.data.labels import RARE_RATIO, RARE_ROWS, RARE_SHARE

    return click.option(
        "--allow-rare-labels", is_flag=True,
        help=f"Train on a label that very few rows hold (fewer than {RARE_ROWS}, or under {RARE_SHARE:.1%} of the "
             f"rows, while another label has {RARE_RATIO} times as many or more). Without it such a label is "
             "refused as a likely typo (postive, 11 among 0/1), its rows listed.")(func)


def _detected(names):
    return (f"Default: the first found of {', '.join(names)} (case, surrounding spaces and traditional "
            "characters aside).")


_encoding_option = click.option(
    "--encoding", metavar="NAME",
    help="Character encoding of the input files: gb18030 (also for GBK and GB2312), big5, utf-16, … (Python's "
         "codec names). Default: a byte-order mark's, else UTF-8, else detected from the start of each file "
         "(one line on stderr says which).")


def setting_option(cls, name, *flags, **extra):
    """A training option for field ``name`` of ``cls`` (``zhseq.config.ModelConfig``/``FitConfig``): its
    parameter name is the field's, so the command hands it on by name (``split_settings``); its default, and
    its help unless given, are the field's."""
    from dataclasses import fields

    field = next(f for f in fields(cls) if f.name == name)
    extra.setdefault("default", field.default)
    extra.setdefault("show_default", field.default is not None)
    if field.metadata.get("help"):
        extra.setdefault("help", field.metadata["help"])
    return click.option(*(flags or (f"--{name.replace('_', '-')}",)), name, **extra)


def _quiet(ctx, param, quiet):
    if quiet:  # the group set the zhseq logger to INFO (ERROR outside torchrun's process 0)
        logger = logging.getLogger("zhseq")
        logger.setLevel(max(logging.WARNING, logger.level))
    return quiet


_quiet_option = click.option("--quiet", "-q", is_flag=True, callback=_quiet,
                             help="No progress on stderr: only warnings and errors.")


def _resume_options(func):
    from zhseq.config import PRECISIONS, FitConfig

    func = setting_option(FitConfig, "precision", type=click.Choice(PRECISIONS))(func)
    func = setting_option(FitConfig, "checkpoint_every", type=click.IntRange(min=1), metavar="N")(func)
    return click.option(
        "--resume", is_flag=True,
        help="Continue a killed or interrupted run of this same command from its last checkpoint in --out.",
    )(func)


def _report_saved(path):
    # The library has said on stderr what it saved; stdout gets only the path, for scripts (once under torchrun).
    if distributed.is_main():
        click.echo(str(path))


