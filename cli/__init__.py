"""The ``zhseq`` command line: parse options, call one library function, print the result.

Results go to stdout, exactly one per input text and in input order; messages and progress go to
stderr. Every error a user can cause is turned into ``Error: <message>`` (exit code 1) in one place,
:class:`ZhseqGroup`. torch, datasets and the library's api/training modules are imported inside the
commands, so ``zhseq --help`` starts fast.
"""

import itertools
import os
import sys

import click

from zhseq import __version__
from zhseq.training import distributed
from zhseq.cli import output
from zhseq.errors import ZhseqError

# Errors a user causes with bad input; anything else is a bug and keeps its traceback.
USER_ERRORS = (
    ZhseqError,
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    UnicodeDecodeError,
)

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what `cat big | head` reports for cat


def error_message(exc):
    """One line for the user: no traceback, no repr."""
    if isinstance(exc, UnicodeDecodeError):
        return f"input is not UTF-8 text ({exc.reason} at byte {exc.start})"
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.strerror}: {exc.filename}"
    message = " ".join(str(exc).split("\n")).strip()
    return message or type(exc).__name__


def _silence_stdout():
    """After the reader of our stdout went away, send the rest (and the flush at exit) nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file, e.g. under CliRunner
        pass


class ZhseqGroup(click.Group):
    """The command group; turns user errors into one ``Error:`` line for every command."""

    def make_context(self, info_name, args, parent=None, **extra):
        # `zhseq --bogus`: the group's own usage errors are one line too (no arguments still shows the help)
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            click.echo(f"Error: {exc.format_message()} (see '{info_name} --help')", err=True)
            raise click.exceptions.Exit(exc.exit_code) from None

    def invoke(self, ctx):
        try:
            result = super().invoke(ctx)
            # A closed pipe often shows up only at this flush; catch it here, not at interpreter exit.
            sys.stdout.flush()
            return result
        except distributed.FailedOnMain:
            ctx.exit(1)  # under torchrun: process 0 has printed the error
        except click.UsageError as exc:  # an unknown option, a bad value: one line too, and where to look
            command = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            click.echo(f"Error: {exc.format_message()} (see '{command} --help')", err=True)
            ctx.exit(exc.exit_code)
        except USER_ERRORS as exc:
            where = "" if distributed.is_main() else f"process {distributed.rank()}: "
            click.echo(f"Error: {where}{error_message(exc)}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            ctx.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            _silence_stdout()
            ctx.exit(EXIT_BROKEN_PIPE)


@click.group(cls=ZhseqGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="zhseq")
def cli():
    """zhseq: Chinese text on recurrent networks, offline.

    Word segmentation (jieba), sentiment labels and next-word prediction, with models you can
    train and fine-tune on your own data. Results go to stdout, one line per input text; messages
    go to stderr.

    \b
    Examples:
      zhseq segment "我爱自然语言处理"
      zhseq sentiment "这家餐厅的菜很好吃" "等了一个小时，太失望了"
      zhseq train sentiment --data reviews.tsv --out runs/reviews
      zhseq sentiment --model runs/reviews --input comments.txt --format jsonl
    """


def main():
    """Console-script entry point (``zhseq = zhseq.cli:main``)."""
    # numpy's BLAS on one thread: prediction multiplies small matrices, where a second thread mostly waits
    # (measured up to 12x slower on a busy 2-core machine); --workers N uses the cores instead. torch has
    # its own thread pool, so training is unaffected. A value the user set wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    return cli(prog_name="zhseq")


# ---------------------------------------------------------------------------------------------
# Options shared by several commands


def _input_options(func):
    func = click.option(
        "--text-column",
        metavar="NAME",
        help="Column holding the text when --input is a CSV/TSV/JSONL table.",
    )(func)
    func = click.option(
        "--input",
        "-i",
        "input_path",
        metavar="FILE",
        help="Read texts from FILE (one per line, or a CSV/TSV/JSONL table); '-' is stdin. "
        "With no TEXT and no --input, texts are read from stdin.",
    )(func)
    return func


def _model_option(kind):
    return click.option(
        "--model",
        "-m",
        metavar="DIR",
        help=f"{kind} model folder, or a training output folder (its model-best is used). "
        "Default: the model shipped with zhseq.",
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


def _batch_size_option(default=256):
    return click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=default,
        show_default=True,
        help="Texts per batch; memory stays flat however long the input is.",
    )


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
    process per available core when there is more than one batch to score, else 1."""
    if workers != "auto":
        return workers, items
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cores < 2:
        return 1, items
    look = batch_size + batch_size // 2
    head = list(itertools.islice(items, look + 1))
    return (cores if len(head) > look else 1), itertools.chain(head, items)


