"""`make hardening`: every long hardening run, one progress line per phase, reports in reports/.

    python -m hardening.run [--only fuzz,ssrf,soak,crash,auth]

Sizes come from the environment (defaults in brackets), so CI or a quick local run can
shrink them:

    HARDENING_FUZZ_CASES [10000]   Schemathesis cases over HTTP, both specs
    HARDENING_SOAK_CLIENTS [50]    HARDENING_SOAK_MINUTES [10]   HARDENING_SOAK_SPEED [60]
    HARDENING_CRASH_CLIENTS [20]   HARDENING_CRASH_SECONDS [60]  HARDENING_CRASH_KILLS [2]
    HARDENING_AUTH_ROUNDS [200000]

Every phase runs even if an earlier one failed; the exit status is 1 if any failed.
Writes reports/hardening.md (the summary) next to each phase's own report.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from . import auth_timing, crash, fuzz, soak
from .common import REPORTS, ROOT, env_float, env_int, log, mb, write_json, write_text

PHASES = ("fuzz", "ssrf", "soak", "crash", "auth")


def _fuzz() -> tuple[bool, str, dict[str, Any]]:
    report = fuzz.run(env_int("HARDENING_FUZZ_CASES", 10_000), env_int("HARDENING_RSS_EVERY", 250),
                      env_int("HARDENING_SEED", 1))
    st, rss = report["schemathesis"], report["rss"]
    others = sum(st["other_check_failures"].values())
    line = (f"{st['cases']} cases, {st['server_errors_5xx']} 5xx, {st['out_of_spec_responses']} out of spec, "
            f"{others} other check failures; raw {report['raw']['cases']} "
            f"({report['raw']['failed']} failed, {report['raw']['server_errors_5xx']} 5xx); "
            f"RSS {mb(rss.get('start_kb'))} -> {mb(rss.get('end_kb'))} (max {mb(rss.get('max_kb'))})")
    return report["ok"], line, report


def _ssrf() -> tuple[bool, str, dict[str, Any]]:
    env = {**os.environ, "HARDENING_REPORTS": "1"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/test_hardening_ssrf.py"], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False)
    figures = json.loads((REPORTS / "ssrf.json").read_text()) if (REPORTS / "ssrf.json").exists() else {}
    tail = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "no output"
    line = (f"{figures.get('refused at create', '?')} refused at create, "
            f"{figures.get('refused at delivery', '?')} at delivery, "
            f"{figures.get('packets reached a trap', '?')} packets reached "
            f"({figures.get('trap listeners', '?')} traps); pytest: {tail}")
    return result.returncode == 0, line, {"pytest_output": result.stdout[-5000:], **figures}


def _soak() -> tuple[bool, str, dict[str, Any]]:
    report = soak.run(env_int("HARDENING_SOAK_CLIENTS", 50), env_float("HARDENING_SOAK_MINUTES", 10) * 60,
                      env_float("HARDENING_SOAK_SPEED", 60), env_int("HARDENING_SEED", 3))
    write_json("soak.json", report)
    write_text("soak.md", soak.markdown(report))
    a, rss = report["accounting"], report["rss"]
    line = (f"{report['tasks_created']} tasks, {report['polls']} polls, "
            f"{a['callbacks'].get('delivered', 0)} delivered + "
            f"{a['callbacks'].get('failed_after_4_attempts', 0)} "
            f"failed-after-4 callbacks, lost {a['tasks_lost']} tasks / {a['callbacks_lost']} callbacks, "
            f"expected errors {sum(report['expected_errors'].values())}, unexpected "
            f"{sum(report['unexpected_errors'].values())}; RSS {mb(rss.get('start_kb'))} -> "
            f"{mb(rss.get('end_kb'))}, slope {rss.get('second_half_slope_kb_per_min')} kB/min (2nd half)")
    return report["ok"], line, report


def _crash() -> tuple[bool, str, dict[str, Any]]:
    report = crash.run(env_int("HARDENING_CRASH_CLIENTS", 20), env_float("HARDENING_CRASH_SECONDS", 60),
                       env_int("HARDENING_CRASH_KILLS", 2), env_float("HARDENING_SOAK_SPEED", 60),
                       env_int("HARDENING_SEED", 4))
    write_json("crash.json", report)
    write_text("crash.md", crash.markdown(report))
    a = report["accounting"]
    line = (f"{len(report['kills'])} kill -9, {report['tasks_created']} tasks seen, lost {a['tasks_lost']}; "
            f"callbacks lost {a['callbacks_lost']}, duplicates {a['callback_duplicates']}")
    return report["ok"], line, report


def _auth() -> tuple[bool, str, dict[str, Any]]:
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/test_hardening_auth.py"], cwd=ROOT, capture_output=True, text=True,
                            check=False)
    timing = auth_timing.measure(env_int("HARDENING_AUTH_ROUNDS", 200_000))
    write_json("auth.json", {**timing, "pytest_output": result.stdout[-5000:]})
    write_text("auth.md", auth_timing.markdown(timing) + "\n## Tests\n\n```\n"
               + "\n".join(result.stdout.strip().splitlines()[-15:]) + "\n```\n")
    tail = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "no output"
    line = (f"pytest: {tail}; timing spread by match position {timing['match_position_spread_percent']} %, "
            f"by mismatch position {timing['mismatch_position_spread_percent']} %")
    return result.returncode == 0, line, timing


RUNNERS: dict[str, Callable[[], tuple[bool, str, dict[str, Any]]]] = {
    "fuzz": _fuzz, "ssrf": _ssrf, "soak": _soak, "crash": _crash, "auth": _auth}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(PHASES),
                        help=f"comma-separated phases (default: all of {', '.join(PHASES)})")
    args = parser.parse_args(argv)
    phases = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    REPORTS.mkdir(parents=True, exist_ok=True)
    results: list[tuple[str, bool, str, float]] = []
    started = time.monotonic()
    for number, phase in enumerate(phases, start=1):
        log(f"[{number}/{len(phases)}] {phase}: running")
        phase_started = time.monotonic()
        try:
            ok, line, _report = RUNNERS[phase]()
        except Exception as exc:   # noqa: BLE001 - report it and go on with the next phase
            ok, line = False, f"crashed: {type(exc).__name__}: {exc}"
        seconds = time.monotonic() - phase_started
        results.append((phase, ok, line, seconds))
        log(f"[{number}/{len(phases)}] {phase}: {'PASS' if ok else 'FAIL'} in {seconds:.0f} s - {line}")
    total = time.monotonic() - started
    # The summary keeps the latest result of every phase, also from earlier --only runs.
    summary_path = REPORTS / "hardening.json"
    latest: dict[str, Any] = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    for phase, ok, line, seconds in results:
        latest[phase] = {"ok": ok, "line": line, "seconds": round(seconds), "finished": stamp}
    write_json("hardening.json", latest)
    summary = ["# Hardening", "", "Latest result of each phase (`make hardening`; one phase: "
               "`python -m hardening.run --only PHASE`).", "",
               "| phase | result | seconds | finished | figures |", "|---|---|---|---|---|"]
    summary += [f"| {phase} | {'PASS' if r['ok'] else '**FAIL**'} | {r['seconds']} | {r['finished']} | "
                f"{r['line']} |" for phase, r in ((p, latest[p]) for p in PHASES if p in latest)]
    summary += ["", "Details: " + ", ".join(f"reports/{p}.md" for p in PHASES if p in latest) + "."]
    write_text("hardening.md", "\n".join(summary) + "\n")
    failed = [phase for phase, ok, _line, _s in results if not ok]
    log(f"hardening: {'all passed' if not failed else 'FAILED: ' + ', '.join(failed)} "
        f"in {total:.0f} s; summary in reports/hardening.md")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
