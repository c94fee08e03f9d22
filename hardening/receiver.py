"""A callback receiver on loopback for the soak and crash runs.

Answers by path: ``/fail/...`` always 500 (a handler scripted to fail, so the mock retries
and gives up after four attempts), anything else 200. Records every POST.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass(frozen=True)
class Hit:
    path: str
    task_id: str | None
    status: str | None
    real_at: float


class CallbackReceiver:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.hits: list[Hit] = []
        self.bad_bodies = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                try:
                    document = json.loads(body)
                    task_id, status = document.get("id"), document.get("status")
                except (ValueError, AttributeError):
                    task_id = status = None
                receiver._record(Hit(self.path, task_id, status, time.time()), task_id is None)
                code = 500 if self.path.startswith("/fail/") else 200
                answer = b'{"ok": true}' if code == 200 else b'{"ok": false}'
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024

        self._server = Server((host, 0), Handler)
        self.host = host
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name=f"callback-receiver:{self.port}")

    @property
    def host_port(self) -> str:
        return f"{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def _record(self, hit: Hit, bad: bool) -> None:
        with self._lock:
            self.hits.append(hit)
            self.bad_bodies += bad

    def by_task(self) -> Counter[str]:
        with self._lock:
            return Counter(hit.task_id for hit in self.hits if hit.task_id)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