def _read_texts(texts, input_path, text_column):
    """The texts to process: positional arguments, else --input, else stdin; streamed, not loaded whole."""
    if texts and input_path is not None:
        raise click.UsageError("give TEXT arguments or --input, not both")
    if texts:
        return iter(texts)
    from zhseq.data import read_texts

    source = "-" if input_path is None else input_path
    if source == "-" and sys.stdin.isatty():
        click.echo("zhseq: reading texts from stdin, one per line; end with Ctrl-D", err=True)
    # read_texts opens the source now (a bad file or column fails before a model loads), reads lazily.
    return read_texts(source, text_column=text_column)


def _paired(texts, results):
    """(text, result) pairs; a library result stream that is shorter or longer than its input is a bug."""
    missing = object()
    for text, result in itertools.zip_longest(texts, results, fillvalue=missing):
        if text is missing or result is missing:
            raise RuntimeError("the library returned a different number of results than texts given")
        yield text, result


def _chunks(iterable, size):
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


# ---------------------------------------------------------------------------------------------
# Prediction


@cli.command()
@click.argument("texts", nargs=-1, metavar="[TEXT]...")
@_input_options
@_format_option("text", "jsonl")
@click.option("--hmm/--no-hmm", default=False, show_default=True, help="Let jieba's HMM join unknown words.")
@click.option("--user-dict", "user_dicts", multiple=True, metavar="FILE", help="jieba user dictionary (repeatable).")
def segment(texts, input_path, text_column, fmt, hmm, user_dicts):
    """Split Chinese text into words.

    Prints one line per text: its words separated by single spaces.

    \b
    Examples:
      zhseq segment "我爱自然语言处理"
        -> 我 爱 自然语言 处理
      zhseq segment --input news.txt --format jsonl > words.jsonl
    """
    from zhseq.tokenizer import Tokenizer

    items = _read_texts(texts, input_path, text_column)
    tokenizer = Tokenizer(hmm=hmm, user_dicts=tuple(user_dicts))
    write = output.LineWriter(every=256)
    shown, fed = itertools.tee(items)
    for text, tokens in _paired(shown, tokenizer.cut_many(fed)):
        if fmt == "jsonl":
            write(output.json_line({"text": text, "tokens": tokens}))
        else:
            write(" ".join(tokens))


@cli.command()
@click.argument("texts", nargs=-1, metavar="[TEXT]...")
@_input_options
@_model_option("Sentiment")
@_format_option("text", "jsonl", "tsv")
@_batch_size_option()
@_workers_option
@click.option(
    "--neutral-band",
    type=click.FloatRange(0.0, 0.5, max_open=True),
    default=0.0,
    metavar="X",
    help="Label a text 'neutral' when its positive probability is within 0.5 ± X (e.g. 0.1). Default: off.",
)
def sentiment(texts, input_path, text_column, model, fmt, batch_size, workers, neutral_band):
    """Label the sentiment of each text.

    Prints one line per text: label, score (the probability of that label) and the text.

    \b
    Examples:
      zhseq sentiment --model runs/cs "这家餐厅的菜很好吃，服务也周到" "等了一个小时，太失望了"
        -> positive  0.987  这家餐厅的菜很好吃，服务也周到
           negative  0.979  等了一个小时，太失望了
         (runs/cs: zhseq train sentiment --data corpora/chnsenticorp/train.tsv.gz
          --dev corpora/chnsenticorp/dev.tsv.gz --out runs/cs)
      zhseq sentiment --model runs/reviews --input comments.txt --format tsv > labels.tsv
      cat comments.txt | zhseq sentiment --format jsonl --neutral-band 0.1
      zhseq sentiment --model runs/reviews --input big.txt --workers 4 > labels.txt
    """
    from zhseq.runtime import load_predictor, predict_in_processes  # numpy: no torch on the prediction path

    items = _read_texts(texts, input_path, text_column)
    classifier = load_predictor(model, task="sentiment")
    workers, items = _plan_workers(workers, items, batch_size)
    write = output.LineWriter(every=batch_size)
    if fmt == "tsv":
        write("label\tscore\ttext")
    # tee keeps the texts whose results are still to come (one batch; 2 per worker with --workers) in memory,
    # to print them next to their results.
    shown, fed = itertools.tee(items)
    if workers > 1:
        results = predict_in_processes(classifier.path, fed, task="sentiment", workers=workers,
                                       batch_size=batch_size, neutral_band=neutral_band)
    else:
        results = classifier.predict_stream(fed, batch_size=batch_size, neutral_band=neutral_band)
    for text, result in _paired(shown, results):
        if fmt == "jsonl":
            write(output.json_line({"text": text, "label": result["label"], "score": result["score"]}))
        else:
            write(f"{result['label']}\t{output.score(result['score'])}\t{output.one_line(text)}")


