"""Bad configuration, from a flag or an environment variable: one line on stderr naming the
flag or variable, the value and what was expected; exit status 2; no traceback. The banner
appears only once the socket is bound. Real `evolink-mock serve` processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests import clients

from .processes import free_port, kill

SERVE = [sys.executable, "-m", "mock_server.cli", "serve"]


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("EVOLINK_MOCK_")}
    return subprocess.run([*SERVE, "--port", str(free_port()), *args], capture_output=True,
                          text=True, timeout=60, env={**environ, **(env or {})}, check=False)


def assert_one_line(run: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "Traceback" not in run.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    assert run.stdout == "", "no banner for a mock that never started"


@pytest.fixture
def garbage(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.bin"
    path.write_bytes(b"this is neither PEM nor SQLite\n" * 100)
    return path


def test_a_missing_scenario_file() -> None:
    assert_one_line(serve("--scenario", "/nope.yaml"), "--scenario '/nope.yaml'",
                    "expected an existing file")


def test_a_scenario_file_that_is_not_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - action: {http: 429\n")
    assert_one_line(serve("--scenario", str(bad)), f"--scenario '{bad}'", "not valid YAML")


def test_a_scenario_file_without_a_rules_list(tmp_path: Path) -> None:
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    assert_one_line(serve("--scenario", str(bad)), f"--scenario '{bad}'", "'rules' list")


def test_a_missing_callback_ca() -> None:
    assert_one_line(serve("--callback-ca", "/nope.pem"), "--callback-ca '/nope.pem'",
                    "expected an existing file")


def test_a_callback_ca_that_is_not_pem(garbage: Path) -> None:
    assert_one_line(serve("--callback-ca", str(garbage)), "--callback-ca",
                    "expected a PEM file of CA certificates")


def test_a_callback_ca_from_the_environment(garbage: Path) -> None:
    assert_one_line(serve(env={"EVOLINK_MOCK_CALLBACK_CA": str(garbage)}),
                    f"EVOLINK_MOCK_CALLBACK_CA='{garbage}'", "PEM")


def test_a_state_file_in_a_missing_directory() -> None:
    assert_one_line(serve("--state", "/nonexistent-dir/x.sqlite"),
                    "--state '/nonexistent-dir/x.sqlite'", "'/nonexistent-dir' does not exist")


def test_a_state_file_that_is_not_sqlite(garbage: Path) -> None:
    assert_one_line(serve("--state", str(garbage)), f"--state '{garbage}'",
                    "cannot use it as the state file")


@pytest.mark.parametrize(("env", "expected"), [
    ({"EVOLINK_MOCK_SPEED": "fast"}, "EVOLINK_MOCK_SPEED='fast': expected a number above 0"),
    ({"EVOLINK_MOCK_PORT": "eighty"}, "EVOLINK_MOCK_PORT='eighty': expected a whole number"),
    ({"EVOLINK_MOCK_CLOCK": "sometimes"}, "EVOLINK_MOCK_CLOCK='sometimes': expected one of scaled, manual"),
    ({"EVOLINK_MOCK_VALIDATE_RESPONSES": "maybe"}, "EVOLINK_MOCK_VALIDATE_RESPONSES='maybe': expected true "
                                                   "or false"),
    ({"EVOLINK_MOCK_ALLOW_CALLBACK_HOSTS": "https://x.test/"}, "EVOLINK_MOCK_ALLOW_CALLBACK_HOSTS="),
])
def test_environment_variables(env: dict[str, str], expected: str) -> None:
    assert_one_line(serve(env=env), expected)


@pytest.mark.parametrize(("args", "expected"), [
    (["--speed", "fast"], "--speed 'fast': expected a number above 0"),
    (["--speed", "0"], "--speed '0': expected a number above 0"),
    (["--credits", "-5"], "--credits '-5': expected a whole number at least 0"),
    (["--max-body-bytes", "1MB"], "--max-body-bytes '1MB': expected a whole number"),
    (["--clock", "sometimes"], "argument --clock: invalid choice: 'sometimes'"),
])
def test_flags(args: list[str], expected: str) -> None:
    assert_one_line(serve(*args), expected)


def test_a_port_above_65535() -> None:
    run = subprocess.run([*SERVE, "--port", "70000"], capture_output=True, text=True, timeout=60, check=False)
    assert_one_line(run, "--port '70000': expected a whole number from 0 to 65535")


def test_a_port_in_use_is_refused_without_a_banner() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run([*SERVE, "--port", str(port)], capture_output=True, text=True,
                             timeout=60, check=False)
    assert_one_line(run, f"--port {port}", "Address already in use", "--port 0")


def test_the_banner_comes_once_bound_and_names_the_port_picked() -> None:
    process = subprocess.Popen([*SERVE, "--port", "0", "--clock", "manual", "--log-format", "off"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        assert process.stdout is not None
        first = [process.stdout.readline() for _ in range(3)]
        api = first[1].split()[1].rstrip(",")
        base = api.removesuffix("/v1/videos/generations")
        assert not base.endswith(":0"), first
        assert clients.get(f"{base}/_mock/health", timeout=10).json()["status"] == "ok"
    finally:
        kill(process)


def test_trigger_names_its_bad_callback_ca() -> None:
    run = subprocess.run([sys.executable, "-m", "mock_server.cli", "trigger", "--to",
                          "https://example.com/hook", "--status", "completed", "--callback-ca",
                          "/nope.pem"], capture_output=True, text=True, timeout=60, check=False)
    assert_one_line(run, "argument --callback-ca: '/nope.pem': expected an existing file")


@pytest.mark.parametrize(("args", "expected"), [
    (["callbacks", "--to", "https://example.com/hook", "--callback-ca", "/nope.pem"],
     "evolink-contract callbacks: argument --callback-ca: '/nope.pem': expected an existing file"),
    (["client", "--scenario", "/nope.yaml", "--", "true"],
     "evolink-contract client: argument --scenario: '/nope.yaml': expected an existing file"),
    (["client", "--allow-callback-host", "https://x.test/", "--", "true"],
     "evolink-contract client: argument --allow-callback-host: 'https://x.test/'"),
])
def test_the_contract_cli_names_its_bad_flags_in_one_line(args: list[str], expected: str) -> None:
    run = subprocess.run([sys.executable, "-m", "contract_tests.cli", *args], capture_output=True,
                         text=True, timeout=60, check=False)
    assert_one_line(run, expected)
