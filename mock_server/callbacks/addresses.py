"""Which addresses and host names cannot be a public callback receiver, and why.

Addresses are judged with an explicit table on top of ``ipaddress.is_global``, which misses
multicast, site-local and the IPv4 embedded in IPv4-mapped, IPv4-compatible, NAT64 and 6to4
IPv6 addresses. Names that are internal by definition (``localhost``, ``*.internal``,
``*.local``, ...) and single-label names (resolved through the resolver's search list, i.e.
into the private network) are refused too. Each problem is a phrase for the API user
(``"a loopback address (127.0.0.1)"``); ``None`` means public.
"""

from __future__ import annotations

import ipaddress

from .urls import IPAddress

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


def address(text: str) -> IPAddress:
    """Parse a resolved address, ignoring an IPv6 scope id (``fe80::1%eth0``)."""
    return ipaddress.ip_address(text.strip("[]").partition("%")[0])


def address_problem(ip: IPAddress) -> str | None:
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
        problem = address_problem(v4)
        if kind == "IPv4-compatible":
            inner = f", embedding {problem}" if problem else ""
            return f"a deprecated IPv4-compatible IPv6 address ({ip}{inner})"
        if problem:
            return amend(problem, f"embedded in the {kind} IPv6 address {ip}")
        return None
    return None if ip.is_global else f"a non-public (special-purpose) IPv6 address ({ip})"


def amend(problem: str, note: str) -> str:
    """Add ``note`` inside the closing parenthesis of an ``address_problem`` text."""
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


def name_problem(host: str) -> str | None:
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
