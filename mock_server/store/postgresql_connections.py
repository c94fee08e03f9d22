"""Connections to PostgreSQL for the store: a pool, transactions across replicas, and the
notification listener. What the tables hold is :mod:`mock_server.store.postgresql`."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from .base import StoreUnavailable

logger = logging.getLogger("evolink_mock.postgresql")

CHANNEL = "evolink_mock"
# pg_advisory_xact_lock keys: an arbitrary constant of ours, one for writes, one for the schema.
WRITE_LOCK, SCHEMA_LOCK = 0x45766F4C, 0x45766F53
POOL_SIZE = (2, 8)           # connections per replica: the event loop runs one query at a time
                             # per request, and 8 cover the bursts we measured (bench rows)
CONNECTION_WAIT = 3.0        # seconds a request waits for a pooled connection before a 503
RECONNECT_PAUSE = 0.5        # seconds between attempts of the listener to reconnect


def unreachable(url: str) -> str | None:
    """Why ``url`` cannot serve as the store (a bad URL, no server, refused), or None.

    Synchronous: for the command line, before any event loop runs."""
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except (psycopg.Error, psycopg.ProgrammingError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"--state: cannot use PostgreSQL at {url.split('@')[-1]}: {first}"
    return None


class _Transaction:
    """The connection of the transaction a coroutine is in (``None`` once it ended, so tasks
    started inside it and outliving it do not use a returned connection)."""

    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self.conn: psycopg.AsyncConnection | None = conn
        self.depth = 1


_current: contextvars.ContextVar[_Transaction | None] = contextvars.ContextVar(
    "evolink_mock_pg_transaction", default=None)


class Connections:
    """The connections of one replica's store, opened by ``connect`` on the server's loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: AsyncConnectionPool | None = None

    # --- connections -----------------------------------------------------------------------

    async def connect(self, schema: str) -> None:
        """Open the pool and run ``schema`` (once at a time, whichever replica comes first)."""
        self._pool = AsyncConnectionPool(
            self.url, min_size=POOL_SIZE[0], max_size=POOL_SIZE[1], open=False,
            timeout=CONNECTION_WAIT, kwargs={"autocommit": True},
            # Keep trying while PostgreSQL is down, however long: replicas recover by themselves.
            reconnect_timeout=365 * 24 * 3600.0, name="evolink-mock")
        try:
            await self._pool.open(wait=True, timeout=10.0)
        except psycopg.OperationalError as exc:
            await self._pool.close()
            raise StoreUnavailable(f"cannot reach PostgreSQL at {self.describe()}: {exc}") from None
        async with self._connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            await conn.execute(schema)

    def describe(self) -> str:
        """The URL without a password, for messages."""
        info = psycopg.conninfo.conninfo_to_dict(self.url)
        info.pop("password", None)
        return " ".join(f"{key}={value}" for key, value in info.items())

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """The current transaction's connection, or one from the pool (autocommit)."""
        current = _current.get()
        if current is not None and current.conn is not None:
            yield current.conn
            return
        if self._pool is None:
            raise StoreUnavailable("the PostgreSQL store is not open")
        try:
            async with self._pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StoreUnavailable(str(exc).strip() or type(exc).__name__) from None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One write transaction across replicas; nested uses join the outer one."""
        current = _current.get()
        if current is not None and current.conn is not None:
            current.depth += 1
            try:
                yield
            finally:
                current.depth -= 1
            return
        async with self._connection() as conn:
            try:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                    transaction = _Transaction(conn)
                    token = _current.set(transaction)
                    try:
                        yield
                    finally:
                        transaction.conn = None
                        _current.reset(token)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                raise StoreUnavailable(str(exc).strip() or type(exc).__name__) from None

    async def _fetchone(self, query: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        async with self._connection() as conn:
            cursor = await conn.execute(query, params)
            return await cursor.fetchone()

    async def _fetchall(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        async with self._connection() as conn:
            cursor = await conn.execute(query, params)
            return await cursor.fetchall()

    async def _execute(self, query: str, params: tuple[Any, ...] = ()) -> int:
        async with self._connection() as conn:
            cursor = await conn.execute(query, params)
            return cursor.rowcount

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    # --- notifications ------------------------------------------------------------------------

    async def listen(self, heard: Callable[[str | None], Awaitable[None]]) -> None:
        """Call ``heard(payload)`` for every notification on our channel, until cancelled.

        On its own connection (a pooled one goes back to the pool between queries). When the
        connection drops, ``heard(None)`` once it is back: something may have changed unseen."""
        lost = False
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    if lost:
                        lost = False
                        await heard(None)
                    async for notification in conn.notifies():
                        await heard(notification.payload)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if not lost:
                    logger.warning("lost the PostgreSQL notification connection: %s", exc)
                lost = True
                await asyncio.sleep(RECONNECT_PAUSE)

