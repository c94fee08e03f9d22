"""Result media: a real, small MP4 per aspect ratio, served while the link is valid.

Links work from completion until 24 h of mock time later, as the vendor documents;
before or after that the answer is a 404 in the vendor's envelope.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from ..domain import lifecycle
from ..errors import media_not_found
from ..models import MEDIA_DIR
from ..service import MockService


def media_file(aspect_ratio: str) -> Path:
    return MEDIA_DIR / f"{aspect_ratio.replace(':', 'x')}.mp4"


async def result_video(request: Request, service: MockService) -> Response:
    task_id = request.path_params["task_id"]
    task = await service.store.get(task_id)
    if task is None or not lifecycle.media_available(task, service.now()):
        raise media_not_found(task_id)
    return FileResponse(media_file(task.aspect_ratio), media_type="video/mp4")