@cli.command("predict-next")
@click.argument("prefixes", nargs=-1, metavar="[PREFIX]...")
@_input_options
@_model_option("Language")
@click.option("-k", "--top-k", "k", type=click.IntRange(min=1), default=5, show_default=True, help="Words to show per prefix.")
@click.option("--words-only", is_flag=True,
              help="Propose words only: no punctuation or symbols (tokens without a letter or digit).")
@_format_option("text", "jsonl")
@_batch_size_option()
@_workers_option
def predict_next(prefixes, input_path, text_column, model, k, words_only, fmt, batch_size, workers):
    """Show the most likely next words after each prefix.

    Prints one line per prefix: the prefix, a tab, then K words with their probabilities.

    \b
    Examples:
      zhseq predict-next --model runs/pd "中国人民" -k 3
        (runs/pd: zhseq train lm --data corpora/peoples_daily/train.txt.gz --out runs/pd)
      zhseq predict-next --model runs/lm --input prefixes.txt --format jsonl --workers 4
      zhseq predict-next --words-only "今天天气"
    """
    from zhseq.runtime import load_predictor, predict_in_processes  # numpy: no torch on the prediction path

    items = _read_texts(prefixes, input_path, text_column)
    predictor = load_predictor(model, task="lm")
    workers, items = _plan_workers(workers, items, batch_size)
    write = output.LineWriter(every=batch_size)
    shown, fed = itertools.tee(items)
    if workers > 1:
        results = predict_in_processes(predictor.path, fed, task="lm", workers=workers, batch_size=batch_size, k=k,
                                       words_only=words_only)
    else:
        results = itertools.chain.from_iterable(predictor.predict_next(c, k=k, words_only=words_only)
                                                for c in _chunks(fed, batch_size))
    for text, predictions in _paired(shown, results):
        if fmt == "jsonl":
            write(output.json_line({"text": text, "predictions": predictions}))
        else:
            words = "  ".join(f"{p['token']} {output.score(p['score'])}" for p in predictions)
            write(f"{output.one_line(text)}\t{words}")


@cli.command()
@click.argument("prefix")
@_model_option("Language")
@click.option("-n", "--words", "n", type=click.IntRange(min=0), default=20, show_default=True, help="Words to generate.")
@click.option(
    "--temperature",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="0 picks the most likely word each step; higher values sample more freely.",
)
@click.option("--seed", type=int, default=None, help="Seed for sampling, for repeatable output.")
def generate(prefix, model, n, temperature, seed):
    """Continue a prefix with generated words.

    Prints the text generated after PREFIX, N words long.

    \b
    Examples:
      zhseq generate "今天天气" -n 10
      zhseq generate "我们明天" --model runs/lm --temperature 0.8 --seed 1
    """
    from zhseq.api import NextWordPredictor

    predictor = NextWordPredictor.from_pretrained(model)
    click.echo(predictor.generate(prefix, n=n, temperature=temperature, seed=seed))


