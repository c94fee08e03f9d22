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
import functools
import ssl
import time
from collections import defaultdict
from urllib.parse import quote, urlsplit
from typing import Awaitable, Callable

import certifi
import httptools

from .delivery import Attempt, Delivery, Outcome
from .policy import CallbackPolicy
from .urls import host_and_port, parse_url

Resolver = Callable[[str], Awaitable[list[str]]]
DEFAULT_TIMEOUT = 10.0
SNIPPET_CHARS = 200
USER_AGENT = "evolink-mock-callbacks/1"
# Connections per (scheme, address, port, host). 1,000 requests to one HTTPS handler on
# loopback: 4 connections took ~53 ms of client CPU, 8 took ~41 ms, 16 ~38 ms, while each
# TLS handshake costs ~1.5 ms; 8 keeps a handler busy for few handshakes.
CONNECTIONS_PER_ADDRESS = 8
# Requests on the wire at once, whatever their address; the rest wait their turn. An attempt
# resolves and checks its host before it waits, so the attempts of a burst share one lookup.
MAX_ON_THE_WIRE = 100
# An idle connection is reused only this soon: below the shortest keep-alive timeout of common
# servers (gunicorn 2 s; uvicorn and Node 5 s; nginx 75 s), so the handler has not closed it
# as the request goes out. A POST is never sent twice, so a stale connection would cost a
# failed attempt (and the retry 1 s later).
IDLE_SECONDS = 1.0
# An answer body longer than this is not read to its end: the connection is closed instead.
DRAIN_BYTES = 64 * 1024

PoolKey = tuple[str, str, int, str]   # scheme, checked address, port, host name (SNI, Host)


def trust(ca_file: str | None) -> ssl.SSLContext:
    """System trust (certifi), plus the operator's CA for local HTTPS rehearsals."""
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


@functools.lru_cache(maxsize=4096)
def _request_head(url: str) -> tuple[str, bytes]:
    """The scheme, and the request line and headers up to Content-Length, for a URL the
    policy accepted (so: ASCII-only after IDNA, no userinfo, no whitespace)."""
    host, port = host_and_port(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    # Percent-encode what is not ASCII, as httpx did; existing escapes and delimiters stay.
    target = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                   safe="!#$%&'()*+,/:;=?@[]~")
    name = f"[{host}]" if ":" in host else host
    netloc = name if parts.port is None else f"{name}:{port}"
    return scheme, (f"POST {target} HTTP/1.1\r\nHost: {netloc}\r\nContent-Type: application/json\r\n"
                    f"User-Agent: {USER_AGENT}\r\n").encode("ascii")


class RemoteProtocolError(ConnectionError):
    """The handler closed the connection or answered something that is not HTTP/1.x."""


class _Exchange(asyncio.Protocol):
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


class _Pool:
    """Kept-alive connections per :data:`PoolKey`, at most ``per_key`` open at once."""

    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self._slots: dict[PoolKey, asyncio.Semaphore] = {}
        self._idle: defaultdict[PoolKey, list[_Exchange]] = defaultdict(list)
        self._swept = time.monotonic()
        self.opened = 0   # connections made, for tests and the bench

    def slot(self, key: PoolKey) -> asyncio.Semaphore:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = asyncio.Semaphore(self.per_key)
        return slot

    def take(self, key: PoolKey) -> _Exchange | None:
        """An idle connection of this key that can carry a request now (most recent first)."""
        idle, now = self._idle.get(key), time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.usable(now):
                return connection
            connection.close()
        return None

    def give_back(self, key: PoolKey, connection: _Exchange) -> None:
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


class Sender:
    """Sends callback bodies; holds the connections, so use it within one event loop."""

    def __init__(self, policy: CallbackPolicy, *, ca_file: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self.timeout = timeout
        self.resolver = resolver or policy.resolve
        self._tls = trust(ca_file)
        self._pool = _Pool(CONNECTIONS_PER_ADDRESS)
        self._lookups: dict[str, asyncio.Future[list[str]]] = {}
        self._wire = asyncio.Semaphore(MAX_ON_THE_WIRE)

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
        started = time.perf_counter()
        address: str | None = None
        status: int | None = None
        error: str | None = None
        snippet: str | None = None
        written: list[tuple[float, float]] = []
        waited = 0.0   # for a pooled connection to come free: queueing, not the handler's time
        try:
            async with asyncio.timeout(self.timeout) as deadline:
                async def queue_for(slot: asyncio.Semaphore) -> None:
                    nonlocal waited
                    if not slot.locked():
                        await slot.acquire()
                        return
                    when, started_waiting = deadline.when(), time.perf_counter()
                    deadline.reschedule(None)   # the handler's 10 s start when the request goes out
                    await slot.acquire()
                    waited += time.perf_counter() - started_waiting
                    deadline.reschedule(None if when is None else when + waited)

                addresses = await self._resolve(url)
                error = self.policy.refusal_for_addresses(url, addresses)
                if error is None:
                    address, status, snippet = await self._post(
                        url, addresses, body, lambda: written.append((now(), time.time())), queue_for)
        except TimeoutError:
            error = f"no answer within {self.timeout:g} s"
        except (OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        latency = round((time.perf_counter() - started - waited) * 1000, 3)
        return Outcome(address, status, error, latency, snippet), (written[0] if written else None)

    async def _resolve(self, url: str) -> list[str]:
        """The resolver's answer for the host of ``url``, shared by the attempts asking for
        it at the same time: a burst of 1,000 callbacks to one host is one lookup, not 1,000
        (each attempt still gets an answer looked up after it was due, never a cached one)."""
        if self.resolver == self.policy.resolve and parse_url(url).ip is not None:
            return await self.resolver(url)   # a numeric host: no lookup to share
        name = "%s:%d" % host_and_port(url)
        lookup = self._lookups.get(name)
        if lookup is None:
            lookup = asyncio.ensure_future(self.resolver(url))
            self._lookups[name] = lookup
            lookup.add_done_callback(lambda _: self._lookups.pop(name, None))
        return list(await asyncio.shield(lookup))

    async def _post(self, url: str, addresses: list[str], body: bytes,
                    on_write: Callable[[], None],
                    queue_for: Callable[[asyncio.Semaphore], Awaitable[None]]) -> tuple[str, int, str]:
        """Try the checked addresses in resolver order until one accepts the connection;
        ``queue_for`` takes a turn on one of the address's connections."""
        host, port = host_and_port(url)
        scheme, head = _request_head(url)
        request = b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)
        failure: Exception = OSError(f"{host} did not resolve to any address")
        for address in addresses:
            key = (scheme, address, port, host)
            slot = self._pool.slot(key)
            await queue_for(slot)
            try:
                await queue_for(self._wire)
            except BaseException:
                slot.release()
                raise
            try:
                connection = self._pool.take(key)
                if connection is None:
                    try:
                        connection = await self._connect(key)
                    except OSError as exc:
                        failure = exc
                        continue
                on_write()
                status, snippet, reusable = await connection.request(request)
                if reusable:
                    self._pool.give_back(key, connection)
                return address, status, snippet.decode("utf-8", "replace")[:SNIPPET_CHARS]
            finally:
                self._wire.release()
                slot.release()
        raise failure

    async def _connect(self, key: PoolKey) -> _Exchange:
        scheme, address, port, host = key
        tls = {"ssl": self._tls, "server_hostname": host} if scheme == "https" else {}
        transport, connection = await asyncio.get_running_loop().create_connection(
            _Exchange, address, port, **tls)
        self._pool.opened += 1
        return connection

    async def aclose(self) -> None:
        self._pool.close()
