"""What every command produces: named checks, how often each passed, and what failed where.

One model for the three commands (server, client, callbacks) so that every report format is
written once. A check run is keyed by (phase, check, subject): the subject is an operation
(``POST /v1/videos/generations``), a task scenario or a callback document.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

MAX_EXAMPLES = 3   # distinct failure examples kept per check run; the rest are only counted

Progress = Callable[[str], None]
Observed = TypeVar("Observed")
Where = TypeVar("Where")


def print_progress(line: str) -> None:
    """Progress goes to stderr so that stdout holds only the report."""
    print(line, file=sys.stderr, flush=True)


class NotApplicable(Exception):
    """What was observed cannot show whether a check holds; the message says why."""


@dataclass(frozen=True)
class Finding:
    message: str
    request: str               # one line naming the request, e.g. "GET /v1/tasks/task-... -> 200"
    reproduce: str | None = None   # a curl command, when one can be given

    def lines(self) -> list[str]:
        """The finding as plain text lines: message, request, how to reproduce."""
        lines = [*self.message.splitlines(), f"request: {self.request}"]
        return lines + ([f"reproduce: {self.reproduce}"] if self.reproduce else [])


@dataclass
class CheckRun:
    phase: str
    check: str
    subject: str
    passed: int = 0
    failed: int = 0
    findings: list[Finding] = field(default_factory=list)
    skipped: str | None = None   # why the check could not run at all

    @property
    def status(self) -> str:
        if self.failed:
            return "failed"
        if self.skipped and not self.passed:
            return "skipped"
        return "passed"

    def ok(self) -> None:
        self.passed += 1

    def fail(self, finding: Finding) -> None:
        self.failed += 1
        if len(self.findings) < MAX_EXAMPLES and all(f.message != finding.message
                                                       for f in self.findings):
            self.findings.append(finding)

    def record(self, problems: Iterable[str], request: str, reproduce: str | None = None) -> None:
        """One observation: passed if there are no problems, else one finding per problem."""
        problems = list(problems)
        if not problems:
            self.ok()
        for problem in problems:
            self.fail(Finding(problem, request, reproduce))


@dataclass
class Report:
    command: str
    target: str
    runs: dict[tuple[str, str, str], CheckRun] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)     # extra lines, e.g. a journal summary
    budget_skips: Counter[str] = field(default_factory=Counter)

    def run(self, phase: str, check: str, subject: str) -> CheckRun:
        key = (phase, check, subject)
        if key not in self.runs:
            self.runs[key] = CheckRun(phase, check, subject)
        return self.runs[key]

    def skip(self, phase: str, check: str, subject: str, reason: str) -> None:
        self.run(phase, check, subject).skipped = reason

    @property
    def failures(self) -> list[CheckRun]:
        return [run for run in self.runs.values() if run.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failures

    def counts(self) -> Counter[str]:
        return Counter(run.status for run in self.runs.values())


def judge(report: Report, phase: str, subject: str,
          checks: Iterable[Callable[[Observed], list[tuple[str, Where]]]], observed: Observed,
          describe: Callable[[Where], tuple[str, str | None]]) -> None:
    """Run checks that return (problem, where) pairs; ``describe`` names the request at
    ``where`` and how to reproduce it."""
    for check in checks:
        run = report.run(phase, check.__name__, subject)
        try:
            problems = check(observed)
        except NotApplicable as exc:
            run.skipped = str(exc)
            continue
        if not problems:
            run.ok()
        for message, where in problems:
            request, reproduce = describe(where)
            run.fail(Finding(message, request, reproduce))
