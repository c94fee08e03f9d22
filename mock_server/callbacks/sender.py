"""One callback POST under the delivery rules: checked addresses, no redirects, a deadline.

The policy judged the URL at create time, but DNS can change (or be made to change)
since; so every attempt resolves the host again, checks *every* address, and connects to
a checked address rather than handing the name to an HTTP client to resolve once more.
The Host header and TLS SNI (and certificate check) still use the URL's host name.

The HTTP client is aiohttp. Its pool keys a connection by (host name, port, TLS), not by
the address it connected to, so one aiohttp connector serves one checked address: its
resolver answers that address and nothing else. An attempt resolves and checks first, then
sends through the connector of a checked address; a pooled connection is thus reused only
by an attempt that checked the same address for the same host name, so reuse never skips
a check, an SNI or a certificate verification.

Connections are kept alive and reused, which is what makes bursts cheap (1,000 callbacks due
at once to one HTTPS handler: 8 TLS handshakes instead of 1,000; bench/results.md).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
import time
from types import SimpleNamespace
from typing import Awaitable, Callable
from urllib.parse import quote, urlsplit

import aiohttp
import certifi
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

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
# Requests on the wire at once, whatever their address; the rest wait their turn. An attempt
# resolves and checks its host before it waits, so the attempts of a burst share one lookup.
MAX_ON_THE_WIRE = 100
# An idle connection is reused only this soon: below the shortest keep-alive timeout of common
# servers (gunicorn 2 s; uvicorn and Node 5 s; nginx 75 s), so the handler has not closed it
# as the request goes out. A POST is never sent twice (aiohttp retries a dropped pooled
# connection only for idempotent methods), so a stale connection would cost a failed attempt.
IDLE_SECONDS = 1.0
# An answer body longer than this is not read to its end: the connection is closed instead.
DRAIN_BYTES = 64 * 1024
# A connector (one per checked address) nobody used for this long is closed: its connections
# are past IDLE_SECONDS anyway, and a long run meets many addresses.
CONNECTOR_IDLE_SECONDS = 60.0

PoolKey = tuple[str, str, int, str]   # scheme, checked address, port, host name (SNI, Host)
_HEADERS = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
# aiohttp adds Accept and Accept-Encoding by itself: the handler should answer plain text,
# whose start is the snippet.
_SKIP_HEADERS = frozenset({"Accept", "Accept-Encoding"})


def trust(ca_file: str | None) -> ssl.SSLContext:
    """System trust (certifi), plus the operator's CA for local HTTPS rehearsals."""
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


@functools.lru_cache(maxsize=4096)
def _request_url(url: str) -> tuple[str, str, int, URL]:
    """(scheme, host, port, the URL to send) for a URL the policy accepted (so: ASCII-only
    after IDNA, no userinfo, no whitespace). The path is sent as written, not normalised."""
    host, port = host_and_port(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    # Percent-encode what is not ASCII, as httpx did; existing escapes and delimiters stay.
    target = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                   safe="!#$%&'()*+,/:;=?@[]~")
    name = f"[{host}]" if ":" in host else host
    netloc = name if parts.port is None else f"{name}:{port}"
    return scheme, host, port, URL(f"{scheme}://{netloc}{target}", encoded=True)


class RemoteProtocolError(ConnectionError):
    """The handler closed the connection or answered something that is not HTTP/1.x."""


