"""Deep fuzz, CI size: Schemathesis over real HTTP against `evolink-mock serve` (a few
hundred cases, both specs, every check), then every raw malformed input of hardening.raw.

The long run (``make hardening`` / ``python -m hardening.fuzz``) sends 10,000+ cases and
samples the server's memory; see reports/fuzz.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hardening import fuzz, raw
from hardening.common import MockProcess, RssSeries
from mock_server.server import RunningServer
from mock_server.settings import Settings
from mock_server.spec import ADMIN_SPEC, load_spec
from tests import clients

CASES = int(os.environ.get("HARDENING_CI_FUZZ_CASES", "300"))
ADMIN = {"X-Mock-Admin-Token": fuzz.ADMIN_TOKEN}
RAW_CASES = raw.cases(fuzz.API_KEY, ADMIN)


@pytest.fixture(scope="module")
def mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockProcess]:
    with MockProcess(*fuzz.fuzz_server_args(), name="ci-fuzz", admin_token=fuzz.ADMIN_TOKEN,
                     log_dir=tmp_path_factory.mktemp("fuzz-logs")) as process:
        yield process


def test_schemathesis_over_http_finds_no_5xx_and_nothing_outside_the_spec(mock: MockProcess) -> None:
    rss = RssSeries(mock.pid)
    rss.sample("start")
    fuzzes = fuzz.run_schemathesis(mock, CASES, rss, rss_every=50, seed=1, max_rounds=2,
                                   progress=lambda _line: None)
    rss.sample("end")
    summaries = {name: f.summary() for name, f in fuzzes.items()}
    total = sum(s["cases"] for s in summaries.values())
    problems = [f"{f['check']} on {f['operation']} (HTTP {f['status']}, {f['count']}x): "
                f"{f['message'][:300]}\n    {f['examples'][0]['curl'] if f['examples'] else ''}"
                for s in summaries.values() for f in s["failures"] if f["check"] in fuzz.SPEC_CHECKS
                or f["check"].startswith("<") or f["check"] == "transport"]
    assert not problems, "\n".join(problems)
    assert total >= CASES
    for name, fuzzer in fuzzes.items():
        ran = set(summaries[name]["per_operation"])
        assert ran == {op.label for op in fuzzer.operations}, f"{name}: not every operation ran"
        assert summaries[name]["server_errors_5xx"] == 0
        assert summaries[name]["out_of_spec_responses"] == 0
    assert mock.alive()


@pytest.mark.parametrize("case", RAW_CASES, ids=[c.name for c in RAW_CASES])
def test_raw_malformed_input(mock: MockProcess, case: raw.Case) -> None:
    host, port = "127.0.0.1", mock.port
    result = raw.run_case(host, port, case)
    assert result.ok, result.note
    assert raw.healthy(host, port, ADMIN), "the server stopped answering"


# --- bugs the fuzz found, as plain tests ----------------------------------------------------


@pytest.fixture
def manual() -> Iterator[tuple[RunningServer, httpx.Client]]:
    with RunningServer(Settings(clock="manual", validate_responses=True, seed=9)) as server, \
            clients.Client(base_url=server.url, headers={"Authorization": "Bearer fuzz-bugs"},
                           timeout=10) as http:
        yield server, http


@pytest.mark.parametrize("scenario", ["takes=nan", "takes=inf", "takes=-inf", "takes=1e999"])
def test_non_finite_takes_is_refused_and_stores_nothing(manual: Any, scenario: str) -> None:
    """X-Mock-Scenario takes=nan answered 500 (manual clock) or 200 (scaled clock) and stored a
    task whose lifecycle cannot be computed: GET /_mock/tasks then answered 500 for good."""
    _server, http = manual
    response = http.post("/v1/videos/generations", headers={"X-Mock-Scenario": scenario},
                         json={"model": "grok-imagine-text-to-video", "prompt": "x"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "X-Mock-Scenario"
    listing = http.get("/_mock/tasks")
    assert listing.status_code == 200, listing.text
    assert listing.json()["total"] == 0


def test_non_finite_takes_in_a_magic_prompt_is_refused(manual: Any) -> None:
    _server, http = manual
    response = http.post("/v1/videos/generations",
                         json={"model": "grok-imagine-text-to-video", "prompt": "x [mock:takes=nan]"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "prompt"


def test_every_http_fault_the_admin_spec_documents_is_accepted(manual: Any) -> None:
    """Schemathesis (positive_data_acceptance) found ScenarioAction.http listing 503, which the
    service refused with 400: the spec's enum and the service must agree."""
    _server, http = manual
    enum = load_spec(ADMIN_SPEC)["components"]["schemas"]["ScenarioAction"]["properties"]["http"]["enum"]
    for status in enum:
        response = http.post("/_mock/rules", json={"action": {"http": status}})
        assert response.status_code == 201, (status, response.text)
