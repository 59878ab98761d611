"""The ``zhseq`` command line: parse options, call one library function, print the result.

Results go to stdout, exactly one per input text and in input order; messages and progress go to
stderr. Every error a user can cause is turned into ``Error: <message>`` (exit code 1) in one place,
:class:`ZhseqGroup`. torch, datasets and the library's api/training modules are imported inside the
commands, so ``zhseq --help`` starts fast.

The commands live by group: ``predict`` (segment, sentiment, predict-next, generate), ``train`` (train,
finetune), ``inspection`` (evaluate, info); ``options`` holds what several of them share.
"""

import contextlib
import logging
import os
import sys

import click

from zhseq import __version__
from zhseq.errors import Terminated, ZhseqError
from zhseq.extras import missing_message
from zhseq.training import distributed

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
EXIT_TERMINATED = 143  # 128 + SIGTERM, what shells report for a process SIGTERM ended


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


class StderrLines(logging.Handler):
    """The ``zhseq`` loggers' records on stderr, one line each ("%(message)s"), as the commands printed them
    before logging: written to the ``sys.stderr`` of the moment (CliRunner replaces it) and, while a tqdm
    progress bar is drawn, above it (``tqdm.write``)."""

    def emit(self, record):
        try:
            line = self.format(record)
            tqdm = sys.modules.get("tqdm")  # a bar can only be on screen once tqdm is imported
            if tqdm is not None:
                tqdm.tqdm.write(line, file=sys.stderr)
            else:
                sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def log_to_stderr():
    """Every command: the ``zhseq`` logger prints INFO and up on stderr (``--quiet``: WARNING and up); under
    torchrun, processes other than 0 print only errors. Records still propagate to the root logger."""
    logger = logging.getLogger("zhseq")
    if not any(isinstance(h, StderrLines) for h in logger.handlers):
        handler = StderrLines()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO if distributed.is_main() else logging.ERROR)


class ZhseqCommand(click.Command):
    """A command whose single file or folder options (metavar FILE or DIR: ``--dev``, ``--out``, ``--model``,
    ``--output``) may be given once: click keeps the last of several (``train --dev a.tsv --dev b.tsv`` chose
    epochs on b.tsv alone, in silence), where a second file most likely meant "this one too". Repeated, they
    are a usage error. Other options keep click's rule, the last one given wins (as argparse: a wrapper's
    defaults followed by the caller's ``--epochs 3``). Every command but serve runs within ``sigterm_stops``."""

    def invoke(self, ctx):
        # serve stops its own workers on SIGTERM, then ends by the signal (zhseq.serve.run)
        with contextlib.nullcontext() if self.name == "serve" else sigterm_stops():
            return super().invoke(ctx)

    def parse_args(self, ctx, args):
        _, _, order = self.make_parser(ctx).parse_args(args=list(args))  # options in the order given, repeats kept
        seen = set()
        for param in order:
            once = (isinstance(param, click.Option) and not param.multiple and param.metavar is not None
                    and ("FILE" in param.metavar or "DIR" in param.metavar))
            if once and param.name in seen:
                names = "/".join(param.opts)
                raise click.UsageError(f"{names} was given more than once; it takes one {param.metavar}", ctx)
            seen.add(param.name)
        return super().parse_args(ctx, args)


@contextlib.contextmanager
def sigterm_stops():
    """Within: SIGTERM (``kill``, a process manager's or job scheduler's stop, torchrun stopping its workers)
    raises ``zhseq.errors.Terminated`` in the main thread, so that a command stops as after Ctrl-C: a training
    run's checkpoint kept with a hint to ``--resume`` (before the first one, what it wrote removed and one line
    saying so), a partial ``--output`` removed, ``--workers`` processes shut down; then exit status 143. A
    second SIGTERM while that is done ends the process at once (a checkpoint survives that too)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():  # only the main thread can take signals
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    previous = signal.SIG_DFL if previous is None else previous  # None: a handler not set from Python

    def stop(signum, frame):
        signal.signal(signal.SIGTERM, previous)
        raise Terminated

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except Terminated:
        raise click.exceptions.Exit(EXIT_TERMINATED) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


class ZhseqGroup(click.Group):
    """The command group; turns user errors into one ``Error:`` line for every command."""

    command_class = ZhseqCommand

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
        except ModuleNotFoundError as exc:  # an optional dependency (zhseq.extras): which extra brings it
            message = missing_message(exc, f"zhseq {ctx.invoked_subcommand}")
            if message is None:
                raise
            click.echo(f"Error: {message}", err=True)
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
    log_to_stderr()


def main():
    """Console-script entry point (``zhseq = zhseq.cli:main``)."""
    # numpy's BLAS on one thread: prediction multiplies small matrices, where a second thread mostly waits
    # (measured up to 12x slower on a busy 2-core machine); --workers N uses the cores instead. torch has
    # its own thread pool, so training is unaffected. A value the user set wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    return cli(prog_name="zhseq")


# the commands register themselves on `cli` when their modules are imported (click and the standard library only)
from zhseq.cli import inspection, predict, serve, train  # noqa: E402,F401
