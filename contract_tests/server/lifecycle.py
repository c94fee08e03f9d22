"""The lifecycle contract: what a client relies on while it polls one task to its end.

A scenario creates one task and polls it until it is terminal (pacing the polls by the
announced ``estimated_time``), reads it a few more times, and reads it with another key.
What was seen is a :class:`Trace`; each check is a pure function of a trace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..budget import Budget
from ..contract import DEFAULT, TERMINAL, Contract
from ..results import NotApplicable, Report, judge
from .documents import DOCUMENT_CHECKS
from .target import Exchange, Target

LIFECYCLE = "lifecycle"
MIN_POLL_SECONDS, MAX_POLL_SECONDS = 1.0, 30.0
POLLS_PER_ESTIMATE = 5        # how many polls to spread over the announced estimated_time
SETTLE_POLLS = 2             # reads of a terminal task, one poll interval apart
PROMPT = "A paper boat drifting down a rainy street at dusk"


@dataclass(frozen=True)
class Scenario:
    name: str
    body: dict[str, Any]
    mock_only: bool = False   # an outcome only the mock can be told to produce


def scenarios(contract: Contract) -> list[Scenario]:
    """A completed and a failed task of the first model that takes a bare prompt."""
    body = contract.simple_body(PROMPT)
    if body is None:
        return []
    return [Scenario("completed task", body),
            Scenario("failed task", {**body, "prompt": f"{PROMPT} [mock:fail=service_error]"},
                     mock_only=True)]



@dataclass
class Trace:
    scenario: str
    created: Exchange
    polls: list[Exchange] = field(default_factory=list)     # until terminal or out of time
    settled: list[Exchange] = field(default_factory=list)   # after it was terminal
    other_key: Exchange | None = None
    waited: float = 0.0
    contract: Contract = DEFAULT

    @property
    def reads(self) -> list[Exchange]:
        return self.polls + self.settled

    @property
    def exchanges(self) -> list[Exchange]:
        return [self.created, *self.reads, *([self.other_key] if self.other_key else [])]

    def first_terminal(self) -> int | None:
        for index, answer in enumerate(self.reads):
            if (answer.document or {}).get("status") in TERMINAL:
                return index
        return None


Problem = tuple[str, Exchange]
TraceCheck = Callable[[Trace], list[Problem]]


def created_task_is_retrievable(trace: Trace) -> list[Problem]:
    if trace.created.document is None:
        return [(f"create answered HTTP {trace.created.status}, not a task document",
                 trace.created)]
    task_id = trace.created.created_id("the create")
    first = trace.polls[0]
    if first.document is None:
        return [(f"the created task {task_id} could not be read: HTTP {first.status}", first)]
    if first.document.get("id") != task_id:
        return [(f"asked for {task_id}, got {first.document.get('id')!r}", first)]
    return []


def documents_match_schema(trace: Trace) -> list[Problem]:
    trace.created.created_id("the create")
    check = trace.contract.schema_problems
    problems = [(p, trace.created) for p in check("CreatedTask", trace.created.document)]
    for answer in trace.reads:
        if answer.document is not None:
            problems += [(p, answer) for p in check("Task", answer.document)]
    return problems


def progress_never_decreases(trace: Trace) -> list[Problem]:
    trace.created.created_id("the create")
    problems, last = [], None
    for answer in trace.reads:
        progress = (answer.document or {}).get("progress")
        if not isinstance(progress, int):
            continue
        if last is not None and progress < last:
            problems.append((f"progress went from {last} down to {progress}", answer))
        last = progress
    return problems


def task_reaches_terminal_state(trace: Trace) -> list[Problem]:
    trace.created.created_id("the create")
    if trace.first_terminal() is not None:
        return []
    last = trace.polls[-1]
    state = (last.document or {}).get("status", f"HTTP {last.status}")
    return [(f"still {state} after waiting {trace.waited:g} s (raise --max-wait?)", last)]


def terminal_status_is_final(trace: Trace) -> list[Problem]:
    trace.created.created_id("the create")
    index = trace.first_terminal()
    if index is None:
        raise NotApplicable("the task never reached a terminal state")
    final = trace.reads[index].document or {}
    problems = []
    for answer in trace.reads[index + 1:]:
        later = answer.document or {}
        for field_name in ("status", "error"):
            if later.get(field_name) != final.get(field_name):
                problems.append((f"terminal task changed its {field_name}: "
                                 f"{final.get(field_name)!r} -> {later.get(field_name)!r}", answer))
    return problems


def other_key_is_forbidden(trace: Trace) -> list[Problem]:
    trace.created.created_id("the create")
    answer = trace.other_key
    if answer is None:
        raise NotApplicable("needs --other-api-key")
    if answer.status != 403:
        return [(f"another API key read the task: HTTP {answer.status}, expected 403", answer)]
    return []


TRACE_CHECKS: list[TraceCheck] = [
    created_task_is_retrievable,
    documents_match_schema,
    progress_never_decreases,
    task_reaches_terminal_state,
    terminal_status_is_final,
    other_key_is_forbidden,
]


def poll_interval(task: dict[str, Any] | None) -> float:
    """A fifth of the estimate announced at create, within [1, 30] seconds: a few reads
    while the task runs, without re-deriving the pause from a shrinking estimate."""
    estimate = ((task or {}).get("task_info") or {}).get("estimated_time")
    if not isinstance(estimate, (int, float)):
        return MIN_POLL_SECONDS
    return min(max(estimate / POLLS_PER_ESTIMATE, MIN_POLL_SECONDS), MAX_POLL_SECONDS)


def observe(target: Target, scenario: Scenario, max_wait: float,
            contract: Contract = DEFAULT) -> Trace:
    """Create the scenario's task and follow it; the trace holds every answer seen."""
    trace = Trace(scenario.name, target.create(scenario.body), contract=contract)
    try:
        task_id = trace.created.created_id("the create")
    except NotApplicable:
        return trace
    interval = poll_interval(trace.created.document)
    while True:
        answer = target.get_task(task_id)
        trace.polls.append(answer)
        status = (answer.document or {}).get("status")
        if status in TERMINAL or trace.waited >= max_wait or (
                answer.document is None and answer.status != 429):
            break
        if answer.status == 429:   # real seconds, whatever clock the server runs on
            pause = answer.retry_after or MIN_POLL_SECONDS
            time.sleep(pause)
        else:
            pause = min(interval, max_wait - trace.waited)
            target.let_time_pass(pause)
        trace.waited += pause
    if trace.first_terminal() is not None:
        for _ in range(SETTLE_POLLS):
            target.let_time_pass(interval)
            trace.settled.append(target.get_task(task_id))
    if target.has_other_key:
        trace.other_key = target.get_task(task_id, "other_api_key")
    return trace


