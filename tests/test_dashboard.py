"""The dashboard (``GET /_mock/ui``): its guard over HTTP, and the page in headless Chromium.

The browser tests drive a real mock on the manual clock. Every wait is an explicit
WebDriverWait on what the page shows, never a sleep. Each test leaves a screenshot in its
``tmp_path``; the full tour also writes ``reports/dashboard-test.png``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from mock_server.app import create_app
from mock_server.domain.ids import key_fingerprint
from mock_server.server import RunningServer
from mock_server.settings import Settings
from tests import clients

from .browser import chromium, missing_binary
from .conftest import API_KEY, ROOT
from .receivers import Receiver

TOKEN = "dashboard-s3cret"
REPORT = ROOT / "reports" / "dashboard-test.png"
GROK = {"model": "grok-imagine-text-to-video", "prompt": "a kite over the dunes"}
GROK_IMAGE = {"model": "grok-imagine-image-to-video", "prompt": "a paper boat drifts down a street",
              "image_urls": ["https://example.com/boat.jpg"]}
KLING = {"model": "kling-o3-text-to-video", "prompt": "a cat running on a grassy field"}
# The field name comes back in the error message: the page must show it as text.
MARKUP_FIELD = '<img src="x" onerror="document.title=1">'

READ_TASK = """
const row = document.querySelector(`#task-rows tr[data-key="${arguments[0]}"]`);
if (!row) return null;
return {status: row.cells[1].textContent, outcome: row.cells[4].firstChild.textContent,
        progress: Number(row.querySelector("[role=progressbar]").getAttribute("aria-valuenow")),
        playable: !row.querySelector("button").hidden};
"""
READ_DELIVERIES = """
const group = document.querySelector(`#delivery-groups > [data-key="${arguments[0]}"]`);
return group ? Array.from(group.lastChild.children, (card) => ({
  id: card.dataset.key, state: card.querySelector(".head .pill").textContent,
  sent: card.querySelectorAll(".timeline .mark.sent").length, text: card.innerText})) : [];
