"""Scripted faults around the vendor operations: latency, HTTP errors, lost answers, outcomes."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..auth import api_key_of
from ..scope import DROPPED_EXTENSION, REPLAYED_EXTENSION, SCRIPTED_EXTENSION
from ..service import MockService
from ..service.scripting import SCENARIO_HEADER
from ..service.tasks import IDEMPOTENCY_HEADER
from ..validation.adapters import BODY_STATE_KEY
from .http import Handler, json_response

SCENARIO_STATE_KEY = "scenario"
REPLAYED_HEADER = "Idempotency-Replayed"


async def _no_answer(scope: Scope, receive: Receive, send: Send) -> None:
    """What a dropped request answers: nothing at all."""


async def drop_connection(request: Request, point: str) -> Response:
    """Answer nothing, and have the connection closed (``drop=before|after``).

    The app (``MockApp``) closes it once the request is journaled, so a client that sees
    the connection end finds the request in the journal. Served in-process (an ASGI
    transport, no connection), the app returns without answering, which such clients report
    as an error.
    """
    extensions = request.scope.setdefault("extensions", {})
    extensions[DROPPED_EXTENSION] = point
    extensions[SCRIPTED_EXTENSION] = True
    return _no_answer  # type: ignore[return-value]


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
        if action.drop == "before":
            return await drop_connection(request, action.drop)
        request.scope.setdefault("state", {})[SCENARIO_STATE_KEY] = action
        response = await handler(request, service)
        if action.drop == "after":
            return await drop_connection(request, action.drop)
        return response

    return run


def idempotent(handler: Handler) -> Handler:
    """Answer a create whose ``Idempotency-Key`` is known from the stored result, before any
    scripted fault: a replay never re-applies the fault that lost the original answer (nor
    counts towards a rule)."""

    async def run(request: Request, service: MockService) -> Response:
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None:
            stored = await service.stored_create(api_key=api_key_of(request.scope), idempotency_key=key,
                                           body=request.scope["state"][BODY_STATE_KEY])
            if stored is not None:
                return replayed(request, stored)
        return await handler(request, service)

    return run


def replayed(request: Request, document: dict) -> Response:
    request.scope.setdefault("extensions", {})[REPLAYED_EXTENSION] = True
    return json_response(document, headers={REPLAYED_HEADER: "true"})
