"""Credits a task reserves. [inferred beyond the seeds' examples]

The seeds show grok reserving 5 credits per call and kling 7 for its example (5 s, 720p),
and say the kling price grows with ``duration``. Our rule: kling costs 7 credits per 5
seconds of video, x1.5 at 1080p, rounded half up; grok always 5. A failed task refunds.
"""

from __future__ import annotations

import math
from typing import Any

BILLING_RULE = "per_call"
USER_GROUP = "default"
GROK_CREDITS = 5
KLING_CREDITS_PER_5S = 7


def credits_for(model: str, request: dict[str, Any]) -> float:
    if not model.startswith("kling"):
        return GROK_CREDITS
    credits = KLING_CREDITS_PER_5S * request["duration"] / 5
    if request.get("quality") == "1080p":
        credits *= 1.5
    return math.floor(credits + 0.5)


def usage(credits: float) -> dict[str, Any]:
    return {"billing_rule": BILLING_RULE, "credits_reserved": credits, "user_group": USER_GROUP}
