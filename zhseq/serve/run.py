"""Running the server: one uvicorn process, or N worker processes that each listen on the port.

    serve(config, host=…, port=…, workers=N)
      → the address checked, the models loaded (one-line ZhseqError for either, before listening)
      → N = 1: uvicorn in this process
      → N > 1: N spawned processes, each with its own socket on the port (SO_REUSEPORT), its own models and
        its own batchers; this process forwards SIGTERM / Ctrl-C to them and waits

Why not uvicorn's ``workers=N``: its workers share one listening socket, and whichever accepts first takes every
connection waiting (asyncio and libuv accept until the queue is empty), so 32 keep-alive clients were seen split
24 / 8 between two workers, one of them overloaded. With SO_REUSEPORT the kernel spreads new connections over
the sockets by their addresses (Linux). Where the option does not exist, uvicorn's workers are used.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading

from ..errors import ZhseqError
from .config import ServeConfig

log = logging.getLogger("zhseq")


def check_address(host: str, port: int) -> int:
    """The port (host, port) can be listened on: ``port``, or for 0 the free one the system picks. ZhseqError
    (one line) when it cannot be: a port in use, an address not on this machine, a name that does not resolve.
    The server binds it again right after."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            probe.bind(address)
            return probe.getsockname()[1]
    except OSError as exc:
        raise ZhseqError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve(config: ServeConfig, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          shutdown_timeout: float = 30.0, access_log: bool = False) -> None:
    """Serve the API until SIGTERM or Ctrl-C, which answer the requests in flight first (up to
    ``shutdown_timeout`` seconds). Port 0: a free port, named in the first log line. Raises ZhseqError for an
    address that cannot be listened on or a missing or broken model; ModuleNotFoundError without the serve
    extra."""
    import uvicorn

    from .app import CONFIG_ENV, Models, create_app

    # port 0: a free port, chosen here, so that the line below and every worker use the same one
    port = check_address(host, port)
    models = Models.load(config)
    log.info(f"zhseq serve: sentiment model {models.sentiment.path}, language model {models.lm.path}; "
             f"API documentation at http://{host}:{port}/docs")
    # uvicorn's logging, its access lines on stderr with the rest (its default puts them on stdout)
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    settings = dict(host=host, port=port, access_log=access_log, timeout_graceful_shutdown=shutdown_timeout,
                    server_header=False, log_level="info", log_config=log_config)
    if workers == 1:
        uvicorn.run(create_app(config, models=models), **settings)
        return
    # each worker loads the models again, from the folders found here
    found = {"sentiment_model": str(models.sentiment.path.resolve()), "lm_model": str(models.lm.path.resolve())}
    del models
    config = ServeConfig.from_dict({**config.to_dict(), **found})
    if not hasattr(socket, "SO_REUSEPORT"):
        os.environ[CONFIG_ENV] = json.dumps(config.to_dict())
        uvicorn.run("zhseq.serve.app:app_from_environment", factory=True, workers=workers, **settings)
        return
    spawn = multiprocessing.get_context("spawn")
    _supervise([spawn.Process(target=_worker, args=(config.to_dict(), settings, os.getpid()), name=f"zhseq-serve-{i}")
                for i in range(workers)])


def _supervise(processes: list[multiprocessing.process.BaseProcess]) -> None:
    """Start ``processes`` and wait until they have all ended. The first SIGTERM or SIGINT here is passed on to
    each as SIGTERM (uvicorn's graceful shutdown), a second as SIGINT (uvicorn's forced one), also to a process
    started after it came. A process that ends with a status other than 0 or -SIGTERM while the others serve
    ends them all, and this raises ZhseqError: a process manager restarts the whole. After a signal, this
    process ends as that signal would have ended it.

    A process leaves the wait only through ``join``, which waits for its exit status, never on a look at
    ``exitcode``: its sentinel is ready as soon as the kernel has closed its files, a moment before its status
    exists (CPU load stretches that moment). Deciding on such looks hung the server: a killed worker's status,
    found by a later look, was never checked (the server stayed up on its other worker), or all the workers
    ended between two looks and the wait was left with no sentinel (after SIGTERM)."""
    running: list = []  # started and not reaped: the only pids a signal may go to (a reaped pid can be reused)
    stopping: list[int] = []
    failed = None

    def forward(p) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGTERM if len(stopping) == 1 else signal.SIGINT)

    def stop(signum, frame):
        stopping.append(signum)
        for p in running:  # the handler runs in the main thread, between two steps of the loop below
            forward(p)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for p in processes:
            p.start()
            running.append(p)
            if stopping:  # the signal came while the processes before this one were being started
                forward(p)
        log.info(f"zhseq serve: {len(processes)} worker processes ({', '.join(str(p.pid) for p in processes)})")
        while running:
            ready = multiprocessing.connection.wait([p.sentinel for p in running])
            for p in [p for p in running if p.sentinel in ready]:
                running.remove(p)  # before it is reaped, so that `stop` no longer signals its pid
                p.join()  # its status, waited for (see above)
                if p.exitcode not in (0, -signal.SIGTERM) and not stopping and failed is None:
                    failed = p
                    stop(signal.SIGTERM, None)
    finally:
        for s, handler in previous.items():
            if handler is not None:  # None: a handler not set from Python, which cannot be put back
                signal.signal(s, handler)
    if failed is not None:
        raise ZhseqError(f"worker process {failed.pid} ended with status {failed.exitcode}; the server stopped")
    if stopping:  # as uvicorn does: end as the signal would have, after the graceful shutdown
        signal.raise_signal(stopping[0])


def _worker(config: dict, settings: dict, parent: int) -> None:
    """One worker process: its own socket on the port (SO_REUSEPORT), the models, uvicorn."""
    import uvicorn

    from .app import create_app

    app = create_app(ServeConfig.from_dict(config))
    family, kind, proto, _, address = socket.getaddrinfo(settings["host"], settings["port"],
                                                         type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    threading.Thread(target=_end_with, args=(parent,), daemon=True).start()
    uvicorn.Server(uvicorn.Config(app, **settings)).run(sockets=[sock])


def _end_with(parent: int) -> None:
    """A worker whose parent is gone (killed with SIGKILL) shuts down instead of serving on as an orphan."""
    import time

    while os.getppid() == parent:
        time.sleep(1.0)
    signal.raise_signal(signal.SIGTERM)
