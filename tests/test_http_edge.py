"""The HTTP edge: oversized request headers get 431 in the envelope; a connection that does
not finish its headers in time is closed while everyone else is served. Real sockets against
a real server on loopback; the timeout test uses a short real timeout (it is about sockets,
not the mock clock)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from mock_server.server import RunningServer
from mock_server.settings import Settings, from_env
from tests import clients

TIMEOUT = 0.5          # --http-header-timeout in the timeout tests
GROK = {"model": "grok-imagine-text-to-video", "prompt": "A lighthouse in a storm"}


def connect(server: RunningServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def read_response(sock: socket.socket) -> bytes:
    """One whole answer (head and Content-Length body): uvicorn writes the head and the body
    separately, so one recv may return the head alone on a busy machine."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return data


def request(path: str = "/_mock/health", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: mock", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def test_the_defaults_are_16_kib_and_30_seconds() -> None:
    assert (Settings().max_header_bytes, Settings().http_header_timeout) == (16_384, 30.0)
    env = {"EVOLINK_MOCK_HTTP_HEADER_TIMEOUT": "2.5", "EVOLINK_MOCK_MAX_HEADER_BYTES": "8192"}
    assert (from_env(env).http_header_timeout, from_env(env).max_header_bytes) == (2.5, 8192)


def test_a_100_kb_authorization_header_gets_431_in_the_envelope(server: RunningServer) -> None:
    with connect(server) as sock:
        sock.sendall(request("/v1/tasks/task-unified-1-x", {"Authorization": "Bearer " + "k" * 100_000}))
        answer = read_all(sock)   # the server closes the connection after its answer
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 ")
    assert b"content-type: application/json" in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] == "request_header_fields_too_large"
    assert error["type"] == "invalid_request_error"
    assert "16384 bytes" in error["message"]
    assert server.service.journal.query() == [], "the app never saw it"


def test_many_headers_over_the_limit_in_total_get_431(client: httpx.Client) -> None:
    headers = {f"X-Filler-{n}": "v" * 1000 for n in range(20)}   # ~20 KB in all
    answer = client.get("/_mock/health", headers=headers)
    assert answer.status_code == 431
    assert answer.json()["error"]["code"] == "request_header_fields_too_large"


def test_headers_just_under_the_limit_are_served(client: httpx.Client) -> None:
    answer = client.post("/v1/videos/generations", json=GROK, headers={"X-Filler": "v" * 15_000})
    assert answer.status_code == 200


def test_a_header_that_never_ends_is_cut_off_at_the_limit(server: RunningServer) -> None:
    with connect(server) as sock:
        # One header line that never ends: httptools would hold it until its CRLF.
        sock.sendall(b"GET /_mock/health HTTP/1.1\r\nHost: mock\r\nX-Endless: " + b"a" * 100_000)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b'"request_header_fields_too_large"' in answer


@pytest.fixture
def quick_timeout_server() -> Iterator[RunningServer]:
    with RunningServer(Settings(clock="manual", http_header_timeout=TIMEOUT)) as running:
        yield running


def test_half_sent_requests_are_closed_while_others_are_served(
        quick_timeout_server: RunningServer) -> None:
    server = quick_timeout_server
    stalled = [connect(server) for _ in range(50)]
    try:
        opened = time.monotonic()
        for sock in stalled:
            sock.sendall(b"GET /v1/tasks/task-unified-1-x HT")   # half a request line
        with clients.Client(base_url=server.url, timeout=10) as http:   # served meanwhile
            assert http.get("/_mock/health").status_code == 200
        for sock in stalled:
            assert read_all(sock) == b"", "closed without an answer"
        held = time.monotonic() - opened
        assert TIMEOUT * 0.9 <= held < TIMEOUT + 5, held
    finally:
        for sock in stalled:
            sock.close()


def test_a_kept_alive_connection_that_stalls_in_its_next_request_is_closed(
        quick_timeout_server: RunningServer) -> None:
    with connect(quick_timeout_server) as sock:
        sock.sendall(request())
        first = read_response(sock)
        assert first.startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /_mock/health HTTP/1.1\r\nHost: mo")   # and nothing more
        started = time.monotonic()
        assert read_all(sock) == b""
        assert time.monotonic() - started < TIMEOUT + 5


def test_a_slow_but_complete_request_within_the_timeout_is_served(
        quick_timeout_server: RunningServer) -> None:
    with connect(quick_timeout_server) as sock:
        for part in (b"GET /_mock/health", b" HTTP/1.1\r\n", b"Host: mock\r\n", b"\r\n"):
            sock.sendall(part)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
