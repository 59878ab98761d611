"""The output folder's life: refused if it holds something else, cleaned if a run fails, kept for --resume
if it was interrupted, and the learning curves drawn beside metrics.json at the end.

    OUT/model-best/  OUT/model-last/  OUT/metrics.json  OUT/learning_curves.png  (OUT/checkpoint/ while running)
    OUT/model-average/  with FitConfig.average_last: the last epochs' weights averaged
    OUT/lm/ …  a run in stages (finetune with unlabelled text): an earlier stage's own output folder (``inner``)
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..checkpoint import BEST_DIR, CONFIG_NAME, LAST_DIR, METRICS_NAME
from ..errors import Terminated, ZhseqError
from . import distributed
from .state import STATE_DIR, clear_state

logger = logging.getLogger(__name__)

CURVES_NAME = "learning_curves.png"
AVERAGE_DIR = "model-average"


@dataclass
class Progress:
    """Where a run stands, for the line ``guarded`` prints when it is interrupted before its first checkpoint:
    ``step``, the training step under way (0: not training yet; ``step_begins`` advances it: the loop's
    ``on_step``), ``checkpoint_every``
    (FitConfig's; 0: after each epoch only), and ``stage``, which stage of a run in stages trains (``""`` for a
    run of one; ``"the language-model stage"``)."""

    step: int = 0
    checkpoint_every: int = 0
    stage: str = ""

    def step_begins(self, step: int) -> None:
        """The training loop's ``on_step``: step ``step`` of the run is under way."""
        self.step = step


def interrupted_line(exc: BaseException, out: Path, progress: Progress | None, created: Path | bool) -> str:
    """What a run stopped by Ctrl-C (or SIGTERM, ``Terminated``) before its first checkpoint says, one line:
    ``interrupted at step 37, before the first checkpoint (written every 500 steps and after each epoch):
    nothing to resume from, runs/x removed``."""
    how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
    left = f"{out} removed" if created else f"{out} left empty"  # prepare took it empty (or emptied it)
    if progress is None:
        return f"{how} before the first checkpoint: nothing to resume from, {left}"
    if progress.step == 0:  # reading, tokenising, fitting the n-gram half
        return f"{how} before {progress.stage or 'the run'} began training: nothing to resume from, {left}"
    stage = f" of {progress.stage}" if progress.stage else ""
    every = (f"every {progress.checkpoint_every} steps and after each epoch" if progress.checkpoint_every
             else "after each epoch")
    return (f"{how} at step {progress.step}{stage}, before the first checkpoint (written {every}): nothing to "
            f"resume from, {left}")


def kept_line(exc: BaseException, kept: Path, progress: Progress | None) -> str:
    """What a run stopped with its checkpoint kept (``kept``: ``saved_progress``'s answer) says, one line:
    ``interrupted at step 37: continue with the same command plus --resume (checkpoint at step 30 in
    runs/x/checkpoint)``; ``terminated (SIGTERM)`` for SIGTERM, ``stopped`` for a failure (its error follows)."""
    how = ("terminated (SIGTERM)" if isinstance(exc, Terminated)
           else "interrupted" if isinstance(exc, KeyboardInterrupt) else "stopped")
    if progress is not None and progress.step:  # 0: before training (re)began
        how += f" at step {progress.step}" + (f" of {progress.stage}" if progress.stage else "")
    what = kept_words(kept) if kept.name == STATE_DIR else f"its finished first stage in {kept}"
    return f"{how}: continue with the same command plus --resume ({what})"


