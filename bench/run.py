"""`make bench`: throughput, latency, memory, callback bursts, the pytest fixture's cost and
Schemathesis speed of the mock, with Stoplight Prism on the same spec as the yardstick.
See bench/README.md.

Each measurement is a module of bench/measurements/ (``--only`` picks some); bench/runner.py
holds what they share, bench/report.py the table. Everything runs on loopback, every load is
bounded in time, and every process started is stopped by its process group id when it ends
(also on errors and Ctrl-C). Writes bench/results.json, bench/results.md and bench/profiles/*.txt.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):   # run as a script (python bench/run.py): import the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measurements import MEASUREMENTS
from bench.report import render_markdown
from bench.runner import (
    BENCH,
    BODY_FIXTURE,
    PRISM_VERSION,
    ROOT,
    TMP,
    Context,
    Proc,
    ensure_prism,
    ensure_wrk,
    http_stack,
    log,
    stop_all,
    tool_version,
)

NAMES = [m.NAME for m in MEASUREMENTS]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds per target (default 3)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks for the store-size run")
    parser.add_argument("--small-tasks", type=int, default=5)
    parser.add_argument("--callbacks", type=int, default=1000,
                        help="tasks completing at once (and a tenth of it: the small burst)")
    parser.add_argument("--baseline-ref", default=None,
                        help="also run the callback bursts and the Schemathesis run against the "
                             "mock at this git commit, in the same run (e.g. main)")
    parser.add_argument("--fixture-tests", type=int, default=200,
                        help="empty tests per variant in the fixture measurement")
    parser.add_argument("--st-examples", type=int, default=200, help="Schemathesis max_examples")
    parser.add_argument("--profile-seconds", type=int, default=11)
    parser.add_argument("--profile-rate", type=int, default=250)
    parser.add_argument("--no-prism", action="store_true", help="skip the Prism comparison")
    parser.add_argument("--stack", choices=("auto", "h11"), default="auto",
                        help="auto: whatever uvicorn picks in this venv (httptools/uvloop if installed); "
                             "h11: hide httptools and uvloop from the mock (the pure-Python fallback stack)")
    parser.add_argument("--workers", type=int, default=2,
                        help="also measure `serve --workers N` (shared SQLite state); 1 skips it")
    parser.add_argument("--inprocess-requests", type=int, default=20_000,
                        help="requests per endpoint for the in-process (no HTTP server) timing")
    parser.add_argument("--only", default=",".join(NAMES),
                        help=f"comma-separated subset of: {','.join(NAMES)} (a subset writes "
                             f"bench/.tmp/partial-results.*, leaving bench/results.* alone)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run (short, small); writes to bench/.tmp/ instead of bench/")
    args = parser.parse_args()
    unknown = set(args.only.split(",")) - set(NAMES)
    if unknown:
        parser.error(f"--only: unknown measurement(s) {', '.join(sorted(unknown))}; choose from "
                     f"{', '.join(NAMES)}")
    if args.quick:
        args.duration, args.rounds, args.warmup = 2, 1, 1
        args.tasks, args.callbacks, args.st_examples, args.profile_seconds = 5000, 100, 10, 4
        args.inprocess_requests, args.fixture_tests = 2000, 20
    return args


def main() -> int:
    args = parse_args()
    only = set(args.only.split(","))
    if args.stack == "h11":
        Proc.server_env = {"PYTHONPATH": os.pathsep.join(
            filter(None, [str(BENCH / "stack_h11"), os.environ.get("PYTHONPATH", "")]))}
    stack_at_start = http_stack(Proc.server_env)
    # A smoke run or a subset leaves the committed bench/results.* alone.
    partial = args.quick or only != set(NAMES)
    out_dir = TMP if partial else BENCH
    TMP.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def progress(message: str) -> None:
        log(f"[{time.monotonic() - started:6.1f}s] {message}")

    ensure_wrk()
    if "prism" in only and not args.no_prism:
        ensure_prism()
    body_dict = json.loads(BODY_FIXTURE.read_text())
    body_dict.pop("callback_url", None)   # no task of this run may point anywhere but loopback
    body = json.dumps(body_dict).encode()
    body_file = TMP / "kling-body.json"
    body_file.write_bytes(body)
    ctx = Context(args, body_dict, body, body_file, progress, quick=args.quick)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            check=False).stdout.strip() or "?"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           check=False).stdout.strip()
    results: dict[str, Any] = {"meta": {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + ("+dirty" if dirty else ""),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "wrk": tool_version(["wrk", "-v"]).split(" [")[0],
        "node": tool_version(["node", "--version"]),
        "prism": PRISM_VERSION,
        "config": {"duration": args.duration, "rounds": args.rounds, "warmup": args.warmup,
                   "threads": args.threads, "connections": args.connections, "stack": args.stack},
        "mock_http_stack": stack_at_start,
        "post_body": body_dict,
        "measurements": [name for name in NAMES if name in only],
    }}
    log(f"bench: {', '.join(results['meta']['measurements'])}; wrk -t{args.threads} -c{args.connections} "
        f"-d{args.duration}s x {args.rounds} rounds; mock's uvicorn stack: {stack_at_start}; "
        f"results to {out_dir.relative_to(ROOT)}/")
    try:
        for measurement in MEASUREMENTS:
            if measurement.NAME in only:
                results.update(measurement.run(ctx))
    finally:
        stop_all()
    results["meta"]["total_seconds"] = round(time.monotonic() - started, 1)
    stack_at_end = http_stack(Proc.server_env)
    if stack_at_end != stack_at_start:
        results["meta"]["warning"] = (f"the venv changed during the run: the mock's uvicorn stack was "
                                      f"{stack_at_start} at the start and {stack_at_end} at the end; "
                                      f"servers started after the change ran on the other stack")
        log("WARNING: " + results["meta"]["warning"])
    stem = "quick-results" if args.quick else ("partial-results" if partial else "results")
    (out_dir / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    markdown = render_markdown(results)
    (out_dir / f"{stem}.md").write_text(markdown)
    log("")
    log(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
