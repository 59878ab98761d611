"""The one exception type users see: a message meant to be printed as a single line."""


class ZhseqError(Exception):
    """A user-facing error (bad input, missing file, unknown option). The CLI prints it on one line."""
