"""``serve --workers N``: N server processes on one listening socket, sharing one SQLite state.

The parent binds the socket and supervises; each worker is a full mock (Connexion stack,
validation, handlers) that reads and writes tasks, the clock, rules, deliveries and the
journal through the ``--state`` file, so any worker can answer any request. Worker 0 alone
sends callbacks. A worker that dies is started again with the same index.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.synchronize import Event
from types import FrameType

import uvicorn

from .logs import configure_logging
from .server import build_app, freeze_after_full_collections, uvicorn_config
from .settings import SettingError, Settings
from .sockets import listen

logger = logging.getLogger("evolink_mock.workers")
RESTART_PAUSE = 0.5   # seconds between restarts of a crashing worker, so a crash loop cannot spin


def start_method() -> str:
    """``fork`` where it is safe, else ``spawn``.

    A forked worker starts with the imports this process has made already (Connexion, uvicorn,
    the app's modules): on the 2-core test machine a worker cost ~0.9 s of CPU before it
    listened when spawned, most of it imports. Forking copies only the calling thread, so it
    is used only while this process runs no other (a lock held by another thread would stay
    held in the child), and only on Linux (on macOS, system frameworks are unsafe after a
    fork, and Python spawns there by default)."""
    return "fork" if sys.platform == "linux" and threading.active_count() == 1 else "spawn"


def bind(settings: Settings) -> socket.socket:
    sock = listen(settings)
    sock.set_inheritable(True)
    return sock


def run_worker(settings: Settings, index: int, sock: socket.socket, ready: Event) -> None:
    """One worker process: the same app and server configuration as a single-process serve.

    ``ready`` is set once the app is built: a worker that dies before has a problem that a
    restart would not fix (a bad scenario file, an unreadable state file)."""
    # A forked worker inherits the supervisor's SIGINT/SIGTERM handler; until uvicorn installs
    # its own, a signal must act as on a spawned worker (stop this process, nothing else).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    configure_logging(settings)
    try:
        app = build_app(settings, worker=index)
    except SettingError as exc:
        logger.error("evolink-mock: %s", exc)
        sys.exit(2)
    freeze_after_full_collections()
    ready.set()
    uvicorn.Server(uvicorn_config(app, settings.host, settings.port)).run(sockets=[sock])


def serve_workers(settings: Settings, announce: Callable[[int], None] | None = None) -> int:
    """Start ``settings.workers`` workers and keep them running until SIGINT or SIGTERM.

    ``announce(port)`` runs once the socket is bound. Returns the exit code: 0 after a
    signal, 1 when a worker died before it was ready."""
    sock = bind(settings)
    if announce is not None:
        announce(sock.getsockname()[1])
    context = (multiprocessing.get_context("fork") if start_method() == "fork"
               else multiprocessing.get_context("spawn"))
    stopping = False
    exit_code = 0
    ready: dict[int, Event] = {}

    def start(index: int) -> multiprocessing.process.BaseProcess:
        ready[index] = context.Event()
        sys.stdout.flush()   # a forked worker would write out what is still buffered again
        sys.stderr.flush()
        process = context.Process(target=run_worker, args=(settings, index, sock, ready[index]),
                                  name=f"evolink-mock-worker-{index}")
        process.start()
        return process

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process in workers.values():
            if process.is_alive():
                process.terminate()   # SIGTERM: uvicorn's graceful shutdown

    workers = {index: start(index) for index in range(settings.workers)}
    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        while workers:
            wait([process.sentinel for process in workers.values()])
            for index, process in list(workers.items()):
                if process.is_alive():
                    continue
                del workers[index]
                if stopping:
                    continue
                if not ready[index].is_set():
                    logger.error("worker %d exited with code %s before it was ready; stopping",
                                 index, process.exitcode)
                    exit_code = 1
                    stop(signal.SIGTERM, None)
                    continue
                logger.warning("worker %d exited with code %s; starting it again",
                               index, process.exitcode)
                time.sleep(RESTART_PAUSE)
                workers[index] = start(index)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sock.close()
    return exit_code
