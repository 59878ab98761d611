"""Dynamic batching, as model servers do it (Triton's dynamic batcher, TorchServe's batch_size/max_batch_delay):
requests arriving within a few milliseconds of each other are scored as one batch.

    request → Batcher.submit(texts, options) → a bounded queue → the batching task
            → one batch (up to max_batch_texts texts, or what arrived within max_wait of its first request)
            → score(jobs) in the batcher's own thread → each request's results

The scoring function runs in one worker thread per batcher, so the event loop keeps accepting requests (and
filling the next batch) while a batch is scored, and a model is only ever used by one thread. Knows nothing
about zhseq's models: ``score`` receives the batch's jobs and returns one list of results per job.
"""

from __future__ import annotations

import asyncio
import collections
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Sequence


class QueueFull(Exception):
    """More texts than ``max_queue_texts`` would be waiting: the caller answers 503 and asks to retry."""


@dataclass
class Job:
    """One request's share of a batch: its texts, its options (requests with equal options can be scored in
    one call) and the future its results go to."""

    texts: Sequence[str]
    options: Hashable
    future: asyncio.Future
    arrived: float  # the event loop's clock, seconds


class Batcher:
    """A queue of jobs and the task that scores them in batches.

    ``score(jobs) -> [results of job 0, results of job 1, …]`` runs in the batcher's thread. A batch takes jobs
    in arrival order until they hold ``max_batch_texts`` texts (a single larger job forms a batch alone); it is
    scored once full, or ``max_wait`` seconds after its first job arrived. ``max_queue_texts`` bounds the texts
    admitted and not yet answered (the batch being scored included). ``batch_sizes`` counts batches by their
    number of texts, ``batch_requests`` by their number of requests."""

    def __init__(self, score: Callable[[list[Job]], list[list[Any]]], *, max_batch_texts: int, max_wait: float,
                 max_queue_texts: int, name: str = "batcher"):
        self.score, self.name = score, name
        self.max_batch_texts, self.max_wait, self.max_queue_texts = max_batch_texts, max_wait, max_queue_texts
        self.batch_sizes: collections.Counter = collections.Counter()
        self.batch_requests: collections.Counter = collections.Counter()
        self._waiting: collections.deque[Job] = collections.deque()
        self._waiting_texts = 0
        self._admitted = 0  # texts admitted and not yet answered
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def admitted_texts(self) -> int:
        return self._admitted

    async def start(self) -> None:
        """Start the batching task and the scoring thread (inside the running event loop)."""
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"zhseq-{self.name}")
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"zhseq-{self.name}")

    async def stop(self) -> None:
        """Stop the batching task (requests in flight have been answered by then: uvicorn's graceful shutdown
        waits for them before the application's shutdown) and the thread."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for job in self._waiting:
            if not job.future.done():
                job.future.set_exception(RuntimeError("the server is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def submit(self, texts: Sequence[str], options: Hashable = None) -> list[Any]:
        """Queue one request's texts; returns their results once their batch is scored. Raises QueueFull
        without queueing when the texts would pass ``max_queue_texts``; re-raises what ``score`` raised."""
        n = len(texts)
        if self._admitted + n > self.max_queue_texts:
            raise QueueFull(f"{self._admitted} texts are waiting; the queue holds {self.max_queue_texts}")
        loop = asyncio.get_running_loop()
        job = Job(texts, options, loop.create_future(), loop.time())
        self._admitted += n
        self._waiting.append(job)
        self._waiting_texts += n
        self._wake.set()
        try:
            return await job.future
        finally:
            self._admitted -= n

    def _take(self) -> list[Job]:
        """The next batch: jobs in arrival order up to ``max_batch_texts`` texts, at least one job."""
        jobs, n = [], 0
        while self._waiting and (not jobs or n + len(self._waiting[0].texts) <= self.max_batch_texts):
            job = self._waiting.popleft()
            jobs.append(job)
            n += len(job.texts)
        self._waiting_texts -= n
        return jobs

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._waiting:
                self._wake.clear()
                await self._wake.wait()
            # a batch that is not full waits for more jobs until max_wait after its first one arrived
            deadline = self._waiting[0].arrived + self.max_wait
            while self._waiting_texts < self.max_batch_texts and (left := deadline - loop.time()) > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), left)
                except asyncio.TimeoutError:
                    break
            jobs = [job for job in self._take() if not job.future.cancelled()]
            if not jobs:
                continue
            self.batch_sizes[sum(len(job.texts) for job in jobs)] += 1
            self.batch_requests[len(jobs)] += 1
            try:
                results = await loop.run_in_executor(self._executor, self.score, jobs)
            except Exception as exc:  # noqa: BLE001 — the requests of this batch get the error; the task lives on
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            for job, result in zip(jobs, results):
                if not job.future.done():
                    job.future.set_result(result)


def group_by_options(jobs: list[Job], score_texts: Callable[[list[str], Hashable], list[Any]]) -> list[list[Any]]:
    """Score a batch's jobs with one ``score_texts(texts, options)`` call per distinct options (in the order
    they first appear), and split the results back per job."""
    groups: dict[Hashable, list[int]] = {}
    for i, job in enumerate(jobs):
        groups.setdefault(job.options, []).append(i)
    out: list[list[Any]] = [[] for _ in jobs]
    for options, members in groups.items():
        texts = [t for i in members for t in jobs[i].texts]
        results = score_texts(texts, options)
        at = 0
        for i in members:
            n = len(jobs[i].texts)
            out[i] = results[at:at + n]
            at += n
    return out
