"""Models are data: a fourth model, added to a copy of the spec, runs end to end with no code
change; every x-mock mistake is refused at start with one line naming the model and field.

The fourth model (tests/specs/acme-wave.yaml) differs from the seed models in every way
x-mock can say: its length field is `seconds` from a fixed set, it bills per second of
video, a quarter of its time is queue, its estimate is the whole planned time, and its
result video is 9:16 by default.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract_tests.cli import main as contract_main
from mock_server.models import ASPECT_RATIOS, MEDIA_DIR, behaviours, check, model_names, spec_models
from mock_server.server import RunningServer
from mock_server.settings import Settings
from mock_server.spec import SpecError, load_spec
from mock_server.store import resolved
from tests import clients

from .conftest import API_KEY, ROOT, serving
from .fourth_model import NAME, four_model_spec, write_spec
from .receivers import Receiver

AUTH = {"Authorization": f"Bearer {API_KEY}"}
ACME = {"model": NAME, "prompt": "a lighthouse keeper feeds the gulls"}
SEED_MODELS = ["grok-imagine-image-to-video", "grok-imagine-text-to-video",
               "kling-o3-text-to-video"]


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_spec(tmp_path_factory.mktemp("spec"), four_model_spec())


@pytest.fixture
def mock(spec_file: str) -> Iterator[tuple[RunningServer, httpx.Client]]:
    with Receiver() as receiver:
        settings = Settings(clock="manual", validate_responses=True, seed=7, spec=spec_file,
                            allow_callback_hosts=(receiver.host_port,))
        with serving(settings) as (server, http):
            http.receiver = receiver   # type: ignore[attr-defined]
            yield server, http


def create(http: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    answer = http.post("/v1/videos/generations", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def advance(server: RunningServer, http: httpx.Client, seconds: float) -> None:
    http.post("/_mock/clock/advance", json={"seconds": seconds}).raise_for_status()
    server.service.callbacks.wait_idle()


# --- no model in code ------------------------------------------------------------------------


def test_no_model_name_appears_in_the_mock_s_python_code() -> None:
    pattern = re.compile(r"[\"'](kling|grok)")
    found = [f"{path.relative_to(ROOT)}:{number}" for path in (ROOT / "mock_server").rglob("*.py")
             for number, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert found == []


def test_the_shipped_spec_lists_the_three_seed_models_each_with_its_x_mock() -> None:
    models = spec_models(load_spec())
    assert [model.name for model in models] == SEED_MODELS
    assert all(model.x_mock for model in models)
    assert check(load_spec()) == []


def test_a_mapping_may_name_schemas_bare_as_openapi_allows() -> None:
    spec = four_model_spec()
    mapping = spec["components"]["schemas"]["VideoGenerationRequest"]["discriminator"]["mapping"]
    mapping[NAME] = "AcmeWave2TextToVideoRequest"
    assert [model.name for model in spec_models(spec)] == [*SEED_MODELS, NAME]
    assert check(spec) == []


def test_a_fixed_video_length_ignores_the_request() -> None:
    acme = behaviours(four_model_spec(video_seconds={"fixed": 6}))[NAME]
    plan = acme.plan({**ACME, "seconds": 12}, ASPECT_RATIOS)
    assert (plan.total_seconds, plan.credits, plan.video_duration) == (100, 3.6, 6)


# --- the fourth model, end to end --------------------------------------------------------------


def test_the_fourth_model_is_created_with_its_own_credits_estimate_and_duration(mock: Any) -> None:
    _server, http = mock
    created = create(http, ACME)
    assert created["model"] == NAME and created["status"] == "pending"
    assert created["usage"] == {"billing_rule": "per_second", "credits_reserved": 2.4,
                                "user_group": "default"}
    assert created["task_info"] == {"can_cancel": True, "estimated_time": 80, "video_duration": 4}
    hd = create(http, {**ACME, "seconds": 8, "resolution": "1080p"})
    assert hd["usage"]["credits_reserved"] == 12          # 0.6 * 8 * 2.5
    assert hd["task_info"]["estimated_time"] == 240        # (40 + 10 * 8) * 2
    stored = http.get(f"/_mock/tasks/{created['id']}").json()
    assert stored["request"] == {**ACME, "seconds": 4, "resolution": "540p", "camera": "static",
                                 "aspect_ratio": "9:16"}, "the spec's defaults are applied"


def test_the_fourth_model_s_fields_are_validated_by_its_own_schema(mock: Any) -> None:
    _server, http = mock
    wrong = http.post("/v1/videos/generations", json={**ACME, "seconds": 5}).json()["error"]
    assert wrong["param"] == "seconds" and wrong["message"] == "seconds must be one of [4, 8, 12]"
    seed_field = http.post("/v1/videos/generations", json={**ACME, "duration": 4}).json()["error"]
    assert seed_field["param"] == "duration" and "not a known field" in seed_field["message"]
    unknown = http.post("/v1/videos/generations", json={**ACME, "model": "acme-x"}).json()["error"]
    assert NAME in unknown["message"] and all(name in unknown["message"] for name in SEED_MODELS)


def test_the_fourth_model_lives_through_its_lifecycle_on_the_manual_clock(mock: Any) -> None:
    server, http = mock
    task_id = create(http, {**ACME, "aspect_ratio": "16:9"})["id"]
    read = lambda: http.get(f"/v1/tasks/{task_id}").json()   # noqa: E731
    advance(server, http, 19)                               # a quarter of 80 s is queue
    assert read()["status"] == "pending"
    advance(server, http, 31)                               # 50 s: half-way through the run
    halfway = read()
    assert halfway["status"] == "processing" and halfway["progress"] == 50
    assert halfway["task_info"]["estimated_time"] == 80, "'total' keeps the whole plan"
    advance(server, http, 30)
    done = read()
    assert done["status"] == "completed" and done["progress"] == 100
    assert done["task_info"] == {"can_cancel": False, "estimated_time": 0, "video_duration": 4}
    [link] = done["results"]
    video = clients.get(link, timeout=10)
    assert video.status_code == 200 and video.content == (MEDIA_DIR / "16x9.mp4").read_bytes()


def test_an_aspect_ratio_without_a_shipped_video_gets_the_model_s_default(mock: Any) -> None:
    server, http = mock
    assert "4:3" not in ASPECT_RATIOS
    task_id = create(http, {**ACME, "aspect_ratio": "4:3"})["id"]
    advance(server, http, 80)
    [link] = http.get(f"/v1/tasks/{task_id}").json()["results"]
    assert clients.get(link, timeout=10).content == (MEDIA_DIR / "9x16.mp4").read_bytes()


def test_the_fourth_model_s_callback_carries_its_document(mock: Any) -> None:
    server, http = mock
    receiver = http.receiver
    task_id = create(http, {**ACME, "seconds": 12, "callback_url": receiver.url()})["id"]
    advance(server, http, 159)
    assert receiver.requests == []
    advance(server, http, 1)                                # 40 + 10 * 12 = 160 s
    [delivered] = receiver.wait_for(1)
    assert delivered.json() == http.get(f"/v1/tasks/{task_id}").json()
    assert delivered.json()["task_info"]["video_duration"] == 12


def test_the_served_spec_is_the_given_one_and_the_admin_api_stays_ours(mock: Any) -> None:
    _server, http = mock
    served = http.get("/openapi.json").json()
    assert model_names(served) == [*SEED_MODELS, NAME]
    assert http.get("/_mock/health").status_code == 200
    assert http.get("/_mock/tasks").status_code == 200


def test_evolink_contract_server_follows_the_published_spec(
        spec_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(clock="manual", seed=5, spec=spec_file, api_keys=("k1", "k2"))
    with RunningServer(settings) as server:
        code = contract_main(["server", "--base-url", server.url, "--api-key", "k1",
                              "--other-api-key", "k2", "--max-examples", "15",
                              "--phases", "lifecycle,stateless"])
        out = capsys.readouterr().out
        assert code == 0, out
        assert f"spec: {server.url}/openapi.json (4 models)" in out
        created = [task.model for task in resolved(server.service.store.tasks())]
    assert NAME in created, "the fuzzer generated creates for the fourth model too"


def test_evolink_contract_server_reads_a_spec_file_when_told(
        spec_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    with RunningServer(Settings(clock="manual", seed=5, spec=spec_file)) as server:
        code = contract_main(["server", "--base-url", server.url, "--api-key", "k1",
                              "--spec", spec_file, "--phases", "lifecycle"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"spec: {spec_file}" in out


def test_the_dashboard_shows_the_fourth_model_s_task_and_plays_its_video(spec_file: str) -> None:
    from .browser import chromium, missing_binary

    missing = missing_binary()
    if missing:
        pytest.skip(f"{missing} is missing: apt-get install -y chromium chromium-driver")
    from .test_dashboard import Dashboard

    settings = Settings(clock="manual", seed=3, spec=spec_file)
    with serving(settings) as (server, http), chromium() as driver:
        task_id = create(http, ACME)["id"]
        page = Dashboard(driver, server)
        page.open()
        assert page.until(lambda: page.task(task_id))["status"] == "pending"
        assert NAME in driver.execute_script("return document.body.innerText")
        page.advance(80)
        done = page.until(lambda: (task := page.task(task_id))["status"] == "completed" and task)
        assert done["progress"] == 100 and done["playable"]
        page.click(f"Play the result of {task_id}")
        [result] = http.get(f"/v1/tasks/{task_id}").json()["results"]
        page.until(lambda: page.video_source() == result)
        driver.get("about:blank")   # stop polling before the server goes away


# --- x-mock mistakes: one line naming the model and the field, at start -----------------------


MISTAKES = [
    ({"time": {"per_video_second": 10}}, "x-mock.time.base is required"),
    ({"time": {"base": -1}}, "x-mock.time.base: -1 is less than the minimum of 0"),
    ({"time": {"base": 40, "queue_share": 2}}, "x-mock.time.queue_share"),
    ({"time": {"base": 40, "bse": 1}}, "x-mock.time.bse is not a known key (allowed: base, "),
    ({"credits": {"per_video_second": 0.6}}, "x-mock.credits.billing_rule is required"),
    ({"credits": {"billing_rule": "per_minute"}}, "x-mock.credits.billing_rule"),
    ({"credits": {"billing_rule": "per_call", "base": "5"}}, "x-mock.credits.base"),
    ({"video_seconds": {"field": "duration"}},
     "x-mock.video_seconds.field: 'duration' is not a field of the request"),
    ({"video_seconds": {"field": "camera"}},
     "x-mock.video_seconds.field: request field 'camera' is not a number"),
    ({"video_seconds": {}}, "x-mock.video_seconds"),
    ({"time": {"base": 40, "multipliers": {"resolution": {"4k": 3}}}},
     "x-mock.time.multipliers.resolution: '4k' is not a value of resolution (one of 540p, 1080p)"),
    ({"credits": {"billing_rule": "per_call", "multipliers": {"quality": {"1080p": 2}}}},
     "x-mock.credits.multipliers.quality: 'quality' is not a field of the request"),
    ({"task_info": {"estimated_time": "soon"}}, "x-mock.task_info.estimated_time"),
    ({"media": {"aspect_ratio": "21:9"}}, "x-mock.media.aspect_ratio"),
    ({"media": {"aspect_ratio_field": "ratio"}},
     "x-mock.media.aspect_ratio_field: 'ratio' is not a field of the request"),
]


@pytest.mark.parametrize(("change", "message"), MISTAKES, ids=[m for _c, m in MISTAKES])
def test_each_x_mock_mistake_is_named_with_its_model_and_field(change: dict, message: str) -> None:
    problems = check(four_model_spec(**change))
    assert problems, change
    assert problems[0].startswith(f"model {NAME}: {message}"), problems[0]
    assert all("\n" not in problem for problem in problems)


def test_a_model_without_x_mock_is_refused_naming_the_guide() -> None:
    spec = four_model_spec()
    del spec["components"]["schemas"]["AcmeWave2TextToVideoRequest"]["x-mock"]
    assert check(spec) == [f"model {NAME}: x-mock is missing on its request schema "
                           "(see docs/add-a-model.md)"]


def test_an_unknown_cross_field_rule_is_refused() -> None:
    spec = four_model_spec()
    spec["components"]["schemas"]["AcmeWave2TextToVideoRequest"]["x-cross-field-rules"] = [
        {"id": "acme.one-camera", "param": "camera", "rule": "..."}]
    [problem] = check(spec)
    assert problem.startswith(f"model {NAME}: x-cross-field-rules: 'acme.one-camera' is not a rule")


def test_the_fixture_refuses_a_bad_spec_with_the_same_message(tmp_path: Path) -> None:
    bad = write_spec(tmp_path, four_model_spec(credits={"billing_rule": "per_minute"}))
    with pytest.raises(SpecError, match=f"^model {NAME}: x-mock.credits.billing_rule"):
        RunningServer(Settings(clock="manual", spec=bad))


def serve_exit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``evolink-mock serve`` that is expected to refuse to start (a timeout fails the test)."""
    return subprocess.run([sys.executable, "-m", "mock_server.cli", "serve", "--port", "0", *args],
                          capture_output=True, text=True, timeout=60, env=env, check=False)


def test_serve_with_a_bad_x_mock_block_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = write_spec(tmp_path, four_model_spec(time={"base": 40, "multipliers": {"resolution": {"4k": 3}}}))
    result = serve_exit("--spec", bad)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"evolink-mock: {bad}: model {NAME}: x-mock.time.multipliers.resolution: '4k' is not a "
        "value of resolution (one of 540p, 1080p)"]
    assert result.stdout == ""


def test_serve_names_an_unreadable_spec_from_the_environment(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("openapi: 3.0.3\npaths: [\n")
    import os

    result = serve_exit(env={**os.environ, "EVOLINK_MOCK_SPEC": str(broken)})
    assert result.returncode == 2
    assert result.stderr.strip() == f"evolink-mock: {broken}: not valid YAML or JSON at line 3"