# ---------------------------------------------------------------------------------------------
# Training

# Option defaults mirror zhseq.training.train/finetune; tests/test_cli.py checks they agree.


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
    func = click.option("--label-column", metavar="NAME", help="Label column of a table (default: detected).")(func)
    func = click.option("--text-column", metavar="NAME", help="Text column of a table (default: detected).")(func)
    return func


_quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")


def _resume_options(func):
    func = click.option(
        "--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True,
        help="Matrix products of the lstm training kernel: bf16 is faster on CPUs with AMX or AVX512-BF16.",
    )(func)
    func = click.option(
        "--checkpoint-every", type=click.IntRange(min=1), default=500, show_default=True, metavar="N",
        help="Write a resumable checkpoint every N steps (and after every epoch).",
    )(func)
    return click.option(
        "--resume", is_flag=True,
        help="Continue a killed or interrupted run of this same command from its last checkpoint in --out.",
    )(func)


def _report_saved(path):
    # The library has said on stderr what it saved; stdout gets only the path, for scripts (once under torchrun).
    if distributed.is_main():
        click.echo(str(path))


@cli.command("train")
@click.argument("task", type=click.Choice(["sentiment", "lm"]))
@_data_options
@click.option(
    "--cell",
    default="lstm",
    show_default=True,
    metavar="NAME",
    help="Recurrent cell: rnn, lstm, gru, or any name registered with zhseq.register_cell.",
)
@click.option(
    "--bidirectional/--unidirectional",
    default=None,
    help="Read text both ways. Default: bidirectional for sentiment, one direction for lm. A bidirectional lm "
         "(one layer) also learns to predict each previous word, so that it can start both directions of a "
         "sentiment model (--init-backbone); it predicts with its left-to-right half.",
)
@click.option("--layers", type=click.IntRange(min=1), default=1, show_default=True, help="Stacked recurrent layers.")
@click.option("--embedding-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--hidden-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="Stop after this many optimizer steps.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=2e-3, show_default=True, help="Learning rate.")
@click.option("--seed", type=int, default=0, show_default=True)
@_column_options
@click.option("--min-freq", type=click.IntRange(min=1), default=2, show_default=True, help="Rarer words become <unk>.")
@click.option("--max-vocab", type=click.IntRange(min=1), default=50000, show_default=True, help="Vocabulary size cap.")
@click.option("--hmm/--no-hmm", default=False, show_default=True, help="Segment with jieba's HMM for unknown words.")
@click.option("--init-backbone", metavar="DIR", default=None,
              help="Start the embedding and recurrent weights from a saved model (e.g. the shipped lm, "
                   "zhseq/models/lm): its tokenizer, vocabulary, cell and sizes are used.")
@click.option("--pooling", type=click.Choice(["max", "mean", "last"]), default=None,
              help="sentiment only: how the states of a text become one vector.  [default: max]")
@click.option("--max-tokens", type=click.IntRange(min=1), default=None, metavar="N",
              help="sentiment only: longer texts keep their first third and last two thirds of N tokens, in "
                   "training and prediction.  [default: 256]")
@click.option("--bptt", type=click.IntRange(min=1), default=None, metavar="N",
              help="lm only: training window in tokens.  [default: 64]")
@click.option("--patience", type=click.IntRange(min=1), default=2, show_default=True, metavar="N",
              help="Stop after N epochs without a better dev score.")
@click.option("--sampled-softmax", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="lm only: train the output layer against N sampled words per batch instead of the whole "
                   "vocabulary (much faster for large vocabularies; 0 = full softmax).")
@click.option("--ngrams/--no-ngrams", default=True, show_default=True,
              help="sentiment only: add a linear model over hashed word and character n-grams (TF-IDF, logistic "
                   "regression), averaged with the network as the dev set prefers.")
@click.option("--ngram-c", type=click.FloatRange(min=0, min_open=True), default=16.0, show_default=True,
              metavar="C", help="Inverse regularisation of the n-gram model (larger: fits the data closer).")
