"""The service's state: configuration read from the spec, the clock, and the values shared
with other workers (``serve --workers N``) and replicas (``--state postgresql://...``).

Every other part of the service (``tasks``, ``account``, ``scripting``, ``admin``) builds
on :class:`ServiceState`; what changes shared values goes through ``_changing`` so the
other processes take it up.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from ..callbacks.host import Dispatcher, Listeners
from ..callbacks.policy import CallbackPolicy
from ..callbacks.urls import parse_allowed_host
from ..domain.clock import Clock
from ..domain.ids import IdFactory
from ..domain.scenarios import Rule, rule_from_dict
from ..domain.task import Task
from ..journal import RequestJournal, SharedJournal
from ..models import behaviours, spec_models
from ..settings import Settings
from ..spec import error_codes, failure_codes, operations
from ..store import (
    GENERATION,
    RESETS,
    SharedStore,
    Store,
    StoreUnavailable,
    is_postgresql,
    open_store,
    resolved,
)

CLOCK_KEY = "clock"
RULES_KEY = "rules"
IDEMPOTENCY_WINDOW_SECONDS = 86400   # the vendor client's 24 h, for a spec that does not say
TaskListener = Callable[[Task], None]
TASKS_READ_KEPT = 10_000


class ServiceState:
    """See :class:`mock_server.service.MockService`."""

    callbacks: Dispatcher   # given by the app (mock_server.app), which runs it

    def __init__(self, settings: Settings, spec: dict[str, Any], store: Store | None = None,
                 worker: int = 0) -> None:
        self.settings = settings
        self.replicated = is_postgresql(settings.state)
        self.shared = settings.workers > 1 or self.replicated
        self.store = store if store is not None else open_store(settings.state, shared=self.shared)
        self.worker = worker
        self._generation = self._resets = -1
        self._tasks_read: dict[str, Task] = {}   # worker mode: see _task
        self._reloading = asyncio.Lock()
        self.clock = Clock.start(None if settings.manual_clock else settings.speed)
        self.opened = False
        self._pruned_before = float("-inf")   # --retention: where the last pass cut
        self.ids = IdFactory(self._id_seed())
        self.error_codes = error_codes(spec)
        # Each model's behaviour comes from its x-mock block (SpecError if one is wrong).
        self.behaviours = behaviours(spec)
        self.request_schemas = {model.name: model.schema for model in spec_models(spec)}
        self.models = list(self.behaviours)
        # How long an Idempotency-Key is remembered, in mock seconds: the spec's, else 24 h.
        idempotency = spec.get("components", {}).get("parameters", {}).get("IdempotencyKey", {})
        self.idempotency_window = float(idempotency.get("x-idempotency-window-seconds",
                                                        IDEMPOTENCY_WINDOW_SECONDS))
        self.failure_codes = failure_codes(spec)
        self.documented_statuses = {
            (op["operationId"], int(status)) for _path, _method, op in operations(spec)
            for status in op.get("responses", {}) if status.isdigit()}
        self.rules: list[Rule] = []
        self._scenario_rules: list[tuple[str, dict[str, Any]]] = []
        self._rule_ids = itertools.count(1)
        # Who wants to hear about task changes (callback dispatcher) and clock moves.
        self.task_listeners: list[TaskListener] = []
        self.clock_listeners: list[Callable[[], None]] = []
        self.reset_listeners: list[Callable[[], None]] = []
        self.journal: RequestJournal | SharedJournal = (
            SharedJournal(self.now, self.shared_store) if self.shared else RequestJournal(self.now))
        self.callback_policy = CallbackPolicy(
            allowed_hosts=tuple(parse_allowed_host(h) for h in settings.allow_callback_hosts))
        if self.store.local:
            resolved(self.open())

    @property
    def shared_store(self) -> SharedStore:
        """The store, for the code that runs only when ``self.shared``: open_store gave a
        SQLite or PostgreSQL store then, both of which are SharedStores."""
        return cast(SharedStore, self.store)

    @property
    def store_kind(self) -> str:
        return ("postgresql" if self.replicated else "memory" if self.settings.state is None
                else "sqlite")

    async def open(self) -> None:
        """Connect the store and take up what it holds: the clock, rules, counters."""
        if self.opened:
            return
        await self.store.open()
        self.clock = await self._restore_clock()
        self.rules = await self._stored_rules()
        self._rule_ids = itertools.count(len(self.rules) + 1)
        if self.shared:
            self._generation, self._resets = (await self.shared_store.counter(GENERATION),
                                              await self.shared_store.counter(RESETS))
            await self.journal.open()
        self.opened = True

    def _id_seed(self) -> int | str | None:
        # Each worker draws its own ids: two generators seeded alike would collide. Replicas
        # may run on several hosts with the same index, so theirs also name host and process.
        seed = self.settings.seed
        if not self.shared or seed is None:
            return seed
        return f"{seed}:{socket.gethostname()}:{os.getpid()}" if self.replicated else f"{seed}:{self.worker}"

    # --- clock --------------------------------------------------------------------------

    async def _restore_clock(self) -> Clock:
        speed = None if self.settings.manual_clock else self.settings.speed
        async with self._exclusive():   # workers starting together must agree on one clock
            saved = await self.store.get_value(CLOCK_KEY)
            if saved is not None and (saved["speed"] is None) == (speed is None):
                return Clock(origin=saved["origin"], speed=speed, offset=saved["offset"])
            clock = Clock.start(speed)
            await self._save_clock(clock)
            return clock

    async def _save_clock(self, clock: Clock) -> None:
        await self.store.put_value(CLOCK_KEY, {"origin": clock.origin, "speed": clock.speed,
                                               "offset": clock.offset})

    def now(self) -> float:
        return self.clock.now()

    async def advance(self, seconds: float) -> float:
        async with self._changing():
            now = self.clock.advance(seconds)
            await self._save_clock(self.clock)
        self._clock_moved()
        await self.prune()
        return now

    async def prune(self) -> int:
        """Forget what is older than ``--retention`` hours of mock time; tasks forgotten.

        A pruned task answers 404, as an unknown one does."""
        keep = self.settings.retention_seconds
        if keep is None:
            return 0
        before = self.now() - keep
        # A pass scans the stores' tables (SQLite and PostgreSQL by an index or a JSON field):
        # at most one per hundredth of the retention (29 mock minutes of the default 48 h).
        if before - self._pruned_before < keep / 100:
            return 0
        self._pruned_before = before
        removed = await self.store.prune(before)
        self.journal.prune(before)
        if removed:
            self._tasks_read.clear()
            await self._announce()   # other workers and replicas drop the tasks they keep
        return removed

    def _clock_moved(self) -> None:
        for listener in self.clock_listeners:
            listener()

    def clock_state(self) -> dict[str, Any]:
        return {"mode": "manual" if self.clock.manual else "scaled", "speed": self.clock.speed,
                "now": self.now()}

    @property
    def real_seconds_per_mock(self) -> float:
        return self.clock.real_seconds(1.0)

    # --- shared state (serve --workers N) ---------------------------------------------------

    async def sync(self) -> bool:
        """Take up what other workers changed since this one last looked; True if anything.

        One read of a counter when nothing changed, so every request can afford it."""
        if not self.shared or await self.shared_store.counter(GENERATION) == self._generation:
            return False
        await self._reload_shared()
        return True

    async def heard(self, payload: str | None) -> None:
        """A notification through the PostgreSQL store's LISTEN (``None``: the listening
        connection was lost and is back, so anything may have changed unseen)."""
        key, _, value = (payload or "").partition(":")
        if key == GENERATION and value.isdigit() and int(value) == self._generation:
            return   # this replica's own change, taken up already
        if payload is None or key == GENERATION:
            # A store that is down is tried again by the next request or notification.
            with contextlib.suppress(StoreUnavailable):
                await self.sync()   # clock moves and resets reach the listeners from here
        heard = getattr(self.callbacks, "heard", None)
        if heard is not None:       # new callback work (due when?), a cancel, a clock move
            heard(float(value) if key == "callbacks" else None)

    def subscribe(self, listeners: Listeners) -> Callable[[], None]:
        """Call ``listeners`` on task changes, clock moves and resets; returns the way to
        stop (the app subscribes its callback dispatcher while the server runs)."""
        pairs: list[tuple[list[Any], Callable[..., None] | None]] = [
            (self.task_listeners, listeners.task), (self.clock_listeners, listeners.clock),
            (self.reset_listeners, listeners.reset)]
        wanted = [(kept, listener) for kept, listener in pairs if listener is not None]
        for kept, listener in wanted:
            kept.append(listener)

        def unsubscribe() -> None:
            for kept, listener in wanted:
                kept.remove(listener)

        return unsubscribe

    async def _reload_shared(self) -> None:
        """Read the shared values again. One reload at a time, and the generation is noted
        last: a request that finds it current (``sync``) finds the rest taken up too, even
        while another reload (a notification's) is waiting on the network."""
        async with self._reloading:
            generation = await self.shared_store.counter(GENERATION)
            self._tasks_read.clear()
            resets = await self.shared_store.counter(RESETS)
            saved = await self.store.get_value(CLOCK_KEY)
            rules = await self._stored_rules()
            self._generation = generation
        moved = saved is not None and (saved["origin"], saved["offset"]) != (self.clock.origin,
                                                                              self.clock.offset)
        if moved:
            self.clock = Clock(origin=saved["origin"], speed=self.clock.speed, offset=saved["offset"])
        self.rules = rules
        if resets != self._resets:
            self._resets = resets
            await self.journal.clear()
            for listener in self.reset_listeners:
                listener()
        if moved:
            self._clock_moved()

    async def _task(self, task_id: str) -> Task | None:
        """A stored task. Workers keep the tasks they read: a task changes only by a cancel or
        a reset, and both bump the counter that empties this cache (``_reload_shared``), so
        clients polling one task cost no read of the file."""
        if not self.shared:
            return await self.store.get(task_id)
        task = self._tasks_read.get(task_id)
        if task is None:
            generation = self._generation
            task = await self.store.get(task_id)
            # Kept only if nothing was taken up meanwhile: it may be from before a cancel.
            if task is not None and generation == self._generation:
                if len(self._tasks_read) >= TASKS_READ_KEPT:
                    self._tasks_read.clear()
                self._tasks_read[task_id] = task
        return task

    async def _stored_rules(self) -> list[Rule]:
        return [rule_from_dict(data, data["id"], self.failure_codes, self.settings.seed)
                for data in await self.store.get_value(RULES_KEY, [])]

    def _exclusive(self) -> contextlib.AbstractAsyncContextManager[None]:
        """A write transaction across workers; nothing to serialise in one process."""
        return self.shared_store.transaction() if self.shared else contextlib.nullcontext()

    @contextlib.asynccontextmanager
    async def _changing(self, announce: bool = True) -> AsyncIterator[None]:
        """A change to shared values: made on the latest values, then (unless the caller
        announces only what it actually changed) announced to the others."""
        if not self.shared:
            yield
            return
        async with self.shared_store.transaction():
            await self._reload_shared()
            yield
            if announce:
                await self._announce()

    async def _announce(self) -> None:
        if self.shared:
            self._generation = await self.shared_store.bump(GENERATION)

