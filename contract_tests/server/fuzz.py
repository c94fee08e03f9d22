"""Schemathesis over the whole vendor spec against a live base URL, cases driven by us.

We generate with Schemathesis (coverage, examples and fuzzing phases per operation, then
link-following scenarios from ``schema.as_state_machine()``) but send each case ourselves,
so every case passes through the budget and every check result lands in our report rather
than stopping the run: a failing case is reported, not shrunk.
"""

from __future__ import annotations

import contextlib
import json
import shlex
from typing import Any

import hypothesis
import requests
import schemathesis
from schemathesis.checks import CHECKS, CheckFunction, CheckResult, load_all_checks
from schemathesis.core.failures import CustomFailure, Failure, FailureGroup
from schemathesis.engine import Status
from schemathesis.engine.recorder import ScenarioRecorder
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput
from schemathesis.openapi.checks import AuthScenario, IgnoredAuth

# Private, but Schemathesis is pinned: the exact credentials its ignored_auth probe sends.
from schemathesis.specs.openapi._auth_retry import INVALID_AUTH_HEADERS

from ..budget import Budget
from ..contract import SPEC as SHIPPED_SPEC
from ..generation import operations, prepare, vendor_generation
from ..results import Report
from .documents import DOCUMENT_CHECKS, DocumentCheck

STATELESS, STATEFUL = "stateless", "stateful"
REQUEST_TIMEOUT = 30.0
STATEFUL_STEPS = 6
KEY_PLACEHOLDER = '-H "Authorization: Bearer $EVOLINK_API_KEY"'
FILTERED_AUTH = "-H 'Authorization: [Filtered]'"
IGNORED_AUTH = "ignored_auth"


def operation_id(case: schemathesis.Case) -> str:
    return case.operation.definition.raw["operationId"]


