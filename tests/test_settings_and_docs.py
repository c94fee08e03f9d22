"""Configuration has one home, and docs/configuration.md lists every setting of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mock_server.cli import build_parser
from mock_server.server import RunningServer
from mock_server.settings import Settings, describe, from_args, from_env

from .conftest import serving

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("flag", "env", "_help"), describe())
def test_configuration_doc_lists_every_flag_with_its_environment_variable(flag: str, env: str,
                                                                          _help: str) -> None:
    table = (ROOT / "docs" / "configuration.md").read_text()
    assert f"| `{flag}` | `{env}` |" in table


@pytest.mark.parametrize("command", ["serve", "proxy"])
def test_each_commands_help_documents_its_flags_and_their_env_vars(command: str) -> None:
    parser = build_parser()._subparsers._group_actions[0].choices[command]
    text = parser.format_help()
    rows = describe(command)
    assert rows
    for flag, env, _help in rows:
        assert f"{flag} " in text and env in text
    others = {flag for flag, _env, _help in describe()} - {flag for flag, _env, _help in rows}
    assert not [flag for flag in others if f"{flag} " in text]


def test_the_proxy_forwards_to_the_specs_server_by_default() -> None:
    from mock_server.spec import load_spec

    assert Settings().upstream == load_spec()["servers"][0]["url"]


def test_flags_override_environment_which_overrides_defaults() -> None:
    environ = {"EVOLINK_MOCK_SPEED": "2.5", "EVOLINK_MOCK_PORT": "9000", "EVOLINK_MOCK_API_KEYS": "a, b"}
    assert from_env(environ) == Settings(speed=2.5, port=9000, api_keys=("a", "b"))
    args = build_parser().parse_args(["serve", "--port", "9100", "--api-key", "c", "--clock", "manual"])
    assert from_args(args, environ) == Settings(speed=2.5, port=9100, api_keys=("c",), clock="manual")


def test_scenario_files_load_at_start() -> None:
    scenario = ROOT / "fixtures" / "scenarios" / "rate-limited-creates.yaml"
    with serving(Settings(clock="manual", scenarios=(str(scenario),)), "k") as (_, http):
        body = {"model": "grok-imagine-text-to-video", "prompt": "x"}
        statuses = [http.post("/v1/videos/generations", json=body).status_code for _ in range(4)]
    assert statuses == [429, 429, 429, 200]


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "fixtures" / "scenarios").glob("*.yaml")))
def test_every_shipped_scenario_file_is_valid(name: str) -> None:
    with RunningServer(Settings(clock="manual", scenarios=(str(ROOT / "fixtures" / "scenarios" / name),
                                                           ))) as server:
        assert server.service.rules


def test_serve_banner_names_every_url_and_the_active_mode() -> None:
    from mock_server.cli import banner

    text = banner(Settings(port=8123, clock="manual", state="x.sqlite", api_keys=("a",)))
    for expected in ("http://127.0.0.1:8123/v1/videos/generations", "/ui/", "/openapi.json",
                     "/_mock/ui", "manual", "x.sqlite", "1 configured"):
        assert expected in text
    assert "scaled x10" in banner(Settings())
