"""How one model behaves in the mock, read from its request schema's ``x-mock`` block.

No model is named here: the spec says how long a task takes, what it costs, what
``task_info`` reports and which video it serves (``spec/x-mock.schema.json`` describes the
block; :mod:`mock_server.models` checks it before anything is built). Both formulas are

    (base + per_video_second * video seconds) * the multipliers of the request's values

so the seed numbers stay visible in the spec (grok: 120 s at 6 s is 75 + 7.5 * 6).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

REMAINING, TOTAL = "remaining", "total"
DEFAULT_ASPECT_RATIO = "16:9"
QUEUE_SHARE = 0.05          # defaults of spec/x-mock.schema.json
MIN_QUEUE_SECONDS = 2.0
CREDIT_DECIMALS = 2

Multipliers = Mapping[str, Mapping[str, float]]


def value_key(value: Any) -> str:
    """How a request value is named in ``multipliers``: strings as they are, the rest as JSON
    (``true``, ``1080``), which is also how YAML keys of those values read."""
    return value if isinstance(value, str) else json.dumps(value)


def _factor(multipliers: Multipliers, request: Mapping[str, Any]) -> float:
    factor = 1.0
    for name, by_value in multipliers.items():
        if name in request:
            factor *= by_value.get(value_key(request[name]), 1.0)
    return factor


@dataclass(frozen=True)
class Formula:
    """``(base + per_video_second * seconds) * multipliers``."""

    base: float = 0.0
    per_video_second: float = 0.0
    multipliers: Multipliers = field(default_factory=dict)

    @classmethod
    def from_block(cls, block: Mapping[str, Any]) -> Formula:
        return cls(float(block.get("base", 0)), float(block.get("per_video_second", 0)),
                   {name: {key: float(f) for key, f in values.items()}
                    for name, values in (block.get("multipliers") or {}).items()})

    def __call__(self, seconds: float, request: Mapping[str, Any]) -> float:
        return (self.base + self.per_video_second * seconds) * _factor(self.multipliers, request)


@dataclass(frozen=True)
class Plan:
    total_seconds: float
    credits: float
    video_duration: int | None
    aspect_ratio: str


@dataclass(frozen=True)
class ModelBehaviour:
    name: str
    time: Formula
    credits: Formula
    billing_rule: str
    video_field: str | None = None       # the request field holding the video's seconds
    fixed_seconds: float | None = None   # or a fixed length
    queue_share: float = QUEUE_SHARE
    min_queue_seconds: float = MIN_QUEUE_SECONDS
    credit_decimals: int = CREDIT_DECIMALS
    estimated_time: str = REMAINING
    reports_video_duration: bool = False
    aspect_ratio_field: str | None = None
    aspect_ratio: str = DEFAULT_ASPECT_RATIO

    @classmethod
    def from_x_mock(cls, name: str, block: Mapping[str, Any]) -> ModelBehaviour:
        """The behaviour of a block already checked against the schema."""
        time, credits = block["time"], block["credits"]
        task_info, media = block.get("task_info") or {}, block.get("media") or {}
        video = block["video_seconds"]
        return cls(
            name=name, time=Formula.from_block(time), credits=Formula.from_block(credits),
            billing_rule=credits["billing_rule"],
            video_field=video.get("field"),
            fixed_seconds=float(video["fixed"]) if "fixed" in video else None,
            queue_share=float(time.get("queue_share", QUEUE_SHARE)),
            min_queue_seconds=float(time.get("min_queue_seconds", MIN_QUEUE_SECONDS)),
            credit_decimals=int(credits.get("decimals", CREDIT_DECIMALS)),
            estimated_time=task_info.get("estimated_time", REMAINING),
            reports_video_duration=bool(task_info.get("video_duration", False)),
            aspect_ratio_field=media.get("aspect_ratio_field"),
            aspect_ratio=media.get("aspect_ratio", DEFAULT_ASPECT_RATIO),
        )

    def plan(self, request: Mapping[str, Any], available_ratios: frozenset[str]) -> Plan:
        """Everything a create needs from this model, reading the video's length once."""
        seconds = self.video_seconds(request)
        return Plan(total_seconds=self.time(seconds, request),
                    credits=self._credits(seconds, request),
                    video_duration=math.ceil(seconds) if self.reports_video_duration else None,
                    aspect_ratio=self.media_ratio(request, available_ratios))

    def video_seconds(self, request: Mapping[str, Any]) -> float:
        """The video's length for a request with the spec's defaults applied."""
        if self.video_field is not None:
            value = request.get(self.video_field)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        return self.fixed_seconds or 0.0

    def total_seconds(self, request: Mapping[str, Any]) -> float:
        """Mock seconds from create to the planned end."""
        return self.time(self.video_seconds(request), request)

    def split(self, total: float) -> tuple[float, float]:
        """(queue, run) seconds for a task taking ``total`` seconds: the queue takes its share,
        at least ``min_queue_seconds``."""
        queue = max(self.min_queue_seconds, total * self.queue_share)
        return queue, total - queue

    def credits_for(self, request: Mapping[str, Any]) -> float:
        """Credits reserved at create; whole numbers come out as ``int`` (``7``, not ``7.0``)."""
        return self._credits(self.video_seconds(request), request)

    def _credits(self, seconds: float, request: Mapping[str, Any]) -> float:
        credits = round(self.credits(seconds, request), self.credit_decimals)
        return int(credits) if float(credits).is_integer() else credits

    def video_duration(self, request: Mapping[str, Any]) -> int | None:
        """What ``task_info.video_duration`` reports, if this model reports it."""
        if not self.reports_video_duration:
            return None
        return math.ceil(self.video_seconds(request))

    def media_ratio(self, request: Mapping[str, Any], available: frozenset[str]) -> str:
        """The aspect ratio of the result video among the ``available`` ones."""
        if self.aspect_ratio_field is not None:
            value = request.get(self.aspect_ratio_field)
            if isinstance(value, str) and value in available:
                return value
        return self.aspect_ratio
