"""``evolink-mock proxy``: the vendor API through the contract, on the way to the real service.

Every ``/v1/`` request goes through the mock's own validation first (see :mod:`.checks`).
An invalid one is answered here, in the vendor's envelope, and never forwarded (no paid
call wasted) unless ``--forward-invalid``. A valid one is forwarded with the caller's own
``Authorization`` over one pooled HTTP/1.1 client (TLS verified), and the answer is checked
against the spec before it is relayed unchanged. Request and answer violations go to the
journal (``GET /_mock/journal``, the dashboard) and to the summary printed on exit; with
``--record`` every exchange goes to a HAR file. ``/_mock/`` is the mock's admin API, guarded
as on ``serve``, and is never forwarded.
"""

from __future__ import annotations

import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus

import certifi
import harfile
import httpx
from starlette.types import Message, Receive, Scope, Send

from ..errors import ApiError
from ..journal import JournalMiddleware
from ..settings import Settings
from ..violations import Violation, note
from .checks import RequestGate, ResponseChecker, Verdict, gate_app
from .record import HarRecorder, query_records, records, redact_query

FORWARDED_PREFIX = "/v1/"
CREATE_OPERATION = "createVideoGeneration"
# Marks, in a HAR entry's response, an answer the proxy gave itself (the upstream never saw
# the request, or never answered): `evolink-contract har` does not judge it as the vendor's.
PROXY_ANSWER = "answered by evolink-mock proxy, not the upstream"
# Hop-by-hop headers (RFC 9110 7.6.1) are the connection's, not the message's; Host and the
# body framing are set again for the upstream connection; X-Mock-* headers are our own
# (X-Mock-Admin-Token is a secret of this proxy) and never leave it.
NOT_FORWARDED = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authorization",
                           "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length"})
# httpx hands over the decoded body, so the upstream's encoding and length no longer apply;
# Date and Server are the proxy's own (uvicorn adds them).
NOT_RELAYED = frozenset({"connection", "keep-alive", "transfer-encoding", "content-encoding",
                         "content-length", "upgrade", "trailer", "date", "server"})
MAX_KEPT_VIOLATIONS = 200     # the exit summary lists this many; the rest are counted
CONNECT_TIMEOUT = 10.0


def upstream_trust(ca_file: str | None) -> ssl.SSLContext:
    """The operating system's CAs, certifi's (where the system has none, e.g. python.org
    builds on macOS), and the operator's ``--upstream-ca``."""
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=certifi.where())
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


@dataclass
class Tally:
    """What the proxy saw, for the summary on exit."""
    exchanges: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    violating_exchanges: int = 0
    violation_count: int = 0
    violations: list[tuple[int, str, Violation]] = field(default_factory=list)  # (exchange, request)

    def add(self, number: int, request: str, found: list[Violation]) -> None:
        if not found:
            return
        self.violating_exchanges += 1
        self.violation_count += len(found)
        room = MAX_KEPT_VIOLATIONS - len(self.violations)
        self.violations.extend((number, request, v) for v in found[:max(room, 0)])

    def summary(self) -> str:
        outcomes = ", ".join(f"{n} {what}" for what, n in sorted(self.outcomes.items())) or "none"
        lines = [f"evolink-mock proxy: {self.exchanges} exchanges ({outcomes}); "
                 f"{self.violation_count} violations in {self.violating_exchanges} exchanges"]
        for number, request, violation in self.violations:
            lines.append(f"  #{number} {request}: {violation}")
        if self.violation_count > len(self.violations):
            lines.append(f"  ... and {self.violation_count - len(self.violations)} more "
                         "(GET /_mock/journal has the recent ones)")
        return "\n".join(lines)


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    local: bool             # the proxy answered, not the upstream
    outcome: str            # for the tally: forwarded, refused, over budget, upstream error
    length: str | None = None   # the upstream's Content-Length (what a HEAD answer announces)


def _local(error: ApiError, outcome: str) -> Answer:
    body = error.to_response().body
    headers = [("content-type", "application/json"), *error.headers.items()]
    return Answer(error.status, headers, bytes(body), True, outcome)


