"""The front door: `--version`, `GET /` linking every page, `GET /_mock/`, the admin docs."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version

import httpx
import pytest

from mock_server.server import RunningServer
from mock_server.settings import Settings

from .conftest import connect, serving

TOKEN = "front-door-token"


@pytest.mark.parametrize("module", ["mock_server.cli", "contract_tests.cli"])
def test_both_clis_print_their_version(module: str) -> None:
    run = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True,
                         text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    name = "evolink-mock" if module.startswith("mock") else "evolink-contract"
    assert run.stdout.strip() == f"{name} {version('evolink-mock')}"


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with connect(server, api_key=None) as client:
        yield client


def test_the_landing_page_links_every_page_and_each_answers(http: httpx.Client) -> None:
    page = http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    links = re.findall(r'href="([^"]+)"', page.text)
    assert {"/openapi.json", "/ui/", "/_mock/ui", "/_mock/docs/", "/_mock/openapi.json"} <= set(links)
    for link in links:
        assert http.get(link).status_code == 200, link


def test_the_admin_root_redirects_to_the_landing_page(http: httpx.Client) -> None:
    for path in ("/_mock/", "/_mock"):
        answer = http.get(path)
        assert (answer.status_code, answer.headers["location"]) == (307, "/")


def test_the_admin_docs_are_swagger_ui_over_the_admin_spec(http: httpx.Client) -> None:
    docs = http.get("/_mock/docs/")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert 'url: "/_mock/openapi.json"' in docs.text
    spec = http.get("/_mock/openapi.json").json()
    assert spec["info"]["title"] == "evolink-mock control API"


def test_the_admin_guard_covers_the_new_admin_pages() -> None:
    with serving(Settings(clock="manual", admin_token=TOKEN), api_key=None) as (_, http):
        assert http.get("/").status_code == 200, "the landing page is not an admin page"
        for path in ("/_mock/", "/_mock/docs/"):
            refused = http.get(path)
            assert refused.status_code == 401
            assert refused.json()["error"]["message"] == ("The admin API needs the "
                                                          "X-Mock-Admin-Token header")
            assert http.get(path, headers={"X-Mock-Admin-Token": "wrong"}).status_code == 403
        assert http.get("/_mock/", headers={"X-Mock-Admin-Token": TOKEN}).status_code == 307
        assert http.get("/_mock/docs/", params={"token": TOKEN}).status_code == 200
