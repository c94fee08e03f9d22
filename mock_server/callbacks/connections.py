"""One callback connection: HTTP/1.1 requests written on an asyncio Protocol, answers parsed
by httptools (what uvicorn parses with), one request at a time; pool.py keeps them.

Why not a library: httpx/httpcore/anyio spent ~0.5 ms of CPU per request, several times the
rest of a delivery. aiohttp 3.14.5 (C parser, one TCPConnector per checked address, its
resolver answering that address) was tried (issue 16, branch i16b, commit "Callback sender on
aiohttp") and not kept:
- mock CPU per callback, bench/run.py --only callbacks --baseline-ref, two runs, 1,000 / 100
  due at once (aiohttp vs this client, same run): HTTP 0.54 / 0.50 vs 0.28 / 0.20 ms and
  0.65 / 0.3 vs 0.29 / 0.3 ms; HTTPS 0.74 / 1.00 vs 0.42 / 0.40 ms and 0.52 / 0.8 vs
  0.30 / 0.5 ms. due→sent p99 for 1,000 over HTTPS: 2,107 vs 1,581 ms and 2,774 vs 1,178 ms
  (load average 7 on 2 cores, so lags are the machine's as much as ours; CPU is not);
- the sender alone in one process (bench/receiver.py on the other core), 3 rounds: aiohttp
  0.36-0.59 ms per callback, this client 0.10-0.32 ms; aiohttp's request machinery
  (ClientSession._request, ClientRequest) is most of the difference, its tracing hook ~0.05 ms;
- llhttp in aiohttp refuses a 204 that carries a body (as some handlers send) and loses the
  answer: "Data after `Connection: close`"; here the answer stands and the connection closes.
"""

from __future__ import annotations

import asyncio
import re
from functools import lru_cache
from typing import Protocol
from urllib.parse import quote

import httptools

from .urls import parse_url

SNIPPET_CHARS = 200
USER_AGENT = "evolink-mock-callbacks/1"
# An answer body longer than this is not read to its end: the connection is closed instead.
DRAIN_BYTES = 64 * 1024

Answer = tuple[int, bytes]            # status, start of the body

# What urllib's quote() leaves alone with the safe set below: a target made only of these
# is sent as written (the common case), the rest is percent-encoded as httpx did.
_SAFE = "!#$%&'()*+,/:;=?@[]~"
_PLAIN_TARGET = re.compile(r"[A-Za-z0-9_.\-~!#$%&'()*+,/:;=?@\[\]]*")


@lru_cache(maxsize=4096)
def request_head(url: str) -> tuple[str, bytes]:
    """The scheme, and the request line and headers up to Content-Length, for a URL the
    policy accepted (so: ASCII-only after IDNA, no userinfo, no whitespace), from the parse
    the policy made (and cached) at create time: urlsplit and quote on every new URL were a
    sixth of a burst's Python time."""
    target = parse_url(url)
    path = target.path if _PLAIN_TARGET.fullmatch(target.path) else quote(target.path, safe=_SAFE)
    name = f"[{target.host}]" if ":" in target.host else target.host
    netloc = f"{name}:{target.port}" if target.explicit_port else name
    return target.scheme, (f"POST {path} HTTP/1.1\r\nHost: {netloc}\r\n"
                           f"Content-Type: application/json\r\nUser-Agent: {USER_AGENT}\r\n"
                           ).encode("ascii")


class RemoteProtocolError(ConnectionError):
    """The handler closed the connection or answered something that is not HTTP/1.x."""


class Owner(Protocol):
    """What a connection reports to: its lane (pool.py)."""

    def released(self, connection: Exchange) -> None: ...
    def closed(self, connection: Exchange) -> None: ...


class Request:
    """One request waiting for, or on, a connection. The connection and its lane call back:
    ``written`` when it went out, then ``answered`` or ``failed``, and only while it is not
    ``settled`` (answered for good, or abandoned). Plain calls, not a future: an awaited
    future cost each callback a task, a coroutine chain and a loop turn (sender.py)."""

    __slots__ = ("connection", "data", "settled")

    def __init__(self, data: bytes = b"") -> None:
        self.data = data
        self.settled = False
        self.connection: Exchange | None = None   # the one it was written to

    def written(self) -> None:
        """The request went out on ``connection``."""

    def answered(self, answer: Answer) -> None:
        raise NotImplementedError

    def failed(self, error: BaseException) -> None:
        """No answer: ``ConnectFailed`` (pool.py) when no connection to the address could be
        made, so the request was never written; a timeout or a connection error otherwise."""
        raise NotImplementedError

    def abandon(self) -> None:
        """Nobody wants the answer any more (the server stops, the mock was reset): a waiting
        request is skipped by its lane; one on a connection leaves it unusable (its answer
        would belong to nobody)."""
        self.settled = True
        if self.connection is not None and self.connection.carries(self):
            self.connection.close()


