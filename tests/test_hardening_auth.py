"""Auth hardening: constant-time key checks, the admin guard, and keys never written down.

* Every configured API key is compared (``hmac.compare_digest``) on every request,
  wherever the match is — counted by wrapping ``compare_digest``. (A rough timing
  measurement is in the long run's report only: ``python -m hardening.auth_timing``.)
* The admin API refuses non-loopback clients without its token, and everyone with a wrong
  token, on every admin operation (ASGI-level client address, as in
  tests/test_credits_and_admin_guard.py).
* A distinctive API key (and the admin token) appears nowhere in the request logs
  (``--log-format text`` and ``json``, subprocess stdout/stderr), the journal, the
  deliveries, the task listings or the bytes of the ``--state`` SQLite files.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hardening.common import MockProcess
from hardening.load import callback_receiver
from mock_server import auth
from mock_server.app import create_app
from mock_server.errors import ApiError
from mock_server.settings import Settings
from mock_server.spec import ADMIN_SPEC, load_spec
from tests import clients
from tests.receivers import Receiver

KEYS = tuple(f"sk-hardening-{n}-{'x' * n}" for n in range(1, 6))


# --- constant-time comparison ---------------------------------------------------------------


class _Request:
    def __init__(self, authorization: str) -> None:
        self.headers = {"authorization": authorization}


@pytest.fixture
def compare_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    calls: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    return calls


@pytest.mark.parametrize("token", [*KEYS, "sk-not-a-key", KEYS[0][:-1], KEYS[-1] + "y", "x" * 500],
                         ids=["match-1st", "match-2nd", "match-3rd", "match-4th", "match-5th",
                              "no-match", "prefix", "longer", "long-junk"])
def test_every_key_is_compared_whatever_matches(token: str, compare_calls: list[Any]) -> None:
    verify = auth.make_verifier(KEYS)
    try:
        result = verify(_Request(f"Bearer {token}"))
    except ApiError as exc:
        assert token not in KEYS and exc.status == 401   # noqa: PT017 - accepted and refused tokens share one parametrized test
    else:
        assert result == {"sub": token}
    assert len(compare_calls) == len(KEYS)
    assert {key for _token, key in compare_calls} == {key.encode() for key in KEYS}


def test_every_key_is_compared_through_the_http_stack(compare_calls: list[Any]) -> None:
    app = create_app(Settings(clock="manual", api_keys=KEYS))

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as http:
            statuses = []
            for token in (KEYS[0], KEYS[-1], "sk-wrong"):
                before = len(compare_calls)
                response = await http.get("/v1/tasks/task-unified-1",
                                          headers={"Authorization": f"Bearer {token}"})
                statuses.append(response.status_code)
                assert len(compare_calls) - before == len(KEYS), token
            return statuses

    assert asyncio.run(run()) == [404, 404, 401]


# --- the admin guard --------------------------------------------------------------------------


def _admin_requests() -> list[tuple[str, str, dict[str, Any] | None]]:
    """One request per admin operation (paths with placeholders filled in)."""
    spec = load_spec(ADMIN_SPEC)
    bodies: dict[str, dict[str, Any]] = {"adminAdvanceClock": {"seconds": 1},
                                         "adminAddRule": {"action": {"delay": 0}}}
    requests: list[tuple[str, str, dict[str, Any] | None]] = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "delete", "put", "patch"}:
                continue
            concrete = path.replace("{task_id}", "task-unified-1").replace("{delivery_id}", "dlv-1")
            requests.append((method.upper(), "/_mock" + concrete, bodies.get(operation["operationId"])))
    return requests


ADMIN_REQUESTS = _admin_requests()


def _status(app: Any, client: str, method: str, path: str, body: Any,
            headers: dict[str, str] | None = None) -> int:
    async def run() -> int:
        transport = httpx.ASGITransport(app=app, client=(client, 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as http:
            response = await http.request(method, path, json=body, headers=headers or {})
            return response.status_code

    return asyncio.run(run())


@pytest.fixture(scope="module")
def open_app() -> Any:
    return create_app(Settings(clock="manual"))


@pytest.fixture(scope="module")
def token_app() -> Any:
    return create_app(Settings(clock="manual", admin_token="hardening-admin-token"))


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_REQUESTS,
                         ids=[f"{m} {p}" for m, p, _b in ADMIN_REQUESTS])
@pytest.mark.parametrize("client", ["10.1.2.3", "192.168.1.20", "8.8.8.8", "::ffff:10.0.0.1", "fd00::5"])
def test_admin_api_refuses_non_loopback_clients_without_a_token(open_app: Any, client: str, method: str,
                                                                path: str, body: Any) -> None:
    spoofed = {"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1", "Forwarded": "for=127.0.0.1"}
    assert _status(open_app, client, method, path, body) == 403
    assert _status(open_app, client, method, path, body, spoofed) == 403


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_REQUESTS,
                         ids=[f"{m} {p}" for m, p, _b in ADMIN_REQUESTS])
def test_admin_api_with_a_token_refuses_missing_and_wrong_tokens(token_app: Any, method: str, path: str,
                                                                 body: Any) -> None:
    for client in ("127.0.0.1", "10.1.2.3"):
        assert _status(token_app, client, method, path, body) in (401, 403), client
        for wrong in ("hardening-admin-tokeN", "hardening-admin-token ", "x", "h" * 4096):
            assert _status(token_app, client, method, path, body,
                           {"X-Mock-Admin-Token": wrong}) == 403, (client, wrong)
    assert _status(token_app, "10.1.2.3", method, path, body,
                   {"X-Mock-Admin-Token": "hardening-admin-token"}) not in (401, 403)


def test_dashboard_token_in_the_query_is_checked_too(token_app: Any) -> None:
    assert _status(token_app, "10.1.2.3", "GET", "/_mock/ui?token=wrong", None) == 403
    assert _status(token_app, "10.1.2.3", "GET", "/_mock/ui?token=hardening-admin-token", None) == 200


# --- keys never written down ---------------------------------------------------------------


SECRET_KEY = "sk-live-HARDENING-0123456789abcdef-SECRET"
WRONG_KEY = "sk-live-WRONG-fedcba9876543210-NOTAKEY"
ADMIN_TOKEN = "adm-HARDENING-5f3c2a-TOKEN"


@pytest.fixture(params=["text", "json"])
def logged_mock(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[MockProcess, Path]]:
    state = tmp_path / "keys.sqlite"
    with callback_receiver() as receiver:
        mock = MockProcess("--clock", "manual", "--log-format", request.param, "--api-key", SECRET_KEY,
                           "--state", str(state), "--allow-callback-host", receiver.host_port,
                           log_dir=tmp_path, name=f"keys-{request.param}", admin_token=ADMIN_TOKEN)
        with mock:
            mock.receiver = receiver   # type: ignore[attr-defined]
            yield mock, state


def test_api_keys_appear_in_no_log_journal_delivery_or_state_file(
        logged_mock: tuple[MockProcess, Path]) -> None:
    mock, state = logged_mock
    receiver: Receiver = mock.receiver   # type: ignore[attr-defined]
    admin = mock.admin_headers()
    good = {"Authorization": f"Bearer {SECRET_KEY}"}
    answers: dict[str, str] = {}
    with clients.Client(base_url=mock.url, timeout=10) as http:
        created = http.post("/v1/videos/generations", headers=good, json={
            "model": "grok-imagine-text-to-video", "prompt": "a kite",
            "callback_url": receiver.url("/ok/keys")}).json()
        task_id = created["id"]
        failing = http.post("/v1/videos/generations", headers=good, json={
            "model": "grok-imagine-text-to-video", "prompt": "x [mock:fail=service_error]",
            "callback_url": receiver.url("/fail/keys")}).json()["id"]
        assert http.get(f"/v1/tasks/{task_id}", headers=good).status_code == 200
        # Rejected requests are journaled with their bodies: none of these carries the key.
        assert http.post("/v1/videos/generations", headers=good, json={"model": "nope"}).status_code == 400
        assert http.get(f"/v1/tasks/{task_id}",
                        headers={"Authorization": f"Bearer {WRONG_KEY}"}).status_code == 401
        for header in (f"Basic {SECRET_KEY}", f"Bearer  {SECRET_KEY} extra", f"bearer {SECRET_KEY}",
                       SECRET_KEY, f"Token {WRONG_KEY}"):
            assert http.get(f"/v1/tasks/{task_id}", headers={"Authorization": header}).status_code in (200,
                                                                                                       401)
        assert http.get(f"/_mock/ui?token={ADMIN_TOKEN}").status_code == 200
        assert http.get("/_mock/health",
                        headers={"X-Mock-Admin-Token": "wrong-" + ADMIN_TOKEN}).status_code == 403
        http.post("/_mock/clock/advance", headers=admin, json={"seconds": 400}).raise_for_status()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            deliveries = http.get("/_mock/deliveries", headers=admin).json()["deliveries"]
            if len(deliveries) == 2 and all(delivery["attempts"] for delivery in deliveries):
                break
            time.sleep(0.05)
        for path in ("/_mock/journal", "/_mock/deliveries", "/_mock/tasks", f"/_mock/tasks/{task_id}",
                     f"/_mock/tasks/{failing}", "/_mock/rules", "/_mock/health"):
            response = http.get(path, headers=admin)
            assert response.status_code == 200, path
            answers[path] = response.text
        answers["task document"] = http.get(f"/v1/tasks/{task_id}", headers=good).text
    assert receiver.requests, "the callback should have arrived"
    journal = json.loads(answers["/_mock/journal"])["entries"]
    assert len(journal) >= 8 and all(entry["key"] is None or len(entry["key"]) == 16 for entry in journal)
    mock.stop()
    logs = mock.stdout_path.read_bytes() + mock.stderr_path.read_bytes()
    assert b"/v1/tasks/" in logs, "the request log should have lines"
    files = {path.name: path.read_bytes() for path in state.parent.glob(state.name + "*")}
    assert state.name in files
    callbacks = b"".join(hit.path.encode() for hit in receiver.requests)
    for secret in (SECRET_KEY, WRONG_KEY, ADMIN_TOKEN):
        needle = secret.encode()
        assert needle not in logs, f"{secret} is in the request log"
        for name, text in answers.items():
            assert secret not in text, f"{secret} is in {name}"
        for name, data in files.items():
            assert needle not in data, f"{secret} is in {name}"
            assert secret.encode("utf-16-le") not in data, f"{secret} is in {name} (UTF-16)"
        assert needle not in callbacks