def _as_schemathesis_check(check: DocumentCheck) -> CheckFunction:
    def run(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        problems = check(operation_id(case), response.status_code, body)
        if problems:
            raise AssertionError("; ".join(problems))

    run.__name__ = check.__name__
    return run


def _describe(failure: Failure) -> str:
    """Title and details; our own checks' messages stand alone (their title is boilerplate)."""
    if isinstance(failure, CustomFailure) or not failure.message:
        return failure.message or failure.title
    return f"{failure.title}\n{failure.message}"


def all_checks() -> list[CheckFunction]:
    """Every check Schemathesis registers, plus ours on each answer."""
    load_all_checks()
    # The registry also admits check classes (stateful phases); responses take functions.
    registered = [check for check in CHECKS.get_all() if not isinstance(check, type)]
    return registered + [_as_schemathesis_check(check) for check in DOCUMENT_CHECKS]


def hypothesis_settings(max_examples: int, **extra: Any) -> hypothesis.settings:
    """Reproducible runs (a CI gate must not flake) that never stop on a health check."""
    return hypothesis.settings(max_examples=max_examples, deadline=None, database=None,
                               derandomize=True, suppress_health_check=list(hypothesis.HealthCheck),
                               **extra)


class Fuzzer:
    """Sends generated cases to ``base_url`` within ``budget``; results go to ``report``."""

    def __init__(self, base_url: str, api_key: str, budget: Budget, report: Report,
                 spec: dict[str, Any] = SHIPPED_SPEC,
                 skip_checks: dict[str, str] | None = None) -> None:
        """``skip_checks``: check name -> why it cannot apply to this target; such checks
        are not run and show as skipped, for each operation and phase, with that reason."""
        self.base_url = base_url.rstrip("/")
        self.auth = {"Authorization": f"Bearer {api_key}"}
        self.budget = budget
        self.report = report
        self.skip_checks = dict(skip_checks or {})
        self.checks = [check for check in all_checks() if check.__name__ not in self.skip_checks]
        self.session = requests.Session()
        self.cases = 0
        self._phase = STATELESS
        self.schema = schemathesis.openapi.from_dict(spec)
        self.schema.config.update(base_url=self.base_url)
        vendor_generation(self.schema)
        self.schema.hook(self._after_validate_hook())

    def _after_validate_hook(self) -> Any:
        def after_validate(context: Any, case: schemathesis.Case, response: Any,
                           results: list[CheckResult]) -> None:
            for result in results:
                run = self.report.run(self._phase, result.name, case.operation.label)
                if result.status == Status.SUCCESS or result.failure is None:
                    run.ok()
                else:
                    run.record([_describe(result.failure)],
                               f"{case.method} {case.formatted_path} -> {response.status_code}",
                               self.curl(case, result.failure))

        return after_validate

    def _skip_rows(self) -> None:
        for check, reason in self.skip_checks.items():
            for operation in operations(self.schema):
                self.report.skip(self._phase, check, operation.label, reason)

    def curl(self, case: schemathesis.Case, failure: Failure | None = None) -> str:
        """A curl that sends what the failing request sent.

        Our own key stays ``$EVOLINK_API_KEY`` (a secret, and reports end up in CI logs);
        the credentials of ignored_auth's probes are not secrets and are shown as sent: no
        Authorization header, or Schemathesis's fixed invalid one."""
        command = case.as_curl_command(headers=self.auth, base_url=self.base_url)
        sent = KEY_PLACEHOLDER
        if isinstance(failure, IgnoredAuth):
            if failure.scenario == AuthScenario.NO_AUTH:
                return command.replace(f" {FILTERED_AUTH}", "").replace(FILTERED_AUTH, "")
            if failure.scenario == AuthScenario.INVALID_AUTH:
                sent = f"-H 'Authorization: {INVALID_AUTH_HEADERS['_bearer_auth']}'"
            elif "Authorization" in (case.headers or {}):
                sent = shlex.quote(f"Authorization: {case.headers['Authorization']}")
                sent = f"-H {sent}"
        return command.replace(FILTERED_AUTH, sent)

    def send(self, case: schemathesis.Case, recorder: ScenarioRecorder | None = None) -> Any:
        """Send one case if the budget allows it, then run every check on the answer."""
        prepare(case)
        if operation_id(case) == "createVideoGeneration" and not self.budget.allows(
                case.body, f"{self._phase} {case.operation.label}"):
            return None
        self.cases += 1
        response = case.call(base_url=self.base_url, session=self.session, headers=self.auth,
                             timeout=REQUEST_TIMEOUT)
        if recorder is not None:
            recorder.record_response(case_id=case.id, response=response)
        # Failures were recorded already, check by check, by the after_validate hook.
        with contextlib.suppress(FailureGroup):
            case.validate_response(response, checks=self.checks, headers=self.auth,
                                   transport_kwargs={"base_url": self.base_url,
                                                     "session": self.session,
                                                     "headers": self.auth},
                                   recorder=recorder)
        return response

    def stateless(self, max_examples: int) -> int:
        """Coverage, examples and fuzzing for each operation; returns the number of cases sent."""
        self._phase, start = STATELESS, self.cases
        self._skip_rows()

        def send(case: schemathesis.Case) -> None:   # Hypothesis wants a plain function
            self.send(case)

        for operation in operations(self.schema):
            test = create_test(operation=operation, test_func=send, config=HypothesisTestConfig(
                project=self.schema.config, modes=list(HypothesisTestMode),
                settings=hypothesis_settings(max_examples)))
            test()
        return self.cases - start

    def stateful(self, max_examples: int) -> int:
        """Scenarios that follow the spec's links (create, then get the created task)."""
        self._phase, start = STATEFUL, self.cases
        self._skip_rows()
        fuzzer = self

        class Scenarios(self.schema.as_state_machine()):  # type: ignore[misc]
            def step(self, input: StepInput) -> StepOutput | None:
                response = fuzzer.send(input.case, self.recorder)
                return None if response is None else StepOutput(response, input.case)

        Scenarios.run(settings=hypothesis_settings(max_examples,
                                                  stateful_step_count=STATEFUL_STEPS))
        return self.cases - start
