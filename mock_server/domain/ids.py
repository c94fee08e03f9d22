"""Invented identifiers, from Faker so that ``--seed`` makes runs repeatable."""

from __future__ import annotations

import functools
import hashlib

from faker import Faker

ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class IdFactory:
    def __init__(self, seed: int | str | None = None) -> None:
        self.fake = Faker()
        if seed is not None:
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
