"""Limits at the HTTP edge, before a request reaches the app: header size and header time.

uvicorn (0.54) has neither for its httptools parser: ``h11_max_incomplete_event_size``
exists only for h11, which serves ~50 % fewer requests per second here
(bench/profiles/levers.md), and ``timeout_keep_alive`` only covers the idle time between
requests; it is cancelled by the first byte of the next one, so a client that sends half a
request line and stops holds its connection forever (uvicorn issues #157 and #1684 discuss
both and leave them open for httptools). So this module subclasses uvicorn's own httptools
protocol and adds exactly two things, leaving its parsing, flow control and pipelining
as they are:

* **Header size.** Bytes of the request line and headers are counted as httptools reports
  them (``on_url``, ``on_header``) and, while the headers are still incomplete, as they
  arrive (httptools buffers a header until its line ends, so a never-ending header would
  otherwise grow without bound). Past ``limit`` the client gets ``431`` in the vendor's
  envelope and the connection is closed; the app never sees the request.
* **Header time.** From the moment a connection opens, or a new request on a kept-alive
  connection starts, its headers must be complete within ``timeout`` seconds; otherwise
  the connection is closed. Other connections are not affected.
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .errors import error_for_status

HEADER_LINE_OVERHEAD = 4   # ": " and CRLF around each header's name and value
LINGER_SECONDS = 1.0       # reading (and dropping) a rejected client's bytes after the 431


def header_limited_protocol(limit: int, timeout: float, code: tuple[str, str] | None = None,
                            base: type[HttpToolsProtocol] = HttpToolsProtocol) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol (or ``base``, a subclass of it) with a header size
    ``limit`` (bytes, request line and headers together) and a header ``timeout`` (seconds);
    pass it as ``Config(http=...)``.

    ``code`` is the envelope's (code, type) for 431, as the spec's example gives it."""
    answer = _answer_431(limit, code)

    class HeaderLimitedProtocol(base):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.Transport) -> None:
            self._rejected = False
            self._in_headers = True
            self._counted = 0        # as parsed: request target and complete headers
            self._arrived = 0        # as received, while the headers are incomplete
            self._deadline: asyncio.TimerHandle | None = None
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._rejected:
                return
            if self._in_headers:
                self._arrived += len(data)
            super().data_received(data)
            # Still within the headers after parsing all of it: bytes that arrived count,
            # so one endless header line is stopped too (httptools holds it until it ends).
            if not self._rejected and self._in_headers and self._arrived > limit:
                self._reject()

        # httptools callbacks ----------------------------------------------------------

        def on_message_begin(self) -> None:
            self._in_headers = True
            self._counted = 0
            self._arm()
            super().on_message_begin()

        def on_url(self, url: bytes) -> None:
            if self._rejected:
                return
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            if self._rejected:
                return
            self._count(len(name) + len(value) + HEADER_LINE_OVERHEAD)
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            if self._rejected:
                return
            self._in_headers = False
            self._arrived = 0
            self._disarm()
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            if not self._rejected:
                super().on_body(body)

        def on_message_complete(self) -> None:
            if not self._rejected:
                super().on_message_complete()

        # the two limits ---------------------------------------------------------------

        def _count(self, size: int) -> None:
            self._counted += size
            if self._counted > limit:
                self._reject()

        def _reject(self) -> None:
            """431, then a lingering close: the parser's remaining callbacks and any further
            data are ignored for ``LINGER_SECONDS`` before the socket closes. Closing at once
            with the client's bytes unread would send a reset, which can destroy the 431
            before the client reads it."""
            self._rejected = True
            self._disarm()
            if self.transport.is_closing():
                return
            self.transport.write(answer)
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if self._in_headers and not self.transport.is_closing():
                self.transport.close()

    HeaderLimitedProtocol.__name__ = HeaderLimitedProtocol.__qualname__ = "HeaderLimitedProtocol"
    return HeaderLimitedProtocol


def _answer_431(limit: int, code: tuple[str, str] | None) -> bytes:
    code_, type_ = code or ("", "")
    error = error_for_status(431, f"Request headers are larger than {limit} bytes in all "
                                  "(request line and headers)", code=code_, type=type_)
    body = json.dumps(error.envelope()).encode()
    head = (b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n")
    return head + body
