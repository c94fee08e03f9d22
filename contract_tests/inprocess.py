"""Serve an ASGI app to Schemathesis on the calling thread, for in-process contract runs.

Schemathesis reaches an ASGI app (``from_asgi``) through ``requests`` and an event loop in a
thread of its own: every request builds a ``requests`` session (and reads the proxy
environment), then makes two round trips to that thread. On this project's 2-core machine,
shared with other processes, each hand-off waits for the scheduler: 3-5 ms per request against
0.2-0.8 ms for the app itself (bench/README.md, "Schemathesis cases/s"). A case sends 1.8
requests on average (the ``ignored_auth`` check sends a probe without the key), so the
transport was a third of a case.

:class:`SameThreadASGI` is a WSGI callable that runs the ASGI app on a private event loop in
the caller's thread; ``schemathesis.openapi.from_wsgi`` then drives it with Werkzeug's test
client, in the same thread, with the same checks (probes included) and the same generated
cases. The app is unchanged: routing, auth, request and response validation all run.

What differs from a server, and why it does not matter for a contract run: the loop runs only
while a request is being served, so the app's background tasks (callback deliveries, the
real-time clock) move only then; use the manual clock (``Settings(clock="manual")``), as the
test and the bench do. Header names reach the app as WSGI spells them (``HTTP_X_FOO`` becomes
``x-foo``), so a name with an underscore arrives with a dash; the spec defines none. The client
is ``testclient``, as with ``from_asgi``: not a loopback address.
"""

from __future__ import annotations

import asyncio
import http
import importlib.util
import sys
from collections.abc import Callable, Iterable
from typing import Any, Self

Message = dict[str, Any]
ASGIApp = Callable[..., Any]
StartResponse = Callable[..., Any]

# CGI names of the two headers WSGI keeps without the HTTP_ prefix (PEP 3333).
_UNPREFIXED = {"CONTENT_TYPE": b"content-type", "CONTENT_LENGTH": b"content-length"}


def _skip_absent_flask() -> None:
    """Schemathesis's WSGI transport tries ``from flask import ...`` around every request (to
    catch a Flask app's errors). Python does not remember a failed import, so without Flask
    installed each request searched every entry of ``sys.path`` again: 14 % of a case's
    transport and checks in the profile. ``None`` in ``sys.modules`` is Python's own way to say
    "not importable"; set only when Flask is really absent, so nothing that could import it
    changes."""
    if "flask" not in sys.modules and importlib.util.find_spec("flask") is None:
        sys.modules["flask"] = None  # type: ignore[assignment]


class LifespanFailed(RuntimeError):
    """The app refused to start (``lifespan.startup.failed``) or stopped before it said so."""


