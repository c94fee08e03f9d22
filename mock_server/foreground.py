"""``evolink-mock serve`` and ``evolink-mock proxy`` in the foreground, until interrupted."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import uvicorn

from .server import build_app, freeze_after_full_collections, uvicorn_config
from .settings import Settings
from .sockets import listen
from .workers import serve_workers

Announce = Callable[[int], None]   # called with the bound port, once the socket is bound


def serve(settings: Settings, announce: Announce | None = None) -> int:
    """Serve in the foreground until interrupted; the process's exit code.

    ``announce(port)`` runs once the socket is bound (the CLI prints its banner then), so
    nothing is announced for a port that turns out to be taken."""
    if settings.workers > 1:
        return serve_workers(settings, announce)
    app = build_app(settings)
    freeze_after_full_collections()
    sock = listen(settings)
    if announce is not None:
        announce(sock.getsockname()[1])
    uvicorn.Server(uvicorn_config(app, settings.host, settings.port)).run(sockets=[sock])
    return 0


def serve_proxy(settings: Settings) -> int:
    """``evolink-mock proxy`` in the foreground; on exit, the violation summary (stdout) and
    the exit code (1 for violations under ``--fail-on-violation``)."""
    from .proxy import ProxyApp

    app = ProxyApp(settings)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again for the
    # previous handler; these handlers turn both into KeyboardInterrupt so that the summary
    # is printed and the exit status is ours.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        uvicorn.Server(uvicorn_config(app, settings.host, settings.port)).run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        print(app.tally.summary(), flush=True)
    return 1 if settings.fail_on_violation and app.tally.violation_count else 0


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt
