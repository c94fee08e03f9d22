"""Soak: many concurrent simulated clients for minutes on an accelerated clock.

    python -m hardening.soak [--clients 50] [--minutes 10] [--speed 60]

Starts ``evolink-mock serve`` (subprocess, loopback) with a scenario that answers a few
percent of creates and polls with a scripted 429, and a local callback receiver allowed
with ``--allow-callback-host``. See ``hardening.load`` for what the clients do. Afterwards
every created task must be retrievable unchanged, every callback accounted for in
``GET /_mock/deliveries`` (delivered once, or failed after four attempts for the receiver's
``/fail/`` paths), and the only errors the scripted ones. The mock's RSS is sampled on a
timer. Writes reports/soak.json and reports/soak.md.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.receivers import Receiver

from .accounting import account, outcome_counts, settle
from .common import (
    MockProcess,
    RssSampler,
    RssSeries,
    env_float,
    finish,
    load_parser,
    log,
    mb,
    run_markdown,
)
from .load import Load, callback_receiver

KEYS = ["soak-key-alpha", "soak-key-bravo", "soak-key-charlie"]
ADMIN_TOKEN = "soak-admin-token"
SCENARIO = """\
# Scripted faults for the soak: expected errors, each a 429 with Retry-After.
rules:
  - operation: createVideoGeneration
    probability: 0.03
    action: {http: 429, retry_after: 1}
  - operation: getTask
    probability: 0.01
    action: {http: 429, retry_after: 1}
"""


def mock_args(scenario: Path, receiver: Receiver, speed: float, seed: int) -> list[str]:
    args = ["--speed", f"{speed:g}", "--allow-callback-host", receiver.host_port,
            "--scenario", str(scenario), "--log-format", "off", "--seed", str(seed)]
    for key in KEYS:
        args += ["--api-key", key]
    return args


def run(clients: int, seconds: float, speed: float, seed: int = 3, rss_interval: float = 5.0,
        progress: Callable[[str], None] = log, state: bool = False) -> dict[str, Any]:
    """``state``: run the mock with ``--state`` (tasks in SQLite rather than in memory)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, callback_receiver() as receiver:
        scenario = Path(tmp) / "soak-scenario.yaml"
        scenario.write_text(SCENARIO)
        extra = ["--state", str(Path(tmp) / "soak.sqlite")] if state else []
        with MockProcess(*mock_args(scenario, receiver, speed, seed), *extra, name="soak",
                         admin_token=ADMIN_TOKEN) as mock:
            rss = RssSeries(mock.pid)
            load = Load(mock.url, KEYS, receiver, clients=clients, duration=seconds, seed=seed)

            async def heartbeat() -> None:
                every = max(seconds / 10, 5.0)
                while time.monotonic() - load.stats.started < seconds:
                    await asyncio.sleep(min(every, max(0.1,
                                                       seconds - (time.monotonic() - load.stats.started))))
                    progress(f"  soak: {time.monotonic() - load.stats.started:.0f}/{seconds:.0f} s, "
                             f"{len(load.stats.seen)} tasks, {load.stats.polls} polls, "
                             f"RSS {mb(rss.samples[-1][2] if rss.samples else None)}")

            with RssSampler(rss, rss_interval):
                stats = asyncio.run(load.run(during=heartbeat if seconds >= 30 else None))
                settled = settle(mock.url, mock.admin_headers(), stats.seen)
            rules = _rules(mock)   # before account() clears them
            accounting = account(mock.url, mock.admin_headers(), stats, receiver, exact_once=True)
            alive = mock.alive()
    report = {
        "config": {"clients": clients, "seconds": seconds, "speed": speed, "seed": seed,
                   "keys": len(KEYS), "state": state, "scenario": SCENARIO},
        "seconds": round(time.monotonic() - started, 1),
        "settle_seconds": round(settled, 2),
        **outcome_counts(stats),
        "accounting": accounting,
        "scripted_rules": rules,
        "server_alive": alive,
        "rss": {**rss.summary(), "series": rss.samples},
    }
    report["rss"]["kb_per_1000_tasks"] = (
        round((report["rss"]["end_kb"] - report["rss"]["start_kb"]) / max(len(stats.seen), 1) * 1000, 1)
        if rss.samples else None)
    report["ok"] = ok(report)
    return report


def _rules(mock: MockProcess) -> list[dict[str, Any]]:
    import httpx

    return httpx.get(f"{mock.url}/_mock/rules", headers=mock.admin_headers(), timeout=10).json()["rules"]


def ok(report: dict[str, Any]) -> bool:
    a = report["accounting"]
    return (report["server_alive"] and not report["unexpected_errors"]
            and report["wrong_outcome_count"] == 0 and a["tasks_lost"] == 0
            and a["tasks_changed"] == 0 and a["callbacks_lost"] == 0 and a["problem_count"] == 0
            and a["deliveries_pending_at_end"] == 0 and report["tasks_created"] > 0)


def markdown(report: dict[str, Any]) -> str:
    a, rss, c = report["accounting"], report["rss"], report["config"]
    callbacks = a["callbacks"]
    return run_markdown(
        "Soak",
        f"{c['clients']} clients for {c['seconds']:g} s at speed x{c['speed']:g}"
        f"{', with --state' if c.get('state') else ''} ({report['seconds']} s in all).", report, [
            ("tasks created / retrievable unchanged / lost", f"{report['tasks_created']} / "
             f"{a['tasks_retrievable'] - a['tasks_changed']} / {a['tasks_lost']}"),
            ("models", report["models"]),
            ("final statuses seen by clients",
             f"{report['final_statuses']} (scripted failures {report['scripted_failures']})"),
            ("polls / requests in all", f"{report['polls']} / {report['requests']}"),
            ("callbacks expected", f"{callbacks.get('expected_ok', 0)} to 200-receiver, "
             f"{callbacks.get('expected_fail', 0)} to 500-receiver"),
            ("callbacks delivered / failed after 4 attempts / lost",
             f"{callbacks.get('delivered', 0)} / {callbacks.get('failed_after_4_attempts', 0)} / "
             f"{a['callbacks_lost']}"),
            ("receiver POSTs / duplicates", f"{a['receiver_posts']} / {a['callback_duplicates']}"),
            ("expected (scripted) errors", report["expected_errors"]),
            ("unexpected errors", report["unexpected_errors"] or 0),
            ("wrong outcomes", report["wrong_outcome_count"]),
            ("other problems", a["problem_count"]),
            ("mock RSS start / end / max",
             f"{mb(rss.get('start_kb'))} / {mb(rss.get('end_kb'))} / {mb(rss.get('max_kb'))}"),
            ("RSS slope (whole run / second half)",
             f"{rss.get('slope_kb_per_min')} / {rss.get('second_half_slope_kb_per_min')} kB/min "
             f"({rss.get('samples')} samples)"),
            ("RSS growth per 1000 tasks kept in memory", f"{rss.get('kb_per_1000_tasks')} kB"),
        ])


def main(argv: list[str] | None = None) -> int:
    parser = load_parser(__doc__, "HARDENING_SOAK_CLIENTS", clients=50, seed=3)
    parser.add_argument("--minutes", type=float, default=env_float("HARDENING_SOAK_MINUTES", 10))
    parser.add_argument("--state", action="store_true",
                        help="run the mock with --state (SQLite) instead of the memory store")
    args = parser.parse_args(argv)
    report = run(args.clients, args.minutes * 60, args.speed, args.seed, state=args.state)
    return finish("soak-state" if args.state else "soak", report, markdown)


if __name__ == "__main__":
    sys.exit(main())
