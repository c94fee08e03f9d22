"""`evolink-contract`'s flags come from the runners' options objects: each default lives on its field."""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any

import pytest

from contract_tests import CallbackOptions, ClientOptions, ServerOptions
from contract_tests.cli import build_parser
from contract_tests.options import from_args

# Each runner with the least command line it takes, and the options object that line means.
LEAST = [
    pytest.param("server", ["--base-url", "http://127.0.0.1:1", "--api-key", "k"], ServerOptions,
                 {"base_url": "http://127.0.0.1:1", "api_key": "k"}, id="server"),
    pytest.param("client", ["--", "python", "my_client.py"], ClientOptions,
                 {"command": ("python", "my_client.py")}, id="client"),
    pytest.param("callbacks", ["--to", "https://localhost:8443/hook"], CallbackOptions,
                 {"url": "https://localhost:8443/hook"}, id="callbacks"),
]


def help_of(command: str) -> str:
    parser = build_parser()
    return parser._subparsers._group_actions[0].choices[command].format_help()


@pytest.mark.parametrize(("command", "line", "options", "given"), LEAST)
def test_flags_left_out_give_the_options_objects_own_defaults(
        command: str, line: list[str], options: type, given: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVOLINK_API_KEY", raising=False)
    args = build_parser().parse_args([command, *line])
    assert from_args(options, args) == options(**given)


@pytest.mark.parametrize(("command", "line", "options", "given"), LEAST)
def test_every_field_has_a_flag_whose_help_shows_the_fields_default(
        command: str, line: list[str], options: type, given: dict[str, Any]) -> None:
    text = " ".join(help_of(command).split())       # argparse wraps help lines
    for f in fields(options):
        assert f.metadata["flag"] in text, f"{command}: no flag for {f.name}"
        if f.default in (MISSING, None, ()) or f.metadata["env"]:
            continue
        # as a user would type it: 600 rather than 600.0, phases comma-separated
        shown = {float: lambda d: f"{d:g}", tuple: ",".join}.get(type(f.default), str)(f.default)
        assert f"(default: {shown})" in text, f"{command}: {f.metadata['flag']}"


def test_every_flag_given_reaches_the_options_object() -> None:
    args = build_parser().parse_args([
        "client", "--speed", "5", "--min-poll-interval", "0.5", "--timeout", "9",
        "--allow-callback-host", "localhost:8443", "--allow-callback-host", "127.0.0.1",
        "--unknown-fields", "warn", "--", "node", "client.js", "--verbose"])
    assert from_args(ClientOptions, args) == ClientOptions(
        command=("node", "client.js", "--verbose"), speed=5.0, min_poll_interval=0.5, timeout=9.0,
        allow_callback_hosts=("localhost:8443", "127.0.0.1"), unknown_fields="warn")


def test_the_api_key_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", "sk-from-env")
    args = build_parser().parse_args(["server", "--base-url", "https://api.example.com",
                                      "--phases", "lifecycle,idempotency"])
    assert from_args(ServerOptions, args) == ServerOptions(
        base_url="https://api.example.com", api_key="sk-from-env",
        phases=("lifecycle", "idempotency"))


def test_an_unknown_phase_is_named_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        build_parser().parse_args(["server", "--base-url", "x", "--api-key", "k",
                                   "--phases", "lifecycle,fuzz"])
    assert exit.value.code == 2
    assert capsys.readouterr().err == (
        "evolink-contract server: argument --phases: 'lifecycle,fuzz': unknown phase 'fuzz'; "
        "choose from lifecycle,idempotency,stateless,stateful (see evolink-contract server --help)\n")
