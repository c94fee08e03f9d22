"""The seam between the service and its callback dispatchers, as two narrow protocols.

A dispatcher reads the clock, the store and the URL policy of the service it sends for
(:class:`CallbackHost`); the app builds it, starts and stops it, and subscribes what it
wants to hear (:class:`Listeners`) to the service's changes; handlers replay through it
(:class:`Dispatcher`). Neither side imports the other: the service is a ``CallbackHost``
by its shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol

from ..domain.clock import Clock
from ..domain.delivery import Delivery
from ..domain.task import Task
from ..store.base import Store
from .policy import CallbackPolicy


class CallbackSettings(Protocol):
    @property
    def callback_ca(self) -> str | None: ...

    @property
    def callback_lease(self) -> float: ...


class CallbackHost(Protocol):
    """What a dispatcher reads of the service it sends for."""

    callback_policy: CallbackPolicy
    shared: bool      # other processes share the state (workers or replicas)
    worker: int       # this process's index under serve --workers N
    clock: Clock

    @property
    def store(self) -> Store:
        """Memory or SQLite (one process, or worker mode) or PostgreSQL (replicas): each
        dispatcher uses the methods of the stores it runs with."""

    @property
    def settings(self) -> CallbackSettings: ...

    @property
    def real_seconds_per_mock(self) -> float: ...

    def now(self) -> float: ...

    async def sync(self) -> bool: ...


class Listeners(NamedTuple):
    """What a running dispatcher wants to hear of (None: nothing of that kind)."""

    task: Callable[[Task], None] | None = None   # a task created or cancelled here
    clock: Callable[[], None] | None = None      # the clock moved
    reset: Callable[[], None] | None = None      # everything was forgotten


class Dispatcher(Protocol):
    """What the app and the handlers use of a dispatcher."""

    attempts_sent: int

    @property
    def listeners(self) -> Listeners: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def replay(self, original: Delivery) -> Delivery: ...

    def wait_idle(self, timeout: float = 5.0) -> None: ...
