"""Per-key credit balances (--credits) and the admin API's guard (--admin-token / loopback)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from mock_server.settings import Settings

KLING = {"model": "kling-o3-text-to-video", "prompt": "x"}     # 7 credits
GROK = {"model": "grok-imagine-text-to-video", "prompt": "x"}  # 5 credits


@pytest.fixture
def settings() -> Settings:
    return Settings(clock="manual", credits=12, admin_token="s3cret", validate_responses=True)


ADMIN = {"X-Mock-Admin-Token": "s3cret"}


def test_exhausted_balance_answers_402_insufficient_quota(client: httpx.Client) -> None:
    assert client.post("/v1/videos/generations", json=KLING).status_code == 200
    assert client.post("/v1/videos/generations", json=GROK).status_code == 200
    refused = client.post("/v1/videos/generations", json=GROK)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "insufficient_quota"
    assert refused.json()["error"]["type"] == "insufficient_quota"


def test_balances_are_per_key(client: httpx.Client) -> None:
    for _ in range(2):
        client.post("/v1/videos/generations", json=GROK)
    other = client.post("/v1/videos/generations", json=GROK,
                        headers={"Authorization": "Bearer someone-else"})
    assert other.status_code == 200


def test_failed_task_refunds_its_credits(client: httpx.Client) -> None:
    failing = {"model": "kling-o3-text-to-video", "prompt": "x [mock:fail=service_error]"}
    assert client.post("/v1/videos/generations", json=failing).status_code == 200
    assert client.post("/v1/videos/generations", json=KLING).status_code == 402
    client.post("/_mock/clock/advance", json={"seconds": 1000}, headers=ADMIN)
    assert client.post("/v1/videos/generations", json=KLING).status_code == 200


def test_admin_api_requires_the_token_when_one_is_set(client: httpx.Client) -> None:
    missing = client.get("/_mock/health")
    assert missing.status_code == 401
    wrong = client.get("/_mock/health", headers={"X-Mock-Admin-Token": "nope"})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "admin_forbidden"
    assert client.get("/_mock/health", headers=ADMIN).status_code == 200


@pytest.mark.parametrize(("host", "expected"), [
    ("10.1.2.3", 403), ("192.168.0.9", 403), ("8.8.8.8", 403), ("127.0.0.1", 200), ("::1", 200)])
def test_admin_api_answers_only_loopback_clients_without_a_token(host: str, expected: int) -> None:
    """Only loopback exists on a test machine, so the client address is set at the ASGI level."""
    from mock_server.app import create_app

    app = create_app(Settings(clock="manual"))

    async def status() -> int:
        transport = httpx.ASGITransport(app=app, client=(host, 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as http:
            return (await http.get("/_mock/health")).status_code

    assert asyncio.run(status()) == expected
