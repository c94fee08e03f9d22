"""The Connexion stack we run (mock_server.middleware) serves what Connexion's default one does.

The Swagger UI router is skipped for paths outside its routes' literal prefixes, and request
validators are built once per operation; these tests pin the answers that must not change.
"""

from __future__ import annotations

import pytest
from connexion.middleware.response_validation import ResponseValidationMiddleware
from starlette.routing import Mount, Route, Router

from mock_server.middleware import _literal_prefixes, middleware_stack
from mock_server.server import RunningServer
from tests import clients


@pytest.mark.parametrize(("path", "status", "content_type"), [
    ("/openapi.json", 200, "application/json"),
    ("/openapi.yaml", 200, "text/yaml"),
    ("/ui/", 200, "text/html"),
    ("/ui/index.html", 200, "text/html"),
    ("/ui/swagger-ui.css", 200, "text/css"),
    ("/_mock/openapi.json", 200, "application/json"),
])
def test_every_docs_route_is_still_served(module_server: RunningServer, path: str, status: int,
                                          content_type: str) -> None:
    response = clients.get(module_server.url + path, timeout=10)
    assert response.status_code == status, response.text[:200]
    assert response.headers["content-type"].startswith(content_type)


def test_the_ui_without_its_slash_still_redirects_to_it(module_server: RunningServer) -> None:
    response = clients.get(module_server.url + "/ui", timeout=10)
    assert response.status_code == 307
    assert response.headers["location"].endswith("/ui/")


def test_paths_outside_the_docs_get_the_api_answer_not_the_ui_router(
        module_server: RunningServer) -> None:
    response = clients.get(module_server.url + "/uix/openapi.json", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_literal_prefixes_stop_at_the_first_parameter_and_descend_into_mounts() -> None:
    async def endpoint(*_: object) -> None:
        return None

    inner = Router(routes=[Route("/ui/", endpoint), Route("/files/{name}", endpoint),
                           Mount("/static", app=endpoint)])
    routes = [Mount("/_mock", routes=inner.routes), Route("/openapi.json", endpoint)]
    assert sorted(_literal_prefixes(routes, "")) == [
        "/_mock/files", "/_mock/static", "/_mock/ui", "/openapi.json"]


def test_responses_are_validated_exactly_when_asked() -> None:
    assert ResponseValidationMiddleware in middleware_stack(validate_responses=True)
    assert ResponseValidationMiddleware not in middleware_stack(validate_responses=False)
    # The rest of Connexion's stack keeps its order either way.
    names = [m.__name__ for m in middleware_stack(validate_responses=True)]
    assert names == ["ServerErrorMiddleware", "ExceptionMiddleware", "DocsOnlySwaggerUI",
                     "RoutingMiddleware", "SecurityMiddleware", "PreparedRequestValidationMiddleware",
                     "ResponseValidationMiddleware", "LifespanMiddleware"]
