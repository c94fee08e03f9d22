"""Soak and crash, CI size: 10 clients for 20 s on a x60 clock, and a kill -9 + restart on the
same --state during a shorter soak. The long runs (``make hardening``) use 50 clients for
10 minutes and several kills; see reports/soak.md and reports/crash.md.
"""

from __future__ import annotations

import os

from hardening import crash, soak

CLIENTS = int(os.environ.get("HARDENING_CI_SOAK_CLIENTS", "10"))
SECONDS = float(os.environ.get("HARDENING_CI_SOAK_SECONDS", "20"))


def _quiet(_line: str) -> None:
    pass


def test_soak_loses_nothing_and_errs_only_where_scripted() -> None:
    report = soak.run(CLIENTS, SECONDS, speed=60, progress=_quiet)
    accounting = report["accounting"]
    summary = soak.markdown(report)
    assert report["tasks_created"] >= CLIENTS, summary
    assert report["unexpected_errors"] == {}, (report["unexpected_examples"], summary)
    assert report["wrong_outcome_count"] == 0, report["wrong_outcomes"]
    assert accounting["tasks_lost"] == 0 and accounting["tasks_changed"] == 0, accounting["problems"]
    assert accounting["callbacks_lost"] == 0, accounting["callbacks_lost_examples"]
    assert accounting["problem_count"] == 0, accounting["problems"]
    assert accounting["deliveries_pending_at_end"] == 0
    callbacks = accounting["callbacks"]
    assert callbacks.get("delivered", 0) == callbacks.get("expected_ok", 0) > 0
    assert callbacks.get("failed_after_4_attempts", 0) == callbacks.get("expected_fail", 0)
    assert report["server_alive"]
    assert report["ok"], summary


def test_kill_9_during_a_soak_loses_no_task_and_no_callback() -> None:
    report = crash.run(8, 8, kills=1, speed=60, progress=_quiet)
    accounting = report["accounting"]
    summary = crash.markdown(report)
    assert len(report["kills"]) == 1, summary
    assert report["tasks_created"] > report["kills"][0]["tasks_seen_before"] > 0, summary
    assert accounting["tasks_lost"] == 0 and accounting["tasks_changed"] == 0, accounting["problems"]
    assert accounting["callbacks_lost"] == 0, accounting["callbacks_lost_examples"]
    assert report["unexpected_errors"] == {}, (report["unexpected_examples"], summary)
    assert report["ok"], summary
