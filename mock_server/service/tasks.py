"""Tasks: creating them (idempotent creates too, under ``Idempotency-Key``), reading the
ones a key owns, and the credits they hold (``--credits``)."""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

from ..domain import lifecycle
from ..domain.defaults import apply_defaults
from ..domain.ids import key_fingerprint
from ..domain.plan import plan_task
from ..domain.scenarios import Action
from ..domain.task import COMPLETED, Task
from ..errors import (
    idempotency_conflict,
    insufficient_credits,
    invalid_request,
    task_not_found,
    task_of_another_key,
)
from ..models import ASPECT_RATIOS
from .state import ServiceState

IDEMPOTENCY_HEADER = "Idempotency-Key"
# Stored creates live among the store's named values (so --state and --workers share them).
IDEMPOTENCY_PREFIX = "idempotency:"


class Tasks(ServiceState):
    # --- creates --------------------------------------------------------------------------

    async def create_task(self, *, api_key: str, body: dict[str, Any], media_base: str,
                    action: Action = Action()) -> dict[str, Any]:
        """Store a new task for a validated request and answer its create document."""
        model = body["model"]
        if "callback_url" in body:
            refusal = self.callback_policy.refusal_at_create(body["callback_url"])
            if refusal:
                raise invalid_request(refusal, "callback_url")
        request = apply_defaults(self.request_schemas[model], body)
        now = self.now()
        plan = plan_task(self.behaviours[model], request, outcome=action.fail or COMPLETED,
                         takes=action.takes, aspect_ratios=ASPECT_RATIOS)
        task = plan.task(task_id=self.ids.task_id(now), owner=sys.intern(key_fingerprint(api_key)),
                         model=sys.intern(model), request=request, created_at=now,
                         media_base=sys.intern(media_base))
        if self.settings.credits is None:
            await self.store.put(task)
        else:
            async with self._exclusive():   # the balance check and the write as one step
                await self._check_balance(task)
                await self.store.put(task)
        self._changed(task)
        return lifecycle.created_document(task, now, real_seconds_per_mock=self.real_seconds_per_mock)

    def _changed(self, task: Task) -> None:
        for listener in self.task_listeners:
            listener(task)

    # --- idempotent creates (Idempotency-Key) ------------------------------------------------

    @staticmethod
    def body_digest(body: Any) -> str:
        """The same JSON, whatever its key order or spacing, gives the same digest."""
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    async def stored_create(self, *, api_key: str, idempotency_key: str,
                      body: dict[str, Any]) -> dict[str, Any] | None:
        """The answer of an earlier create with this key (same API key, within the window),
        or None; 409 ``idempotency_conflict`` if that create had another body."""
        slot = f"{IDEMPOTENCY_PREFIX}{key_fingerprint(api_key)}:{idempotency_key}"
        record = await self.store.get_value(slot)
        if record is None or self.now() - record["at"] >= self.idempotency_window:
            return None
        if record["body"] != self.body_digest(body):
            raise idempotency_conflict(self.error_codes, IDEMPOTENCY_HEADER, record["document"]["id"])
        return record["document"]

    async def create_or_replay(self, *, api_key: str, body: dict[str, Any], media_base: str,
                         action: Action = Action(),
                         idempotency_key: str | None = None) -> tuple[dict[str, Any], bool]:
        """A new task, or with a known ``idempotency_key`` the stored answer; True if replayed.

        The look-up, the create and the record are one step (across workers too), so two
        requests racing with one key still make one task."""
        if idempotency_key is None:
            return await self.create_task(api_key=api_key, body=body, media_base=media_base,
                                          action=action), False
        async with self._exclusive():
            stored = await self.stored_create(api_key=api_key, idempotency_key=idempotency_key,
                                              body=body)
            if stored is not None:
                return stored, True
            document = await self.create_task(api_key=api_key, body=body, media_base=media_base,
                                              action=action)
            # Stamped with its mock time: --retention forgets it with the task.
            await self.store.put_value(
                f"{IDEMPOTENCY_PREFIX}{key_fingerprint(api_key)}:{idempotency_key}",
                {"at": self.now(), "body": self.body_digest(body), "document": document},
                at=self.now())
        return document, False

    # --- reading a key's tasks ---

    async def owned_task(self, *, api_key: str, task_id: str) -> Task:
        task = await self._task(task_id)
        if task is None:
            raise task_not_found(self.error_codes, task_id)
        if task.owner != key_fingerprint(api_key):
            raise task_of_another_key(self.error_codes)
        return task

    def task_document(self, task: Task) -> dict[str, Any]:
        return lifecycle.document(task, self.now(), real_seconds_per_mock=self.real_seconds_per_mock)

    # --- credits (only with --credits) ---------------------------------------------------

    async def balance(self, owner: str) -> float | None:
        """Credits left for a key: the start balance minus what its tasks hold.

        A failed task's credits come back (refund), so this is computed from the tasks'
        current state rather than kept as a counter.
        """
        if self.settings.credits is None:
            return None
        return self.settings.credits - await self.credits_held(owner)

    async def credits_held(self, owner: str) -> float:
        """What a key's tasks hold now: every task's credits but the failed ones'."""
        now = self.now()
        return sum(task.credits for task in await self.store.tasks() if task.owner == owner
                   and lifecycle.snapshot(task, now).status != lifecycle.FAILED)

    async def _check_balance(self, task: Task) -> None:
        left = await self.balance(task.owner)
        if left is not None and left < task.credits:
            raise insufficient_credits(self.error_codes, task.credits, left)

