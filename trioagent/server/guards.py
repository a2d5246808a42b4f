"""Request guards: bearer auth, CORS, content type."""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from werkzeug.exceptions import UnsupportedMediaType

if TYPE_CHECKING:
    from collections.abc import Sequence

    from quart import Request, Response

PUBLIC_PATHS = frozenset({"/openapi.json", "/healthz"})
ALLOWED_HEADERS = "Authorization, Content-Type, X-Conversation-Id, X-Request-Id"
EXPOSED_HEADERS = "X-Conversation-Id, X-Request-Id"
ALLOWED_METHODS = "GET, POST, DELETE, OPTIONS"


class AuthError(Exception):
    """Missing or wrong bearer token."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def authenticate(request: Request, api_keys: Sequence[str]) -> str | None:
    """Check the bearer token; return the matching key's scope (None: auth is off).

    The scope is a fingerprint of the key: stored conversations are keyed by it, so each
    key sees only its own, across restarts and whatever the order of the keys.

    Raises:
        AuthError: no header, another scheme, an empty token, two headers, a wrong token.
    """
    if not api_keys:
        return None
    values = request.headers.getlist("Authorization")
    if len(values) != 1:
        raise AuthError(
            "Missing API key: send it as 'Authorization: Bearer <key>'."
            if not values else "Send exactly one Authorization header."
        )
    scheme, _, token = values[0].strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("Send the API key as 'Authorization: Bearer <key>'.")
    found = None
    given = token.encode()
    for index, key in enumerate(api_keys):
        # Compare against every key, so timing does not tell which one came close.
        if hmac.compare_digest(given, key.encode()) and found is None:
            found = index
    if found is None:
        raise AuthError("Incorrect API key provided.")
    return key_scope(api_keys[found])


def key_scope(api_key: str) -> str:
    """A short, stable, non-secret name for an API key."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def require_json(request: Request) -> None:
    """Refuse bodies that are not ``application/json`` (a charset parameter is fine)."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType()


def cors_headers(origin: str | None, allowed: Sequence[str]) -> dict[str, str]:
    """CORS headers for an allowed origin (exact match), else none."""
    if origin is None or origin not in allowed:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": EXPOSED_HEADERS,
    }


def preflight_headers(origin: str | None, allowed: Sequence[str]) -> dict[str, str]:
    headers = cors_headers(origin, allowed)
    if headers:
        headers.update({
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": "600",
        })
    return headers


def add_vary_origin(response: Response) -> None:
    response.vary.add("Origin")
