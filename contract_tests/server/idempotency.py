"""Idempotent creates, as the vendor's own client relies on them (``@evolinkai/evolink-media``).

One create with an ``Idempotency-Key``, the same create again (a retry after a lost
answer), and the same key with another body. A server that keeps the contract answers the
second with the original task (``Idempotency-Replayed: true``) and refuses the third with
``idempotency_conflict``. A server that does not bills all three, so the phase runs only
when the budget covers three creates.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from ..budget import Budget
from ..results import Report, judge
from .target import Exchange, Target

IDEMPOTENCY = "idempotency"
SUBJECT = "create retried with one Idempotency-Key"
BODY = {"model": "grok-imagine-text-to-video", "prompt": "A kite over a windy beach"}
OTHER_BODY = {**BODY, "prompt": "A kite over a calm lake"}
CONFLICT_STATUS, CONFLICT_CODE = 409, "idempotency_conflict"


@dataclass(frozen=True)
class Attempts:
    first: Exchange
    replay: Exchange
    conflict: Exchange

    @property
    def all(self) -> list[Exchange]:
        return [self.first, self.replay, self.conflict]


Problem = tuple[str, Exchange]


def replay_returns_the_original_task(attempts: Attempts) -> list[Problem]:
    original = attempts.first.created_id("the first create")
    replay = attempts.replay
    if replay.document is None:
        return [(f"the retry with the same key and body answered HTTP {replay.status}", replay)]
    problems = []
    if replay.document.get("id") != original:
        problems.append((f"the retry made another task ({replay.document.get('id')!r} besides "
                         f"{original!r}): a retried paid create would be billed twice", replay))
    if replay.headers.get("idempotency-replayed") != "true":
        problems.append(("the replayed answer lacks 'Idempotency-Replayed: true'", replay))
    return problems


def reused_key_with_another_body_conflicts(attempts: Attempts) -> list[Problem]:
    original = attempts.first.created_id("the first create")
    conflict = attempts.conflict
    code = (conflict.body or {}).get("error", {}).get("code") if isinstance(conflict.body, dict) else None
    if conflict.status == CONFLICT_STATUS and code == CONFLICT_CODE:
        return []
    made = f", and made task {conflict.document.get('id')!r}" if conflict.document else ""
    return [(f"the same key with another body answered HTTP {conflict.status} {code or ''}"
             f"{made}; expected {CONFLICT_STATUS} {CONFLICT_CODE} (key of task {original})",
             conflict)]


def answers_carry_request_id(attempts: Attempts) -> list[Problem]:
    return [("no X-Request-Id header", answer) for answer in attempts.all
            if not answer.headers.get("x-request-id")]


CHECKS: list[Callable[[Attempts], list[Problem]]] = [
    replay_returns_the_original_task,
    reused_key_with_another_body_conflicts,
    answers_carry_request_id,
]


def _describe(answer: Exchange) -> tuple[str, str]:
    return answer.line, answer.curl()


def run_idempotency(target: Target, budget: Budget, report: Report) -> Attempts | None:
    if not budget.allows_all([BODY, BODY, OTHER_BODY], f"{IDEMPOTENCY} {SUBJECT}"):
        for check in CHECKS:
            report.skip(IDEMPOTENCY, check.__name__, SUBJECT, "over the credit budget (a server "
                        "without idempotency would bill 3 creates)")
        return None
    key = f"evolink-contract-{uuid.uuid4().hex}"
    attempts = Attempts(target.create(BODY, idempotency_key=key),
                        target.create(BODY, idempotency_key=key),
                        target.create(OTHER_BODY, idempotency_key=key))
    judge(report, IDEMPOTENCY, SUBJECT, CHECKS, attempts, _describe)
    return attempts