"""


# --- the guard, over HTTP --------------------------------------------------------------------


def test_dashboard_is_guarded_like_the_admin_api_and_takes_the_token_from_the_url() -> None:
    with RunningServer(Settings(clock="manual", validate_responses=True, admin_token=TOKEN)) as server:
        url = f"{server.url}/_mock/ui"
        assert clients.get(url).status_code == 401
        assert clients.get(url, params={"token": "nope"}).json()["error"]["code"] == "admin_forbidden"
        assert clients.get(url, params={"token": TOKEN},
                           headers={"X-Mock-Admin-Token": "nope"}).status_code == 403
        assert clients.get(url, headers={"X-Mock-Admin-Token": TOKEN}).status_code == 200
        page = clients.get(url, params={"token": TOKEN})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'sha256-" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"


def test_dashboard_answers_loopback_clients_only_without_a_token() -> None:
    app = create_app(Settings(clock="manual"))

    async def status(host: str) -> int:
        transport = httpx.ASGITransport(app=app, client=(host, 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as http:
            return (await http.get("/_mock/ui")).status_code

    assert asyncio.run(status("10.1.2.3")) == 403
    assert asyncio.run(status("127.0.0.1")) == 200


# --- the page, in Chromium -------------------------------------------------------------------


class Dashboard:
    def __init__(self, driver: Chrome, server: RunningServer) -> None:
        self.driver = driver
        self.server = server

    def open(self, query: str = "") -> None:
        self.driver.get(f"{self.server.url}/_mock/ui{query}")
        self.until(lambda: self.driver.find_element(By.ID, "clock-now").text)

    def until(self, condition: Callable[[], Any], timeout: float = 10) -> Any:
        return WebDriverWait(self.driver, timeout).until(lambda _driver: condition())

    def task(self, task_id: str) -> dict[str, Any] | None:
        return self.driver.execute_script(READ_TASK, task_id)

    def deliveries(self, task_id: str) -> list[dict[str, Any]]:
        return self.driver.execute_script(READ_DELIVERIES, task_id)

    def journal(self) -> list[str]:
        return self.driver.execute_script(
            "return Array.from(document.querySelectorAll('#journal-rows tr'), (row) => row.innerText)")

    def advance(self, seconds: float) -> None:
        form = self.driver.find_element(By.ID, "advance")
        self.until(form.is_displayed)
        field = form.find_element(By.ID, "advance-seconds")
        field.clear()
        field.send_keys(f"{seconds:g}")
        button = form.find_element(By.TAG_NAME, "button")
        self.until(button.is_enabled)
        button.click()

    def filter(self, name: str, text: str) -> None:
        field = self.driver.find_element(By.ID, f"filter-{name}")
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(Keys.DELETE, text)

    def click(self, label: str) -> None:
        self.driver.find_element(By.CSS_SELECTOR, f'button[aria-label="{label}"]').click()

    def video_source(self) -> str:
        return self.driver.execute_script("return document.getElementById('player').currentSrc")


@pytest.fixture(scope="module")
def driver() -> Iterator[Chrome]:
    missing = missing_binary()
    if missing:
        pytest.skip(f"{missing} is missing: apt-get install -y chromium chromium-driver")
    with chromium() as browser:
        yield browser


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    """A callback receiver answering 500 four times (parametrize indirectly for another plan)."""
    with Receiver(*getattr(request, "param", (500, 500, 500, 500))) as running:
        yield running


@pytest.fixture
def settings(receiver: Receiver, request: pytest.FixtureRequest) -> Settings:
    return Settings(clock="manual", validate_responses=True, seed=21,
                    allow_callback_hosts=(receiver.host_port,), **getattr(request, "param", {}))


@pytest.fixture
def page(driver: Chrome, server: RunningServer, tmp_path: Any) -> Iterator[Dashboard]:
    driver.get("about:blank")
    driver.get_log("browser")  # start this test's console log afresh
    yield Dashboard(driver, server)
    driver.save_screenshot(str(tmp_path / "dashboard.png"))
    driver.get("about:blank")  # stop polling before the server goes away


def create(client: httpx.Client, body: dict[str, Any], scenario: str | None = None) -> str:
    headers = {"X-Mock-Scenario": scenario} if scenario else {}
    response = client.post("/v1/videos/generations", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["id"]


def test_task_appears_and_its_progress_bar_follows_the_advance_control(
        page: Dashboard, client: httpx.Client) -> None:
    task_id = create(client, KLING)
    page.open()
    assert page.until(lambda: page.task(task_id)) == {
        "status": "pending", "outcome": "will complete", "progress": 0, "playable": False}

    page.advance(150)
    first = page.until(lambda: (task := page.task(task_id))["progress"] > 0 and task)
    assert first["status"] == "processing"
    page.advance(60)
    page.until(lambda: page.task(task_id)["progress"] > first["progress"])
    page.advance(1000)
    assert page.until(lambda: (task := page.task(task_id))["status"] == "completed" and task) == {
        "status": "completed", "outcome": "", "progress": 100, "playable": True}


def test_dropped_and_replayed_creates_are_marked_in_the_journal(
        page: Dashboard, client: httpx.Client) -> None:
    keyed = {"Idempotency-Key": "dashboard-retry-key-01"}
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/v1/videos/generations", json=GROK, headers={**keyed, "X-Mock-Scenario": "drop=after"})
    replay = client.post("/v1/videos/generations", json=GROK, headers=keyed)
    assert replay.headers["idempotency-replayed"] == "true"
    page.open()
    replayed, dropped = page.until(lambda: len(rows := page.journal()) == 2 and rows)
    assert "no answer" in dropped and "dropped" in dropped
    assert "after the create was committed" in dropped and "dashboard-retry-key-01" in dropped
    assert "replayed" in replayed and "200" in replayed


def test_rejected_request_shows_its_message_in_the_journal_and_filters_apply(
        page: Dashboard, client: httpx.Client) -> None:
    other_key = "dashboard-other-key"
    rejected = client.post("/v1/videos/generations", json={**GROK, MARKUP_FIELD: 1})
    assert rejected.status_code == 400
    client.get("/v1/tasks/task-unknown", headers={"Authorization": f"Bearer {other_key}"})
    page.open()

    [row] = page.until(lambda: [row for row in page.journal() if "is not a known field" in row])
    assert "rejected" in row and "invalid_request" in row and MARKUP_FIELD in row
    assert not page.driver.find_elements(By.CSS_SELECTOR, "#journal-rows img")

    page.filter("path", "/v1/tasks")
    page.until(lambda: (rows := page.journal()) and all("GET /v1/tasks/task-unknown" in row for row in rows))
    page.filter("path", "")
    page.filter("key", key_fingerprint(API_KEY))
    page.until(lambda: (rows := page.journal()) and all("POST /v1/videos/generations" in row for row in rows))


def test_failed_delivery_shows_its_attempts_and_replay_sends_again(
        page: Dashboard, client: httpx.Client, receiver: Receiver) -> None:
    task_id = create(client, {**GROK, "callback_url": receiver.url()}, scenario="takes=10")
    page.open()
    page.advance(10)  # the task completes: first attempt
    for attempts, wait in ((2, 1), (3, 2), (4, 4)):  # then retries after 1, 2 and 4 s
        # until() calls the lambda before the loop moves on.
        page.until(lambda: [d["sent"] for d in page.deliveries(task_id)] == [attempts - 1])  # noqa: B023
        page.advance(wait)
    [failed] = page.until(
        lambda: (found := page.deliveries(task_id)) and found[0]["state"] == "failed" and found)
    assert failed["sent"] == 4 and failed["text"].count("500") == 4
    assert len(receiver.wait_for(4)) == 4

    page.click(f"Replay delivery {failed['id']}")
    assert len(receiver.wait_for(5)) == 5
    replay = page.until(lambda: (found := page.deliveries(task_id))[1:] and found[1]["state"] == "delivered"
                        and found[1])
    assert f"replay of {failed['id']}" in replay["text"] and "200" in replay["text"]


def test_completed_task_plays_its_result_video_in_the_page(
        page: Dashboard, client: httpx.Client) -> None:
    task_id = create(client, GROK, scenario="takes=10")
    page.open()
    page.advance(10)
    page.until(lambda: page.task(task_id)["playable"])
    page.click(f"Play the result of {task_id}")
    [result] = client.get(f"/v1/tasks/{task_id}").json()["results"]
    page.until(lambda: page.video_source() == result)
    # The browser read the MP4's metadata: the link serves a video it can play.
    page.until(lambda: page.driver.execute_script("return document.getElementById('player').readyState") >= 1)


@pytest.mark.parametrize(("receiver", "settings"), [((500,), {"admin_token": TOKEN})], indirect=True)
def test_full_tour_with_an_admin_token(page: Dashboard, client: httpx.Client, receiver: Receiver) -> None:
    done = create(client, {**GROK, "callback_url": receiver.url()}, scenario="takes=10")
    failing = create(client, KLING, scenario="fail=service_error; takes=20")
    running = create(client, GROK_IMAGE, scenario="takes=300")
    assert client.post("/v1/videos/generations", json={**KLING, "duration": 2}).status_code == 400
    admin = {"X-Mock-Admin-Token": TOKEN}
    rule = {"operation": "createVideoGeneration", "times": 3, "action": {"http": 429, "retry_after": 2}}
    assert client.post("/_mock/rules", json=rule, headers=admin).status_code == 201

    page.open(f"?token={TOKEN}")
    page.advance(12)  # the page's own POST carries the token too
    page.until(lambda: page.task(done)["status"] == "completed")
    page.advance(10)
    page.until(lambda: (found := page.deliveries(done)) and found[0]["state"] == "delivered")
    assert page.task(failing)["outcome"] == "service_error"
    assert page.task(running)["status"] == "processing"
    assert any("duration" in row and "rejected" in row for row in page.journal())
    assert "http=429 retry_after=2" in page.driver.find_element(By.ID, "rule-rows").text
    page.click(f"Play the result of {done}")
    page.until(lambda: page.video_source().endswith(f"/media/{done}.mp4"))

    section_errors = page.driver.find_elements(By.CSS_SELECTOR, "p.error:not([hidden])")
    assert [note.text for note in section_errors] == []
    assert [entry for entry in page.driver.get_log("browser") if entry["level"] == "SEVERE"] == []
    REPORT.parent.mkdir(exist_ok=True)
    page.driver.save_screenshot(str(REPORT))
