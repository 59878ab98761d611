"""Running the `zhseq` command in-process (click's CliRunner) for the tests, as click's and spaCy's own tests do."""

import sys
import traceback

import pytest
from click.testing import CliRunner

from zhseq.cli import cli


def invoke(*args, input=None):
    """``zhseq ARGS`` in this process; every argument as a string."""
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, prog_name="zhseq")


def ok(*args, input=None):
    """``invoke`` that must exit 0; otherwise the test fails showing the output and the traceback."""
    result = invoke(*args, input=input)
    if result.exit_code != 0:
        tb = "".join(traceback.format_exception(*result.exc_info)) if result.exc_info else ""
        pytest.fail(f"zhseq {' '.join(map(str, args))} exited {result.exit_code}\n{result.output}\n{tb}")
    return result


def one_error_line(result, code=1):
    """Exit ``code``, nothing on stdout, and stderr exactly one `Error:` line (no blank line, no library line);
    returns that line."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exc_info  # an exit, not a crash
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


# -- the plain install, without building a second environment ---------------------------------------------------
TRAIN_ONLY = ("torch", "datasets", "sklearn", "scipy")  # what the train extra brings

_RUN_WITHOUT = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None
sys.argv = ["zhseq"] + {args!r}
from zhseq.cli import main
try:
    main()
finally:
    print("LOADED", sorted(n for n in {blocked!r} if sys.modules.get(n) is not None), file=sys.stderr, flush=True)
"""


def command_without(args, blocked=TRAIN_ONLY):
    """``[python, -c, code]`` running ``zhseq ARGS`` in a fresh interpreter where the ``blocked`` modules cannot be
    imported (their ``sys.modules`` entries are None, as on a machine without them); at exit it prints
    ``LOADED [...]`` on stderr: those of them that were imported anyway."""
    code = _RUN_WITHOUT.format(blocked=list(blocked), args=[str(a) for a in args])
    return [sys.executable, "-c", code]
