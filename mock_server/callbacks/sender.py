"""One callback POST under the delivery rules: checked addresses, no redirects, a deadline.

The policy judged the URL at create time, but DNS can change (or be made to change)
since; so every attempt resolves the host again, checks *every* address, and connects to
a checked address rather than handing the name to an HTTP client to resolve once more.
The Host header and TLS SNI (and certificate check) still use the URL's host name. The
connections themselves, kept alive per checked address, are pool.py's.

An attempt is a :class:`Flight`: a small object the lookup, the lane and the connection call
back, step by step, until it is answered or given up; no asyncio task, coroutine chain or
future of its own. In a burst of 1,000 the task per attempt (with its awaited future, the
shielded lookup and the coroutines under it) was ~30 live container objects per waiting
callback, scanned by each young garbage collection, and a loop turn per step.
``attempt`` and ``send`` wrap it for callers that await (the CLI, the replicas' dispatcher).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable

import certifi

from ..domain.delivery import Attempt, Delivery, Outcome
from .connections import SNIPPET_CHARS, Answer, Request, request_head
from .policy import CallbackPolicy
from .pool import CONNECTIONS_PER_ADDRESS, MAX_CONNECTIONS, ConnectFailed, Pool
from .urls import host_and_port, parse_url

Resolver = Callable[[str], Awaitable[list[str]]]
DEFAULT_TIMEOUT = 10.0


def trust(ca_file: str | None) -> ssl.SSLContext:
    """System trust (certifi), plus the operator's CA for local HTTPS rehearsals."""
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


class Flight(Request):
    """One POST in progress: the lookup, then the checked addresses in resolver order until
    one accepts the connection, then the answer. ``done(flight)`` is called once, with
    ``outcome`` (and, for a delivery's attempt, ``attempt``) set, unless it is abandoned.

    The deadline (the sender's ``timeout``) applies to each step on its own: the lookup, the
    connection, and the handler's answer from the moment the request is written (time spent
    waiting for a free connection is queueing, not the handler's)."""

    __slots__ = ("addresses", "attempt", "delivery", "done", "failure", "index", "now",
                 "outcome", "route", "sender", "started", "url", "wrote")

    def __init__(self, sender: Sender, url: str, body: bytes, now: Callable[[], float],
                 done: Callable[[Flight], None], delivery: Delivery | None = None) -> None:
        super().__init__(body)   # the whole request once the addresses are known
        self.sender, self.url, self.now, self.done, self.delivery = sender, url, now, done, delivery
        self.route: tuple[str, int, str] = ("", 0, "")   # scheme, port, host: the lane's, but the address
        self.started = time.perf_counter()
        self.addresses: list[str] = []
        self.index = 0
        self.failure: OSError | None = None
        self.wrote: tuple[float, float, float] | None = None   # mock time, wall time, perf counter
        self.outcome: Outcome | None = None
        self.attempt: Attempt | None = None

    # --- the steps ---------------------------------------------------------------------------

    def begin(self) -> None:
        try:
            lookup = self.sender.lookup(self.url)
        except ValueError as exc:
            self.finish(error=_describe(exc, self.sender.timeout))
            return
        if isinstance(lookup, list):
            self.resolved(lookup)
        elif lookup.done():
            self.looked_up(lookup)
        else:
            lookup.add_done_callback(self.looked_up)

    def looked_up(self, lookup: asyncio.Future[list[str]]) -> None:
        if self.settled:
            return
        if lookup.cancelled():   # the sender is closing: nobody waits for this answer
            self.settled = True
            return
        error = lookup.exception()
        if error is not None:
            self.finish(error=_describe(error, self.sender.timeout))
        else:
            self.resolved(list(lookup.result()))

    def resolved(self, addresses: list[str]) -> None:
        """Check every address, then try them in resolver order."""
        self.addresses = addresses
        try:
            refusal = self.sender.policy.refusal_for_addresses(self.url, addresses)
        except ValueError as exc:
            refusal = _describe(exc, self.sender.timeout)
        if refusal is not None:
            self.finish(error=refusal)
            return
        host, port = host_and_port(self.url)
        if not addresses:
            self.finish(error=f"OSError: {host} did not resolve to any address")
            return
        scheme, head = request_head(self.url)
        self.route = (scheme, port, host)
        self.data = b"%sContent-Length: %d\r\n\r\n%s" % (head, len(self.data), self.data)
        self._submit()

    def _submit(self) -> None:
        scheme, port, host = self.route
        self.connection = None
        self.sender.pool.lane((scheme, self.addresses[self.index], port, host)).submit(self)

    def written(self) -> None:
        if self.wrote is None:
            self.wrote = (self.now(), time.time(), time.perf_counter())

    def answered(self, answer: Answer) -> None:
        status, snippet = answer
        self.finish(address=self.addresses[self.index], status=status,
                    snippet=snippet.decode("utf-8", "replace")[:SNIPPET_CHARS])

    def failed(self, error: BaseException) -> None:
        if isinstance(error, ConnectFailed):   # never written: the host's next address
            self.failure = error.cause
            self.index += 1
            if self.index < len(self.addresses):
                self._submit()
                return
            error = self.failure
        self.finish(error=_describe(error, self.sender.timeout))

    def finish(self, *, address: str | None = None, status: int | None = None,
               error: str | None = None, snippet: str | None = None) -> None:
        """The latency is the handler's: from the request's write, when it was written."""
        self.settled = True
        began = self.wrote[2] if self.wrote is not None else self.started
        latency = round((time.perf_counter() - began) * 1000, 3)
        self.outcome = Outcome(address, status, error, latency, snippet)
        delivery = self.delivery
        if delivery is not None:
            assert delivery.next_due_at is not None, "the delivery is finished"
            sent_at, sent_real_at = self.wrote[:2] if self.wrote is not None else (self.now(), time.time())
            self.attempt = Attempt.of(len(delivery.attempts) + 1, delivery.next_due_at, sent_at,
                                      sent_real_at, self.outcome)
            delivery.record(self.attempt, self.now())
        self.done(self)


