"""``--workers N``: scoring batches in N worker processes, each loading the model once, results in input order.

The main process reads the input and prints; each worker runs the same pipeline (``zhseq.pipeline``) on
whole batches, so the lines are those of one process (the numpy engine's answers do not depend on the batch).
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator

from .checkpoint import default_model_dir, resolve_model_dir
from .data import batched
from .errors import ZhseqError
from .pipeline import load

_WORKER_MODELS: dict = {}  # in a worker process: (folder, task) → the model it loaded


def _score_in_worker(folder: str, task: str, texts: list[str], options: dict) -> list:
    """One batch in a worker process; the model is loaded on the first batch and kept."""
    model = _WORKER_MODELS.get((folder, task))
    if model is None:
        model = _WORKER_MODELS[(folder, task)] = load(folder, task=task)
    if task == "sentiment":
        return list(model.predict_stream(texts, batch_size=max(1, len(texts)), **options))
    return model.predict_next(texts, batch_size=max(1, len(texts)), **options)


def _start_worker() -> None:
    import signal

    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent stops
    # the workers share the cores: a BLAS thread pool in each would only wait on the others (on 2 busy cores,
    # 2 workers of 2 threads each scored 20 times slower than 2 workers of 1)
    threadpool_limits(1)


def predict_in_processes(
    path: str | os.PathLike | None, texts: Iterable[str], *, task: str, workers: int, batch_size: int = 256, **options
) -> Iterator:
    """Score ``texts`` in ``workers`` processes, each loading the model in ``path`` once with
    ``zhseq.pipeline.load``: one result per text, in input order, as ``predict_stream`` (sentiment, options
    ``neutral_band``) or ``predict_next`` (lm, options ``k``, ``words_only``) give them for batches of ``batch_size``.

    ``texts`` is read lazily and at most 2 × ``workers`` batches are in flight, so memory stays flat;
    results come back in order even when a later batch finishes first. An error in a worker is raised
    here (a ``ZhseqError`` stays one); a worker that dies (killed, out of memory) is a ``ZhseqError``."""
    import collections
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    folder = str(resolve_model_dir(default_model_dir(task) if path is None else path))
    # spawn: a fresh interpreter per worker, safe whatever threads (BLAS, torch) this process runs
    pool = ProcessPoolExecutor(max(1, workers), mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker)
    pending: collections.deque = collections.deque()
    try:
        for batch in batched(texts, max(1, batch_size)):
            pending.append(pool.submit(_score_in_worker, folder, task, batch, options))
            if len(pending) >= 2 * workers:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    except BrokenProcessPool:
        raise ZhseqError("a worker process stopped unexpectedly (killed, or out of memory?)") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
