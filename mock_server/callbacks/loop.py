"""The event loop a dispatcher runs on, and calling onto it from any thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any


class LoopBound:
    """Mixin for the two dispatchers: ``_loop`` and ``_thread`` are set when they start,
    ``_idle`` returns once nothing is due and no attempt is in flight."""

    _loop: asyncio.AbstractEventLoop | None = None
    _thread: int | None = None

    def _on_loop(self, function: Callable[..., None], *args: Any) -> None:
        """Run on the dispatcher's loop: at once when already there (an API request), else
        queued (tests and embedding programs move the clock from their own threads)."""
        if self._loop is None:
            return
        if threading.get_ident() == self._thread:
            function(*args)
        else:
            self._loop.call_soon_threadsafe(function, *args)

    def _idle(self) -> Coroutine[Any, Any, None]:
        raise NotImplementedError

    def wait_idle(self, timeout: float = 5.0) -> None:
        """From another thread: block until nothing is due now and no attempt is in flight."""
        if self._loop is None:
            raise RuntimeError("the callback dispatcher is not running")
        asyncio.run_coroutine_threadsafe(self._idle(), self._loop).result(timeout)