class _CheckedAddress(AbstractResolver):
    """The resolver of one connector: every name is the one address the attempt checked."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [{"hostname": host, "host": self.address, "port": port, "family": self.family,
                 "proto": 0, "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV}]

    async def close(self) -> None:
        return None


async def _headers_sent(session: aiohttp.ClientSession, context: SimpleNamespace,
                        params: aiohttp.TraceRequestHeadersSentParams) -> None:
    context.trace_request_ctx()   # the attempt's on_write: the request went out now


class _Connector:
    """The aiohttp session of one checked address, and when it was last used."""

    def __init__(self, address: str, tls: ssl.SSLContext, tracing: aiohttp.TraceConfig) -> None:
        connector = aiohttp.TCPConnector(
            resolver=_CheckedAddress(address), use_dns_cache=False, ssl=tls,
            limit=0, limit_per_host=CONNECTIONS_PER_ADDRESS, keepalive_timeout=IDLE_SECONDS)
        # No client timeout here: the attempt's deadline (Sender._send) covers the exchange.
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None),
            headers=_HEADERS, skip_auto_headers=_SKIP_HEADERS, auto_decompress=False,
            trace_configs=[tracing], cookie_jar=aiohttp.DummyCookieJar())
        self.used = time.monotonic()
        self.busy = 0


class Sender:
    """Sends callback bodies; holds the connections, so use it within one event loop."""

    def __init__(self, policy: CallbackPolicy, *, ca_file: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self.timeout = timeout
        self.resolver = resolver or policy.resolve
        self._tls = trust(ca_file)
        self._tracing = aiohttp.TraceConfig()
        self._tracing.on_request_headers_sent.append(_headers_sent)
        self._tracing.freeze()
        self._connectors: dict[str, _Connector] = {}
        self._swept = time.monotonic()
        # Our turn on one of a key's connections is taken before aiohttp sees the request, with
        # as many turns as aiohttp's limit_per_host: aiohttp never queues, and the wait stays
        # outside the answer deadline (Sender._send).
        self._slots: dict[PoolKey, asyncio.Semaphore] = {}
        self._lookups: dict[str, asyncio.Future[list[str]]] = {}
        self._wire = asyncio.Semaphore(MAX_ON_THE_WIRE)

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
        except aiohttp.ServerDisconnectedError:
            error = "RemoteProtocolError: the handler closed the connection without an answer"
        except aiohttp.ClientResponseError as exc:   # aiohttp's parser refused the answer
            error = f"RemoteProtocolError: not an HTTP/1.1 answer: {exc.message}"
        except (OSError, ValueError, aiohttp.ClientError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        latency = round((time.perf_counter() - started - waited) * 1000, 3)
        return Outcome(address, status, error, latency, snippet), (written[0] if written else None)

    async def _resolve(self, url: str) -> list[str]:
        """The resolver's answer for the host of ``url``, shared by the attempts asking for
        it at the same time: a burst of 1,000 callbacks to one host is one lookup, not 1,000
        (each attempt still gets an answer looked up after it was due, never a cached one)."""
        if self.resolver == self.policy.resolve and _parse_url(url).ip is not None:
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
        scheme, host, port, target = _request_url(url)
        failure: Exception = OSError(f"{host} did not resolve to any address")
        for address in addresses:
            key = (scheme, address, port, host)
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = asyncio.Semaphore(CONNECTIONS_PER_ADDRESS)
            await queue_for(slot)
            try:
                await queue_for(self._wire)
            except BaseException:
                slot.release()
                raise
            connector = self._connector(address)
            connector.busy += 1
            try:
                async with connector.session.post(target, data=body, allow_redirects=False,
                                                  trace_request_ctx=on_write) as answer:
                    return address, answer.status, await _snippet(answer)
            except aiohttp.ClientConnectorError as exc:   # nothing was sent (refused, TLS): next address
                failure = exc
            finally:
                connector.busy -= 1
                connector.used = time.monotonic()
                self._wire.release()
                slot.release()
        raise failure

    def _connector(self, address: str) -> _Connector:
        connector = self._connectors.get(address)
        if connector is None:
            connector = self._connectors[address] = _Connector(address, self._tls, self._tracing)
        now = time.monotonic()
        if now - self._swept > CONNECTOR_IDLE_SECONDS:
            self._swept = now
            for other, idle in list(self._connectors.items()):
                if idle.busy == 0 and now - idle.used > CONNECTOR_IDLE_SECONDS:
                    del self._connectors[other]
                    asyncio.ensure_future(idle.session.close())
        return connector

    async def aclose(self) -> None:
        connectors, self._connectors = list(self._connectors.values()), {}
        for connector in connectors:
            await connector.session.close()


async def _snippet(answer: aiohttp.ClientResponse) -> str:
    """The start of the answer body; a body longer than DRAIN_BYTES is not read to its end,
    and its connection is closed rather than pooled."""
    start, read = bytearray(), 0
    while chunk := await answer.content.read(DRAIN_BYTES):
        read += len(chunk)
        if len(start) < SNIPPET_CHARS * 4:
            start += chunk[:SNIPPET_CHARS * 4 - len(start)]
        if read > DRAIN_BYTES:
            answer.close()
            break
    return bytes(start).decode("utf-8", "replace")[:SNIPPET_CHARS]
