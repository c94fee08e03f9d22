"""`evolink-contract client`: the polite example passes; each flaw of the careless one is named."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from contract_tests.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "contract_tests" / "examples"
LOST_RESPONSES = ROOT / "fixtures" / "scenarios" / "lost-responses.yaml"
ONE_RATE_LIMIT = """\
rules:
  - operation: createVideoGeneration
    times: 1
    action: {http: 429, retry_after: 1}
"""


def check_client(*args: str) -> int:
    return main(["client", *args])


def failed_checks(out: str) -> set[str]:
    return {line.split()[2] for line in out.splitlines() if line.strip().startswith("FAILED ")}


# Each shipped example run against a scenario: its exit status, the checks that fail (none for
# the polite one of each pair) and lines its report must hold.
EXAMPLE_VERDICTS = [
    pytest.param("good_client.py", ONE_RATE_LIMIT, 0, set(), [
        "createVideoGeneration: 200 x1, 429 x1",
        "Result: PASSED - 0 failed, 7 passed, 3 skipped",
    ], id="the-good-example-passes-even-when-rate-limited"),
    pytest.param("broken_client.py", ONE_RATE_LIMIT, 1, {
        "requests_match_spec", "auth_on_every_call", "polls_respect_floor", "backoff_after_429",
    }, [
        "refused: duration must be one of [6, 10] (param duration)",
        "no 'Authorization: Bearer <key>' header",
        "after a 429 that said Retry-After: 1",
    ], id="each-flaw-of-the-broken-example-is-named"),
    pytest.param("vendor_style_client.py", LOST_RESPONSES, 0, set(), [
        # the dropped create, its replay, the 503 and the retry after Retry-After
        "createVideoGeneration: no answer x1, 200 x2, 503 x1",
        "journal: 6 requests, 2 tasks created",
        "Result: PASSED - 0 failed, 8 passed, 2 skipped",
    ], id="the-vendor-style-example-passes-lost-answers-503-and-retries"),
    pytest.param("careless_retry_client.py", LOST_RESPONSES, 1, {
        "retries_reuse_idempotency_key", "no_retry_after_refusals", "backoff_after_502_503",
        "tasks_polled_to_terminal",
    }, [
        "duplicate paid task: create #1 was retried after its connection was dropped "
        "(after the create was committed) with Idempotency-Key (none)",
        "create #2 was retried after HTTP 503",
        "the same request was sent again after HTTP 402 insufficient_quota",
        "after a 503 that said Retry-After: 1",
        "was created but never read",       # the task whose answer was lost
    ], id="each-costly-retry-of-the-careless-example-is-named"),
]


@pytest.mark.parametrize(("example", "scenario", "status", "failed", "says"), EXAMPLE_VERDICTS)
def test_each_example_gets_its_verdict(example: str, scenario: str | Path, status: int,
                                       failed: set[str], says: list[str], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    if isinstance(scenario, str):      # inline YAML rather than a shipped scenario file
        (tmp_path / "scenario.yaml").write_text(scenario)
        scenario = tmp_path / "scenario.yaml"
    assert check_client("--scenario", str(scenario), "--",
                        sys.executable, str(EXAMPLES / example)) == status
    out = capsys.readouterr().out
    assert failed_checks(out) == failed
    for line in says:
        assert line in out


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
