"""Bearer authentication: who gets in, what the refusal looks like, how keys are configured.

The module's server accepts only the keys ``k1`` and ``k2`` (``--api-key k1 --api-key k2``);
tests of the default (any non-empty token) start their own server.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mock_server import auth
from mock_server.auth import key_matches
from mock_server.cli import build_parser
from mock_server.server import RunningServer
from mock_server.settings import Settings, from_args, from_env
from tests import clients

from .test_http_errors import expect_error, serving

CREATE = "/v1/videos/generations"
BODY = {"model": "grok-imagine-text-to-video", "prompt": "A lighthouse at night"}
SOME_TASK = "/v1/tasks/task-unified-1757169743-7cvnl5zw"
KEYS = ("k1", "k2")


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(clock="manual", validate_responses=True, seed=99, api_keys=KEYS)


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[RunningServer]:
    with RunningServer(settings) as running:
        yield running


def call(server: RunningServer, method: str, path: str, authorization: str | bytes | None,
         headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
    sent: dict[str, Any] = dict(headers or {})   # the Authorization header may be raw bytes
    if authorization is not None:
        sent["Authorization"] = authorization
    return clients.request(method, server.url + path, headers=sent, timeout=10, **kwargs)


def expect_unauthorized(response: httpx.Response, *says: str) -> None:
    expect_error(response, 401, "unauthorized", "authentication_error", None,
                 says=("API key", *says))


ENDPOINTS = [("POST", CREATE), ("GET", SOME_TASK)]
ENDPOINT_IDS = ["create", "task-query"]


def _kwargs(method: str) -> dict[str, Any]:
    return {"json": BODY} if method == "POST" else {}


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("method, path", ENDPOINTS, ids=ENDPOINT_IDS)
def test_missing_authorization_header_gets_401(server: RunningServer, method: str,
                                               path: str) -> None:
    expect_unauthorized(call(server, method, path, None, **_kwargs(method)),
                        "Authorization: Bearer")


@pytest.mark.parametrize("authorization", ["Basic x", "Basic azE6", "Token k1", "k1",
                                           "Bearer", "Bearer\tk1"],
                         ids=["basic", "basic-k1", "token-scheme", "bare-key", "bearer-no-token",
                              "bearer-tab"])
@pytest.mark.parametrize("method, path", ENDPOINTS, ids=ENDPOINT_IDS)
def test_malformed_authorization_gets_401(server: RunningServer, method: str, path: str,
                                          authorization: str) -> None:
    expect_unauthorized(call(server, method, path, authorization, **_kwargs(method)),
                        "Authorization: Bearer")


def test_bearer_with_only_whitespace_as_token_gets_401(server: RunningServer) -> None:
    # httpx refuses to send a header value ending in whitespace; http.client does not.
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", SOME_TASK, headers={"Authorization": "Bearer    "})
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    wrapped = httpx.Response(response.status, headers=response.getheaders(), content=body)
    expect_unauthorized(wrapped)


@pytest.mark.parametrize("method, path", ENDPOINTS, ids=ENDPOINT_IDS)
def test_key_not_in_the_configured_list_gets_401(server: RunningServer, method: str,
                                                 path: str) -> None:
    expect_unauthorized(call(server, method, path, "Bearer k3", **_kwargs(method)),
                        "Invalid API key")


@pytest.mark.parametrize("token", ["k", "k1x", "K1", "k1k2", "k1 k2"])
def test_prefixes_and_variants_of_a_key_get_401(server: RunningServer, token: str) -> None:
    expect_unauthorized(call(server, "GET", SOME_TASK, f"Bearer {token}"), "Invalid API key")


def test_authentication_is_checked_before_the_body(server: RunningServer) -> None:
    """An unauthenticated caller learns nothing about validation."""
    expect_unauthorized(call(server, "POST", CREATE, None, json={"model": "nope"}))
    expect_unauthorized(call(server, "POST", CREATE, "Bearer k3", content=b"{not json",
                             headers={"content-type": "application/json"}))


def test_authentication_is_checked_before_the_task_id(server: RunningServer) -> None:
    expect_unauthorized(call(server, "GET", "/v1/tasks/not-a-task-id", None))
    expect_unauthorized(call(server, "GET", SOME_TASK, "Bearer k3"))


# --- acceptance ----------------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_every_configured_key_is_accepted(server: RunningServer, key: str) -> None:
    created = call(server, "POST", CREATE, f"Bearer {key}", json=BODY)
    assert created.status_code == 200, created.text
    queried = call(server, "GET", f"/v1/tasks/{created.json()['id']}", f"Bearer {key}")
    assert queried.status_code == 200, queried.text


def test_bearer_scheme_is_case_insensitive(server: RunningServer) -> None:
    assert call(server, "POST", CREATE, "bearer k1", json=BODY).status_code == 200
    assert call(server, "POST", CREATE, "BEARER k2", json=BODY).status_code == 200


def test_configured_keys_are_separate_accounts(server: RunningServer) -> None:
    task_id = call(server, "POST", CREATE, "Bearer k1", json=BODY).json()["id"]
    expect_error(call(server, "GET", f"/v1/tasks/{task_id}", "Bearer k2"), 403,
                 "permission_denied", "invalid_request_error", "task_id")


def test_any_non_empty_token_is_accepted_by_default() -> None:
    with serving(Settings(clock="manual", validate_responses=True), api_key=None) as (running, _):
        for authorization in ("Bearer anything", "Bearer k3", "Bearer ключ".encode()):
            response = call(running, "POST", CREATE, authorization, json=BODY)
            assert response.status_code == 200, (authorization, response.text)
        expect_unauthorized(call(running, "POST", CREATE, None, json=BODY))
        expect_unauthorized(call(running, "POST", CREATE, "Bearer", json=BODY))


def test_unauthenticated_docs_are_public(server: RunningServer) -> None:
    assert call(server, "GET", "/openapi.json", None).status_code == 200
    assert call(server, "GET", "/ui/", None).status_code == 200


# --- configuration: environment and flags --------------------------------------------------


def test_env_var_lists_the_api_keys() -> None:
    assert from_env({"EVOLINK_MOCK_API_KEYS": "a,b"}).api_keys == ("a", "b")


def test_env_var_api_keys_ignores_blanks_and_spaces() -> None:
    assert from_env({"EVOLINK_MOCK_API_KEYS": " a , ,b ,"}).api_keys == ("a", "b")


def test_empty_env_var_keeps_the_default_of_any_key() -> None:
    assert from_env({"EVOLINK_MOCK_API_KEYS": ""}).api_keys == ()
    assert from_env({}).api_keys == ()


def test_env_is_read_from_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOLINK_MOCK_API_KEYS", "a,b")
    assert from_env().api_keys == ("a", "b")


def test_flags_override_the_env_var() -> None:
    args = build_parser().parse_args(["serve", "--api-key", "c", "--api-key", "d"])
    assert from_args(args, {"EVOLINK_MOCK_API_KEYS": "a,b"}).api_keys == ("c", "d")


def test_env_var_applies_when_no_flag_is_given() -> None:
    args = build_parser().parse_args(["serve", "--port", "9100"])
    settings = from_args(args, {"EVOLINK_MOCK_API_KEYS": "a,b", "EVOLINK_MOCK_PORT": "9000"})
    assert settings.api_keys == ("a", "b")
    assert settings.port == 9100


def test_keys_from_the_env_are_enforced_by_the_server() -> None:
    settings = from_env({"EVOLINK_MOCK_API_KEYS": "a,b", "EVOLINK_MOCK_CLOCK": "manual"},
                        base=Settings(validate_responses=True))
    with serving(settings, api_key=None) as (running, _):
        assert call(running, "POST", CREATE, "Bearer a", json=BODY).status_code == 200
        assert call(running, "POST", CREATE, "Bearer b", json=BODY).status_code == 200
        expect_unauthorized(call(running, "POST", CREATE, "Bearer c", json=BODY),
                            "Invalid API key")


# --- key_matches: constant-time membership -------------------------------------------------


ENCODED = (b"k1", b"k2", "ключ".encode())


@pytest.mark.parametrize("token, expected", [
    ("k1", True),
    ("k2", True),
    ("ключ", True),
    ("k", False),
    ("k12", False),
    ("K1", False),
    ("", False),
    ("клю", False),
    ("k1\x00", False),
])
def test_key_matches_answers_membership(token: str, expected: bool) -> None:
    assert key_matches(token.encode("utf-8"), ENCODED) is expected


def test_key_matches_nothing_when_no_keys() -> None:
    assert key_matches(b"k1", ()) is False
    assert key_matches(b"", ()) is False


def test_key_matches_an_empty_configured_key_only_with_an_empty_token() -> None:
    assert key_matches(b"", (b"",)) is True
    assert key_matches(b"x", (b"",)) is False


@pytest.mark.parametrize("token", ["k1", "k2", "ключ", "nope"])
def test_key_matches_compares_against_every_key(monkeypatch: pytest.MonkeyPatch,
                                                token: str) -> None:
    compared: list[bytes] = []
    real = auth.hmac.compare_digest

    def counting(candidate: bytes, key: bytes) -> bool:
        compared.append(key)
        return real(candidate, key)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    key_matches(token.encode("utf-8"), ENCODED)
    assert compared == list(ENCODED), "stopped early: timing would reveal which key matched"


def test_configured_non_ascii_key_is_usable_or_refused_at_startup() -> None:
    """A key the mock accepts in its settings must be one a client can actually send.

    Header bytes arrive as latin-1 text; a key like ``ключ`` sent as UTF-8 must match (or the
    mock must refuse such a key when it starts, instead of silently never matching it).
    """
    settings = Settings(clock="manual", api_keys=("ключ",))
    try:
        running = RunningServer(settings).start()
    except ValueError:
        return
    try:
        response = call(running, "GET", SOME_TASK, "Bearer ключ".encode())
        expect_error(response, 404, "task_not_found", "invalid_request_error", "task_id")
    finally:
        running.stop()
