"""The paths of the Responses API part of the OpenAPI document of ``serve chat``:
``/v1/responses`` and the routes of a stored response.

`trioagent.server.openapi` adds `responses_paths` and `responses_errors` to its document;
the schemas they refer to are `trioagent.server.openapi_responses`.
"""

from __future__ import annotations

from typing import Any, Final

from .openapi_parts import (
    BEARER,
    REQUEST_ID_HEADERS,
    STRING,
    ErrorTable,
    Schema,
    error_refs,
    error_responses,
    json_answer,
    ref,
    sse_event,
)
from .openapi_responses import RESPONSE_ID_SCHEMA
from .openapi_responses_events import STREAM_EVENTS
from .routes_responses import PAGE_MAX

SSE_DESCRIPTION: Final = """\
Server-sent events, each an `event: <type>` line, a `data: <JSON>` line and a blank line.
The JSON is a `#/components/schemas/ResponseStreamEvent` whose `type` is the event's name;
`sequence_number` counts from 0. First `response.created` and `response.in_progress` (the
response with `status: in_progress`). The turn's text goes out as it comes, as one
`message` item at `output_index` 0: `response.output_item.added`,
`response.content_part.added`, then `response.output_text.delta` events; when the turn
ends, `response.output_text.done`, `response.content_part.done` and
`response.output_item.done`. Each client tool call follows as a `function_call` item:
`response.output_item.added`, one `response.function_call_arguments.delta` with all of its
arguments, `response.function_call_arguments.done`, `response.output_item.done`. The last
event is `response.completed`, or `response.incomplete` when the answer was cut short
(`max_output_tokens` or the agent's iteration limit), with the whole response and its
usage. A failure after the stream began ends it with `response.failed` (`status: failed`
and an `error`); nothing was stored. There is no `data: [DONE]`. `: keep-alive` comment
lines come while the agent is busy (`--keep-alive`). The agent's own tool calls are never
shown."""

_NOT_STORED: Final = (
    "never stored (`store: false`, or its turn failed), expired "
    "(`--conversation-ttl`), evicted (`--responses-max`), deleted, or made "
    "with another API key"
)
_CREATE_ERRORS: Final[ErrorTable] = {
    404: (
        "ModelOrResponseNotFound",
        "Unknown model (`code: model_not_found`, `param: "
        f"model`), or the `previous_response_id` was {_NOT_STORED} (`code: not_found`).",
    ),
    409: (
        "ResponseBusy",
        "Another turn that continues this `previous_response_id` is "
        "running (`code: conversation_busy`); nothing ran.",
    ),
}
"""The errors of ``POST /v1/responses`` that differ from those of ``serve chat``."""
_STORED_ERRORS: Final[ErrorTable] = {
    404: ("ResponseNotFound", f"No such response: it was {_NOT_STORED} (`code: not_found`)."),
}
"""The errors of the routes of one stored response that differ from those of ``serve chat``."""


def responses_errors() -> dict[str, Schema]:
    """The ``components.responses`` of the errors only the Responses API has."""
    return {
        **error_responses(_CREATE_ERRORS, "ErrorEnvelope"),
        **error_responses(_STORED_ERRORS, "ErrorEnvelope"),
    }


def responses_paths(errors: ErrorTable) -> dict[str, Any]:
    """``/v1/responses`` and the routes of a stored response, behind the API key.

    Args:
        errors: the errors of ``serve chat``; the Responses API has its own 404 and 409.
    """
    create_errors = {**errors, **_CREATE_ERRORS}
    stored_errors = {**errors, **_STORED_ERRORS}
    response_id = {
        "name": "response_id",
        "in": "path",
        "required": True,
        "schema": RESPONSE_ID_SCHEMA,
        "description": "An id that does not match was never stored: it is answered 404.",
    }
    answer = {
        "description": "The `response`, or an SSE stream of named events when `stream` is true.",
        "headers": REQUEST_ID_HEADERS,
        "content": {
            "application/json": {"schema": ref("Response")},
            "text/event-stream": {
                "schema": {
                    "oneOf": [
                        sse_event(f"The `{kind}` event.", ref(name), name=kind)
                        for kind, name in STREAM_EVENTS.items()
                    ],
                    "description": SSE_DESCRIPTION,
                }
            },
        },
    }
    page = [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": 20},
        },
        {
            "name": "order",
            "in": "query",
            "required": False,
            "schema": {"enum": ["asc", "desc"], "default": "desc"},
            "description": "`desc`: the last input item first.",
        },
        {
            "name": "after",
            "in": "query",
            "required": False,
            "schema": STRING,
            "description": "Start after this item id (in `order`); an id that is not one of "
            "this response's input items is refused (400).",
        },
    ]
    stored = (401, 404, 429, 500, 503)
    return {
        "/v1/responses": {
            "post": {
                "operationId": "createResponse",
                "summary": "Run one turn of an agent (the Responses API).",
                "security": BEARER,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": ref("ResponseCreateRequest")},
                    },
                },
                "responses": {"200": answer, **error_refs(create_errors, *create_errors)},
            }
        },
        "/v1/responses/{response_id}": {
            "get": {
                "operationId": "getResponse",
                "summary": "A stored response.",
                "security": BEARER,
                "parameters": [response_id],
                "responses": {
                    "200": json_answer(
                        ref("Response"), "The response.", headers=REQUEST_ID_HEADERS
                    ),
                    **error_refs(stored_errors, *stored),
                },
            },
            "delete": {
                "operationId": "deleteResponse",
                "summary": "Forget a stored response.",
                "security": BEARER,
                "parameters": [response_id],
                "responses": {
                    "200": json_answer(
                        ref("ResponseDeleted"), "Deleted.", headers=REQUEST_ID_HEADERS
                    ),
                    **error_refs(stored_errors, *stored),
                },
            },
        },
        "/v1/responses/{response_id}/input_items": {
            "get": {
                "operationId": "listInputItems",
                "summary": "The input items of a stored response (the request's, not those of "
                "the responses it continues).",
                "security": BEARER,
                "parameters": [response_id, *page],
                "responses": {
                    "200": json_answer(
                        ref("ResponseInputItemList"),
                        "A page of input items.",
                        headers=REQUEST_ID_HEADERS,
                    ),
                    **error_refs(stored_errors, 400, *stored),
                },
            }
        },
    }
