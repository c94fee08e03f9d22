"""The mock service: the domain wired to a clock and a store, with no HTTP in it.

Handlers call these methods; tests can too. Errors are raised as :class:`ApiError` so the
HTTP layer only has to render them.
"""

from __future__ import annotations

from typing import Any

from .callbacks.policy import CallbackPolicy, parse_allowed_host
from .domain import billing, lifecycle, timing
from .domain.clock import Clock
from .domain.defaults import apply_defaults
from .domain.ids import IdFactory, key_fingerprint
from .domain.task import COMPLETED, Task
from .errors import ApiError, invalid_request
from .settings import Settings
from .spec import error_codes, model_names, resolve
from .store import Store, open_store

CLOCK_KEY = "clock"


class MockService:
    def __init__(self, settings: Settings, spec: dict[str, Any], store: Store | None = None) -> None:
        self.settings = settings
        self.store = store if store is not None else open_store(settings.state)
        self.clock = self._restore_clock()
        self.ids = IdFactory(settings.seed)
        self.error_codes = error_codes(spec)
        schemas = spec["components"]["schemas"]
        mapping = schemas["VideoGenerationRequest"]["discriminator"]["mapping"]
        self.request_schemas = {
            model: resolve(spec, {"$ref": ref}) for model, ref in mapping.items()
        }
        self.models = model_names(spec)
        self.callback_policy = CallbackPolicy(
            allowed_hosts=tuple(parse_allowed_host(h) for h in settings.allow_callback_hosts))

    # --- clock --------------------------------------------------------------------------

    def _restore_clock(self) -> Clock:
        speed = None if self.settings.manual_clock else self.settings.speed
        saved = self.store.get_value(CLOCK_KEY)
        if saved is not None and (saved["speed"] is None) == (speed is None):
            return Clock(origin=saved["origin"], speed=speed, offset=saved["offset"])
        clock = Clock.start(speed)
        self._save_clock(clock)
        return clock

    def _save_clock(self, clock: Clock) -> None:
        self.store.put_value(CLOCK_KEY, {"origin": clock.origin, "speed": clock.speed,
                                         "offset": clock.offset})

    def now(self) -> float:
        return self.clock.now()

    def advance(self, seconds: float) -> float:
        now = self.clock.advance(seconds)
        self._save_clock(self.clock)
        return now

    @property
    def real_per_mock(self) -> float:
        return self.clock.real_seconds(1.0)

    # --- tasks --------------------------------------------------------------------------

    def create_task(self, *, api_key: str, body: dict[str, Any], media_base: str,
                    fail: str | None = None, takes: float | None = None) -> dict[str, Any]:
        """Store a new task for a validated request and answer its create document."""
        model = body["model"]
        if "callback_url" in body:
            refusal = self.callback_policy.refusal_at_create(body["callback_url"])
            if refusal:
                raise invalid_request(refusal, "callback_url")
        request = apply_defaults(self.request_schemas[model], body)
        now = self.now()
        queue, run = timing.split(takes if takes is not None else timing.total_seconds(model, request))
        outcome = fail or COMPLETED
        task = Task(
            id=self.ids.task_id(now),
            owner=key_fingerprint(api_key),
            model=model,
            request=request,
            created_at=now,
            queue_seconds=queue,
            run_seconds=run,
            outcome=outcome,
            fail_fraction=lifecycle.FAIL_FRACTIONS.get(outcome, lifecycle.DEFAULT_FAIL_FRACTION),
            credits=billing.credits_for(model, request),
            media_base=media_base,
        )
        self.store.put(task)
        return lifecycle.created_document(task, now, real_seconds_per_mock=self.real_per_mock)

    def owned_task(self, *, api_key: str, task_id: str) -> Task:
        task = self.store.get(task_id)
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
