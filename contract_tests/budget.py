"""What a run may spend: valid creates are what the real service bills.

An invalid request costs nothing and always runs. A valid create is priced with the mock's
own billing rule after the spec's defaults are applied, and sent only while the cap allows.
Against a host that is not loopback the default cap is 0, so pointing the checker at the
real service never spends credits unless asked to.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from mock_server.domain.billing import credits_for
from mock_server.domain.defaults import apply_defaults
from mock_server.validation import body_checker

from .contract import SPEC, schema

REQUEST_SCHEMA = "VideoGenerationRequest"
_MAPPING = SPEC["components"]["schemas"][REQUEST_SCHEMA]["discriminator"]["mapping"]
_MODEL_SCHEMAS = {model: schema(ref.rsplit("/", 1)[-1]) for model, ref in _MAPPING.items()}


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


def price(body: Any) -> float | None:
    """Credits a create with this body would reserve, or None if the service must refuse it."""
    if body_checker(schema(REQUEST_SCHEMA)).error(body) is not None:
        return None
    model = body["model"]
    return float(credits_for(model, apply_defaults(_MODEL_SCHEMAS[model], body)))


class Budget:
    def __init__(self, max_credits: float | None) -> None:
        self.max_credits = max_credits
        self.spent = 0.0
        self.skipped: Counter[str] = Counter()   # what was not sent, by purpose

    def allows(self, body: Any, purpose: str) -> bool:
        """Spend for a create body if it is billable and affordable; count what is skipped."""
        cost = price(body)
        if cost is None:
            return True
        if self.max_credits is not None and self.spent + cost > self.max_credits:
            self.skipped[purpose] += 1
            return False
        self.spent += cost
        return True

    def allows_all(self, bodies: list[Any], purpose: str) -> bool:
        """Spend for several creates only if the cap covers them all (one skip if not)."""
        costs = [price(body) or 0.0 for body in bodies]
        if self.max_credits is not None and self.spent + sum(costs) > self.max_credits:
            self.skipped[purpose] += 1
            return False
        self.spent += sum(costs)
        return True

    def describe(self) -> str:
        cap = "unlimited" if self.max_credits is None else f"{self.max_credits:g}"
        return f"{self.spent:g} credits spent of {cap}"
