"""The server check, as a pipeline: load the spec, generate, call, check, report.

Phases run in this order because of the budget: the lifecycle needs only a task or two and
says the most about a real service, so it claims credits first; idempotency (at most three
creates) next, before fuzzing spends the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from mock_server.settings import argparse_type
from mock_server.spec import operations

from ..budget import Budget
from ..contract import Contract, from_file, published
from ..options import option
from ..results import Progress, Report, print_progress
from .fuzz import IGNORED_AUTH, STATEFUL, STATELESS, Fuzzer
from .idempotency import IDEMPOTENCY, run_idempotency
from .lifecycle import LIFECYCLE, run_lifecycle
from .target import Target

PHASES = (LIFECYCLE, IDEMPOTENCY, STATELESS, STATEFUL)


def phase_list(text: str) -> tuple[str, ...]:
    """``--phases``: a comma-separated subset of :data:`PHASES`."""
    phases = tuple(text.split(","))
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        raise ValueError(f"unknown phase {unknown[0]!r}; choose from {','.join(PHASES)}")
    return phases


@dataclass(frozen=True)
class ServerOptions:
    base_url: str = option("--base-url", "the server's base URL")
    api_key: str = option("--api-key", "bearer key", env="EVOLINK_API_KEY")
    other_api_key: str | None = option("--other-api-key", "a second key, to check that it "
                                       "cannot read the first key's task (403)", default=None)
    # None: no cap. The CLI leaves it out only on loopback (budget.default_max_credits).
    max_credits: float | None = option("--max-credits", "cap on credits spent by valid creates "
                                       "(default: unlimited on loopback, 0 elsewhere)",
                                       default=None, parse=float)
    max_examples: int = option("--max-examples", "generated cases per operation in the fuzzing "
                               "phases", default=100, parse=int)
    max_wait: float = option("--max-wait", "longest wait for one task to finish, in seconds",
                             default=600.0, parse=float)
    phases: tuple[str, ...] = option("--phases", "the phases to run, comma-separated",
                                     default=PHASES, parse=argparse_type(phase_list))
    spec: str | None = option("--spec", "the OpenAPI document to check against (default: the "
                              "one the server publishes at /openapi.json, else the shipped "
                              "spec)", default=None, metavar="FILE")


def _counts(report: Report, budget: Budget, phase: str) -> str:
    failed = sum(run.phase == phase for run in report.failures)
    skipped = sum(n for purpose, n in budget.skipped.items() if purpose.startswith(phase))
    return f"{failed} failed checks, {skipped} skipped for budget"


def contract_for(options: ServerOptions) -> Contract:
    """The document to check against: ``--spec FILE``, else the one the target publishes at
    ``/openapi.json`` (the mock serves whatever ``serve --spec`` gave it), else the shipped one."""
    return from_file(options.spec) if options.spec else published(options.base_url)


def check_server(options: ServerOptions, progress: Progress = print_progress) -> Report:
    report = Report("server", options.base_url)
    contract = contract_for(options)
    spec = contract.spec
    budget = Budget(options.max_credits, contract)
    progress(f"[spec] {len(list(operations(spec)))} operations, {len(contract.models)} models "
             f"in {spec['info']['title']} (from {contract.source})")
    report.summary.append(f"spec: {contract.source} ({len(contract.models)} models)")
    with Target(options.base_url, options.api_key, options.other_api_key) as target:
        report.summary.append("target is evolink-mock: lifecycle time passed by advancing its "
                              "clock" if target.is_mock else "lifecycle polls in real time, "
                              f"waiting at most {options.max_wait:g} s per task")
        if LIFECYCLE in options.phases:
            traces = run_lifecycle(target, budget, report, options.max_wait, contract)
            requests = sum(len(trace.exchanges) for trace in traces)
            progress(f"[{LIFECYCLE}] {len(traces)} tasks, {requests} requests, "
                     f"{_counts(report, budget, LIFECYCLE)}")
        if IDEMPOTENCY in options.phases:
            attempts = run_idempotency(target, budget, report)
            progress(f"[{IDEMPOTENCY}] {0 if attempts is None else 3} creates with one key, "
                     f"{_counts(report, budget, IDEMPOTENCY)}")
    skip = {IGNORED_AUTH: "the target is evolink-mock accepting any non-empty key, so an "
                          "invalid key cannot be refused; start it with --api-key KEY to run "
                          "this check"} if target.accepts_any_key else {}
    fuzzer = Fuzzer(options.base_url, options.api_key, budget, report, contract.spec,
                    skip_checks=skip)
    for phase, run in ((STATELESS, fuzzer.stateless), (STATEFUL, fuzzer.stateful)):
        if phase in options.phases:
            cases = run(options.max_examples)
            progress(f"[{phase}] {cases} cases sent, {_counts(report, budget, phase)}")
    report.budget_skips = budget.skipped
    report.summary.append(budget.describe())
    progress(f"[report] {len(report.failures)} failed check runs")
    return report
