"""The one exception type users see (a message meant to be printed as a single line), and messages that
more than one module raises."""


class ZhseqError(Exception):
    """A user-facing error (bad input, missing file, unknown option). The CLI prints it on one line."""


# A language model's two directions must not meet below its top: in a second layer, the left-to-right half
# would read the right-to-left half's states, which have seen the words it predicts (modeling, runtime, training).
STACKED_BIDIRECTIONAL_LM = ("a bidirectional language model has one layer: in a second, each direction would read "
                            "the other's states and so see the words it predicts")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread by the ``zhseq`` command's handler (``zhseq.cli.sigterm_stops``): the
    work stops as after Ctrl-C's KeyboardInterrupt (a run's checkpoint kept, a partial ``--output`` removed), and
    a training run says ``terminated (SIGTERM)`` where Ctrl-C's line says ``interrupted``."""
