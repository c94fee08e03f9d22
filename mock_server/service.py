"""The mock service: the domain wired to a clock and a store, with no HTTP in it.

Handlers call these methods; tests can too. Errors are raised as :class:`ApiError` so the
HTTP layer only has to render them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from .callbacks.dispatcher import CallbackDispatcher
from .callbacks.policy import CallbackPolicy, parse_allowed_host
from .domain import lifecycle
from .domain.clock import Clock
from .domain.defaults import apply_defaults
from .domain.ids import IdFactory, key_fingerprint
from .domain.scenarios import (
    RETRYABLE_FAULTS,
    Action,
    Rule,
    ScenarioError,
    apply_rules,
    parse_action,
    prompt_action,
    rule_from_dict,
)
from .domain.task import COMPLETED, Task
from .errors import ApiError, invalid_request
from .journal import RequestJournal, SharedJournal
from .models import ASPECT_RATIOS, behaviours, spec_models
from .settings import Settings
from .spec import error_codes, operations
from .store import (
    CANCELS,
    GENERATION,
    RESETS,
    RULE_NUMBERS,
    SharedStore,
    Store,
    StoreUnavailable,
    is_postgresql,
    open_store,
    resolved,
)

CLOCK_KEY = "clock"
RULES_KEY = "rules"
SCENARIO_HEADER = "X-Mock-Scenario"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Stored creates live among the store's named values (so --state and --workers share them).
IDEMPOTENCY_PREFIX = "idempotency:"
IDEMPOTENCY_WINDOW_SECONDS = 86400   # the vendor client's 24 h, for a spec that does not say
TaskListener = Callable[[Task], None]
TASKS_READ_KEPT = 10_000


class MockService:
    """``worker`` is this process's index under ``serve --workers N`` (``settings.workers``);
    then tasks, clock, rules, deliveries and the journal live in the shared state file.
    With ``--state postgresql://...`` they live in PostgreSQL, shared by any number of
    replicas (``replicated``).

    A local store (memory, SQLite) is opened here; a networked one by ``open`` on the
    server's event loop (the app's lifespan), before the first request."""

    def __init__(self, settings: Settings, spec: dict[str, Any], store: Store | None = None,
                 worker: int = 0) -> None:
        self.settings = settings
        self.replicated = is_postgresql(settings.state)
        self.shared = settings.workers > 1 or self.replicated
        self.store = store if store is not None else open_store(settings.state, shared=self.shared)
        self.worker = worker
        self._generation = self._resets = -1
        self._tasks_read: dict[str, Task] = {}   # worker mode: see _task
        self._taking_up = asyncio.Lock()
        self.clock = Clock.start(None if settings.manual_clock else settings.speed)
        self.opened = False
        self._pruned_before = float("-inf")   # --retention: where the last pass cut
        self.ids = IdFactory(self._id_seed())
        self.error_codes = error_codes(spec)
        schemas = spec["components"]["schemas"]
        # Each model's behaviour comes from its x-mock block (SpecError if one is wrong).
        self.behaviours = behaviours(spec)
        self.request_schemas = {model.name: model.schema for model in spec_models(spec)}
        self.models = list(self.behaviours)
        # How long an Idempotency-Key is remembered, in mock seconds: the spec's, else 24 h.
        idempotency = spec.get("components", {}).get("parameters", {}).get("IdempotencyKey", {})
        self.idempotency_window = float(idempotency.get("x-idempotency-window-seconds",
                                                        IDEMPOTENCY_WINDOW_SECONDS))
        self.failure_codes = tuple(schemas["TaskError"]["properties"]["code"]["enum"])
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
        # Sends callbacks while the server runs (started and stopped by the app's lifespan).
        # Replicas claim due callbacks from PostgreSQL, so any of them may send any callback.
        if self.replicated:
            from .callbacks.claims import ClaimingDispatcher

            self.callbacks: CallbackDispatcher | ClaimingDispatcher = ClaimingDispatcher(self)
        else:
            self.callbacks = CallbackDispatcher(self)
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
    def real_per_mock(self) -> float:
        return self.clock.real_seconds(1.0)

    # --- shared state (serve --workers N) ---------------------------------------------------

    async def sync(self) -> bool:
        """Take up what other workers changed since this one last looked; True if anything.

        One read of a counter when nothing changed, so every request can afford it."""
        if not self.shared or await self.shared_store.counter(GENERATION) == self._generation:
            return False
        await self._take_up()
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

    async def _take_up(self) -> None:
        """Read the shared values again. One take-up at a time, and the generation is noted
        last: a request that finds it current (``sync``) finds the rest taken up too, even
        while another take-up (a notification's) is waiting on the network."""
        async with self._taking_up:
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
        a reset, and both bump the counter that empties this cache (``_take_up``), so
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
            await self._take_up()
            yield
            if announce:
                await self._announce()

    async def _announce(self) -> None:
        if self.shared:
            self._generation = await self.shared_store.bump(GENERATION)

    # --- tasks --------------------------------------------------------------------------

    async def create_task(self, *, api_key: str, body: dict[str, Any], media_base: str,
                    action: Action = Action()) -> dict[str, Any]:
        """Store a new task for a validated request and answer its create document."""
        model = body["model"]
        fail, takes = action.fail, action.takes
        if "callback_url" in body:
            refusal = self.callback_policy.refusal_at_create(body["callback_url"])
            if refusal:
                raise invalid_request(refusal, "callback_url")
        request = apply_defaults(self.request_schemas[model], body)
        behaviour = self.behaviours[model]
        plan = behaviour.plan(request, ASPECT_RATIOS)
        now = self.now()
        queue, run = behaviour.split(takes if takes is not None else plan.total_seconds)
        outcome = fail or COMPLETED
        task = Task(
            id=self.ids.task_id(now),
            owner=sys.intern(key_fingerprint(api_key)),
            model=sys.intern(model),
            request_text=Task.encode_request(request),
            created_at=now,
            queue_seconds=queue,
            run_seconds=run,
            outcome=outcome,
            fail_fraction=lifecycle.FAIL_FRACTIONS.get(outcome, lifecycle.DEFAULT_FAIL_FRACTION),
            credits=plan.credits,
            media_base=sys.intern(media_base),
            billing_rule=behaviour.billing_rule,     # strings of the spec: shared by all tasks
            video_duration=plan.video_duration,
            estimate=behaviour.estimated_time,
            aspect_ratio=plan.aspect_ratio,
        )
        if self.settings.credits is None:
            await self.store.put(task)
        else:
            async with self._exclusive():   # the balance check and the write as one step
                await self._check_balance(task)
                await self.store.put(task)
        self._changed(task)
        return lifecycle.created_document(task, now, real_seconds_per_mock=self.real_per_mock)

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
            raise self.error("createVideoGeneration", 409,
                             f"This {IDEMPOTENCY_HEADER} was used for task {record['document']['id']} "
                             "with another request body; use a new key for a new request",
                             param=IDEMPOTENCY_HEADER)
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

    # --- account endpoints (models, credits, task list, batch) -------------------------------

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
            doc = lifecycle.document(task, now, real_seconds_per_mock=self.real_per_mock)
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

    async def owned_task(self, *, api_key: str, task_id: str) -> Task:
        task = await self._task(task_id)
        if task is None:
            raise self.error("getTask", 404, f"Task {task_id} not found", param="task_id")
        if task.owner != key_fingerprint(api_key):
            raise self.error("getTask", 403, "This task belongs to another API key",
                             param="task_id")
        return task

    def task_document(self, task: Task) -> dict[str, Any]:
        return lifecycle.document(task, self.now(), real_seconds_per_mock=self.real_per_mock)

    def error(self, operation_id: str, status: int, message: str, **kwargs: Any) -> ApiError:
        """An error with the code and type the spec documents for this operation and status."""
        code, type_ = self.error_codes.get((operation_id, status), ("", ""))
        return ApiError(status, message, code=code, type=type_, **kwargs)

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
            raise self.error("createVideoGeneration", 402,
                             f"Insufficient credits: this task needs {task.credits:g}, "
                             f"{max(left, 0):g} left")

    # --- scripted outcomes and faults ----------------------------------------------------

    async def scenario_for(self, operation_id: str, body: Any, header: str | None) -> Action:
        """The action for one request: magic prompt, then header, then admin rules."""
        action = Action()
        model = body.get("model") if isinstance(body, dict) else None
        prompt = body.get("prompt") if isinstance(body, dict) else None
        try:
            if isinstance(prompt, str):
                action = action.merged(prompt_action(prompt, self.failure_codes))
        except ScenarioError as exc:
            raise invalid_request(f"prompt scenario tag: {exc}", "prompt") from None
        try:
            if header:
                action = action.merged(parse_action(header, self.failure_codes))
        except ScenarioError as exc:
            raise invalid_request(f"{SCENARIO_HEADER}: {exc}", SCENARIO_HEADER) from None
        if self.rules:
            # Other workers count matches too; they hear of it only when a count moved.
            async with self._changing(announce=False):
                action = action.merged(await self._apply_rules(operation_id, model))
        return action

    async def _apply_rules(self, operation_id: str, model: str | None) -> Action:
        seen = sum(rule.matched for rule in self.rules)
        action = apply_rules(self.rules, operation_id, model)
        if sum(rule.matched for rule in self.rules) != seen:  # a store write only then
            # Used-up rules stay (marked exhausted) so their counters can still be read.
            await self._save_rules()
            await self._announce()
        return action

    def fault(self, operation_id: str, action: Action) -> ApiError | None:
        """The HTTP error an action asks for, if this operation documents that status."""
        if action.http is None or (operation_id, action.http) not in self.documented_statuses:
            return None
        headers = {}
        # 429 always says when to come back (1 s unless told); 502/503 only when scripted to.
        if action.http in RETRYABLE_FAULTS and (action.http == 429 or action.retry_after is not None):
            headers["Retry-After"] = str(action.retry_after if action.retry_after is not None else 1)
        return self.error(operation_id, action.http, f"Scripted fault: HTTP {action.http}",
                          headers=headers)

    async def add_rule(self, data: dict[str, Any]) -> Rule:
        async with self._changing():
            try:
                rule = rule_from_dict(data, f"rule-{await self._next_rule_number()}", self.failure_codes,
                                      self.settings.seed)
            except ScenarioError as exc:
                raise invalid_request(str(exc), "action") from None
            self.rules.append(rule)
            await self._save_rules()
        return rule

    async def _next_rule_number(self) -> int:
        if not self.shared:
            return next(self._rule_ids)
        taken = [int(rule.id.rsplit("-", 1)[-1]) for rule in self.rules
                 if rule.id.rsplit("-", 1)[-1].isdigit()]
        return max([await self.shared_store.bump(RULE_NUMBERS), *(n + 1 for n in taken)])

    async def load_scenario_rules(self, rules: list[tuple[str, dict[str, Any]]]) -> None:
        """Rules from --scenario files as (file, rule), unless the state already holds rules
        (a restart, or another worker that loaded them first)."""
        self._scenario_rules = rules   # a restarting reset loads them again
        async with self._changing():
            if self.rules:
                return
            for source, rule in rules:
                try:
                    await self.add_rule(rule)
                except ApiError as exc:
                    raise ScenarioError(f"{source}: {exc.message}") from None

    async def clear_rules(self) -> None:
        async with self._changing():
            self.rules = []
            await self._save_rules()

    async def _save_rules(self) -> None:
        await self.store.put_value(RULES_KEY, [rule.to_dict() for rule in self.rules])

    # --- admin operations ----------------------------------------------------------------

    async def find_task(self, task_id: str) -> Task:
        task = await self._task(task_id)
        if task is None:
            raise ApiError(404, f"Task {task_id} not found", code="task_not_found", param="task_id")
        return task

    async def cancel(self, task_id: str) -> Task:
        async with self._changing():
            task = await self.find_task(task_id)
            if lifecycle.snapshot(task, self.now()).terminal:
                raise ApiError(409, f"Task {task_id} has already finished", code="task_finished",
                               type="invalid_request_error", param="task_id")
            task.cancelled_at = self.now()
            await self.store.put(task)
            if self.shared:
                await self.shared_store.bump(CANCELS)
        self._changed(task)
        return task

    def detail(self, task: Task) -> dict[str, Any]:
        return {
            "id": task.id, "owner": task.owner, "model": task.model, "request": task.request,
            "document": self.task_document(task),
            "plan": {"created_at": task.created_at, "queue_seconds": task.queue_seconds,
                     "run_seconds": task.run_seconds, "outcome": task.outcome,
                     "finishes_at": task.finishes_at, "cancelled_at": task.cancelled_at,
                     "credits": task.credits},
        }

    async def reset(self, *, restart: bool = False) -> None:
        """Forget everything but the clock, which never goes back; with ``restart``, start
        over as a mock just launched with these settings (what the pytest fixture does
        between tests instead of building a new app and server: ~1 ms instead of ~200 ms)."""
        async with self._changing():
            await self.store.clear()
            if restart:
                self.clock = Clock.start(self.clock.speed, self.clock.wall)
            await self._save_clock(self.clock)
            if self.shared:
                self._resets = await self.shared_store.bump(RESETS)
        self.rules = []
        await self.journal.clear()
        if restart:
            if self.settings.seed is not None:   # re-seeded, not rebuilt: a new Faker costs ~20 ms
                self.ids.fake.seed_instance(self._id_seed())
            self._rule_ids = itertools.count(1)
            if isinstance(self.journal, RequestJournal):
                self.journal.restart()
            await self.load_scenario_rules(self._scenario_rules)
        for listener in self.reset_listeners:
            listener()
        self._clock_moved()
