"""``GET /v1/tasks/{task_id}``: the task document as of now on the mock clock."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..auth import api_key_of
from ..service import MockService
from .http import json_response


async def get_task(request: Request, service: MockService) -> Response:
    task = await service.owned_task(api_key=api_key_of(request.scope),
                              task_id=request.path_params["task_id"])
    return json_response(service.task_document(task))
