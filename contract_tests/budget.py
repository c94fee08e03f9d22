"""What a run may spend: valid creates are what the real service bills.

An invalid request costs nothing and always runs. A valid create is priced with the
model's ``x-mock`` credit rule after the spec's defaults are applied, and sent only while the cap allows.
Against a host that is not loopback the default cap is 0, so pointing the checker at the
real service never spends credits unless asked to.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from .contract import DEFAULT, Contract


def is_loopback_url(base_url: str) -> bool:
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_max_credits(base_url: str) -> float | None:
    """Unlimited (None) for a loopback target, nothing for anything else."""
    return None if is_loopback_url(base_url) else 0.0


def price(body: Any, contract: Contract = DEFAULT) -> float | None:
    """Credits a create with this body would reserve, or None if the service must refuse it."""
    return contract.price(body)


class Budget:
    def __init__(self, max_credits: float | None, contract: Contract = DEFAULT) -> None:
        self.max_credits = max_credits
        self.contract = contract
        self.spent = 0.0
        self.skipped: Counter[str] = Counter()   # what was not sent, by purpose

    def allows(self, body: Any, purpose: str) -> bool:
        """Spend for a create body if it is billable and affordable; count what is skipped."""
        cost = self.contract.price(body)
        if cost is None:
            return True
        if math.isinf(cost) and self.max_credits is None:
            return True   # an unpriced model under no cap: sent, and not counted
        if self.max_credits is not None and self.spent + cost > self.max_credits:
            self.skipped[purpose] += 1
            return False
        self.spent += cost
        return True

    def allows_all(self, bodies: list[Any], purpose: str) -> bool:
        """Spend for several creates only if the cap covers them all (one skip if not)."""
        total = sum(self.contract.price(body) or 0.0 for body in bodies)
        if math.isinf(total) and self.max_credits is None:
            return True   # an unpriced model under no cap, as in allows()
        if self.max_credits is not None and self.spent + total > self.max_credits:
            self.skipped[purpose] += 1
            return False
        self.spent += total
        return True

    def describe(self) -> str:
        cap = "unlimited" if self.max_credits is None else f"{self.max_credits:g}"
        return f"{self.spent:g} credits spent of {cap}"
