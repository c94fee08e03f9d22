"""Upstreams for the proxy's tests: a real mock over HTTPS (trustme CA), optionally drifting
from the contract on purpose, and the proxy in front of it, all on free loopback ports."""

from __future__ import annotations

import json
import os
import subprocess
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from starlette.types import Message, Receive, Scope, Send

from mock_server.app import create_app
from mock_server.proxy import ProxyApp
from mock_server.server import RunningServer
from mock_server.settings import Settings
from tests.processes import start_command

UPSTREAM_KEY = "sk-upstream-1"


@dataclass(frozen=True)
class Tls:
    ca: str          # the CA to trust
    cert: str
    key: str


def make_tls(directory: Path) -> Tls:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    tls = Tls(str(directory / "ca.pem"), str(directory / "cert.pem"), str(directory / "key.pem"))
    ca.cert_pem.write_to_path(tls.ca)
    issued.cert_chain_pems[0].write_to_path(tls.cert)
    issued.private_key_pem.write_to_path(tls.key)
    return tls


def _drift(kind: str, status: int, document: Any) -> tuple[int, Any]:
    """One deliberate departure from the contract, on a task document."""
    if kind == "undocumented-status":
        return 418, document
    if kind == "wrong-type":
        return status, {**document, "progress": str(document["progress"])}
    if kind == "missing-field":
        return status, {k: v for k, v in document.items() if k != "status"}
    if kind == "unknown-enum":
        return status, {**document, "status": "queued"}
    raise ValueError(kind)


class DriftingUpstream:
    """A real mock whose next answers drift as queued in ``drifts``; it notes the path and
    client port of every request it gets (what reached it, and over which connection)."""

    def __init__(self, settings: Settings) -> None:
        self.mock = create_app(settings)
        self.service = self.mock.service
        self.drifts: deque[str] = deque()
        self.seen: list[tuple[str, int, frozenset[str]]] = []   # path, client port, header names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.mock(scope, receive, send)
            return
        self.seen.append((scope["path"], scope["client"][1],
                          frozenset(name.decode("latin-1") for name, _ in scope["headers"])))
        if not self.drifts or not scope["path"].startswith("/v1/"):
            await self.mock(scope, receive, send)
            return
        kind = self.drifts.popleft()
        answer: dict[str, Any] = {"body": b""}

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["start"] = message
            else:
                answer["body"] += message.get("body", b"")

        await self.mock(scope, receive, keep)
        status, document = _drift(kind, answer["start"]["status"], json.loads(answer["body"]))
        body = json.dumps(document).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def upstream_settings() -> Settings:
    return Settings(clock="manual", api_keys=(UPSTREAM_KEY,), validate_responses=True, seed=7)


@contextmanager
def upstream(tls: Tls) -> Iterator[tuple[RunningServer, DriftingUpstream]]:
    settings = upstream_settings()
    app = DriftingUpstream(settings)
    with RunningServer(settings, app=app, tls=(tls.cert, tls.key)) as server:
        yield server, app


@contextmanager
def proxy(**settings: Any) -> Iterator[RunningServer]:
    config = Settings(clock="manual", **settings)
    with RunningServer(config, app=ProxyApp(config)) as server:
        yield server


def upstream_journal(server: RunningServer) -> list[dict[str, Any]]:
    return [entry.to_dict() for entry in server.service.journal.query()]


def start_proxy(port: int, *args: str) -> subprocess.Popen:
    """``evolink-mock proxy --port PORT ARGS...`` as a process of its own, once it answers."""
    return start_command("proxy", port, *args, stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"})


# The requests and fixtures the proxy's test modules share.
CREATE = "/v1/videos/generations"
GROK = {"model": "grok-imagine-text-to-video", "prompt": "A paper boat on a rainy street"}
AUTH = {"Authorization": f"Bearer {UPSTREAM_KEY}"}


# Registered under their short names; the functions' own names differ so that a test module
# importing them can take `tls` / `upstream_pair` as arguments without shadowing the import.
@pytest.fixture(scope="module", name="tls")
def tls_fixture(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(name="upstream_pair")
def upstream_pair_fixture(tls: Tls) -> Iterator[tuple[RunningServer, DriftingUpstream]]:
    with upstream(tls) as pair:
        yield pair
