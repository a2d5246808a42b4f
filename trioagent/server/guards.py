"""Request guards: bearer auth, CORS, content type."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from typing import TYPE_CHECKING

from werkzeug.exceptions import UnsupportedMediaType

from ..errors import AuthError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from quart import Request, Response
    from quart.wrappers import BaseRequestWebsocket

AGENT_CARD_PATH = "/.well-known/agent-card.json"
"""Where ``serve a2a`` serves its A2A agent card."""
PUBLIC_PATHS = frozenset({"/openapi.json", "/healthz", "/readyz", "/", AGENT_CARD_PATH})
"""Paths served without an API key (the web page sends its key in the WebSocket hello; an
A2A client reads the agent card to learn how to authenticate)."""
UNLIMITED_PATHS = frozenset({"/metrics"})
"""Paths behind the API key that --rate-limit does not count: a scraper must always get in."""
PUBLIC_PREFIXES = ("/static/",)
"""Path prefixes served without an API key: the web page's files."""
ALLOWED_HEADERS = "Authorization, Content-Type, X-Conversation-Id, X-Request-Id"
EXPOSED_HEADERS = "X-Conversation-Id, X-Request-Id"
ALLOWED_METHODS = "GET, POST, DELETE, OPTIONS"
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
"""An HTTP header name (RFC 9110 token), as a preflight may ask for it."""


def authenticate(request: BaseRequestWebsocket, api_keys: Sequence[str]) -> str | None:
    """Check the bearer token; return the matching key's scope (None: auth is off).

    The scope is a fingerprint of the key: stored conversations are keyed by it, so each
    key sees only its own, across restarts and whatever the order of the keys.

    Raises:
        AuthError: no header, another scheme, an empty token, two headers, a wrong token.
    """
    return authorize(request.headers.getlist("Authorization"), api_keys)


def authorize(values: Sequence[str], api_keys: Sequence[str]) -> str | None:
    """`authenticate` for the ``Authorization`` header ``values`` of a request that has no
    quart request object (``/mcp``, served by the MCP SDK).

    Raises:
        AuthError: as `authenticate`.
    """
    if not api_keys:
        return None
    if len(values) != 1:
        raise AuthError(
            "Missing API key: send it as 'Authorization: Bearer <key>'."
            if not values
            else "Send exactly one Authorization header."
        )
    scheme, _, token = values[0].strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("Send the API key as 'Authorization: Bearer <key>'.")
    return check_key(token, api_keys)


def check_key(token: str, api_keys: Sequence[str]) -> str:
    """Return the scope of the key ``token`` is.

    Raises:
        AuthError: ``token`` is none of ``api_keys``.
    """
    found = None
    given = token.encode()
    for key in api_keys:
        # Compare against every key, so timing does not tell which one came close.
        if hmac.compare_digest(given, key.encode()) and found is None:
            found = key
    if found is None or not token:
        raise AuthError("Incorrect API key provided.")
    return key_scope(found)


@functools.cache  # called with the configured keys only
def key_scope(api_key: str) -> str:
    """A short, stable, non-secret name for an API key."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def rate_client(scope: str | None, address: str | None) -> str:
    """Whose rate limit a request takes: its API key's, else its address's."""
    return f"key:{scope}" if scope else f"addr:{address}"


def conversation_key(scope: str | None, conversation_id: str) -> str:
    """The store key of a conversation: ids are scoped to the caller's API key."""
    return f"{scope or 'open'}/{conversation_id}"


def client_conversation_id(key: str) -> str:
    """The id the client sent, from its store key (`conversation_key`): what messages show,
    never the scope (a fingerprint of the caller's API key)."""
    return key.partition("/")[2]


def is_public(path: str) -> bool:
    """Whether ``path`` is served without an API key."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def is_rate_limited(path: str) -> bool:
    """Whether a request for ``path`` (not public) takes from the caller's --rate-limit."""
    return path not in UNLIMITED_PATHS


def origin_allowed(origin: str | None, host: str | None, allowed: Sequence[str]) -> bool:
    """Whether a browser page from ``origin`` may open a WebSocket here.

    Clients that are not browsers send no Origin. A page served by this server itself
    (``GET /``) has the origin of the ``Host`` it was loaded from.
    """
    if origin is None or origin in allowed:
        return True
    scheme, _, netloc = origin.partition("://")
    return scheme in ("http", "https") and host is not None and netloc == host


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


def preflight_headers(
    origin: str | None, allowed: Sequence[str], requested: str | None = None
) -> dict[str, str]:
    """The answer to a CORS preflight from ``origin``.

    Besides ``ALLOWED_HEADERS``, the headers the page asks for (``requested``, the
    ``Access-Control-Request-Headers`` list) are allowed: the openai SDK in a browser sends
    ``X-Stainless-*`` headers, and a browser refuses the request if one is not allowed.
    The origin is the gate; auth never depends on a header being absent.
    """
    headers = cors_headers(origin, allowed)
    if headers:
        names = [name.strip() for name in (requested or "").split(",")]
        extra = [name for name in names if _HEADER_NAME.fullmatch(name)]
        headers.update(
            {
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Allow-Headers": ", ".join([ALLOWED_HEADERS, *extra]),
                "Access-Control-Max-Age": "600",
                "Vary": "Origin, Access-Control-Request-Headers",
            }
        )
    return headers


def add_vary_origin(response: Response) -> None:
    response.vary.add("Origin")
