"""JSON-RPC 2.0 error answers of an HTTP endpoint that refuses a request before its protocol
reads it (401, 413, 429, ...): those of ``serve mcp --http`` and ``serve a2a``.

MCP clients read an HTTP error's body as a JSON-RPC error response without an id (the MCP
SDK's own HTTP errors have this shape); ``data`` adds what the other APIs' errors say.
"""

from __future__ import annotations

from typing import Final, Literal

import attrs

INVALID_REQUEST: Final = -32600
"""JSON-RPC's code for a request the server refuses (every 4xx)."""
INTERNAL_ERROR: Final = -32603
"""JSON-RPC's code for a failure of the server (every 5xx)."""


@attrs.frozen(kw_only=True)
class ErrorData:
    """The HTTP side of a refusal, in the words of the other APIs' errors."""

    status: int
    """The HTTP status."""
    type: str
    """``invalid_request_error``, ``authentication_error``, ``rate_limit_error``, ..."""
    code: str | None = None
    """``invalid_api_key``, ``rate_limit_exceeded``, ``request_too_large``, ..."""


@attrs.frozen(kw_only=True)
class JsonRpcError:
    """A JSON-RPC error object."""

    code: int
    """`INVALID_REQUEST` or `INTERNAL_ERROR`."""
    message: str
    data: ErrorData | None = None


@attrs.frozen(kw_only=True)
class JsonRpcErrorResponse:
    """``{"jsonrpc": "2.0", "id": null, "error": {...}}``."""

    jsonrpc: Literal["2.0"] = "2.0"
    id: str | int | None
    """The request's id; ``null`` when it was refused before it was read. Required, so
    that it is written even when ``null``."""
    error: JsonRpcError
