"""The mock's clock: real time scaled by a speed factor, or manual.

Mock time is unix seconds. The scaled clock runs ``speed`` times faster than the wall clock
from ``origin`` on; the manual clock stands still until advanced. Both are described by
three numbers (origin, speed, offset), which is all persistence needs to resume after a
restart without time going backwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Clock:
    origin: float
    speed: float | None  # None: manual clock
    offset: float = 0.0
    wall: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    @classmethod
    def start(cls, speed: float | None, wall: Callable[[], float] = time.time) -> Clock:
        return cls(origin=wall(), speed=speed, wall=wall)

    @property
    def manual(self) -> bool:
        return self.speed is None

    def now(self) -> float:
        if self.speed is None:
            return self.origin + self.offset
        return self.origin + self.offset + (self.wall() - self.origin) * self.speed

    def advance(self, seconds: float) -> float:
        """Move mock time forward (either mode); returns the new now."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset += seconds
        return self.now()

    def real_seconds(self, mock_seconds: float) -> float:
        """How long ``mock_seconds`` take on the wall clock (manual: as many mock seconds)."""
        return mock_seconds if self.speed is None else mock_seconds / self.speed
