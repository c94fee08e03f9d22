"""One store interface, three stores: memory, SQLite and PostgreSQL answer alike.

The interface is asynchronous wherever a store may do I/O. The local stores never wait, which
is what lets synchronous code drive them (``resolved``); a networked store's coroutines are
awaited on an event loop, and ``resolved`` refuses them rather than block.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mock_server.domain.delivery import Delivery
from mock_server.domain.task import Task
from mock_server.store import MemoryStore, open_store, resolved
from tests.postgres import PostgresServer, skip_reason


def task(number: int, created_at: float) -> Task:
    return Task(id=f"task-unified-{int(created_at)}-{number:08d}", owner="o", model="m",
                request_text='{"callback_url": "http://127.0.0.1:9/hook"}', created_at=created_at,
                queue_seconds=1, run_seconds=2, outcome="completed", fail_fraction=0.5, credits=1,
                media_base="http://m")


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer | None]:
    if skip_reason() is not None:
        yield None
        return
    server = PostgresServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path,
             postgres: PostgresServer | None) -> str | None:
    if request.param == "memory":
        return None
    if request.param == "sqlite":
        return str(tmp_path / "state.sqlite")
    if postgres is None:
        pytest.skip(skip_reason() or "")
    return postgres.new_database()


async def exercise(location: str | None) -> dict[str, Any]:
    store = open_store(location)
    await store.open()
    try:
        for number in range(3):
            await store.put(task(number, 1000.0 + number * 100))
        first = await store.get("task-unified-1000-00000000")
        assert first is not None
        first.cancelled_at = 1001.5
        await store.put(first)   # a replace, not a second task
        await store.put_value("clock", {"offset": 3})
        await store.put_value("idempotency:k", {"at": 1000}, at=1000.0)
        delivery = Delivery.new(first.id, "http://127.0.0.1:9/hook", {"id": first.id}, 1001.5)
        await store.put_delivery(delivery)
        seen = {
            "count": await store.count(),
            "ids": [t.id for t in await store.tasks(limit=2, offset=1)],
            "cancelled": (await store.get(first.id)).cancelled_at,
            "missing": await store.get("task-unified-0-nothere0"),
            # A client can ask for any id: one with a NUL character (which PostgreSQL's text
            # cannot hold) is just not there, not an error.
            "nul": (await store.get("task-unified-a\x00b"), await store.get_delivery("dlv-\x00"),
                    await store.deliveries(task_id="task-unified-a\x00b")),
            "value": await store.get_value("clock"),
            "default": await store.get_value("nothing", 7),
            "delivery": (await store.get_delivery(delivery.id)).task_id,
            "deliveries": [d.id for d in await store.deliveries(task_id=first.id)] == [delivery.id],
            "pruned": await store.prune(1150.0),   # the first two tasks, the stamped value
        }
        seen["after_prune"] = ([t.id for t in await store.tasks()], await store.get_value("idempotency:k"),
                               await store.get_value("clock"), await store.deliveries())
        await store.clear()
        seen["after_clear"] = await store.count()
        return seen
    finally:
        await store.close()


def test_every_store_keeps_and_forgets_alike(location: str | None) -> None:
    seen = asyncio.run(exercise(location))
    assert seen == {
        "count": 3, "ids": ["task-unified-1100-00000001", "task-unified-1200-00000002"],
        "cancelled": 1001.5, "missing": None, "nul": (None, None, []), "value": {"offset": 3}, "default": 7,
        "delivery": "task-unified-1000-00000000", "deliveries": True, "pruned": 2,
        "after_prune": (["task-unified-1200-00000002"], None, {"offset": 3}, []),
        "after_clear": 0,
    }


def test_local_stores_complete_without_waiting(tmp_path: Path) -> None:
    for store in (MemoryStore(), open_store(str(tmp_path / "state.sqlite"))):
        resolved(store.put(task(1, 1000.0)))
        assert resolved(store.count()) == 1
        resolved(store.close())


def test_resolved_refuses_a_coroutine_that_waits() -> None:
    async def networked() -> int:
        await asyncio.sleep(0)
        return 1

    with pytest.raises(RuntimeError, match="networked store"):
        resolved(networked())
