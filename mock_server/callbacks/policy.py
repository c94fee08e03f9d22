"""Which ``callback_url`` values the mock accepts, and where it may deliver.

The vendor documents three rules for ``callback_url``: HTTPS only, at most
2048 characters, and no internal addresses. A mock that POSTs to whatever URL
a client sends is a server-side request forgery tool, so this module applies
those rules strictly and closes the usual bypasses:

* The URL is parsed here, conservatively, instead of trusting one of several
  URL parsers that disagree on edge cases. Anything that parsers treat
  differently (userinfo, backslashes, whitespace, percent-encoded or other odd
  host characters, IPv6 zone ids, empty ports) is refused rather than
  interpreted.
* Numeric hosts are read the way ``inet_aton``/``getaddrinfo`` and browsers
  read them (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``). Only
  plain dotted-decimal is accepted; any other numeric spelling is refused even
  when it denotes a public address, because parsers disagree on it
  (``010.8.8.8`` is 8.8.8.8 to ``inet_aton`` and 10.8.8.8 to a decimal one).
* Addresses are judged with an explicit table on top of
  ``ipaddress.is_global``, which misses multicast, site-local and the IPv4
  embedded in IPv4-mapped, IPv4-compatible, NAT64 and 6to4 IPv6 addresses.
* Names that are internal by definition (``localhost``, ``*.internal``,
  ``*.local``, ...) and single-label names (resolved through the resolver's
  search list, i.e. into the private network) are refused at create time.
* At delivery the host is resolved again and *every* address is checked,
  which catches public-looking names that resolve (or rebind) to internal
  addresses. The dispatcher should connect to an address it checked.

Unicode hosts are converted with Python's ``idna`` codec (IDNA 2003 with
nameprep) and the ASCII result is checked, so full-width tricks such as
``ｌｏｃａｌｈｏｓｔ`` end up as ``localhost`` and are refused.

Operators can opt specific hosts back in (``--allow-callback-host
localhost:8443``) for local rehearsals; see :class:`AllowedHost`.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NoReturn

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"https": 443, "http": 80}

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):", re.ASCII)
_HOST_CHARS = re.compile(r"[a-z0-9_.-]+", re.ASCII)
_PORT = re.compile(r"[0-9]{1,5}", re.ASCII)
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+", re.ASCII)
_EXAMPLE = "https://hooks.example.com/evolink"

_N4 = ipaddress.IPv4Network
_N6 = ipaddress.IPv6Network

# Checked in order; the first match names the problem. Broadcast precedes 240/4.
_V4_RANGES: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_N4("0.0.0.0/8"), 'an unspecified ("this network") address'),
    (_N4("127.0.0.0/8"), "a loopback address"),
    (_N4("10.0.0.0/8"), "a private address"),
    (_N4("172.16.0.0/12"), "a private address"),
    (_N4("192.168.0.0/16"), "a private address"),
    (_N4("100.64.0.0/10"), "a carrier-grade NAT (shared) address"),
    (_N4("169.254.0.0/16"), "a link-local address"),
    (_N4("192.0.0.0/24"), "an IETF protocol assignment address"),
    (_N4("192.0.2.0/24"), "a documentation address"),
    (_N4("198.51.100.0/24"), "a documentation address"),
    (_N4("203.0.113.0/24"), "a documentation address"),
    (_N4("198.18.0.0/15"), "a benchmarking address"),
    (_N4("224.0.0.0/4"), "a multicast address"),
    (_N4("255.255.255.255/32"), "the broadcast address"),
    (_N4("240.0.0.0/4"), "a reserved address"),
)

_V6_RANGES: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_N6("::/128"), "the unspecified address"),
    (_N6("::1/128"), "a loopback address"),
    (_N6("64:ff9b:1::/48"), "a local-use NAT64 address"),
    (_N6("fe80::/10"), "a link-local address"),
    (_N6("fec0::/10"), "a site-local address"),
    (_N6("fc00::/7"), "a unique local (private) address"),
    (_N6("ff00::/8"), "a multicast address"),
    (_N6("2001:db8::/32"), "a documentation address"),
    (_N6("100::/64"), "a discard-only address"),
)

_MAPPED = _N6("::ffff:0:0/96")
_COMPATIBLE = _N6("::/96")
_TRANSLATED = _N6("::ffff:0:0:0/96")  # SIIT "IPv4-translated" (RFC 2765)
_NAT64 = _N6("64:ff9b::/96")
_SIXTOFOUR = _N6("2002::/16")

# Domain suffixes that never name a public host. ``localhost`` and ``.local``
# etc. come from RFC 6761/6762/8375 and ICANN's ``.internal`` reservation;
# ``.test``/``.example``/``.invalid`` never resolve publicly; ``.arpa`` holds
# infrastructure records, not web hooks.
_INTERNAL_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("localhost", "is a loopback name"),
    ("localdomain", "is a local-only name"),
    ("local", "is a multicast-DNS (local network) name"),
    ("internal", "is a private-use name (.internal)"),
    ("home.arpa", "is a home-network name (.home.arpa)"),
    ("arpa", "is an infrastructure name (.arpa)"),
    ("test", "is a special-use name (.test) that does not exist on the public internet"),
    ("example", "is a special-use name (.example) that does not exist on the public internet"),
    ("invalid", "is a special-use name (.invalid) that does not exist on the public internet"),
    ("onion", "is a Tor onion name (.onion)"),
)


class _Refused(ValueError):
    """A URL that cannot be judged; ``str(exc)`` is the reason for the API user."""


# Lookups run on threads of our own: uvloop's ``getaddrinfo`` shares libuv's process-wide
# pool of 4 threads, and a few slow lookups of fuzzed hosts (5 s each without a resolver)
# would stall every other loop in the process, server start-up included.
_RESOLVER = ThreadPoolExecutor(max_workers=8, thread_name_prefix="evolink-mock-dns")


@dataclass(frozen=True)
class AllowedHost:
    """A host the operator opted in for delivery, e.g. for a local rehearsal.

    ``host`` is canonical: lower-case ASCII (IDNA-encoded), without trailing
    dot, IPv6 without brackets. ``port`` ``None`` allows any port; otherwise it
    is compared with the URL's effective port (explicit, or 443/80 by scheme).
    """

    host: str
    port: int | None

    def matches(self, host: str, port: int) -> bool:
        """Whether a canonical host and effective port are covered by this entry."""
        return self.host == host and (self.port is None or self.port == port)


@dataclass(frozen=True)
class _Target:
    """A parsed callback URL: canonical host, effective port, IP if numeric."""

    scheme: str
    host: str
    port: int
    ip: IPAddress | None
    raw_host: str
    canonical_numeric: bool  # False for 0x7f.1, 2130706433, 127.0.0.1. ...


def parse_allowed_host(text: str) -> AllowedHost:
    """Parse ``HOST[:PORT]`` or ``[IPv6][:PORT]`` (the CLI's ``--allow-callback-host``).

    Raises ``ValueError`` with a readable message on anything else, including
    URLs (``http://...``) and unbracketed IPv6, whose port would be ambiguous.
    """
    text = text.strip()
    if not text:
        raise ValueError("allowed callback host is empty; expected HOST[:PORT]")
    if "/" in text or "@" in text:
        raise ValueError(f"allowed callback host {text!r} is not HOST[:PORT] (no scheme, path or user)")
    if not text.startswith("[") and text.count(":") > 1:
        raise ValueError(f"IPv6 allowed host {text!r} must be bracketed, e.g. [::1]:8443")
    try:
        host, port, ip, _raw, canonical = _parse_host_port(text)
    except _Refused as exc:
        raise ValueError(f"allowed callback host {text!r}: {exc}") from None
    if ip is not None and not canonical:
        raise ValueError(f"allowed callback host {text!r}: write the address as {ip}")
    return AllowedHost(host, port)


def host_and_port(url: str) -> tuple[str, int]:
    """Canonical ASCII host (IPv6 unbracketed) and effective port of ``url``.

    This is the host the policy judged; the dispatcher should resolve and
    connect to exactly this. Raises ``ValueError`` if the URL cannot be parsed.
    """
    target = _parse_url(url)
    return target.host, target.port


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
            return f"callback_url must not be empty; expected an https URL such as {_EXAMPLE}"
        if len(url) > self.max_length:
            return f"callback_url is longer than {self.max_length} characters (got {len(url)})"
        try:
            target = _parse_url(url)
        except _Refused as exc:
            return str(exc)
        if target.ip is not None and not target.canonical_numeric:
            problem = _address_problem(target.ip)
            if problem:
                return f"callback_url points to {_amend(problem, f'written as {target.raw_host}')}"
            return (
                f"callback_url host {target.raw_host} is an IP address in a non-standard form; "
                f"write it as {target.ip}"
            )
        if self._allowed(target):
            return None
        if target.scheme != "https":
            return f"callback_url must use https (got {target.scheme}:)"
        if target.ip is not None:
            problem = _address_problem(target.ip)
            return f"callback_url points to {problem}" if problem else None
        return _name_problem(target.host)

    def refusal_for_addresses(self, url: str, addresses: Iterable[str]) -> str | None:
        """Delivery-time check: ``url`` again, then every address its host resolved to.

        One internal address among public ones is enough to refuse: the
        resolver's order (or a rebinding DNS server) decides which is used.
        """
        reason = self.refusal_at_create(url)
        if reason is not None:
            return reason
        target = _parse_url(url)
        if self._allowed(target):
            return None
        addresses = list(addresses)
        if not addresses:
            return f"callback_url host {target.host} did not resolve to any address"
        for text in addresses:
            try:
                ip = _address(text)
            except ValueError:
                return f"callback_url host {target.host} resolved to something that is not an IP address"
            problem = _address_problem(ip)
            if problem:
                return f"callback_url host {target.host} resolves to {problem}; refusing to deliver"
        return None

    async def resolve(self, url: str) -> list[str]:
        """All addresses (A and AAAA) of the URL's host, in resolver order, deduplicated.

        Numeric hosts are returned normalised without touching DNS. Resolver errors
        (``socket.gaierror``) propagate. Raises ``ValueError`` if the URL cannot be parsed.
        """
        target = _parse_url(url)
        if target.ip is not None:
            return [str(target.ip)]
        lookup = functools.partial(self.getaddrinfo, target.host, target.port,
                                   type=socket.SOCK_STREAM)
        infos = await asyncio.get_running_loop().run_in_executor(_RESOLVER, lookup)
        result: list[str] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            address = str(ipaddress.ip_address(sockaddr[0]))
            if address not in result:
                result.append(address)
        return result

    def _allowed(self, target: _Target) -> bool:
        if target.scheme not in DEFAULT_PORTS:
            return False
        return any(allowed.matches(target.host, target.port) for allowed in self.allowed_hosts)


@functools.lru_cache(maxsize=4096)   # a pure function, asked 3-4 times per delivery attempt
def _parse_url(url: str) -> _Target:
    """Split ``scheme://host[:port][/path][?query][#fragment]``, refusing ambiguity."""
    for char in url:
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Cs"):
            _fail("callback_url must not contain whitespace or control characters")
    if "\\" in url:
        _fail("callback_url must not contain backslashes")
    match = _SCHEME.match(url)
    if not match:
        _fail(f"callback_url must be an absolute https URL such as {_EXAMPLE}")
    scheme = match.group(1).lower()
    if scheme not in DEFAULT_PORTS:
        _fail(f"callback_url must use https (got {scheme}:)")
    rest = url[match.end():]
    if not rest.startswith("//"):
        _fail(f"callback_url must be an absolute https URL such as {_EXAMPLE}")
    authority = re.split(r"[/?#]", rest[2:], maxsplit=1)[0]
    if "@" in authority:
        _fail("callback_url must not contain user information (a 'user@' or 'user:password@' part)")
    host, port, ip, raw, canonical = _parse_host_port(authority)
    return _Target(scheme, host, port if port is not None else DEFAULT_PORTS[scheme], ip, raw, canonical)


def _parse_host_port(authority: str) -> tuple[str, int | None, IPAddress | None, str, bool]:
    """Canonical host, explicit port, IP (if numeric), raw host, canonical-numeric flag."""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            _fail("callback_url has an unclosed '[' in the host")
        raw, port_text = authority[1:end], authority[end + 1:]
        if port_text and not port_text.startswith(":"):
            _fail("callback_url has unexpected characters after the bracketed IPv6 address")
        if "%" in raw:
            _fail("callback_url host must not contain an IPv6 zone id or percent-encoding")
        try:
            ip6 = ipaddress.IPv6Address(raw)
        except ValueError:
            _fail("callback_url has an invalid IPv6 address in brackets")
        return str(ip6), _port(port_text[1:] if port_text else None), ip6, raw, True
    raw, colon, port_text = authority.partition(":")
    port = _port(port_text if colon else None)
    host, ip, canonical = _canonical_host(raw)
    return host, port, ip, raw, canonical


def _port(text: str | None) -> int | None:
    if text is None:
        return None
    if not _PORT.fullmatch(text) or not 1 <= int(text) <= 65535:
        _fail("callback_url has an invalid port; expected a number from 1 to 65535")
    return int(text)


def _canonical_host(raw: str) -> tuple[str, IPAddress | None, bool]:
    """Lower-case, IDNA-encode and classify a non-bracketed host."""
    if not raw:
        _fail(f"callback_url has no host; expected an https URL such as {_EXAMPLE}")
    host = raw.lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            _fail("callback_url host is not a valid internationalised domain name")
    if not _HOST_CHARS.fullmatch(host):
        _fail(
            "callback_url host contains characters that are not allowed; use a plain domain name "
            "or IP address (percent-encoding is not accepted)"
        )
    had_trailing_dot = host.endswith(".")
    if had_trailing_dot:
        host = host[:-1]
    labels = host.split(".")
    if any(not label for label in labels):
        _fail("callback_url host has an empty label (consecutive or leading dots)")
    if len(host) > 253 or any(len(label) > 63 for label in labels):
        _fail("callback_url host is too long for a domain name")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        ip = _inet_aton(labels)
        if ip is None:
            _fail("callback_url host looks like a numeric IP address but is not a valid one")
        canonical = not had_trailing_dot and host == str(ip)
        return str(ip), ip, canonical
    return host, None, True


def _inet_aton(labels: list[str]) -> ipaddress.IPv4Address | None:
    """IPv4 per ``inet_aton``: 1-4 parts, each decimal/0octal/0xhex, the last filling the rest."""
    if len(labels) > 4:
        return None
    numbers = []
    for label in labels:
        if label.startswith("0x"):
            text, base = label[2:] or "0", 16
        elif label.startswith("0") and len(label) > 1:
            text, base = label[1:], 8
        else:
            text, base = label, 10
        try:
            numbers.append(int(text, base))
        except ValueError:
            return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for index, n in enumerate(head):
        value += n << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _address(text: str) -> IPAddress:
    """Parse a resolved address, ignoring an IPv6 scope id (``fe80::1%eth0``)."""
    return ipaddress.ip_address(text.strip("[]").partition("%")[0])


def _address_problem(ip: IPAddress) -> str | None:
    """``"a loopback address (127.0.0.1)"``-style description, or ``None`` if public."""
    if isinstance(ip, ipaddress.IPv4Address):
        for network, label in _V4_RANGES:
            if ip in network:
                return f"{label} ({ip})"
        return None if ip.is_global else f"a non-public address ({ip})"
    for network6, label in _V6_RANGES:
        if ip in network6:
            return f"{label} ({ip})"
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        kind, v4 = embedded
        problem = _address_problem(v4)
        if kind == "IPv4-compatible":
            inner = f", embedding {problem}" if problem else ""
            return f"a deprecated IPv4-compatible IPv6 address ({ip}{inner})"
        if problem:
            return _amend(problem, f"embedded in the {kind} IPv6 address {ip}")
        return None
    return None if ip.is_global else f"a non-public (special-purpose) IPv6 address ({ip})"


def _amend(problem: str, note: str) -> str:
    """Add ``note`` inside the closing parenthesis of an ``_address_problem`` text."""
    return f"{problem[:-1]}, {note})"


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address stands for, with the kind of embedding."""
    if ip in _MAPPED:
        return "IPv4-mapped", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _COMPATIBLE:  # :: and ::1 are matched earlier by _V6_RANGES
        return "IPv4-compatible", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _TRANSLATED:
        return "IPv4-translated", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _NAT64:
        return "NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIXTOFOUR:
        return "6to4", ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)
    return None


def _name_problem(host: str) -> str | None:
    """Refusal for host names that cannot be a public callback receiver."""
    for suffix, why in _INTERNAL_SUFFIXES:
        if host == suffix or host.endswith("." + suffix):
            return f"callback_url host {host} {why}; use a public host name"
    if "." not in host:
        return (
            f"callback_url host {host} is a single-label name, which only resolves inside "
            "private networks; use a fully qualified public host name"
        )
    return None


def _fail(reason: str) -> NoReturn:
    raise _Refused(reason)
