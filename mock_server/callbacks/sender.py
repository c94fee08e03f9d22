"""One callback POST under the delivery rules: checked addresses, no redirects, a deadline.

The policy judged the URL at create time, but DNS can change (or be made to change)
since; so every attempt resolves the host again, checks *every* address, and connects to
a checked address rather than handing the name to the HTTP client to resolve once more.
The Host header and TLS SNI (and certificate check) still use the URL's host name.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Awaitable, Callable

import certifi
import httpx

from .delivery import Attempt, Delivery, Outcome
from .policy import CallbackPolicy, host_and_port

Resolver = Callable[[str], Awaitable[list[str]]]
DEFAULT_TIMEOUT = 10.0
SNIPPET_CHARS = 200
USER_AGENT = "evolink-mock-callbacks/1"


def trust(ca_file: str | None) -> ssl.SSLContext:
    """System trust (certifi), plus the operator's CA for local HTTPS rehearsals."""
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


class Sender:
    """Sends callback bodies; holds the HTTP client, so use it within one event loop.

    Connections are not kept alive: a pooled connection is keyed by address, and reusing
    it for another host name on the same address would skip that name's SNI and check.
    """

    def __init__(self, policy: CallbackPolicy, *, ca_file: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self.timeout = timeout
        self.resolver = resolver or policy.resolve
        self._client = httpx.AsyncClient(
            verify=trust(ca_file), trust_env=False, follow_redirects=False, timeout=None,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=0))

    async def attempt(self, delivery: Delivery, now: Callable[[], float]) -> Attempt:
        """Send the delivery's next attempt and record it there; ``now`` is the clock the
        retries are scheduled on (the mock's in the dispatcher, the wall's in the CLI)."""
        assert delivery.next_due_at is not None, "the delivery is finished"
        due, sent_at, sent_real_at = delivery.next_due_at, now(), time.time()
        outcome = await self.send(delivery.url, delivery.body)
        attempt = Attempt.of(len(delivery.attempts) + 1, due, sent_at, sent_real_at, outcome)
        delivery.record(attempt, now())
        return attempt

    async def send(self, url: str, body: bytes) -> Outcome:
        """POST ``body`` to ``url`` once; never raises for network or policy problems."""
        started = time.perf_counter()
        address: str | None = None
        status: int | None = None
        error: str | None = None
        snippet: str | None = None
        try:
            async with asyncio.timeout(self.timeout):
                addresses = await self.resolver(url)
                error = self.policy.refusal_for_addresses(url, addresses)
                if error is None:
                    address, status, snippet = await self._post(url, addresses, body)
        except TimeoutError:
            error = f"no answer within {self.timeout:g} s"
        except (httpx.HTTPError, OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        latency = round((time.perf_counter() - started) * 1000, 3)
        return Outcome(address, status, error, latency, snippet)

    async def _post(self, url: str, addresses: list[str], body: bytes) -> tuple[str, int, str]:
        """Try the checked addresses in resolver order until one accepts the connection."""
        host, _port = host_and_port(url)
        target = httpx.URL(url)
        failure: Exception = OSError(f"{host} did not resolve to any address")
        for address in addresses:
            request = self._client.build_request(
                "POST", target.copy_with(host=address), content=body,
                headers={"Host": target.netloc.decode("ascii"),
                         "Content-Type": "application/json", "User-Agent": USER_AGENT},
                extensions={"sni_hostname": host})
            try:
                response = await self._client.send(request, stream=True)
            except httpx.ConnectError as exc:
                failure = exc
                continue
            try:
                return address, response.status_code, await _prefix(response)
            finally:
                await response.aclose()
        raise failure

    async def aclose(self) -> None:
        await self._client.aclose()


async def _prefix(response: httpx.Response) -> str:
    """The start of the answer, without reading an arbitrarily large body."""
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= SNIPPET_CHARS * 4:
            break
    return data.decode("utf-8", "replace")[:SNIPPET_CHARS]
