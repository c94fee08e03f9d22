"""Behaviour of the callback URL policy (mock_server/callbacks/policy.py).

The bulk of the cases live in fixtures/contract/hostile-callback-urls.yaml so
that the contract kit and these tests share one list; the tests below cover
the behaviours a list of URLs cannot express (allowed hosts, resolution).
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from mock_server.callbacks.policy import CallbackPolicy
from mock_server.callbacks.urls import AllowedHost, host_and_port, parse_allowed_host

FIXTURE = Path(__file__).parents[1] / "fixtures" / "contract" / "hostile-callback-urls.yaml"
PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


def _url(entry: dict[str, Any]) -> str:
    """The entry's URL; ``url_repeat`` builds one of an exact length."""
    if "url" in entry:
        return entry["url"]
    spec = entry["url_repeat"]
    url = spec["prefix"] + spec["char"] * (spec["total_length"] - len(spec["prefix"]))
    assert len(url) == spec["total_length"]
    return url


def _load() -> dict[str, list[dict[str, Any]]]:
    with FIXTURE.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


DATA = _load()
CREATE_REFUSED = [e for e in DATA["refused"] if e.get("stage", "create") == "create"]
DELIVERY_REFUSED = [e for e in DATA["refused"] if e.get("stage") == "delivery"]
ACCEPTED = DATA["accepted"]


def _ids(entries: list[dict[str, Any]]) -> list[str]:
    return [_url(e)[:70].encode("unicode_escape").decode("ascii") for e in entries]


# --- the shared data file -------------------------------------------------


def test_data_file_has_enough_cases() -> None:
    assert len(DATA["refused"]) >= 45
    assert len(ACCEPTED) >= 8
    assert DELIVERY_REFUSED, "expected some delivery-stage (DNS rebinding) cases"
    assert all(e.get("stage", "create") in ("create", "delivery") for e in DATA["refused"])
    assert all(e.get("why") for e in DATA["refused"] + ACCEPTED)
    assert len({_url(e) for e in DATA["refused"]}) == len(DATA["refused"]), "duplicate URLs"


def assert_refused_as_expected(reason: str | None, entry: dict[str, Any]) -> None:
    assert reason is not None, entry["why"]
    if "expect" in entry:
        assert entry["expect"].lower() in reason.lower(), (entry["why"], reason)


@pytest.mark.parametrize("entry", CREATE_REFUSED, ids=_ids(CREATE_REFUSED))
def test_hostile_url_is_refused_at_create(entry: dict[str, Any]) -> None:
    reason = CallbackPolicy().refusal_at_create(_url(entry))
    assert_refused_as_expected(reason, entry)
    assert reason.startswith("callback_url ")


@pytest.mark.parametrize("entry", DELIVERY_REFUSED, ids=_ids(DELIVERY_REFUSED))
def test_name_resolving_to_internal_address_is_refused_at_delivery(entry: dict[str, Any]) -> None:
    policy = CallbackPolicy()
    url = _url(entry)
    assert policy.refusal_at_create(url) is None, "delivery-stage entries must look fine at create"
    assert policy.refusal_for_addresses(url, [PUBLIC_V4]) is None
    assert_refused_as_expected(policy.refusal_for_addresses(url, entry["resolves_to"]), entry)


@pytest.mark.parametrize("entry", ACCEPTED, ids=_ids(ACCEPTED))
def test_normal_public_url_is_accepted(entry: dict[str, Any]) -> None:
    policy = CallbackPolicy()
    url = _url(entry)
    assert policy.refusal_at_create(url) is None, entry["why"]
    assert policy.refusal_for_addresses(url, [PUBLIC_V4, PUBLIC_V6]) is None


# --- numeric hosts ----------------------------------------------------------


def test_decimal_ip_host_is_refused() -> None:
    reason = CallbackPolicy().refusal_at_create("https://2130706433/hook")
    assert reason is not None and "loopback" in reason and "127.0.0.1" in reason


@pytest.mark.parametrize(
    "host",
    ["0x7f000001", "0x7f.1", "0177.0.0.1", "127.1", "127.0.1", "0x7f.0.1", "0177.1", "0x7F.00.0x0.1"],
)
def test_hex_octal_short_and_mixed_ip_hosts_are_read_like_inet_aton(host: str) -> None:
    assert host_and_port(f"https://{host}/") == ("127.0.0.1", 443)
    reason = CallbackPolicy().refusal_at_create(f"https://{host}/")
    assert reason is not None and "loopback address (127.0.0.1" in reason