class ProxyApp:
    """The proxy's ASGI app; ``service`` is the (idle) mock behind its admin API."""

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.gate_app = gate_app(settings)
        self.service = self.gate_app.service
        self.gate = RequestGate(self.gate_app)
        self.responses = ResponseChecker(self.gate_app.spec)
        self.upstream = settings.upstream.rstrip("/")
        self.tally = Tally()
        self.creates_forwarded = 0
        self.recorder = HarRecorder(settings.record) if settings.record else None
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._journaled = JournalMiddleware(self._exchange, self.service.journal,
                                            prefixes=(FORWARDED_PREFIX,),
                                            json_logs=settings.log_format == "json")

    def client(self) -> httpx.AsyncClient:
        """One client for the proxy's life: its pool keeps upstream connections alive."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                verify=upstream_trust(self.settings.upstream_ca), http1=True, http2=False,
                trust_env=False, follow_redirects=False, transport=self._transport,
                timeout=httpx.Timeout(self.settings.upstream_timeout,
                                      connect=min(CONNECT_TIMEOUT, self.settings.upstream_timeout)))
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self.recorder is not None:
            self.recorder.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http" and scope["path"].startswith(FORWARDED_PREFIX):
            await self._journaled(scope, receive, send)
        else:
            await self.gate_app.outer(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _exchange(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = datetime.now(UTC)
        clock = time.perf_counter()
        body, too_large = await _read_body(receive, self.settings.max_body_bytes)
        verdict = await self.gate.check(scope, body)
        checked = time.perf_counter()
        if verdict.accepted or (self.settings.forward_invalid and not too_large):
            answer = await self._forward(scope, body, verdict)
        else:
            answer = Answer(verdict.status, [(k.decode("latin-1"), v.decode("latin-1"))
                                             for k, v in verdict.headers],
                            verdict.body, True, "refused (invalid)")
        answered = time.perf_counter()
        found = list(verdict.violations)
        head = scope["method"] == "HEAD"      # the answer to a HEAD has headers only
        if not answer.local:
            found += self.responses.check(verdict.operation, answer.status,
                                          _header_map(answer.headers), None if head else answer.body)
            for violation in found[len(verdict.violations):]:
                note(scope, violation)
        self.tally.exchanges += 1
        self.tally.outcomes[answer.outcome] += 1
        request_line = f"{scope['method']} {scope['path']} -> {answer.status}"
        self.tally.add(self.tally.exchanges, request_line, found)
        if self.recorder is not None:     # before the client sees the answer: see record.py
            self._record(scope, body, answer, started, (checked - clock, answered - checked),
                         found, verdict)
        length = str(len(answer.body))
        if head:
            length = answer.length or length
        await send({"type": "http.response.start", "status": answer.status,
                    "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                                for k, v in answer.headers if k.lower() not in NOT_RELAYED]
                    + [(b"content-length", length.encode())]})
        await send({"type": "http.response.body", "body": answer.body})

    async def _forward(self, scope: Scope, body: bytes, verdict: Verdict) -> Answer:
        operation = verdict.operation
        limit = self.settings.max_creates
        if operation == CREATE_OPERATION and limit is not None:
            if self.creates_forwarded >= limit:
                return _local(ApiError(
                    402, f"evolink-mock proxy: --max-creates {limit} reached, so this create was "
                    "not forwarded (no credits spent); restart the proxy to allow more",
                    code="insufficient_quota", type="insufficient_quota"), "refused (max creates)")
            self.creates_forwarded += 1    # counted before the await: concurrent creates see it
        headers = _forwarded_headers(scope)
        try:
            response = await self.client().request(
                scope["method"], self._url(scope), headers=headers, content=body)
        except httpx.TimeoutException as exc:
            return _local(ApiError(
                504, f"evolink-mock proxy: the upstream {self.upstream} did not answer within "
                f"{self.settings.upstream_timeout:g} s ({type(exc).__name__}); this answer comes "
                "from the proxy, and the upstream may still carry the request out",
                code="gateway_timeout", type="proxy_error"), "upstream error")
        except httpx.HTTPError as exc:
            return _local(ApiError(
                502, f"evolink-mock proxy: no answer from the upstream {self.upstream} "
                f"({type(exc).__name__}: {exc}); this answer comes from the proxy",
                code="bad_gateway", type="proxy_error"), "upstream error")
        relayed = [(name, value) for name, value in response.headers.multi_items()
                   if name.lower() not in NOT_RELAYED]
        return Answer(response.status_code, relayed, response.content, False, "forwarded",
                      response.headers.get("content-length"))

    def _url(self, scope: Scope) -> str:
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        return self.upstream + path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")

    def _record(self, scope: Scope, body: bytes, answer: Answer, started: datetime,
                phases: tuple[float, float], found: list[Violation], verdict: Verdict) -> None:
        assert self.recorder is not None
        query = scope.get("query_string", b"").decode("latin-1")
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        request_headers = [(k.decode("latin-1"), v.decode("latin-1"))
                           for k, v in _forwarded_headers(scope)]
        request_type = _header_map(request_headers).get("content-type", "")
        response_type = _header_map(answer.headers).get("content-type", "")
        post_data = (harfile.PostData(mimeType=request_type, text=body.decode("utf-8", "replace"))
                     if body else None)
        request = harfile.Request(
            method=scope["method"], url=self.upstream + path + (f"?{redact_query(query)}" if query else ""),
            httpVersion="HTTP/1.1", headers=records(request_headers),
            queryString=query_records(query), postData=post_data, bodySize=len(body))
        response = harfile.Response(
            status=answer.status, statusText=_reason(answer.status), httpVersion="HTTP/1.1",
            headers=records(answer.headers),
            content=harfile.Content(size=len(answer.body), mimeType=response_type,
                                    text=answer.body.decode("utf-8", "replace")),
            bodySize=len(answer.body), comment=PROXY_ANSWER if answer.local else None)
        checking_ms, waiting_ms = phases[0] * 1000, phases[1] * 1000
        what = "forwarded" if not answer.local else answer.outcome
        if found:
            what += "; " + "; ".join(str(v) for v in found)
        self.recorder.add(started=started, elapsed_ms=checking_ms + waiting_ms, request=request,
                          response=response, comment=what,
                          timings=harfile.Timings(send=round(checking_ms, 3),
                                                  wait=round(waiting_ms, 3), receive=0))


def _forwarded_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    return [(name, value) for name, value in scope["headers"]
            if name.lower().decode("latin-1") not in NOT_FORWARDED
            and not name.lower().startswith(b"x-mock-")]


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The whole body, or its first ``limit + 1`` bytes (enough for the gate to answer 413)."""
    chunks = bytearray()
    more = True
    while more:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.extend(message.get("body", b""))
        more = message.get("more_body", False)
        if len(chunks) > limit:
            return bytes(chunks[:limit + 1]), True
    return bytes(chunks), False


def _header_map(headers: list[tuple[str, str]]) -> dict[str, str]:
    mapped: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        mapped[lower] = f"{mapped[lower]}, {value}" if lower in mapped else value
    return mapped


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""

