"""Crash: ``kill -9`` the mock in the middle of a soak, restart it on the same state and port.

    python -m hardening.crash [--clients 20] [--seconds 60] [--kills 2] [--speed 60]

The mock runs with ``--state`` (SQLite). The simulated clients of ``hardening.load`` keep
going; while the mock is down their connection errors are expected (and counted). After
the run: every task id a client saw created is retrievable with the same model and
``created``; every callback of those tasks was delivered (or failed after four attempts,
for the receiver's failing paths) at least once, duplicates counted, none dropped.
Writes reports/crash.json and reports/crash.md.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from .accounting import account, outcome_counts, settle
from .common import MockProcess, env_float, env_int, finish, load_parser, log, run_markdown
from .load import Load, callback_receiver
from .soak import ADMIN_TOKEN, KEYS, SCENARIO, mock_args

DOWN_SECONDS = 1.0


def run(clients: int, seconds: float, kills: int, speed: float, seed: int = 4,
        progress: Callable[[str], None] = log) -> dict[str, Any]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, callback_receiver() as receiver:
        scenario = Path(tmp) / "crash-scenario.yaml"
        scenario.write_text(SCENARIO)
        state = Path(tmp) / "crash.sqlite"
        mock = MockProcess(*mock_args(scenario, receiver, speed, seed), "--state", str(state),
                           name="crash", admin_token=ADMIN_TOKEN)
        mock.start()
        window: dict[str, Any] = {"down": False, "until": 0.0}
        events: list[dict[str, Any]] = []

        def down() -> bool:
            return window["down"] or time.monotonic() < window["until"]

        load = Load(mock.url, KEYS, receiver, clients=clients, duration=seconds, seed=seed, down=down)

        async def killer() -> None:
            for number in range(1, kills + 1):
                await asyncio.sleep(seconds / (kills + 1) - (DOWN_SECONDS if number > 1 else 0))
                tasks_before = len(load.stats.seen)
                pid = mock.pid
                window["down"] = True
                await asyncio.to_thread(mock.kill9)
                killed_at = time.monotonic()
                await asyncio.sleep(DOWN_SECONDS)
                await asyncio.to_thread(mock.start)
                # Answers to requests sent just before the restart can still fail for a moment.
                window["down"], window["until"] = False, time.monotonic() + 0.5
                # The restarted mock must serve new tasks too, however long the restart took
                # (8.4 s of an 8 s run at load average 10): the clients go on for a share.
                load.extend(seconds / (kills + 1))
                events.append({"kill": number, "pid": pid, "tasks_seen_before": tasks_before,
                               "down_seconds": round(time.monotonic() - killed_at, 2)})
                progress(f"  crash: kill -9 #{number} of pid {pid} after {tasks_before} tasks; "
                         f"restarted as pid {mock.pid} in {events[-1]['down_seconds']} s")

        try:
            stats = asyncio.run(load.run(during=killer))
            settled = settle(mock.url, mock.admin_headers(), stats.seen)
            rules = httpx.get(f"{mock.url}/_mock/rules", headers=mock.admin_headers(),
                              timeout=10).json()["rules"]
            accounting = account(mock.url, mock.admin_headers(), stats, receiver, exact_once=False)
            alive = mock.alive()
        finally:
            mock.stop()
    report = {
        "config": {"clients": clients, "seconds": seconds, "kills": kills, "speed": speed,
                   "seed": seed, "down_seconds": DOWN_SECONDS},
        "seconds": round(time.monotonic() - started, 1),
        "settle_seconds": round(settled, 2),
        "kills": events,
        **outcome_counts(stats),
        "accounting": accounting,
        "scripted_rules": rules,
        "server_alive": alive,
    }
    report["ok"] = ok(report)
    return report


def ok(report: dict[str, Any]) -> bool:
    a = report["accounting"]
    return (report["server_alive"] and not report["unexpected_errors"]
            and a["tasks_lost"] == 0 and a["tasks_changed"] == 0 and a["callbacks_lost"] == 0
            and a["deliveries_pending_at_end"] == 0 and len(report["kills"]) == report["config"]["kills"]
            and report["tasks_created"] > 0)


def markdown(report: dict[str, Any]) -> str:
    a, c = report["accounting"], report["config"]
    callbacks = a["callbacks"]
    return run_markdown(
        "Crash (kill -9 during a soak, restart on the same --state)",
        f"{c['clients']} clients for {c['seconds']:g} s at speed x{c['speed']:g}, "
        f"{len(report['kills'])} kill -9 + restart(s) ({report['seconds']} s in all).", report, [
            ("tasks the clients saw created", report["tasks_created"]),
            ("retrievable with the same model/created after restarts",
             a["tasks_retrievable"] - a["tasks_changed"]),
            ("**tasks lost**", f"**{a['tasks_lost']}**"),
            ("callbacks expected (200 / 500 receiver)",
             f"{callbacks.get('expected_ok', 0)} / {callbacks.get('expected_fail', 0)}"),
            ("delivered / failed after 4 attempts",
             f"{callbacks.get('delivered', 0)} / {callbacks.get('failed_after_4_attempts', 0)}"),
            ("**callbacks lost**", f"**{a['callbacks_lost']}**"),
            ("duplicate callback POSTs (at-least-once)", a["callback_duplicates"]),
            ("tasks with more than one delivery record",
             callbacks.get("tasks_with_several_deliveries", 0)),
            ("expected errors (scripted 429s, connection errors while down)",
             report["expected_errors"]),
            ("unexpected errors", report["unexpected_errors"] or 0),
            ("kills", report["kills"]),
        ])


def main(argv: list[str] | None = None) -> int:
    parser = load_parser(__doc__, "HARDENING_CRASH_CLIENTS", clients=20, seed=4)
    parser.add_argument("--seconds", type=float, default=env_float("HARDENING_CRASH_SECONDS", 60))
    parser.add_argument("--kills", type=int, default=env_int("HARDENING_CRASH_KILLS", 2))
    args = parser.parse_args(argv)
    return finish("crash", run(args.clients, args.seconds, args.kills, args.speed, args.seed),
                  markdown)


if __name__ == "__main__":
    sys.exit(main())