def test_agreement_with_the_system_inet_aton() -> None:
    for host in ["2130706433", "0x7f.1", "0177.0.0.1", "127.1", "10.1", "0xa.0x10001", "017700000001"]:
        expected = socket.inet_ntoa(socket.inet_aton(host))
        assert host_and_port(f"https://{host}/")[0] == expected, host


def test_public_ip_in_non_standard_form_is_refused_with_the_canonical_spelling() -> None:
    reason = CallbackPolicy().refusal_at_create("https://0x08080808/")
    assert reason is not None and "write it as 8.8.8.8" in reason


def test_numeric_looking_host_that_is_not_an_address_is_refused() -> None:
    for host in ["1.2.3.256", "0x1.0x2.0x3.0x100", "08.0.0.1", "1.2.3.4.5"]:
        reason = CallbackPolicy().refusal_at_create(f"https://{host}/")
        assert reason is not None and "numeric IP address" in reason, host


# --- embedded IPv4 in IPv6 ----------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["[::ffff:10.0.0.1]", "[::ffff:0a00:0001]", "[64:ff9b::a00:1]", "[2002:0a00:0001::]", "[::10.0.0.1]"],
)
def test_ipv6_embedding_a_private_ipv4_is_refused(host: str) -> None:
    reason = CallbackPolicy().refusal_at_create(f"https://{host}/")
    assert reason is not None and "10.0.0.1" in reason


@pytest.mark.parametrize("host", ["[::ffff:8.8.8.8]", "[64:ff9b::808:808]", "[2002:808:808::1]"])
def test_ipv6_embedding_a_public_ipv4_is_judged_by_the_embedded_address(host: str) -> None:
    assert CallbackPolicy().refusal_at_create(f"https://{host}/") is None


def test_ipv4_compatible_ipv6_is_refused_even_for_public_addresses() -> None:
    reason = CallbackPolicy().refusal_at_create("https://[::8.8.8.8]/")
    assert reason is not None and "IPv4-compatible" in reason


# --- names, case, IDNA ------------------------------------------------------


def test_host_comparison_is_case_insensitive() -> None:
    policy = CallbackPolicy()
    assert policy.refusal_at_create("https://LocalHost/") is not None
    assert host_and_port("HTTPS://Example.COM/Path") == ("example.com", 443)


@pytest.mark.parametrize("host", ["localhost.", "LOCALHOST.", "a.b.localhost.", "svc.internal.", "x.local."])
def test_trailing_dot_does_not_hide_an_internal_name(host: str) -> None:
    assert CallbackPolicy().refusal_at_create(f"https://{host}/") is not None


def test_unicode_host_is_converted_with_idna_before_checking() -> None:
    assert host_and_port("https://bücher.de/") == ("xn--bcher-kva.de", 443)
    assert CallbackPolicy().refusal_at_create("https://bücher.de/") is None
    # Full-width letters normalise to plain "localhost" and are then refused.
    reason = CallbackPolicy().refusal_at_create("https://ｌｏｃａｌｈｏｓｔ/")
    assert reason is not None and "localhost" in reason


def test_unconvertible_unicode_host_is_refused_with_a_reason() -> None:
    reason = CallbackPolicy().refusal_at_create("https://" + "ü" * 70 + ".de/")
    assert reason is not None and "internationalised domain name" in reason


def test_single_label_name_is_refused() -> None:
    reason = CallbackPolicy().refusal_at_create("https://metadata/")
    assert reason is not None and "single-label" in reason and "fully qualified" in reason


# --- length -------------------------------------------------------------------


def test_length_limit_is_inclusive_at_2048() -> None:
    prefix = "https://example.com/"
    policy = CallbackPolicy()
    assert policy.refusal_at_create(prefix + "a" * (2048 - len(prefix))) is None
    reason = policy.refusal_at_create(prefix + "a" * (2049 - len(prefix)))
    assert reason == "callback_url is longer than 2048 characters (got 2049)"


def test_custom_max_length_is_reported_in_the_reason() -> None:
    reason = CallbackPolicy(max_length=30).refusal_at_create("https://example.com/a-rather-long-path")
    assert reason is not None and "longer than 30 characters" in reason


# --- allowed hosts ------------------------------------------------------------


