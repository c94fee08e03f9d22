"""Bearer authentication for the vendor API, plugged into Connexion's security map.

By default any non-empty token is accepted (each token is its own account); with
``--api-key`` only the listed keys are, compared in constant time. The verifier is a plain
function built once, so no per-request signature inspection happens.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, MutableMapping
from typing import Any

import mock_server.quiet_imports  # noqa: F401 - before Connexion: see there

from connexion.security import NO_VALUE, AbstractSecurityHandler

from .errors import ApiError

AUTH_HINT = "send 'Authorization: Bearer <API key>'"
ADMIN_TOKEN_HEADER = "X-Mock-Admin-Token"


def key_matches(token: bytes, keys: tuple[bytes, ...]) -> bool:
    """Constant-time membership: every key is compared, whatever matched."""
    found = False
    for key in keys:
        found |= hmac.compare_digest(token, key)
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
        # The server decoded the header as latin-1: encoding back gives the bytes sent,
        # which match UTF-8 configured keys whatever their alphabet.
        if keys and not key_matches(token.encode("latin-1"), keys):
            raise ApiError(401, "Invalid API key")
        return {"sub": token}

    return verify


def bearer_handler_class(api_keys: tuple[str, ...]) -> type[AbstractSecurityHandler]:
    verify = make_verifier(api_keys)

    class BearerKeyHandler(AbstractSecurityHandler):
        def get_fn(self, security_scheme: dict, required_scopes: list) -> Callable[[Any], Any]:
            return verify

    return BearerKeyHandler


def api_key_of(scope: MutableMapping[str, Any]) -> str:
    """The bearer token the security middleware accepted for this request."""
    return scope["extensions"]["connexion_context"]["token_info"]["sub"]


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_admin_verifier(admin_token: str | None) -> Callable[[Any], Any]:
    """The admin API's guard: its token when one is set, otherwise loopback clients only."""
    expected = admin_token.encode("utf-8") if admin_token else None

    def verify(request: Any) -> Any:
        if expected is not None:
            token = request.headers.get(ADMIN_TOKEN_HEADER)
            if not token:
                raise ApiError(401, f"The admin API needs the {ADMIN_TOKEN_HEADER} header")
            if not hmac.compare_digest(token.encode("utf-8"), expected):
                raise ApiError(403, f"Wrong {ADMIN_TOKEN_HEADER}", code="admin_forbidden")
            return {"sub": "admin"}
        client = request.scope.get("client")
        if not _is_loopback(client[0] if client else None):
            raise ApiError(403, "The admin API answers loopback clients only; start the mock "
                                "with --admin-token to reach it from elsewhere",
                           code="admin_forbidden")
        return {"sub": "admin"}

    return verify


def admin_handler_class(admin_token: str | None) -> type[AbstractSecurityHandler]:
    verify = make_admin_verifier(admin_token)

    class AdminGuardHandler(AbstractSecurityHandler):
        def get_fn(self, security_scheme: dict, required_scopes: list) -> Callable[[Any], Any]:
            return verify

    return AdminGuardHandler