@click.option("--ngram-nb", type=click.FloatRange(min=0), default=0.5, show_default=True, metavar="POWER",
              help="Scale each n-gram by its naive-Bayes log-count ratio to this power before the fit, as NBSVM "
                   "does (0: plain TF-IDF).")
@click.option("--ngram-data", multiple=True, metavar="FILE",
              help="Fit the n-gram model on these files (same columns) instead of --data, e.g. the in-domain part "
                   "of a mixed corpus. May be repeated.")
@_resume_options
@_quiet_option
def train_command(task, data, dev, out, cell, bidirectional, layers, embedding_size, hidden_size, dropout, epochs,
                  max_steps, batch_size, lr, seed, text_column, label_column, min_freq, max_vocab, hmm,
                  init_backbone, pooling, max_tokens, bptt, patience, sampled_softmax, ngrams, ngram_c, ngram_nb, ngram_data, resume, checkpoint_every,
                  precision, quiet):
    """Train a sentiment or next-word (lm) model from scratch.

    Sentiment data is a table with a text and a label column (any label names, two or more);
    lm data is plain text, one sentence or paragraph per line. Prints the best model's folder.

    \b
    Examples:
      zhseq train sentiment --data reviews.tsv --dev reviews-dev.tsv --out runs/reviews
      zhseq train lm --data news.txt --out runs/lm --cell gru --layers 2 --epochs 10
      zhseq train lm --data corpora/peoples_daily/train.txt.gz --out runs/pd --sampled-softmax 2048
      zhseq train lm --data corpora/peoples_daily/train.txt.gz --out runs/pd --sampled-softmax 2048 --resume
        (after a crash or Ctrl-C: the same command plus --resume continues from the last checkpoint)
    """
    from zhseq import training

    path = training.train(
        task, list(data), out=out, dev=dev, cell=cell, bidirectional=bidirectional, layers=layers, pooling=pooling,
        max_tokens=max_tokens, bptt=bptt, patience=patience,
        embedding_size=embedding_size, hidden_size=hidden_size, dropout=dropout, epochs=epochs,
        max_steps=max_steps, batch_size=batch_size, lr=lr, seed=seed, text_column=text_column,
        label_column=label_column, min_freq=min_freq, max_vocab=max_vocab, hmm=hmm,
        sampled_softmax=sampled_softmax, resume=resume, checkpoint_every=checkpoint_every,
        init_backbone=init_backbone, precision=precision, ngrams=ngrams, ngram_c=ngram_c,
        ngram_nb=ngram_nb, ngram_data=list(ngram_data), progress=not quiet,
    )
    _report_saved(path)


@cli.command("finetune")
@click.argument("model_dir", metavar="MODEL_DIR")
@_data_options
@click.option("--epochs", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=5e-4, show_default=True, help="Learning rate.")
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="Stop after this many optimizer steps.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Default: the batch size the model was trained with.")
@click.option("--seed", type=int, default=0, show_default=True)
@_column_options
@click.option("--min-freq", type=click.IntRange(min=1), default=2, show_default=True, help="New words this frequent join the vocabulary.")
@click.option("--ngram-c", type=click.FloatRange(min=0, min_open=True), default=None, metavar="C",
              help="Inverse regularisation of the refitted n-gram model, if the model has one (default: the "
                   "base model's).")
@_resume_options
@_quiet_option
def finetune_command(model_dir, data, dev, out, epochs, lr, max_steps, batch_size, seed, text_column, label_column,
                     min_freq, ngram_c, resume, checkpoint_every, precision, quiet):
    """Continue training a model on new data.

    Starts from MODEL_DIR, keeps its vocabulary (adding frequent new words) and trains at a
    lower learning rate.

    Sentiment data may bring new labels: the classifier head is rebuilt for them. Prints the
    best model's folder.

    \b
    Examples:
      zhseq finetune runs/reviews --data hotel.tsv --out runs/hotel
      zhseq finetune runs/lm --data forum.txt --out runs/lm-forum --epochs 2
    """
    from zhseq import training

    path = training.finetune(
        model_dir, list(data), out=out, dev=dev, epochs=epochs, lr=lr, max_steps=max_steps,
        batch_size=batch_size, seed=seed, text_column=text_column, label_column=label_column,
        min_freq=min_freq, resume=resume, checkpoint_every=checkpoint_every, precision=precision,
        ngram_c=ngram_c, progress=not quiet,
    )
    _report_saved(path)


