"""Scripted faults around the vendor operations: latency, HTTP errors, task outcomes."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from ..journal import SCRIPTED_EXTENSION
from ..service import SCENARIO_HEADER, MockService
from ..validation import BODY_STATE_KEY
from .http import Handler

SCENARIO_STATE_KEY = "scenario"


def scripted(operation_id: str, handler: Handler) -> Handler:
    """Wrap a vendor handler so magic prompts, the scenario header and rules apply to it."""

    async def run(request: Request, service: MockService) -> Response:
        body = request.scope.get("state", {}).get(BODY_STATE_KEY)
        action = await service.scenario_for(operation_id, body, request.headers.get(SCENARIO_HEADER))
        if action.delay:
            await asyncio.sleep(action.delay)
        error = service.fault(operation_id, action)
        if error is not None:
            request.scope.setdefault("extensions", {})[SCRIPTED_EXTENSION] = True
            raise error
        request.scope.setdefault("state", {})[SCENARIO_STATE_KEY] = action
        return await handler(request, service)

    return run
