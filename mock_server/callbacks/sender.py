"""One callback POST under the delivery rules: checked addresses, no redirects, a deadline.

The policy judged the URL at create time, but DNS can change (or be made to change)
since; so every attempt resolves the host again, checks *every* address, and connects to
a checked address rather than handing the name to an HTTP client to resolve once more.
The Host header and TLS SNI (and certificate check) still use the URL's host name.

Connections are kept alive and reused, which is what makes bursts cheap (1,000 callbacks due
at once to one HTTPS handler: 8 TLS handshakes instead of 1,000; bench/results.md). A
pooled connection belongs to one (scheme, checked address, port, host name): it is reused
only by an attempt that resolved and checked the same address for the same host name, so
reuse never skips a check, an SNI or a certificate verification.

The HTTP/1.1 exchange is written here on an asyncio Protocol with httptools' parser (what
uvicorn parses with): the profile of a burst showed httpx/httpcore/anyio spending ~0.5 ms
of CPU per request, several times the rest of a delivery. TLS sessions are not resumed:
asyncio's create_connection takes no session, and with kept-alive connections a burst to one
handler makes only as many handshakes as it opens connections.

Each pooled key is a lane: a queue of requests and up to CONNECTIONS_PER_ADDRESS
connections. A connection whose answer is complete writes the lane's next request from its
own protocol callback, so a request costs no semaphore, timer context or task wake-up of its
own; the handler's deadline is one loop timer from the write. Against the semaphore-per-request
pool this replaced, same run (load average ~7 on 2 cores): mock CPU per callback in a burst of
1,000, HTTP 0.20 vs 0.34 ms, HTTPS 0.28 vs 0.43 ms (bench/run.py --only callbacks
--baseline-ref).

aiohttp 3.14.5 (C parser, one
TCPConnector per checked address, its resolver answering that address) was tried in its
place (issue 16, branch i16b, commit "Callback sender on aiohttp") and not kept:
- mock CPU per callback, bench/run.py --only callbacks --baseline-ref, two runs, 1,000 / 100
  due at once (aiohttp vs this client, same run): HTTP 0.54 / 0.50 vs 0.28 / 0.20 ms and
  0.65 / 0.3 vs 0.29 / 0.3 ms; HTTPS 0.74 / 1.00 vs 0.42 / 0.40 ms and 0.52 / 0.8 vs
  0.30 / 0.5 ms. due→sent p99 for 1,000 over HTTPS: 2,107 vs 1,581 ms and 2,774 vs 1,178 ms
  (load average 7 on 2 cores, so lags are the machine's as much as ours; CPU is not);
- the sender alone in one process (bench/receiver.py on the other core), 3 rounds: aiohttp
  0.36-0.59 ms per callback, this client 0.10-0.32 ms; aiohttp's request machinery
  (ClientSession._request, ClientRequest) is most of the difference, its tracing hook ~0.05 ms;
- llhttp in aiohttp refuses a 204 that carries a body (as some handlers send) and loses the
  answer: "Data after `Connection: close`"; here the answer settles at its headers.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import certifi
import httptools

from .delivery import Attempt, Delivery, Outcome
from .policy import CallbackPolicy, _parse_url, host_and_port

Resolver = Callable[[str], Awaitable[list[str]]]
DEFAULT_TIMEOUT = 10.0
SNIPPET_CHARS = 200
USER_AGENT = "evolink-mock-callbacks/1"
# Connections per (scheme, address, port, host). 1,000 requests to one HTTPS handler on
# loopback: 4 connections took ~53 ms of client CPU, 8 took ~41 ms, 16 ~38 ms, while each
# TLS handshake costs ~1.5 ms; 8 keeps a handler busy for few handshakes.
CONNECTIONS_PER_ADDRESS = 8
# Connections open at once, whatever their address (file descriptors, and the handlers'
# patience): past it a new address waits until another one's connection closes or idles.
MAX_CONNECTIONS = 100
# An idle connection is reused only this soon: below the shortest keep-alive timeout of common
# servers (gunicorn 2 s; uvicorn and Node 5 s; nginx 75 s), so the handler has not closed it
# as the request goes out. A POST is never sent twice, so a stale connection would cost a
# failed attempt (and the retry 1 s later).
IDLE_SECONDS = 1.0
# An answer body longer than this is not read to its end: the connection is closed instead.
DRAIN_BYTES = 64 * 1024

PoolKey = tuple[str, str, int, str]   # scheme, checked address, port, host name (SNI, Host)
Answer = tuple[int, bytes]            # status, start of the body

# What urllib's quote() leaves alone with the safe set below: a target made only of these
# is sent as written (the common case), the rest is percent-encoded as httpx did.
_SAFE = "!#$%&'()*+,/:;=?@[]~"
_PLAIN_TARGET = re.compile(r"[A-Za-z0-9_.\-~!#$%&'()*+,/:;=?@\[\]]*")
_AUTHORITY_END = re.compile(r"[/?#]")


def trust(ca_file: str | None) -> ssl.SSLContext:
    """System trust (certifi), plus the operator's CA for local HTTPS rehearsals."""
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


