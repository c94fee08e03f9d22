"""A mock for a test: in process, on a free loopback port, with the manual clock, fresh per use.

Like respx's router, :class:`MockServer` is a plain context manager usable anywhere (a
script, unittest, pytest); the pytest fixture only wraps it. Every helper goes through the
mock's control API (spec/mock-admin.yaml), the same surface a test in another language
would use.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar

import httpx

from mock_server.auth import ADMIN_TOKEN_HEADER
from mock_server.server import RunningServer
from mock_server.settings import Settings

if TYPE_CHECKING:
    from mock_server.service import MockService

DEFAULT_API_KEY = "evolink-mock-test-key"


class MockControlError(RuntimeError):
    """The control API refused a request; ``status`` and the envelope's message say why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class Journal:
    """The requests the mock received, oldest first (``GET /_mock/journal``)."""

    def __init__(self, mock: MockServer) -> None:
        self._mock = mock

    def requests(self, path: str = "*", method: str | None = None) -> list[dict[str, Any]]:
        """Entries whose path matches the glob ``path`` (and ``method``, if given).

        The glob goes to ``GET /_mock/journal?path=`` as is: one matching rule for both."""
        entries = self._mock.control("GET", "/journal", params={"path": path})["entries"]
        return [entry for entry in entries if method is None or entry["method"] == method.upper()]


class MockServer:
    def __init__(self, settings: Settings | None = None, *, api_key: str | None = None) -> None:
        self.settings = settings or Settings(clock="manual")
        keys = self.settings.api_keys
        self.api_key = api_key or (keys[0] if keys else DEFAULT_API_KEY)
        self.journal = Journal(self)
        self._server = RunningServer(self.settings)
        self._control: httpx.Client | None = None

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def service(self) -> MockService:
        """The mock's service object, for what the control API does not offer."""
        return self._server.service

    def start(self) -> Self:
        self._server.start()
        token = self.settings.admin_token
        self._control = httpx.Client(base_url=f"{self.url}/_mock", timeout=10,
                                     headers={ADMIN_TOKEN_HEADER: token} if token else {})
        return self

    def stop(self) -> None:
        if self._control is not None:
            self._control.close()
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        """One control-API call; its JSON answer, or :class:`MockControlError`."""
        assert self._control is not None, "start the mock first (use it as a context manager)"
        answer = self._control.request(method, path, **kwargs)
        if answer.status_code >= 400:
            try:
                message = answer.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = answer.text
            raise MockControlError(answer.status_code, message)
        return answer.json()

    def advance(self, seconds: float) -> float:
        """Move mock time forward; returns the new mock time (unix seconds)."""
        return self.control("POST", "/clock/advance", json={"seconds": seconds})["now"]

    def add_rule(self, **rule: Any) -> dict[str, Any]:
        """Add an admin rule, e.g. ``add_rule(nth=3, action={"http": 500})``."""
        return self.control("POST", "/rules", json=rule)

    def fail_next(self, code: str, model: str | None = None) -> dict[str, Any]:
        """The next task created (for ``model``, if given) fails with this failure code."""
        rule: dict[str, Any] = {"operation": "createVideoGeneration", "times": 1,
                                "action": {"fail": code}}
        return self.add_rule(**rule, **({"model": model} if model else {}))

    def http_error_next(self, status: int, retry_after: int | None = None,
                        operation: str = "any") -> dict[str, Any]:
        """The next request (of ``operation``) is answered with this HTTP error."""
        action: dict[str, Any] = {"http": status}
        if retry_after is not None:
            action["retry_after"] = retry_after
        return self.add_rule(operation=operation, times=1, action=action)

    def drop_next(self, point: str = "after",
                  operation: str = "createVideoGeneration") -> dict[str, Any]:
        """The next request (of ``operation``) gets its connection closed without an answer,
        ``before`` or ``after`` a create is committed ("paid outcome unknown")."""
        return self.add_rule(operation=operation, times=1, action={"drop": point})

    def tasks(self) -> list[dict[str, Any]]:
        """Every task with its stored request, current document and plan."""
        return self.control("GET", "/tasks", params={"limit": 1000})["tasks"]

    def deliveries(self) -> list[dict[str, Any]]:
        """Callback deliveries with their attempts (needs a mock with ``/_mock/deliveries``)."""
        return self.control("GET", "/deliveries")["deliveries"]

    def reset(self, *, restart: bool = False) -> None:
        """Forget tasks, rules and the journal; the clock keeps its time. With ``restart``,
        start over as a mock just launched with the same settings (clock, id sequence,
        journal numbering, ``--scenario`` rules): what a new test should see."""
        self.control("POST", "/reset", json={"restart": True} if restart else None)

    @property
    def running(self) -> bool:
        return self._server.running


class Pooled(Protocol):
    """What a pool keeps: a started server with its settings (MockServer, RunningServer)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def running(self) -> bool: ...

    def stop(self) -> None: ...


P = TypeVar("P", bound=Pooled)


class ServerPool(Generic[P]):
    """Started servers kept for reuse, one per distinct :class:`Settings`; ``start`` makes a
    new one, ``reset`` (a restarting reset) makes a used one as fresh as a new one.

    Starting a mock builds the app and a server (~200 ms); a restarting reset makes a used
    one indistinguishable from a new one in ~1 ms. A server that a test stopped, or whose
    reset failed, is dropped and the next user gets a new one. At most ``keep`` are kept
    (least recently used goes first), so a suite trying many settings holds few servers.
    """

    def __init__(self, start: Callable[[Settings], P], reset: Callable[[P], None], keep: int = 4) -> None:
        self.keep = keep
        self._start, self._reset = start, reset
        self._servers: dict[Settings, P] = {}

    def acquire(self, settings: Settings) -> P:
        """A running server for these settings, as fresh as a new one."""
        server = self._servers.pop(settings, None)
        if server is None or not server.running:
            server = self._start(settings)
        self._servers[settings] = server   # most recently used last
        while len(self._servers) > self.keep:
            self._servers.pop(next(iter(self._servers))).stop()
        return server

    def release(self, server: P) -> None:
        """After use: reset it for the next user, or drop it if that is not possible."""
        try:
            if server.running:
                self._reset(server)
                return
        except (MockControlError, httpx.HTTPError):
            pass
        if self._servers.get(server.settings) is server:
            del self._servers[server.settings]
        server.stop()

    def close(self) -> None:
        for server in self._servers.values():
            server.stop()
        self._servers.clear()


class MockPool(ServerPool[MockServer]):
    """Started :class:`MockServer` s kept for reuse (the pytest fixture keeps one pool per test
    session, so per pytest-xdist worker)."""

    def __init__(self, keep: int = 4) -> None:
        super().__init__(lambda settings: MockServer(settings).start(),
                         lambda mock: mock.reset(restart=True), keep)
