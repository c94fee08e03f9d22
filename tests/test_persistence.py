"""--state keeps tasks, rules and the clock in SQLite, across clean restarts and kill -9."""

from __future__ import annotations

import signal
from pathlib import Path

from mock_server.settings import Settings
from tests import clients
from tests.conftest import serving
from tests.processes import free_port, kill, start_serve

KEY = "persist-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
BODY = {"model": "kling-o3-text-to-video", "prompt": "a fox in the snow"}


def test_tasks_rules_and_clock_survive_a_clean_restart(tmp_path: Path) -> None:
    settings = Settings(clock="manual", state=str(tmp_path / "mock.sqlite"))
    with serving(settings, KEY) as (_, http):
        task = http.post("/v1/videos/generations", json=BODY).json()
        http.post("/_mock/clock/advance", json={"seconds": 100})
        http.post("/_mock/rules", json={"operation": "getTask", "times": 5, "action": {"delay": 0}})
        before = http.get(f"/v1/tasks/{task['id']}").json()
    with serving(settings, KEY) as (_, http):
        after = http.get(f"/v1/tasks/{task['id']}").json()
        assert after == before
        assert http.get("/_mock/rules").json()["rules"][0]["matched"] == 2
        http.post("/_mock/clock/advance", json={"seconds": 300})
        assert http.get(f"/v1/tasks/{task['id']}").json()["status"] == "completed"


def test_no_task_is_lost_after_kill_9(tmp_path: Path) -> None:
    state, port = tmp_path / "mock.sqlite", free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_serve(port, "--clock", "manual", "--state", str(state))
    try:
        ids = [clients.post(f"{base}/v1/videos/generations", json=BODY, headers=AUTH).json()["id"]
               for _ in range(20)]
        clients.post(f"{base}/_mock/clock/advance", json={"seconds": 150})
        seen = {i: clients.get(f"{base}/v1/tasks/{i}", headers=AUTH).json() for i in ids}
    finally:
        kill(process)
    process = start_serve(port, "--clock", "manual", "--state", str(state))
    try:
        for task_id, before in seen.items():
            assert clients.get(f"{base}/v1/tasks/{task_id}", headers=AUTH).json() == before
        clients.post(f"{base}/_mock/clock/advance", json={"seconds": 200})
        statuses = {clients.get(f"{base}/v1/tasks/{i}", headers=AUTH).json()["status"] for i in ids}
        assert statuses == {"completed"}
    finally:
        kill(process, signal.SIGTERM)
