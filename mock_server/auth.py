"""Bearer authentication for the vendor API, plugged into Connexion's security map.

By default any non-empty token is accepted (each token is its own account); with
``--api-key`` only the listed keys are, compared in constant time. The verifier is a plain
function built once, so no per-request signature inspection happens.
"""

from __future__ import annotations

import hmac
from typing import Any, Callable

from connexion.security import NO_VALUE, AbstractSecurityHandler

from .errors import ApiError

AUTH_HINT = "send 'Authorization: Bearer <API key>'"


def key_matches(token: str, keys: tuple[bytes, ...]) -> bool:
    """Constant-time membership: every key is compared, whatever matched."""
    candidate = token.encode("utf-8")
    found = False
    for key in keys:
        found |= hmac.compare_digest(candidate, key)
    return found


def make_verifier(api_keys: tuple[str, ...]) -> Callable[[Any], Any]:
    keys = tuple(key.encode("utf-8") for key in api_keys)

    def verify(request: Any) -> Any:
        header = request.headers.get("authorization")
        if not header:
            return NO_VALUE  # Connexion answers 401 "no credentials"
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, f"Malformed Authorization header; {AUTH_HINT}")
        if keys and not key_matches(token, keys):
            raise ApiError(401, "Invalid API key")
        return {"sub": token}

    return verify


def bearer_handler_class(api_keys: tuple[str, ...]) -> type[AbstractSecurityHandler]:
    verify = make_verifier(api_keys)

    class BearerKeyHandler(AbstractSecurityHandler):
        def get_fn(self, security_scheme: dict, required_scopes: list) -> Callable[[Any], Any]:
            return verify

    return BearerKeyHandler


def api_key_of(scope: dict) -> str:
    """The bearer token the security middleware accepted for this request."""
    return scope["extensions"]["connexion_context"]["token_info"]["sub"]
