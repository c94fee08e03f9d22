"""The dashboard of `evolink-mock proxy` shows what the upstream's answers broke (browser test,
with Debian's chromium; skipped with the reason when it is missing)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mock_server.server import RunningServer
from tests import clients
from tests.test_dashboard import Dashboard, driver  # noqa: F401 - the module's browser fixture
from tests.upstreams import UPSTREAM_KEY, make_tls, proxy, upstream

GROK = {"model": "grok-imagine-text-to-video", "prompt": "A paper boat on a rainy street"}


@pytest.fixture
def proxied(tmp_path) -> Iterator[tuple[RunningServer, object]]:
    tls = make_tls(tmp_path)
    with upstream(tls) as (up, drifting), proxy(upstream=up.url, upstream_ca=tls.ca) as server:
        yield server, drifting


def test_an_answer_that_breaks_the_spec_shows_as_a_violation_with_its_pointer(
        driver, proxied) -> None:  # noqa: F811 - driver: the browser fixture imported above
    server, drifting = proxied
    with clients.Client(base_url=server.url, headers={"Authorization": f"Bearer {UPSTREAM_KEY}"}) as http:
        task_id = http.post("/v1/videos/generations", json=GROK).json()["id"]
        drifting.drifts.append("unknown-enum")
        http.get(f"/v1/tasks/{task_id}")
    page = Dashboard(driver, server)
    page.open()
    [row] = page.until(lambda: [row for row in page.journal() if "GET /v1/tasks/" in row])
    assert "violation" in row and "response /body/status [enum]" in row
    assert 'status must be one of ["pending", "processing", "completed", "failed"]' in row
    driver.get("about:blank")
