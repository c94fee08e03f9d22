"""The mock's control API (spec/mock-admin.yaml): clock, tasks, rules, reset."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..service import MockService
from ..validation.adapters import BODY_STATE_KEY
from .http import json_response
from .ui import dashboard


def _body(request: Request) -> dict:
    return request.scope["state"][BODY_STATE_KEY]


async def health(request: Request, service: MockService) -> Response:
    return json_response({"status": "ok", "tasks": await service.store.count(),
                          "clock": service.clock_state(), "worker": service.worker,
                          "workers": service.settings.workers, "store": service.store_kind,
                          "callback_attempts": service.callbacks.attempts_sent,
                          "api_keys": "configured" if service.settings.api_keys else "any"})


async def get_clock(request: Request, service: MockService) -> Response:
    return json_response(service.clock_state())


async def advance_clock(request: Request, service: MockService) -> Response:
    await service.advance(_body(request)["seconds"])
    return json_response(service.clock_state())


async def list_tasks(request: Request, service: MockService) -> Response:
    limit = int(request.query_params.get("limit", 100))
    offset = int(request.query_params.get("offset", 0))
    tasks = await service.store.tasks(limit=limit, offset=offset)
    return json_response({"total": await service.store.count(),
                          "tasks": [service.detail(task) for task in tasks]})


async def get_task(request: Request, service: MockService) -> Response:
    return json_response(service.detail(await service.find_task(request.path_params["task_id"])))


async def cancel_task(request: Request, service: MockService) -> Response:
    return json_response(service.detail(await service.cancel(request.path_params["task_id"])))


async def list_rules(request: Request, service: MockService) -> Response:
    return json_response({"rules": [rule.to_dict() for rule in service.rules]})


async def add_rule(request: Request, service: MockService) -> Response:
    return json_response((await service.add_rule(_body(request))).to_dict(), status=201)


async def clear_rules(request: Request, service: MockService) -> Response:
    await service.clear_rules()
    return json_response({"rules": []})


async def reset(request: Request, service: MockService) -> Response:
    await service.reset(restart=_body(request).get("restart", False))
    return await health(request, service)


async def journal(request: Request, service: MockService) -> Response:
    params = request.query_params
    entries = await service.journal.entries_matching(
        key=params.get("key"), path=params.get("path"), since=int(params.get("since", 0)))
    return json_response({"entries": [entry.to_dict() for entry in entries]})


HANDLERS = {
    "adminJournal": journal,
    "adminHealth": health,
    "adminGetClock": get_clock,
    "adminAdvanceClock": advance_clock,
    "adminListTasks": list_tasks,
    "adminGetTask": get_task,
    "adminCancelTask": cancel_task,
    "adminListRules": list_rules,
    "adminAddRule": add_rule,
    "adminClearRules": clear_rules,
    "adminReset": reset,
    "adminDashboard": dashboard,
}
