"""The account endpoints the vendor's own client calls: models, credits, task list, batch.

Inferred from ``@evolinkai/evolink-media`` (see the spec's ``x-inferred-source``); the
query and body are validated by the spec before they get here.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..auth import api_key_of
from ..service import MockService
from ..validation.adapters import BODY_STATE_KEY
from .http import json_response

DEFAULT_PAGE, DEFAULT_PAGE_SIZE = 1, 20   # as the spec's defaults for listTasks


async def list_models(request: Request, service: MockService) -> Response:
    return json_response(service.model_list())


async def get_credits(request: Request, service: MockService) -> Response:
    return json_response(await service.credit_report(api_key_of(request.scope)))


async def list_tasks(request: Request, service: MockService) -> Response:
    params = request.query_params
    return json_response(await service.task_page(
        api_key=api_key_of(request.scope), status=params.get("status"), type_=params.get("type"),
        model=params.get("model"), page=int(params.get("page", DEFAULT_PAGE)),
        page_size=int(params.get("page_size", DEFAULT_PAGE_SIZE))))


async def batch_get_tasks(request: Request, service: MockService) -> Response:
    body = request.scope["state"][BODY_STATE_KEY]
    return json_response(await service.task_batch(api_key=api_key_of(request.scope),
                                            task_ids=body["task_ids"]))


HANDLERS = {
    "listModels": list_models,
    "getCredits": get_credits,
    "listTasks": list_tasks,
    "batchGetTasks": batch_get_tasks,
}
