"""Callback deliveries from any replica (``--state postgresql://...``).

Every replica runs this loop; the work is in PostgreSQL, not in a replica's memory:

1. a task with a callback carries ``callback_due`` (when it turns terminal); once the mock
   clock reaches it, one replica claims the task row (``FOR UPDATE SKIP LOCKED``), stores its
   delivery leased to itself and sends the first attempt;
2. a retry or a replay is a delivery row with ``next_due_at``; a replica leases it for
   ``--callback-lease`` seconds, sends, and stores the outcome (which frees the row);
3. a replica that dies mid-attempt leaves its lease behind; when it runs out, another replica
   claims the attempt and sends it (at least once: a crash after the POST but before the write
   sends it twice; with every replica healthy, each attempt is sent once).

Replicas sleep until the earliest due time (scaled clock) or the earliest lease to run out,
and wake on ``NOTIFY``: new callback work, a clock move, a cancel or a reset on any replica.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from contextlib import suppress
from typing import cast

from ..domain import lifecycle
from ..domain.delivery import PENDING, Delivery
from ..domain.task import Task
from ..store.base import StoreUnavailable
from ..store.postgresql import PostgreSQLStore, callback_due
from .host import CallbackHost, Listeners
from .loop import LoopBound
from .sender import DEFAULT_TIMEOUT, Resolver, Sender

logger = logging.getLogger("evolink_mock.callbacks")
MAX_CONCURRENT = 100     # attempts a replica holds claimed at once (the sender puts as many on
                         # the wire); more due work waits for the next claim, by any replica
OUTAGE_PAUSE = 1.0       # real seconds between claims while PostgreSQL is unreachable


class ClaimingDispatcher(LoopBound):
    """The callback sender of a replica; same lifetime and test hooks as CallbackDispatcher."""

    def __init__(self, service: CallbackHost, *, timeout: float = DEFAULT_TIMEOUT,
                 resolver: Resolver | None = None) -> None:
        self.service = service
        self.timeout = timeout
        self.resolver = resolver
        self._inflight: dict[str, asyncio.Task[None]] = {}   # by delivery id
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._runner: asyncio.Task[None] | None = None
        self._sender: Sender | None = None
        self.attempts_sent = 0   # by this replica (GET /_mock/health shows it)
        self._saturated = False  # the last claim left due work behind for want of a free slot
        self._next_due = math.inf  # mock time of the earliest work the loop knows of

    @property
    def store(self) -> PostgreSQLStore:
        return cast(PostgreSQLStore, self.service.store)

    @property
    def lease(self) -> float:
        return self.service.settings.callback_lease

    # --- lifetime ------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop, self._thread = asyncio.get_running_loop(), threading.get_ident()
        self._wake = asyncio.Event()
        self._sender = Sender(self.service.callback_policy, ca_file=self.service.settings.callback_ca,
                              timeout=self.timeout, resolver=self.resolver)
        self._runner = asyncio.create_task(self._run(), name="callback-claims")

    @property
    def listeners(self) -> Listeners:
        return Listeners(task=self._on_task, clock=self._on_change, reset=self._on_reset)

    async def stop(self) -> None:
        """Stop sending; attempts cut short keep their lease and are retried when it runs out."""
        if self._loop is None:
            return
        tasks = [*self._inflight.values(), *(t for t in (self._runner,) if t)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._sender is not None:
            await self._sender.aclose()
        self._loop = self._runner = self._sender = None

    async def _idle(self) -> None:
        while self._wake.is_set() or self._inflight:
            if self._inflight:
                await asyncio.wait(set(self._inflight.values()))
            else:
                await asyncio.sleep(0)

    # --- what wakes the loop --------------------------------------------------------------

    def heard(self, due: float | None = None) -> None:
        """A notification (from the store's listener, on the loop): new callback work due at
        mock time ``due``, or a change that may move any due time (``None``). Work due later
        than what the loop already waits for wakes nobody: a burst of creates costs no claims."""
        if due is None or due < self._next_due or due <= self.service.now():
            self._wake.set()

    def _on_change(self) -> None:
        self._on_loop(self._wake.set)

    def _on_task(self, task: Task) -> None:
        """A task created or cancelled here (others' come by NOTIFY)."""
        due = callback_due(task)
        if due is not None:
            self._on_loop(self.heard, due)

    def _on_reset(self) -> None:
        self._on_loop(self._forget)

    def _forget(self) -> None:
        for task in self._inflight.values():
            task.cancel()
        self._wake.set()


    # --- replays ----------------------------------------------------------------------------

    async def replay(self, original: Delivery) -> Delivery:
        """A new delivery of the same payload to the same URL, first attempt due now; stored
        unclaimed, so whichever replica claims first sends it."""
        delivery = Delivery.new(original.task_id, original.url, original.payload,
                                self.service.now(), replay_of=original.id)
        await self.store.put_delivery(delivery)
        return delivery

    # --- the loop -----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                delay = await self._claim()
            except StoreUnavailable as exc:
                logger.warning("claiming callbacks: %s", exc)
                delay = OUTAGE_PAUSE
            except Exception:   # one broken row must not stop the sender
                logger.exception("claiming callbacks failed")
                delay = OUTAGE_PAUSE
            with suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _claim(self) -> float | None:
        """Claim and start what is due now; the real seconds until there may be more."""
        # While claiming, any notification wakes the loop again: work stored after the queries
        # below looked must not wait for the next wake.
        self._next_due = -math.inf
        now = self.service.now()
        self._saturated = len(self._inflight) >= MAX_CONCURRENT
        if not self._saturated:
            for delivery in await self.store.claim_due_tasks(now, self.lease, self._delivery_of):
                self._spawn(delivery)
            for delivery in await self.store.claim_due_attempts(now, self.lease):
                if delivery.id not in self._inflight:
                    self._spawn(delivery)
        due, lease_ends = await self.store.next_callback_work()
        self._next_due = math.inf if due is None else due
        delays = [lease_ends] if lease_ends is not None else []
        if due is not None:
            if due <= self.service.now():
                if len(self._inflight) < MAX_CONCURRENT:
                    delays.append(0.0)   # more than one batch was due
                else:
                    self._saturated = True   # a finishing attempt wakes the loop
            elif not self.service.clock.manual:
                delays.append((due - self.service.now()) * self.service.real_seconds_per_mock)
        return min(delays) if delays else None

    def _delivery_of(self, task: Task, due: float) -> Delivery:
        document = lifecycle.document(task, due, real_seconds_per_mock=self.service.real_seconds_per_mock)
        assert task.callback_url is not None, "only tasks with a callback URL are due"
        return Delivery.new(task.id, task.callback_url, document, due)

    def _spawn(self, delivery: Delivery) -> None:
        task = asyncio.create_task(self._attempt(delivery))
        self._inflight[delivery.id] = task
        task.add_done_callback(lambda done: self._finished(delivery.id, done))

    def _finished(self, delivery_id: str, task: asyncio.Task[None]) -> None:
        self._inflight.pop(delivery_id, None)
        if not task.cancelled() and task.exception() is not None:
            logger.error("callback attempt failed", exc_info=task.exception())
        if self._saturated:
            self._wake.set()   # a slot is free for work that was waiting for one
        # Otherwise nothing to do: a retry it stored is announced by NOTIFY like other work.

    async def _attempt(self, delivery: Delivery) -> None:
        assert self._sender is not None
        # The sender bounds the attempts on the wire; waiting for a turn is lag, not part of
        # the attempt's timeout.
        await self._sender.attempt(delivery, self.service.now)
        self.attempts_sent += 1
        # Stored with its lease released; a retry (state still pending) is claimed anew.
        for _ in range(3):
            try:
                await self.store.put_delivery(delivery)
                return
            except StoreUnavailable:
                if delivery.state != PENDING:
                    await asyncio.sleep(OUTAGE_PAUSE)   # the outcome is worth a few tries
                else:
                    raise
