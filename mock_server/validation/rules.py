"""Cross-field rules that OpenAPI 3.0 cannot state, listed in the spec by id
(``x-cross-field-rules`` of a request schema); each returns the error or ``None``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ApiError, invalid_request

CrossFieldRule = Callable[[dict[str, Any]], ApiError | None]


def _multi_shot(body: dict[str, Any]) -> bool:
    return bool((body.get("model_params") or {}).get("multi_shot"))


def _prompt_empty_only_multi_shot(body: dict[str, Any]) -> ApiError | None:
    params = body.get("model_params") or {}
    if body.get("prompt", "").strip():
        return None
    if params.get("multi_shot") and params.get("shot_type") == "customize":
        return None
    return invalid_request(
        "prompt must not be empty unless model_params.multi_shot is true and "
        "model_params.shot_type is customize", "prompt")


def _shot_type_required(body: dict[str, Any]) -> ApiError | None:
    if _multi_shot(body) and "shot_type" not in body["model_params"]:
        return invalid_request(
            "model_params.shot_type is required when model_params.multi_shot is true",
            "model_params.shot_type")
    return None


def _shot_durations_sum(body: dict[str, Any]) -> ApiError | None:
    if not _multi_shot(body):
        return None
    total = body.get("duration")
    shots = body["model_params"].get("multi_prompt") or []
    try:
        durations = [float(shot["duration"]) for shot in shots]
    except ValueError:
        return invalid_request("model_params.multi_prompt durations must be numbers of seconds, "
                               "written as strings", "model_params.multi_prompt")
    if not shots or sum(durations) != total:
        return invalid_request(
            f"model_params.multi_prompt durations must add up to duration ({total}), "
            f"got {sum(durations):g}", "model_params.multi_prompt")
    return None


CROSS_FIELD_RULES: dict[str, CrossFieldRule] = {
    "multi-shot.shot-type-required": _shot_type_required,
    "multi-shot.prompt-empty-only-multi-shot": _prompt_empty_only_multi_shot,
    "multi-shot.shot-durations-sum": _shot_durations_sum,
}