class Exchange(asyncio.Protocol):
    """One client connection: a request at a time, the answer parsed by httptools.

    When an answer is complete the connection hands itself back to its lane, which writes the
    next waiting request at once, from this callback: a burst costs no task wake-up, timer
    context or semaphore per request (they were a third of the sender's Python time)."""

    def __init__(self, lane: Owner, timeout: float) -> None:
        self.lane, self.timeout = lane, timeout
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._request: Request | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._status = 0
        self._snippet = bytearray()
        self._body_bytes = 0
        self._settled: tuple[Answer, bool] | None = None   # (answer, reusable)

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport   # type: ignore[assignment]  # uvloop's is no asyncio.Transport

    def data_received(self, data: bytes) -> None:
        if self._parser is None:   # bytes nobody asked for: this connection is not for reuse
            self.close()
            return
        error: Exception | None = None
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            error = RemoteProtocolError(f"not an HTTP/1.1 answer: {exc}")
        except httptools.HttpParserUpgrade:
            error = RemoteProtocolError("the handler switched protocols")
        if self._settled is not None:
            # Settled here, after feed_data, so the next request gets a parser of its own. An
            # answer stands even if bytes after it do not parse (a 204 with a body, say, sent
            # with "Connection: close"); the connection is just not reused.
            answer, reusable = self._settled
            self._settled = None
            self._answer(answer, reusable and error is None)
        elif error is not None:
            self._fail(error)

    def eof_received(self) -> bool:
        self._lost()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost()

    def _lost(self) -> None:
        if self.closed and self._request is None:
            return
        self.closed = True
        if self._request is not None and self._parser is not None and self._status:
            self._answer((self._status, bytes(self._snippet)), False)   # framed by the close
        self._fail(RemoteProtocolError("the handler closed the connection without an answer"))
        self.lane.closed(self)

    # --- httptools callbacks -----------------------------------------------------------------

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        status = self._parser.get_status_code()
        if 100 <= status < 200:   # an interim answer (100 Continue): the real one follows
            return
        self._status = status

    def on_body(self, body: bytes) -> None:
        if not self._status or self._settled is not None:
            return
        self._body_bytes += len(body)
        if len(self._snippet) < SNIPPET_CHARS * 4:
            self._snippet += body[:SNIPPET_CHARS * 4 - len(self._snippet)]
        if self._body_bytes > DRAIN_BYTES:   # enough of it: answer now, close the connection
            self._settled = ((self._status, bytes(self._snippet)), False)

    def on_message_complete(self) -> None:
        if not self._status or self._settled is not None:   # an interim answer ended
            return
        assert self._parser is not None
        self._settled = ((self._status, bytes(self._snippet)), self._parser.should_keep_alive())

    # --- use -------------------------------------------------------------------------------

    def usable(self, now: float, idle_seconds: float) -> bool:
        """Open, and idle at most ``idle_seconds`` (so the handler has not given up on it)."""
        return not self.closed and self.transport is not None and not self.transport.is_closing() \
            and now - self.idle_since <= idle_seconds

    def start(self, request: Request) -> None:
        """Write ``request``; the handler has ``timeout`` seconds from now to answer it."""
        assert self.transport is not None and self._request is None
        self._request = request
        self._parser = httptools.HttpResponseParser(self)
        self._status, self._snippet, self._body_bytes, self._settled = 0, bytearray(), 0, None
        request.connection = self
        self.transport.write(request.data)
        request.written()
        self._timer = asyncio.get_running_loop().call_later(self.timeout, self._expire)

    def carries(self, request: Request) -> bool:
        return self._request is request

    def _expire(self) -> None:
        self._timer = None
        self._fail(TimeoutError())

    def _done(self) -> Request | None:
        request, self._request, self._parser = self._request, None, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return request

    def _answer(self, answer: Answer, reusable: bool) -> None:
        request = self._done()
        if request is not None and not request.settled:
            request.answered(answer)
        if reusable and not self.closed:
            self.lane.released(self)
        else:
            self.close()

    def _fail(self, error: BaseException) -> None:
        """No answer (a timeout, a reset, not HTTP): this connection is done."""
        request = self._done()
        if request is not None and not request.settled:
            request.failed(error)
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            self.lane.closed(self)
