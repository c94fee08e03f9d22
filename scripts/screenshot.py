"""Regenerate docs/dashboard.png: the dashboard over a short scripted session, at 1280×900.

Run from the repository root as ``python -m scripts.screenshot [OUT.png]`` (``make screenshot``).
Needs Debian's chromium and chromium-driver, like the browser tests.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from mock_server.server import RunningServer
from mock_server.settings import Settings
from tests.browser import chromium, missing_binary
from tests.receivers import Receiver

ROOT = Path(__file__).resolve().parents[1]
KITE = {"model": "grok-imagine-text-to-video", "prompt": "A kite over the dunes at sunset"}
CAT = {"model": "kling-o3-text-to-video", "prompt": "A cat running on a grassy field"}
BOAT = {"model": "grok-imagine-image-to-video", "prompt": "The paper boat drifts down the street",
        "image_urls": ["https://example.com/boat.jpg"]}
RULES = (
    {"operation": "createVideoGeneration", "nth": 3, "action": {"http": 429, "retry_after": 2}},
    {"operation": "createVideoGeneration", "model": "kling-o3-text-to-video", "probability": 0.1,
     "action": {"fail": "generation_timeout"}},
)
READY = """
const player = document.getElementById("player");
return document.querySelectorAll("#task-rows tr").length === arguments[0]
  && document.querySelectorAll("#delivery-groups .delivery").length === 2
  && player.readyState >= 2 && player.currentTime > 0.5;
"""


def session(server: RunningServer, receiver: Receiver, refused: str) -> tuple[int, str]:
    """A completed, a failed, a processing and a pending task, a rejection, a 429, callbacks.

    The clock moves in 1 s steps, as a scaled clock would, so callbacks go out when due.
    Returns the number of tasks and the id of the completed one.
    """
    with httpx.Client(base_url=server.url, timeout=10,
                      headers={"Authorization": "Bearer sk-demo-app"}) as http:
        def advance(seconds: int) -> None:
            for _ in range(seconds):
                http.post("/_mock/clock/advance", json={"seconds": 1}).raise_for_status()
                server.service.callbacks.wait_idle()

        for rule in RULES:
            http.post("/_mock/rules", json=rule).raise_for_status()
        kite = http.post("/v1/videos/generations", json={**KITE, "callback_url": receiver.url()}).json()["id"]
        advance(30)
        http.post("/v1/videos/generations",
                  json={**CAT, "prompt": f"{CAT['prompt']} [mock:fail=content_policy_violation]",
                        "callback_url": f"http://{refused}/hooks/video"}).raise_for_status()
        advance(40)
        assert http.post("/v1/videos/generations", json={**BOAT, "duration": 7}).status_code == 400
        assert http.post("/v1/videos/generations", json=BOAT).status_code == 429  # the 3rd create
        http.post("/v1/videos/generations", json=BOAT).raise_for_status()
        for _ in range(4):
            http.get(f"/v1/tasks/{kite}")
            advance(15)
        http.post("/v1/videos/generations", json={**CAT, "duration": 10},
                  headers={"Authorization": "Bearer sk-other-app"}).raise_for_status()
        http.get(f"/v1/tasks/{kite}", headers={"Authorization": "Bearer sk-other-app"})
        advance(3)
    return 4, kite


def main(out: Path) -> None:
    missing = missing_binary()
    if missing:
        sys.exit(f"{missing} is missing: apt-get install -y chromium chromium-driver")
    # A loopback port that is bound but never listens: callbacks to it are refused.
    with socket.socket() as closed, Receiver(500) as receiver:
        closed.bind(("127.0.0.1", 0))
        refused = f"127.0.0.1:{closed.getsockname()[1]}"
        settings = Settings(clock="manual", seed=8, allow_callback_hosts=(receiver.host_port, refused))
        with RunningServer(settings) as server, chromium(1280, 900) as driver:
            tasks, completed = session(server, receiver, refused)
            driver.get(f"{server.url}/_mock/ui")
            wait = WebDriverWait(driver, 15)
            play = f'button[aria-label="Play the result of {completed}"]'
            wait.until(lambda d: d.find_element(By.CSS_SELECTOR, play)).click()
            wait.until(lambda d: d.execute_script(READY, tasks))
            out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(out))
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "dashboard.png")
