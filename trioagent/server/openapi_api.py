"""The OpenAPI 3.1 document of ``serve api``: exactly what the simple chat API accepts and returns.

Built once at import from the helpers of `trioagent.server.openapi_parts`; `api_openapi_document`
deep-copies it and fills in the ``AgentName`` enum. The schemas follow `trioagent.wire.api`
and `trioagent.wire.checks.parse_api_chat_request`: unknown keys are allowed, ``session_id``
and ``agent`` may be ``null`` (unset), but ``stream`` may not (it is a plain ``bool``).
Every error is an ``ApiError`` (`trioagent.server.errors.api_error_body`).
"""

from __future__ import annotations

from typing import Any, Final

from .. import __version__
from ..wire import rules
from .openapi_parts import (
    BEARER,
    CONVERSATION_ID,
    HEADERS,
    HEALTH,
    READY,
    REQUEST_ID_HEADERS,
    SECURITY_SCHEMES,
    STRING,
    USAGE,
    ErrorTable,
    Schema,
    document_for,
    error_refs,
    error_responses,
    error_table,
    json_answer,
    metrics_path,
    object_of,
    or_null,
    public_paths,
    ref,
    sse_event,
    tagged,
)

NOT_BLANK_PATTERN: Final = (
    r"[^\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
)
"""Matches text with a character that is not whitespace as Python's `str.strip` sees it.

The server refuses a ``message`` that strips to nothing. This lists Python's whitespace
explicitly, because ECMA-262's ``\\s`` (the dialect of JSON Schema) is a different set.
"""

SSE_DESCRIPTION: Final = """\
Server-sent events, each `data: <JSON>` and a blank line, never an `event:` line. Each JSON
is a `#/components/schemas/StreamEvent`: `{"type": "delta", "delta": "..."}` events with
pieces of the answer, which join to its whole `message`; then exactly one last event,
either `{"type": "done", "message", "session_id", "usage"}` (a `StreamDone`, the JSON
answer's fields) or, when the turn failed after the stream began,
`{"type": "error", "error", "code"}` (a `StreamError`, the error and status the JSON answer
would have had; nothing was saved). There is no `data: [DONE]`. `: keep-alive` comment lines
come while the agent is busy (`--keep-alive`)."""

_ERRORS: Final[ErrorTable] = error_table(
    {
        400: (
            "BadRequest",
            "`Invalid request: ...`: the body is not a JSON object, or a field is "
            "missing or has the wrong type or value (an `agent` not served here included); the "
            "text names the field.",
        ),
        404: (
            "NotFound",
            "No session with this id for this API key: it never existed, or was deleted.",
        ),
        409: (
            "Conflict",
            "A turn on this session is running; a second one is refused, not queued.",
        ),
        429: ("TooManyRequests", "Over `--rate-limit`; nothing ran."),
        500: (
            "InternalError",
            "`Failed to get response: <reason>`: the model provider failed "
            "(after trioagent's own retries), or a bug (the reason holds a request id for the "
            "server log). The session is unchanged.",
        ),
        503: (
            "ServiceUnavailable",
            "The session store cannot be read or written, or (`/readyz`) "
            "the server is shutting down; nothing ran.",
        ),
        504: ("GatewayTimeout", "The turn ran past `--request-timeout`; the session is unchanged."),
    }
)
"""Each error status: its component name and its description."""


