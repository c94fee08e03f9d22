"""``POST /v1/videos/generations``: the body is already validated by the spec."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..auth import api_key_of
from ..service import MockService
from ..service.tasks import IDEMPOTENCY_HEADER
from ..validation.adapters import BODY_STATE_KEY
from .faults import SCENARIO_STATE_KEY, replayed
from .http import json_response, public_base


async def create_video_generation(request: Request, service: MockService) -> Response:
    state = request.scope["state"]
    document, was_replayed = await service.create_or_replay(
        api_key=api_key_of(request.scope), body=state[BODY_STATE_KEY],
        media_base=public_base(request, service.settings), action=state[SCENARIO_STATE_KEY],
        idempotency_key=request.headers.get(IDEMPOTENCY_HEADER))
    if was_replayed:   # another request with this key got there first (a concurrent retry)
        return replayed(request, document)
    return json_response(document)
