"""Malformed requests sent over raw sockets: what a fuzzer that speaks valid HTTP cannot send.

Each case is bytes on a fresh loopback connection and a set of acceptable outcomes. Every
answer must be a status from that set, never 5xx; an error the app produced must be the
vendor's JSON envelope. Requests the HTTP layer (uvicorn/h11) refuses before the app sees
them get uvicorn's plain-text 400 and a closed connection: accepted where listed as
``PROTOCOL``, and reported as such. uvicorn parses with httptools when it is installed and
with h11 otherwise; they differ on header size limits, ``Transfer-Encoding`` lists and
unknown methods, so those cases accept either parser's answer. After all cases the server must still answer.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CREATE = "/v1/videos/generations"
GROK = '{"model": "grok-imagine-text-to-video", "prompt": "a kite over the dunes"}'
PROTOCOL = "protocol"      # uvicorn's own text/plain 400 before the app, or a closed connection
CLOSED = None              # the server closed the connection without an answer
READ_TIMEOUT = 15.0
SLOW_CONNECTIONS = 50
SLOW_HOLD_SECONDS = 1.0


@dataclass
class RawResponse:
    status: int | None
    headers: dict[str, str]
    body: bytes
    error: str | None = None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass
class Result:
    name: str
    status: int | None
    ok: bool
    note: str
    seconds: float

    def to_dict(self, server: str) -> dict[str, Any]:
        return {"server": server, "name": self.name, "status": self.status, "ok": self.ok,
                "note": self.note, "seconds": round(self.seconds, 3)}


@dataclass
class Case:
    name: str
    data: bytes | Callable[[str, int], RawResponse]
    expect: tuple[Any, ...]         # acceptable statuses; CLOSED for no answer; PROTOCOL
    code: str | None = None         # expected error.code when the app answered an error
    param: str | None = None        # expected error.param
    half_close: bool = False        # shut down our sending side after the bytes
    head: bool = False              # a HEAD request: the answer has no body
    extra: dict[str, Any] = field(default_factory=dict)


def exchange(host: str, port: int, data: bytes, *, half_close: bool = False,
             timeout: float = READ_TIMEOUT, chunk: int = 65536) -> RawResponse:
    """Send ``data`` on a fresh connection and read one answer (until close or complete)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        send_error = None
        try:
            for start in range(0, len(data), chunk):
                sock.sendall(data[start:start + chunk])
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError) as exc:
            send_error = type(exc).__name__   # the server answered early and closed: fine
        return _read_response(sock, send_error)


def _read_response(sock: socket.socket, send_error: str | None) -> RawResponse:
    buffer = bytearray()
    deadline = time.monotonic() + READ_TIMEOUT
    head_end = -1
    while time.monotonic() < deadline:
        if head_end < 0:
            head_end = buffer.find(b"\r\n\r\n")
        if head_end >= 0 and buffer.startswith(b"HTTP/1.1 1"):   # interim: read on
            if _final_head(buffer) and _complete_final(buffer):
                break
        elif head_end >= 0 and _complete(buffer, head_end):
            break
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return RawResponse(None, {}, bytes(buffer), "read timeout")
        except ConnectionResetError:
            break
        if not data:
            break
        buffer.extend(data)
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return RawResponse(None, {}, bytes(buffer), send_error or "closed without an answer")
    while buffer.startswith(b"HTTP/1.1 1") and head_end >= 0:   # interim 100 Continue
        del buffer[:head_end + 4]
        head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return RawResponse(None, {}, bytes(buffer), send_error or "closed after an interim answer")
    head = buffer[:head_end].decode("latin-1").split("\r\n")
    try:
        status = int(head[0].split()[1])
    except (IndexError, ValueError):
        return RawResponse(None, {}, bytes(buffer), f"unparseable status line {head[0]!r}")
    headers: dict[str, str] = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = bytes(buffer[head_end + 4:])
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    elif headers.get("content-length", "").isdigit():
        body = body[:int(headers["content-length"])]   # a second (pipelined) answer may follow
    return RawResponse(status, headers, body, send_error)