def _schemas() -> dict[str, Schema]:
    session_id = ref("SessionId")
    return {
        "AgentName": {"type": "string", "enum": [], "description": "An exposed agent."},
        "SessionId": {**CONVERSATION_ID, "description": f"{rules.SESSION_ID_CHARACTERS}."},
        "ChatRequest": object_of(
            {
                "message": {
                    "type": "string",
                    "pattern": NOT_BLANK_PATTERN,
                    "description": "The user's message; not empty, not only whitespace.",
                },
                "session_id": {
                    **or_null(session_id),
                    "description": "Continue this session, or "
                    "start one under this id; scoped to the API key. Left out or `null`: "
                    "a new session with a new id.",
                },
                "stream": {
                    "type": "boolean",
                    "default": False,
                    "description": "Answer as "
                    "`text/event-stream`. Unlike the other fields, `null` is refused.",
                },
                "agent": {
                    **or_null(ref("AgentName")),
                    "description": "Left out or `null`: the default agent.",
                },
            },
            ("message",),
            description="Unknown fields are ignored.",
        ),
        "ChatReply": object_of(
            {
                "message": {"type": "string", "description": "All the assistant text of the turn."},
                "session_id": {**session_id, "description": "The session to continue with."},
                "usage": ref("CompletionUsage"),
            },
            ("message", "session_id", "usage"),
        ),
        "StreamEvent": tagged(
            "type",
            {
                "delta": "StreamDelta",
                "done": "StreamDone",
                "error": "StreamError",
            },
        ),
        "StreamDelta": object_of(
            {"type": {"const": "delta"}, "delta": STRING},
            ("type", "delta"),
            description="A piece of the answer.",
        ),
        "StreamDone": object_of(
            {
                "type": {"const": "done"},
                "message": STRING,
                "session_id": session_id,
                "usage": ref("CompletionUsage"),
            },
            ("type", "message", "session_id", "usage"),
            description="The last event of a turn that finished: the whole answer.",
        ),
        "StreamError": object_of(
            {
                "type": {"const": "error"},
                "error": STRING,
                "code": {"type": "integer", "description": "The HTTP status of the failure."},
            },
            ("type", "error", "code"),
            description="The last event of a turn that failed; nothing was saved.",
        ),
        "SessionHistory": object_of(
            {
                "session_id": session_id,
                "messages": {"type": "array", "items": ref("HistoryMessage")},
                "usage": {
                    **ref("CompletionUsage"),
                    "description": "Summed over every turn of the session.",
                },
            },
            ("session_id", "messages", "usage"),
            description="Everything committed so far, without the agent's instruction.",
        ),
        "HistoryMessage": object_of(
            {
                "role": {"type": "string", "enum": ["system", "user", "assistant", "tool"]},
                "content": STRING,
                "tool_calls": {
                    "type": "array",
                    "minItems": 1,
                    "items": ref("HistoryToolCall"),
                    "description": "On assistant messages that called tools; left out otherwise.",
                },
                "tool_call_id": {
                    "type": "string",
                    "description": "On tool messages: the call "
                    "this is the result of; left out otherwise.",
                },
            },
            ("role", "content"),
        ),
        "HistoryToolCall": object_of(
            {
                "id": STRING,
                "name": STRING,
                "arguments": {
                    "type": "string",
                    "description": "The arguments as JSON text, as the model wrote them.",
                },
            },
            ("id", "name", "arguments"),
        ),
        "CompletionUsage": USAGE,
        "ApiError": object_of(
            {
                "error": STRING,
                "code": {"type": "integer", "description": "The HTTP status."},
            },
            ("error", "code"),
            additionalProperties=False,
        ),
        "Health": HEALTH,
        "Ready": READY,
    }


def _paths() -> Schema:
    chat_answer = {
        "description": "The answer, or an SSE stream when `stream` is true.",
        "headers": REQUEST_ID_HEADERS,
        "content": {
            "application/json": {"schema": ref("ChatReply")},
            "text/event-stream": {"schema": sse_event(SSE_DESCRIPTION, ref("StreamEvent"))},
        },
    }
    session_id = {
        "name": "session_id",
        "in": "path",
        "required": True,
        "schema": ref("SessionId"),
        "description": "An id that does not match was never stored: it is answered 404.",
    }
    return {
        "/api/chat": {
            "post": {
                "operationId": "chat",
                "summary": "Send one message; get the agent's answer.",
                "security": BEARER,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": ref("ChatRequest")},
                    },
                },
                "responses": {
                    "200": chat_answer,
                    **error_refs(
                        _ERRORS,
                        400,
                        401,
                        408,
                        409,
                        413,
                        415,
                        429,
                        500,
                        503,
                        504,
                    ),
                },
            }
        },
        "/api/sessions/{session_id}": {
            "parameters": [session_id],
            "get": {
                "operationId": "getSession",
                "summary": "A session's stored messages.",
                "security": BEARER,
                "responses": {
                    "200": json_answer(
                        ref("SessionHistory"), "The session.", headers=REQUEST_ID_HEADERS
                    ),
                    **error_refs(_ERRORS, 401, 404, 429, 500, 503),
                },
            },
            "delete": {
                "operationId": "deleteSession",
                "summary": "Forget a session.",
                "security": BEARER,
                "responses": {
                    "204": {"description": "Deleted; no body.", "headers": REQUEST_ID_HEADERS},
                    **error_refs(_ERRORS, 401, 404, 409, 429, 500, 503),
                },
            },
        },
        **metrics_path(),
        **public_paths(),
    }


def _static_document() -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "trioagent serve api",
            "version": __version__,
            "description": "YAML agents behind a simple chat API; the server keeps each "
            "conversation as a session.",
        },
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "responses": error_responses(_ERRORS, "ApiError"),
            "headers": {
                name: HEADERS[name]
                for name in (
                    "X-Request-Id",
                    "Retry-After",
                    "x-should-retry",
                    "WWW-Authenticate",
                )
            },
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


_STATIC: Final = _static_document()


def api_openapi_document(agents: list[str]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a ``serve api`` server exposing ``agents``.

    Args:
        agents: the exposed agents' names, in file order.

    Returns:
        A new document, which the caller may change.
    """
    return document_for(_STATIC, agents)
