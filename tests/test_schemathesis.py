"""Schemathesis over the whole vendor spec, in process, with every check: zero failures."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from contract_tests.generation import prepare
from mock_server.app import create_app
from mock_server.settings import Settings

API_KEY = "schemathesis-key"
# Only one key is valid, as on the real service, so ignored-auth checks can pass.
APP = create_app(Settings(clock="manual", validate_responses=True, seed=7, api_keys=(API_KEY,)))
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)
SCHEMA.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@SCHEMA.parametrize()
@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_mock_conforms_to_the_vendor_spec(case: schemathesis.Case) -> None:
    prepare(case).call_and_validate(headers=AUTH)
