"""Callback deliveries on the mock clock.

When a task turns terminal is known the moment it is created (or cancelled), so nothing
polls: due times go on a heap, and one scheduler coroutine sleeps until the earliest
(scaled clock: that many mock seconds in real time; manual clock: until the clock moves).
Each attempt is a sender Flight on the server's loop, called back by its connection (no
task of its own), so deliveries run concurrently and never hold up the API. Deliveries are
written to the store before their attempts are sent, so with ``--state`` a restart resumes
them: at least once, never lost. The store is a local one (memory or SQLite: replicas on
PostgreSQL use claims.py), whose writes complete without waiting, so an answered attempt is
stored from the connection's callback.

Under ``serve --workers N`` only worker 0 sends. It learns of the other workers' tasks,
replays, cancellations, clock moves and resets by polling the shared state file every
``POLL_SECONDS``; the other workers only write (a replay is stored as a pending delivery).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
from contextlib import suppress
from typing import TYPE_CHECKING, cast

from ..domain import lifecycle
from ..domain.delivery import PENDING, Delivery
from ..domain.task import Task
from ..store.base import CANCELS, resolved
from .host import CallbackHost, Listeners
from .loop import LoopBound
from .sender import DEFAULT_TIMEOUT, Flight, Resolver, Sender

if TYPE_CHECKING:
    from ..store.sqlite import SQLiteStore

logger = logging.getLogger("evolink_mock.callbacks")
TASK, ATTEMPT = "task", "attempt"   # heap entry kinds: a task turning terminal, a (re)try
# Due entries handled before the scheduler yields to the attempts it started: in a burst of
# 1,000 the first callbacks go out after ~32 have been prepared, not after all 1,000.
FIRE_BATCH = 32
POLL_SECONDS = 0.05                 # worker mode: how often worker 0 looks for others' writes


class CallbackDispatcher(LoopBound):
    """Schedules and sends the callbacks of one service; runs between ``start`` and ``stop``.

    ``timeout`` (real seconds per attempt) and ``resolver`` are parameters so tests can
    shorten the one and stand in for DNS with the other.
    """

    def __init__(self, service: CallbackHost, *, timeout: float = DEFAULT_TIMEOUT,
                 resolver: Resolver | None = None) -> None:
        self.service = service
        self.timeout = timeout
        self.resolver = resolver
        self._heap: list[tuple[float, int, str, str]] = []   # (due, tie-break, kind, id)
        self._order = itertools.count()
        # Tasks awaiting their terminal time, with their callback URL (read once, when
        # watched: reading it decodes the stored request).
        self._watched: dict[str, tuple[float, str]] = {}
        self._pending: dict[str, Delivery] = {}  # deliveries with an attempt to come
        self._inflight: dict[str, Flight] = {}   # attempts on their way, by delivery id
        self._wake = asyncio.Event()
        self._quiet = asyncio.Event()            # set while no attempt is in flight
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._runner: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._sender: Sender | None = None
        self._positions = (0, 0)   # worker mode: the last task and delivery seen in the store
        self._cancels = 0
        self.attempts_sent = 0   # by this process (GET /_mock/health shows it)

    @property
    def sends_callbacks(self) -> bool:
        """Whether this process sends callbacks: always, except on workers other than 0."""
        return not self.service.shared or self.service.worker == 0

    # --- lifetime ------------------------------------------------------------------------

    async def start(self) -> None:
        """Reload pending deliveries and watch tasks that have not had one yet."""
        self._loop, self._thread = asyncio.get_running_loop(), threading.get_ident()
        if not self.sends_callbacks:
            return
        # Fresh primitives: asyncio's belong to the first loop that waits on them.
        self._wake, self._quiet = asyncio.Event(), asyncio.Event()
        self._quiet.set()
        self._sender = Sender(self.service.callback_policy, ca_file=self.service.settings.callback_ca,
                              timeout=self.timeout, resolver=self.resolver)
        self._forget()
        store = self.service.store
        if self.service.shared:
            # Up to these positions now, after them the poll: a task stored in between must
            # be planned once, not by both.
            state_file = self._state_file
            self._positions = await state_file.last_positions()
            self._cancels = await state_file.counter(CANCELS)
            _, tasks = await state_file.tasks_with_callbacks(0, upto=self._positions[0])
        else:
            tasks = await store.tasks()
        deliveries = await store.deliveries()
        for delivery in deliveries:
            if delivery.state == PENDING:
                self._schedule(delivery)
        delivered = {d.task_id for d in deliveries if d.replay_of is None}
        for task in tasks:
            if task.id not in delivered:
                self._watch(task)
        self._runner = asyncio.create_task(self._run(), name="callback-scheduler")
        if self.service.shared:
            self._poller = asyncio.create_task(self._poll(), name="callback-poller")

    @property
    def _state_file(self) -> SQLiteStore:
        """Worker mode (``serve --workers N``) shares a SQLite state file; replicas on
        PostgreSQL use the ClaimingDispatcher instead."""
        return cast("SQLiteStore", self.service.store)

    @property
    def listeners(self) -> Listeners:
        """Nothing on workers that do not send. In worker mode new tasks come from the poll,
        own ones included: hearing of them twice would plan them twice."""
        if not self.sends_callbacks:
            return Listeners()
        return Listeners(task=None if self.service.shared else self._on_task,
                         clock=self._on_clock, reset=self._on_reset)

    async def stop(self) -> None:
        """Stop sending; attempts cut short stay pending in the store and resume on restart."""
        if not self.sends_callbacks:
            self._loop = None
            return
        self._abandon_inflight()
        tasks = [t for t in (self._runner, self._poller) if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._sender is not None:
            await self._sender.aclose()
        self._loop = self._runner = self._poller = self._sender = None

    async def _idle(self) -> None:
        while self._wake.is_set() or self._inflight:
            if self._inflight:
                await self._quiet.wait()
            else:
                await asyncio.sleep(0)

    # --- listeners (called by the service, from any thread) -------------------------------

    def _on_task(self, task: Task) -> None:
        self._on_loop(self._watch, task)

    def _on_clock(self) -> None:
        self._on_loop(self._wake.set)

    def _on_reset(self) -> None:
        self._on_loop(self._forget)


    # --- scheduling ----------------------------------------------------------------------

    async def replay(self, original: Delivery) -> Delivery:
        """A new delivery of the same payload to the same URL, first attempt due now."""
        delivery = Delivery.new(original.task_id, original.url, original.payload,
                                self.service.now(), replay_of=original.id)
        if self.sends_callbacks:
            self._begin(delivery)
        else:
            await self.service.store.put_delivery(delivery)   # worker 0's poll picks it up
        return delivery

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self._plan_others_writes()
            except Exception:   # a locked or briefly unreadable file must not end the polling
                logger.exception("reading the other workers' changes failed")

    async def _plan_others_writes(self) -> None:
        """Worker mode: plan what other workers stored since the last look."""
        store = self._state_file
        await self.service.sync()   # clock moves and resets reach the listeners above
        task_seq, delivery_seq = self._positions
        task_seq, tasks = await store.tasks_with_callbacks(task_seq)
        for task in tasks:
            self._watch(task)
        for seq, delivery in await store.deliveries_after(delivery_seq):
            delivery_seq = seq
            if delivery.state == PENDING and delivery.id not in self._pending:
                self._schedule(delivery)
        self._positions = (task_seq, delivery_seq)
        cancels = await store.counter(CANCELS)
        if cancels != self._cancels:   # re-plan the tasks still waiting for their end
            self._cancels = cancels
            for task_id, (due, _url) in list(self._watched.items()):
                stored = await store.get(task_id)
                if stored is not None and lifecycle.terminal_time(stored) != due:
                    self._watch(stored)

    def _watch(self, task: Task) -> None:
        url = task.callback_url
        if url is None:
            return
        due = lifecycle.terminal_time(task)
        self._watched[task.id] = (due, url)   # a cancellation replaces the planned end
        self._push(due, TASK, task.id)

    def _forget(self) -> None:
        """Drop everything scheduled or in flight (reset; start reloads from the store)."""
        self._heap.clear()
        self._watched.clear()
        self._pending.clear()
        self._abandon_inflight()
        self._wake.set()

    def _abandon_inflight(self) -> None:
        """Attempts cut short are never recorded: they stay pending in the store (a stop) or
        are gone with it (a reset)."""
        for flight in self._inflight.values():
            flight.abandon()
        self._inflight.clear()
        self._quiet.set()

    def _push(self, due: float, kind: str, key: str) -> None:
        heapq.heappush(self._heap, (due, next(self._order), kind, key))
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            now = self.service.now()
            fired = 0
            while self._heap and self._heap[0][0] <= now:
                due, _, kind, key = heapq.heappop(self._heap)
                try:
                    self._fire(due, kind, key)
                except Exception:   # one broken entry (say, a full disk) must not stop the rest
                    logger.exception("callback %s for %s could not be started", kind, key)
                fired += 1
                if fired % FIRE_BATCH == 0:   # let the attempts started so far go out
                    await asyncio.sleep(0)
            delay = None
            if self._heap and not self.service.clock.manual:
                delay = (self._heap[0][0] - now) * self.service.real_seconds_per_mock
            with suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    def _fire(self, due: float, kind: str, key: str) -> None:
        if kind == ATTEMPT:
            if key in self._pending:
                self._spawn(self._pending[key])
            return
        watched = self._watched.get(key)
        if watched is None or watched[0] != due:   # superseded by a cancellation, or reset
            return
        del self._watched[key]
        url = watched[1]
        task = resolved(self.service.store.get(key))
        if task is not None:
            document = lifecycle.document(task, due, real_seconds_per_mock=self.service.real_seconds_per_mock)
            self._begin(Delivery.new(task.id, url, document, due))

    def _begin(self, delivery: Delivery) -> None:
        """Store first (a crash from here on resends rather than loses), then schedule."""
        resolved(self.service.store.put_delivery(delivery))
        self._schedule(delivery)

    def _schedule(self, delivery: Delivery) -> None:
        assert delivery.next_due_at is not None, "a pending delivery has a next attempt"
        self._pending[delivery.id] = delivery
        if delivery.next_due_at <= self.service.now():
            # Due already (a first attempt, a replay): sent now rather than through the heap,
            # where it would queue behind every other task of the burst still to prepare (the
            # first of 1,000 callbacks went out after all 1,000 were prepared, ~250 ms).
            self._spawn(delivery)
        else:
            self._push(delivery.next_due_at, ATTEMPT, delivery.id)

    def _spawn(self, delivery: Delivery) -> None:
        assert self._sender is not None
        flight = self._sender.start_attempt(delivery, self.service.now, self._attempted)
        if not flight.settled:   # else answered already (a refused address): nothing in flight
            self._inflight[delivery.id] = flight
            self._quiet.clear()

    def _attempted(self, flight: Flight) -> None:
        """An attempt has its outcome, recorded on the delivery: store it, then retry or end."""
        delivery = flight.delivery
        assert delivery is not None
        self._inflight.pop(delivery.id, None)
        if not self._inflight:
            self._quiet.set()
        self.attempts_sent += 1
        try:
            resolved(self.service.store.put_delivery(delivery))
        except Exception:   # a full disk, say: the delivery stays pending in the store
            logger.exception("storing callback attempt %s of %s failed", len(delivery.attempts), delivery.id)
            return
        if delivery.state == PENDING:
            self._schedule(delivery)
        else:
            del self._pending[delivery.id]