@lru_cache(maxsize=4096)
def _request_head(url: str) -> tuple[str, bytes]:
    """The scheme, and the request line and headers up to Content-Length, for a URL the
    policy accepted (so: ASCII-only after IDNA, no userinfo, no whitespace). Sliced from the
    URL the policy parsed (and cached) at create time: urlsplit and quote on every new URL
    were a sixth of a burst's Python time."""
    target = _parse_url(url)
    rest = url[url.index("://") + 3:]
    cut = _AUTHORITY_END.search(rest)
    authority, path = (rest[:cut.start()], rest[cut.start():]) if cut else (rest, "")
    path = path.partition("#")[0]
    if not path.startswith("/"):
        path = "/" + path
    if not _PLAIN_TARGET.fullmatch(path):
        path = quote(path, safe=_SAFE)
    name = f"[{target.host}]" if ":" in target.host else target.host
    explicit_port = ":" in authority.rpartition("]")[2]
    netloc = f"{name}:{target.port}" if explicit_port else name
    return target.scheme, (f"POST {path} HTTP/1.1\r\nHost: {netloc}\r\n"
                           f"Content-Type: application/json\r\nUser-Agent: {USER_AGENT}\r\n"
                           ).encode("ascii")


class RemoteProtocolError(ConnectionError):
    """The handler closed the connection or answered something that is not HTTP/1.x."""


