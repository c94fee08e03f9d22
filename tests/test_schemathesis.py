"""Schemathesis over the whole vendor spec, in process, with every check: zero failures; and
the same-thread server those runs use (contract_tests.inprocess)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from contract_tests.generation import prepare, vendor_generation
from contract_tests.inprocess import SameThreadASGI
from mock_server.app import create_app
from mock_server.settings import Settings

API_KEY = "schemathesis-key"
# Only one key is valid, as on the real service, so ignored-auth checks can pass.
APP = create_app(Settings(clock="manual", validate_responses=True, seed=7, api_keys=(API_KEY,)))
# Served on this thread (no event-loop thread, no requests session per case): a third faster
# per case than from_asgi, same cases and checks (bench: `make bench ONLY=schemathesis`).
SERVED = SameThreadASGI(APP)
SCHEMA = schemathesis.openapi.from_wsgi("/openapi.json", SERVED)
# The admin API (below) refuses unknown query parameters and keeps them as negative data.
vendor_generation(SCHEMA)
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module", autouse=True)
def _served_apps_shut_down() -> Iterator[None]:
    yield
    SERVED.close()
    ADMIN_SERVED.close()


CASES: Counter[str] = Counter()
MIN_CASES = 1000


# Derandomized: the default suite must not fail on one run in a hundred; random exploration
# at depth is `make hardening` (fresh seeds per round) and `make contract-deep`.
@SCHEMA.parametrize()
@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck), database=None,
          derandomize=True)
def test_mock_conforms_to_the_vendor_spec(case: schemathesis.Case) -> None:
    CASES[case.operation.label] += 1
    prepare(case).call_and_validate(headers=AUTH)


def test_schemathesis_ran_at_least_1000_cases() -> None:
    """Runs after the generated tests (file order); meaningless when they were deselected."""
    if len(CASES) < len(list(SCHEMA.get_all_operations())):
        pytest.skip("not every operation ran in this session")
    print(f"schemathesis cases: {dict(CASES)}")
    assert sum(CASES.values()) >= MIN_CASES


ADMIN_APP = create_app(Settings(clock="manual", validate_responses=True, seed=8))
ADMIN_SERVED = SameThreadASGI(ADMIN_APP)
ADMIN_SCHEMA = schemathesis.openapi.from_wsgi("/_mock/openapi.json", ADMIN_SERVED)
ADMIN_SCHEMA.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@ADMIN_SCHEMA.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None,
          derandomize=True)
def test_admin_api_conforms_to_its_spec(case: schemathesis.Case) -> None:
    case.call_and_validate()


# --- the same-thread server (contract_tests.inprocess) -----------------------------------


def _echo_app(events: list[str], *, fail_start: bool = False) -> Callable[..., Any]:
    """A bare ASGI app: lifespan noted in ``events``, every request answered with what its
    scope said (thread, path, raw path, query, headers, body, lifespan state)."""
    import json
    import threading

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    events.append("startup")
                    scope["state"]["greeting"] = "hello"
                    kind = "lifespan.startup.failed" if fail_start else "lifespan.startup.complete"
                    await send({"type": kind, "message": "no database"})
                    if fail_start:
                        return
                else:
                    events.append("shutdown")
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = (await receive())["body"]
        answer = {"thread": threading.get_ident(), "path": scope["path"],
                  "raw_path": scope["raw_path"].decode("latin-1"),
                  "query": scope["query_string"].decode("latin-1"),
                  "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
                  "body": body.decode("latin-1"), "state": scope["state"].get("greeting")}
        headers = [(b"content-type", b"application/json"), (b"x-twice", b"a"), (b"x-twice", b"b")]
        await send({"type": "http.response.start", "status": 418, "headers": headers})
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})

    return app


def test_same_thread_server_answers_on_the_calling_thread_with_the_request_as_sent() -> None:
    import threading

    from werkzeug import Client

    events: list[str] = []
    with SameThreadASGI(_echo_app(events)) as served:
        headers = {"Authorization": "Bearer k", "Content-Type": "application/json", "Idempotency-Key": "k-1"}
        response = Client(served).post("/v1/t%C3%A4sks/a%2Fb?x=1&y=%20", data=b'{"a": 1}', headers=headers)
        assert events == ["startup"]
        seen = response.get_json()
    assert events == ["startup", "shutdown"]
    assert response.status_code == 418
    assert response.headers.getlist("x-twice") == ["a", "b"]
    assert seen["thread"] == threading.get_ident()
    assert seen["path"] == "/v1/täsks/a/b"
    assert seen["raw_path"] == "/v1/t%C3%A4sks/a%2Fb"
    assert seen["query"] == "x=1&y=%20"
    assert seen["body"] == '{"a": 1}'
    assert seen["headers"]["authorization"] == "Bearer k"
    assert seen["headers"]["idempotency-key"] == "k-1"
    assert seen["headers"]["content-type"] == "application/json"
    assert seen["headers"]["content-length"] == "8"
    assert seen["state"] == "hello"


def test_same_thread_server_says_when_the_app_refuses_to_start() -> None:
    from werkzeug import Client

    from contract_tests.inprocess import LifespanFailed

    served = SameThreadASGI(_echo_app([], fail_start=True))
    with pytest.raises(LifespanFailed, match="failed to start: no database"):
        Client(served).get("/")


def test_same_thread_server_refuses_to_run_inside_a_running_event_loop() -> None:
    import asyncio

    from werkzeug import Client

    async def inside() -> None:
        Client(SameThreadASGI(_echo_app([]))).get("/")

    with pytest.raises(RuntimeError, match="already runs an event loop"):
        asyncio.run(inside())


def test_same_thread_server_gives_the_mock_what_uvicorn_would() -> None:
    """The mock behind the bridge answers as over HTTP: auth, validation envelope, 2xx."""
    from werkzeug import Client

    app = create_app(Settings(clock="manual", seed=3, api_keys=("k1",)))
    with SameThreadASGI(app) as served:
        client = Client(served)
        assert client.get("/v1/credits").status_code == 401
        bad = client.post("/v1/videos/generations", headers={"Authorization": "Bearer k1"},
                          json={"model": "grok-imagine-text-to-video", "prompt": "x", "duration": 7})
        assert bad.status_code == 400
        assert bad.get_json()["error"]["param"] == "duration"
        created = client.post("/v1/videos/generations", headers={"Authorization": "Bearer k1"},
                              json={"model": "grok-imagine-text-to-video", "prompt": "a cat"})
        assert created.status_code == 200
        task = client.get(f"/v1/tasks/{created.get_json()['id']}", headers={"Authorization": "Bearer k1"})
        assert task.get_json()["status"] == "pending"


def test_same_thread_server_client_is_no_loopback_peer() -> None:
    """As with from_asgi: the admin API without a token refuses a client that is no address."""
    from werkzeug import Client

    with SameThreadASGI(create_app(Settings(clock="manual", seed=3))) as served:
        refused = Client(served).get("/_mock/deliveries")
        allowed = Client(served).get("/_mock/deliveries", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert refused.status_code == 403
    assert allowed.status_code == 200
