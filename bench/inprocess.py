"""The mock's own cost per request, without an HTTP server: the ASGI app called directly.

``bench/run.py`` runs this in a subprocess and prints one JSON line from it. Subtracting
these microseconds from the wall time per request under wrk (1 s / req/s) splits a request
into "ours" (journal, Connexion's middlewares, validation, handler) and "the HTTP server's"
(uvicorn's protocol, the event loop, sockets) -- which says where optimisation can still pay.

The app is built as ``evolink-mock serve --clock manual --log-format off`` builds it; the
requests are the benchmark's (the same bearer token and POST body file).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from pathlib import Path
from typing import Any

from mock_server.app import create_app
from mock_server.server import freeze_after_full_collections
from mock_server.settings import Settings

TOKEN = "bench-key"
Message = dict[str, Any]


def _scope(method: str, path: str, body: bytes) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {TOKEN}".encode())]
    if body:
        headers += [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())]
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000),
            "root_path": "", "path": path, "raw_path": path.encode(), "query_string": b"",
            "headers": headers, "state": {}}


async def _call(app: Any, method: str, path: str, body: bytes = b"") -> list[Message]:
    sent: list[Message] = []
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if delivered:   # the app never asks twice for a complete body; wait like a server would
            await asyncio.Event().wait()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(_scope(method, path, body), receive, send)
    return sent


async def _per_request_us(app: Any, method: str, path: str, body: bytes, count: int) -> float:
    answer = await _call(app, method, path, body)
    if answer[0]["status"] != 200:
        raise SystemExit(f"{method} {path} answered {answer[0]['status']}: {answer[1].get('body')!r}")
    for _ in range(count // 10):    # warm caches (validators, URL builders) before timing
        await _call(app, method, path, body)
    started = time.perf_counter()
    for _ in range(count):
        await _call(app, method, path, body)
    return (time.perf_counter() - started) / count * 1e6


async def measure(body: bytes, count: int) -> dict[str, Any]:
    app = create_app(Settings(clock="manual", api_keys=(TOKEN,), log_format="off"))
    created = await _call(app, "POST", "/v1/videos/generations", body)
    task_id = json.loads(created[1]["body"])["id"]
    return {
        "requests_per_endpoint": count,
        "get_us": round(await _per_request_us(app, "GET", f"/v1/tasks/{task_id}", b"", count), 1),
        "post_us": round(await _per_request_us(app, "POST", "/v1/videos/generations", body, count), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--body-file", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    freeze_after_full_collections()   # as `serve` does
    gc.collect()
    print(json.dumps(asyncio.run(measure(args.body_file.read_bytes(), args.requests))))


if __name__ == "__main__":
    main()