class _ConnectFailed(Exception):
    """No connection to this address: the attempt moves on to the host's next address."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _Request:
    """One request waiting for, or on, a connection; its answer arrives in ``future``."""

    __slots__ = ("connection", "data", "future", "on_write")

    def __init__(self, data: bytes, future: asyncio.Future[Answer], on_write: Callable[[], None]) -> None:
        self.data, self.future, self.on_write = data, future, on_write
        self.connection: _Exchange | None = None   # the one it was written to

    def abandon(self) -> None:
        """The attempt was cancelled (the server stops): a request on a connection leaves it
        unusable (its answer would belong to nobody); a waiting one is skipped by its lane."""
        if self.connection is not None and self.connection.carries(self):
            self.connection.close()


class _Exchange(asyncio.Protocol):
    """One client connection: a request at a time, the answer parsed by httptools.

    When an answer is complete the connection hands itself back to its lane, which writes the
    next waiting request at once, from this callback: a burst costs no task wake-up, timer
    context or semaphore per request (they were a third of the sender's Python time)."""

    def __init__(self, lane: _Lane, timeout: float) -> None:
        self.lane, self.timeout = lane, timeout
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._request: _Request | None = None
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

    def usable(self, now: float) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing() \
            and now - self.idle_since <= IDLE_SECONDS

    def start(self, request: _Request) -> None:
        """Write ``request``; the handler has ``timeout`` seconds from now to answer it."""
        assert self.transport is not None and self._request is None
        self._request = request
        self._parser = httptools.HttpResponseParser(self)
        self._status, self._snippet, self._body_bytes, self._settled = 0, bytearray(), 0, None
        request.connection = self
        self.transport.write(request.data)
        request.on_write()
        self._timer = asyncio.get_running_loop().call_later(self.timeout, self._expire)

    def carries(self, request: _Request) -> bool:
        return self._request is request

    def _expire(self) -> None:
        self._timer = None
        self._fail(TimeoutError())

    def _done(self) -> _Request | None:
        request, self._request, self._parser = self._request, None, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return request

    def _answer(self, answer: Answer, reusable: bool) -> None:
        request = self._done()
        if request is not None and not request.future.done():
            request.future.set_result(answer)
        if reusable and not self.closed:
            self.lane.released(self)
        else:
            self.close()

    def _fail(self, error: BaseException) -> None:
        """No answer (a timeout, a reset, not HTTP): this connection is done."""
        request = self._done()
        if request is not None and not request.future.done():
            request.future.set_exception(error)
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            self.lane.closed(self)


class _Lane:
    """The connections of one :data:`PoolKey` (at most ``CONNECTIONS_PER_ADDRESS``) and the
    requests waiting for one of them, first come first served."""

    def __init__(self, pool: _Pool, key: PoolKey) -> None:
        self.pool, self.key = pool, key
        self.waiting: deque[_Request] = deque()
        self.idle: list[_Exchange] = []   # most recently used last
        self.open: set[_Exchange] = set()
        self.connecting = 0

    def submit(self, request: _Request) -> None:
        self.waiting.append(request)
        self._serve()

    def _serve(self) -> None:
        """Put waiting requests on idle connections, and open connections for the rest."""
        now = time.monotonic()
        while self.waiting and self.idle:
            connection = self.idle.pop()
            if not connection.usable(now):
                connection.close()
                continue
            request = self._next()
            if request is None:
                self.idle.append(connection)
                return
            connection.start(request)
        while (self.connecting < len(self.waiting)
               and len(self.open) + self.connecting < self.pool.per_key and self.pool.may_open(self)):
            self.connecting += 1
            self.pool.connecting(self._connect())

    def _next(self) -> _Request | None:
        while self.waiting:
            request = self.waiting.popleft()
            if not request.future.done():   # an abandoned attempt no longer waits
                return request
        return None

    async def _connect(self) -> None:
        scheme, address, port, host = self.key
        tls: dict[str, Any] = {"ssl": self.pool.tls, "server_hostname": host} if scheme == "https" else {}
        timeout = self.pool.timeout
        try:
            _, connection = await asyncio.wait_for(asyncio.get_running_loop().create_connection(
                lambda: _Exchange(self, timeout), address, port, **tls), timeout)
        except (OSError, ValueError) as exc:
            # A refused connection moves the attempt on to its host's next address; a
            # timeout or anything else is the attempt's answer.
            self._connected(None, exc if isinstance(exc, TimeoutError | ValueError) else _ConnectFailed(exc))
        except BaseException:
            self._connected(None, None)
            raise
        else:
            self._connected(connection, None)

    def _connected(self, connection: _Exchange | None, failure: BaseException | None) -> None:
        self.connecting -= 1
        if connection is None:
            self.pool.count -= 1
            if failure is not None and not self.open and not self.connecting:
                # Nothing else will carry the requests waiting for this address.
                while self.waiting:
                    request = self.waiting.popleft()
                    if not request.future.done():
                        request.future.set_exception(failure)
            self.pool.slot_freed()
            return
        self.pool.opened += 1
        self.open.add(connection)
        self.released(connection)

    def released(self, connection: _Exchange) -> None:
        """``connection`` finished an exchange (or just opened): give it the next request."""
        request = self._next()
        if request is not None:
            connection.start(request)
            return
        connection.idle_since = time.monotonic()
        self.idle.append(connection)
        self.pool.went_idle(self)

    def closed(self, connection: _Exchange) -> None:
        if connection in self.open:
            self.open.discard(connection)
            if connection in self.idle:
                self.idle.remove(connection)
            self.pool.count -= 1
            if self.waiting:
                self._serve()
            self.pool.slot_freed()

    def sweep(self, now: float) -> None:
        for connection in [c for c in self.idle if not c.usable(now)]:
            connection.close()

    def close(self) -> None:
        for connection in list(self.open):
            connection.close()


class _Pool:
    """The lanes of one sender, and the limit on connections open across them."""

    def __init__(self, per_key: int, tls: ssl.SSLContext, timeout: float) -> None:
        self.per_key, self.tls, self.timeout = per_key, tls, timeout
        self.lanes: dict[PoolKey, _Lane] = {}
        self.count = 0    # connections open or being opened, across the lanes
        self.opened = 0   # connections made, for tests and the bench
        self._connects: set[asyncio.Task[None]] = set()
        self._starved: deque[_Lane] = deque()   # lanes with requests and no room to connect
        self._swept = time.monotonic()

    def lane(self, key: PoolKey) -> _Lane:
        lane = self.lanes.get(key)
        if lane is None:
            lane = self.lanes[key] = _Lane(self, key)
        return lane

    def may_open(self, lane: _Lane) -> bool:
        """Room for one more connection (counted as taken on True), if need be by closing
        another address's idle one; otherwise the lane waits for a connection to close."""
        while self.count >= MAX_CONNECTIONS:
            other = next((o for o in self.lanes.values() if o is not lane and o.idle), None)
            if other is None:
                if lane not in self._starved:
                    self._starved.append(lane)
                return False
            other.idle[0].close()
        self.count += 1
        return True

    def connecting(self, connect: Coroutine[None, None, None]) -> None:
        task = asyncio.get_running_loop().create_task(connect)
        self._connects.add(task)
        task.add_done_callback(self._connects.discard)

    def slot_freed(self) -> None:
        while self._starved and self.count < MAX_CONNECTIONS:
            lane = self._starved.popleft()
            if lane.waiting:
                lane._serve()

    def went_idle(self, lane: _Lane) -> None:
        if self._starved:   # another address waits for room: this connection makes it
            lane.idle[-1].close()
        now = time.monotonic()
        if now - self._swept > IDLE_SECONDS:   # close what nobody will reuse
            self._swept = now
            for each in list(self.lanes.values()):
                each.sweep(now)
                if not each.open and not each.waiting and not each.connecting:
                    del self.lanes[each.key]

    def close(self) -> None:
        for task in self._connects:
            task.cancel()
        for lane in list(self.lanes.values()):
            lane.close()
        self.lanes.clear()


class Sender:
    """Sends callback bodies; holds the connections, so use it within one event loop."""

    def __init__(self, policy: CallbackPolicy, *, ca_file: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self.timeout = timeout
        self.resolver = resolver or policy.resolve
        self._pool = _Pool(CONNECTIONS_PER_ADDRESS, trust(ca_file), timeout)
        self._lookups: dict[str, asyncio.Future[list[str]]] = {}

    @property
    def connections_opened(self) -> int:
        return self._pool.opened

    async def attempt(self, delivery: Delivery, now: Callable[[], float]) -> Attempt:
        """Send the delivery's next attempt and record it there; ``now`` is the clock the
        retries are scheduled on (the mock's in the dispatcher, the wall's in the CLI).
        The attempt's sent times are when the request was written to the connection (or,
        when it never was, when the attempt gave up)."""
        assert delivery.next_due_at is not None, "the delivery is finished"
        due = delivery.next_due_at
        outcome, written = await self._send(delivery.url, delivery.body, now)
        sent_at, sent_real_at = written or (now(), time.time())
        attempt = Attempt.of(len(delivery.attempts) + 1, due, sent_at, sent_real_at, outcome)
        delivery.record(attempt, now())
        return attempt

    async def send(self, url: str, body: bytes) -> Outcome:
        """POST ``body`` to ``url`` once; never raises for network or policy problems."""
        return (await self._send(url, body, time.time))[0]

    async def _send(self, url: str, body: bytes, now: Callable[[], float]
                    ) -> tuple[Outcome, tuple[float, float] | None]:
        """The deadline (``timeout``) applies to each step on its own: the lookup, the
        connection, and the handler's answer from the moment the request is written (time
        spent waiting for a free connection is queueing, not the handler's)."""
        started = time.perf_counter()
        address: str | None = None
        status: int | None = None
        error: str | None = None
        snippet: str | None = None
        written: list[tuple[float, float, float]] = []   # mock time, wall time, perf counter
        try:
            addresses = await self._resolve(url)
            error = self.policy.refusal_for_addresses(url, addresses)
            if error is None:
                address, status, snippet = await self._post(
                    url, addresses, body, lambda: written.append((now(), time.time(), time.perf_counter())))
        except TimeoutError:
            error = f"no answer within {self.timeout:g} s"
        except (OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        # The latency is the handler's: from the request's write, when it was written.
        began = written[0][2] if written else started
        latency = round((time.perf_counter() - began) * 1000, 3)
        return Outcome(address, status, error, latency, snippet), (written[0][:2] if written else None)

    async def _resolve(self, url: str) -> list[str]:
        """The resolver's answer for the host of ``url``, shared by the attempts asking for
        it at the same time: a burst of 1,000 callbacks to one host is one lookup, not 1,000
        (each attempt still gets an answer looked up after it was due, never a cached one)."""
        if self.resolver == self.policy.resolve and _parse_url(url).ip is not None:
            return await self.resolver(url)   # a numeric host: no lookup to share
        host, port = host_and_port(url)
        name = f"{host}:{port}"
        lookup = self._lookups.get(name)
        if lookup is None:
            lookup = asyncio.ensure_future(asyncio.wait_for(self.resolver(url), self.timeout))
            self._lookups[name] = lookup
            lookup.add_done_callback(lambda _: self._lookups.pop(name, None))
        return list(await asyncio.shield(lookup))

    async def _post(self, url: str, addresses: list[str], body: bytes,
                    on_write: Callable[[], None]) -> tuple[str, int, str]:
        """Try the checked addresses in resolver order until one accepts the connection."""
        scheme, head = _request_head(url)
        host, port = host_and_port(url)
        data = b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)
        loop = asyncio.get_running_loop()
        failure: OSError = OSError(f"{host} did not resolve to any address")
        for address in addresses:
            request = _Request(data, loop.create_future(), on_write)
            self._pool.lane((scheme, address, port, host)).submit(request)
            try:
                status, snippet = await request.future
            except _ConnectFailed as exc:
                failure = exc.cause
                continue
            except asyncio.CancelledError:
                request.abandon()
                raise
            return address, status, snippet.decode("utf-8", "replace")[:SNIPPET_CHARS]
        raise failure

    async def aclose(self) -> None:
        self._pool.close()
