"""How long a simulated generation takes, in mock seconds. [inferred]

The seeds give one estimate per model (grok 120 s, kling 300 s at their examples); how the
time grows with length and quality is our rule, documented in the README:

* grok: 120 s for a 6 s video, 150 s for 10 s; image-to-video at 720p takes 1.5x.
* kling: 300 s for 5 s at 720p, +30 s per extra second; 1080p takes 1.5x; sound +10 %.
* The first 5 % (at least 2 s) of that time the task is pending in the queue.
"""

from __future__ import annotations

from typing import Any

QUEUE_SHARE = 0.05
MIN_QUEUE_SECONDS = 2.0


def total_seconds(model: str, request: dict[str, Any]) -> float:
    duration = request.get("duration")
    if model.startswith("kling"):
        seconds = 300.0 + 30.0 * (duration - 5)
        if request.get("quality") == "1080p":
            seconds *= 1.5
        if request.get("sound") == "on":
            seconds *= 1.1
        return seconds
    seconds = 120.0 if duration == 6 else 150.0
    if request.get("quality") == "720p":
        seconds *= 1.5
    return seconds


def split(total: float) -> tuple[float, float]:
    """(queue, run) seconds for a task taking ``total`` seconds."""
    queue = max(MIN_QUEUE_SECONDS, total * QUEUE_SHARE)
    return queue, total - queue
