"""One callback POST under the delivery rules: checked addresses, no redirects, a deadline.

The policy judged the URL at create time, but DNS can change (or be made to change)
since; so every attempt resolves the host again, checks *every* address, and connects to
a checked address rather than handing the name to an HTTP client to resolve once more.
The Host header and TLS SNI (and certificate check) still use the URL's host name. The
connections themselves, kept alive per checked address, are pool.py's.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable

import certifi

from .connections import SNIPPET_CHARS, Request, request_head
from .delivery import Attempt, Delivery, Outcome
from .policy import CallbackPolicy, _parse_url, host_and_port
from .pool import CONNECTIONS_PER_ADDRESS, MAX_CONNECTIONS, ConnectFailed, Pool

Resolver = Callable[[str], Awaitable[list[str]]]
DEFAULT_TIMEOUT = 10.0


def trust(ca_file: str | None) -> ssl.SSLContext:
    """System trust (certifi), plus the operator's CA for local HTTPS rehearsals."""
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


class Sender:
    """Sends callback bodies; holds the connections, so use it within one event loop."""

    def __init__(self, policy: CallbackPolicy, *, ca_file: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, resolver: Resolver | None = None,
                 connections_per_address: int = CONNECTIONS_PER_ADDRESS,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.policy = policy
        self.timeout = timeout
        self.resolver = resolver or policy.resolve
        self._pool = Pool(trust(ca_file), timeout, per_key=connections_per_address,
                          most=max_connections)
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
        scheme, head = request_head(url)
        host, port = host_and_port(url)
        data = b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)
        loop = asyncio.get_running_loop()
        failure: OSError = OSError(f"{host} did not resolve to any address")
        for address in addresses:
            request = Request(data, loop.create_future(), on_write)
            self._pool.lane((scheme, address, port, host)).submit(request)
            try:
                status, snippet = await request.future
            except ConnectFailed as exc:
                failure = exc.cause
                continue
            except asyncio.CancelledError:
                request.abandon()
                raise
            return address, status, snippet.decode("utf-8", "replace")[:SNIPPET_CHARS]
        raise failure

    async def aclose(self) -> None:
        self._pool.close()
