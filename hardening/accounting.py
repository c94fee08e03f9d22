"""The accounting after a soak or crash run: every task the simulated clients saw is still
there unchanged, and every callback they asked for arrived (or failed after its attempts)."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Any

import httpx

from tests.receivers import Receiver

from .load import LoadStats, Seen


def callbacks_by_task(receiver: Receiver | None) -> tuple[Counter[str], int]:
    """How many callbacks arrived for each task id, and how many bodies named no task."""
    hits: Counter[str] = Counter()
    bad = 0
    for received in receiver.requests if receiver is not None else []:
        try:
            task_id = received.json().get("id")
        except (ValueError, AttributeError):
            task_id = None
        if task_id:
            hits[task_id] += 1
        bad += task_id is None
    return hits, bad


def settle(base_url: str, admin: dict[str, str], seen: dict[str, Seen], timeout: float = 60.0) -> float:
    """Wait until every task with a callback has a finished first delivery. Seconds waited."""
    started = time.monotonic()
    wanted = {task_id for task_id, s in seen.items() if s.callback}
    with httpx.Client(base_url=base_url, headers=admin, timeout=30) as http:
        while time.monotonic() - started < timeout:
            deliveries = http.get("/_mock/deliveries").json()["deliveries"]
            finished = {d["task_id"] for d in deliveries
                        if d["state"] != "pending" and d["replay_of"] is None}
            pending = [d for d in deliveries if d["state"] == "pending"]
            if wanted <= finished and not pending:
                break
            time.sleep(0.5)
    return time.monotonic() - started


def account(base_url: str, admin: dict[str, str], stats: LoadStats,
            receiver: Receiver | None, *, exact_once: bool) -> dict[str, Any]:
    """Every task the clients saw is retrievable unchanged; every callback is accounted for.

    ``exact_once``: a delivered callback arrived exactly once (soak); otherwise at least
    once, and duplicates are counted (crash).
    """
    problems: list[str] = []
    retrievable = 0
    changed = 0
    with httpx.Client(base_url=base_url, timeout=30) as http:
        # The scenario's rules would answer some of these checks with 429: clear them first
        # (callers read the rules' counters before).
        http.delete("/_mock/rules", headers=admin).raise_for_status()
        for seen in stats.seen.values():
            response = http.get(f"/v1/tasks/{seen.id}", headers={"Authorization": f"Bearer {seen.key}"})
            if response.status_code != 200:
                problems.append(f"task {seen.id}: GET answered {response.status_code} {response.text[:200]}")
                continue
            document = response.json()
            retrievable += 1
            if document["model"] != seen.model or document["created"] != seen.created:
                changed += 1
                problems.append(f"task {seen.id}: model/created changed to "
                                f"{document['model']}/{document['created']}")
        deliveries = http.get("/_mock/deliveries", headers=admin).json()["deliveries"]
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for delivery in deliveries:
        if delivery["replay_of"] is None:
            by_task[delivery["task_id"]].append(delivery)
    hits, bad_bodies = callbacks_by_task(receiver)
    callbacks: Counter[str] = Counter()
    lost: list[str] = []
    duplicates = 0
    for seen in stats.seen.values():
        if not seen.callback:
            if by_task.get(seen.id):
                problems.append(f"task {seen.id}: a delivery without a callback_url")
            continue
        callbacks[f"expected_{seen.callback}"] += 1
        states = [d["state"] for d in by_task.get(seen.id, [])]
        got = hits.get(seen.id, 0)
        if len(states) > 1:
            callbacks["tasks_with_several_deliveries"] += 1
        if seen.callback == "ok":
            if "delivered" in states and got >= 1:
                callbacks["delivered"] += 1
                duplicates += got - 1
                if exact_once and got != 1:
                    problems.append(f"task {seen.id}: callback received {got} times")
            else:
                lost.append(f"{seen.id}: deliveries {states}, received {got}")
        else:
            attempts = sum(len(d["attempts"]) for d in by_task.get(seen.id, []))
            if "failed" in states and got >= 4:
                callbacks["failed_after_4_attempts"] += 1
                duplicates += got - 4
                if exact_once and (got != 4 or attempts != 4):
                    problems.append(f"task {seen.id}: failing callback received {got} times, "
                                    f"{attempts} attempts journaled")
            else:
                lost.append(f"{seen.id}: deliveries {states}, received {got}, attempts {attempts}")
    pending = sum(1 for d in deliveries if d["state"] == "pending")
    return {
        "tasks_seen": len(stats.seen),
        "tasks_retrievable": retrievable,
        "tasks_changed": changed,
        "tasks_lost": len(stats.seen) - retrievable,
        "callbacks": dict(callbacks),
        "callbacks_lost": len(lost),
        "callbacks_lost_examples": lost[:20],
        "callback_duplicates": duplicates,
        "deliveries_total": len(deliveries),
        "deliveries_pending_at_end": pending,
        "receiver_posts": sum(hits.values()),
        "receiver_bad_bodies": bad_bodies,
        "problems": problems[:50],
        "problem_count": len(problems),
    }


def outcome_counts(stats: LoadStats) -> dict[str, Any]:
    finals = Counter((s.final_status or "not seen ending") for s in stats.seen.values())
    models = Counter(s.model for s in stats.seen.values())
    return {
        "creates_attempted": stats.creates_attempted,
        "tasks_created": len(stats.seen),
        "polls": stats.polls,
        "requests": stats.requests,
        "final_statuses": dict(finals),
        "models": dict(models),
        "scripted_failures": sum(1 for s in stats.seen.values() if s.scripted_failure),
        "expected_errors": dict(stats.expected),
        "unexpected_errors": dict(stats.unexpected),
        "unexpected_examples": stats.unexpected_examples,
        "wrong_outcomes": stats.wrong_outcomes[:20],
        "wrong_outcome_count": len(stats.wrong_outcomes),
    }