def _final_head(buffer: bytearray) -> bool:
    return buffer.count(b"\r\n\r\n") >= 2


def _complete_final(buffer: bytearray) -> bool:
    first = buffer.find(b"\r\n\r\n") + 4
    rest = buffer[first:]
    return _complete(rest, rest.find(b"\r\n\r\n"))


def _complete(buffer: bytearray, head_end: int) -> bool:
    head = buffer[:head_end].decode("latin-1").lower()
    for line in head.split("\r\n")[1:]:
        if line.startswith("content-length:"):
            try:
                return len(buffer) - head_end - 4 >= int(line.split(":", 1)[1])
            except ValueError:
                return False
    if "transfer-encoding: chunked" in head:
        return buffer.endswith(b"0\r\n\r\n")
    return False


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2:]
    return bytes(out)


# --- building requests -------------------------------------------------------------------

def request(method: str, path: str, body: bytes | str | None = None, *,
            headers: list[tuple[str, str]] | None = None, auth: str | None = None,
            content_type: str | None = "application/json", version: str = "HTTP/1.1",
            host: bool = True, length: bool = True) -> bytes:
    payload = body.encode("utf-8") if isinstance(body, str) else body
    lines = [f"{method} {path} {version}"]
    if host:
        lines.append("Host: 127.0.0.1")
    if auth:
        lines.append(f"Authorization: Bearer {auth}")
    if payload is not None and content_type:
        lines.append(f"Content-Type: {content_type}")
    if payload is not None and length:
        lines.append(f"Content-Length: {len(payload)}")
    for name, value in headers or []:
        lines.append(f"{name}: {value}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (payload or b"")


def nested(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


def nested_objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def cases(key: str, admin: dict[str, str]) -> list[Case]:
    """Every raw case; ``key`` is a valid API key, ``admin`` the admin headers."""
    admin_headers = list(admin.items())

    def create(body: bytes | str, **kw: Any) -> bytes:
        return request("POST", CREATE, body, auth=key, **kw)

    def admin_post(path: str, body: str) -> bytes:
        return request("POST", path, body, headers=admin_headers)

    bad, invalid = (400,), "invalid_request"
    ten_mb = b'{"model": "grok-imagine-text-to-video", "prompt": "' + b"a" * (10 * 1024 * 1024) + b'"}'
    chunked_10mb = _chunked_request(key, ten_mb)
    return [
        # --- JSON that is not JSON -------------------------------------------------------
        Case("truncated JSON", create(GROK[:40]), bad, invalid),
        Case("truncated JSON, cut inside a string", create('{"model": "grok-imagine-te'), bad, invalid),
        Case("empty body with JSON content type", create(b""), bad, invalid),
        Case("body shorter than Content-Length, then closed",
             f"POST {CREATE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
             f"Content-Type: application/json\r\nContent-Length: {len(GROK)}\r\n"
             f"Connection: close\r\n\r\n{GROK[:20]}".encode(), (CLOSED, 400, PROTOCOL), half_close=True),
        Case("deep nesting: 100000 arrays", create(nested(100_000)), bad, invalid),
        Case("deep nesting: 5000 objects in model_params",
             create('{"model": "kling-o3-text-to-video", "prompt": "x", "model_params": '
                    + nested_objects(5000) + "}"), bad, invalid),
        Case("deep nesting: 40 levels (just over the limit)", create(nested(40)), bad, invalid),
        Case("10 MB body with Content-Length", create(ten_mb), (413,), "request_too_large"),
        Case("10 MB body, chunked", chunked_10mb, (413,), "request_too_large"),
        Case("invalid UTF-8 in a string", create(b'{"model": "grok-imagine-text-to-video", '
                                                  b'"prompt": "\xff\xfe\xc3\x28"}'), bad, invalid),
        Case("overlong UTF-8 encoding of '/'", create(b'{"model": "grok-imagine-text-to-video", '
                                                       b'"prompt": "\xc0\xaf"}'), bad, invalid),
        Case("UTF-8 BOM before the JSON", create(b"\xef\xbb\xbf" + GROK.encode()), (200, 400)),
        Case("UTF-16 JSON", create(GROK.encode("utf-16")), bad, invalid),
        Case("lone surrogate escape in the prompt",
             create('{"model": "grok-imagine-text-to-video", "prompt": "a \\ud800 b"}'), (200, 400)),
        Case("lone surrogate escape in callback_url",
             create('{"model": "grok-imagine-text-to-video", "prompt": "x", '
                    '"callback_url": "https://example.com/\\udfff"}'), bad, invalid, "callback_url"),
        Case("lone surrogate escape in an enum field (aspect_ratio)",
             create('{"model": "grok-imagine-text-to-video", "prompt": "x", "aspect_ratio": "\\ud800"}'),
             bad, invalid, "aspect_ratio"),
        Case("lone surrogate escape as an unknown key",
             create('{"model": "grok-imagine-text-to-video", "prompt": "x", "\\ud800": 1}'), bad, invalid),
        Case("lone surrogate escape in a nested field",
             create('{"model": "kling-o3-text-to-video", "prompt": "x", "model_params": '
                    '{"shot_type": "\\udc00"}}'), bad, invalid),
        Case("lone surrogate escape in the model", create('{"model": "\\ud800", "prompt": "x"}'),
             bad, invalid, "model"),
        Case("admin: lone surrogate escape in a rule action",
             admin_post("/_mock/rules", '{"action": {"fail": "\\ud800"}}'), bad),
        Case("NUL escape in the prompt",
             create('{"model": "grok-imagine-text-to-video", "prompt": "a\\u0000b"}'), (200, 400)),
        Case("duplicate keys", create('{"model": "kling-o3-text-to-video", '
                                      '"model": "grok-imagine-text-to-video", "prompt": "x"}'),
             bad, invalid),
        Case("huge integer (5000 digits)", create('{"model": "grok-imagine-text-to-video", '
                                                  '"prompt": "x", "duration": ' + "9" * 5000 + "}"),
             bad, invalid),
        Case("huge integer (100000 digits)", create('{"model": "grok-imagine-text-to-video", '
                                                    '"prompt": "x", "duration": ' + "9" * 100_000 + "}"),
             bad, invalid),
        Case("integer above 2**64", create('{"model": "grok-imagine-text-to-video", "prompt": "x", '
                                           '"duration": 18446744073709551617}'), bad, invalid),
        Case("float overflowing to inf (1e400)", create('{"model": "grok-imagine-text-to-video", '
                                                        '"prompt": "x", "duration": 1e400}'), bad, invalid),
        Case("NaN", create('{"model": "grok-imagine-text-to-video", "prompt": "x", "duration": NaN}'),
             bad, invalid),
        Case("Infinity", create('{"model": "grok-imagine-text-to-video", "prompt": "x", '
                                '"duration": Infinity}'), bad, invalid),
        Case("-Infinity", create('{"model": "grok-imagine-text-to-video", "prompt": "x", '
                                 '"duration": -Infinity}'), bad, invalid),
        Case("JSON null body", create("null"), bad, invalid),
        Case("JSON array body", create("[]"), bad, invalid),
        Case("JSON string body", create('"x"'), bad, invalid),
        Case("JSON number body", create("12"), bad, invalid),
        Case("trailing garbage after the object", create(GROK + " xyz"), bad, invalid),
        Case("two JSON objects", create(GROK + GROK), bad, invalid),
        Case("single-quoted pseudo-JSON", create("{'model': 'grok-imagine-text-to-video'}"), bad, invalid),
        Case("JSON with a comment", create('{"model": "grok-imagine-text-to-video", /* c */ "prompt": "x"}'),
             bad, invalid),
        Case("admin clock advance with NaN", admin_post("/_mock/clock/advance", '{"seconds": NaN}'), bad),
        Case("admin clock advance with 1e400", admin_post("/_mock/clock/advance", '{"seconds": 1e400}'), bad),
        Case("admin clock advance with 5000 digits",
             admin_post("/_mock/clock/advance", '{"seconds": ' + "9" * 5000 + "}"), bad),
        Case("admin rule with deep nesting", admin_post("/_mock/rules", nested_objects(10_000)), bad),
        Case("admin journal with a 30-digit since",
             request("GET", "/_mock/journal?since=" + "9" * 30, headers=admin_headers), (200, 400)),
        Case("admin tasks with limit=1e3", request("GET", "/_mock/tasks?limit=1e3", headers=admin_headers),
             bad),
        # --- content types -----------------------------------------------------------------
        Case("text/plain body", create(GROK, content_type="text/plain"), (415,), "unsupported_media_type"),
        Case("form-encoded body", create("model=grok&prompt=x",
                                         content_type="application/x-www-form-urlencoded"), (415,)),
        Case("multipart body", create("--b\r\nContent-Disposition: form-data; "
                                      "name=\"model\"\r\n\r\nx\r\n--b--\r\n",
                                      content_type="multipart/form-data; boundary=b"), (415,)),
        Case("application/xml body", create("<model>x</model>", content_type="application/xml"), (415,)),
        # Connexion reads a body without a content type as JSON (lenient, noted in the report).
        Case("no content type", create(GROK, content_type=None), (200, 415, 400)),
        Case("empty content type", create(GROK, content_type=""), (200, 415, 400)),
        Case("JSON with charset=latin-1", create(GROK, content_type="application/json; charset=latin-1"),
             (200, 400, 415)),
        # Media types are case-insensitive (RFC 9110 8.3.1): JSON in any case is JSON.
        Case("JSON content type in upper case", create(GROK, content_type="APPLICATION/JSON"), (200,)),
        Case("JSON content type in mixed case with charset",
             create(GROK, content_type="Application/Json; charset=utf-8"), (200,)),
        Case("admin: JSON content type in upper case",
             request("POST", "/_mock/clock/advance", '{"seconds": 1}', headers=admin_headers,
                     content_type="APPLICATION/JSON"), (200,)),
        Case("application/merge-patch+json", create(GROK, content_type="application/merge-patch+json"),
             (415,)),
        Case("text/json", create(GROK, content_type="text/json"), (415,)),
        Case("*/* as the content type", create(GROK, content_type="*/*"), (415,)),
        Case("content type with junk parameters", create(GROK, content_type="application/json;;;==;x"),
             (200, 400, 415)),
        Case("content type 10 KB long", create(GROK, content_type="application/json; x=" + "a" * 10_000),
             (200, 400, 415)),
        # --- headers ----------------------------------------------------------------------
        Case("one 100 KB header", request("GET", "/v1/tasks/task-unified-1", auth=key,
                                          headers=[("X-Long", "a" * 100_000)]), (PROTOCOL, 431, 400, 404)),
        Case("2000 headers", request("GET", "/v1/tasks/task-unified-1", auth=key,
                                     headers=[(f"X-H{i}", "v") for i in range(2000)]),
             (PROTOCOL, 431, 400, 404)),
        Case("100 KB bearer token", request("GET", "/v1/tasks/task-unified-1", auth="k" * 100_000),
             (PROTOCOL, 431, 400, 401)),
        Case("8 KB bearer token", request("GET", "/v1/tasks/task-unified-1", auth="k" * 8_000), (401,),
             "unauthorized"),
        Case("non-latin-1 bytes in the bearer token",
             b"GET /v1/tasks/task-unified-1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\xc3\r\n"
             b"Connection: close\r\n\r\n", (401, PROTOCOL)),
        Case("NUL byte in a header value",
             b"GET /v1/tasks/task-unified-1 HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\nConnection: close\r\n\r\n",
             (PROTOCOL, 401)),
        Case("obsolete line folding",
             b"GET /v1/tasks/task-unified-1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\n " + key.encode()
             + b"\r\nConnection: close\r\n\r\n", (PROTOCOL, 401, 404)),
        Case("header without a colon",
             b"GET /v1/tasks/task-unified-1 HTTP/1.1\r\nHost: x\r\nNoColonHere\r\nConnection: close\r\n\r\n",
             (PROTOCOL,)),
        Case("space before the colon",
             b"GET /v1/tasks/task-unified-1 HTTP/1.1\r\nHost: x\r\nAuthorization : Bearer k\r\n"
             b"Connection: close\r\n\r\n", (PROTOCOL,)),
        Case("bare LF line endings",
             f"GET /v1/tasks/task-unified-1 HTTP/1.1\nHost: x\nAuthorization: Bearer {key}\n"
             f"Connection: close\n\n".encode(), (PROTOCOL, 404, 400)),
        Case("Content-Length and Transfer-Encoding together (smuggling)",
             f"POST {CREATE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
             "Content-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n"
             f"Connection: close\r\n\r\n{len(GROK):x}\r\n{GROK}\r\n0\r\n\r\n".encode(),
             (PROTOCOL, 400, 200)),
        Case("two different Content-Length headers",
             f"POST {CREATE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
             f"Content-Type: application/json\r\nContent-Length: {len(GROK)}\r\nContent-Length: 3\r\n"
             f"Connection: close\r\n\r\n{GROK}".encode(), (PROTOCOL, 400)),
        Case("negative Content-Length",
             f"POST {CREATE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
             f"Content-Type: application/json\r\nContent-Length: -1\r\nConnection: close\r\n\r\n"
             f"{GROK}".encode(),
             (PROTOCOL, 400)),
        Case("Content-Length with 30 digits",
             f"POST {CREATE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
             f"Content-Type: application/json\r\nContent-Length: {'9' * 30}\r\nConnection: "
             f"close\r\n\r\n{GROK}".encode(),
             (PROTOCOL, 413, 400, CLOSED), half_close=True),
        Case("Transfer-Encoding: gzip, chunked",
             f"POST {CREATE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
             "Content-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n"
             f"Connection: close\r\n\r\n{len(GROK):x}\r\n{GROK}\r\n0\r\n\r\n".encode(),
             (PROTOCOL, 400, 415, 200)),
        Case("invalid chunk size",
             f"POST {CREATE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
             "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
             f"Connection: close\r\n\r\nzz\r\n{GROK}\r\n0\r\n\r\n".encode(), (PROTOCOL, 400, CLOSED)),
        Case("chunked body cut short, then closed",
             f"POST {CREATE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
             "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
             f"Connection: close\r\n\r\n{len(GROK):x}\r\n{GROK[:10]}".encode(), (PROTOCOL, 400, CLOSED),
             half_close=True),
        Case("HTTP/1.1 without Host", request("GET", "/v1/tasks/task-unified-1", auth=key, host=False),
             (PROTOCOL, 404, 400)),
        Case("Expect: 100-continue", request("POST", CREATE, GROK, auth=key,
                                             headers=[("Expect", "100-continue")]), (200,)),
        Case("Authorization scheme only", request("GET", "/v1/tasks/task-unified-1",
                                                  headers=[("Authorization", "Bearer")]), (401,),
             "unauthorized"),
        Case("Basic credentials", request("GET", "/v1/tasks/task-unified-1",
                                          headers=[("Authorization", "Basic YTpi")]), (401,), "unauthorized"),
        Case("X-Mock-Scenario junk", request("GET", "/v1/tasks/task-unified-1", auth=key,
                                             headers=[("X-Mock-Scenario", "delay=1e999;;;=,")]), (400,)),
        Case("X-Mock-Scenario delay=inf", request("GET", "/v1/tasks/task-unified-1", auth=key,
                                                  headers=[("X-Mock-Scenario", "delay=inf")]), (400,)),
        Case("X-Mock-Scenario delay=nan", request("GET", "/v1/tasks/task-unified-1", auth=key,
                                                  headers=[("X-Mock-Scenario", "delay=nan")]), (400,)),
        Case("X-Mock-Scenario takes=nan", request("POST", CREATE, GROK, auth=key,
                                                  headers=[("X-Mock-Scenario", "takes=nan")]), (400,)),
        Case("X-Mock-Scenario takes=inf", request("POST", CREATE, GROK, auth=key,
                                                  headers=[("X-Mock-Scenario", "takes=inf")]), (400,)),
        Case("X-Mock-Scenario takes=1e308", request("POST", CREATE, GROK, auth=key,
                                                    headers=[("X-Mock-Scenario", "takes=1e308")]),
             (200, 400)),
        Case("magic prompt with takes=nan",
             create('{"model": "grok-imagine-text-to-video", "prompt": "x [mock:takes=nan]"}'), (400,)),
        Case("magic prompt with retry_after of 30 digits",
             create('{"model": "grok-imagine-text-to-video", "prompt": "x [mock:http=429,retry_after='
                    + "9" * 30 + ']"}'), (400, 429)),
        Case("admin task list after the takes=nan/inf creates",
             request("GET", "/_mock/tasks?limit=1000", headers=admin_headers), (200,)),
        # --- request line ------------------------------------------------------------------
        Case("garbage request line", b"GARBAGE\r\n\r\n", (PROTOCOL,)),
        Case("binary junk", bytes(range(256)) * 4, (PROTOCOL, CLOSED)),
        Case("TLS ClientHello on the plain port",
             bytes.fromhex("16030100a5010000a10303") + b"\x00" * 32 + b"\x00\x00\x02\x13\x01\x01\x00",
             (PROTOCOL, CLOSED)),
        Case("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", (PROTOCOL, CLOSED, 404, 405)),
        Case("100 KB URL", request("GET", "/v1/tasks/task-unified-" + "a" * 100_000, auth=key),
             (PROTOCOL, 414, 400, 431)),
        Case("10 KB URL", request("GET", "/v1/tasks/task-unified-" + "a" * 10_000, auth=key), (400,)),
        Case("path traversal", request("GET", "/v1/tasks/../../etc/passwd", auth=key), (404, 400)),
        Case("encoded path traversal", request("GET", "/v1/tasks/..%2F..%2Fetc%2Fpasswd", auth=key),
             (400, 404)),
        Case("percent-encoded NUL in the path", request("GET", "/v1/tasks/task-unified-%00", auth=key),
             (400, 404)),
        Case("invalid percent-encoding", request("GET", "/v1/tasks/task-unified-%zz", auth=key), (400, 404)),
        Case("percent-encoded invalid UTF-8", request("GET", "/v1/tasks/task-unified-%ff%fe", auth=key),
             (400, 404)),
        Case("raw non-ASCII bytes in the path", b"GET /v1/tasks/task-unified-\xff HTTP/1.1\r\nHost: x\r\n"
             b"Authorization: Bearer " + key.encode() + b"\r\nConnection: close\r\n\r\n",
             (PROTOCOL, 400, 404)),
        Case("percent-encoded newline ending the path", request("GET", "/v1/tasks/task-unified-1%0a",
                                                                auth=key),
             (400, 404)),
        Case("absolute-form request target",
             request("GET", "http://evil.example/v1/tasks/task-unified-1", auth=key), (404, 400, PROTOCOL)),
        Case("asterisk-form OPTIONS", request("OPTIONS", "*"), (PROTOCOL, 404, 400, 405)),
        Case("CONNECT", request("CONNECT", "127.0.0.1:22"), (PROTOCOL, 404, 400, 405)),
        Case("TRACE", request("TRACE", CREATE, auth=key), (405,)),
        Case("unknown method", request("FROBNICATE", CREATE, auth=key), (405, PROTOCOL)),
        Case("lower-case method", request("post", CREATE, GROK, auth=key), (PROTOCOL, 405, 404)),
        Case("query string junk", request("GET", "/v1/tasks/task-unified-1?" + "&=&%zz=%ff" * 500, auth=key),
             (404, 400)),
        Case("1000 repeated query parameters",
             request("GET", "/_mock/tasks?" + "&".join(["limit=1"] * 1000), headers=admin_headers),
             (200, 400)),
        Case("HEAD on the create path", request("HEAD", CREATE, auth=key), (405,), head=True),
        Case("GET on the create path", request("GET", CREATE, auth=key), (405,)),
        Case("DELETE on a task", request("DELETE", "/v1/tasks/task-unified-1", auth=key), (405,)),
        # --- HTTP/1.0 and 0.9 ----------------------------------------------------------------
        Case("HTTP/1.0 GET without Host", request("GET", "/v1/tasks/task-unified-1", auth=key,
                                                  version="HTTP/1.0", host=False), (404,), "task_not_found"),
        Case("HTTP/1.0 create", request("POST", CREATE, GROK, auth=key, version="HTTP/1.0"), (200,)),
        Case("HTTP/1.0 without auth", request("GET", "/v1/tasks/task-unified-1", version="HTTP/1.0"),
             (401,), "unauthorized"),
        Case("HTTP/1.0 health", request("GET", "/_mock/health", version="HTTP/1.0",
                                        headers=admin_headers), (200,)),
        Case("HTTP/0.9 request", b"GET /_mock/health\r\n", (PROTOCOL, CLOSED), half_close=True),
        Case("HTTP/3.0 version", request("GET", "/_mock/health", version="HTTP/3.0", headers=admin_headers),
             (PROTOCOL, CLOSED, 200, 505)),
        # --- connections that stall ---------------------------------------------------------
        Case("slowloris: partial request, held, then closed", _slowloris_one, (CLOSED,)),
        Case(f"{SLOW_CONNECTIONS} stalled connections while a normal request is served",
             _slowloris_many(admin_headers), (200,)),
        Case("headers complete, body never sent, then closed",
             _stalled_body(key), (CLOSED, 400, PROTOCOL)),
    ]


def _chunked_request(key: str, body: bytes, chunk: int = 64 * 1024) -> bytes:
    head = (f"POST {CREATE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    parts = [head.encode()]
    for start in range(0, len(body), chunk):
        piece = body[start:start + chunk]
        parts.append(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


def _what_is_left(sock: socket.socket) -> bytes:
    """Whatever the server sent on a connection we stalled: an answer, or nothing within
    0.2 s (it is still waiting for the rest of the request, or closed silently)."""
    sock.settimeout(0.2)
    try:
        return sock.recv(1024)
    except TimeoutError:
        return b""


def _slowloris_one(host: str, port: int) -> RawResponse:
    """Send half a request line and some headers, wait, close. Bounded."""
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b"POST /v1/videos/generations HTTP/1.1\r\nHost: x\r\nX-A: ")
        for _ in range(4):
            time.sleep(SLOW_HOLD_SECONDS / 4)
            sock.sendall(b"a")
        data = _what_is_left(sock)
    return RawResponse(None, {}, data, "closed by us without an answer" if not data else None)


def _slowloris_many(admin_headers: list[tuple[str, str]]) -> Callable[[str, int], RawResponse]:
    def run(host: str, port: int) -> RawResponse:
        sockets: list[socket.socket] = []
        try:
            for _ in range(SLOW_CONNECTIONS):
                sock = socket.create_connection((host, port), timeout=5)
                sock.sendall(b"GET /v1/tasks/task-unified-1 HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                sockets.append(sock)
            time.sleep(SLOW_HOLD_SECONDS / 2)
            started = time.monotonic()
            answer = exchange(host, port, request("GET", "/_mock/health", headers=admin_headers),
                              timeout=5)
            answer.error = f"answered in {time.monotonic() - started:.3f} s with " \
                           f"{SLOW_CONNECTIONS} stalled connections open"
            return answer
        finally:
            for sock in sockets:
                sock.close()

    return run


def _stalled_body(key: str) -> Callable[[str, int], RawResponse]:
    def run(host: str, port: int) -> RawResponse:
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(f"POST {CREATE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                         f"Content-Type: application/json\r\nContent-Length: {len(GROK)}\r\n\r\n"
                         f"{GROK[:5]}".encode())
            time.sleep(SLOW_HOLD_SECONDS / 2)
            data = _what_is_left(sock)
        return RawResponse(None, {}, data, "closed by us" if not data else None)

    return run


def judge(case: Case, response: RawResponse) -> tuple[bool, str]:
    """Whether the answer is acceptable for the case, and a note saying what came back."""
    status = response.status
    if status is None:
        return CLOSED in case.expect, f"no answer ({response.error})"
    if status >= 500:
        return False, f"HTTP {status}: {response.body[:200]!r}"
    content_type = response.content_type
    protocol_level = content_type.startswith("text/plain") and b"Invalid HTTP request" in response.body
    if protocol_level:
        return PROTOCOL in case.expect, "uvicorn refused it before the app (text/plain 400)"
    if status not in case.expect:
        return False, f"HTTP {status}, expected one of {case.expect}: {response.body[:300]!r}"
    note = f"HTTP {status}"
    if status >= 400 and case.head:
        note += " (HEAD: no body by definition)"
    elif status >= 400:
        if not content_type.startswith("application/json"):
            return False, f"HTTP {status} error with content type {content_type!r}, not the JSON envelope"
        try:
            error = json.loads(response.body)["error"]
            assert isinstance(error, dict)
            assert all(isinstance(error.get(name), str) for name in ("code", "message", "type"))
        except (ValueError, KeyError, TypeError, AssertionError):
            return False, f"HTTP {status} body is not the envelope: {response.body[:300]!r}"
        note += f" {error['code']}" + (f" (param {error.get('param')})" if error.get("param") else "")
        if case.code is not None and error["code"] != case.code:
            return False, f"{note}: expected code {case.code}"
        if case.param is not None and error.get("param") != case.param:
            return False, f"{note}: expected param {case.param}"
        note += f": {error['message'][:100]}"
    if response.error:
        note += f" [{response.error}]"
    return True, note


def run_case(host: str, port: int, case: Case) -> Result:
    started = time.monotonic()
    try:
        if callable(case.data):
            response = case.data(host, port)
        else:
            response = exchange(host, port, case.data, half_close=case.half_close)
    except OSError as exc:
        response = RawResponse(None, {}, b"", f"{type(exc).__name__}: {exc}")
    ok, note = judge(case, response)
    return Result(case.name, response.status, ok, note, time.monotonic() - started)


def healthy(host: str, port: int, admin: dict[str, str]) -> bool:
    try:
        answer = exchange(host, port, request("GET", "/_mock/health", headers=list(admin.items())),
                          timeout=5)
    except OSError:
        return False
    return answer.status == 200


def run_all(base_url: str, key: str, admin: dict[str, str]) -> list[Result]:
    """Every raw case against ``base_url`` (http://127.0.0.1:PORT), then a health check."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    results = []
    for case in cases(key, admin):
        results.append(run_case(host, int(port), case))
        if not healthy(host, int(port), admin):
            results.append(Result(f"server healthy after: {case.name}", None, False,
                                  "health check failed", 0.0))
            break
    else:
        results.append(Result("server healthy after all raw cases", 200, True, "HTTP 200", 0.0))
    return results


def run_parallel_smoke(base_url: str, key: str, admin: dict[str, str], threads: int = 8) -> list[Result]:
    """The same cases from several threads at once (concurrency on malformed input)."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    results: list[Result] = []
    lock = threading.Lock()
    all_cases = [c for c in cases(key, admin) if not callable(c.data)]

    def worker(offset: int) -> None:
        for case in all_cases[offset::threads]:
            result = run_case(host, int(port), case)
            with lock:
                results.append(result)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    return results