class SameThreadASGI:
    """A WSGI app that serves ``app`` (ASGI 3) on the calling thread. Close it when done."""

    def __init__(self, app: ASGIApp) -> None:
        _skip_absent_flask()
        self.app = app
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lifespan: asyncio.Task[None] | None = None
        self._to_app: asyncio.Queue[Message] | None = None
        self._from_app: asyncio.Queue[Message] | None = None
        self._state: dict[str, Any] = {}
        self._supports_lifespan = True
        self._lifespan_error: BaseException | None = None

    # -- WSGI ---------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        loop = self._started()
        length = environ.get("CONTENT_LENGTH") or ""
        stream = environ["wsgi.input"]
        body = stream.read(int(length)) if length.isdigit() else stream.read()
        status, headers, content = loop.run_until_complete(self._serve(_scope(environ, self._state), body))
        start_response(f"{status} {_reason(status)}",
                       [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers])
        return [content]

    async def _serve(self, scope: dict[str, Any], body: bytes
                     ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        sent_body = False
        start: Message | None = None
        chunks: list[bytes] = []
        finished = asyncio.Event()

        async def receive() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            # Asked again after the body: the client "disconnects" once the answer is complete.
            await finished.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    finished.set()

        await self.app(scope, receive, send)
        if start is None:
            raise RuntimeError(f"the ASGI app sent no response to {scope['method']} {scope['path']}")
        content = b"" if scope["method"] == "HEAD" else b"".join(chunks)
        return start["status"], list(start.get("headers", [])), content

    # -- lifespan -----------------------------------------------------------------------------

    def _started(self) -> asyncio.AbstractEventLoop:
        if self._loop is not None:
            return self._loop
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("SameThreadASGI serves from synchronous code only: this thread "
                               "already runs an event loop (use schemathesis.openapi.from_asgi there)")
        self._loop = loop = asyncio.new_event_loop()
        self._to_app, self._from_app = asyncio.Queue(), asyncio.Queue()
        self._lifespan = loop.create_task(self._run_lifespan())
        reply = loop.run_until_complete(self._exchange("lifespan.startup"))
        refused = reply is not None and reply["type"] == "lifespan.startup.failed"
        if self._lifespan_error is not None or refused:
            error = self._lifespan_error
            message = reply.get("message", "") if reply else repr(error)
            self.close()
            raise LifespanFailed(f"the ASGI app failed to start: {message}") from error
        return loop

    async def _run_lifespan(self) -> None:
        assert self._to_app is not None and self._from_app is not None
        to_app, from_app = self._to_app, self._from_app
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self._state}
        asked = False

        async def receive() -> Message:
            nonlocal asked
            asked = True
            return await to_app.get()

        try:
            await self.app(scope, receive, from_app.put)
        except Exception as exc:  # noqa: BLE001 - kept and raised by _started, or by ASGI's rule
            if asked:
                self._lifespan_error = exc
            else:
                # An app without lifespan support raises before it asks for a message (the ASGI
                # spec): the server goes on without lifespan.
                self._supports_lifespan = False
        await from_app.put({"type": "lifespan.ended"})

    async def _exchange(self, message_type: str) -> Message | None:
        assert self._to_app is not None and self._from_app is not None
        await self._to_app.put({"type": message_type})
        reply = await self._from_app.get()
        return None if reply["type"] == "lifespan.ended" else reply

    def close(self) -> None:
        """Run the app's shutdown and close the loop; serving again starts it anew."""
        loop, lifespan = self._loop, self._lifespan
        if loop is None or lifespan is None:
            return
        try:
            if self._supports_lifespan and not lifespan.done():
                loop.run_until_complete(self._exchange("lifespan.shutdown"))
            loop.run_until_complete(lifespan)
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
            self._loop = self._lifespan = self._to_app = self._from_app = None
            self._state = {}
            self._supports_lifespan = True
            self._lifespan_error = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _scope(environ: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    headers: list[tuple[bytes, bytes]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower().encode("latin-1")
        elif key in _UNPREFIXED:
            name = _UNPREFIXED[key]
        else:
            continue
        headers.append((name, value.encode("latin-1")))
    # PATH_INFO holds the unescaped path's bytes as latin-1 text (PEP 3333); ASGI wants the text
    # itself, and the target as sent (escapes kept) in raw_path, which Werkzeug gives as RAW_URI.
    path_bytes = (environ.get("PATH_INFO", "") or "/").encode("latin-1")
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    raw_path = raw.split("?", 1)[0].encode("latin-1") if raw else path_bytes
    server_port = int(environ.get("SERVER_PORT") or 80)
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": environ.get("SERVER_PROTOCOL", "HTTP/1.1").split("/")[-1],
        "method": environ["REQUEST_METHOD"],
        "scheme": environ.get("wsgi.url_scheme", "http"),
        "path": path_bytes.decode("utf-8", "replace"),
        "raw_path": raw_path,
        "root_path": environ.get("SCRIPT_NAME", ""),
        "query_string": environ.get("QUERY_STRING", "").encode("latin-1"),
        "headers": headers,
        # No peer: the client is the name Schemathesis's ASGI client and Starlette's TestClient
        # give, not an address, so nothing that trusts loopback peers (the mock's admin API
        # without a token) trusts it; Werkzeug sets no REMOTE_ADDR unless asked to.
        "client": ((environ["REMOTE_ADDR"], int(environ.get("REMOTE_PORT") or 0))
                   if environ.get("REMOTE_ADDR") else ("testclient", 50000)),
        "server": (environ.get("SERVER_NAME", "localhost"), server_port),
        # Each request gets a shallow copy of what the lifespan stored (ASGI lifespan state).
        "state": dict(state),
    }


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
