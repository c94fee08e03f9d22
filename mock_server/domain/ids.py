"""Invented identifiers, from Faker so that ``--seed`` makes runs repeatable."""

from __future__ import annotations

import functools
import hashlib

from faker import Faker

ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class IdFactory:
    """Task ids from Faker, the project's generator of invented data, seeded with ``seed``.

    Building it costs a serving process ~0.2 s of CPU (import ~150 ms, instance ~45 ms; a
    plain ``random.Random`` would cost nothing): the price of one generator for every invented
    value, kept deliberately."""

    def __init__(self, seed: int | str | None = None) -> None:
        self.fake = Faker()
        self.reseed(seed)

    def reseed(self, seed: int | str | None) -> None:
        """Start the sequence of ``seed`` again (a restarting reset). None: fresh entropy
        from the OS, for this instance: an unseeded Faker draws from a generator made when
        faker was imported, which a forked worker shares with its supervisor and with every
        sibling, so they would all invent the same task ids (replicas on one database then
        overwrite each other's tasks)."""
        self.fake.seed_instance(seed)

    def task_id(self, created: float) -> str:
        """``task-unified-<unix seconds>-<8 lowercase alphanumerics>``, as the vendor's.

        Drawn from Faker's seeded generator directly: ``pystr_format`` costs several
        percent of a create."""
        suffix = "".join(self.fake.random.choices(ID_ALPHABET, k=8))
        return f"task-unified-{int(created)}-{suffix}"


@functools.lru_cache(maxsize=4096)
def key_fingerprint(api_key: str) -> str:
    """Who owns a task, without keeping the key itself."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:16]
