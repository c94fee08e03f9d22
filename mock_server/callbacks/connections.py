"""Kept-alive HTTP/1.1 connections for callback POSTs: one exchange at a time on an asyncio
Protocol with httptools' parser, pooled per (scheme, checked address, port, host name).

Why written here rather than taken from an HTTP client, and what that saves, is in
:mod:`mock_server.callbacks.sender`, which decides where to connect and what to send.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import httptools

# An idle connection is reused only this soon: below the shortest keep-alive timeout of common
# servers (gunicorn 2 s; uvicorn and Node 5 s; nginx 75 s), so the handler has not closed it
# as the request goes out. A POST is never sent twice, so a stale connection would cost a
# failed attempt (and the retry 1 s later).
IDLE_SECONDS = 1.0
SNIPPET_CHARS = 200   # of an answer's body, kept in the delivery's journal
# An answer body longer than this is not read to its end: the connection is closed instead.
DRAIN_BYTES = 64 * 1024

PoolKey = tuple[str, str, int, str]   # scheme, checked address, port, host name (SNI, Host)


class RemoteProtocolError(ConnectionError):
    """The handler closed the connection or answered something that is not HTTP/1.x."""


class Exchange(asyncio.Protocol):
    """One client connection: a request at a time, the answer parsed by httptools."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._answer: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._status = 0
        self._snippet = bytearray()
        self._body_bytes = 0
        self._complete = False

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport   # type: ignore[assignment]  # uvloop's is no asyncio.Transport

    def data_received(self, data: bytes) -> None:
        if self._parser is None:   # bytes nobody asked for: this connection is not for reuse
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._settle(error=RemoteProtocolError(f"not an HTTP/1.1 answer: {exc}"))
        except httptools.HttpParserUpgrade:
            self._settle(error=RemoteProtocolError("the handler switched protocols"))

    def eof_received(self) -> bool:
        self._lost()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost()

    def _lost(self) -> None:
        self.closed = True
        if self._parser is not None and self._status:   # an answer framed by the close
            self._settle(answer=(self._status, bytes(self._snippet), False))
        self._settle(error=RemoteProtocolError("the handler closed the connection without an answer"))

    # --- httptools callbacks -----------------------------------------------------------------

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        status = self._parser.get_status_code()
        if 100 <= status < 200:   # an interim answer (100 Continue): the real one follows
            return
        self._status = status

    def on_body(self, body: bytes) -> None:
        if not self._status:
            return
        self._body_bytes += len(body)
        if len(self._snippet) < SNIPPET_CHARS * 4:
            self._snippet += body[:SNIPPET_CHARS * 4 - len(self._snippet)]
        if self._body_bytes > DRAIN_BYTES:   # enough of it: answer now, close the connection
            self._settle(answer=(self._status, bytes(self._snippet), False))

    def on_message_complete(self) -> None:
        if not self._status:   # an interim answer ended; the parser reads the real one next
            return
        assert self._parser is not None
        self._complete = True
        self._settle(answer=(self._status, bytes(self._snippet), self._parser.should_keep_alive()))

    # --- use -------------------------------------------------------------------------------

    def usable(self, now: float) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing() \
            and now - self.idle_since <= IDLE_SECONDS

    async def request(self, data: bytes) -> tuple[int, bytes, bool]:
        """Write one request; its answer as (status, start of the body, reusable)."""
        assert self.transport is not None and self._answer is None
        self._answer = asyncio.get_running_loop().create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._status, self._snippet, self._body_bytes, self._complete = 0, bytearray(), 0, False
        self.transport.write(data)
        try:
            status, snippet, reusable = await self._answer
        except BaseException:   # no answer, a timeout or a reset: this connection is done
            self.close()
            raise
        finally:
            self._answer = None
        if not reusable or not self._complete:
            self.close()
        self._parser = None
        return status, snippet, reusable and self._complete and not self.closed

    def _settle(self, *, answer: tuple[int, bytes, bool] | None = None,
                error: Exception | None = None) -> None:
        if self._answer is None or self._answer.done():
            return
        if error is not None:
            self._answer.set_exception(error)
            self.close()
        else:
            self._answer.set_result(answer)   # type: ignore[arg-type]

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Kept-alive connections per :data:`PoolKey`, at most ``per_key`` open at once."""

    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self._slots: dict[PoolKey, asyncio.Semaphore] = {}
        self._idle: defaultdict[PoolKey, list[Exchange]] = defaultdict(list)
        self._swept = time.monotonic()
        self.opened = 0   # connections made, for tests and the bench

    def slot(self, key: PoolKey) -> asyncio.Semaphore:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = asyncio.Semaphore(self.per_key)
        return slot

    def take(self, key: PoolKey) -> Exchange | None:
        """An idle connection of this key that can carry a request now (most recent first)."""
        idle, now = self._idle.get(key), time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.usable(now):
                return connection
            connection.close()
        return None

    def give_back(self, key: PoolKey, connection: Exchange) -> None:
        now = time.monotonic()
        connection.idle_since = now
        self._idle[key].append(connection)
        if now - self._swept > IDLE_SECONDS:   # close what nobody will reuse
            self._swept = now
            for other, idle in list(self._idle.items()):
                for connection in idle:
                    if not connection.usable(now):
                        connection.close()
                kept = [c for c in idle if not c.closed]
                if kept:
                    self._idle[other] = kept
                else:
                    del self._idle[other]

    def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
