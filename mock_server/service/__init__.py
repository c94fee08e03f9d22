"""The mock service: the domain wired to a clock and a store, with no HTTP in it.

Handlers call these methods; tests can too. Errors are raised as :class:`ApiError` so the
HTTP layer only has to render them. One module per part of the job:

- ``state``: the clock and the state shared with other workers and replicas;
- ``tasks``: creating tasks (idempotent creates too), reading them, credits;
- ``account``: the account endpoints (models, credits, task list, batch);
- ``scripting``: scripted outcomes and faults (magic prompt, header, admin rules);
- ``admin``: finding, cancelling and describing tasks; resets.
"""

from __future__ import annotations

from .account import Account
from .admin import Admin


class MockService(Account, Admin):
    """``worker`` is this process's index under ``serve --workers N`` (``settings.workers``);
    then tasks, clock, rules, deliveries and the journal live in the shared state file.
    With ``--state postgresql://...`` they live in PostgreSQL, shared by any number of
    replicas (``replicated``).

    A local store (memory, SQLite) is opened on construction; a networked one by ``open``
    on the server's event loop (the app's lifespan), before the first request. The app
    gives the service its callback dispatcher (``callbacks``)."""


__all__ = ["MockService"]