def test_allowed_host_lets_http_localhost_on_its_port_through_but_not_another_port() -> None:
    policy = CallbackPolicy(allowed_hosts=(parse_allowed_host("localhost:8443"),))
    assert policy.refusal_at_create("http://localhost:8443/hook") is None
    assert policy.refusal_at_create("https://localhost:8443/hook") is None
    assert policy.refusal_at_create("http://LOCALHOST.:8443/hook") is None
    assert policy.refusal_at_create("http://localhost:8444/hook") is not None
    assert policy.refusal_at_create("https://localhost/hook") is not None  # port 443
    assert policy.refusal_at_create("http://127.0.0.1:8443/hook") is not None  # different host


def test_allowed_host_without_port_allows_any_port() -> None:
    policy = CallbackPolicy(allowed_hosts=(parse_allowed_host("localhost"),))
    for url in ["http://localhost/", "https://localhost/", "http://localhost:1/", "https://localhost:65535/x"]:
        assert policy.refusal_at_create(url) is None, url
    assert policy.refusal_at_create("http://api.localhost/") is not None


def test_allowed_ipv6_host_matches_bracketed_urls() -> None:
    policy = CallbackPolicy(allowed_hosts=(parse_allowed_host("[::1]:8443"),))
    assert policy.refusal_at_create("http://[::1]:8443/") is None
    assert policy.refusal_at_create("http://[0:0::1]:8443/") is None
    assert policy.refusal_at_create("http://[::1]:8444/") is not None


def test_allowed_host_still_enforces_the_rest_of_the_url_rules() -> None:
    policy = CallbackPolicy(allowed_hosts=(AllowedHost("localhost", None),), max_length=40)
    assert "user information" in (policy.refusal_at_create("http://me@localhost:8443/") or "")
    assert "longer than 40" in (policy.refusal_at_create("http://localhost:8443/" + "a" * 40) or "")
    assert "backslash" in (policy.refusal_at_create("http://localhost\\x/") or "")
    assert "https" in (policy.refusal_at_create("ftp://localhost/") or "")


def test_allowed_host_skips_the_address_check_at_delivery() -> None:
    policy = CallbackPolicy(allowed_hosts=(parse_allowed_host("localhost:8443"),))
    assert policy.refusal_for_addresses("http://localhost:8443/", ["127.0.0.1", "::1"]) is None
    assert policy.refusal_for_addresses("https://localhost:9000/", ["127.0.0.1"]) is not None


def test_allowed_ip_host_must_be_written_canonically_in_urls() -> None:
    policy = CallbackPolicy(allowed_hosts=(parse_allowed_host("127.0.0.1:8443"),))
    assert policy.refusal_at_create("http://127.0.0.1:8443/") is None
    assert policy.refusal_at_create("http://127.1:8443/") is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("localhost:8443", AllowedHost("localhost", 8443)),
        ("LocalHost", AllowedHost("localhost", None)),
        ("localhost.:80", AllowedHost("localhost", 80)),
        ("[::1]:8443", AllowedHost("::1", 8443)),
        ("[::1]", AllowedHost("::1", None)),
        ("127.0.0.1:8443", AllowedHost("127.0.0.1", 8443)),
        ("bücher.de", AllowedHost("xn--bcher-kva.de", None)),
        (" hooks.test:9000 ", AllowedHost("hooks.test", 9000)),
    ],
)
def test_parse_allowed_host_accepts_host_and_optional_port(text: str, expected: AllowedHost) -> None:
    assert parse_allowed_host(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "localhost:", "localhost:0", "localhost:70000", "localhost:http", "http://localhost:8443",
     "user@localhost", "::1", "::1:8443", "[::1", "[::1]x", "a b", "exa%6dple.com", "127.1",
     "[fe80::1%eth0]"],
)
def test_parse_allowed_host_rejects_junk(text: str) -> None:
    with pytest.raises(ValueError, match=r"allowed (callback )?host"):
        parse_allowed_host(text)


# --- delivery-time (DNS rebinding) ------------------------------------------


def test_dns_rebinding_one_private_address_among_public_ones_is_refused() -> None:
    reason = CallbackPolicy().refusal_for_addresses(
        "https://hooks.example.com/cb", [PUBLIC_V4, PUBLIC_V6, "10.1.2.3", "8.8.8.8"]
    )
    assert reason is not None and "private address (10.1.2.3)" in reason
    assert "hooks.example.com" in reason


def test_delivery_check_repeats_the_create_check() -> None:
    reason = CallbackPolicy().refusal_for_addresses("http://example.com/", [PUBLIC_V4])
    assert reason is not None and "https" in reason


def test_delivery_with_no_or_garbage_addresses_is_refused() -> None:
    policy = CallbackPolicy()
    assert "did not resolve" in (policy.refusal_for_addresses("https://example.com/", []) or "")
    assert "not an IP address" in (policy.refusal_for_addresses("https://example.com/", ["nope"]) or "")


