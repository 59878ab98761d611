"""``python -m zhseq.cli``: the same command line as the ``zhseq`` script."""

from zhseq.cli import main

main()
