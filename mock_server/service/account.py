"""The account endpoints the vendor's own client calls: models, credits, task list, batch."""

from __future__ import annotations

from typing import Any

from ..domain import lifecycle
from ..domain.ids import key_fingerprint
from .tasks import Tasks


class Account(Tasks):
    def model_list(self) -> dict[str, Any]:
        return {"data": [{"id": model} for model in self.models]}

    async def credit_report(self, api_key: str) -> dict[str, Any]:
        """Each API key is its own account here, so ``user`` and ``token`` agree."""
        used = await self.credits_held(key_fingerprint(api_key))
        remaining = None if self.settings.credits is None else max(self.settings.credits - used, 0)
        balance = {"remaining": remaining, "used": used, "unlimited": remaining is None}
        return {"data": {"user": balance, "token": dict(balance)}}

    async def task_page(self, *, api_key: str, status: str | None = None, type_: str | None = None,
                  model: str | None = None, page: int = 1, page_size: int = 20) -> dict[str, Any]:
        """This key's tasks, newest first, filtered, one page; no result links (as listed by
        the vendor: a client reads a task for them)."""
        owner, now = key_fingerprint(api_key), self.now()
        listed = []
        for task in reversed(await self.store.tasks()):
            if task.owner != owner or (model is not None and task.model != model):
                continue
            doc = lifecycle.document(task, now, real_seconds_per_mock=self.real_seconds_per_mock)
            if (status is None or doc["status"] == status) and (type_ is None or doc["type"] == type_):
                doc.pop("results", None)
                listed.append(doc)
        start = (page - 1) * page_size
        return {"data": listed[start:start + page_size], "total": len(listed), "page": page,
                "page_size": page_size}

    async def task_batch(self, *, api_key: str, task_ids: list[str]) -> dict[str, Any]:
        """The documents of the asked tasks that exist and are this key's, each once."""
        owner = key_fingerprint(api_key)
        found = [await self._task(task_id) for task_id in dict.fromkeys(task_ids)]
        return {"data": [self.task_document(task) for task in found
                         if task is not None and task.owner == owner]}
