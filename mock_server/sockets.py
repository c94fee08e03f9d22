"""Binding the listening socket: one way for ``serve``, its workers and ``RunningServer``."""

from __future__ import annotations

import socket

from .settings import SettingError, Settings

BACKLOG = 2048   # uvicorn's default


def bound_socket(host: str, port: int, *, reuse_address: bool = False) -> socket.socket:
    """A TCP socket bound to (host, port); port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets created with it,
    # and without it every answer on a kept-alive connection waits ~40 ms (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if reuse_address:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def listen(settings: Settings) -> socket.socket:
    """The listening socket for ``serve``, bound before anything is announced.

    Raises :class:`SettingError` naming ``--host``/``--port`` when the address cannot be
    bound (in use, not a local address, an unknown name)."""
    try:
        sock = bound_socket(settings.host, settings.port, reuse_address=True)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SettingError(f"--host {settings.host!r} --port {settings.port}: cannot listen "
                           f"there ({reason}); expected a free port on a local address "
                           "(--port 0 picks a free one)") from None
    # Listening already (uvicorn listens again with the same backlog): a client that reads
    # the banner can connect at once; its connection waits in the backlog until served.
    sock.listen(BACKLOG)
    return sock