def prepare(out: Path, resume: bool = False, inner: tuple[str, ...] = ()) -> Path | bool:
    """Refuse to mix a new run into a folder that holds something else (ZhseqError naming it); the first
    folder this run created (``out``, or a parent of it that did not exist: ``runs/`` of ``runs/t``), else
    False. With ``resume``, a folder holding an unfinished run's checkpoint is taken as it is;
    without one (a run killed before its first checkpoint, an empty or new folder) a WARNING says ``no
    checkpoint in OUT: starting from the beginning``, and what a killed run left (``model-best``,
    ``metrics.json``, a half-written checkpoint) is removed first. ZhseqError for ``resume`` on a finished run.
    ``inner``: the folders in ``out`` of a run's earlier stages (each its own output folder, which that stage
    prepares itself); with ``resume``, ``out`` holding one of them is taken as it is (less the later stage's
    leftovers), as that stage's run continues."""
    if resume and out.is_dir() and (out / STATE_DIR / "latest.json").is_file():
        return False
    if resume and out.is_dir():
        if (out / LAST_DIR).exists():
            raise ZhseqError(f"--out {out} holds a finished run: nothing to resume (its best model is "
                             f"{out / BEST_DIR}); to train again, choose a new or empty folder")
        for p in out.iterdir():
            if p.name in (BEST_DIR, AVERAGE_DIR, METRICS_NAME, CURVES_NAME, STATE_DIR):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        if any((out / name).is_dir() for name in inner):
            return False
    if resume and (not out.exists() or out.is_dir() and not any(out.iterdir())):  # else refused below
        logger.warning("no checkpoint in %s: starting from the beginning", out)
    if out.exists():
        if not out.is_dir():
            raise ZhseqError(f"--out {out} is a file")
        if (out / CONFIG_NAME).exists():
            raise ZhseqError(f"--out {out} already holds a model; choose another folder")
        kept = None if (out / LAST_DIR).exists() else saved_progress(out, inner)
        if kept is not None:  # without --resume (with it, taken above)
            raise ZhseqError(f"--out {out} already holds an unfinished run ({kept_words(kept)}): continue it "
                             "with the same command plus --resume, or choose a new or empty folder")
        if (out / BEST_DIR).exists() or (out / LAST_DIR).exists():
            # a failed run cleans up what it wrote, so an earlier run's models here would be lost
            raise ZhseqError(f"--out {out} already holds a trained model ({BEST_DIR}/); choose another folder")
        strays = [p.name for p in out.iterdir()]
        if strays:
            raise ZhseqError(f"--out {out} is not empty ({strays[0]} …); choose a new or empty folder")
        return False
    top = next(p for p in reversed([out, *out.parents]) if not p.exists())  # the first folder this run makes
    out.mkdir(parents=True)
    return top


def unfinished(out: Path) -> dict | None:
    """What the last checkpoint in ``out`` says of its run, read from its JSON alone (no tensors): ``{"step":
    N, "recipe": {...}}`` (the recipe of the run that wrote it: command, data, ``unlabeled`` …; ``{}`` if it
    cannot be read); None when ``out`` holds no checkpoint."""
    root = out / STATE_DIR
    if not (root / "latest.json").is_file():
        return None
    try:
        pointer = json.loads((root / "latest.json").read_text(encoding="utf-8"))
        loop = json.loads((root / str(pointer["dir"]) / "state.json").read_text(encoding="utf-8"))["loop"]
        return {"step": loop.get("step"), "recipe": (loop.get("fingerprint") or {}).get("recipe") or {}}
    except (OSError, ValueError, KeyError, TypeError):  # --resume says what is wrong with it (state.load_state)
        return {"step": None, "recipe": {}}


def kept_words(kept: Path) -> str:
    """``checkpoint at step 9 in runs/x/checkpoint``, ``a finished first stage in runs/x/lm``: ``saved_progress``'s
    answer (a checkpoint folder, or an earlier stage's folder) in words."""
    if kept.name != STATE_DIR:
        return f"a finished first stage in {kept}"
    step = (unfinished(kept.parent) or {}).get("step")
    return f"checkpoint at step {step} in {kept}" if step is not None else f"checkpoint in {kept}"


def saved_progress(out: Path, inner: tuple[str, ...] = ()) -> Path | None:
    """What ``--resume`` would continue from: ``out``'s checkpoint folder, else that of an earlier stage in
    ``inner`` (``OUT/lm/checkpoint``), else a finished earlier stage's folder; None if nothing."""
    for folder in (out, *(out / name for name in inner)):
        if (folder / STATE_DIR / "latest.json").is_file():
            return folder / STATE_DIR
    return next((out / name for name in inner if (out / name / LAST_DIR).is_dir()), None)


def guarded(out: Path, body: Callable[[], Path], resume: bool = False, device="cpu",
            inner: tuple[str, ...] = (), progress: Progress | None = None,
            check: Callable[[], None] | None = None) -> Path:
    """Run ``body``; if it fails, leave no half-made output folder behind. A checkpoint survives an
    interruption (Ctrl-C, or SIGTERM: ``Terminated``) and any failure of a resumed run, so ``--resume`` can
    still continue it (a WARNING says so: ``kept_line``); an interruption before the first checkpoint removes
    what the run wrote and says so in one WARNING (``interrupted_line``; ``progress``, which ``body`` keeps up to
    date, gives the step). ``inner``: the folders of a run's earlier stages in ``out`` (``prepare``): their
    checkpoints, and a finished earlier stage, are kept as ``out``'s own checkpoint is. ``check``: called before
    ``out`` is prepared, to refuse (ZhseqError) a folder this run must not touch. Under torchrun, this is where
    every process joins the run (on ``device``, its own: NCCL for a CUDA GPU, else gloo), and process 0 alone
    owns ``out``."""
    distributed.setup(device)

    def checked_prepare() -> bool:
        if check is not None:
            check()
        return prepare(out, resume, inner)

    created = distributed.on_main(checked_prepare)
    resuming = saved_progress(out, inner) is not None
    try:
        return body()
    except BaseException as exc:
        if not distributed.is_main():
            raise  # process 0 owns the folder
        # with several processes, a failure here is most often another process's end (killed, out of
        # memory, a machine lost), so the checkpoint is kept for --resume as after Ctrl-C
        kept = saved_progress(out, inner)
        if kept is not None and (resuming or isinstance(exc, KeyboardInterrupt) or distributed.world() > 1):
            if not isinstance(exc, ZhseqError):  # a refused resume says why itself; "--resume" would contradict it
                logger.warning("%s", kept_line(exc, kept, progress))
        else:
            clean(out, created, inner)
            if isinstance(exc, KeyboardInterrupt):
                logger.warning("%s", interrupted_line(exc, out, progress, created))
        raise


def clean(out: Path, created: Path | bool, inner: tuple[str, ...] = ()) -> None:
    """Remove what a failed run wrote: the folders it made (``prepare``'s answer: ``out`` and the parents it
    made for it), else its files in ``out`` (and the folders of its earlier stages, ``inner``)."""
    clear_state(out)
    if created:
        shutil.rmtree(created if isinstance(created, Path) else out, ignore_errors=True)
    else:
        for name in (BEST_DIR, LAST_DIR, AVERAGE_DIR, METRICS_NAME, CURVES_NAME, *inner):
            p = out / name
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def draw_curves(metrics: dict, path: Path, hint: bool = True) -> None:
    """The learning curves of metrics.json as a PNG (``zhseq.plots``, the optional ``plot`` extra). Without
    matplotlib an INFO line says how to get it, unless ``hint`` is False (a run in stages says it once, for
    its last stage); a failed drawing is a WARNING, never the run's failure."""
    from .. import plots

    if not plots.available():
        if hint:
            logger.info("learning curves not drawn: %s", plots.INSTALL_HINT)
        return
    try:
        plots.learning_curves(metrics, path)
    except Exception as exc:  # the trained model is saved; a failed picture must not discard it
        logger.warning("learning curves not drawn: %s", exc)
    else:
        logger.info("learning curves drawn to %s", path)