def test_delivery_accepts_addresses_in_any_standard_spelling() -> None:
    policy = CallbackPolicy()
    assert policy.refusal_for_addresses("https://example.com/", ("8.8.8.8", "[2001:4860::8888]")) is None


# --- resolve --------------------------------------------------------------------


def _no_dns(*args: object, **kwargs: object) -> list[Any]:
    """Stands in for ``socket.getaddrinfo`` where a test must not resolve anything."""
    raise AssertionError(f"unexpected DNS lookup: {args!r}")


def _resolve(policy: CallbackPolicy, url: str, fake_getaddrinfo: Any = None) -> list[str]:
    if fake_getaddrinfo is not None:
        policy = dataclasses.replace(policy, getaddrinfo=fake_getaddrinfo)
    return asyncio.run(policy.resolve(url))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://8.8.8.8/", ["8.8.8.8"]),
        ("https://0x7f.1:8443/", ["127.0.0.1"]),
        ("https://[2001:4860:4860:0:0:0:0:8888]/", ["2001:4860:4860::8888"]),
    ],
)
def test_resolve_of_a_numeric_host_returns_it_without_dns(url: str, expected: list[str]) -> None:
    assert _resolve(CallbackPolicy(), url, _no_dns) == expected


def test_resolve_returns_every_address_once_in_resolver_order() -> None:
    calls: list[tuple[object, ...]] = []

    def fake(host: str, port: int, **kwargs: object) -> list[Any]:
        calls.append((host, port))
        v4 = (socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_V4, port))
        v6 = (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (PUBLIC_V6, port, 0, 0))
        private = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", port))
        return [v4, v6, v4, private]

    addresses = _resolve(CallbackPolicy(), "https://Hooks.Example.com:8443/x", fake)
    assert calls == [("hooks.example.com", 8443)]
    assert addresses == [PUBLIC_V4, PUBLIC_V6, "10.0.0.1"]
    assert CallbackPolicy().refusal_for_addresses("https://hooks.example.com:8443/x", addresses) is not None


def test_resolve_localhost_uses_the_real_resolver_and_returns_loopback() -> None:
    addresses = _resolve(CallbackPolicy(), "https://localhost/")
    assert addresses
    assert all(a == "::1" or a.startswith("127.") for a in addresses), addresses
    reason = CallbackPolicy().refusal_for_addresses("https://hooks.example.com/", addresses)
    assert reason is not None and "loopback" in reason


def test_resolve_of_an_unparseable_url_raises_value_error() -> None:
    with pytest.raises(ValueError, match="must not contain user information"):
        _resolve(CallbackPolicy(), "https://user@example.com/", _no_dns)


# --- host_and_port --------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/x", ("example.com", 443)),
        ("http://example.com/x", ("example.com", 80)),
        ("https://example.com:8443", ("example.com", 8443)),
        ("https://[::1]:8443/", ("::1", 8443)),
        ("https://example.com./", ("example.com", 443)),
    ],
)
def test_host_and_port_gives_canonical_host_and_default_port(url: str, expected: tuple[str, int]) -> None:
    assert host_and_port(url) == expected


def test_host_and_port_raises_value_error_on_unparseable_url() -> None:
    with pytest.raises(ValueError, match="must use https"):
        host_and_port("ftp://example.com/")


# --- reasons are messages for API users ------------------------------------------


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://example.com/", "must use https"),
        ("https://127.0.0.1/", "loopback address (127.0.0.1)"),
        ("https://192.168.0.1/", "private address (192.168.0.1)"),
        ("https://169.254.169.254/", "link-local address (169.254.169.254)"),
        ("https://[::ffff:127.0.0.1]/", "127.0.0.1, embedded in the IPv4-mapped IPv6 address"),
        ("https://0x7f.1/", "written as 0x7f.1"),
        ("https://good.com@127.0.0.1/", "must not contain user information"),
        ("https://exa%6dple.com/", "percent-encoding is not accepted"),
        ("https:///x", "has no host"),
        ("https://example.com:99999/", "expected a number from 1 to 65535"),
        ("https://svc.internal/", "use a public host name"),
        ("example.com/cb", "absolute https URL such as https://"),
    ],
)
def test_reason_says_what_is_wrong(url: str, fragment: str) -> None:
    reason = CallbackPolicy().refusal_at_create(url)
    assert reason is not None and fragment in reason, reason
