"""`evolink-contract client`: the polite example passes; each flaw of the careless one is named."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from contract_tests.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "contract_tests" / "examples"
LOST_RESPONSES = str(ROOT / "fixtures" / "scenarios" / "lost-responses.yaml")
ONE_RATE_LIMIT = """\
rules:
  - operation: createVideoGeneration
    times: 1
    action: {http: 429, retry_after: 1}
"""


@pytest.fixture
def rate_limited(tmp_path: Path) -> str:
    path = tmp_path / "rate-limited.yaml"
    path.write_text(ONE_RATE_LIMIT)
    return str(path)


def check_client(*args: str) -> int:
    return main(["client", *args])


def failed_checks(out: str) -> set[str]:
    return {line.split()[2] for line in out.splitlines() if line.strip().startswith("FAILED ")}


def test_the_good_example_passes_even_when_rate_limited(rate_limited: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert check_client("--scenario", rate_limited, "--",
                        sys.executable, str(EXAMPLES / "good_client.py")) == 0
    out = capsys.readouterr().out
    assert "createVideoGeneration: 200 x1, 429 x1" in out
    assert "Result: PASSED - 0 failed, 7 passed, 3 skipped" in out


def test_each_flaw_of_the_broken_example_is_named(rate_limited: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert check_client("--scenario", rate_limited, "--",
                        sys.executable, str(EXAMPLES / "broken_client.py")) == 1
    out = capsys.readouterr().out
    assert failed_checks(out) == {"requests_match_spec", "auth_on_every_call",
                                  "polls_respect_floor", "backoff_after_429"}
    assert "refused: duration must be one of [6, 10] (param duration)" in out
    assert "no 'Authorization: Bearer <key>' header" in out
    assert "after a 429 that said Retry-After: 1" in out


def test_a_client_that_gives_up_early_is_caught(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "impatient.py"
    script.write_text(
        "import os, sys, httpx\n"
        "key = os.environ['EVOLINK_API_KEY']\n"
        "http = httpx.Client(base_url=os.environ['EVOLINK_BASE_URL'],\n"
        "                    headers={'Authorization': 'Bearer ' + key})\n"
        "task = http.post('/v1/videos/generations', json={'model': 'grok-imagine-text-to-video',\n"
        "                                                 'prompt': 'a fox'}).json()\n"
        "http.get('/v1/tasks/' + task['id'])\n"
        "http.get('/v1/nothing-here')\n"
        "sys.exit(3)\n")
    assert check_client("--", sys.executable, str(script)) == 1
    out = capsys.readouterr().out
    assert failed_checks(out) == {"command_succeeds", "tasks_polled_to_terminal",
                                  "requests_match_spec"}
    assert "exited with status 3" in out
    assert "the client stopped polling before it finished" in out
    assert "GET /v1/nothing-here is not an operation of the API" in out
    assert "SKIPPED client     backoff_after_429" in out


def test_a_client_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="give the client command"):
        check_client("--timeout", "5")


def test_the_vendor_style_example_passes_lost_answers_503_and_retries(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert check_client("--scenario", LOST_RESPONSES, "--",
                        sys.executable, str(EXAMPLES / "vendor_style_client.py")) == 0
    out = capsys.readouterr().out
    # the dropped create, its replay, the 503 and the retry after Retry-After
    assert "createVideoGeneration: no answer x1, 200 x2, 503 x1" in out
    assert "journal: 6 requests, 2 tasks created" in out
    assert "Result: PASSED - 0 failed, 8 passed, 2 skipped" in out


def test_each_costly_retry_of_the_careless_example_is_named(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert check_client("--scenario", LOST_RESPONSES, "--",
                        sys.executable, str(EXAMPLES / "careless_retry_client.py")) == 1
    out = capsys.readouterr().out
    assert failed_checks(out) == {"retries_reuse_idempotency_key", "no_retry_after_refusals",
                                  "backoff_after_502_503", "tasks_polled_to_terminal"}
    assert "duplicate paid task: create #1 was retried after its connection was dropped " \
           "(after the create was committed) with Idempotency-Key (none)" in out
    assert "create #2 was retried after HTTP 503" in out
    assert "the same request was sent again after HTTP 402 insufficient_quota" in out
    assert "after a 503 that said Retry-After: 1" in out
    assert "was created but never read" in out       # the task whose answer was lost


UNKNOWN_FIELD_CLIENT = """\
import os, httpx
http = httpx.Client(base_url=os.environ['EVOLINK_BASE_URL'],
                    headers={'Authorization': 'Bearer ' + os.environ['EVOLINK_API_KEY']})
answer = http.post('/v1/videos/generations', json={'model': 'grok-imagine-text-to-video',
                                                   'prompt': 'a fox', 'generate_audio': True})
print(answer.status_code)
"""


@pytest.mark.parametrize(("mode", "named", "says"), [
    ("reject", "requests_match_spec", "generate_audio is not a known field"),
    ("warn", "no_unknown_fields", "sent fields the model does not take "
                                  "(ignored unknown fields: generate_audio)"),
])
def test_a_client_sending_unknown_fields_fails_in_both_modes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str, named: str,
        says: str) -> None:
    script = tmp_path / "extra_field.py"
    script.write_text(UNKNOWN_FIELD_CLIENT)
    assert check_client("--unknown-fields", mode, "--", sys.executable, str(script)) == 1
    out = capsys.readouterr().out
    assert named in failed_checks(out)
    assert says in out
