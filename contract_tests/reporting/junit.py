"""JUnit XML: one test suite per phase, one test case per check and subject."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..results import Report


def write(report: Report, path: str | Path) -> None:
    root = ET.Element("testsuites", name=f"evolink-contract {report.command}")
    phases = dict.fromkeys(run.phase for run in report.runs.values())
    for phase in phases:
        runs = [run for run in report.runs.values() if run.phase == phase]
        suite = ET.SubElement(root, "testsuite", name=f"{report.command}.{phase}",
                              tests=str(len(runs)), errors="0",
                              failures=str(sum(run.status == "failed" for run in runs)),
                              skipped=str(sum(run.status == "skipped" for run in runs)))
        for run in runs:
            case = ET.SubElement(suite, "testcase", name=run.check,
                                 classname=f"{report.command}.{phase}.{run.subject}")
            if run.status == "failed":
                failure = ET.SubElement(case, "failure", type=run.check,
                                        message=run.findings[0].message.splitlines()[0])
                failure.text = "\n\n".join("\n".join(f.lines()) for f in run.findings)
            elif run.status == "skipped":
                ET.SubElement(case, "skipped", message=run.skipped or "")
            ET.SubElement(case, "system-out").text = f"{run.passed} passed, {run.failed} failed"
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
