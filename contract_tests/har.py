"""``evolink-contract har FILE.har``: recorded traffic, checked offline against the spec.

Any HAR 1.2 file will do: one written by ``evolink-mock proxy --record``, a browser's export
or another tool's. Each exchange with the vendor API (a path under one of the spec's path
prefixes, whatever the host) is judged twice: the request by the mock's own validation (the
same code that refuses it on ``serve`` and in the proxy) and the answer against the spec's
responses for that operation and status. Other exchanges (a browser's page loads) are
counted and skipped. Answers the proxy gave itself (marked in the HAR) are not the vendor's
and are not judged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from mock_server.proxy import PROXY_ANSWER, RequestGate, ResponseChecker, gate_app
from mock_server.settings import Settings
from mock_server.spec import operations

from .results import Report

HAR = "har"
REQUEST, RESPONSE = "request", "response"


class HarError(ValueError):
    """The file is not a HAR document we can read; the message says where it is not."""


@dataclass(frozen=True)
class Exchange:
    number: int                        # 1-based position in the file
    method: str
    path: str                          # raw (percent-encoded) path of the URL
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    status: int
    response_headers: dict[str, str]   # lower-case names
    response_body: bytes | None        # None: the file has no content text
    proxy_answer: bool

    @property
    def line(self) -> str:
        return f"#{self.number} {self.method} {self.path} -> {self.status}"


def _require(node: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(node, dict) or key not in node:
        raise HarError(f"{where}.{key} is missing")
    value = node[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise HarError(f"{where}.{key} has the wrong type ({type(value).__name__})")
    return value


def _headers(node: dict[str, Any], where: str) -> list[tuple[str, str]]:
    found = []
    for index, header in enumerate(node.get("headers") or []):
        name = _require(header, "name", str, f"{where}.headers[{index}]")
        value = _require(header, "value", str, f"{where}.headers[{index}]")
        if not name.startswith(":"):          # HTTP/2 pseudo-headers in browser exports
            found.append((name, value))
    return found


def _content(content: dict[str, Any], where: str) -> bytes | None:
    text = content.get("text")
    if text is None:
        return None
    if not isinstance(text, str):
        raise HarError(f"{where}.text has the wrong type ({type(text).__name__})")
    if content.get("encoding") == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise HarError(f"{where}.text is not valid base64") from None
    return text.encode("utf-8", "surrogatepass")


def read_har(path: str | Path) -> list[Exchange]:
    """The exchanges of a HAR file, in file order."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise HarError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise HarError(f"{path} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    log = _require(document, "log", dict, "HAR")
    entries = _require(log, "entries", list, "log")
    exchanges = []
    for number, entry in enumerate(entries, 1):
        where = f"log.entries[{number - 1}]"
        request = _require(entry, "request", dict, where)
        response = _require(entry, "response", dict, where)
        url = urlsplit(_require(request, "url", str, f"{where}.request"))
        post = request.get("postData") or {}
        content = response.get("content") or {}
        exchanges.append(Exchange(
            number=number, method=_require(request, "method", str, f"{where}.request").upper(),
            path=url.path or "/", query=url.query,
            headers=_headers(request, f"{where}.request"),
            body=(post.get("text") or "").encode("utf-8", "surrogatepass"),
            status=_require(response, "status", int, f"{where}.response"),
            response_headers={name.lower(): value
                              for name, value in _headers(response, f"{where}.response")},
            response_body=_content(content, f"{where}.response.content"),
            proxy_answer=response.get("comment") == PROXY_ANSWER))
    return exchanges


def _scope(exchange: Exchange) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": exchange.method, "scheme": "https", "root_path": "",
        "path": unquote(exchange.path), "raw_path": exchange.path.encode("latin-1", "replace"),
        "query_string": exchange.query.encode("latin-1", "replace"),
        # Content-Length is the recorded one, which redaction or re-encoding may have changed.
        "headers": [(name.lower().encode("latin-1", "replace"), value.encode("latin-1", "replace"))
                    for name, value in exchange.headers if name.lower() != "content-length"],
        "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 443), "extensions": {},
    }


def _vendor_prefixes(spec: dict[str, Any]) -> tuple[str, ...]:
    """``/v1/``: the first segment of every path of the spec."""
    return tuple(sorted({"/" + path.strip("/").split("/", 1)[0] + "/"
                         for path, _method, _op in operations(spec)}))


async def _judge(exchanges: list[Exchange], report: Report, spec: str | None) -> None:
    gate = RequestGate(gate_app(Settings(clock="manual", spec=spec)))
    answers = ResponseChecker(gate.app.spec)
    prefixes = _vendor_prefixes(gate.app.spec)
    skipped = 0
    for exchange in exchanges:
        if not exchange.path.startswith(prefixes):
            skipped += 1
            continue
        verdict = await gate.check(_scope(exchange), exchange.body)
        subject = f"#{exchange.number} {exchange.method} {exchange.path}"
        report.run(REQUEST, "request_matches_spec", subject).record(
            [str(v) for v in verdict.violations], exchange.line)
        found = list(verdict.violations)
        if exchange.proxy_answer:
            report.skip(RESPONSE, "response_matches_spec", subject,
                        "the proxy answered (the upstream never did)")
        else:
            head = exchange.method == "HEAD"      # an answer of headers only
            problems = answers.check(verdict.operation, exchange.status, exchange.response_headers,
                                     None if head else exchange.response_body)
            found += problems
            report.run(RESPONSE, "response_matches_spec", subject).record(
                [str(v) for v in problems], exchange.line)
            if exchange.response_body is None and not head:
                report.notes.append(f"{exchange.line}: the file has no response body; only the "
                                    "status and headers were checked")
        verdict_text = "ok" if not found else f"{len(found)} violation{'s' * (len(found) > 1)}"
        report.summary.append(f"{exchange.line}: {verdict_text}")
    checked = len(exchanges) - skipped
    report.summary.insert(0, f"{len(exchanges)} exchanges in the file, {checked} with the vendor "
                             f"API ({', '.join(prefixes)}), {skipped} others skipped")


def check_har(path: str | Path, spec: str | None = None) -> Report:
    """``spec``: another OpenAPI document than the shipped one (as ``serve --spec``)."""
    exchanges = read_har(path)
    report = Report(HAR, str(path))
    asyncio.run(_judge(exchanges, report, spec))
    if not any(run.phase == REQUEST for run in report.runs.values()):
        report.notes.append("no exchange with the vendor API in the file: nothing was checked")
    return report