def _describe(answer: Exchange) -> tuple[str, str]:
    return answer.line, answer.curl()


def judge_trace(trace: Trace, report: Report) -> None:
    judge(report, LIFECYCLE, trace.scenario, TRACE_CHECKS, trace, _describe)
    for document_check in DOCUMENT_CHECKS:
        run = report.run(LIFECYCLE, document_check.__name__, trace.scenario)
        for answer in trace.exchanges:
            problems = document_check(answer.operation, answer.status, answer.body)
            run.record(problems, answer.line, answer.curl() if problems else None)


def run_lifecycle(target: Target, budget: Budget, report: Report, max_wait: float,
                  contract: Contract = DEFAULT) -> list[Trace]:
    traces = []
    chosen = scenarios(contract)
    if not chosen:
        report.notes.append("lifecycle: no model of the spec accepts a request with only a "
                            "prompt; no task was created")
    for scenario in chosen:
        if scenario.mock_only and not target.is_mock:
            report.notes.append(f"lifecycle: '{scenario.name}' needs the mock to script its "
                                "outcome; against this server it is checked only if one is seen")
            continue
        if not budget.allows(scenario.body, f"{LIFECYCLE} {scenario.name}"):
            for check in [*TRACE_CHECKS, *DOCUMENT_CHECKS]:
                report.skip(LIFECYCLE, check.__name__, scenario.name, "over the credit budget")
            continue
        trace = observe(target, scenario, max_wait, contract)
        judge_trace(trace, report)
        traces.append(trace)
    return traces