# ---------------------------------------------------------------------------------------------
# Evaluation and inspection


@cli.command("evaluate")
@click.argument("model_dir", metavar="MODEL_DIR")
@click.option("--data", required=True, metavar="FILE", help="Labelled table (sentiment) or plain text (lm).")
@_format_option("text", "json")
@_column_options
@_batch_size_option()
@click.option(
    "--plot",
    "plot_path",
    metavar="FILE",
    help="Also draw the confusion matrix (sentiment) to FILE, a .png, .svg or .pdf. "
    "Needs matplotlib: pip install 'zhseq[plot]'.",
)
def evaluate_command(model_dir, data, fmt, text_column, label_column, batch_size, plot_path):
    """Score a model on held-out data.

    Sentiment: accuracy, macro-F1, per-label precision/recall/F1 and the confusion matrix.
    lm: perplexity and how often the next word is the top-1 / in the top-5 guesses.

    \b
    Examples:
      zhseq evaluate runs/reviews --data reviews-test.tsv
      zhseq evaluate runs/reviews --data reviews-test.tsv --plot confusion.png
      zhseq evaluate runs/lm --data news-test.txt --format json
    """
    from zhseq import evaluation, plots

    if plot_path is not None:
        plots.check_path(plot_path)  # a bad file name fails now, not after the evaluation
    metrics = evaluation.evaluate(
        model_dir, data, text_column=text_column, label_column=label_column, batch_size=batch_size
    )
    if fmt == "json":
        click.echo(output.json_document(metrics))
    elif metrics.get("task") == "lm":
        click.echo("\n".join(_lm_report(metrics)))
    else:
        click.echo("\n".join(_sentiment_report(metrics)))
    if plot_path is not None:
        _plot_confusion(metrics, plot_path)


def _plot_confusion(metrics, path):
    """Draw ``evaluate --plot``; without matplotlib, or for an lm, say why not (the scores are printed)."""
    from zhseq import plots

    if metrics.get("task") == "lm":
        click.echo("no plot drawn: a language model has no confusion matrix", err=True)
    elif not plots.available():
        click.echo(f"confusion matrix not drawn: {plots.INSTALL_HINT}", err=True)
    else:
        click.echo(f"confusion matrix drawn to {plots.confusion_matrix(metrics, path)}", err=True)


def _sentiment_report(m):
    labels = m["labels"]
    lines = output.table(
        [
            ["examples", output.thousands(m["n"])],
            ["accuracy", f"{m['accuracy']:.4f}"],
            ["macro-F1", f"{m['macro_f1']:.4f}"],
        ]
    )
    per_label = [["label", "precision", "recall", "F1", "support"]]
    for label in labels:
        s = m["per_label"][label]
        per_label.append([label, f"{s['precision']:.4f}", f"{s['recall']:.4f}", f"{s['f1']:.4f}", s["support"]])
    lines += [""] + output.table(per_label, right={1, 2, 3, 4})
    matrix = [["true \\ predicted"] + list(labels)]
    matrix += [[label] + [str(c) for c in row] for label, row in zip(labels, m["confusion_matrix"])]
    lines += ["", "confusion matrix (rows: true label, columns: predicted label)"]
    lines += output.table(matrix, right=set(range(1, len(labels) + 1)))
    return lines


def _lm_report(m):
    rows = [
        ["tokens", output.thousands(m["n_tokens"])] if "n_tokens" in m else None,
        ["perplexity", f"{m['perplexity']:.2f}"],
        ["top-1", f"{m['top1']:.4f}"],
        ["top-5", f"{m['top5']:.4f}"],
    ]
    return output.table([row for row in rows if row is not None])


