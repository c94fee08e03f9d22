"""The storage interface. A backend keeps tasks, callback deliveries and a few named JSON values.

Every method that may do I/O is a coroutine, so a networked store (PostgreSQL) never blocks
the event loop. The memory and SQLite stores do their work without ever suspending: their
coroutines complete on the first step, which is what :func:`resolved` relies on to use them
from synchronous code (start-up, the CLI, tests and embedding programs).
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

from ..callbacks.delivery import Delivery
from ..domain.task import Task

T = TypeVar("T")


class StoreUnavailable(Exception):
    """A networked store cannot be reached now (PostgreSQL down or restarting): the request
    gets a 503 in the vendor's envelope, and the next one tries again."""


class Store(Protocol):
    local: bool
    """True when no method ever waits (memory, SQLite): :func:`resolved` may drive them."""

    async def open(self) -> None:
        """Connect (networked stores); the others are ready when built."""

    async def put(self, task: Task) -> None:
        """Insert or replace a task."""

    async def get(self, task_id: str) -> Task | None: ...

    async def tasks(self, *, limit: int | None = None, offset: int = 0) -> list[Task]:
        """Tasks, oldest first."""

    async def count(self) -> int: ...

    async def put_value(self, key: str, value: Any, at: float | None = None) -> None:
        """Keep a JSON-serialisable value (clock, rules, balances, idempotency records);
        ``at``: the mock time it belongs to, after which ``--retention`` forgets it."""

    async def get_value(self, key: str, default: Any = None) -> Any: ...

    async def put_delivery(self, delivery: Delivery) -> None:
        """Insert or replace a callback delivery (with its attempts so far)."""

    async def get_delivery(self, delivery_id: str) -> Delivery | None: ...

    async def deliveries(self, *, task_id: str | None = None) -> list[Delivery]:
        """Deliveries, oldest first, optionally only those of one task."""

    async def prune(self, before: float) -> int:
        """Forget tasks created, deliveries made and values stamped before mock time ``before``
        (``--retention``); the number of tasks forgotten."""

    async def clear(self) -> None: ...

    async def close(self) -> None: ...


class SharedStore(Store, Protocol):
    """What several processes sharing one store need on top (``serve --workers N`` on SQLite,
    replicas on PostgreSQL)."""

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """One write transaction across processes; nested uses join the outer one."""

    async def counter(self, key: str) -> int:
        """A counter that ``clear`` keeps (so it never repeats a value)."""

    async def bump(self, key: str) -> int: ...

    async def append_journal(self, records: list[dict[str, Any]], keep: int, resets: int) -> None: ...

    async def journal(self, since: int) -> list[tuple[int, dict[str, Any]]]: ...


def page(items: Iterable[Task], limit: int | None, offset: int) -> list[Task]:
    items = list(items)[offset:]
    return items if limit is None else items[:limit]


def resolved(awaitable: Awaitable[T]) -> T:
    """The result of a coroutine that completes without waiting (a local store's work).

    Lets synchronous code (start-up, the CLI, tests) use the async interface of the memory
    and SQLite stores, on any thread and inside or outside an event loop. A coroutine that
    does wait (a networked store) is refused rather than blocked on."""
    coroutine: Coroutine[Any, Any, T] = awaitable  # type: ignore[assignment]
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("this needs a networked store's I/O: await it on the server's loop")
