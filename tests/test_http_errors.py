"""Bad input never gives a 500: every refusal is the vendor's error envelope, as JSON.

Runs against a real loopback server. The server is module-scoped (one start for the whole
file) because no test here depends on state left by another; tests that need different
startup settings start their own with :func:`serving`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mock_server.server import RunningServer
from mock_server.settings import Settings
from tests import clients

from .conftest import serving

CREATE = "/v1/videos/generations"
JSON = {"content-type": "application/json"}
MODELS = ["grok-imagine-image-to-video", "grok-imagine-text-to-video", "kling-o3-text-to-video"]
GROK_T2V = {"model": "grok-imagine-text-to-video", "prompt": "A lighthouse at night"}
KLING = {"model": "kling-o3-text-to-video", "prompt": "A red fox in the snow"}
GROK_I2V = {"model": "grok-imagine-image-to-video", "prompt": "The person smiles",
            "image_urls": ["https://example.com/image.jpg"]}
_UNSET = object()


# --- shared helpers (imported by the other behaviour test modules) -----------------------


def expect_error(response: httpx.Response, status: int, code: str, type_: str,
                 param: Any = None, *, says: tuple[str, ...] = ()) -> dict[str, Any]:
    """Assert ``response`` is exactly the vendor envelope; return the inner ``error`` object.

    ``param=None`` means the envelope must not name a field. ``says`` are fragments the
    message must contain (it has to name the problem, not just be non-empty).
    """
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].split(";")[0].strip() == "application/json", \
        response.headers
    body = response.json()
    assert list(body) == ["error"], body
    error = body["error"]
    assert set(error) <= {"code", "message", "type", "param"}, error
    assert error["code"] == code, error
    assert error["type"] == type_, error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    if param is None:
        assert error.get("param") is None, error
    else:
        assert error.get("param") == param, error
    for fragment in says:
        assert fragment in error["message"], (fragment, error["message"])
    return error


def expect_invalid(response: httpx.Response, param: Any = None, *, says: tuple[str, ...] = ()
                   ) -> dict[str, Any]:
    return expect_error(response, 400, "invalid_request", "invalid_request_error", param,
                        says=says)


def allowed_methods(response: httpx.Response) -> set[str]:
    return {method.strip().upper() for method in response.headers["allow"].split(",")
            if method.strip()}


# --- fixtures: one server for the module ---------------------------------------------------


@pytest.fixture
def server(module_server: RunningServer) -> RunningServer:
    return module_server


def post_raw(client: httpx.Client, content: Any, headers: dict[str, str] | None = None
             ) -> httpx.Response:
    return client.post(CREATE, content=content, headers=JSON if headers is None else headers)


# --- malformed bodies ----------------------------------------------------------------------


def test_malformed_json_gets_400_envelope(client: httpx.Client) -> None:
    expect_invalid(post_raw(client, b'{model: "grok-imagine-text-to-video"}'),
                   says=("not valid JSON", "line 1 column 2"))


def test_truncated_json_gets_400_envelope(client: httpx.Client) -> None:
    expect_invalid(post_raw(client, b'{"model": "grok-imagine-text-to-video", "prompt": '),
                   says=("not valid JSON",))


def test_trailing_garbage_after_the_object_gets_400_envelope(client: httpx.Client) -> None:
    expect_invalid(post_raw(client, json.dumps(GROK_T2V).encode() + b" x"),
                   says=("not valid JSON", "Extra data"))


def test_non_utf8_body_gets_400_envelope(client: httpx.Client) -> None:
    body = b'{"model": "grok-imagine-text-to-video", "prompt": "caf\xe9"}'
    position = body.index(b"\xe9")
    expect_invalid(post_raw(client, body), says=("not valid UTF-8", f"byte {position}"))


def test_utf16_body_gets_400_envelope(client: httpx.Client) -> None:
    expect_invalid(post_raw(client, json.dumps(GROK_T2V).encode("utf-16")),
                   says=("not valid UTF-8",))


def test_utf8_byte_order_mark_gets_400_envelope(client: httpx.Client) -> None:
    expect_invalid(post_raw(client, b"\xef\xbb\xbf" + json.dumps(GROK_T2V).encode()),
                   says=("not valid JSON", "BOM"))


def test_empty_body_gets_400_envelope(client: httpx.Client) -> None:
    error = expect_invalid(post_raw(client, b""))
    assert re.search(r"request ?body is required", error["message"], re.IGNORECASE), error


def test_whitespace_only_body_gets_400_envelope(client: httpx.Client) -> None:
    expect_invalid(post_raw(client, b" \r\n\t "), says=("request body is required",))


@pytest.mark.parametrize("raw, kind", [
    (b"[]", "array"),
    (b'[{"model": "grok-imagine-text-to-video", "prompt": "x"}]', "array"),
    (b'"grok-imagine-text-to-video"', "string"),
    (b"42", "integer"),
    (b"4.2", "number"),
    (b"true", "boolean"),
    (b"null", "null"),
], ids=["empty-array", "array-of-request", "string", "integer", "number", "boolean", "null"])
def test_json_that_is_not_an_object_gets_400_envelope(client: httpx.Client, raw: bytes,
                                                      kind: str) -> None:
    expect_invalid(post_raw(client, raw), says=(f"must be a JSON object, got {kind}",))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_literals_get_400_envelope(client: httpx.Client, literal: str) -> None:
    raw = f'{{"model": "kling-o3-text-to-video", "prompt": "x", "duration": {literal}}}'
    expect_invalid(post_raw(client, raw.encode()), says=("not valid JSON", literal))


def test_duplicate_keys_get_400_envelope_naming_the_key(client: httpx.Client) -> None:
    raw = b'{"model": "grok-imagine-text-to-video", "prompt": "a", "prompt": "b"}'
    expect_invalid(post_raw(client, raw), says=("duplicate key", "prompt"))


def test_duplicate_keys_in_a_nested_object_get_400_envelope(client: httpx.Client) -> None:
    raw = (b'{"model": "kling-o3-text-to-video", "prompt": "x", '
           b'"model_params": {"multi_shot": false, "multi_shot": true}}')
    expect_invalid(post_raw(client, raw), says=("duplicate key", "multi_shot"))


@pytest.mark.parametrize("raw", [
    b"[" * 100_000,
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
], ids=["100k-open-brackets", "100k-balanced-brackets", "50k-nested-objects"])
def test_deep_nesting_gets_400_envelope(client: httpx.Client, raw: bytes) -> None:
    expect_invalid(post_raw(client, raw), says=("nested more than 32 levels",))


def test_deeply_nested_value_inside_model_params_does_not_give_500(client: httpx.Client) -> None:
    """600 levels parse fine and pass the schema (model_params allows extra keys).

    The mock must then either accept the task or refuse the body with a 400; copying the
    request to apply defaults must not blow the stack.
    """
    depth = 600
    raw = (b'{"model": "kling-o3-text-to-video", "prompt": "x", "model_params": {"extra": '
           + b"[" * depth + b"]" * depth + b"}}")
    response = post_raw(client, raw)
    assert response.status_code in (200, 400), (response.status_code, response.text)
    if response.status_code == 400:
        expect_invalid(response)


def test_huge_integer_duration_gets_400_naming_the_enum(client: httpx.Client) -> None:
    raw = json.dumps({**GROK_T2V, "duration": 10**400}).encode()
    expect_invalid(post_raw(client, raw), "duration", says=("duration must be one of [6, 10]",))


def test_huge_integer_duration_gets_400_naming_the_range(client: httpx.Client) -> None:
    raw = json.dumps({**KLING, "duration": 10**400}).encode()
    expect_invalid(post_raw(client, raw), "duration", says=("duration must be between 3 and 15",))


def test_integer_with_more_digits_than_python_converts_gets_400(client: httpx.Client) -> None:
    raw = b'{"model": "kling-o3-text-to-video", "prompt": "x", "duration": 1' + b"0" * 5000 + b"}"
    expect_invalid(post_raw(client, raw))


def test_number_too_large_for_a_float_is_named_as_a_number(client: httpx.Client) -> None:
    """1e400 is valid JSON syntax; the client sent a number, so the message must not say null."""
    raw = b'{"model": "kling-o3-text-to-video", "prompt": "x", "duration": 1e400}'
    error = expect_invalid(post_raw(client, raw), "duration", says=("duration",))
    assert "null" not in error["message"], error


# --- size limit ----------------------------------------------------------------------------


def test_body_over_the_default_one_mib_limit_gets_413(client: httpx.Client) -> None:
    body = json.dumps({**GROK_T2V, "prompt": "a" * (2 * 1024 * 1024)}).encode()
    expect_error(post_raw(client, body), 413, "request_too_large", "invalid_request_error",
                 says=("larger than 1048576 bytes",))


def _body_of_length(length: int) -> bytes:
    skeleton = json.dumps({**GROK_T2V, "prompt": ""}).encode()
    body = json.dumps({**GROK_T2V, "prompt": "a" * (length - len(skeleton))}).encode()
    assert len(body) == length
    return body


def test_body_limit_is_exact_and_configurable() -> None:
    limit = 200
    with serving(Settings(clock="manual", validate_responses=True, max_body_bytes=limit)) as (_, http):
        assert post_raw(http, _body_of_length(limit)).status_code == 200
        expect_error(post_raw(http, _body_of_length(limit + 1)), 413, "request_too_large",
                     "invalid_request_error", says=(f"larger than {limit} bytes",))


def test_body_over_the_limit_gets_413_even_if_it_is_not_json() -> None:
    with serving(Settings(clock="manual", max_body_bytes=64)) as (_, http):
        expect_error(post_raw(http, b"\xff" * 1000), 413, "request_too_large",
                     "invalid_request_error")


def _chunks(body: bytes, size: int = 16) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start:start + size]


def test_chunked_json_body_is_accepted(client: httpx.Client) -> None:
    """HTTP/1.1 clients may stream a body with Transfer-Encoding: chunked (no Content-Length)."""
    response = client.post(CREATE, content=_chunks(json.dumps(GROK_T2V).encode()), headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json()["model"] == GROK_T2V["model"]


def test_chunked_body_over_the_limit_gets_413(client: httpx.Client) -> None:
    body = json.dumps({**GROK_T2V, "prompt": "a" * (2 * 1024 * 1024)}).encode()
    response = client.post(CREATE, content=_chunks(body, 65536), headers=JSON)
    expect_error(response, 413, "request_too_large", "invalid_request_error")


# --- content type --------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "application/xml",
    "application/merge-patch+json",
])
def test_wrong_content_type_gets_415_naming_it(client: httpx.Client, content_type: str) -> None:
    response = post_raw(client, json.dumps(GROK_T2V).encode(), {"content-type": content_type})
    expect_error(response, 415, "unsupported_media_type", "invalid_request_error",
                 says=("application/json", content_type))


def test_form_post_gets_415(client: httpx.Client) -> None:
    response = client.post(CREATE, data={"model": "grok-imagine-text-to-video", "prompt": "x"})
    expect_error(response, 415, "unsupported_media_type", "invalid_request_error",
                 says=("application/x-www-form-urlencoded",))


def test_multipart_post_gets_415(client: httpx.Client) -> None:
    response = client.post(CREATE, files={"file": ("a.json", json.dumps(GROK_T2V).encode())})
    expect_error(response, 415, "unsupported_media_type", "invalid_request_error",
                 says=("multipart/form-data",))


def test_json_with_charset_parameter_is_accepted(client: httpx.Client) -> None:
    response = post_raw(client, json.dumps(GROK_T2V).encode(),
                        {"content-type": "application/json; charset=utf-8"})
    assert response.status_code == 200, response.text


def test_body_without_content_type_is_read_as_json(client: httpx.Client) -> None:
    request = client.build_request("POST", CREATE, content=json.dumps(GROK_T2V).encode())
    assert "content-type" not in request.headers
    response = client.send(request)
    assert response.status_code == 200, response.text
    assert response.json()["model"] == GROK_T2V["model"]


def test_garbage_without_content_type_gets_400_envelope(client: httpx.Client) -> None:
    request = client.build_request("POST", CREATE, content=b"model=grok")
    assert "content-type" not in request.headers
    expect_invalid(client.send(request), says=("not valid JSON",))


# --- routing: unknown paths and methods ----------------------------------------------------


@pytest.mark.parametrize("method, path", [
    ("GET", "/v1"),
    ("GET", "/v1/videos"),
    ("POST", "/v1/videos/generation"),
    ("GET", "/v1/task"),
    ("GET", "/v1/tasks/"),
    ("GET", "/v1/tasks/task-unified-1757169743-7cvnl5zw/results"),
    ("POST", "/v2/videos/generations"),
])
def test_unknown_path_gets_404_envelope(client: httpx.Client, method: str, path: str) -> None:
    expect_error(client.request(method, path), 404, "not_found", "invalid_request_error",
                 says=(method, path))


def test_path_with_trailing_newline_gets_404_envelope(client: httpx.Client) -> None:
    expect_error(client.post(CREATE + "%0A", json=GROK_T2V), 404, "not_found",
                 "invalid_request_error")


@pytest.mark.parametrize("method, path", [
    ("POST", CREATE + "/"),
    ("GET", "/v1/tasks/task-unified-1757169743-7cvnl5zw/"),
])
def test_trailing_slash_variant_of_a_route_is_not_found_not_redirected(
        client: httpx.Client, method: str, path: str) -> None:
    """The contract has no redirects: an unknown path answers 404 in the envelope."""
    response = client.request(method, path, json=GROK_T2V if method == "POST" else None)
    expect_error(response, 404, "not_found", "invalid_request_error")


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_other_method_on_create_path_gets_405_with_allow_post(client: httpx.Client,
                                                              method: str) -> None:
    response = client.request(method, CREATE)
    expect_error(response, 405, "method_not_allowed", "invalid_request_error",
                 says=("not allowed",))
    assert allowed_methods(response) == {"POST"}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_other_method_on_task_path_gets_405_with_allow_get(client: httpx.Client,
                                                           method: str) -> None:
    response = client.request(method, "/v1/tasks/task-unified-1757169743-7cvnl5zw")
    expect_error(response, 405, "method_not_allowed", "invalid_request_error",
                 says=("not allowed",))
    allowed = allowed_methods(response)
    assert "GET" in allowed and allowed <= {"GET", "HEAD"}, allowed


def test_head_on_a_task_matches_the_allow_header(client: httpx.Client) -> None:
    """Every method the 405 lists in Allow must be served: HEAD, if listed, answers like GET."""
    task_id = client.post(CREATE, json=GROK_T2V).json()["id"]
    allowed = allowed_methods(client.delete(f"/v1/tasks/{task_id}"))
    response = client.head(f"/v1/tasks/{task_id}")
    if "HEAD" in allowed:
        assert response.status_code == 200, (response.status_code, response.headers)
        assert response.headers["content-type"] == "application/json"
    else:
        assert response.status_code == 405, (response.status_code, response.headers)


# --- validation messages -------------------------------------------------------------------


def test_unknown_model_lists_the_valid_models(client: httpx.Client) -> None:
    error = expect_invalid(client.post(CREATE, json={"model": "sora-2", "prompt": "x"}), "model",
                           says=("model must be one of",))
    for model in MODELS:
        assert model in error["message"], error


@pytest.mark.parametrize("model", [None, 7, ["grok-imagine-text-to-video"], ""],
                         ids=["null", "integer", "array", "empty"])
def test_model_of_the_wrong_kind_lists_the_valid_models(client: httpx.Client, model: Any) -> None:
    error = expect_invalid(client.post(CREATE, json={"model": model, "prompt": "x"}), "model")
    assert all(name in error["message"] for name in MODELS), error


def test_missing_model_names_model_and_lists_the_valid_ones(client: httpx.Client) -> None:
    error = expect_invalid(client.post(CREATE, json={"prompt": "x"}), "model",
                           says=("model is required",))
    assert all(name in error["message"] for name in MODELS), error


def test_wrong_enum_value_lists_the_allowed_values(client: httpx.Client) -> None:
    error = expect_invalid(client.post(CREATE, json={**GROK_T2V, "duration": 7}), "duration")
    assert error["message"] == "duration must be one of [6, 10]"


def test_wrong_string_enum_value_lists_the_allowed_values(client: httpx.Client) -> None:
    expect_invalid(client.post(CREATE, json={**GROK_T2V, "mode": "wild"}), "mode",
                   says=('mode must be one of ["fun", "normal", "spicy"]',))


def test_integer_field_given_a_float_names_the_types(client: httpx.Client) -> None:
    expect_invalid(client.post(CREATE, json={**KLING, "duration": 5.5}), "duration",
                   says=("duration must be of type integer, got number",))


def test_integer_field_given_a_boolean_names_the_types(client: httpx.Client) -> None:
    expect_invalid(client.post(CREATE, json={**KLING, "duration": True}), "duration",
                   says=("duration must be of type integer, got boolean",))


def test_out_of_range_integer_names_the_range(client: httpx.Client) -> None:
    expect_invalid(client.post(CREATE, json={**KLING, "duration": 16}), "duration",
                   says=("duration must be between 3 and 15",))


def test_missing_required_field_is_named_in_param(client: httpx.Client) -> None:
    body = {key: value for key, value in GROK_I2V.items() if key != "image_urls"}
    expect_invalid(client.post(CREATE, json=body), "image_urls", says=("image_urls is required",))


def test_missing_prompt_is_named_in_param(client: httpx.Client) -> None:
    expect_invalid(client.post(CREATE, json={"model": "kling-o3-text-to-video"}), "prompt",
                   says=("prompt is required",))


def test_unknown_field_is_named_and_the_allowed_fields_listed(client: httpx.Client) -> None:
    error = expect_invalid(client.post(CREATE, json={**GROK_T2V, "resolution": "720p"}),
                           "resolution", says=("resolution is not a known field",))
    for field in ("model", "prompt", "duration", "mode", "aspect_ratio", "callback_url"):
        assert field in error["message"], error


def test_field_of_another_model_is_an_unknown_field(client: httpx.Client) -> None:
    expect_invalid(client.post(CREATE, json={**GROK_T2V, "image_urls": ["https://example.com/a.png"]}),
                   "image_urls", says=("image_urls is not a known field",))


def test_nested_error_names_the_dotted_path(client: httpx.Client) -> None:
    body = {**KLING, "model_params": {"multi_shot": True, "shot_type": "auto"}}
    expect_invalid(client.post(CREATE, json=body), "model_params.shot_type",
                   says=('model_params.shot_type must be one of ["customize"]',))


def test_nested_type_error_names_the_dotted_path(client: httpx.Client) -> None:
    body = {**KLING, "model_params": {"watermark_info": {"enabled": "yes"}}}
    expect_invalid(client.post(CREATE, json=body), "model_params.watermark_info.enabled",
                   says=("model_params.watermark_info.enabled must be of type boolean, got string",))


def test_error_in_an_array_item_names_the_array_and_shows_the_index(client: httpx.Client) -> None:
    body = {**GROK_I2V, "image_urls": [42]}
    expect_invalid(client.post(CREATE, json=body), "image_urls",
                   says=("image_urls[0] must be of type string, got integer",))


def test_non_uri_array_item_names_the_array_and_shows_the_index(client: httpx.Client) -> None:
    body = {**GROK_I2V, "image_urls": ["not a url"]}
    expect_invalid(client.post(CREATE, json=body), "image_urls",
                   says=("image_urls[0] must be an absolute URI",))


def test_error_in_a_nested_array_item_cuts_param_at_the_array(client: httpx.Client) -> None:
    shots = [{"index": 1, "prompt": "a", "duration": "2"}, {"index": 2, "prompt": "b"}]
    body = {**KLING, "model_params": {"multi_prompt": shots}}
    expect_invalid(client.post(CREATE, json=body), "model_params.multi_prompt",
                   says=("model_params.multi_prompt[1].duration is required",))


def test_array_length_error_says_how_many_items_are_expected(client: httpx.Client) -> None:
    body = {**GROK_I2V, "image_urls": ["https://example.com/a.png", "https://example.com/b.png"]}
    expect_invalid(client.post(CREATE, json=body), "image_urls",
                   says=("image_urls must contain exactly 1 item, got 2",))


def test_cross_field_rule_is_reported_like_any_400(client: httpx.Client) -> None:
    body = {**KLING, "model_params": {"multi_shot": True,
                                      "multi_prompt": [{"index": 1, "prompt": "a", "duration": "5"}]}}
    expect_invalid(client.post(CREATE, json=body), "model_params.shot_type",
                   says=("model_params.shot_type is required when model_params.multi_shot is true",))


# --- task query ----------------------------------------------------------------------------


TASK_ID = re.compile(r"^task-unified-\d+-[a-z0-9]{8}$")


@pytest.mark.parametrize("task_id", ["abc", "task-12345", "TASK-UNIFIED-1-abcdefgh",
                                     "unified-task-1-abcdefgh", "%ff%fe"])
def test_task_id_without_the_prefix_gets_400_invalid_task_id(client: httpx.Client,
                                                             task_id: str) -> None:
    expect_error(client.get(f"/v1/tasks/{task_id}"), 400, "invalid_task_id",
                 "invalid_request_error", "task_id", says=("task_id must start with task-unified-",))


def test_overlong_task_id_gets_400_invalid_task_id(client: httpx.Client) -> None:
    task_id = "task-unified-" + "1" * 200
    expect_error(client.get(f"/v1/tasks/{task_id}"), 400, "invalid_task_id",
                 "invalid_request_error", "task_id", says=("at most 128 characters",))


def test_unknown_well_formed_task_id_gets_404_task_not_found(client: httpx.Client) -> None:
    task_id = "task-unified-1757169743-7cvnl5zw"
    expect_error(client.get(f"/v1/tasks/{task_id}"), 404, "task_not_found",
                 "invalid_request_error", "task_id", says=(task_id,))


def test_task_of_another_key_gets_403_permission_denied(client: httpx.Client,
                                                        server: RunningServer) -> None:
    task_id = client.post(CREATE, json=GROK_T2V).json()["id"]
    other = clients.get(f"{server.url}/v1/tasks/{task_id}",
                        headers={"Authorization": "Bearer someone-else"})
    expect_error(other, 403, "permission_denied", "invalid_request_error", "task_id",
                 says=("another API key",))
    assert client.get(f"/v1/tasks/{task_id}").status_code == 200


def _check_created_document(doc: dict[str, Any], model: str) -> None:
    assert TASK_ID.match(doc["id"]), doc["id"]
    assert doc["id"].split("-")[2] == str(doc["created"])
    assert isinstance(doc["created"], int)
    assert doc["model"] == model
    assert doc["object"] == "video.generation.task"
    assert doc["type"] == "video"
    assert doc["status"] == "pending"
    assert doc["progress"] == 0
    assert doc["task_info"]["can_cancel"] is True
    assert type(doc["task_info"]["estimated_time"]) is int
    assert doc["task_info"]["estimated_time"] > 0
    assert "results" not in doc and "error" not in doc


def test_created_grok_task_has_the_documented_shape(client: httpx.Client) -> None:
    response = client.post(CREATE, json=GROK_T2V)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    doc = response.json()
    _check_created_document(doc, GROK_T2V["model"])
    assert set(doc) == {"created", "id", "model", "object", "progress", "status", "task_info",
                        "type", "usage"}
    assert set(doc["task_info"]) == {"can_cancel", "estimated_time"}, "video_duration is kling-only"
    assert doc["usage"] == {"billing_rule": "per_call", "credits_reserved": 5,
                            "user_group": "default"}


def test_created_kling_task_has_the_documented_shape(client: httpx.Client) -> None:
    doc = client.post(CREATE, json={**KLING, "duration": 5, "quality": "720p"}).json()
    _check_created_document(doc, KLING["model"])
    assert doc["task_info"]["video_duration"] == 5
    assert type(doc["task_info"]["video_duration"]) is int
    assert doc["usage"] == {"billing_rule": "per_call", "credits_reserved": 7,
                            "user_group": "default"}


def test_created_tasks_get_distinct_ids(client: httpx.Client) -> None:
    ids = {client.post(CREATE, json=GROK_T2V).json()["id"] for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize("body", [GROK_T2V, GROK_I2V, KLING], ids=lambda body: body["model"])
def test_task_query_returns_the_created_document_without_usage(client: httpx.Client,
                                                               body: dict[str, Any]) -> None:
    created = client.post(CREATE, json=body).json()
    response = client.get(f"/v1/tasks/{created['id']}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    queried = response.json()
    assert "usage" not in queried
    assert (queried["id"], queried["model"], queried["created"]) == \
        (created["id"], created["model"], created["created"])
    # The manual clock has not moved: apart from usage, nothing differs.
    assert queried == {key: value for key, value in created.items() if key != "usage"}
