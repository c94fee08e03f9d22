"""A callback delivery and its journal: every attempt, what it got back, what comes next.

The vendor's rule, as the seeds state it: a 2xx answer ends a delivery; anything else
(another status, a timeout, a connection error) is retried after 1, 2 and 4 seconds, so at
most four attempts. The schedule lives here, in one place, for the dispatcher (mock clock)
and ``evolink-mock trigger`` (wall clock) alike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any

import orjson

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
RETRY_DELAYS = (1.0, 2.0, 4.0)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1


@dataclass(frozen=True)
class Outcome:
    """What one POST produced: a status (with a body snippet) or why there was none."""

    address: str | None         # the checked address connected to (None: refused or unresolved)
    status: int | None
    error: str | None
    latency_ms: float
    response_body: str | None   # the first characters of the answer


@dataclass
class Attempt:
    number: int                 # 1..MAX_ATTEMPTS
    due_at: float               # clock time it was scheduled for
    sent_at: float              # clock time it was sent
    sent_real_at: float         # wall clock, to measure lag independently of the mock clock
    address: str | None
    status: int | None
    error: str | None
    latency_ms: float
    response_body: str | None

    @classmethod
    def of(cls, number: int, due_at: float, sent_at: float, sent_real_at: float,
           outcome: Outcome) -> Attempt:
        # Field by field: asdict's deep copy was a fifth of a delivery's CPU in a burst.
        return cls(number, due_at, sent_at, sent_real_at, outcome.address, outcome.status,
                   outcome.error, outcome.latency_ms, outcome.response_body)


@dataclass
class Delivery:
    id: str
    task_id: str
    url: str
    payload: dict[str, Any]     # the task document, identical for every attempt and replay
    created_at: float
    next_due_at: float | None   # when the next attempt is due; None once delivered or failed
    state: str = PENDING
    replay_of: str | None = None
    attempts: list[Attempt] = field(default_factory=list)

    @classmethod
    def new(cls, task_id: str, url: str, payload: dict[str, Any], due: float,
            replay_of: str | None = None) -> Delivery:
        return cls(id=f"dlv-{os.urandom(8).hex()}", task_id=task_id, url=url, payload=payload,
                   created_at=due, next_due_at=due, replay_of=replay_of)

    @property
    def body(self) -> bytes:
        """The payload as sent, encoded once (every attempt sends the same bytes)."""
        body = self.__dict__.get("_body")
        if body is None:
            body = self.__dict__["_body"] = orjson.dumps(self.payload)
        return body

    def record(self, attempt: Attempt, now: float) -> None:
        """Add an attempt and decide what follows: done, given up, or a retry ``now`` + delay."""
        self.attempts.append(attempt)
        if attempt.status is not None and 200 <= attempt.status < 300:
            self.state, self.next_due_at = DELIVERED, None
        elif len(self.attempts) >= MAX_ATTEMPTS:
            self.state, self.next_due_at = FAILED, None
        else:
            self.next_due_at = now + RETRY_DELAYS[len(self.attempts) - 1]

    def to_record(self) -> dict[str, Any]:
        # Not dataclasses.asdict: its deep copy of every payload made listing 1,000
        # deliveries take ~0.3 s. The payload is never changed after creation.
        record = {name: getattr(self, name) for name in _FIELDS}
        record["attempts"] = [dict(vars(attempt)) for attempt in self.attempts]
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Delivery:
        attempts = [Attempt(**attempt) for attempt in record["attempts"]]
        return cls(**{**record, "attempts": attempts})


_FIELDS = tuple(f.name for f in fields(Delivery))