@cli.command("info")
@click.argument("model_dir", required=False, metavar="[MODEL_DIR]")
@_format_option("text", "json")
def info_command(model_dir, fmt):
    """Describe a model, or the shipped ones.

    Shows task, network, vocabulary, labels, size and how the model was trained.

    With no MODEL_DIR, describes the model(s) shipped with zhseq.

    \b
    Examples:
      zhseq info runs/reviews
      zhseq info runs/reviews/model-best --format json
    """
    from zhseq.checkpoint import info  # reads config.json and the safetensors header: no torch

    details = info(model_dir)
    if fmt == "json":
        click.echo(output.json_document(details))
    elif model_dir is not None:
        click.echo("\n".join(_info_report(details)))
    else:
        click.echo("\n".join(_shipped_report(details)))


def _shipped_report(shipped):
    """``info(None)`` gives ``{task: details or None}`` for the default models."""
    lines = []
    for task, details in shipped.items():
        if lines:
            lines.append("")
        if details is None:
            lines.append(f"default {task} model: none shipped with this installation")
        else:
            lines.append(f"default {task} model:")
            lines += ["  " + line for line in _info_report(details)]
    if not any(shipped.values()):
        lines += [
            "",
            "train one and pass its folder with --model:",
            "  zhseq train sentiment --data reviews.tsv --out runs/reviews",
            "  zhseq train lm --data corpus.txt --out runs/lm",
        ]
    return lines


def _info_report(details):
    """The settings a reader asks about first, then everything else config.json records."""
    rest = dict(details)
    backbone = dict(rest.pop("backbone", None) or {})
    rows = []

    def add(label, value, fmt=str):
        if value is not None:
            rows.append([label, fmt(value)])

    add("path", rest.pop("path", None))
    add("task", rest.pop("task", None))
    add("cell", backbone.pop("cell", None))
    bidirectional = backbone.pop("bidirectional", None)
    add("directions", bidirectional, lambda b: "2 (bidirectional)" if b else "1 (left to right)")
    add("layers", backbone.pop("layers", None))
    add("embedding size", backbone.pop("embedding_size", None))
    add("hidden size", backbone.pop("hidden_size", None))
    vocab_size = rest.pop("vocab_size", None)
    backbone.pop("vocab_size", None)
    add("vocabulary", vocab_size, lambda n: f"{output.thousands(n)} tokens")
    add("labels", rest.pop("labels", None), ", ".join)
    head = rest.get("head") or {}
    if head.get("ngram_buckets"):
        add("n-gram half", head, lambda h: f"words 1-{h.get('ngram_words', 2)} and characters 1-"
            f"{h.get('ngram_chars', 3)}, {output.thousands(h['ngram_buckets'])} buckets, weight "
            f"{h.get('ngram_weight', 0.0)}")
    add("parameters", rest.pop("n_parameters", None), output.thousands)
    add("size on disk", rest.pop("size_bytes", None), output.human_size)
    training = rest.get("training") or {}
    add("training data", training.get("data"), ", ".join)
    for name, scores in _score_groups(rest.pop("scores", None) or {}):
        rows.append(["measured " + name, output.metrics(scores)])
    dev = rest.pop("dev_scores", None) or {}
    dev = {k: dev[k] for k in ("perplexity", "accuracy", "macro_f1", "top1", "top5") if k in dev}
    add("dev during training (best epoch)", dev or None, output.metrics)
    rest.pop("format", None)  # always "zhseq-model"
    rows += _flatten({"backbone": backbone} if backbone else {})
    rows += _flatten(rest)
    return output.table(rows)


def _score_groups(scores, prefix=""):
    """``{"chnsenticorp": {"test": {"accuracy": …}}}`` -> ``[("chnsenticorp test", {"accuracy": …})]``."""
    groups, own = [], {}
    for key, value in scores.items():
        if isinstance(value, dict):
            groups += _score_groups(value, f"{prefix}{key} ")
        else:
            own[key] = value
    return ([(prefix.strip(), own)] if own else []) + groups


def _flatten(d, prefix=""):
    """Nested settings as ``[["training.epochs", "5"], ...]``; long lists (user words) as a count."""
    rows = []
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += _flatten(value, prefix=name + ".")
        elif isinstance(value, (list, tuple)):
            shown = ", ".join(map(str, value)) if len(value) <= 8 else f"{len(value):,} items"
            rows.append([name, shown or "(none)"])
        else:
            rows.append([name, "-" if value is None else str(value)])
    return rows
