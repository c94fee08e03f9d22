"""The vendor's task failure codes have one home, the spec's ``TaskError.code`` enum
(``mock_server.spec.failure_codes``): the mock scripts and answers exactly those, and the
contract kit checks against the same list, so a code a user's spec adds works end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from contract_tests.contract import DEFAULT, from_file
from mock_server.domain.lifecycle import FAILURE_MESSAGES
from mock_server.server import RunningServer
from mock_server.settings import Settings
from mock_server.spec import failure_codes, load_spec
from tests import clients

from .conftest import API_KEY

ADDED = "upstream_moderation_hold"   # invented: no vendor page lists it
AUTH = {"Authorization": f"Bearer {API_KEY}"}
CREATE = {"model": "kling-o3-text-to-video", "prompt": "a heron waits in the reeds"}


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    spec = load_spec()
    spec["components"]["schemas"]["TaskError"]["properties"]["code"]["enum"].append(ADDED)
    path: Path = tmp_path_factory.mktemp("spec") / "one-more-failure-code.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return str(path)


def test_every_code_of_the_shipped_spec_has_its_own_message() -> None:
    assert failure_codes(load_spec()) == tuple(FAILURE_MESSAGES)


def test_a_code_the_spec_adds_fails_a_task_with_that_code_and_a_message_naming_it(
        spec_file: str) -> None:
    settings = Settings(clock="manual", spec=spec_file, validate_responses=True)
    with RunningServer(settings) as server, clients.Client(base_url=server.url, headers=AUTH,
                                                           timeout=10) as http:
        created = http.post("/v1/videos/generations", json=CREATE,
                            headers={"X-Mock-Scenario": f"fail={ADDED}"})
        assert created.status_code == 200, created.text
        http.post("/_mock/clock/advance", json={"seconds": 3600}).raise_for_status()
        answer = http.get(f"/v1/tasks/{created.json()['id']}")
    assert answer.status_code == 200, answer.text
    error = answer.json()["error"]
    assert error["code"] == ADDED
    assert ADDED in error["message"]


def test_the_shipped_spec_refuses_to_script_a_code_it_does_not_list() -> None:
    with RunningServer(Settings(clock="manual")) as server, clients.Client(
            base_url=server.url, headers=AUTH, timeout=10) as http:
        answer = http.post("/v1/videos/generations", json=CREATE,
                           headers={"X-Mock-Scenario": f"fail={ADDED}"})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "X-Mock-Scenario"


def test_the_contract_kit_reads_the_codes_of_the_spec_it_is_given(spec_file: str) -> None:
    assert from_file(spec_file).failure_codes == (*DEFAULT.failure_codes, ADDED)
