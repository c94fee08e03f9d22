"""The readable report: what failed (with a request and a curl), what was skipped, a verdict."""

from __future__ import annotations

import textwrap
from collections import defaultdict
from typing import TextIO

from ..results import Report

INDENT = "     "
ROW = "  {status:7} {phase:10} {check:34} {subject:30} {detail}"


def _skipped_rows(report: Report) -> list[str]:
    """One line per phase, subject and reason: a budget skip silences many checks at once."""
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for run in report.runs.values():
        if run.status == "skipped":
            groups[(run.phase, run.subject, run.skipped or "")].append(run.check)
    rows = []
    for (phase, subject, reason), checks in groups.items():
        check = checks[0] if len(checks) == 1 else f"{len(checks)} checks"
        rows.append(ROW.format(status="SKIPPED", phase=phase, check=check, subject=subject,
                               detail=reason))
    return rows


def render(report: Report, out: TextIO) -> None:
    def write(line: str = "") -> None:
        print(line, file=out)

    write(f"evolink-contract {report.command}: {report.target}")
    for line in report.summary:
        write(f"  {line}")
    write()
    for run in report.failures:
        write(ROW.format(status="FAILED", phase=run.phase, check=run.check, subject=run.subject,
                         detail=f"{run.failed} of {run.passed + run.failed} failed"))
    for line in _skipped_rows(report):
        write(line)
    counts = report.counts()
    total = sum(counts.values())
    # A failing report never reads as a pass: say what failed out of how many first.
    if report.failures:
        write(f"  {counts['failed']} of {total} check runs failed ({counts['passed']} passed)")
    else:
        write(f"  {counts['passed']} of {total} check runs passed")
    # Which checks held, by name: a passing report still says what it proved.
    held = list(dict.fromkeys(run.check for run in report.runs.values() if run.status == "passed"))
    if held:
        write(textwrap.fill(", ".join(held), width=100, initial_indent="  passed: ",
                            subsequent_indent=" " * len("  passed: ")))
    if report.failures:
        write()
        write(f"Failures ({len(report.failures)}):")
        for number, run in enumerate(report.failures, 1):
            write(f"{number:3}. [{run.phase}] {run.check} - {run.subject} "
                  f"({run.failed} of {run.passed + run.failed})")
            for finding in run.findings:
                for line in finding.lines():
                    write(textwrap.indent(line, INDENT))
                write()
    if report.budget_skips:
        write(f"Skipped for budget: {sum(report.budget_skips.values())} valid creates not sent")
        for purpose, count in sorted(report.budget_skips.items()):
            write(f"  - {purpose}: {count}")
    for note in report.notes:
        write(f"Note: {note}")
    verdict = "PASSED" if report.ok else "FAILED"
    write(f"Result: {verdict} - {counts['failed']} failed, {counts['passed']} passed, "
          f"{counts['skipped']} skipped check runs")
