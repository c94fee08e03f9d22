"""Which ``callback_url`` values the mock accepts, and where it may deliver.

The vendor documents three rules for ``callback_url``: HTTPS only, at most 2048 characters,
and no internal addresses. A mock that POSTs to whatever URL a client sends is a server-side
request forgery tool, so the policy applies those rules strictly and closes the usual bypasses:
the URL is read by :mod:`.urls` (conservatively, refusing what parsers disagree on), its host
judged by :mod:`.addresses` (an explicit table of internal ranges and names). Internal names
and addresses are refused at create time; at delivery the host is resolved again and *every*
address is checked, which catches public-looking names that resolve (or rebind) to internal
addresses. The sender (:mod:`.sender`) connects to an address it checked.

Operators can opt specific hosts back in (``--allow-callback-host localhost:8443``) for
local rehearsals; see :class:`.urls.AllowedHost`.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .addresses import address, address_problem, amend, name_problem
from .urls import DEFAULT_PORTS, EXAMPLE, AllowedHost, Refused, Target, parse_url

# Lookups run on threads of our own: uvloop's ``getaddrinfo`` shares libuv's process-wide
# pool of 4 threads, and a few slow lookups of fuzzed hosts (5 s each without a resolver)
# would stall every other loop in the process, server start-up included.
_RESOLVER = ThreadPoolExecutor(max_workers=8, thread_name_prefix="evolink-mock-dns")


@dataclass(frozen=True)
class CallbackPolicy:
    """The vendor's callback URL rules plus operator opt-ins (``allowed_hosts``)."""

    allowed_hosts: tuple[AllowedHost, ...] = ()
    max_length: int = 2048
    # The system resolver, called on ``_RESOLVER``'s threads; tests hand in a fake one.
    getaddrinfo: Callable[..., list[Any]] = field(default=socket.getaddrinfo, repr=False)

    def refusal_at_create(self, url: str) -> str | None:
        """Why ``url`` is not acceptable as a ``callback_url``, or ``None`` if it is.

        Purely syntactic plus address/name classification; no DNS. Allowed hosts
        skip the scheme and internal-address checks, nothing else.
        """
        if not isinstance(url, str):
            return "callback_url must be a string"
        if not url:
            return f"callback_url must not be empty; expected an https URL such as {EXAMPLE}"
        if len(url) > self.max_length:
            return f"callback_url is longer than {self.max_length} characters (got {len(url)})"
        try:
            target = parse_url(url)
        except Refused as exc:
            return str(exc)
        if target.ip is not None and not target.canonical_numeric:
            problem = address_problem(target.ip)
            if problem:
                return f"callback_url points to {amend(problem, f'written as {target.raw_host}')}"
            return (
                f"callback_url host {target.raw_host} is an IP address in a non-standard form; "
                f"write it as {target.ip}"
            )
        if self._allowed(target):
            return None
        if target.scheme != "https":
            return f"callback_url must use https (got {target.scheme}:)"
        if target.ip is not None:
            problem = address_problem(target.ip)
            return f"callback_url points to {problem}" if problem else None
        return name_problem(target.host)

    def refusal_for_addresses(self, url: str, addresses: Iterable[str]) -> str | None:
        """Delivery-time check: ``url`` again, then every address its host resolved to.

        One internal address among public ones is enough to refuse: the
        resolver's order (or a rebinding DNS server) decides which is used.
        """
        reason = self.refusal_at_create(url)
        if reason is not None:
            return reason
        target = parse_url(url)
        if self._allowed(target):
            return None
        addresses = list(addresses)
        if not addresses:
            return f"callback_url host {target.host} did not resolve to any address"
        for text in addresses:
            try:
                ip = address(text)
            except ValueError:
                return f"callback_url host {target.host} resolved to something that is not an IP address"
            problem = address_problem(ip)
            if problem:
                return f"callback_url host {target.host} resolves to {problem}; refusing to deliver"
        return None

    async def resolve(self, url: str) -> list[str]:
        """All addresses (A and AAAA) of the URL's host, in resolver order, deduplicated.

        Numeric hosts are returned normalised without touching DNS. Resolver errors
        (``socket.gaierror``) propagate. Raises ``ValueError`` if the URL cannot be parsed.
        """
        target = parse_url(url)
        if target.ip is not None:
            return [str(target.ip)]
        lookup = functools.partial(self.getaddrinfo, target.host, target.port,
                                   type=socket.SOCK_STREAM)
        infos = await asyncio.get_running_loop().run_in_executor(_RESOLVER, lookup)
        result: list[str] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            found = str(ipaddress.ip_address(sockaddr[0]))
            if found not in result:
                result.append(found)
        return result

    def _allowed(self, target: Target) -> bool:
        if target.scheme not in DEFAULT_PORTS:
            return False
        return any(allowed.matches(target.host, target.port) for allowed in self.allowed_hosts)
