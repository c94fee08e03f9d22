"""HTTP clients for the tests, all sharing one TLS context.

httpx builds a new SSL context for every client, and for every ``httpx.get``/``post``, loading
certifi's CA bundle each time: ~38 ms of CPU. One run of the suite built 1,369 of them, 52 s
of CPU (2026-11-30, on the 2-core machine): in the short tests, more than the mock's work.
They all trust the same CAs, so they share one context (an ``SSLContext`` serves any number
of connections, on any thread); a caller that passes its own ``verify`` keeps it.
"""

from __future__ import annotations

from typing import Any

import httpx

TLS = httpx.create_ssl_context()


def Client(**options: Any) -> httpx.Client:
    options.setdefault("verify", TLS)
    return httpx.Client(**options)


def request(method: str, url: str, **options: Any) -> httpx.Response:
    options.setdefault("verify", TLS)
    return httpx.request(method, url, **options)


def get(url: str, **options: Any) -> httpx.Response:
    return request("GET", url, **options)


def post(url: str, **options: Any) -> httpx.Response:
    return request("POST", url, **options)
