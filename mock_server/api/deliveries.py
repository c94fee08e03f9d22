"""The callback journal in the control API: deliveries with every attempt, and replay."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..domain.delivery import Delivery
from ..errors import delivery_not_found
from ..service import MockService
from .http import json_response


async def _find(request: Request, service: MockService) -> Delivery:
    delivery_id = request.path_params["delivery_id"]
    delivery = await service.store.get_delivery(delivery_id)
    if delivery is None:
        raise delivery_not_found(delivery_id)
    return delivery


async def list_deliveries(request: Request, service: MockService) -> Response:
    deliveries = await service.store.deliveries(task_id=request.query_params.get("task_id"))
    return json_response({"deliveries": [delivery.to_record() for delivery in deliveries]})


async def get_delivery(request: Request, service: MockService) -> Response:
    return json_response((await _find(request, service)).to_record())


async def replay_delivery(request: Request, service: MockService) -> Response:
    delivery = await service.callbacks.replay(await _find(request, service))
    return json_response(delivery.to_record(), status=201)


HANDLERS = {
    "adminListDeliveries": list_deliveries,
    "adminGetDelivery": get_delivery,
    "adminReplayDelivery": replay_delivery,
}
