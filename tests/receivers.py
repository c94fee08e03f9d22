"""Callback receivers for tests: real HTTP(S) servers on loopback that record every request.

Each request is answered by the receiver's plan for its number (1-based): an HTTP status,
``HANG`` (never answer), ``CLOSE`` (drop the connection without an answer) or
``redirect(url)``; requests beyond the plan get 200, or what ``by_path`` says for their path
(the hardening runs' receiver fails every ``/fail/...`` path). One home for the tests, the
hardening runs and the screenshot script: none of them ships, so neither does this.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

HANG, CLOSE = "hang", "close"
CLOSE_AFTER = "close-after"   # answer 200 with `Connection: close`, then close
HANG_LIMIT = 30.0   # a hanging answer gives up at the latest when the receiver closes


def redirect(url: str) -> str:
    return f"redirect:{url}"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]   # names lower-cased
    body: bytes
    real_at: float

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self, *plan: int | str, tls: ssl.SSLContext | None = None,
                 keep_alive: bool = False, by_path: Callable[[str], int] | None = None) -> None:
        self.plan = list(plan)
        self.by_path = by_path
        self.requests: list[Received] = []
        self.connections = 0
        self._changed = threading.Condition()
        self._closing = threading.Event()
        self._server = _Server(self, _KeepAliveHandler if keep_alive else _Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name=f"receiver:{self.port}")
        self.scheme = "https" if tls else "http"

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Wait (for I/O, not for a schedule) until ``count`` requests have arrived."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"expected {count} requests, got {len(self.requests)}")
            return list(self.requests)

    def _record(self, request: Received) -> int | str:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()
            number = len(self.requests)
        if number <= len(self.plan):
            return self.plan[number - 1]
        return self.by_path(request.path) if self.by_path else 200

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, receiver: Receiver, handler: type[BaseHTTPRequestHandler]) -> None:
        self.receiver = receiver
        super().__init__(("127.0.0.1", 0), handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.receiver.connections += 1
        return True


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {name.lower(): value for name, value in self.headers.items()}
        action = receiver._record(Received(self.path, headers, body, time.time()))
        if action == HANG:
            receiver._closing.wait(HANG_LIMIT)
        elif action == CLOSE:
            self.connection.shutdown(socket.SHUT_RDWR)
        elif isinstance(action, str) and action.startswith("redirect:"):
            self.send_response(302)
            self.send_header("Location", action.removeprefix("redirect:"))
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            answer = json.dumps({"received": True}).encode()
            self.send_response(200 if action == CLOSE_AFTER else int(action))
            if action == CLOSE_AFTER:
                self.send_header("Connection", "close")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _KeepAliveHandler(_Handler):
    """HTTP/1.1: connections stay open between requests, as most real handlers keep them."""

    protocol_version = "HTTP/1.1"
