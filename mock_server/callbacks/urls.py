"""Callback URLs read conservatively: ``scheme://host[:port]...`` split here rather than by one
of several URL parsers that disagree on edge cases, and ``HOST[:PORT]`` for
``--allow-callback-host``.

Anything that parsers treat differently (userinfo, backslashes, whitespace, percent-encoded or
other odd host characters, IPv6 zone ids, empty ports) is refused rather than interpreted.
Numeric hosts are read the way ``inet_aton``/``getaddrinfo`` and browsers read them
(``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``), and a :class:`Target` says whether the
host was written as plain dotted-decimal: the policy accepts no other numeric spelling, because
parsers disagree on it (``010.8.8.8`` is 8.8.8.8 to ``inet_aton`` and 10.8.8.8 to a decimal one).

Unicode hosts are converted with Python's ``idna`` codec (IDNA 2003 with nameprep) and the
ASCII result is what the policy checks, so full-width tricks such as ``ｌｏｃａｌｈｏｓｔ``
end up as ``localhost``.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from typing import NoReturn

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"https": 443, "http": 80}

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):", re.ASCII)
_AUTHORITY_END = re.compile(r"[/?#]")
_HOST_CHARS = re.compile(r"[a-z0-9_.-]+", re.ASCII)
_PORT = re.compile(r"[0-9]{1,5}", re.ASCII)
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+", re.ASCII)
EXAMPLE = "https://hooks.example.com/evolink"


class Refused(ValueError):
    """A URL that cannot be judged; ``str(exc)`` is the reason for the API user."""


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
class Target:
    """A parsed callback URL: canonical host, effective port, IP if numeric."""

    scheme: str
    host: str
    port: int
    ip: IPAddress | None
    raw_host: str
    canonical_numeric: bool  # False for 0x7f.1, 2130706433, 127.0.0.1. ...
    explicit_port: bool      # the URL wrote its port (the Host header repeats it then)
    path: str                # path and query as written, without the fragment; "/" if none


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
    except Refused as exc:
        raise ValueError(f"allowed callback host {text!r}: {exc}") from None
    if ip is not None and not canonical:
        raise ValueError(f"allowed callback host {text!r}: write the address as {ip}")
    return AllowedHost(host, port)


def host_and_port(url: str) -> tuple[str, int]:
    """Canonical ASCII host (IPv6 unbracketed) and effective port of ``url``.

    This is the host the policy judged; the sender resolves and connects to exactly
    this. Raises ``ValueError`` if the URL cannot be parsed.
    """
    target = parse_url(url)
    return target.host, target.port


@functools.lru_cache(maxsize=4096)   # a pure function, asked 3-4 times per delivery attempt
def parse_url(url: str) -> Target:
    """Split ``scheme://host[:port][/path][?query][#fragment]``, refusing ambiguity."""
    for char in url:
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Cs"):
            _fail("callback_url must not contain whitespace or control characters")
    if "\\" in url:
        _fail("callback_url must not contain backslashes")
    match = _SCHEME.match(url)
    if not match:
        _fail(f"callback_url must be an absolute https URL such as {EXAMPLE}")
    scheme = match.group(1).lower()
    if scheme not in DEFAULT_PORTS:
        _fail(f"callback_url must use https (got {scheme}:)")
    rest = url[match.end():]
    if not rest.startswith("//"):
        _fail(f"callback_url must be an absolute https URL such as {EXAMPLE}")
    written = rest[2:]
    end = _AUTHORITY_END.search(written)
    authority, after = (written[:end.start()], written[end.start():]) if end else (written, "")
    if "@" in authority:
        _fail("callback_url must not contain user information (a 'user@' or 'user:password@' part)")
    host, port, ip, raw, canonical = _parse_host_port(authority)
    path = after.partition("#")[0]
    return Target(scheme, host, port if port is not None else DEFAULT_PORTS[scheme], ip, raw, canonical,
                  explicit_port=port is not None,
                  path=path if path.startswith("/") else "/" + path)


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
        _fail(f"callback_url has no host; expected an https URL such as {EXAMPLE}")
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


def _fail(reason: str) -> NoReturn:
    raise Refused(reason)