def _describe(error: BaseException, timeout: float) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class Sender:
    """Sends callback bodies; holds the connections, so use it within one event loop."""

    def __init__(self, policy: CallbackPolicy, *, ca_file: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, resolver: Resolver | None = None,
                 connections_per_address: int = CONNECTIONS_PER_ADDRESS,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.policy = policy
        self.timeout = timeout
        self.resolver = resolver or policy.resolve
        self.pool = Pool(trust(ca_file), timeout, per_key=connections_per_address,
                         most=max_connections)
        self._lookups: dict[str, asyncio.Future[list[str]]] = {}

    @property
    def connections_opened(self) -> int:
        return self.pool.opened

    def start_attempt(self, delivery: Delivery, now: Callable[[], float],
                      done: Callable[[Flight], None]) -> Flight:
        """Send the delivery's next attempt; ``done(flight)`` once it is recorded on the
        delivery (``flight.attempt``), possibly before this returns (a refused address).
        ``now`` is the clock the retries are scheduled on (the mock's in the dispatcher, the
        wall's in the CLI). The attempt's sent times are when the request was written to the
        connection (or, when it never was, when the attempt gave up)."""
        assert delivery.next_due_at is not None, "the delivery is finished"
        flight = Flight(self, delivery.url, delivery.body, now, done, delivery)
        flight.begin()
        return flight

    async def attempt(self, delivery: Delivery, now: Callable[[], float]) -> Attempt:
        """``start_attempt``, awaited."""
        assert delivery.next_due_at is not None, "the delivery is finished"
        flight = await self._fly(delivery.url, delivery.body, now, delivery)
        assert flight.attempt is not None
        return flight.attempt

    async def send(self, url: str, body: bytes) -> Outcome:
        """POST ``body`` to ``url`` once; never raises for network or policy problems."""
        flight = await self._fly(url, body, time.time)
        assert flight.outcome is not None
        return flight.outcome

    async def _fly(self, url: str, body: bytes, now: Callable[[], float],
                   delivery: Delivery | None = None) -> Flight:
        finished: asyncio.Future[Flight] = asyncio.get_running_loop().create_future()

        def done(flight: Flight) -> None:
            if not finished.done():   # cancelled: the awaiting task abandons the flight next
                finished.set_result(flight)

        flight = Flight(self, url, body, now, done, delivery)
        flight.begin()
        try:
            return await finished
        except asyncio.CancelledError:
            flight.abandon()
            raise

    def lookup(self, url: str) -> list[str] | asyncio.Future[list[str]]:
        """The addresses of the host of ``url``: at once for a numeric host, else the
        resolver's answer to come, shared by the attempts asking for it at the same time: a
        burst of 1,000 callbacks to one host is one lookup, not 1,000 (each attempt still gets
        an answer looked up after it was due, never a cached one). Raises ``ValueError`` for a
        URL that does not parse."""
        target = parse_url(url)
        if self.resolver == self.policy.resolve and target.ip is not None:
            return [str(target.ip)]
        name = f"{target.host}:{target.port}"
        lookup = self._lookups.get(name)
        if lookup is None:
            lookup = asyncio.ensure_future(asyncio.wait_for(self.resolver(url), self.timeout))
            self._lookups[name] = lookup
            lookup.add_done_callback(lambda _: self._lookups.pop(name, None))
        return lookup

    async def aclose(self) -> None:
        for lookup in list(self._lookups.values()):
            lookup.cancel()
        self.pool.close()
